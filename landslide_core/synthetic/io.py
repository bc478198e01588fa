"""Writing a synthetic event to disk: pre/post scene GeoTIFFs and the truth raster."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio

from ..scene import write_scene
from .world import SyntheticEvent

#: Values of truth.tif.
TRUTH_NONE, TRUTH_NEW, TRUTH_OLD = 0, 1, 2


def truth_raster(event: SyntheticEvent) -> np.ndarray:
    """uint8 (H, W): 0 none, 1 new landslide (the event), 2 old scar (before the event)."""
    truth = np.zeros(event.new_landslides.shape, np.uint8)
    truth[event.old_scars] = TRUTH_OLD
    truth[event.new_landslides] = TRUTH_NEW
    return truth


def write_event(event: SyntheticEvent, out_dir) -> dict[str, Path]:
    """Write pre.tif, post.tif (scene GeoTIFFs) and truth.tif (uint8) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"pre": write_scene(out / "pre.tif", event.pre), "post": write_scene(out / "post.tif", event.post)}
    truth = truth_raster(event)
    tmp = out / "truth.tif.partial"
    profile = dict(driver="GTiff", width=truth.shape[1], height=truth.shape[0], count=1, dtype="uint8",
                   crs=event.post.crs, transform=event.post.transform, compress="deflate", tiled=True,
                   blockxsize=256, blockysize=256)
    with rasterio.open(tmp, "w", **profile) as ds:
        ds.write(truth, 1)
        ds.set_band_description(1, "truth")
        ds.update_tags(values="0 none, 1 new landslide, 2 old scar", source="synthetic",
                       seed=str(event.post.provenance.get("seed")))
    tmp.replace(out / "truth.tif")
    paths["truth"] = out / "truth.tif"
    return paths
