"""Regions of interest (ROIs) of a dataset: squares of a set size, each on its own UTM grid.

An ROI is a square of ``size_m`` metres (default 1500 m, the thesis's L4S-PE) centred on a
point, on the 10 m grid of the UTM zone of that centre (:func:`landslide_core.grid.grid_centered`):
two ROIs on either side of a zone border are each on their own zone's grid, and an ROI that
straddles a border is on the grid of the zone of its centre. Its id names that grid
(``18S-455250-8751270``: zone, hemisphere, left and top in metres), so the same place added
twice is one ROI.

ROIs come from a point or polygon file (a landslide inventory: GeoJSON points, polygons or a
CSV with lon/lat columns; one ROI per point, one centred on each polygon), from a shape drawn
on a map (a point: one ROI; an area: the ROIs that tile it), or are sampled at random over an
area (non-overlapping, reproducible by seed).
"""
from __future__ import annotations

import csv
import functools
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np

from ..errors import InputError
from ..grid import DEFAULT_PIXEL_SIZE_M, Grid, grid_centered, utm_crs

DEFAULT_ROI_SIZE_M = 1500.0
#: An ROI holds at least one 64 px patch and at most a 10 km square.
MIN_ROI_SIZE_M = 640.0
MAX_ROI_SIZE_M = 10_000.0
#: Most ROIs one file, drawing or sampling may add.
MAX_ROIS_PER_ADD = 5000
#: Largest inventory file read.
MAX_INVENTORY_BYTES = 50_000_000
_LON_NAMES = ("lon", "long", "longitude", "x", "lng")
_LAT_NAMES = ("lat", "latitude", "y")


@functools.lru_cache(maxsize=65536)
def _grid(lon: float, lat: float, size_px: int) -> Grid:
    """ROI grids are asked for often (ids, footprints, lookups): each is worked out once."""
    return grid_centered(lon, lat, size_px, size_px)


def check_roi_size(size_m: Any) -> float:
    """The ROI side in metres, or a clear error."""
    try:
        size = float(size_m)
    except (TypeError, ValueError):
        size = float("nan")
    if not (math.isfinite(size) and MIN_ROI_SIZE_M <= size <= MAX_ROI_SIZE_M):
        raise InputError(f"The ROI size {size_m!r} m is outside {MIN_ROI_SIZE_M:,.0f}-{MAX_ROI_SIZE_M:,.0f} m.",
                         f"Use e.g. {DEFAULT_ROI_SIZE_M:,.0f} m (the thesis's 1500 x 1500 m).")
    return size


def _check_lonlat(lon: Any, lat: Any, where: str) -> tuple[float, float]:
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError):
        raise InputError(f"{where}: the coordinates {lon!r}, {lat!r} are not numbers.",
                         "Give longitude and latitude in decimal degrees (EPSG:4326).") from None
    if not (math.isfinite(x) and math.isfinite(y) and -180.0 <= x <= 180.0 and -80.0 <= y <= 84.0):
        raise InputError(f"{where}: the point ({lon}, {lat}) is not a longitude/latitude inside the UTM zones "
                         "(lon -180..180, lat -80..84).",
                         "Give longitude first, then latitude, in decimal degrees (EPSG:4326).")
    return x, y


@dataclass(frozen=True)
class Roi:
    """A square region of interest: its centre (lon/lat), side (m), where it came from."""

    lon: float
    lat: float
    size_m: float = DEFAULT_ROI_SIZE_M
    origin: str = ""
    properties: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def size_px(self) -> int:
        return int(round(self.size_m / DEFAULT_PIXEL_SIZE_M))

    def grid(self) -> Grid:
        """The ROI's grid: 10 m pixels in the UTM zone of its centre."""
        return _grid(self.lon, self.lat, self.size_px)

    @property
    def id(self) -> str:
        g = self.grid()
        epsg = g.crs.to_epsg() or 0
        zone, hemisphere = epsg % 100, "N" if epsg // 100 == 326 else "S"
        return f"{zone:02d}{hemisphere}-{int(round(g.transform.c))}-{int(round(g.transform.f))}"

    @property
    def epsg(self) -> int:
        return int(utm_crs(self.lon, self.lat).to_epsg())

    def footprint(self) -> dict:
        """The ROI square as a GeoJSON polygon in lon/lat (its corners and edge midpoints)."""
        from pyproj import Transformer

        g = self.grid()
        left, bottom, right, top = g.bounds
        xs = [left, (left + right) / 2, right, right, right, (left + right) / 2, left, left, left]
        ys = [bottom, bottom, bottom, (bottom + top) / 2, top, top, top, (bottom + top) / 2, bottom]
        lon, lat = Transformer.from_crs(g.crs, "EPSG:4326", always_xy=True).transform(xs, ys)
        return {"type": "Polygon", "coordinates": [[[round(a, 8), round(b, 8)] for a, b in zip(lon, lat)]]}

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "lon": self.lon, "lat": self.lat, "size_m": self.size_m, "origin": self.origin,
                "epsg": self.epsg, "properties": self.properties}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Roi":
        try:
            return roi_at(data["lon"], data["lat"], data.get("size_m", DEFAULT_ROI_SIZE_M),
                          str(data.get("origin", "")), dict(data.get("properties") or {}))
        except (KeyError, TypeError, AttributeError) as exc:
            raise InputError(f"An ROI record is damaged ({exc}).", "Remove it from rois.json or add it again.") \
                from None


def roi_at(lon: Any, lat: Any, size_m: Any = DEFAULT_ROI_SIZE_M, origin: str = "",
           properties: Optional[dict[str, Any]] = None, where: str = "The ROI") -> Roi:
    """One ROI centred on (lon, lat), checked."""
    x, y = _check_lonlat(lon, lat, where)
    return Roi(round(x, 7), round(y, 7), check_roi_size(size_m), origin, dict(properties or {}))


def _unique(rois: Iterable[Roi]) -> list[Roi]:
    seen: dict[str, Roi] = {}
    for r in rois:
        seen.setdefault(r.id, r)
    if len(seen) > MAX_ROIS_PER_ADD:
        raise InputError(f"This would add {len(seen):,} ROIs, more than {MAX_ROIS_PER_ADD:,} at once.",
                         "Split the inventory into smaller files, or sample fewer ROIs.")
    return list(seen.values())


# ---------------------------------------------------------------- from geometries


def _jsonable_properties(props: Any) -> dict[str, Any]:
    if not isinstance(props, dict):
        return {}
    out = {}
    for k, v in list(props.items())[:50]:
        if isinstance(v, (str, int, float, bool)) or v is None:
            out[str(k)[:80]] = v if not isinstance(v, str) else v[:500]
    return out


def _features(obj: Any, label: str) -> list[tuple[dict, dict]]:
    """(geometry, properties) of every feature of a GeoJSON object."""
    if not isinstance(obj, dict):
        raise InputError(f"{label} is not a GeoJSON object.", "Give a FeatureCollection of points or polygons.")
    kind = obj.get("type")
    if kind == "FeatureCollection":
        feats = obj.get("features")
        if not isinstance(feats, list):
            raise InputError(f"{label} is a FeatureCollection without a list of features.")
        out = []
        for f in feats:
            if isinstance(f, dict) and isinstance(f.get("geometry"), dict):
                out.append((f["geometry"], _jsonable_properties(f.get("properties"))))
        return out
    if kind == "Feature":
        if not isinstance(obj.get("geometry"), dict):
            raise InputError(f"{label} is a Feature without a geometry.")
        return [(obj["geometry"], _jsonable_properties(obj.get("properties")))]
    if kind == "GeometryCollection":
        return [(g, {}) for g in obj.get("geometries") or [] if isinstance(g, dict)]
    return [(obj, {})]


def rois_from_geojson(obj: Any, size_m: Any = DEFAULT_ROI_SIZE_M, label: str = "The file") -> list[Roi]:
    """One ROI per point, and one centred on each polygon (an inventory's outlines)."""
    from shapely.geometry import shape

    size = check_roi_size(size_m)
    out: list[Roi] = []
    skipped = []
    for k, (geom, props) in enumerate(_features(obj, label)):
        where = f"{label}, feature {k + 1}"
        kind = geom.get("type")
        if kind == "Point":
            c = geom.get("coordinates") or []
            if len(c) < 2:
                raise InputError(f"{where}: the point has no coordinates.")
            out.append(roi_at(c[0], c[1], size, where, props, where))
        elif kind == "MultiPoint":
            for j, c in enumerate(geom.get("coordinates") or []):
                out.append(roi_at(c[0], c[1], size, f"{where}.{j + 1}", props, where))
        elif kind in ("Polygon", "MultiPolygon"):
            try:
                poly = shape(geom)
            except (ValueError, TypeError, AttributeError, IndexError) as exc:
                raise InputError(f"{where}: the polygon is not valid GeoJSON ({exc}).") from None
            parts = list(poly.geoms) if kind == "MultiPolygon" else [poly]
            for j, part in enumerate(parts):
                if part.is_empty:
                    continue
                c = part.centroid
                name = where if len(parts) == 1 else f"{where}.{j + 1}"
                out.append(roi_at(c.x, c.y, size, f"{name} (polygon centre)", props, name))
        else:
            skipped.append(str(kind))
    if not out:
        extra = f" (it holds: {', '.join(sorted(set(skipped)))})" if skipped else ""
        raise InputError(f"{label} has no points or polygons{extra}.",
                         "Give a GeoJSON FeatureCollection of points or polygons, or a CSV with lon and lat "
                         "columns.")
    return _unique(out)


def rois_from_csv(text: str, size_m: Any = DEFAULT_ROI_SIZE_M, label: str = "The file") -> list[Roi]:
    """One ROI per row of a CSV with a longitude and a latitude column (lon/lat, x/y, ...)."""
    size = check_roi_size(size_m)
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip() for f in (reader.fieldnames or [])]
    lower = {f.lower(): f for f in fields}
    lon_col = next((lower[n] for n in _LON_NAMES if n in lower), None)
    lat_col = next((lower[n] for n in _LAT_NAMES if n in lower), None)
    if lon_col is None or lat_col is None:
        raise InputError(f"{label} has no longitude and latitude columns (it has: {', '.join(fields) or 'none'}).",
                         "Name them lon and lat (decimal degrees, EPSG:4326).")
    out = []
    for i, row in enumerate(reader, start=2):
        row = {(k or "").strip(): v for k, v in row.items()}
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        props = {k: v for k, v in row.items() if k not in (lon_col, lat_col) and isinstance(v, str)}
        out.append(roi_at(row.get(lon_col), row.get(lat_col), size, f"{label}, line {i}",
                          _jsonable_properties(props), f"{label}, line {i}"))
    if not out:
        raise InputError(f"{label} has a header but no rows.", "Add one row per place: lon,lat.")
    return _unique(out)


def rois_from_file(path: str | Path, size_m: Any = DEFAULT_ROI_SIZE_M) -> list[Roi]:
    """ROIs from an inventory file: GeoJSON (.geojson/.json) or CSV (.csv)."""
    from ..fileio import read_bytes_bounded

    p = Path(path)
    raw = read_bytes_bounded(p, "The inventory file", MAX_INVENTORY_BYTES)
    return rois_from_bytes(raw, p.name, size_m)


def rois_from_bytes(raw: bytes, filename: str, size_m: Any = DEFAULT_ROI_SIZE_M) -> list[Roi]:
    """ROIs from an uploaded file's bytes (GeoJSON or CSV, chosen by name, else by content)."""
    if len(raw) > MAX_INVENTORY_BYTES:
        raise InputError(f"{filename} is larger than {MAX_INVENTORY_BYTES // 1_000_000} MB.",
                         "Split the inventory into smaller files.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{filename} is not text (UTF-8).", "Give a GeoJSON or CSV file.") from None
    stripped = text.lstrip()
    if filename.lower().endswith(".csv") or (stripped and stripped[0] not in "{["):
        return rois_from_csv(text, size_m, filename)
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"{filename} is not valid JSON ({exc}).", "Give a GeoJSON FeatureCollection.") from None
    return rois_from_geojson(obj, size_m, filename)


# ---------------------------------------------------------------- areas


def _area_geometry(area: Any, label: str):
    """A shapely polygon (lon/lat) from a GeoJSON geometry, Feature or FeatureCollection."""
    from shapely.geometry import shape
    from shapely.ops import unary_union

    geoms = []
    for geom, _ in _features(area, label):
        if geom.get("type") in ("Polygon", "MultiPolygon"):
            try:
                geoms.append(shape(geom).buffer(0))
            except (ValueError, TypeError, AttributeError, IndexError) as exc:
                raise InputError(f"{label} is not a valid polygon ({exc}).") from None
    if not geoms:
        raise InputError(f"{label} has no polygon.", "Draw or give an area (a polygon or rectangle).")
    area_geom = unary_union(geoms)
    if area_geom.is_empty or area_geom.area <= 0:
        raise InputError(f"{label} is empty.", "Draw or give an area (a polygon or rectangle).")
    return area_geom


def _lattice(area_geom, size_m: float, inside: bool) -> list[tuple[float, float]]:
    """Centres (lon, lat) of a lattice of ROI squares over ``area_geom`` in the UTM zone of its
    centre: squares within the area when ``inside``, else squares that touch it."""
    from pyproj import Transformer
    from shapely.geometry import box
    from shapely.ops import transform
    from shapely.prepared import prep

    c = area_geom.centroid
    crs = utm_crs(c.x, c.y)
    fwd = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    back = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    utm = transform(fwd.transform, area_geom)
    left, bottom, right, top = utm.bounds
    nx = max(int(math.floor((right - left) / size_m)), 1)
    ny = max(int(math.floor((top - bottom) / size_m)), 1)
    max_cells = 200_000
    if nx * ny > max_cells:
        raise InputError(f"The area holds about {nx * ny:,} ROIs of {size_m:,.0f} m, too many to lay out.",
                         "Use a smaller area or larger ROIs.")
    # centre the lattice on the area's box
    x0 = left + ((right - left) - nx * size_m) / 2 + size_m / 2
    y0 = bottom + ((top - bottom) - ny * size_m) / 2 + size_m / 2
    if not inside:  # cover: one more ring of cells so the edges are covered
        nx, ny, x0, y0 = nx + 2, ny + 2, x0 - size_m, y0 - size_m
    prepared = prep(utm)
    half = size_m / 2
    xs, ys = [], []
    for j in range(ny):
        for i in range(nx):
            x, y = x0 + i * size_m, y0 + j * size_m
            cell = box(x - half, y - half, x + half, y + half)
            if (prepared.contains(cell) if inside else prepared.intersects(cell)):
                xs.append(x)
                ys.append(y)
    if not xs:
        return []
    lon, lat = back.transform(xs, ys)
    return list(zip(np.atleast_1d(lon).tolist(), np.atleast_1d(lat).tolist()))


def rois_covering(area: Any, size_m: Any = DEFAULT_ROI_SIZE_M, origin: str = "drawn on the map") -> list[Roi]:
    """ROIs for a shape drawn on a map: a point gives one ROI centred on it; an area gives the
    ROIs that tile it (an area smaller than one ROI: one ROI centred on it)."""
    size = check_roi_size(size_m)
    feats = _features(area, "The drawn shape")
    points = [g for g, _ in feats if g.get("type") == "Point"]
    if points:
        return _unique(roi_at(p["coordinates"][0], p["coordinates"][1], size, origin) for p in points)
    geom = _area_geometry(area, "The drawn shape")
    centres = _lattice(geom, size, inside=False)
    if len(centres) <= 1:
        c = geom.centroid
        return [roi_at(c.x, c.y, size, origin)]
    return _unique(roi_at(x, y, size, origin) for x, y in centres)


def sample_rois(area: Any, count: int, size_m: Any = DEFAULT_ROI_SIZE_M, seed: int = 0) -> list[Roi]:
    """``count`` non-overlapping ROIs at random inside ``area`` (reproducible by ``seed``)."""
    size = check_roi_size(size_m)
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 1 <= count <= MAX_ROIS_PER_ADD:
        raise InputError(f"The number of ROIs to sample must be a whole number from 1 to {MAX_ROIS_PER_ADD:,}, "
                         f"not {count!r}.")
    geom = _area_geometry(area, "The sampling area")
    centres = _lattice(geom, size, inside=True)
    if len(centres) < count:
        raise InputError(f"The area holds {len(centres)} non-overlapping ROIs of {size:,.0f} m, fewer than the "
                         f"{count} asked for.", "Sample fewer ROIs, use smaller ones, or a larger area.")
    rng = np.random.default_rng([int(seed), 4517])
    chosen = sorted(rng.choice(len(centres), size=int(count), replace=False).tolist())
    origin = f"sampled over an area (seed {seed})"
    return _unique(roi_at(*centres[i], size, origin) for i in chosen)
