"""The analysis grid: the AOI's UTM zone at 10 m, shared by pre, post and DEM."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rasterio.crs import CRS
from rasterio.transform import Affine, from_origin

DEFAULT_PIXEL_SIZE_M = 10.0


@dataclass(frozen=True)
class Grid:
    """A north-up projected raster grid: CRS, top-left origin, pixel size and shape."""

    crs: CRS
    transform: Affine
    width: int
    height: int

    @property
    def pixel_size_m(self) -> float:
        return float(self.transform.a)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in CRS metres."""
        left, top = self.transform.c, self.transform.f
        return left, top - self.height * abs(self.transform.e), left + self.width * self.transform.a, top

    @property
    def area_km2(self) -> float:
        return self.width * self.height * self.transform.a * abs(self.transform.e) / 1e6

    def key(self) -> dict[str, Any]:
        """A JSON-able description, for cache keys and provenance."""
        return {"crs": self.crs.to_string(), "transform": list(self.transform)[:6],
                "width": self.width, "height": self.height}


def utm_crs(lon: float, lat: float) -> CRS:
    """The WGS84 UTM zone CRS containing (lon, lat): EPSG 326NN north, 327NN south."""
    zone = min(max(int(math.floor((lon + 180.0) / 6.0)) + 1, 1), 60)
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def grid_for_bounds_lonlat(west: float, south: float, east: float, north: float,
                           pixel_size_m: float = DEFAULT_PIXEL_SIZE_M) -> Grid:
    """The grid covering a lon/lat box in the UTM zone of its centre, snapped to the pixel size."""
    from pyproj import Transformer

    crs = utm_crs((west + east) / 2.0, (south + north) / 2.0)
    to_utm = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    xs, ys = to_utm.transform([west, east, east, west, (west + east) / 2, (west + east) / 2],
                              [south, south, north, north, south, north])
    left = math.floor(min(xs) / pixel_size_m) * pixel_size_m
    right = math.ceil(max(xs) / pixel_size_m) * pixel_size_m
    bottom = math.floor(min(ys) / pixel_size_m) * pixel_size_m
    top = math.ceil(max(ys) / pixel_size_m) * pixel_size_m
    width = max(int(round((right - left) / pixel_size_m)), 1)
    height = max(int(round((top - bottom) / pixel_size_m)), 1)
    return Grid(crs, from_origin(left, top, pixel_size_m, pixel_size_m), width, height)


def square_aoi_km(side_km: float, lon: float = -75.3, lat: float = -12.1) -> dict:
    """A GeoJSON polygon (lon/lat): a square of ``side_km`` centred on (lon, lat), square in that
    point's UTM zone (benchmarks and tests ask for areas of a given size)."""
    from pyproj import Transformer

    crs = utm_crs(lon, lat)
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    back = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    h = side_km * 500.0
    ring = [list(back.transform(x + dx, y + dy)) for dx, dy in [(-h, -h), (h, -h), (h, h), (-h, h), (-h, -h)]]
    return {"type": "Polygon", "coordinates": [ring]}


def grid_centered(lon: float, lat: float, width_px: int, height_px: int,
                  pixel_size_m: float = DEFAULT_PIXEL_SIZE_M) -> Grid:
    """A grid of the given shape centred on (lon, lat), in that point's UTM zone."""
    from pyproj import Transformer

    crs = utm_crs(lon, lat)
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    left = math.floor((x - width_px * pixel_size_m / 2) / pixel_size_m) * pixel_size_m
    top = math.ceil((y + height_px * pixel_size_m / 2) / pixel_size_m) * pixel_size_m
    return Grid(crs, from_origin(left, top, pixel_size_m, pixel_size_m), width_px, height_px)
