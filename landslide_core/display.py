"""Compact display images of an analysis: true colour, masks and change as small PNGs.

Maps get PNG image overlays in EPSG:4326 (lon/lat bounds), at most ``MAX_DISPLAY_PX`` on their
long side, instead of GeoJSON of every pixel. True colour is B4/B3/B2 with one 2-98 % stretch
shared by pre and post, so the two dates compare. Pixels that are not valid are transparent.
"""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.transform import Affine
from rasterio.warp import calculate_default_transform, reproject

from .bands import slope_horn_deg
from .progress import CancelToken, check_cancel
from .scene import SCENE_COMPRESSION, pixel_size_m

MAX_DISPLAY_PX = 1024
LONLAT = CRS.from_epsg(4326)

#: Change classes (change.tif) and their RGBA colours on the map.
CHANGE_CLASSES: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    0: ("stable", (0, 0, 0, 0)),
    1: ("new", (228, 26, 28, 230)),
    2: ("persisting", (255, 127, 0, 220)),
    3: ("vanished", (55, 126, 184, 220)),
    255: ("not assessable", (120, 120, 120, 150)),
}
MASK_COLOURS: dict[str, tuple[int, int, int, int]] = {
    "pre": (255, 212, 0, 220),     # yellow: landslides before
    "post": (255, 0, 255, 220),    # magenta: landslides after
}
DISPLAY_DIR = "display"
SLOPE_FILE = "slope_deg.tif"


def _display_shape(width: int, height: int, max_px: int) -> tuple[int, int]:
    scale = min(1.0, max_px / max(width, height))
    return max(int(round(width * scale)), 1), max(int(round(height * scale)), 1)


def to_lonlat(data: np.ndarray, transform: Affine, crs: CRS, resampling: Resampling,
              max_px: int = MAX_DISPLAY_PX, nodata: float = np.nan) -> tuple[np.ndarray, list[list[float]]]:
    """Reproject (C, H, W) or (H, W) data to EPSG:4326 at most ``max_px`` on its long side.

    Returns the array and its bounds ``[[south, west], [north, east]]`` (folium's order).
    """
    squeeze = data.ndim == 2
    src = data[None] if squeeze else data
    count, height, width = src.shape
    left, top = transform.c, transform.f
    right, bottom = left + width * transform.a, top + height * transform.e
    dst_transform, dst_w, dst_h = calculate_default_transform(crs, LONLAT, width, height,
                                                              left, bottom, right, top)
    dst_w2, dst_h2 = _display_shape(dst_w, dst_h, max_px)
    dst_transform = dst_transform @ Affine.scale(dst_w / dst_w2, dst_h / dst_h2)
    dst = np.full((count, dst_h2, dst_w2), nodata, dtype=src.dtype)
    factor = int(round(min(width / dst_w2, height / dst_h2)))  # 2 for a 2000 px scene on 1024 px
    if resampling != Resampling.nearest and factor >= 2:
        src, transform = _block_mean(src, factor), transform @ Affine.scale(factor)
    reproject(src, dst, src_transform=transform, src_crs=crs, dst_transform=dst_transform,
              dst_crs=LONLAT, resampling=resampling, src_nodata=nodata, dst_nodata=nodata)
    west, north = dst_transform.c, dst_transform.f
    east, south = west + dst_w2 * dst_transform.a, north + dst_h2 * dst_transform.e
    return (dst[0] if squeeze else dst), [[south, west], [north, east]]


def _block_mean(src: np.ndarray, factor: int) -> np.ndarray:
    """(C, H, W) -> the means of its ``factor`` x ``factor`` blocks (the last row and column of
    blocks may be partial), NaN where a block has a NaN. Before a smoothing warp to a display
    about ``factor`` times smaller: the warp then reads ``factor``**2 times fewer pixels, with the
    same look (GDAL's downsampling bilinear averages that many pixels too)."""
    k = int(factor)
    c, h, w = src.shape
    out = np.zeros((c, -(-h // k), -(-w // k)), np.float32)
    count = np.zeros(out.shape[1:], np.float32)
    for dy in range(k):
        for dx in range(k):  # the block's pixel (dy, dx), for every block at once (strided views)
            part = src[:, dy::k, dx::k]
            out[:, :part.shape[1], :part.shape[2]] += part
            count[:part.shape[1], :part.shape[2]] += 1.0
    out /= count
    return out.astype(src.dtype, copy=False)


#: zlib level of display PNGs: level 1 was within 3 % of the size of an optimised PNG (level 9
#: and filter trials) on a 1024 px true-colour image, for a fifth of the CPU time.
PNG_COMPRESS_LEVEL = 1


def png_bytes(rgba: np.ndarray) -> bytes:
    """(H, W, 3 or 4) uint8 -> PNG bytes (fast zlib level, see :data:`PNG_COMPRESS_LEVEL`)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba)).save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()


def palette_png(classes: np.ndarray, colours: dict[int, tuple[int, int, int, int]]) -> bytes:
    """A class raster (H, W) uint8 -> palette PNG (one byte per pixel, colours and alpha in the
    palette); classes without a colour are transparent. A quarter of the pixels of RGBA to
    compress, and a smaller file."""
    from PIL import Image

    rgba = np.zeros((256, 4), np.uint8)
    for value, colour in colours.items():
        rgba[int(value)] = colour
    img = Image.fromarray(np.ascontiguousarray(classes, dtype=np.uint8), mode="L").convert("P")
    img.putpalette(rgba[:, :3].ravel().tolist())
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL, transparency=bytes(rgba[:, 3].tolist()))
    return buf.getvalue()


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def classes_rgba(classes: np.ndarray, colours: dict[int, tuple[int, int, int, int]]) -> np.ndarray:
    """A class raster (H, W) -> RGBA (H, W, 4); unlisted classes transparent."""
    lut = np.zeros((256, 4), dtype=np.uint8)
    for value, colour in colours.items():
        lut[int(value)] = colour
    return lut[classes.astype(np.uint8)]


class DisplayGrid:
    """The lon/lat display grid of an analysis grid, with the source pixel of every display
    pixel (nearest neighbour, found once by reprojecting the pixel numbers): any class raster
    of the grid becomes its display image by one lookup, exactly as a nearest-neighbour
    reprojection would make it, without reprojecting again."""

    def __init__(self, shape: tuple[int, int], transform: Affine, crs: CRS, max_px: int = MAX_DISPLAY_PX):
        h, w = (int(v) for v in shape)
        if h * w >= 2 ** 31 - 1:
            raise ValueError(f"A {w} x {h} grid is too large for a display index.")
        numbers = np.arange(h * w, dtype=np.int32).reshape(h, w)
        index, self.bounds = to_lonlat(numbers, transform, crs, Resampling.nearest, max_px, nodata=-1)
        self.shape = (h, w)
        self.inside = index >= 0
        self.index = np.where(self.inside, index, 0).ravel()

    def sample(self, classes: np.ndarray, outside: int = 0) -> np.ndarray:
        """The display image (uint8) of a class raster of the grid; ``outside`` off the grid."""
        classes = np.asarray(classes)
        if classes.shape != self.shape:
            raise ValueError(f"A raster of shape {classes.shape} is not on this grid {self.shape}.")
        out = classes.ravel().take(self.index).reshape(self.inside.shape).astype(np.uint8, copy=False)
        return np.where(self.inside, out, np.uint8(outside))

    def overlay(self, classes: np.ndarray, colours: dict[int, tuple[int, int, int, int]]) -> bytes:
        """A class raster -> palette PNG of its display image."""
        return palette_png(self.sample(classes), colours)


def categorical_overlay(classes: np.ndarray, transform: Affine, crs: CRS,
                        colours: dict[int, tuple[int, int, int, int]],
                        max_px: int = MAX_DISPLAY_PX,
                        grid: Optional[DisplayGrid] = None) -> tuple[bytes, list[list[float]]]:
    """A class raster (mask or change) -> (PNG bytes, lon/lat bounds), nearest resampling.

    ``grid``: the :class:`DisplayGrid` of the raster's grid when the caller keeps one (several
    overlays of one analysis); made here otherwise."""
    classes = np.asarray(classes)
    grid = grid if grid is not None else DisplayGrid(classes.shape, transform, crs, max_px)
    return grid.overlay(classes.astype(np.uint8, copy=False), colours), grid.bounds


CHANGE_COLOURS: dict[int, tuple[int, int, int, int]] = {k: v[1] for k, v in CHANGE_CLASSES.items()}


def change_overlay(change: np.ndarray, transform: Affine, crs: CRS,
                   max_px: int = MAX_DISPLAY_PX, grid: Optional[DisplayGrid] = None) -> tuple[bytes, list[list[float]]]:
    return categorical_overlay(change, transform, crs, CHANGE_COLOURS, max_px, grid)


def mask_overlay(mask: np.ndarray, transform: Affine, crs: CRS, date: str,
                 max_px: int = MAX_DISPLAY_PX, grid: Optional[DisplayGrid] = None) -> tuple[bytes, list[list[float]]]:
    """A mask (1 landslide, 0 stable, 255 not assessable) -> overlay of its landslide pixels."""
    return categorical_overlay(np.asarray(mask) == 1, transform, crs, {1: MASK_COLOURS[date]}, max_px, grid)


def _band_indexes(ds, names: Sequence[str]) -> list[int]:
    desc = [(d or "").strip() for d in ds.descriptions]
    upper = [d.upper() for d in desc]
    out = []
    for name in names:
        if name.upper() in upper:
            out.append(upper.index(name.upper()) + 1)
        else:  # contract order without descriptions: B1..B12 are bands 1..12
            out.append(int(name[1:]))
    return out


def read_true_colour(scene_path: str | Path) -> tuple[np.ndarray, np.ndarray, Affine, CRS]:
    """(3, H, W) float32 B4/B3/B2 digital numbers, valid (H, W) bool, transform, CRS."""
    with rasterio.open(scene_path) as ds:
        rgb = ds.read(_band_indexes(ds, ("B4", "B3", "B2")), out_dtype=np.float32)
        valid = np.isfinite(rgb).all(axis=0)
        desc = [(d or "").strip().lower() for d in ds.descriptions]
        if "valid" in desc:
            valid &= ds.read(desc.index("valid") + 1) > 0
        if ds.nodata is not None and np.isfinite(ds.nodata):
            valid &= ~(rgb == np.float32(ds.nodata)).any(axis=0)
        return rgb, valid, ds.transform, ds.crs


def read_slope_deg(scene_path: str | Path) -> np.ndarray:
    """Slope in degrees: the scene's slope band, or Horn's slope of its elevation."""
    with rasterio.open(scene_path) as ds:
        desc = [(d or "").strip().lower() for d in ds.descriptions]
        if "slope" in desc:
            return ds.read(desc.index("slope") + 1, out_dtype=np.float32)
        idx = desc.index("elevation") + 1 if "elevation" in desc else 13
        dem = ds.read(idx, out_dtype=np.float32)
        if ds.nodata is not None and np.isfinite(ds.nodata):
            dem[dem == np.float32(ds.nodata)] = np.nan
        w, h = pixel_size_m(ds.transform)
        return slope_horn_deg(dem, w, h)


def read_elevation(scene_path: str | Path) -> Optional[tuple[np.ndarray, Affine, CRS]]:
    """The scene's elevation band (metres, NaN where missing) with its grid; None without one."""
    with rasterio.open(scene_path) as ds:
        desc = [(d or "").strip().lower() for d in ds.descriptions]
        if "elevation" in desc:
            idx = desc.index("elevation") + 1
        elif ds.count in (13, 14) and not any(desc):
            idx = ds.count  # contract order without descriptions: elevation last
        else:
            return None
        dem = ds.read(idx, out_dtype=np.float32)
        if ds.nodata is not None and np.isfinite(ds.nodata):
            dem[dem == np.float32(ds.nodata)] = np.nan
        return dem, ds.transform, ds.crs


def hillshade(dem: np.ndarray, xres_m: float, yres_m: float, azimuth_deg: float = 315.0,
              altitude_deg: float = 45.0) -> np.ndarray:
    """Shaded relief (0-1, NaN where the DEM is missing), lit from ``azimuth_deg`` (clockwise
    from north) at ``altitude_deg`` above the horizon; rows run north to south."""
    z = np.where(np.isfinite(dem), dem, np.nanmean(dem) if np.isfinite(dem).any() else 0.0).astype(np.float32)
    dz_dy, dz_dx = np.gradient(z, np.float32(yres_m), np.float32(xres_m))
    slope = np.arctan(np.hypot(dz_dx, dz_dy))
    aspect = np.arctan2(-dz_dx, dz_dy)  # downslope direction, clockwise from north (rows go south)
    zen, az = np.float32(np.radians(90.0 - altitude_deg)), np.float32(np.radians(azimuth_deg))
    shade = np.cos(zen) * np.cos(slope) + np.sin(zen) * np.sin(slope) * np.cos(az - aspect)
    shade = np.clip(shade, 0.0, 1.0).astype(np.float32, copy=False)
    shade[~np.isfinite(dem)] = np.nan
    return shade


def hillshade_overlay(scene_path: str | Path, max_px: int = MAX_DISPLAY_PX) -> Optional[tuple[bytes, list[list[float]]]]:
    """The scene's DEM as a grey shaded-relief PNG in lon/lat, or None without elevation."""
    read = read_elevation(scene_path)
    if read is None:
        return None
    dem, transform, crs = read
    w, h = pixel_size_m(transform)
    shade = hillshade(dem, w, h)
    ll, bounds = to_lonlat(shade, transform, crs, Resampling.bilinear, max_px, nodata=np.nan)
    grey = (np.nan_to_num(ll) * 200 + 40).round().astype(np.uint8)
    rgba = np.stack([grey, grey, grey, np.where(np.isfinite(ll), 255, 0).astype(np.uint8)], axis=-1)
    return png_bytes(rgba), bounds


def stretch_limits(*stacks: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-band 2nd and 98th percentiles over the valid pixels of all given (rgb, valid)."""
    # every pixel of a large scene is not needed for two percentiles: a regular sample of about
    # a million per scene
    stride = [max(1, int(np.sqrt(valid.size / 1e6))) for _, valid in stacks]
    samples = [rgb[:, ::k, ::k][:, valid[::k, ::k]] for (rgb, valid), k in zip(stacks, stride) if valid.any()]
    samples = [x for x in samples if x.shape[1]]
    if not samples:
        return np.zeros(3, np.float32), np.full(3, 3000.0, np.float32)
    allpx = np.concatenate(samples, axis=1)
    if allpx.shape[1] > 200_000:
        allpx = allpx[:, :: allpx.shape[1] // 200_000 + 1]
    lo = np.percentile(allpx, 2, axis=1).astype(np.float32)
    hi = np.percentile(allpx, 98, axis=1).astype(np.float32)
    hi = np.maximum(hi, lo + 1.0)
    return lo, hi


def true_colour_overlay(rgb: np.ndarray, valid: np.ndarray, transform: Affine, crs: CRS,
                        lo: np.ndarray, hi: np.ndarray,
                        max_px: int = MAX_DISPLAY_PX) -> tuple[bytes, list[list[float]]]:
    # reprojected (and made smaller) first, stretched after: the stretch's power runs on the
    # display's pixels, not the scene's
    raw = np.where(valid[None], rgb, np.float32(np.nan)).astype(np.float32, copy=False)
    ll, bounds = to_lonlat(raw, transform, crs, Resampling.bilinear, max_px, nodata=np.nan)
    alpha = np.isfinite(ll).all(axis=0)
    ll = np.clip((ll - lo[:, None, None]) / (hi - lo)[:, None, None], 0.0, 1.0) ** np.float32(1 / 1.2)
    rgba = np.zeros(ll.shape[1:] + (4,), dtype=np.uint8)
    rgba[..., :3] = (np.nan_to_num(np.moveaxis(ll, 0, -1)) * 255).round().astype(np.uint8)
    rgba[..., 3] = np.where(alpha, 255, 0)
    return png_bytes(rgba), bounds


def write_slope(folder: Path, scene_path: str | Path) -> Path:
    """Save the slope (degrees) on the analysis grid, for re-thresholding without the scene."""
    slope = read_slope_deg(scene_path)
    with rasterio.open(scene_path) as ds:
        profile = dict(driver="GTiff", width=ds.width, height=ds.height, count=1, dtype="float32",
                       crs=ds.crs, transform=ds.transform, nodata=float("nan"),
                       tiled=ds.width >= 256 and ds.height >= 256, **SCENE_COMPRESSION)
    path = folder / SLOPE_FILE
    tmp = path.with_name(path.name + ".partial")
    with rasterio.open(tmp, "w", **profile) as out:
        out.write(slope.astype(np.float32), 1)
        out.set_band_description(1, "slope_deg")
    tmp.replace(path)
    return path


def build_display(folder: str | Path, pre_scene: str | Path, post_scene: str | Path,
                  max_px: int = MAX_DISPLAY_PX, cancel: Optional[CancelToken] = None) -> dict[str, Any]:
    """Write ``display/pre_rgb.png``, ``display/post_rgb.png``, ``display/hillshade.png`` (the
    'after' scene's DEM, when it has one) and ``slope_deg.tif`` into an
    analysis folder; returns ``{"bounds": [[s, w], [n, e]], "pre_rgb": rel path, ...}``.
    ``cancel`` is checked between the images."""
    folder = Path(folder)
    out_dir = folder / DISPLAY_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    check_cancel(cancel)
    pre = read_true_colour(pre_scene)
    check_cancel(cancel)
    post = read_true_colour(post_scene)
    lo, hi = stretch_limits(pre[:2], post[:2])
    info: dict[str, Any] = {"max_px": max_px, "stretch_lo": lo.tolist(), "stretch_hi": hi.tolist()}
    for date, (rgb, valid, transform, crs) in (("pre", pre), ("post", post)):
        check_cancel(cancel)
        png, bounds = true_colour_overlay(rgb, valid, transform, crs, lo, hi, max_px)
        (out_dir / f"{date}_rgb.png").write_bytes(png)
        info[f"{date}_rgb"] = f"{DISPLAY_DIR}/{date}_rgb.png"
        info["bounds"] = bounds
    check_cancel(cancel)
    shaded = hillshade_overlay(post_scene, max_px)
    if shaded is not None:
        (out_dir / "hillshade.png").write_bytes(shaded[0])
        info["hillshade"] = f"{DISPLAY_DIR}/hillshade.png"
    check_cancel(cancel)
    write_slope(folder, post_scene)
    info["slope"] = SLOPE_FILE
    (out_dir / "display.json").write_text(json.dumps(info))
    return info


#: Quality of the compact (lossy WebP) copies of the true-colour images sent to maps: about an
#: eighth of the bytes of the lossless PNG (324 kB instead of 2.5 MB at 1024 px).
MAP_IMAGE_QUALITY = 80


def compact_image_url(folder: str | Path, rel: Optional[str]) -> Optional[str]:
    """A display image of an analysis folder as a compact data URL for maps: lossy WebP with its
    transparency (every current browser shows it), or the PNG itself when this Pillow cannot
    write WebP; None when missing."""
    from PIL import Image, features

    if not rel:
        return None
    path = Path(folder) / rel
    if not path.is_file():
        return None
    if not features.check("webp"):
        return data_url(path.read_bytes())
    with Image.open(path) as img:
        buf = io.BytesIO()
        img.save(buf, format="WEBP", quality=MAP_IMAGE_QUALITY, method=4)
    return "data:image/webp;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def read_png_url(folder: str | Path, rel: Optional[str]) -> Optional[str]:
    """A display PNG of an analysis folder as a data URL (None when missing)."""
    if not rel:
        return None
    path = Path(folder) / rel
    return data_url(path.read_bytes()) if path.is_file() else None
