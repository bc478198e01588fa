"""Shared test fixtures: tiny scenes and models the tests make themselves (no ../shared)."""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest
import torch
from rasterio.crs import CRS
from rasterio.transform import from_origin

from landslide_core.bands import ALL_BANDS, L4S_SCALE
from landslide_core.scene import RawScene, write_scene

torch.set_num_threads(1)

#: UTM zone 18S (central Peru), 10 m pixels.
UTM18S = CRS.from_epsg(32718)


def make_raw_scene(height: int = 64, width: int = 80, seed: int = 0, with_slope: bool = False) -> RawScene:
    """A small smooth random scene in raw units (typical L4S magnitudes), all pixels valid."""
    rng = np.random.default_rng(seed)
    names = ALL_BANDS if with_slope else tuple(b for b in ALL_BANDS if b != "slope")
    scale = L4S_SCALE[[ALL_BANDS.index(b) for b in names]]
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.sin(xx / 7.0 + seed) * np.cos(yy / 9.0)
    data = np.stack([
        s * (1.0 + 0.3 * base + 0.05 * rng.standard_normal((height, width))) for s in scale
    ]).astype(np.float32)
    transform = from_origin(400000.0, 8750000.0, 10.0, 10.0)
    return RawScene(data, names, np.ones((height, width), bool), transform, UTM18S,
                    {"source": "test", "seed": seed})


@pytest.fixture
def scene_path(tmp_path):
    """Path of a small 13-band scene GeoTIFF (slope computed on read)."""
    return write_scene(tmp_path / "scene.tif", make_raw_scene())
