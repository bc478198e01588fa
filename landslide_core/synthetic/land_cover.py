"""Land cover of the synthetic world: forest, grass, fields, clear-cuts, rock, rivers, roads, villages.

Codes are in :data:`LAND_COVER`. The cover depends on the terrain (elevation zones with a
tree line, slope, valley floors) and on smooth random fields (farmed districts, logged
districts, villages), so confounders sit where they sit in real mountains: braided gravel
rivers on the valley floors, mosaics of rectangular fields on flat ground (floodplains,
plateaus) and terraces on gentle slopes, clear-cuts as blocky patches in the forest, roads
along the contours, bare rock on cliffs and above the tree line. Fields, clear-cuts and
houses are objects (ids) whose state and material the world draws per date.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..progress import check_cancel
from .noise import draw_noise, field_later, smoothstep, spectral_noise
from .terrain import Terrain

(FOREST, GRASS, CROP, BARE_FIELD, ROCK, WATER, RIVERBED, ROAD, SETTLEMENT, OLD_SCAR, NEW_LANDSLIDE,
 CLEAR_CUT) = range(1, 13)

#: Land cover codes -> names (uint8 rasters).
LAND_COVER: dict[int, str] = {
    FOREST: "dense forest",
    GRASS: "grass and shrub",
    CROP: "crops (green)",
    BARE_FIELD: "bare field (ploughed or harvested)",
    ROCK: "bare rock (cliffs, above the tree line)",
    WATER: "river water",
    RIVERBED: "gravel riverbed",
    ROAD: "road",
    SETTLEMENT: "settlement",
    OLD_SCAR: "old landslide scar (before the event, partly revegetated)",
    NEW_LANDSLIDE: "new landslide scar (the event)",
    CLEAR_CUT: "clear-cut (felled forest: bare soil and slash, or regrowing)",
}

#: Covers on which the event cannot put a landslide (it would not be visible as new).
NO_LANDSLIDE_COVERS = (WATER, RIVERBED, SETTLEMENT, ROCK)


@dataclass
class LandCover:
    """The land cover before the event, with the objects whose state changes between dates."""

    code: np.ndarray        # uint8 (H, W), LAND_COVER codes, pre-event (fields: CROP, cuts: FOREST)
    mix: np.ndarray         # float32 (H, W): share of the pixel that is the cover (rest: vegetation)
    treeline_m: float
    field_id: np.ndarray    # int32 (H, W): 0 none, 1..n_fields field parcels
    n_fields: int
    field_flat: np.ndarray  # bool (n_fields,): parcel of a flat mosaic (else a terrace)
    cut_id: np.ndarray      # int32 (H, W): 0 none, 1..n_cuts clear-cut blocks (may be forest still)
    n_cuts: int
    house_id: np.ndarray    # int32 (H, W): 0 none, 1..n_houses roofs
    n_houses: int
    canopy: np.ndarray      # float32 (H, W): forest canopy density 0.3-1 (the rest shows grass/shrub)


def _hash01(ids: np.ndarray, salt: int) -> np.ndarray:
    """A deterministic pseudo-random number in [0, 1) per integer id."""
    x = np.asarray(ids).astype(np.uint32)  # 32-bit arithmetic wraps around: the hash is mod 2**32
    x *= np.uint32(2654435761)
    x += np.uint32((salt * 97 + 12345) & 0xFFFFFFFF)
    x ^= x >> np.uint32(15)
    x *= np.uint32(2246822519)
    x ^= x >> np.uint32(13)
    return (x >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / 16777216.0)


def _compact(ids: np.ndarray, where: np.ndarray) -> tuple[np.ndarray, int]:
    """Renumber the ids at ``where`` as 1..n (int32), 0 elsewhere."""
    out = np.zeros(ids.shape, np.int32)
    if not where.any():
        return out, 0
    uniq, inv = np.unique(ids[where], return_inverse=True)
    out[where] = inv.astype(np.int32) + 1
    return out, int(uniq.size)


def _compact_at(ids: np.ndarray, where: np.ndarray) -> tuple[np.ndarray, int]:
    """As _compact, with ``ids`` given only at the ``where`` pixels (in their order)."""
    out = np.zeros(where.shape, np.int32)
    if ids.size == 0:
        return out, 0
    uniq, inv = np.unique(ids, return_inverse=True)
    out[where] = inv.astype(np.int32) + 1
    return out, int(uniq.size)


def _rotated(h: int, w: int, px: float, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates (metres) along and across a direction ``angle`` (radians)."""
    yy = np.arange(h, dtype=np.float32)[:, None] * np.float32(px)
    xx = np.arange(w, dtype=np.float32)[None, :] * np.float32(px)
    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    return xx * c + yy * s, yy * c - xx * s


def _grid_cells(rng: np.random.Generator, h: int, w: int, px: float, size_m: tuple[float, float],
                jitter: np.ndarray | None = None, where: np.ndarray | None = None) -> np.ndarray:
    """Ids of a rotated grid of rectangles (rows staggered): int64 (H, W), or (n,) at ``where``."""
    angle = float(rng.uniform(0, np.pi))
    width_m = float(rng.uniform(*size_m))
    length_m = width_m * float(rng.uniform(1.0, 2.5))
    if where is None:
        u, v = _rotated(h, w, px, angle)
    else:  # only the pixels asked for
        r, c = np.nonzero(where)
        ca, sa = np.float32(np.cos(angle)), np.float32(np.sin(angle))
        x, y = c.astype(np.float32) * np.float32(px), r.astype(np.float32) * np.float32(px)
        u, v = x * ca + y * sa, y * ca - x * sa
        jitter = None if jitter is None else jitter[where]
    if jitter is not None:
        u = u + jitter
    u /= np.float32(width_m)
    col = np.floor(u).astype(np.int32)
    if col.size == 0:
        return col.astype(np.int64)
    c0 = int(col.min())
    stagger = (_hash01(np.arange(c0, int(col.max()) + 1), 11) * np.float32(length_m))[col - c0]
    v += stagger
    v /= np.float32(length_m)
    row = np.floor(v).astype(np.int64)
    return col.astype(np.int64) * 1_000_003 + row


def make_land_cover(rng: np.random.Generator, terrain: Terrain, treeline_m: float = 3500.0,
                    farm_share: float = 0.18, settlement_share: float = 0.01, clearcut_share: float = 0.03,
                    river_width_factor: float = 3.0, braiding: float = 0.5, cancel=None, pool=None) -> LandCover:
    """Assign a land cover to every pixel of ``terrain`` (deterministic for ``rng``).

    ``farm_share``: about the share of the land in farmed districts; ``clearcut_share``: the
    share of the forest in clear-cut blocks; ``river_width_factor``: half-width of the gravel
    bed per square root of upstream area (m / sqrt(km2)); ``braiding``: 0 a single thread,
    1 many threads and bars. ``cancel``: a CancelToken checked between the parts. ``pool``: an
    executor that makes some noise fields beside the rest (the same land cover, sooner).
    """
    z, slope, dist, area = terrain.elevation_m, terrain.slope_deg, terrain.channel_dist_px, terrain.channel_area_km2
    h, w = z.shape
    px = terrain.pixel_size_m
    floor = terrain.valley_floor if terrain.valley_floor is not None else np.zeros((h, w), bool)
    code = np.full((h, w), FOREST, np.uint8)
    mix = np.ones((h, w), np.float32)
    slope_zone = ndimage.uniform_filter(slope, max(3, int(60 / px)))  # slope of the neighbourhood
    d_m = dist * px
    # the generator's first draws, in their order, taken now; the fields of all but the first are
    # made beside the work below (by ``pool``) until each is needed
    veg_draw = draw_noise(rng, (h, w), 2.8, 40 / px, 2000 / px)
    tl_later = field_later(draw_noise(rng, (h, w), 3.0, 300 / px, 5000 / px), pool)
    grass_thr = float(rng.uniform(1.3, 2.2))
    bars_later = field_later(draw_noise(rng, (h, w), 2.5, 80 / px, 1500 / px), pool)
    braids_later = field_later(draw_noise(rng, (h, w), 2.2, 30 / px, 400 / px), pool)
    district_later = field_later(draw_noise(rng, (h, w), 3.5, 500 / px, 6000 / px), pool)
    jitter_later = field_later(draw_noise(rng, (h, w), 2.5, 200 / px, 3000 / px), pool)
    # natural vegetation: grass/shrub patches, more on ridges and high up; canopy density
    veg = veg_draw.field()
    ridge = smoothstep(d_m, 60.0, 250.0)
    tl = treeline_m + 120.0 * tl_later() + 60.0 * veg
    grass_score = veg + 0.6 * ridge + 2.5 * smoothstep(z - tl, -300.0, 0.0)
    code[grass_score > grass_thr] = GRASS
    # forest canopy: a few gaps everywhere, thinning toward the grass patches (no hard edges)
    fringe = smoothstep(grass_score, grass_thr - 0.6, grass_thr)
    canopy = np.clip(0.92 + 0.04 * veg - 0.6 * fringe, 0.3, 1.0).astype(np.float32)
    check_cancel(cancel)
    # rivers: gravel beds along the bigger channels, braided water threads and vegetated bars
    a = np.clip(area, 0.0, None)
    river = a > 4.0
    bars = 0.6 + 0.6 * smoothstep(bars_later(), -1.0, 1.5)
    size = a ** 0.4  # channel width grows with discharge, about A ** 0.4
    bed_half_m = np.where(river, river_width_factor * size * bars + 4.0, 0.0)
    bed_half_m = np.minimum(bed_half_m, np.where(floor, np.inf, 6.0 + 0.1 * bed_half_m))  # beds fill the floor
    water_half_m = np.where(river, (0.12 + 0.15 * (1 - braiding)) * size + 3.0, 0.0)
    bed = river & (d_m <= bed_half_m)
    braids = braids_later()  # threads where near 0, bars where high
    water = river & ((d_m <= water_half_m) | ((np.abs(braids) < 0.08 * braiding) & (d_m <= 0.85 * bed_half_m)))
    islands = bed & ~water & (braids > 1.3 - 0.8 * braiding)
    code[bed] = RIVERBED
    code[water] = WATER
    code[islands] = GRASS
    mix[islands] = 0.5
    wet_ground = bed | water
    check_cancel(cancel)
    # farmland: flat mosaics of rectangular fields, terraces on gentle slopes, in farmed districts
    district = district_later()
    flat = (slope_zone < 7.0) | floor
    land = ~wet_ground & (z < tl + 150) & (d_m > 15)
    farm_thr = np.quantile(district[::3, ::3], 1.0 - min(max(farm_share * 1.6, 0.0), 0.97))
    # flat ground is farmed more readily than slopes (valley floors and plateaus are the fields)
    farm_zone = land & (slope_zone < 24.0) & (district + np.where(flat, 0.8, 0.0) > farm_thr)
    mosaic_ids = _grid_cells(rng, h, w, px, (35.0, 140.0),
                             jitter=4.0 * jitter_later())
    step_m = rng.uniform(10.0, 30.0)  # terrace height
    band = np.floor(z / step_m + 0.3 * veg).astype(np.int64)  # terraces follow the contours
    u_t, _ = _rotated(h, w, px, float(rng.uniform(0, np.pi)))
    col = np.floor(u_t / rng.uniform(50.0, 160.0) + 0.5 * veg).astype(np.int64)
    terrace_ids = (band * 100003 + col) * 2 + 1
    on_flat = flat & (slope < 12.0)
    parcel = np.where(on_flat, mosaic_ids * 2, terrace_ids)
    fields = farm_zone.copy()
    fields[farm_zone] = _hash01(parcel[farm_zone], 3) < 0.92
    check_cancel(cancel)
    # field boundaries (paths, hedges): a thin line of grass or trees on some parcel edges
    edges = (np.diff(parcel, axis=0, prepend=parcel[:1]) != 0) | (np.diff(parcel, axis=1, prepend=parcel[:, :1]) != 0)
    hedge = fields & edges
    hedge[hedge] = _hash01(parcel[hedge], 4) < 0.3
    code[hedge] = np.where(_hash01(parcel[hedge], 5) < 0.5, GRASS, FOREST)
    fields &= ~hedge
    field_id, n_fields = _compact(parcel, fields)
    field_flat = np.zeros(n_fields, bool)
    if n_fields:
        field_flat[field_id[fields] - 1] = on_flat[fields]
    code[fields] = CROP
    check_cancel(cancel)
    # above the tree line: puna grass, then rock; cliffs are rock everywhere
    rockline = tl + 800.0
    high = (z > tl) & ~wet_ground
    code[high] = GRASS
    cliff = (ndimage.uniform_filter(slope, 3) > 54.0 + 5.0 * veg) & (z <= tl) & ~wet_ground
    rocky = ((z > rockline) | ((z > tl) & (slope > 38.0))) & ~wet_ground
    code[rocky | cliff] = ROCK
    mix[cliff & ~rocky] = 0.45  # cliffs below the tree line keep some vegetation
    field_id[rocky | cliff | high] = 0
    check_cancel(cancel)
    # clear-cuts: blocks of a rotated grid in logged districts of the forest, on slopes
    cut_id = np.zeros((h, w), np.int32)
    n_cuts = 0
    if clearcut_share > 0:
        logged = spectral_noise(rng, (h, w), 3.0, 400 / px, 5000 / px) > 0.0
        cut = logged & (code == FOREST) & (slope_zone > 6.0) & (field_id == 0) & (d_m > 20)
        blocks = _grid_cells(rng, h, w, px, (60.0, 220.0), where=cut)
        chosen = _hash01(blocks, 21) < min(clearcut_share * 2.0, 0.9)
        cut[cut] = chosen
        cut_id, n_cuts = _compact_at(blocks[chosen], cut)
    check_cancel(cancel)
    # roads: along contours near farms and villages, and along the main valley floors
    road = np.zeros((h, w), bool)
    grad = np.hypot(terrain.dz_dx, terrain.dz_dy) * px + 1e-3
    contour_step = rng.uniform(80.0, 200.0)
    zc = np.abs(((z - rng.uniform(0, contour_step)) % contour_step) - contour_step / 2)
    near_farms = ndimage.maximum_filter(fields, size=max(3, int(300 / px))) if fields.any() else fields
    road |= (zc > contour_step / 2 - 0.5 * grad) & near_farms & (slope < 32) & (veg > -0.3)
    big = a > 10.0
    if big.any():
        rd = np.abs(d_m - (np.maximum(bed_half_m, water_half_m) + rng.uniform(20.0, 80.0)))
        road |= (rd < 0.5 * px) & big & (slope < 30)
    road &= ~np.isin(code, (WATER, RIVERBED, ROCK))
    code[road] = ROAD
    mix[road] = rng.uniform(0.4, 0.75)  # a 3-8 m road in a 10 m pixel
    field_id[road] = 0
    cut_id[road] = 0
    check_cancel(cancel)
    # settlements: compact villages on gentle ground near roads and rivers, roofs as objects
    house_id = np.zeros((h, w), np.int32)
    n_houses = 0
    if settlement_share > 0:
        vill = spectral_noise(rng, (h, w), 3.0, 150 / px, 3000 / px)
        ok = (slope_zone < 18.0) & (z < tl) & ~wet_ground
        check_cancel(cancel)
        near = ndimage.maximum_filter(road, size=max(3, int(200 / px))) | (d_m < bed_half_m + 150)
        score = np.where(ok & near, vill, -np.inf)
        fin = np.isfinite(score)
        if fin.mean() > settlement_share > 0:
            thr_v = np.quantile(score[fin][::7], 1.0 - settlement_share / fin.mean())
            town = score >= thr_v
            town = ndimage.binary_closing(town, iterations=2) & ok
            check_cancel(cancel)
            lots = _grid_cells(rng, h, w, px, (15.0, 30.0), where=town)
            roof = _hash01(lots, 7) < rng.uniform(0.45, 0.8)
            roofed = town.copy()
            roofed[town] = roof
            code[town] = SETTLEMENT
            mix[town] = 0.35  # gardens, yards and trees between the houses
            mix[roofed] = 0.95
            house_id, n_houses = _compact_at(lots[roof], roofed)
            field_id[town] = 0
            cut_id[town] = 0
    field_id[code != CROP] = 0
    return LandCover(code, mix, float(treeline_m), field_id, n_fields, field_flat, cut_id, n_cuts,
                     house_id, n_houses, canopy)
