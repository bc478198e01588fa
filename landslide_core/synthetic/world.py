"""The synthetic event: one terrain and land cover, seen on two dates with landslides between.

:func:`generate_event` makes whole pre/post scenes on a grid (never windows, so a scene does
not depend on what is read later). Every random draw comes from a generator seeded by the
seed, the grid and (for what differs per date) the date, so the same inputs give the same
bytes.
"""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from pyproj import Transformer
from scipy import ndimage

from ..errors import InputError
from ..grid import Grid
from ..scene import CONTRACT_WITHOUT_SLOPE, RawScene, check_projected_crs
from .clouds import apply_clouds, make_clouds
from .event import make_landslides
from .land_cover import (BARE_FIELD, CROP, NEW_LANDSLIDE, NO_LANDSLIDE_COVERS, OLD_SCAR,
                         make_land_cover)
from .noise import spectral_noise
from .spectra import PATH_DN, illumination, sensor, sun_at_overpass, surface_reflectance, to_toa, wet_season_index
from .terrain import Terrain, make_terrain

MIN_SIZE_PX = 32
MAX_SIZE_PX = 4096  # about 3 GB of working memory


@dataclass(frozen=True)
class WorldOptions:
    """Ranges the world's parameters are drawn from (per seed and place)."""

    base_elevation_m: tuple[float, float] = (600.0, 2600.0)
    treeline_m: tuple[float, float] = (3300.0, 3800.0)
    hillslope_deg: tuple[float, float] = (26.0, 33.0)
    new_landslides_per_km2: tuple[float, float] = (0.8, 1.6)
    old_scars_per_km2: tuple[float, float] = (0.3, 0.8)
    farm_share: tuple[float, float] = (0.06, 0.22)
    settlement_share: tuple[float, float] = (0.002, 0.012)
    cloud_cover: tuple[float, float] = (0.01, 0.12)


@dataclass
class SyntheticEvent:
    """A generated pre/post pair with its ground truth (see the module doc)."""

    pre: RawScene
    post: RawScene
    new_landslides: np.ndarray   # bool (H, W): scars made by the event
    old_scars: np.ndarray        # bool (H, W): scars present before the event
    land_cover: np.ndarray       # uint8 (H, W): LAND_COVER codes at the post date
    land_cover_pre: np.ndarray = field(default=None)  # uint8 (H, W): codes at the pre date
    terrain: Terrain | None = None


def _parse_date(value: str, what: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"The {what} date '{value}' is not an ISO date.", "Write it as YYYY-MM-DD.") from None


def _stream(seed: int, place: int, *tags: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFFFFFF, place, *tags])


def _place_key(grid: Grid) -> int:
    return zlib.crc32(json.dumps(grid.key(), sort_keys=True).encode())


def _centre_lonlat(grid: Grid) -> tuple[float, float]:
    left, bottom, right, top = grid.bounds
    to_ll = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_ll.transform((left + right) / 2, (bottom + top) / 2)
    return float(lon), float(lat)


def _check(grid: Grid, seed: int, n_new_landslides: int | None) -> None:
    check_projected_crs(grid.crs, "the synthetic grid")
    for name, n in (("width", grid.width), ("height", grid.height)):
        if not MIN_SIZE_PX <= n <= MAX_SIZE_PX:
            raise InputError(f"The grid {name} is {n} px; the generator makes {MIN_SIZE_PX}-{MAX_SIZE_PX} px.",
                             "Choose a size in that range.")
    if abs(grid.transform.a) <= 0 or abs(grid.transform.e) <= 0 or grid.transform.b or grid.transform.d:
        raise InputError("The grid must be north-up with a positive pixel size.")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"The seed must be a non-negative integer, got {seed!r}.")
    if n_new_landslides is not None and n_new_landslides < 0:
        raise InputError(f"n_new_landslides must be >= 0, got {n_new_landslides}.")


def _draw(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    return float(rng.uniform(lo_hi[0], lo_hi[1]))


@dataclass
class World:
    """What stays the same between the dates: terrain, covers, scars (see build_world)."""

    grid: Grid
    seed: int
    place: int
    lon: float
    lat: float
    terrain: Terrain
    code_pre: np.ndarray
    code_post: np.ndarray
    mix_pre: np.ndarray
    mix_post: np.ndarray
    veg_pre: np.ndarray
    veg_post: np.ndarray
    texture: tuple[np.ndarray, np.ndarray]
    tone: np.ndarray
    new_landslides: np.ndarray
    old_scars: np.ndarray
    options: WorldOptions


def build_world(grid: Grid, seed: int = 0, n_new_landslides: int | None = None,
                options: WorldOptions | None = None) -> World:
    """Terrain, land cover, old scars and the event's new landslides on ``grid``."""
    _check(grid, seed, n_new_landslides)
    opt = options or WorldOptions()
    place = _place_key(grid)
    lon, lat = _centre_lonlat(grid)
    px = float(grid.transform.a)
    shape = (grid.height, grid.width)
    rng = _stream(seed, place, 1)
    terrain = make_terrain(rng, grid.height, grid.width, px, base_elevation_m=_draw(rng, opt.base_elevation_m),
                           hillslope_deg=_draw(rng, opt.hillslope_deg))
    cover = make_land_cover(rng, terrain, treeline_m=_draw(rng, opt.treeline_m),
                            farm_share=_draw(rng, opt.farm_share),
                            settlement_share=_draw(rng, opt.settlement_share))
    texture = (spectral_noise(rng, shape, 2.5, 30 / px, 3000 / px), spectral_noise(rng, shape, 2.5, 30 / px, 2000 / px))
    km2 = grid.area_km2
    # old scars, then the event's new landslides on ground that is not already a scar
    below_rock = terrain.elevation_m < cover.treeline_m + 600.0
    ground = ~np.isin(cover.code, NO_LANDSLIDE_COVERS) & below_rock
    rng_old = _stream(seed, place, 2)
    n_old = int(rng_old.poisson(_draw(rng_old, opt.old_scars_per_km2) * km2))
    old = make_landslides(rng_old, terrain, n_old, ground)
    veg_old = rng_old.uniform(0.1, 0.45, old.source_rows.size + 1).astype(np.float32)
    rng_new = _stream(seed, place, 3)
    if n_new_landslides is None:
        n_new_landslides = int(rng_new.poisson(_draw(rng_new, opt.new_landslides_per_km2) * km2))
    free = ground & ~_dilate(old.mask, 2)
    new = make_landslides(rng_new, terrain, int(n_new_landslides), free)
    new_mask = new.mask & ~old.mask
    code_pre = cover.code.copy()
    code_pre[old.mask] = OLD_SCAR
    veg_pre = np.where(old.mask, veg_old[old.label], 0.0).astype(np.float32)
    code_post = code_pre.copy()
    sw = cover.parcel_switch
    code_post[sw & (code_pre == CROP)] = BARE_FIELD
    code_post[sw & (code_pre == BARE_FIELD)] = CROP
    code_post[new_mask] = NEW_LANDSLIDE
    mix_post = np.where(new_mask, 1.0, cover.mix).astype(np.float32)
    # fresh scars keep a little vegetation debris here and there
    debris = 0.25 * np.clip(spectral_noise(rng_new, shape, 2.0, 3.0, 200 / px), 0.0, None) / 2.5
    veg_post = np.where(new_mask, np.clip(debris, 0.0, 0.25), veg_pre).astype(np.float32)
    return World(grid, int(seed), place, lon, lat, terrain, code_pre, code_post, cover.mix, mix_post,
                 veg_pre, veg_post, texture, cover.tone, new_mask, old.mask, opt)


def render_scene(world: World, when: str, day: date, clouds: bool = True) -> RawScene:
    """The scene of ``world`` at ``when`` ("pre" or "post": which covers) seen on ``day``."""
    if when == "pre":
        code, mix, veg, tag = world.code_pre, world.mix_pre, world.veg_pre, 10
    elif when == "post":
        code, mix, veg, tag = world.code_post, world.mix_post, world.veg_post, 11
    else:
        raise ValueError(f"when must be 'pre' or 'post', not {when!r}")
    rng = _stream(world.seed, world.place, tag, int(day.strftime("%Y%m%d")))
    return _render(rng, world.terrain, code, mix, veg, world.texture, world.tone, day, world.lat, clouds,
                   world.options, world.seed, world.grid, world.lon)


def generate_event(grid: Grid, seed: int = 0, pre_date: str = "2020-01-20", post_date: str = "2020-04-18",
                   clouds: bool = True, n_new_landslides: int | None = None,
                   options: WorldOptions | None = None) -> SyntheticEvent:
    """Generate a pre/post scene pair on ``grid`` with new landslides between the dates.

    Scenes hold B1..B12 (L1C DN, 0-10000) and elevation (m); ``valid`` is False under
    clouds and shadows. ``n_new_landslides`` defaults to a density drawn per seed
    (about 1 per km2). Same arguments -> byte-identical arrays.
    """
    d_pre, d_post = _parse_date(pre_date, "pre"), _parse_date(post_date, "post")
    if d_post <= d_pre:
        raise InputError(f"The post date {post_date} is not after the pre date {pre_date}.",
                         "Give a post date later than the pre date.")
    world = build_world(grid, seed, n_new_landslides, options)
    pre = render_scene(world, "pre", d_pre, clouds)
    post = render_scene(world, "post", d_post, clouds)
    return SyntheticEvent(pre, post, world.new_landslides, world.old_scars, world.code_post,
                          world.code_pre, world.terrain)


def _dilate(mask: np.ndarray, iterations: int) -> np.ndarray:
    return ndimage.binary_dilation(mask, iterations=iterations) if mask.any() else mask


def _render(rng, terrain: Terrain, code, mix, veg, texture, tone, day: date, lat: float, clouds: bool,
            opt: WorldOptions, seed: int, grid: Grid, lon: float) -> RawScene:
    sun = sun_at_overpass(day, lat)
    refl = surface_reflectance(rng, code, mix, veg, wet_season_index(day, lat), texture, tone)
    illum = illumination(terrain.dz_dx, terrain.dz_dy, sun)
    haze = float(rng.uniform(0.93, 1.08))
    vapour = float(np.exp(rng.normal(0.0, 0.2)))
    toa = to_toa(refl, illum, haze, terrain.elevation_m, vapour)
    valid = np.ones(code.shape, bool)
    if clouds:
        layer = make_clouds(rng, code.shape, sun, terrain.pixel_size_m, _draw(rng, opt.cloud_cover))
        toa = apply_clouds(toa, layer, PATH_DN * haze)
        valid = ~layer.invalid()
    dn = sensor(rng, toa)
    data = np.concatenate([dn, terrain.elevation_m[None].astype(np.float32)], axis=0)
    provenance = {
        "source": "synthetic", "seed": int(seed), "date": day.isoformat(),
        "scene_ids": [f"synthetic-{seed}-{day.strftime('%Y%m%d')}"],
        "cloud_percent": round(100.0 * float(1.0 - valid.mean()), 2),
        "sun_elevation_deg": round(sun.elevation_deg, 2), "sun_azimuth_deg": round(sun.azimuth_deg, 2),
        "centre_lonlat": [round(lon, 5), round(lat, 5)],
    }
    return RawScene(data, CONTRACT_WITHOUT_SLOPE, valid, grid.transform, grid.crs, provenance)
