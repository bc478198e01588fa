"""The synchronised views of an ROI for labelling: the same extent, the same label outline.

True colour (B4/B3/B2), false colour (B12/B8/B4: fresh scars stand out in the short-wave
infrared), slope, elevation, and the pre-event true colour when the dataset has one (stretched
like the post scene, so the two compare). Each view is an RGB image on the ROI's grid; the
label's outline and the area that becomes the patch (the 128 px centre, the thesis's red
dashed box) are drawn on every view, so they move together as the label changes. The same
images, reprojected to lon/lat, are the layers of the drawing map.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..scene import SceneReader

#: view key -> title
VIEW_TITLES: dict[str, str] = {
    "true": "True colour (B4, B3, B2)",
    "false": "False colour (B12, B8, B4)",
    "slope": "Slope (0-60°)",
    "elevation": "Elevation",
    "pre": "Before the event (true colour)",
}
OUTLINE_RGB = (255, 230, 0)
SUGGESTION_RGB = (0, 229, 255)
PATCH_BOX_RGB = (230, 30, 30)


@dataclass
class RoiViews:
    """RGB views (H, W, 3) uint8 of one ROI, keyed as :data:`VIEW_TITLES`."""

    images: dict[str, np.ndarray]
    valid: np.ndarray
    transform: Any
    crs: Any
    elevation_range_m: tuple[float, float]

    @property
    def shape(self) -> tuple[int, int]:
        return self.valid.shape


def _stretch(rgb: np.ndarray, valid: np.ndarray, lo: Optional[np.ndarray] = None,
             hi: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ok = valid & np.isfinite(rgb).all(axis=0)
    if lo is None or hi is None:
        if ok.any():
            px = rgb[:, ok]
            lo = np.percentile(px, 2, axis=1)
            hi = np.maximum(np.percentile(px, 98, axis=1), lo + 1.0)
        else:
            lo, hi = np.zeros(3), np.full(3, 3000.0)
    out = np.clip((rgb - lo[:, None, None]) / (hi - lo)[:, None, None], 0, 1) ** (1 / 1.2)
    out = np.nan_to_num(out, nan=0.0)
    img = (np.moveaxis(out, 0, -1) * 255).round().astype(np.uint8)
    return img, lo, hi


def _ramp(values: np.ndarray, lo: float, hi: float, stops: list[tuple[float, tuple[int, int, int]]]) -> np.ndarray:
    t = np.clip((np.nan_to_num(values, nan=lo) - lo) / max(hi - lo, 1e-6), 0, 1)
    xs = [s[0] for s in stops]
    return np.stack([np.interp(t, xs, [s[1][c] for s in stops]) for c in range(3)], axis=-1).astype(np.uint8)


def roi_views(post_path: str | Path, pre_path: Optional[str | Path] = None) -> RoiViews:
    """The views of an ROI from its scene GeoTIFF(s)."""
    with SceneReader(post_path) as r:
        stack, valid = r.read()
        transform, crs = r.transform, r.crs
    from ..bands import ALL_BANDS

    band = {b: stack[ALL_BANDS.index(b)] for b in ("B2", "B3", "B4", "B8", "B12", "slope", "elevation")}
    images: dict[str, np.ndarray] = {}
    true, lo, hi = _stretch(np.stack([band["B4"], band["B3"], band["B2"]]), valid)
    images["true"] = true
    images["false"], _, _ = _stretch(np.stack([band["B12"], band["B8"], band["B4"]]), valid)
    images["slope"] = _ramp(band["slope"], 0.0, 60.0, [(0, (250, 250, 250)), (0.5, (150, 120, 90)), (1, (40, 20, 10))])
    elev = band["elevation"]
    finite = np.isfinite(elev)
    e_lo, e_hi = (float(np.min(elev[finite])), float(np.max(elev[finite]))) if finite.any() else (0.0, 1.0)
    images["elevation"] = _ramp(elev, e_lo, e_hi, [(0, (40, 110, 60)), (0.4, (200, 190, 110)),
                                                   (0.75, (150, 100, 60)), (1, (245, 245, 245))])
    if pre_path is not None and Path(pre_path).is_file():
        with SceneReader(pre_path) as r:
            pre_stack, pre_valid = r.read()
        pre_rgb = np.stack([pre_stack[ALL_BANDS.index(b)] for b in ("B4", "B3", "B2")])
        images["pre"], _, _ = _stretch(pre_rgb, pre_valid, lo, hi)
    return RoiViews(images, valid, transform, crs, (e_lo, e_hi))


def outline_of(mask: np.ndarray) -> np.ndarray:
    """The boundary pixels of a 0/1 mask (inside pixels with a 4-neighbour outside)."""
    m = np.asarray(mask, bool)
    if not m.any():
        return m
    p = np.pad(m, 1, mode="constant")
    inner = p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return m & ~inner


def patch_box(shape: tuple[int, int], patch_px: int = 128) -> np.ndarray:
    """The dashed outline of the centre patch(es) that the export cuts (bool (H, W))."""
    from ..patches.export import patch_windows

    box = np.zeros(shape, bool)
    for w in patch_windows(shape[0], shape[1], patch_px):
        r0, c0, n = int(w.row_off), int(w.col_off), patch_px
        dash = (np.arange(n) // 4) % 2 == 0
        box[r0, c0:c0 + n] |= dash
        box[r0 + n - 1, c0:c0 + n] |= dash
        box[r0:r0 + n, c0] |= dash
        box[r0:r0 + n, c0 + n - 1] |= dash
    return box


def decorate(image: np.ndarray, label_mask: Optional[np.ndarray] = None,
             suggestion_mask: Optional[np.ndarray] = None, box: Optional[np.ndarray] = None,
             scale: int = 2) -> np.ndarray:
    """A view with the suggestion (cyan) and label (yellow) outlines and the patch box (red),
    enlarged ``scale`` times (nearest) so one pixel stays visible."""
    out = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1).copy()

    def paint(mask: Optional[np.ndarray], colour: tuple[int, int, int]) -> None:
        if mask is None:
            return
        big = np.repeat(np.repeat(outline_of(mask), scale, axis=0), scale, axis=1)
        out[big] = colour

    paint(suggestion_mask, SUGGESTION_RGB)
    paint(label_mask, OUTLINE_RGB)
    if box is not None:
        out[np.repeat(np.repeat(box, scale, axis=0), scale, axis=1)] = PATCH_BOX_RGB
    return out


def view_overlays(views: RoiViews, max_px: int = 600) -> tuple[dict[str, str], list[list[float]]]:
    """Each view as a PNG data URL in lon/lat for the drawing map, and their bounds."""
    from rasterio.enums import Resampling

    from ..display import data_url, png_bytes, to_lonlat

    urls: dict[str, str] = {}
    bounds: list[list[float]] = []
    for key, img in views.images.items():
        data = np.moveaxis(img.astype(np.float32), -1, 0)
        ll, bounds = to_lonlat(data, views.transform, views.crs, Resampling.nearest, max_px, nodata=np.nan)
        alpha = np.isfinite(ll).all(axis=0)
        rgba = np.zeros(ll.shape[1:] + (4,), np.uint8)
        rgba[..., :3] = np.nan_to_num(np.moveaxis(ll, 0, -1)).clip(0, 255).astype(np.uint8)
        rgba[..., 3] = np.where(alpha, 255, 0)
        urls[key] = data_url(png_bytes(rgba))
    return urls, bounds


def patch_footprints(grid: Any, patch_px: int = 128) -> list[dict]:
    """The exported patch(es) of an ROI grid as GeoJSON polygons in lon/lat."""
    from pyproj import Transformer

    from ..patches.export import patch_windows

    to_ll = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    t = grid.transform
    out = []
    for w in patch_windows(grid.height, grid.width, patch_px):
        c0, r0 = int(w.col_off), int(w.row_off)
        corners = [(c0, r0), (c0 + patch_px, r0), (c0 + patch_px, r0 + patch_px), (c0, r0 + patch_px), (c0, r0)]
        xs, ys = zip(*[t * c for c in corners])
        lon, lat = to_ll.transform(list(xs), list(ys))
        out.append({"type": "Polygon", "coordinates": [[[a, b] for a, b in zip(lon, lat)]]})
    return out
