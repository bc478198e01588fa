"""The rasters besides the probabilities that decide objects and change: terrain and spectra.

Read strip by strip from scene GeoTIFFs: the terrain (slope in degrees, elevation in metres;
the DEM is the same for both dates, so the post scene's is used) and, per date, the NDVI and
the visible brightness (mean of B2, B3, B4 in DN; NaN where the pixel is not valid). A pair's
result keeps them in ``evidence.tif`` (named bands, float32) so that a threshold or a rule can
be changed later without the scenes or the model.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.transform import Affine
from rasterio.windows import Window

from .bands import ELEVATION, SLOPE
from .change import SpectralPair
from .progress import CancelToken, check_cancel
from .scene import SCENE_COMPRESSION, SceneReader

EVIDENCE_FILE = "evidence.tif"
EVIDENCE_BANDS: tuple[str, ...] = ("ndvi_pre", "ndvi_post", "visible_pre", "visible_post", "slope_deg",
                                   "elevation_m")
STRIP_ROWS = 256


def _strips(height: int):
    for y0 in range(0, height, STRIP_ROWS):
        yield y0, min(STRIP_ROWS, height - y0)


def read_terrain(scene_path: str | Path, cancel: Optional[CancelToken] = None) -> tuple[np.ndarray, np.ndarray]:
    """(slope_deg, elevation_m) of a scene, float32 (H, W), whatever its cloud mask says."""
    with SceneReader(scene_path) as reader:
        slope = np.empty((reader.height, reader.width), np.float32)
        elevation = np.empty((reader.height, reader.width), np.float32)
        for y0, h in _strips(reader.height):
            check_cancel(cancel)
            win = Window(0, y0, reader.width, h)
            slope[y0:y0 + h], elevation[y0:y0 + h] = reader.read_bands((SLOPE, ELEVATION), win, mask_invalid=False)
    return slope, elevation


def read_spectral_indices(scene_path: str | Path,
                          cancel: Optional[CancelToken] = None) -> tuple[np.ndarray, np.ndarray]:
    """(NDVI, visible brightness DN) of a scene, float32 (H, W), NaN where not valid."""
    with SceneReader(scene_path) as reader:
        ndvi = np.empty((reader.height, reader.width), np.float32)
        visible = np.empty((reader.height, reader.width), np.float32)
        for y0, h in _strips(reader.height):
            check_cancel(cancel)
            b2, b3, b4, b8 = reader.read_bands(("B2", "B3", "B4", "B8"), Window(0, y0, reader.width, h))
            ndvi[y0:y0 + h], visible[y0:y0 + h] = SpectralPair.indices(b2, b3, b4, b8)
    return ndvi, visible


def read_spectral_pair(pre_path: str | Path, post_path: str | Path,
                       cancel: Optional[CancelToken] = None) -> SpectralPair:
    """NDVI and brightness of two scenes on the same grid."""
    ndvi_pre, vis_pre = read_spectral_indices(pre_path, cancel)
    ndvi_post, vis_post = read_spectral_indices(post_path, cancel)
    return SpectralPair(ndvi_pre, ndvi_post, vis_pre, vis_post)


def write_evidence(path: str | Path, spectral: SpectralPair, slope_deg: np.ndarray, elevation_m: np.ndarray,
                   transform: Affine, crs: CRS, provenance: Optional[dict] = None,
                   creation: Optional[dict] = None, cancel: Optional[CancelToken] = None) -> Path:
    """Write ``evidence.tif`` (float32, compressed like scenes, named bands), atomically.
    ``creation``: GeoTIFF creation options replacing the defaults. ``cancel``: checked before
    each band; a cancelled write leaves no file."""
    path = Path(path)
    layers = (spectral.ndvi_pre, spectral.ndvi_post, spectral.visible_pre, spectral.visible_post, slope_deg,
              elevation_m)
    h, w = np.shape(slope_deg)
    tmp = path.with_name(f".{path.name}.partial")
    profile = dict(driver="GTiff", width=w, height=h, count=len(layers), dtype="float32", crs=crs,
                   transform=transform, nodata=float("nan"), tiled=True, blockxsize=256, blockysize=256,
                   **SCENE_COMPRESSION)
    profile.update(creation or {})
    try:
        with rasterio.open(tmp, "w", **profile) as ds:
            for i, (name, layer) in enumerate(zip(EVIDENCE_BANDS, layers)):
                check_cancel(cancel)
                ds.write(np.asarray(layer, np.float32), i + 1)
                ds.set_band_description(i + 1, name)
            ds.update_tags(DESCRIPTION="Evidence of change: NDVI and visible brightness (DN) of both dates, "
                                       "slope (degrees) and elevation (m) of the post date",
                           PROVENANCE=json.dumps(provenance or {}, default=str))
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_evidence(path: str | Path) -> tuple[SpectralPair, np.ndarray, np.ndarray]:
    """(spectral pair, slope_deg, elevation_m) from an ``evidence.tif``."""
    with rasterio.open(path) as ds:
        names = [d or "" for d in ds.descriptions]
        data = {name: ds.read(i + 1, out_dtype="float32") for i, name in enumerate(names)}
    spectral = SpectralPair(data["ndvi_pre"], data["ndvi_post"], data["visible_pre"], data["visible_post"])
    return spectral, data["slope_deg"], data["elevation_m"]


__all__ = ["EVIDENCE_FILE", "EVIDENCE_BANDS", "read_terrain", "read_spectral_indices", "read_spectral_pair",
           "write_evidence", "read_evidence"]
