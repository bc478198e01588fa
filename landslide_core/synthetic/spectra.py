"""Spectra of the synthetic world: surface reflectance per cover, sun, atmosphere, sensor.

Top-of-atmosphere L1C digital numbers (0-10000) are made as
``path radiance + transmittance * surface reflectance * illumination``, band by band, where
the illumination is the hillshade of the terrain under the sun of the date (direct light on
the slope plus diffuse sky light). Surface reflectances vary inside each class (smooth
fields for tone and greenness, fine texture for canopies and roofs), vegetation follows the
season, and the sensor adds noise, the coarser bands (60 m: B1, B9, B10; 20 m: B5-B7, B11,
B12) are smooth, and values are integers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
from scipy import ndimage

from .land_cover import (BARE_FIELD, CROP, FOREST, GRASS, NEW_LANDSLIDE, OLD_SCAR, RIVERBED, ROAD, ROCK,
                         SETTLEMENT, WATER)

N_BANDS = 12
#               B1    B2    B3    B4    B5    B6    B7    B8    B9  B10   B11   B12
_SURFACE = {
    FOREST:     (230,  270,  420,  250,  720, 2050, 2550, 2650, 2650, 0, 1500,  650),
    GRASS:      (330,  400,  640,  560, 1100, 1950, 2250, 2350, 2350, 0, 2250, 1250),
    CROP:       (300,  360,  660,  380, 1050, 2600, 3150, 3300, 3250, 0, 2100, 1000),
    BARE_FIELD: (620,  700,  900, 1100, 1300, 1550, 1700, 1800, 1850, 0, 2400, 1850),
    ROCK:       (750,  850, 1000, 1150, 1300, 1450, 1550, 1600, 1650, 0, 2100, 1650),
    WATER:      (600,  680,  850,  800,  700,  450,  400,  380,  300, 0,  150,  100),
    RIVERBED:   (850,  950, 1100, 1200, 1350, 1500, 1600, 1650, 1650, 0, 2000, 1600),
    ROAD:       (700,  800, 1000, 1150, 1350, 1500, 1650, 1700, 1700, 0, 2300, 1850),
    SETTLEMENT: (800,  880,  980, 1050, 1200, 1400, 1500, 1580, 1600, 0, 2000, 1700),
    OLD_SCAR:   (680,  760,  980, 1200, 1400, 1600, 1750, 1850, 1850, 0, 2600, 2050),
    NEW_LANDSLIDE: (680, 760, 980, 1200, 1400, 1600, 1750, 1850, 1850, 0, 2600, 2050),
}
#: Surface reflectance (x 10000) per land cover code, bands B1..B12 (B10 unused: cirrus band).
SURFACE_REFLECTANCE = np.zeros((max(_SURFACE) + 1, N_BANDS), np.float32)
for _code, _values in _SURFACE.items():
    SURFACE_REFLECTANCE[_code] = _values
SURFACE_REFLECTANCE[0] = _SURFACE[FOREST]

#: Atmospheric path radiance (DN) and two-way transmittance per band, for a clear tropical sky.
PATH_DN = np.array([1000, 640, 420, 270, 240, 160, 130, 110, 60, 11.5, 30, 12], np.float32)
TRANSMITTANCE = np.array([0.72, 0.8, 0.85, 0.88, 0.9, 0.9, 0.91, 0.91, 0.42, 0.0, 0.92, 0.9], np.float32)
VEGETATION = (FOREST, GRASS, CROP)
_RED, _NIR = [3], [5, 6, 7, 8]  # B4; B6, B7, B8, B9
_SWIR = [10, 11]


@dataclass(frozen=True)
class Sun:
    """Sun position at the overpass: elevation and azimuth (clockwise from north), degrees."""

    elevation_deg: float
    azimuth_deg: float

    @property
    def zenith_rad(self) -> float:
        return math.radians(90.0 - self.elevation_deg)


def sun_at_overpass(day: date, lat: float, local_solar_hour: float = 10.5) -> Sun:
    """Approximate solar position for Sentinel-2's 10:30 local solar time overpass."""
    doy = day.timetuple().tm_yday
    decl = math.radians(23.44) * math.sin(2 * math.pi * (284 + doy) / 365.0)
    hour = math.radians(15.0 * (local_solar_hour - 12.0))
    phi = math.radians(lat)
    sin_el = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(hour)
    el = math.asin(max(-1.0, min(1.0, sin_el)))
    cos_az = (math.sin(decl) - math.sin(el) * math.sin(phi)) / max(math.cos(el) * math.cos(phi), 1e-9)
    az = math.degrees(math.acos(max(-1.0, min(1.0, cos_az))))
    if hour > 0:
        az = 360.0 - az
    return Sun(math.degrees(el), az)


def wet_season_index(day: date, lat: float) -> float:
    """0 (dry season) .. 1 (peak of the wet, green season), by day of year and hemisphere."""
    doy = day.timetuple().tm_yday
    peak = 45 if lat < 0 else 228
    return 0.5 + 0.5 * math.cos(2 * math.pi * (doy - peak) / 365.0)


def illumination(dz_dx: np.ndarray, dz_dy: np.ndarray, sun: Sun, diffuse: float = 0.15) -> np.ndarray:
    """Hillshade factor (1 on flat ground): direct light on the slope plus diffuse sky light."""
    sz = sun.zenith_rad
    az = math.radians(sun.azimuth_deg)
    sx, sy, su = math.sin(sz) * math.sin(az), math.sin(sz) * math.cos(az), math.cos(sz)
    norm = np.sqrt(dz_dx * dz_dx + dz_dy * dz_dy + 1.0)
    cos_i = (-dz_dx * sx - dz_dy * sy + su) / norm
    sky = 0.5 * (1.0 + 1.0 / norm)
    direct = 1.0 - diffuse
    return ((direct * np.clip(cos_i, 0.0, None) + diffuse * sky) / (direct * su + diffuse)).astype(np.float32)


def surface_reflectance(rng: np.random.Generator, code: np.ndarray, mix: np.ndarray, veg_share: np.ndarray,
                        wet: float, texture_seed_fields: tuple[np.ndarray, np.ndarray],
                        cover_tone: np.ndarray | None = None) -> np.ndarray:
    """Surface reflectance (12, H, W) float32 from cover codes, with in-class variation.

    ``mix``: share of the pixel covered by its class (roads, villages); the rest is grass.
    ``veg_share``: vegetation regrown on scars (0 fresh .. 1 fully green), as grass.
    ``texture_seed_fields``: smooth (tone, greenness) fields shared by both dates.
    ``cover_tone``: a brightness factor per pixel (field parcels differ from each other).
    """
    h, w = code.shape
    table = SURFACE_REFLECTANCE.copy()
    # season: vegetation is greener in the wet season (more NIR, less red and SWIR)
    g = (wet - 0.5) * 2.0
    table[FOREST, _NIR] *= 1.0 + 0.04 * g
    table[GRASS, _NIR] *= 1.0 + 0.10 * g
    table[GRASS, _RED] *= 1.0 - 0.18 * g
    table[GRASS, _SWIR] *= 1.0 - 0.10 * g
    table[CROP, _NIR] *= 1.0 + 0.08 * g
    refl = np.ascontiguousarray(table.T)[:, code]  # (12, H, W)
    blend = (1.0 - mix) + veg_share * mix
    mixed = np.nonzero(blend > 0)
    if mixed[0].size:
        f = blend[mixed][None, :]
        refl[:, mixed[0], mixed[1]] = refl[:, mixed[0], mixed[1]] * (1.0 - f) + table[GRASS][:, None] * f
    tone, green = texture_seed_fields
    factor = 1.0 + 0.07 * tone
    if cover_tone is not None:
        factor = factor * cover_tone
    refl *= factor[None]
    veg = np.isin(code, VEGETATION)
    gshift = np.where(veg, 0.07 * green, 0.0).astype(np.float32)
    refl[_NIR] *= (1.0 + gshift)[None]
    refl[_RED] *= (1.0 - 1.5 * gshift)[None]
    # fine texture: tree crowns, field furrows, roofs
    tex = ndimage.gaussian_filter(rng.standard_normal((h, w), dtype=np.float32), 0.7)
    tex_amp = np.select([code == SETTLEMENT, (code == NEW_LANDSLIDE) | (code == OLD_SCAR) | (code == ROCK),
                         code == FOREST, (code == BARE_FIELD) | (code == CROP)],
                        [0.35, 0.12, 0.07, 0.035], 0.05).astype(np.float32)
    refl *= (1.0 + tex_amp * tex / max(float(tex.std()), 1e-6))[None]
    np.clip(refl, 0.0, 10000.0, out=refl)
    return refl


def to_toa(refl: np.ndarray, illum: np.ndarray, haze: float, elevation_m: np.ndarray,
           vapour: float = 1.0) -> np.ndarray:
    """Top-of-atmosphere DN (12, H, W): path radiance (less at altitude) + transmitted light.

    ``haze`` scales the path radiance, ``vapour`` the water-vapour absorption of B9 (945 nm).
    Works in place on ``refl`` and returns it.
    """
    thin = np.exp(-np.clip(elevation_m, 0.0, None) / 8000.0).astype(np.float32)
    path_scale = (haze * (0.55 + 0.45 * thin)).astype(np.float32)
    nir = refl[7] * illum
    for b in range(refl.shape[0]):
        if b == 9:
            continue
        band = refl[b]
        band *= (TRANSMITTANCE[b] * (vapour if b == 8 else 1.0)) * illum
        band += PATH_DN[b] * path_scale
    # B10 (cirrus, 1375 nm): water vapour absorbs surface light; a little from high ground
    refl[9] = PATH_DN[9] * haze * (0.6 + 0.8 * (1.0 - thin)) + 0.002 * nir
    return refl


def _blur_coarse(band: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a wide kernel, done at half resolution (the result is smooth anyway)."""
    h, w = band.shape
    if min(h, w) < 16:
        return ndimage.gaussian_filter(band, sigma)
    hh, wh = h // 2 * 2, w // 2 * 2
    small = band[:hh, :wh].reshape(hh // 2, 2, wh // 2, 2).mean(axis=(1, 3))
    small = ndimage.gaussian_filter(small, sigma / 2.0, truncate=3.0)
    out = ndimage.zoom(small, 2, order=1, prefilter=False, grid_mode=True, mode="nearest")
    if out.shape != band.shape:
        out = np.pad(out, ((0, h - out.shape[0]), (0, w - out.shape[1])), mode="edge")
    return out


def sensor(rng: np.random.Generator, toa: np.ndarray) -> np.ndarray:
    """Band resolutions (60 m and 20 m bands smooth), noise, integer DNs in 0-10000 (in place)."""
    noise = rng.random(toa.shape, dtype=np.float32)  # uniform, scaled to unit variance below
    noise -= 0.5
    root12 = np.float32(np.sqrt(12.0))
    for b in range(toa.shape[0]):
        if b in (0, 8, 9):
            toa[b] = _blur_coarse(toa[b], 2.5)
        elif b in (4, 5, 6, 10, 11):
            toa[b] = ndimage.gaussian_filter(toa[b], 0.8, truncate=2.5)
        band = toa[b]
        nb = noise[b]
        nb *= band * (0.004 * root12) + 2.0 * root12  # std: 0.4 % of the signal + 2 DN
        band += nb
    np.rint(toa, out=toa)
    np.clip(toa, 0.0, 10000.0, out=toa)
    return toa
