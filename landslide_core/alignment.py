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
        on_target = same_grid(src, target)
    if shift_px is not None:
        rows, cols = shift_px
        provenance["coregistration_shift_px"] = [round(float(rows), 3), round(float(cols), 3)]
        if on_target:  # a translation on the grid itself: four taps per pixel, no warper
            return _shift_scene(src_path, target, out_path, names, idx, valid_index, src_nodata, provenance,
                                (float(rows), float(cols)), cancel)
        src_transform = src_transform * Affine.translation(-float(cols), -float(rows))
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


def _lerp(a: np.ndarray, b: np.ndarray, f: np.float32) -> np.ndarray:
    """(1 - f) a + f b; ``b`` takes no part when ``f`` is 0 (its NaN does not spread)."""
    if f == 0:
        return a
    return (1 - f) * a + f * b


def _shift_scene(src_path: Path, target: SceneReader, out_path: Path, names: list[str], idx: list[int],
                 valid_index: Optional[int], nodata: Optional[float], provenance: dict, shift_px: tuple[float, float],
                 cancel: Optional[CancelToken]) -> Path:
    """:func:`reproject_scene_to` for a scene already on ``target``'s grid, moved by ``shift_px``:
    out(r, c) = src(r + rows, c + cols), bilinear from the four pixels around (the weights GDAL's
    bilinear warper gives them), the valid band from the nearest one. A pixel whose taps fall
    outside the source or on its nodata is not valid (the warper would still give the outermost
    row and column a value from the taps inside). Strip by strip, as the warper."""
    rows, cols = shift_px
    ir, ic = int(np.floor(rows)), int(np.floor(cols))
    fr, fc = np.float32(rows - ir), np.float32(cols - ic)
    nr, nc = int(np.floor(rows + 0.5)), int(np.floor(cols + 0.5))  # the nearest pixel
    h, w = target.height, target.width
    profile = scene_profile(w, h, len(names) + 1, target.transform, target.crs, compressed=False)
    partial = out_path.with_name(out_path.name + ".partial")

    def read_rows(ds, indexes, r0: int, r1: int, dc: int, width: int) -> np.ndarray:
        """Source rows r0..r1-1, columns dc..dc+width-1, NaN outside the source or at its nodata."""
        out = np.full((len(indexes), r1 - r0, width), np.nan, np.float32)
        a0, a1 = max(r0, 0), min(r1, h)
        c0, c1 = max(dc, 0), min(dc + width, w)
        if a1 > a0 and c1 > c0:
            out[:, a0 - r0:a1 - r0, c0 - dc:c1 - dc] = ds.read(indexes, window=Window(c0, a0, c1 - c0, a1 - a0),
                                                               out_dtype="float32")
        if nodata is not None and np.isfinite(nodata):
            out[out == np.float32(nodata)] = np.nan
        return out

    with rasterio.open(src_path) as ds, rasterio.open(partial, "w", **profile) as dst:
        for y0 in range(0, h, STRIP_ROWS):
            check_cancel(cancel)
            n = min(STRIP_ROWS, h - y0)
            # rows r + ir and r + ir + 1, columns c + ic and c + ic + 1 of every output pixel (r, c)
            block = read_rows(ds, idx, y0 + ir, y0 + ir + n + 1, ic, w + 1)
            data = np.empty((len(idx), n, w), np.float32)
            for i, b in enumerate(block):  # band by band: the temporaries stay one band large
                data[i] = _lerp(_lerp(b[:-1, :-1], b[:-1, 1:], fc), _lerp(b[1:, :-1], b[1:, 1:], fc), fr)
            valid = np.isfinite(data).all(axis=0)
            if valid_index is not None:
                v = read_rows(ds, [valid_index], y0 + nr, y0 + nr + n, nc, w)[0]
                valid &= np.isfinite(v) & (v != 0)
            dst.write(data, indexes=list(range(1, len(names) + 1)), window=Window(0, y0, w, n))
            dst.write(valid.astype(np.float32)[None], indexes=[len(names) + 1], window=Window(0, y0, w, n))
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
