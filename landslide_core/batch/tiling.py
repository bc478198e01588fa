"""Cutting a region into zones and tiles on the analysis grid.

- **Zones.** The region is split along the UTM zone borders (6 degree bands of longitude).
  Each part gets the grid a request for that part alone would get (its bounding box in its
  zone at 10 m, on the zone's 10 m pixel lattice: :func:`landslide_core.grid.grid_for_bounds_lonlat`).
- **Windows.** One predictor run over a whole zone grid would use the windows of
  :meth:`landslide_core.predictor.WindowPlan.spread`; the tiles share out exactly those
  windows, so every pixel is blended from the same windows with the same weights as in one
  run over the zone.
- **Tiles.** Neighbouring windows are grouped into tiles of about ``tile_km``. A tile's
  *core* runs from its first window's start to the next tile's first window's start (the
  cores partition the zone grid); its *extent* is the union of its windows (it overhangs
  the next core by the windows' overlap); its *fetch* window is the extent plus
  :data:`FETCH_MARGIN_PX` (the co-registration shift and the slope's one-pixel halo need
  pixels beyond the windows).
- **Region and context tiles.** Tiles whose core meets the region are *region* tiles (their
  change is mapped); their other neighbours are *context* tiles, fetched and predicted only,
  so that blending and objects at the region's edge see what one run over the zone sees.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Optional

from rasterio.crs import CRS
from rasterio.transform import Affine

from ..coregistration import MAX_SHIFT_PX
from ..errors import InputError
from ..grid import Grid, grid_for_bounds_lonlat, utm_crs
from ..predictor import plan_axis

#: Pixels fetched around a tile's windows: the largest co-registration shift accepted, one
#: pixel for bilinear resampling and one for the slope's halo.
FETCH_MARGIN_PX = int(math.ceil(MAX_SHIFT_PX)) + 2
#: Tile sizes accepted by the batch command (km): a tile with its margins must stay under the
#: sources' area limit of 400 km2.
MIN_TILE_KM, MAX_TILE_KM = 0.5, 15.0
#: The largest region a batch takes (km2): a large country.
MAX_REGION_KM2 = 2_000_000.0
#: How far (pixels) a region tile may look beyond its core for whole objects, at most: the
#: view stays a few tiles wide, so a worker's memory is bounded by the tile size.
MAX_VIEW_MARGIN_PX = 1024


@dataclass(frozen=True)
class PixelWindow:
    """Rows ``row0..row1`` and columns ``col0..col1`` (ends exclusive) of a zone grid."""

    row0: int
    row1: int
    col0: int
    col1: int

    @property
    def height(self) -> int:
        return self.row1 - self.row0

    @property
    def width(self) -> int:
        return self.col1 - self.col0

    @property
    def empty(self) -> bool:
        return self.height <= 0 or self.width <= 0

    def intersection(self, other: "PixelWindow") -> "PixelWindow":
        return PixelWindow(max(self.row0, other.row0), min(self.row1, other.row1),
                           max(self.col0, other.col0), min(self.col1, other.col1))

    def expanded(self, px: int, height: int, width: int) -> "PixelWindow":
        """Grown by ``px`` on every side, clipped to a ``height`` x ``width`` grid."""
        return PixelWindow(max(self.row0 - px, 0), min(self.row1 + px, height),
                           max(self.col0 - px, 0), min(self.col1 + px, width))

    def slices_in(self, outer: "PixelWindow") -> tuple[slice, slice]:
        """Array slices of this window inside an array holding ``outer``."""
        return (slice(self.row0 - outer.row0, self.row1 - outer.row0),
                slice(self.col0 - outer.col0, self.col1 - outer.col0))

    def transform(self, zone_transform: Affine) -> Affine:
        return zone_transform * Affine.translation(self.col0, self.row0)

    def grid(self, zone_grid: Grid) -> Grid:
        return Grid(zone_grid.crs, self.transform(zone_grid.transform), self.width, self.height)

    def to_list(self) -> list[int]:
        return [self.row0, self.row1, self.col0, self.col1]

    @classmethod
    def from_list(cls, values: Iterable[int]) -> "PixelWindow":
        return cls(*[int(v) for v in values])


@dataclass
class Zone:
    """One UTM zone's part of the region: its grid and the windows of one run over it."""

    id: str
    epsg: int
    grid: Grid
    part: dict               # the region's part in this zone (GeoJSON, EPSG:4326)
    rows: list[int]          # window starts (rows) of one predictor run over the grid
    wy: int
    cols: list[int]
    wx: int
    overlap_px: int
    tile_rows: int = 1       # tiles the zone grid is cut into (planned or not)
    tile_cols: int = 1

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["grid"] = self.grid.key()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Zone":
        g = d["grid"]
        grid = Grid(CRS.from_user_input(g["crs"]), Affine(*g["transform"]), int(g["width"]), int(g["height"]))
        return cls(d["id"], int(d["epsg"]), grid, d["part"], list(d["rows"]), int(d["wy"]), list(d["cols"]),
                   int(d["wx"]), int(d["overlap_px"]), int(d.get("tile_rows", 1)), int(d.get("tile_cols", 1)))


@dataclass
class Tile:
    """A block of the zone's windows (see the module doc); windows ``win_rows`` x ``win_cols``
    (index ranges, end exclusive)."""

    id: str
    zone: str
    i: int
    j: int
    win_rows: tuple[int, int]
    win_cols: tuple[int, int]
    core: PixelWindow
    extent: PixelWindow
    fetch: PixelWindow
    role: str = "region"     # "region" (change mapped) or "context" (fetched and predicted only)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "zone": self.zone, "i": self.i, "j": self.j, "win_rows": list(self.win_rows),
                "win_cols": list(self.win_cols), "core": self.core.to_list(), "extent": self.extent.to_list(),
                "fetch": self.fetch.to_list(), "role": self.role}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Tile":
        return cls(d["id"], d["zone"], int(d["i"]), int(d["j"]), tuple(d["win_rows"]), tuple(d["win_cols"]),
                   PixelWindow.from_list(d["core"]), PixelWindow.from_list(d["extent"]),
                   PixelWindow.from_list(d["fetch"]), d.get("role", "region"))


@dataclass
class BatchPlan:
    """The zones and tiles of a region."""

    zones: list[Zone]
    tiles: list[Tile]
    tile_km: float
    area_km2: float
    _by_id: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {t.id: t for t in self.tiles}

    def tile(self, tile_id: str) -> Tile:
        return self._by_id[tile_id]

    def zone(self, zone_id: str) -> Zone:
        return next(z for z in self.zones if z.id == zone_id)

    def tiles_of(self, zone_id: str, role: Optional[str] = None) -> list[Tile]:
        return [t for t in self.tiles if t.zone == zone_id and (role is None or t.role == role)]

    @property
    def region_tiles(self) -> list[Tile]:
        return [t for t in self.tiles if t.role == "region"]

    def neighbours(self, tile: Tile) -> list[Tile]:
        """The planned tiles of the same zone next to ``tile`` (8-neighbourhood)."""
        out = []
        for t in self.tiles_of(tile.zone):
            if t.id != tile.id and abs(t.i - tile.i) <= 1 and abs(t.j - tile.j) <= 1:
                out.append(t)
        return out

    def change_margin_cap_px(self, tile: Tile) -> int:
        """How far a region tile may look beyond its core for whole objects: through the rings
        of planned tiles around it (every ring complete, or cut by the zone's edge), stopping
        short of the last ring's far seam (whose blending needs the unplanned tiles beyond),
        and at most :data:`MAX_VIEW_MARGIN_PX`."""
        zone = self.zone(tile.zone)
        planned = {(t.i, t.j): t for t in self.tiles_of(tile.zone)}
        rings, sizes = 0, []
        while True:
            k = rings + 1
            ring = [(tile.i + di, tile.j + dj) for di in range(-k, k + 1) for dj in range(-k, k + 1)
                    if max(abs(di), abs(dj)) == k]
            inside = [ij for ij in ring if 0 <= ij[0] < zone.tile_rows and 0 <= ij[1] < zone.tile_cols]
            if not inside:  # the whole zone is in view
                return max(zone.grid.height, zone.grid.width)
            if not all(ij in planned for ij in inside):
                break
            sizes += [min(planned[ij].core.height, planned[ij].core.width) for ij in inside]
            rings = k
            if rings * min(sizes) >= MAX_VIEW_MARGIN_PX:
                break
        if rings == 0:
            return 1
        return max(min(rings * min(sizes) - zone.overlap_px - 1, MAX_VIEW_MARGIN_PX), 1)

    def to_dict(self) -> dict[str, Any]:
        return {"tile_km": self.tile_km, "area_km2": self.area_km2, "zones": [z.to_dict() for z in self.zones],
                "tiles": [t.to_dict() for t in self.tiles]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BatchPlan":
        return cls([Zone.from_dict(z) for z in d["zones"]], [Tile.from_dict(t) for t in d["tiles"]],
                   float(d["tile_km"]), float(d["area_km2"]))


# -- zones -------------------------------------------------------------------------------------
def check_region(region: dict) -> float:
    """The region's area in km2, or InputError (empty, invalid, across the antimeridian, too large)."""
    from ..sources.aoi import check_aoi

    try:
        return check_aoi(region, max_area_km2=MAX_REGION_KM2)
    except InputError as exc:
        raise InputError(f"The region is not usable: {exc.what}", exc.fix) from None


def split_by_zone(region: dict) -> list[tuple[int, dict]]:
    """The region's parts per UTM zone: [(EPSG code, part as GeoJSON EPSG:4326)], west to east.

    The hemisphere (EPSG 326NN north, 327NN south) is the one of the part's centre, as for
    any analysis grid. Slivers with no area (a region touching a zone border) are left out.
    """
    from shapely.geometry import box, mapping

    from ..sources.aoi import aoi_bounds, to_shape

    geom = to_shape(region).buffer(0)
    west, south, east, north = aoi_bounds(region)
    first = int(math.floor((west + 180.0) / 6.0))
    last = int(math.floor((min(east, 179.999999) + 180.0) / 6.0))
    if first == last:  # one zone: the region itself (its grid is the one a request for it gets)
        return [(int(utm_crs((west + east) / 2.0, (south + north) / 2.0).to_epsg()), region)]
    parts = []
    for z in range(first, last + 1):
        band = box(-180.0 + 6.0 * z, -90.0, -180.0 + 6.0 * (z + 1), 90.0)
        part = geom.intersection(band)
        if part.is_empty or part.area <= 0:
            continue
        w, s, e, n = part.bounds
        epsg = utm_crs((w + e) / 2.0, (s + n) / 2.0).to_epsg()
        parts.append((int(epsg), _as_polygonal(mapping(part))))
    return parts


def zone_grid(part: dict) -> Grid:
    """The analysis grid of a region's part: what a request for that part alone gets."""
    from ..sources.aoi import aoi_bounds

    return grid_for_bounds_lonlat(*aoi_bounds(_as_polygonal(part)))


def _as_polygonal(geojson: dict) -> dict:
    """A GeoJSON Polygon/MultiPolygon from any intersection result (dropping lines and points)."""
    from shapely.geometry import MultiPolygon, mapping, shape

    geom = shape(geojson)
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return mapping(geom)
    polys = [g for g in getattr(geom, "geoms", []) if g.geom_type == "Polygon"]
    return mapping(MultiPolygon(polys))


# -- tiles -------------------------------------------------------------------------------------
def group_windows(starts: list[int], size: int, tile_px: float) -> list[tuple[int, int]]:
    """Consecutive windows grouped into tiles of about ``tile_px``: [(first, end)] index ranges."""
    n = len(starts)
    step = (starts[-1] - starts[0]) / (n - 1) if n > 1 else float(size)
    per_tile = max(1, int(round(tile_px / max(step, 1.0))))
    groups = int(math.ceil(n / per_tile))
    bounds = [int(round(g * n / groups)) for g in range(groups + 1)]
    return [(bounds[g], bounds[g + 1]) for g in range(groups)]


def plan_zone(zone_id: str, epsg: int, part: dict, grid: Grid, tile_km: float, window_px: int, overlap_px: int,
              multiple: int) -> tuple[Zone, list[Tile]]:
    """The zone's window plan and its tiles (all of them region tiles; see :func:`make_plan`)."""
    rows, wy = plan_axis(grid.height, int(window_px), int(overlap_px), multiple)
    cols, wx = plan_axis(grid.width, int(window_px), int(overlap_px), multiple)
    tile_px = tile_km * 1000.0 / grid.pixel_size_m
    row_groups = group_windows(rows, wy, tile_px)
    col_groups = group_windows(cols, wx, tile_px)
    zone = Zone(zone_id, epsg, grid, part, rows, wy, cols, wx, int(overlap_px), len(row_groups), len(col_groups))
    tiles = []
    for i, (a, b) in enumerate(row_groups):
        for j, (c, d) in enumerate(col_groups):
            core = PixelWindow(rows[a], rows[b] if b < len(rows) else grid.height,
                               cols[c], cols[d] if d < len(cols) else grid.width)
            extent = PixelWindow(rows[a], rows[b - 1] + wy, cols[c], cols[d - 1] + wx)
            fetch = extent.expanded(FETCH_MARGIN_PX, grid.height, grid.width)
            tiles.append(Tile(f"{zone_id}_r{i:03d}_c{j:03d}", zone_id, i, j, (a, b), (c, d), core, extent, fetch))
    return zone, tiles


def make_plan(region: dict, tile_km: float, window_px: int, overlap_px: int, multiple: int = 1) -> BatchPlan:
    """Zones and tiles of a region (see the module doc); InputError for an unusable region."""
    if not (MIN_TILE_KM <= float(tile_km) <= MAX_TILE_KM):
        raise InputError(f"--tile-km {tile_km} is outside {MIN_TILE_KM:g}-{MAX_TILE_KM:g} km.",
                         "Tiles of 5-10 km suit most machines (10 is the default).")
    area = check_region(region)
    parts = split_by_zone(region)
    if not parts:
        raise InputError("The region has no area inside any UTM zone.", "Give a polygon with an area.")
    zones, tiles = [], []
    for epsg, part in parts:
        grid = zone_grid(part)
        zone, zone_tiles = plan_zone(f"epsg{epsg}", epsg, part, grid, float(tile_km), window_px, overlap_px,
                                     multiple)
        zone_tiles = _mark_roles(zone, zone_tiles)
        zones.append(zone)
        tiles.extend(zone_tiles)
    return BatchPlan(zones, tiles, float(tile_km), round(float(area), 4))


def _mark_roles(zone: Zone, tiles: list[Tile]) -> list[Tile]:
    """Keep the tiles whose core meets the zone's part (region tiles) and their neighbours
    (context tiles); drop the rest."""
    from pyproj import Transformer
    from shapely.geometry import box, shape
    from shapely.ops import transform

    to_zone = Transformer.from_crs("EPSG:4326", zone.grid.crs, always_xy=True)
    part = transform(to_zone.transform, shape(zone.part))
    t = zone.grid.transform
    region_ij = set()
    for tile in tiles:
        c = tile.core
        core_box = box(t.c + c.col0 * t.a, t.f + c.row1 * t.e, t.c + c.col1 * t.a, t.f + c.row0 * t.e)
        if core_box.intersection(part).area > 0:
            region_ij.add((tile.i, tile.j))
    kept = []
    for tile in tiles:
        if (tile.i, tile.j) in region_ij:
            kept.append(tile)
        elif any((tile.i + di, tile.j + dj) in region_ij for di in (-1, 0, 1) for dj in (-1, 0, 1)):
            tile.role = "context"
            kept.append(tile)
    return kept


def boundaries_px(plan: BatchPlan, zone_id: str) -> tuple[list[int], list[int]]:
    """Rows and columns (zone pixels) where one tile's core ends and the next begins."""
    tiles = plan.tiles_of(zone_id)
    rows = sorted({t.core.row0 for t in tiles} - {0})
    cols = sorted({t.core.col0 for t in tiles} - {0})
    return rows, cols


__all__ = ["BatchPlan", "FETCH_MARGIN_PX", "MAX_TILE_KM", "MAX_VIEW_MARGIN_PX", "MIN_TILE_KM", "PixelWindow", "Tile", "Zone",
           "boundaries_px", "check_region", "group_windows", "make_plan", "plan_zone", "split_by_zone", "zone_grid"]
