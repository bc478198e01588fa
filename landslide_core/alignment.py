"""Putting the pre scene on the post scene's grid: reprojection, then co-registration.

When the two dates are on different grids, pre is reprojected onto the post grid (bilinear for
bands, nearest for the valid mask); when they do not overlap, the pair is refused. Then the
sub-pixel shift between the dates is estimated from the images
(:mod:`landslide_core.coregistration`) and, when it is worth it, pre is resampled once more so
its ground matches post's pixel for pixel. Everything is done strip by strip on files.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import rasterio
from rasterio.transform import Affine
from rasterio.windows import Window

from .bands import ALL_BANDS, VALID
from .coregistration import ShiftEstimate, decide, estimate_shift
from .errors import InputError
from .progress import CancelToken, check_cancel
from .scene import PROVENANCE_TAG as SCENE_PROVENANCE_TAG
from .scene import SceneReader, scene_profile

STRIP_ROWS = 256
#: The band whose edges are matched between the dates (near infrared: the most texture under
#: vegetation, the least haze).
SHIFT_BAND = "B8"


def grid_of(path: str | Path) -> dict[str, Any]:
    with SceneReader(path) as r:
        return {"crs": r.crs.to_string(), "transform": list(r.transform)[:6], "width": r.width, "height": r.height}


def same_grid(a: SceneReader, b: SceneReader) -> bool:
    return (a.crs == b.crs and a.width == b.width and a.height == b.height
            and a.transform.almost_equals(b.transform, precision=1e-6 * abs(b.transform.a)))


#: Fewest pixels (of the post grid) a reprojected pair must overlap by, across and along.
MIN_OVERLAP_PX = 3


def check_overlap(pre: SceneReader, post: SceneReader) -> tuple[int, int]:
    """Refuse a pair whose footprints do not intersect (after bringing pre into post's CRS), or
    overlap by less than MIN_OVERLAP_PX post pixels; return the overlap (columns, rows)."""
    from rasterio.warp import transform_bounds

    def bounds(r: SceneReader):
        return rasterio.transform.array_bounds(r.height, r.width, r.transform)  # (west, south, east, north)

    l, b, r, t = transform_bounds(pre.crs, post.crs, *bounds(pre))
    pw, ps, pe, pn = bounds(post)
    covers = (f"pre covers {l:.0f},{b:.0f} - {r:.0f},{t:.0f} and post {pw:.0f},{ps:.0f} - {pe:.0f},{pn:.0f} "
              f"in {post.crs.to_string()}")
    if min(r, pe) <= max(l, pw) or min(t, pn) <= max(b, ps):
        raise InputError(
            f"The pre scene {pre.path} and the post scene {post.path} do not overlap ({covers}), so no change "
            "can be computed.", "Give two images of the same area.")
    px_w, px_h = post.pixel_size_m
    cols = int((min(r, pe) - max(l, pw)) // px_w)
    rows = int((min(t, pn) - max(b, ps)) // px_h)
    if cols < MIN_OVERLAP_PX or rows < MIN_OVERLAP_PX:
        area_ha = (min(r, pe) - max(l, pw)) * (min(t, pn) - max(b, ps)) / 1e4
        raise InputError(
            f"The pre scene {pre.path} and the post scene {post.path} overlap on only {cols} x {rows} pixels "
            f"({area_ha:.2f} ha; {covers}): too little to compare.", "Give two images of the same area.")
    return cols, rows


def reproject_scene_to(src_path: Path, target: SceneReader, out_path: Path,
                       cancel: Optional[CancelToken] = None,
                       shift_px: Optional[tuple[float, float]] = None) -> Path:
    """Write ``src_path`` as a scene GeoTIFF on ``target``'s grid, strip by strip.

    Bands are resampled bilinearly, the ``valid`` band by nearest neighbour; pixels outside
    the source or at its nodata become NaN (not valid). ``shift_px`` (rows, cols), in pixels
    of the source: the source's content is moved so that its pixel (r + rows, c + cols) lands
    on (r, c) (see :mod:`landslide_core.coregistration`).
    """
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    with SceneReader(src_path) as src:
        names = [b for b in ALL_BANDS if b in src.band_index]
        idx = [src.band_index[b] for b in names]
        src_nodata = src.nodata
        provenance = dict(src.provenance)
        src_transform = src.transform
        has_valid = VALID in src.band_index
        valid_index = src.band_index.get(VALID)
    if shift_px is not None:
        rows, cols = shift_px
        src_transform = src_transform * Affine.translation(-float(cols), -float(rows))
        provenance["coregistration_shift_px"] = [round(float(rows), 3), round(float(cols), 3)]
    else:
        provenance["reprojected_onto"] = {"crs": target.crs.to_string(), "transform": list(target.transform)[:6],
                                          "width": target.width, "height": target.height}
    with rasterio.open(src_path) as ds:
        common = dict(crs=target.crs, transform=target.transform, width=target.width, height=target.height,
                      dtype="float32", nodata=float("nan"), src_nodata=src_nodata, src_transform=src_transform)
        # a temporary file, read once by the detection that follows: not worth compressing
        profile = scene_profile(target.width, target.height, len(names) + 1, target.transform, target.crs,
                                compressed=False)
        partial = out_path.with_name(out_path.name + ".partial")
        with WarpedVRT(ds, resampling=Resampling.bilinear, **common) as bil, \
                WarpedVRT(ds, resampling=Resampling.nearest, **common) as near, \
                rasterio.open(partial, "w", **profile) as dst:
            for y0 in range(0, target.height, STRIP_ROWS):
                check_cancel(cancel)
                win = Window(0, y0, target.width, min(STRIP_ROWS, target.height - y0))
                data = bil.read(idx, window=win)
                valid = np.isfinite(data).all(axis=0)
                if has_valid:
                    v = near.read(valid_index, window=win)
                    valid &= np.isfinite(v) & (v != 0)
                dst.write(data, indexes=list(range(1, len(names) + 1)), window=win)
                dst.write(valid.astype(np.float32)[None], indexes=[len(names) + 1], window=win)
            for i, name in enumerate(names + [VALID]):
                dst.set_band_description(i + 1, name)
            dst.update_tags(**{SCENE_PROVENANCE_TAG: json.dumps(provenance, default=str)})
    partial.replace(out_path)
    return out_path


def estimate_pair_shift(pre_path: str | Path, post_path: str | Path,
                        cancel: Optional[CancelToken] = None) -> ShiftEstimate:
    """The shift of post against pre (same grid), from the edges of their near-infrared band."""
    with SceneReader(pre_path) as pre, SceneReader(post_path) as post:
        a = pre.read_bands((SHIFT_BAND,))[0]
        check_cancel(cancel)
        b = post.read_bands((SHIFT_BAND,))[0]
        pixel_m = float(abs(post.transform.a))
    est = estimate_shift(np.nan_to_num(a, nan=0.0), np.nan_to_num(b, nan=0.0), np.isfinite(a), np.isfinite(b),
                         cancel=cancel)
    return decide(est, pixel_m)


@dataclass
class AlignedPair:
    """The pre scene to use (on post's grid, co-registered) and what was done to get it."""

    pre_path: Path                    # the scene file to run pre detection on
    reprojection: Optional[dict[str, Any]]
    shift: Optional[ShiftEstimate]
    temporary: list[Path] = field(default_factory=list)

    def cleanup(self) -> None:
        for p in self.temporary:
            p.unlink(missing_ok=True)
            p.with_name(p.name + ".partial").unlink(missing_ok=True)


def align_pair(pre_path: Path, post_path: Path, work_dir: Path, cancel: Optional[CancelToken] = None,
               coregister: bool = True) -> AlignedPair:
    """Bring ``pre_path`` onto ``post_path``'s grid and co-register it; temporary files in ``work_dir``.

    Raises :class:`InputError` when the scenes do not overlap or are implausibly misaligned.
    """
    pre_path, post_path = Path(pre_path), Path(post_path)
    with SceneReader(pre_path) as pre, SceneReader(post_path) as post:
        aligned = same_grid(pre, post)
        if not aligned:
            check_overlap(pre, post)
    out = AlignedPair(pre_path, None, None)
    try:
        if not aligned:
            tmp = work_dir / ".pre_on_post_grid.tif"
            out.temporary.append(tmp)
            with SceneReader(post_path) as post:
                reproject_scene_to(pre_path, post, tmp, cancel)
            out.pre_path = tmp
            out.reprojection = {"pre_grid": grid_of(pre_path), "onto_post_grid": grid_of(post_path),
                                "resampling": "bilinear for bands, nearest for the valid mask"}
        if coregister:
            check_cancel(cancel)
            out.shift = estimate_pair_shift(out.pre_path, post_path, cancel)
            if out.shift.applied:
                tmp2 = work_dir / ".pre_coregistered.tif"
                out.temporary.append(tmp2)
                with SceneReader(post_path) as post:
                    reproject_scene_to(out.pre_path, post, tmp2, cancel,
                                       shift_px=(out.shift.rows_px, out.shift.cols_px))
                out.pre_path = tmp2
    except BaseException:
        out.cleanup()
        raise
    return out


__all__ = ["AlignedPair", "align_pair", "check_overlap", "estimate_pair_shift", "grid_of", "reproject_scene_to",
           "same_grid"]
