"""A scene GeoTIFF put on another grid: cut out when the grids share a pixel lattice, else warped.

Used where one big scene serves many smaller grids (the demo's one synthetic world for all
the tiles of a region). A cut copies the pixels unchanged, so a tile holds exactly the values
the whole scene has there; pixels of the grid outside the scene are NaN (not valid). Cuts are
written with ZSTD at its fastest level: many are made, each read a few times. Grids
in another CRS or on another lattice are warped by
:func:`landslide_core.alignment.reproject_scene_to` (bilinear bands, nearest valid mask).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional

import numpy as np
import rasterio
from rasterio.windows import Window

from ..grid import Grid
from ..scene import PROVENANCE_TAG, SCENE_COMPRESSION, scene_profile

#: GeoTIFF creation options of files written often and read a few times: ZSTD at level 1
#: writes about as fast as no compression and reads faster than deflate, at deflate's size
#: (the scenes' own settings, :data:`~landslide_core.scene.SCENE_COMPRESSION`).
FAST_TIFF = dict(SCENE_COMPRESSION)


def lattice_offset(src_transform, src_crs, grid: Grid) -> Optional[tuple[int, int]]:
    """(row, col) of ``grid``'s top-left pixel in the source's pixels when both share a CRS,
    a pixel size and a pixel lattice (a cut is exact); else None."""
    t = src_transform
    g = grid.transform
    if src_crs != grid.crs or t.b or t.d or g.b or g.d or not (math.isclose(t.a, g.a) and math.isclose(t.e, g.e)):
        return None
    col = (g.c - t.c) / t.a
    row = (g.f - t.f) / t.e
    if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        return None
    return int(round(row)), int(round(col))


def write_scene_on_grid(src_path: str | Path, grid: Grid, out_path: str | Path,
                        provenance: Optional[dict[str, Any]] = None) -> Path:
    """Write the scene GeoTIFF ``src_path`` onto ``grid`` as a scene GeoTIFF at ``out_path``.

    ``provenance`` is merged into the source's provenance tag. Memory: one band of the grid.
    """
    from ..alignment import reproject_scene_to

    src_path, out_path = Path(src_path), Path(out_path)
    with rasterio.open(src_path) as src:
        offset = lattice_offset(src.transform, src.crs, grid)
        tags = src.tags()
        if offset is not None:
            row, col = offset
            window = Window(col, row, grid.width, grid.height)
            profile = {**scene_profile(grid.width, grid.height, src.count, grid.transform, grid.crs), **FAST_TIFF}
            inside = row >= 0 and col >= 0 and row + grid.height <= src.height and col + grid.width <= src.width
            with rasterio.open(out_path, "w", **profile) as dst:
                for i in range(1, src.count + 1):
                    band = (src.read(i, window=window, out_dtype=np.float32) if inside else
                            src.read(i, window=window, boundless=True, fill_value=np.nan, out_dtype=np.float32))
                    dst.write(band, i)
                    dst.set_band_description(i, src.descriptions[i - 1])
                prov = _provenance(tags, provenance)
                dst.update_tags(**{PROVENANCE_TAG: json.dumps(prov, default=str)})
            return out_path
    reproject_scene_to(src_path, grid, out_path)
    with rasterio.open(out_path, "r+") as dst:
        dst.update_tags(**{PROVENANCE_TAG: json.dumps(_provenance(dst.tags(), provenance), default=str)})
    return out_path


def _provenance(tags: dict, extra: Optional[dict[str, Any]]) -> dict[str, Any]:
    try:
        prov = json.loads(tags.get(PROVENANCE_TAG, "{}"))
    except json.JSONDecodeError:
        prov = {}
    return {**prov, **(extra or {})}


__all__ = ["FAST_TIFF", "lattice_offset", "write_scene_on_grid"]
