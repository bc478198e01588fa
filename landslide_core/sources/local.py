"""Local files: the user's own 'before' and 'after' GeoTIFFs, with an optional DEM GeoTIFF.

Bands are found by their band descriptions (``B1``..``B12`` or ``B01``..``B12``; ``B8A`` is
ignored; ``elevation``/``DEM``/``DSM``/``height``; optional ``valid``) or by an explicit
``band_map`` ``{contract_name: band_index}`` (1-based, as in GDAL). Elevation comes from the
DEM file when given, else from the image file. Everything is reprojected to one grid: the
'after' file's grid (a geographic file goes to its UTM zone at 10 m, a file with pixels finer
than 10 m to a 10 m grid in its own CRS) or, with ``grid_from="request"``, the request's grid.
The grid is bounded (``max_area_km2``) and the scene is reprojected and written strip by
strip, so memory is bounded by a strip of the analysis grid, not by the files (a tiny sparse
file can describe a huge raster). A file lacking bands the model needs is refused with the
missing band names.
"""
from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Optional

import numpy as np

from ..bands import ELEVATION, SPECTRAL_BANDS, VALID
from ..errors import InputError
from ..fileio import check_regular_file
from ..grid import DEFAULT_PIXEL_SIZE_M, Grid, grid_for_bounds_lonlat
from ..progress import CancelToken, ProgressFn, check_cancel
from ..scene import PROVENANCE_TAG, RawScene, SceneReader, scene_profile
from .base import FetchedScene, Readiness, SceneListing
from .cache import SceneCache, scene_key
from .request import AnalysisRequest, DateWindow

NEEDED = SPECTRAL_BANDS + (ELEVATION,)
_ELEVATION_NAMES = {"elevation", "elev", "dem", "dsm", "height", "altitude", "z"}
_VALID_NAMES = {"valid", "clear"}
_DATE_RE = re.compile(r"(20\d{2}|19\d{2})-?(\d{2})-?(\d{2})")
#: Rows of the analysis grid reprojected and written at a time, and GDAL's block cache meanwhile.
STRIP_ROWS = 256
GDAL_CACHE_MB = 64
WARP_MEM_MB = 32
#: A file whose pixels are finer than this (metres) is resampled to the 10 m analysis grid.
FINEST_PIXEL_M = 9.5


def contract_name(description: str) -> Optional[str]:
    """The contract band a band description names, or None (B8A and unknown names)."""
    d = (description or "").strip()
    m = re.fullmatch(r"[Bb](?:and)?[ _]?0?(\d{1,2})", d)
    if m:
        name = f"B{int(m.group(1))}"
        return name if name in SPECTRAL_BANDS else None
    low = d.lower()
    if low in _ELEVATION_NAMES:
        return ELEVATION
    if low in _VALID_NAMES:
        return VALID
    return None


def resolve_bands(path: Path, descriptions: list[str], count: int,
                  band_map: Optional[dict[str, int]] = None) -> dict[str, int]:
    """{contract_name: 1-based index} for a file, from ``band_map`` or its descriptions."""
    if band_map:
        known = set(NEEDED) | {VALID}
        unknown = [k for k in band_map if k not in known]
        if unknown:
            raise InputError(f"band_map names unknown bands: {', '.join(unknown)}.",
                             f"Use the names {', '.join(NEEDED)} and {VALID}.")
        bad = {k: v for k, v in band_map.items() if not (isinstance(v, int) and 1 <= v <= count)}
        if bad:
            raise InputError(f"band_map points outside {path.name}'s {count} bands: {bad}.",
                             f"Band indices start at 1 and go up to {count}.")
        return dict(band_map)
    found: dict[str, int] = {}
    for i, d in enumerate(descriptions):
        name = contract_name(d or "")
        if name and name not in found:
            found[name] = i + 1
    return found


def _open(path: Path):
    import rasterio
    from rasterio.errors import RasterioIOError

    check_regular_file(path, "The file")
    try:
        return rasterio.open(path)
    except (RasterioIOError, OSError) as exc:
        raise InputError(f"Cannot open {path} as a GeoTIFF ({exc}).",
                         "Give a complete GeoTIFF file.") from None


def file_grid(path: Path) -> Grid:
    """A file's own grid if it is projected in metres with pixels of 10 m or more; a 10 m grid
    in its CRS if its pixels are finer; else (geographic) its UTM zone at 10 m."""
    with _open(path) as ds:
        if ds.crs is None:
            raise InputError(f"{path} has no coordinate reference system.",
                             "Write it with a CRS (e.g. its UTM zone).")
        if ds.crs.is_projected and (ds.crs.linear_units or "").lower() in ("metre", "meter", "m"):
            t = ds.transform
            if t.b == 0 and t.d == 0 and min(abs(t.a), abs(t.e)) < FINEST_PIXEL_M:
                return _ten_metre_grid(ds.crs, ds.bounds)
            return Grid(ds.crs, ds.transform, ds.width, ds.height)
        from rasterio.warp import transform_bounds

        return grid_for_bounds_lonlat(*transform_bounds(ds.crs, "EPSG:4326", *ds.bounds))


def _ten_metre_grid(crs, bounds, pixel_size_m: float = DEFAULT_PIXEL_SIZE_M) -> Grid:
    import math

    from rasterio.transform import from_origin

    left, bottom, right, top = bounds
    left = math.floor(left / pixel_size_m) * pixel_size_m
    top = math.ceil(top / pixel_size_m) * pixel_size_m
    width = max(int(math.ceil((right - left) / pixel_size_m)), 1)
    height = max(int(math.ceil((top - bottom) / pixel_size_m)), 1)
    return Grid(crs, from_origin(left, top, pixel_size_m, pixel_size_m), width, height)


def _warp_strip(ds, index: int, grid: Grid, y0: int, rows: int, resampling) -> np.ndarray:
    """Rows ``y0..y0+rows`` of band ``index`` of ``ds`` on ``grid`` (float32, NaN outside the file
    and at its nodata). GDAL reads only the source windows those rows need, in chunks within
    its warp memory limit (a WarpedVRT read of a strip was seen to take 1 GB on a sparse file)."""
    from rasterio import band
    from rasterio.transform import Affine
    from rasterio.warp import reproject

    dst = np.full((rows, grid.width), np.nan, np.float32)
    reproject(band(ds, index), dst, src_nodata=ds.nodata, dst_transform=grid.transform * Affine.translation(0, y0),
              dst_crs=grid.crs, dst_nodata=np.nan, resampling=resampling, warp_mem_limit=WARP_MEM_MB)
    return dst


def file_date(path: Path, tags: dict) -> Optional[datetime.date]:
    """Acquisition date from the provenance tag, the TIFF date tag or the file name."""
    try:
        prov = json.loads(tags.get(PROVENANCE_TAG, "{}"))
        dates = prov.get("dates") or ([prov["date"]] if prov.get("date") else [])
        if dates:
            return datetime.date.fromisoformat(str(dates[0])[:10])
    except (ValueError, json.JSONDecodeError, TypeError):
        pass
    for text in (path.name, tags.get("TIFFTAG_DATETIME", "").replace(":", "-", 2)):
        m = _DATE_RE.search(text or "")
        if m:
            try:
                return datetime.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                continue
    return None


class LocalFilesSource:
    """The user's 'before' and 'after' GeoTIFFs (and optional DEM) on one grid."""

    name = "local"
    version = "1"

    def __init__(self, pre_path: Optional[str | Path] = None, post_path: Optional[str | Path] = None,
                 dem_path: Optional[str | Path] = None, band_map: Optional[dict[str, int]] = None,
                 grid_from: str = "post", cache: Optional[SceneCache] = None,
                 max_area_km2: float = 10_000.0):
        if grid_from not in ("post", "request"):
            raise InputError(f"grid_from must be 'post' or 'request', not '{grid_from}'.")
        self.pre_path = Path(pre_path) if pre_path else None
        self.post_path = Path(post_path) if post_path else None
        self.dem_path = Path(dem_path) if dem_path else None
        self.band_map = dict(band_map) if band_map else None
        self.grid_from = grid_from
        self.cache = cache if cache is not None else SceneCache()
        self.max_area_km2 = max_area_km2

    # --- checks --------------------------------------------------------------------------------
    def file_bands(self, path: Path) -> dict[str, int]:
        """The contract bands of one file; refuses a file lacking bands the model needs."""
        with _open(path) as ds:
            bands = resolve_bands(path, list(ds.descriptions), ds.count, self.band_map)
            described = ", ".join(d or f"#{i + 1} (no name)" for i, d in enumerate(ds.descriptions))
        need = SPECTRAL_BANDS + (() if self.dem_path else (ELEVATION,))
        lacking = [b for b in need if b not in bands]
        if lacking:
            hint = (" or give a DEM GeoTIFF (dem_path)" if ELEVATION in lacking else "")
            raise InputError(
                f"{path.name} lacks the bands the model needs: {', '.join(lacking)} "
                f"(its bands: {described}).",
                "Give Sentinel-2 L1C with all of B1..B12 (B10 is not in L2A), named in the band "
                f"descriptions or mapped with band_map={{'B2': 2, ...}}{hint}.")
        return bands

    def readiness(self) -> Readiness:
        from ..i18n import t

        if not (self.pre_path and self.post_path):
            return Readiness(True, t("sources.local.needs_files", "en"), message_id="sources.local.needs_files")
        try:
            for p in (self.pre_path, self.post_path):
                self.file_bands(p)
            if self.dem_path:
                with _open(self.dem_path):
                    pass
            file_grid(self.post_path)
        except InputError as exc:
            return Readiness(False, f"Local files: not usable. {exc}")
        params = {"pre": self.pre_path.name, "post": self.post_path.name}
        return Readiness(True, t("sources.local.ready", "en", **params), message_id="sources.local.ready",
                         params=params)

    def _path_for(self, request: AnalysisRequest, window: DateWindow) -> Path:
        if not (self.pre_path and self.post_path):
            raise InputError("No local files were given.",
                             "Give a 'before' and an 'after' GeoTIFF (pre_path, post_path).")
        return self.pre_path if request.window_name(window) == "pre" else self.post_path

    def target_grid(self, request: AnalysisRequest) -> Grid:
        return request.grid() if self.grid_from == "request" else file_grid(self.post_path)

    # --- interface -----------------------------------------------------------------------------
    def list_scenes(self, request: AnalysisRequest, window: DateWindow) -> list[SceneListing]:
        path = self._path_for(request, window)
        with _open(path) as ds:
            tags = ds.tags()
        date = file_date(path, tags) or window.end
        reader_valid = None
        try:
            with SceneReader(path) as reader:
                _, reader_valid = reader.read()
        except Exception:  # noqa: BLE001 - cloud % is optional for local files
            reader_valid = None
        invalid_pct = float(100.0 * (1 - reader_valid.mean())) if reader_valid is not None else 0.0
        return [SceneListing(date, path.name, round(invalid_pct, 2), round(invalid_pct, 2), 100.0)]

    def cache_key(self, request: AnalysisRequest, window: DateWindow) -> str:
        path = self._path_for(request, window)
        files = []
        for p in (path, self.dem_path):
            if p is not None:
                st = p.stat()
                files.append([str(p.resolve()), st.st_size, st.st_mtime_ns])
        extra = {"files": files, "band_map": self.band_map, "grid_from": self.grid_from}
        return scene_key(self.name, self.version, {}, window.to_json(),
                         self.target_grid(request).key(), extra)

    def fetch(self, request: AnalysisRequest, window: DateWindow, progress: Optional[ProgressFn] = None,
              cancel: Optional[CancelToken] = None) -> FetchedScene:
        request.validate(max_area_km2=self.max_area_km2)
        path = self._path_for(request, window)
        bands = self.file_bands(path)
        grid = self.target_grid(request)
        self.check_grid(grid, path)

        def write(tmp_path: Path) -> None:
            extra = {"window": window.to_json(), "role": request.window_name(window)}
            self.write_on_grid(path, bands, grid, tmp_path, extra, progress, cancel)

        return self.cache.fetch_file(self.cache_key(request, window), write, cancel=cancel)

    def check_grid(self, grid: Grid, path: Path) -> None:
        """Refuse an analysis grid over ``max_area_km2`` (what fetching it would cost)."""
        if grid.area_km2 > self.max_area_km2:
            raise InputError(
                f"{path.name} makes an analysis grid of {grid.width:,} x {grid.height:,} pixels "
                f"({grid.area_km2:,.0f} km2 at {grid.pixel_size_m:g} m), larger than the limit of "
                f"{self.max_area_km2:,.0f} km2.",
                "Crop the files to the area you need (e.g. gdal_translate -projwin), or analyse the "
                "request's area only (grid_from='request').")

    def _provenance(self, path: Path, tags: dict, grid: Grid) -> dict:
        date = file_date(path, tags)
        return {"source": self.name, "source_version": self.version, "file": str(path),
                "dem_file": str(self.dem_path) if self.dem_path else None,
                "dates": [date.isoformat()] if date else [], "grid": grid.key(),
                "scenes": [{"id": path.name, "date": date.isoformat() if date else None}]}

    def write_on_grid(self, path: Path, bands: dict[str, int], grid: Grid, out_path: Path,
                      extra_provenance: Optional[dict] = None, progress: Optional[ProgressFn] = None,
                      cancel: Optional[CancelToken] = None) -> Path:
        """Reproject the file (and DEM) onto ``grid`` and write a scene GeoTIFF (B1..B12,
        elevation, valid) strip by strip: memory is a strip of the grid, whatever the files."""
        import contextlib

        import rasterio
        from rasterio.enums import Resampling
        from rasterio.windows import Window

        from ..bands import SPECTRAL_BANDS as spectral

        names = spectral + (ELEVATION,)
        n_strips = -(-grid.height // STRIP_ROWS)
        profile = scene_profile(grid.width, grid.height, len(names) + 1, grid.transform, grid.crs)
        with contextlib.ExitStack() as stack:
            # GDAL's block cache (5% of RAM by default) would keep every decoded block of a big file.
            stack.enter_context(rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 1024 * 1024))
            ds = stack.enter_context(_open(path))
            tags = ds.tags()
            if self.dem_path:
                dem = stack.enter_context(_open(self.dem_path))
                dem_index = resolve_bands(self.dem_path, list(dem.descriptions), dem.count).get(ELEVATION, 1)
            else:
                dem, dem_index = ds, bands[ELEVATION]
            dst = stack.enter_context(rasterio.open(out_path, "w", **profile))
            for k in range(n_strips):
                check_cancel(cancel)
                y0 = k * STRIP_ROWS
                rows = min(STRIP_ROWS, grid.height - y0)
                win = Window(0, y0, grid.width, rows)
                data = np.stack([_warp_strip(ds, bands[b], grid, y0, rows, Resampling.nearest) for b in spectral])
                elevation = _warp_strip(dem, dem_index, grid, y0, rows, Resampling.bilinear)
                valid = np.isfinite(data).all(axis=0) & np.isfinite(elevation)
                if VALID in bands:
                    valid &= _warp_strip(ds, bands[VALID], grid, y0, rows, Resampling.nearest) > 0.5
                dst.write(data, indexes=list(range(1, len(spectral) + 1)), window=win)
                dst.write(elevation, len(spectral) + 1, window=win)
                dst.write(valid.astype(np.float32), len(names) + 1, window=win)
                if progress:
                    progress(k + 1, n_strips, "reproject")
            for i, name in enumerate(names + (VALID,)):
                dst.set_band_description(i + 1, name)
            provenance = {**self._provenance(path, tags, grid), **(extra_provenance or {})}
            dst.update_tags(**{PROVENANCE_TAG: json.dumps(provenance, default=str)})
        return out_path

    def read_on_grid(self, path: Path, bands: dict[str, int], grid: Grid,
                     progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> RawScene:
        """The file on ``grid`` in memory (small grids; :meth:`fetch` writes by strips)."""
        import tempfile

        from ..scene import read_scene

        self.check_grid(grid, path)
        with tempfile.TemporaryDirectory(prefix="landslide-local-") as tmp:
            out = self.write_on_grid(path, bands, grid, Path(tmp) / "scene.tif", None, progress, cancel)
            scene = read_scene(out)
        scene.data = scene.data[[i for i, b in enumerate(scene.band_names) if b != "slope"]]
        scene.band_names = tuple(b for b in scene.band_names if b != "slope")
        return scene
