"""The scene GeoTIFF: the one on-disk form of a raw scene.

A scene GeoTIFF has a projected CRS in metres and one band per contract band, named by its
band description: ``B1``..``B12`` (L1C digital numbers, 0-10000), optional ``slope``
(degrees; computed from ``elevation`` by Horn's method when absent), ``elevation`` (metres),
and optionally ``valid`` (0 = cloud, shadow or nodata). A nodata value, NaN or any
non-finite value also marks a pixel as not valid. A file without band descriptions but with
13 or 14 bands is read in the contract order, with a warning.

Provenance (scene ids, dates, cloud %) travels in the ``LANDSLIDE_PROVENANCE`` tag as JSON.
Reading is by windows, so memory is bounded by the window, not by the scene.

A scene is opened only as a regular file (a named pipe or a device is refused, never waited
on); a header that is damaged or claims absurd sizes (dimensions, band count, blocks larger
than can be read piecewise, a pixel size that is not a positive finite number) is an
:class:`InputError`, as is a window whose data cannot be decoded: no other exception, and
memory bounded by the window read.
"""
from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio._err import CPLE_BaseError
from rasterio.errors import RasterioError
from rasterio.transform import Affine
from rasterio.windows import Window

from .bands import ALL_BANDS, ELEVATION, SLOPE, SPECTRAL_BANDS, VALID, slope_horn_deg
from .errors import InputError
from .fileio import check_regular_file
from .progress import CancelToken, check_cancel

PROVENANCE_TAG = "LANDSLIDE_PROVENANCE"
CONTRACT_WITHOUT_SLOPE: tuple[str, ...] = SPECTRAL_BANDS + (ELEVATION,)
#: Bounds on what a scene header may claim.
MAX_SCENE_BYTES = 200 * 10**9
MAX_SCENE_SIDE_PX = 1_000_000
MAX_SCENE_BANDS = 64
MAX_BLOCK_PX = 1 << 26
#: Errors GDAL/rasterio raise on damaged files; each becomes an InputError here.
READ_ERRORS = (RasterioError, CPLE_BaseError, OSError, ValueError, OverflowError, MemoryError)


@dataclass
class RawScene:
    """A raw scene held in memory: bands in raw units on one projected grid."""

    data: np.ndarray  # (bands, rows, cols) float32, raw units
    band_names: tuple[str, ...]
    valid: np.ndarray  # (rows, cols) bool
    transform: Affine
    crs: CRS
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def height(self) -> int:
        return int(self.data.shape[1])

    @property
    def width(self) -> int:
        return int(self.data.shape[2])

    def band(self, name: str) -> np.ndarray:
        return self.data[self.band_names.index(name)]


def pixel_size_m(transform: Affine) -> tuple[float, float]:
    """(width, height) of one pixel in CRS units (metres for scene GeoTIFFs)."""
    return float(math.hypot(transform.a, transform.d)), float(math.hypot(transform.b, transform.e))


def check_projected_crs(crs: Optional[CRS], path: str) -> CRS:
    if crs is None:
        raise InputError(f"{path} has no coordinate reference system.",
                         "Write it with a projected CRS in metres (e.g. its UTM zone).")
    if not crs.is_projected:
        raise InputError(
            f"{path} uses a geographic CRS ({crs.to_string()}), in degrees.",
            "Reproject it to a projected CRS in metres, e.g. with "
            "`gdalwarp -t_srs EPSG:326NN` for its UTM zone.",
        )
    units = (crs.linear_units or "").lower()
    if units not in ("metre", "meter", "m", "metres", "meters"):
        raise InputError(f"{path} has a projected CRS in '{crs.linear_units}', not metres.",
                         "Reproject it to a CRS in metres, e.g. its UTM zone.")
    return crs


class SceneReader:
    """Windowed reader of a scene GeoTIFF in the band contract's raw units.

    ``read(window)`` returns ``(stack, valid)``: ``stack`` float32 (14, h, w) in the order of
    :data:`ALL_BANDS` (slope computed when the file has none), ``valid`` bool (h, w).
    """

    def __init__(self, path: str | Path):
        self.path = str(path)
        if not os.path.lexists(self.path):
            raise InputError(f"Cannot open {self.path}: the file does not exist.", "Check the path.")
        check_regular_file(self.path, "The scene", MAX_SCENE_BYTES)
        try:
            self._ds = rasterio.open(self.path)
        except READ_ERRORS as exc:
            raise InputError(f"Cannot open {self.path} as a GeoTIFF: {_short(exc)}.",
                             "Check the path and that the file is a complete GeoTIFF.") from None
        try:
            self._setup()
        except InputError:
            self._ds.close()
            raise
        except (READ_ERRORS + (KeyError, TypeError, IndexError, ZeroDivisionError)) as exc:
            self._ds.close()
            raise InputError(f"The header of {self.path} is damaged ({_short(exc)}).",
                             "Write the scene again, or give a complete GeoTIFF.") from None

    def _setup(self) -> None:
        ds = self._ds
        if not (1 <= ds.width <= MAX_SCENE_SIDE_PX and 1 <= ds.height <= MAX_SCENE_SIDE_PX):
            raise InputError(f"{self.path} claims {ds.width} x {ds.height} pixels, outside 1..{MAX_SCENE_SIDE_PX:,} "
                             "per side.", "Check that the file is an intact scene GeoTIFF.")
        if not 1 <= ds.count <= MAX_SCENE_BANDS:
            raise InputError(f"{self.path} has {ds.count} bands; a scene has 13 to {MAX_SCENE_BANDS}.",
                             "Check that the file is an intact scene GeoTIFF.")
        for bh, bw in set(ds.block_shapes):
            if bh * bw > MAX_BLOCK_PX:
                raise InputError(f"{self.path} is stored in blocks of {bw} x {bh} pixels, too large to read "
                                 "piece by piece.", "Rewrite it tiled, e.g. gdal_translate -co TILED=YES.")
        self.crs = check_projected_crs(ds.crs, self.path)
        self.transform: Affine = ds.transform
        px_w, px_h = pixel_size_m(self.transform)
        if not (math.isfinite(px_w) and math.isfinite(px_h) and px_w > 0 and px_h > 0):
            raise InputError(f"{self.path} has a pixel size of {px_w} x {px_h} m.",
                             "Write it with a valid geotransform (e.g. 10 m pixels).")
        self.width, self.height = ds.width, ds.height
        self.nodata = ds.nodata
        self.band_index = self._resolve_bands(ds)
        self.slope_given = SLOPE in self.band_index
        tags = ds.tags()
        try:
            provenance = json.loads(tags.get(PROVENANCE_TAG, "{}"))
        except (ValueError, RecursionError):
            provenance = {}
        self.provenance: dict[str, Any] = provenance if isinstance(provenance, dict) else {}

    def _resolve_bands(self, ds) -> dict[str, int]:
        descriptions = [d.strip() if d else "" for d in ds.descriptions]
        named = {d: i + 1 for i, d in enumerate(descriptions) if d}
        if any(descriptions):
            known = {d.upper() if d.upper().startswith("B") else d.lower(): i for d, i in named.items()}
            index = {}
            for name in ALL_BANDS + (VALID,):
                if name in known:
                    index[name] = known[name]
            lacking = [b for b in CONTRACT_WITHOUT_SLOPE if b not in index]
            if lacking:
                raise InputError(
                    f"{self.path} lacks the bands {', '.join(lacking)} "
                    f"(found band descriptions: {', '.join(d or '?' for d in descriptions)}).",
                    "A scene needs B1..B12 (no B8A) and elevation, optionally slope and valid, "
                    "each named in its band description.",
                )
            return index
        if ds.count in (13, 14):
            order = CONTRACT_WITHOUT_SLOPE if ds.count == 13 else ALL_BANDS
            warnings.warn(
                f"{self.path} has no band descriptions; reading its {ds.count} bands in the "
                f"contract order {', '.join(order)}.", stacklevel=3,
            )
            return {name: i + 1 for i, name in enumerate(order)}
        raise InputError(
            f"{self.path} has {ds.count} bands without descriptions.",
            "A scene needs 13 bands (B1..B12, elevation) or 14 (B1..B12, slope, elevation), "
            "or band descriptions naming each band.",
        )

    @property
    def pixel_size_m(self) -> tuple[float, float]:
        return pixel_size_m(self.transform)

    def read(self, window: Optional[Window] = None) -> tuple[np.ndarray, np.ndarray]:
        if window is None:
            window = Window(0, 0, self.width, self.height)
        window = window.round_offsets().round_lengths()
        h, w = int(window.height), int(window.width)
        stack = np.empty((len(ALL_BANDS), h, w), dtype=np.float32)
        invalid = np.zeros((h, w), dtype=bool)
        for k, name in enumerate(ALL_BANDS):
            if name == SLOPE:
                stack[k] = self.read_slope_deg(window)
                continue
            band = self._read(self.band_index[name], window)
            if self.nodata is not None and not (isinstance(self.nodata, float) and math.isnan(self.nodata)):
                invalid |= band == np.float32(self.nodata)
            stack[k] = band
        invalid |= ~np.isfinite(stack).all(axis=0)
        if VALID in self.band_index:
            invalid |= self._read(self.band_index[VALID], window) == 0
        return stack, ~invalid

    def _read(self, index: int, window: Window) -> np.ndarray:
        """One band of a window as float32; a damaged file is an InputError."""
        try:
            return self._ds.read(index, window=window, out_dtype=np.float32)
        except READ_ERRORS as exc:
            raise InputError(f"Cannot read {self.path} (band {index}, rows {int(window.row_off)}.."
                             f"{int(window.row_off + window.height)}): {_short(exc)}.",
                             "The file is damaged or incomplete: write it again.") from None

    def read_bands(self, names: Sequence[str], window: Optional[Window] = None,
                   mask_invalid: bool = True) -> np.ndarray:
        """Some bands (float32 (len(names), h, w), raw units); NaN at nodata and non-finite
        values, and with ``mask_invalid`` also where the ``valid`` band is 0 (cloud, shadow)."""
        if window is None:
            window = Window(0, 0, self.width, self.height)
        window = window.round_offsets().round_lengths()
        h, w = int(window.height), int(window.width)
        out = np.empty((len(names), h, w), np.float32)
        invalid = np.zeros((h, w), bool)
        for k, name in enumerate(names):
            if name == SLOPE:
                out[k] = self.read_slope_deg(window)
                continue
            out[k] = self._read(self.band_index[name], window)
            if self.nodata is not None and not (isinstance(self.nodata, float) and math.isnan(self.nodata)):
                invalid |= out[k] == np.float32(self.nodata)
        if mask_invalid:
            invalid |= ~np.isfinite(out).all(axis=0)
            if VALID in self.band_index:
                invalid |= self._read(self.band_index[VALID], window) == 0
        out[:, invalid] = np.nan
        return out

    def read_slope_deg(self, window: Optional[Window] = None) -> np.ndarray:
        """Slope in degrees for a window: the file's slope band, or computed from elevation."""
        if window is None:
            window = Window(0, 0, self.width, self.height)
        window = window.round_offsets().round_lengths()
        if self.slope_given:
            return self._read(self.band_index[SLOPE], window)
        return self._computed_slope(int(window.col_off), int(window.row_off), int(window.width), int(window.height))

    def _computed_slope(self, col: int, row: int, w: int, h: int) -> np.ndarray:
        """Slope for a window, computed with a 1-pixel halo so tiles match the whole scene."""
        c0, r0 = max(col - 1, 0), max(row - 1, 0)
        c1, r1 = min(col + w + 1, self.width), min(row + h + 1, self.height)
        dem = self._read(self.band_index[ELEVATION], Window(c0, r0, c1 - c0, r1 - r0))
        if self.nodata is not None and not math.isnan(float(self.nodata)):
            dem[dem == np.float32(self.nodata)] = np.nan
        px_w, px_h = self.pixel_size_m
        slope = slope_horn_deg(dem, px_w, px_h)
        return slope[row - r0: row - r0 + h, col - c0: col - c0 + w]

    def read_all(self) -> RawScene:
        stack, valid = self.read()
        return RawScene(stack, ALL_BANDS, valid, self.transform, self.crs, dict(self.provenance))

    def close(self) -> None:
        self._ds.close()

    def __enter__(self) -> "SceneReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "..."


def read_scene(path: str | Path) -> RawScene:
    """Read a whole scene GeoTIFF into memory (small scenes; use SceneReader for big ones)."""
    with SceneReader(path) as reader:
        return reader.read_all()


#: How scene GeoTIFFs are compressed: ZSTD level 1 with the floating-point predictor. On a
#: 400 km2 demo scene (14 bands of 1995 x 1996 px) it took a quarter of the CPU time of DEFLATE
#: level 6 to write and half to read, for a file no larger (82 vs 84 MB); see bench/pipeline.py.
SCENE_COMPRESSION: dict[str, Any] = {"compress": "zstd", "zstd_level": 1, "predictor": 3}
#: Scene bands are stored band after band: most readers want a few bands (the shift's near
#: infrared, the display's true colour, the DEM, the evidence's four), and with the bands of
#: a pixel stored together every such read decompresses all fifteen.
SCENE_INTERLEAVE = "band"


def scene_profile(width: int, height: int, count: int, transform: Affine, crs: CRS,
                  compressed: bool = True) -> dict:
    """The rasterio profile of a scene GeoTIFF: float32, tiled, NaN nodata, compressed with
    :data:`SCENE_COMPRESSION` (``compressed=False``: not compressed, for temporary files that
    are read once, soon after)."""
    return dict(
        driver="GTiff", width=width, height=height, count=count, dtype="float32",
        crs=crs, transform=transform, nodata=float("nan"), tiled=True,
        blockxsize=256, blockysize=256, BIGTIFF="IF_SAFER", interleave=SCENE_INTERLEAVE,
        **(SCENE_COMPRESSION if compressed else {}),
    )


def write_scene(path: str | Path, scene: RawScene, cancel: Optional[CancelToken] = None) -> Path:
    """Write a RawScene as a scene GeoTIFF (bands + ``valid``), atomically; ``cancel`` is
    checked before every band (a cancelled write leaves nothing behind)."""
    path = Path(path)
    check_projected_crs(scene.crs, str(path))
    names = tuple(scene.band_names)
    lacking = [b for b in CONTRACT_WITHOUT_SLOPE if b not in names]
    if lacking:
        raise InputError(f"Cannot write a scene without the bands {', '.join(lacking)}.")
    tmp = path.with_name(path.name + ".partial")
    profile = scene_profile(scene.width, scene.height, len(names) + 1, scene.transform, scene.crs)
    try:
        with rasterio.open(tmp, "w", **profile) as ds:
            for i, name in enumerate(names):
                check_cancel(cancel)
                ds.write(scene.data[i].astype(np.float32, copy=False), i + 1)
                ds.set_band_description(i + 1, name)
            check_cancel(cancel)
            ds.write(scene.valid.astype(np.float32), len(names) + 1)
            ds.set_band_description(len(names) + 1, VALID)
            ds.update_tags(**{PROVENANCE_TAG: json.dumps(scene.provenance, default=str)})
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def scene_band_names(with_slope: bool) -> Sequence[str]:
    return ALL_BANDS if with_slope else CONTRACT_WITHOUT_SLOPE
