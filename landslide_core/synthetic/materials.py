"""Surface materials: reflectance spectra of vegetation, soils, rock, water and roofs.

Spectra are surface reflectance x 10000 for B1..B12 (B10, the cirrus band, sees no surface:
0). Bare materials are drawn per object (a scar, a field, a roof) as a random mixture of
endmembers scaled in brightness, so scars range from white fresh rock (visible reflectance
3000-4000) through pink-brown soil to dark wet soil, and fields from straw to ploughed soil.
"""
from __future__ import annotations

import numpy as np

#                  B1    B2    B3    B4    B5    B6    B7    B8    B9  B10   B11   B12
FOREST_SR = (225, 285, 335, 215, 700, 2150, 2750, 2850, 2850, 0, 1550, 640)
GRASS_SR = (330, 400, 580, 540, 1100, 1950, 2250, 2350, 2350, 0, 2250, 1250)
CROP_SR = (300, 360, 600, 380, 1050, 2600, 3150, 3300, 3250, 0, 2100, 1000)
STRAW_SR = (700, 800, 1000, 1250, 1450, 1650, 1800, 1900, 1950, 0, 2800, 2200)
WATER_TURBID_SR = (520, 600, 820, 760, 620, 380, 320, 300, 260, 0, 110, 70)
WATER_CLEAR_SR = (260, 310, 360, 220, 170, 110, 100, 90, 70, 0, 30, 20)
ASPHALT_SR = (650, 700, 760, 820, 860, 900, 930, 950, 960, 0, 1100, 1000)

#: Bare endmembers: white fresh rock, pink-brown (lateritic) soil, grey-brown soil,
#: dark wet soil, grey rock.
SOIL_ENDMEMBERS = np.array([
    (3000, 3200, 3450, 3600, 3700, 3800, 3850, 3900, 3900, 0, 4000, 3500),
    (550, 620, 850, 1300, 1550, 1750, 1900, 2000, 2100, 0, 2800, 2300),
    (750, 850, 1050, 1300, 1450, 1600, 1700, 1800, 1850, 0, 2500, 2150),
    (450, 520, 650, 800, 900, 1000, 1100, 1150, 1200, 0, 1300, 950),
    (1100, 1250, 1400, 1500, 1600, 1700, 1750, 1800, 1850, 0, 2200, 1900),
], np.float32)
WHITE, PINK, GREY_BROWN, WET, GREY_ROCK = range(5)

#: Roof endmembers: bright metal, red tile, concrete, dark.
ROOF_ENDMEMBERS = np.array([
    (2800, 3000, 3150, 3250, 3300, 3350, 3400, 3400, 3400, 0, 3300, 3000),
    (600, 700, 900, 1600, 1900, 2050, 2150, 2250, 2250, 0, 2900, 2400),
    (1500, 1700, 1900, 2000, 2100, 2200, 2250, 2300, 2300, 0, 2600, 2300),
    (450, 500, 560, 620, 680, 750, 800, 850, 850, 0, 1000, 900),
], np.float32)


def as_array(spectrum) -> np.ndarray:
    return np.asarray(spectrum, np.float32)


def draw_bare(rng: np.random.Generator, n: int, weights, brightness_sigma: float = 0.2) -> np.ndarray:
    """``n`` bare spectra (n, 12): Dirichlet mixtures of the soil endmembers, scaled in brightness.

    ``weights``: Dirichlet concentration per endmember (larger: that endmember dominates more often).
    """
    if n == 0:
        return np.zeros((0, 12), np.float32)
    conc = np.asarray(weights, np.float64)
    # a mixture dominated by one endmember most of the time, drawn by its weight
    main = rng.choice(len(conc), size=n, p=conc / conc.sum())
    dominance = rng.uniform(0.55, 0.95, n)
    mix = rng.dirichlet(np.full(len(conc), 0.35), size=n) * (1.0 - dominance)[:, None]
    mix[np.arange(n), main] += dominance
    spectra = mix.astype(np.float32) @ SOIL_ENDMEMBERS
    spectra *= rng.lognormal(0.0, brightness_sigma, n).astype(np.float32)[:, None]
    return np.clip(spectra, 0.0, 4500.0).astype(np.float32)


def draw_roofs(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` roof spectra (n, 12)."""
    kind = rng.choice(len(ROOF_ENDMEMBERS), size=n, p=[0.3, 0.3, 0.25, 0.15])
    out = ROOF_ENDMEMBERS[kind] * rng.lognormal(0.0, 0.15, n).astype(np.float32)[:, None]
    return out.astype(np.float32)
