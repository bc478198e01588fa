"""The atmosphere of a date: haze, cirrus, water vapour; surface -> top-of-atmosphere DN.

L1C digital numbers (0-10000) are ``path radiance + transmittance * reflectance * light``,
band by band. Haze (aerosol) adds path radiance that grows toward the blue
(Angstrom law), takes light away (lower contrast), and makes more of the light diffuse; it
is thicker in the valleys (aerosol scale height) and patchy. Cirrus adds a nearly white
veil and is what the cirrus band B10 sees: a thin veil keeps pixels usable, a thick one
does not. Each date also has its own per-band calibration gain and offset.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .illumination import Illumination, Sun
from .noise import smoothstep, spectral_noise

#: Band centres (nm), B1..B12.
WAVELENGTH_NM = np.array([443, 490, 560, 665, 705, 740, 783, 842, 945, 1375, 1610, 2190], np.float32)
#: Path radiance (DN) and two-way transmittance per band, for a clear tropical sky at sea level.
PATH_DN = np.array([1000, 640, 420, 270, 240, 160, 130, 110, 60, 11.5, 30, 12], np.float32)
TRANSMITTANCE = np.array([0.72, 0.8, 0.85, 0.88, 0.9, 0.9, 0.91, 0.91, 0.42, 0.0, 0.92, 0.9], np.float32)
#: Share of the light on flat ground that is diffuse sky light, clear sky (Rayleigh: blue more).
DIFFUSE_CLEAR = np.array([0.34, 0.27, 0.2, 0.15, 0.13, 0.12, 0.11, 0.1, 0.1, 0.1, 0.07, 0.06], np.float32)
#: Path radiance (DN) per unit of extra aerosol optical depth at 550 nm.
HAZE_DN_PER_AOD = 1300.0
#: B10 (cirrus) contribution above which a pixel counts as under thick cirrus (not valid).
THICK_CIRRUS_DN = 250.0


@dataclass
class Atmosphere:
    """What the atmosphere does on one date (see the module doc)."""

    aod: np.ndarray           # float32 (H, W): extra aerosol optical depth at 550 nm
    angstrom: float
    cirrus_dn: np.ndarray     # float32 (H, W): cirrus reflectance seen by B10 (DN)
    vapour: float             # water-vapour factor of B9
    gain: np.ndarray          # float32 (12,): per-band calibration gain of the date
    offset: np.ndarray        # float32 (12,): per-band offset (DN)
    terrain_light: float = 0.8  # light reflected by the terrain, per unit of scene albedo

    @property
    def mean_aod(self) -> float:
        return float(self.aod.mean())

    def thick_cirrus(self) -> np.ndarray:
        return self.cirrus_dn > THICK_CIRRUS_DN


def draw_atmosphere(rng: np.random.Generator, shape: tuple[int, int], pixel_size_m: float,
                    elevation_m: np.ndarray, haze_aod: tuple[float, float] = (0.0, 0.4),
                    cirrus_chance: float = 0.25, cirrus_dn: tuple[float, float] = (10.0, 300.0),
                    gain_sd: float = 0.03, offset_sd_dn: float = 15.0) -> Atmosphere:
    """An atmosphere for one date: haze and cirrus amounts drawn from the ranges (skewed low)."""
    px = pixel_size_m
    # haze: mostly light, sometimes thick; patchy and thicker low down (scale height ~1.5-3 km)
    aod0 = float(haze_aod[0] + (haze_aod[1] - haze_aod[0]) * rng.uniform() ** 4)
    scale_h = float(rng.uniform(1500.0, 3000.0))
    z0 = float(np.percentile(elevation_m[::8, ::8], 5))
    patch = 1.0 + 0.35 * spectral_noise(rng, shape, 3.0, 800 / px, 20000 / px)
    aod = (aod0 * np.clip(patch, 0.2, None) * np.exp(-(np.clip(elevation_m - z0, 0, None)) / scale_h)).astype(np.float32)
    angstrom = float(rng.uniform(0.7, 1.8))
    cirrus = np.zeros(shape, np.float32)
    if rng.uniform() < cirrus_chance:
        lo, hi = cirrus_dn
        peak = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        c = spectral_noise(rng, shape, 3.2, 150 / px, 15000 / px)
        share = float(rng.uniform(0.3, 1.0))  # of the scene under the veil
        lo_c = float(np.quantile(c[::4, ::4], 1.0 - share))
        cirrus = (peak * smoothstep(c, lo_c, lo_c + 1.0)).astype(np.float32)
    vapour = float(np.exp(rng.normal(0.0, 0.2)))
    gain = np.clip(rng.normal(1.0, gain_sd, 12), 0.85, 1.15).astype(np.float32)
    offset = rng.normal(0.0, offset_sd_dn, 12).astype(np.float32)
    gain[9], offset[9] = 1.0, 0.0  # B10 is near zero: keep its scale
    return Atmosphere(aod, angstrom, cirrus, vapour, gain, offset, float(rng.uniform(0.5, 1.0)))


def to_toa(refl: np.ndarray, light: Illumination, atm: Atmosphere, elevation_m: np.ndarray,
           sun: Sun) -> np.ndarray:
    """Top-of-atmosphere DN (12, H, W) from surface reflectance; works in place on ``refl``."""
    thin = np.exp(-np.clip(elevation_m, 0.0, None) / 8000.0).astype(np.float32)
    rayleigh = (0.55 + 0.45 * thin).astype(np.float32)
    airmass = 1.0 + 1.0 / max(np.cos(sun.zenith_rad), 0.2)
    mean_aod = atm.mean_aod
    # light reflected by the surrounding terrain: in proportion to the scene's reflectance
    albedo = np.median(refl[:, ::7, ::7].reshape(refl.shape[0], -1), axis=1) / 10000.0
    nir = refl[7] * light.direct
    for b in range(refl.shape[0]):
        if b == 9:
            continue
        rel = float((WAVELENGTH_NM[b] / 550.0) ** -atm.angstrom)
        tau = atm.aod * np.float32(rel)
        diffuse = float(min(DIFFUSE_CLEAR[b] + 0.5 * mean_aod * rel, 0.7))
        ambient = float(min(atm.terrain_light * albedo[b], 0.25))
        band = refl[b]
        band *= light.factor(diffuse, ambient)
        band *= np.float32(TRANSMITTANCE[b] * (atm.vapour if b == 8 else 1.0))
        band *= np.exp(-0.5 * airmass * tau)  # aerosol extinction (half of it scattered forward)
        band += PATH_DN[b] * rayleigh
        band += tau * np.float32(HAZE_DN_PER_AOD)
    # B10 (cirrus, 1375 nm): water vapour absorbs surface light; a little from high ground
    refl[9] = PATH_DN[9] * (0.6 + 0.8 * (1.0 - thin)) + 0.002 * nir
    if atm.cirrus_dn.any():
        veil = atm.cirrus_dn
        refl[9] += veil
        for b in range(refl.shape[0]):
            if b != 9:
                band = refl[b]
                band *= 1.0 - veil * np.float32(1.0 / 6000.0)  # the veil dims the ground a little
                band += veil * np.float32(1.6 if b < 9 else 1.2)
    return refl


def calibrate(toa: np.ndarray, atm: Atmosphere) -> np.ndarray:
    """Apply the date's per-band gain and offset (in place)."""
    for b in range(toa.shape[0]):
        toa[b] *= atm.gain[b]
        toa[b] += atm.offset[b]
    return toa
