"""Surface reflectance of a scene: cover classes, objects, vegetation, season and texture.

Each pixel takes the spectrum of its object (a field, a clear-cut, a roof, a scar: see
surfaces.py) or, outside objects, of its cover class from the world's palette (forest,
grass, rock, water, gravel, road, street), drawn per world around typical values so that
worlds differ. Pixels only partly covered (roads, villages, cliffs, gravel bars, revegetated
scars, forest gaps) are blended with grass. Vegetation follows the season of the date, and a
smooth tone field and a fine texture (tree crowns, furrows, roofs) vary it within a class.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
from scipy import ndimage

from .illumination import Sun, hillshade, sun_at_overpass  # noqa: F401 - re-exported
from .land_cover import (BARE_FIELD, CLEAR_CUT, CROP, FOREST, GRASS, NEW_LANDSLIDE, OLD_SCAR, RIVERBED, ROAD,
                         ROCK, SETTLEMENT, WATER)
from .materials import (ASPHALT_SR, FOREST_SR, GRASS_SR, GREY_BROWN, GREY_ROCK, SOIL_ENDMEMBERS, WATER_CLEAR_SR,
                        WATER_TURBID_SR, WHITE, as_array)

N_BANDS = 12
N_CODES = 13
_RED, _NIR = [3], [5, 6, 7, 8]  # B4; B6, B7, B8, B9
_SWIR = [10, 11]
#: Relative amplitude of the fine texture per cover code.
TEXTURE_AMPLITUDE = np.full(N_CODES, 0.05, np.float32)
for _code, _amp in {FOREST: 0.11, GRASS: 0.06, CROP: 0.03, BARE_FIELD: 0.05, ROCK: 0.12, WATER: 0.03,
                    RIVERBED: 0.12, ROAD: 0.05, SETTLEMENT: 0.3, OLD_SCAR: 0.12, NEW_LANDSLIDE: 0.14,
                    CLEAR_CUT: 0.1}.items():
    TEXTURE_AMPLITUDE[_code] = _amp


@dataclass
class Palette:
    """Spectra of the cover classes of one world (surface reflectance x 10000, (13, 12))."""

    table: np.ndarray


def draw_palette(rng: np.random.Generator) -> Palette:
    """Class spectra drawn around typical values (domain randomisation per world)."""
    t = np.zeros((N_CODES, N_BANDS), np.float32)
    forest = as_array(FOREST_SR).copy()
    forest[_NIR] *= rng.uniform(0.85, 1.15)
    forest[:5] *= rng.uniform(0.85, 1.2)
    forest[_SWIR] *= rng.uniform(0.85, 1.15)
    grass = as_array(GRASS_SR).copy() * np.float32(rng.uniform(0.88, 1.12))
    grass[_NIR] *= rng.uniform(0.9, 1.1)
    t[0] = t[FOREST] = forest
    t[GRASS] = grass
    t[CROP] = grass
    turbid = rng.uniform(0.0, 1.0)
    t[WATER] = (turbid * as_array(WATER_TURBID_SR) + (1 - turbid) * as_array(WATER_CLEAR_SR)) * rng.uniform(0.8, 1.3)
    gravel = (rng.uniform(0.0, 0.3) * SOIL_ENDMEMBERS[WHITE] + SOIL_ENDMEMBERS[GREY_ROCK]) / 1.15
    t[RIVERBED] = gravel * rng.uniform(0.5, 1.05)
    t[ROCK] = (rng.uniform(0.0, 0.4) * SOIL_ENDMEMBERS[WHITE] + SOIL_ENDMEMBERS[GREY_ROCK]) * rng.uniform(0.75, 1.1)
    paved = rng.uniform() < 0.4
    t[ROAD] = as_array(ASPHALT_SR) if paved else SOIL_ENDMEMBERS[GREY_BROWN] * rng.uniform(0.9, 1.3)
    t[SETTLEMENT] = 0.5 * (as_array(ASPHALT_SR) + SOIL_ENDMEMBERS[GREY_ROCK]) * rng.uniform(0.9, 1.3)
    # classes drawn from objects keep a bare fallback (never used where the objects are)
    t[OLD_SCAR] = t[NEW_LANDSLIDE] = t[CLEAR_CUT] = t[BARE_FIELD] = SOIL_ENDMEMBERS[GREY_BROWN]
    return Palette(t)


def wet_season_index(day: date, lat: float) -> float:
    """0 (dry season) .. 1 (peak of the wet, green season), by day of year and hemisphere."""
    doy = day.timetuple().tm_yday
    peak = 45 if lat < 0 else 228
    return 0.5 + 0.5 * math.cos(2 * math.pi * (doy - peak) / 365.0)


def seasonal_table(palette: Palette, wet: float) -> np.ndarray:
    """The class table on a date: vegetation greener in the wet season (more NIR, less red, SWIR)."""
    table = palette.table.copy()
    g = (wet - 0.5) * 2.0
    for row in (0, FOREST):
        table[row, _NIR] *= 1.0 + 0.04 * g
    for row in (GRASS, CROP):
        table[row, _NIR] *= 1.0 + 0.10 * g
        table[row, _RED] *= 1.0 - 0.18 * g
        table[row, _SWIR] *= 1.0 - 0.10 * g
    return table


def surface_reflectance(rng: np.random.Generator, code: np.ndarray, obj: np.ndarray, obj_spectra: np.ndarray,
                        blend: np.ndarray, table: np.ndarray, texture_seed_fields: tuple[np.ndarray, np.ndarray],
                        texture_amp: float = 1.0, out: np.ndarray | None = None) -> np.ndarray:
    """Surface reflectance (12, H, W) float32 (into ``out`` when given).

    ``obj``/``obj_spectra``: object index (0 none) and the object spectra of the date;
    ``blend``: share of the pixel that is grass instead of its class or object (0-1);
    ``table``: class spectra of the date (13, 12); ``texture_seed_fields``: smooth (tone,
    greenness) fields shared by both dates; ``texture_amp`` scales the fine texture.
    """
    h, w = code.shape
    n_codes = table.shape[0]
    full = np.concatenate([table, obj_spectra[1:]], axis=0)
    idx = np.where(obj > 0, obj + (n_codes - 1), code).astype(np.int32)
    grass = table[GRASS]
    refl = np.empty((N_BANDS, h, w), np.float32) if out is None else out
    f = blend.astype(np.float32)
    keep = 1.0 - f
    for b in range(N_BANDS):
        band = full[:, b].take(idx)
        band *= keep
        band += f * grass[b]
        refl[b] = band
    tone, green = texture_seed_fields
    factor = 1.0 + 0.03 * tone
    veg = (code == FOREST) | (code == GRASS) | (code == CROP)
    gshift = np.where(veg, 0.06 * green, 0.0).astype(np.float32)
    # fine texture: tree crowns, field furrows, roofs, rock
    tex = ndimage.gaussian_filter(rng.standard_normal((h, w), dtype=np.float32), 0.5)
    tex *= np.float32(1.0 / max(float(tex.std()), 1e-6))
    tex *= TEXTURE_AMPLITUDE[code] * np.float32(texture_amp)
    tex += 1.0
    tex *= factor
    for b in range(N_BANDS):
        band = refl[b]
        band *= tex
        if b in _NIR:
            band *= 1.0 + gshift
        elif b in _RED:
            band *= 1.0 - 1.5 * gshift
    np.clip(refl, 0.0, 10000.0, out=refl)
    return refl
