"""Land cover of the synthetic world: forest, grass, fields, rock, rivers, roads, villages.

Codes are in :data:`LAND_COVER`. The cover depends on the terrain (elevation zones with a
tree line, slope, valley floors) and on smooth random fields (patches of grass, farmed
areas, villages), so confounders sit where they sit in the Andes: gravel bars along the
rivers, terraced fields on gentle valley sides, roads along contours, bare rock on cliffs
and above the tree line.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .noise import smoothstep, spectral_noise
from .terrain import Terrain

FOREST, GRASS, CROP, BARE_FIELD, ROCK, WATER, RIVERBED, ROAD, SETTLEMENT, OLD_SCAR, NEW_LANDSLIDE = range(1, 12)

#: Land cover codes -> names (uint8 rasters).
LAND_COVER: dict[int, str] = {
    FOREST: "dense forest",
    GRASS: "grass and shrub",
    CROP: "crops (green)",
    BARE_FIELD: "bare field (ploughed or harvested)",
    ROCK: "bare rock (cliffs, above the tree line)",
    WATER: "river water",
    RIVERBED: "gravel riverbed",
    ROAD: "road (unpaved)",
    SETTLEMENT: "settlement",
    OLD_SCAR: "old landslide scar (before the event, partly revegetated)",
    NEW_LANDSLIDE: "new landslide scar (the event)",
}

#: Covers on which the event cannot put a landslide (it would not be visible as new).
NO_LANDSLIDE_COVERS = (WATER, RIVERBED, SETTLEMENT, ROCK)


@dataclass
class LandCover:
    """The land cover before the event, with what changes between the dates."""

    code: np.ndarray              # uint8 (H, W), LAND_COVER codes, pre-event
    parcel_switch: np.ndarray     # bool (H, W): field parcels that change (green <-> bare) by post
    mix: np.ndarray               # float32 (H, W): share of the pixel that is the cover (rest: vegetation)
    treeline_m: float
    tone: np.ndarray              # float32 (H, W): brightness factor (each field parcel its own)


def _hash01(ids: np.ndarray, salt: int) -> np.ndarray:
    """A deterministic pseudo-random number in [0, 1) per integer id."""
    x = (ids.astype(np.uint64) * np.uint64(2654435761) + np.uint64(salt * 97 + 12345)) & np.uint64(0xFFFFFFFF)
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(2246822519)) & np.uint64(0xFFFFFFFF)
    x ^= x >> np.uint64(13)
    return (x.astype(np.float64) / 4294967296.0).astype(np.float32)


def make_land_cover(rng: np.random.Generator, terrain: Terrain, treeline_m: float = 3500.0,
                    farm_share: float = 0.18, settlement_share: float = 0.01) -> LandCover:
    """Assign a land cover to every pixel of ``terrain`` (deterministic for ``rng``)."""
    z, slope, dist, area = terrain.elevation_m, terrain.slope_deg, terrain.channel_dist_px, terrain.channel_area_km2
    h, w = z.shape
    px = terrain.pixel_size_m
    code = np.full((h, w), FOREST, np.uint8)
    mix = np.ones((h, w), np.float32)
    # natural vegetation: grass/shrub patches, more on ridges and high up
    veg = spectral_noise(rng, (h, w), 2.8, 40 / px, 2000 / px)
    ridge = smoothstep(dist * px, 60.0, 250.0)
    tl = treeline_m + 120.0 * spectral_noise(rng, (h, w), 3.0, 300 / px, 5000 / px) + 60.0 * veg
    grass_score = veg + 0.6 * ridge + 2.5 * smoothstep(z - tl, -300.0, 0.0)
    code[grass_score > 1.6] = GRASS
    # farmland: gentle slopes in farmed districts, cut into parcels along the contours
    district = spectral_noise(rng, (h, w), 3.5, 500 / px, 6000 / px)
    thr = np.quantile(district[::3, ::3], 1.0 - min(max(farm_share * 2.2, 0.0), 0.95))
    farmable = (district > thr) & (slope < 26.0) & (z < tl + 150) & (dist * px > 15)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(0, np.pi)
    u = (xx * np.cos(ang) + yy * np.sin(ang)) * px
    step_m = rng.uniform(10.0, 25.0)  # terrace height
    band = np.floor(z / step_m + 0.3 * veg).astype(np.int64)  # terraces follow the contours
    col = np.floor(u / rng.uniform(60.0, 140.0) + 0.5 * veg).astype(np.int64)
    parcel = band * 100003 + col
    r1, r2, r3 = _hash01(parcel, 1), _hash01(parcel, 2), _hash01(parcel, 3)
    farmed = farmable & (r3 < 0.85)
    code[farmed & (r1 < 0.45)] = CROP
    code[farmed & (r1 >= 0.45) & (r1 < 0.8)] = BARE_FIELD
    code[farmed & (r1 >= 0.8)] = GRASS
    parcel_switch = farmed & (r2 < 0.35) & (r1 < 0.8)
    tone = np.where(farmed, 0.85 + 0.3 * _hash01(parcel, 6), 1.0).astype(np.float32)
    # field boundaries (hedges, paths) stay grass
    edges = (np.diff(parcel, axis=0, prepend=parcel[:1]) != 0) | (np.diff(parcel, axis=1, prepend=parcel[:, :1]) != 0)
    code[farmed & edges & (_hash01(parcel, 4) < 0.5)] = GRASS
    # above the tree line: puna grass, then rock; cliffs are rock everywhere
    rockline = tl + 800.0
    code[z > tl] = GRASS
    cliff = (slope > 52.0 + 5.0 * veg) & (z <= tl)
    rocky = (z > rockline) | ((z > tl) & (slope > 38.0))
    code[rocky | cliff] = ROCK
    mix[cliff & ~rocky] = 0.6  # cliffs below the tree line keep some vegetation
    # rivers: gravel beds along the bigger channels, water threads inside
    a = np.clip(area, 0.0, None)
    bars = 0.6 + 0.5 * smoothstep(spectral_noise(rng, (h, w), 2.5, 80 / px, 1500 / px), -1.0, 1.5)
    bed_half_m = np.where(a > 4.0, 3.0 * np.sqrt(a) * bars + 4.0, 0.0)
    water_half_m = np.where(a > 4.0, 0.6 * np.sqrt(a) + 2.0, 0.0)
    d_m = dist * px
    river = a > 4.0
    code[river & (d_m <= bed_half_m)] = RIVERBED
    code[river & (d_m <= water_half_m)] = WATER
    # roads: along the main valley and along contours in farmed districts
    road = np.zeros((h, w), bool)
    grad = np.hypot(terrain.dz_dx, terrain.dz_dy) * px + 1e-3
    contour_step = rng.uniform(80.0, 160.0)
    zc = np.abs(((z - rng.uniform(0, contour_step)) % contour_step) - contour_step / 2)
    near_farms = ndimage.maximum_filter(farmed, size=max(3, int(300 / px))) if farmed.any() else farmed
    road |= (zc > contour_step / 2 - 0.5 * grad) & near_farms & (slope < 32) & (veg > -0.3)
    big = a > 10.0
    if big.any():
        rd = np.abs(d_m - (bed_half_m + 40.0))
        road |= (rd < 0.5 * px) & big & (slope < 30)
    road &= ~np.isin(code, (WATER, RIVERBED, ROCK))
    code[road] = ROAD
    mix[road] = rng.uniform(0.55, 0.8)
    # settlements: compact villages on gentle ground near roads and rivers
    if settlement_share > 0:
        vill = spectral_noise(rng, (h, w), 3.0, 150 / px, 3000 / px)
        ok = (slope < 18.0) & (z < tl) & ~np.isin(code, (WATER, RIVERBED))
        near = ndimage.maximum_filter(road, size=max(3, int(200 / px))) | (d_m < bed_half_m + 150)
        score = np.where(ok & near, vill, -np.inf)
        fin = np.isfinite(score)
        if fin.mean() > settlement_share > 0:
            thr_v = np.quantile(score[fin][::7], 1.0 - settlement_share / fin.mean())
            town = score >= thr_v
            town = ndimage.binary_closing(town, iterations=2) & ok
            houses = _hash01((yy // 2).astype(np.int64) * 7919 + (xx // 2).astype(np.int64), 5)
            code[town] = SETTLEMENT
            mix[town] = np.where(houses < 0.6, 0.9, 0.45)[town]
    return LandCover(code, parcel_switch, mix, float(treeline_m), tone)
