"""Terrain illumination: the sun of a date, hillshade, sky light and cast shadows.

Real mountain scenes are dominated by sun-and-slope shading. The light reaching a pixel is
direct sunlight on the slope (zero where the slope faces away from the sun or where a ridge
between the pixel and the sun casts a shadow) plus diffuse sky light (less on steep slopes,
which see less sky) plus light reflected by the surrounding terrain (strong in the
near-infrared over vegetation, so shadowed forest stays green). Forest canopies are not Lambertian: the direct term is
``(cos i / cos z) ** k`` with a Minnaert constant ``k`` below 1. Everything is normalised so
that flat open ground reads 1, as top-of-atmosphere reflectance is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np


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


def draw_sun(rng: np.random.Generator, day: date, lat: float, elevation_deg: tuple[float, float]) -> Sun:
    """The sun of one date at latitude ``lat``: a 10:10-10:50 overpass, elevation kept in the range.

    Two dates of one place share the latitude, so their suns differ as real seasons do.
    """
    sun = sun_at_overpass(day, lat, float(rng.uniform(10.15, 10.85)))
    elevation = float(np.clip(sun.elevation_deg + rng.normal(0.0, 2.0), *elevation_deg))
    return Sun(elevation, float((sun.azimuth_deg + rng.normal(0.0, 5.0)) % 360.0))


def _sun_vector(sun: Sun) -> tuple[float, float, float]:
    """Unit vector toward the sun: (east, north, up)."""
    sz, az = sun.zenith_rad, math.radians(sun.azimuth_deg)
    return math.sin(sz) * math.sin(az), math.sin(sz) * math.cos(az), math.cos(sz)


def cast_shadow(elevation_m: np.ndarray, pixel_size_m: float, sun: Sun) -> np.ndarray:
    """Pixels in the shadow of higher ground toward the sun (bool (H, W)).

    A pixel is shadowed when some point on the way to the sun rises above the sun ray through
    it. The ray is followed along the sun's major image axis on sheared lines (one line per
    integer offset, the other coordinate rounded), so it is a few vectorised passes.
    """
    z = np.asarray(elevation_m, np.float32)
    east, north, up = _sun_vector(sun)
    if up <= 0:
        return np.ones(z.shape, bool)
    # toward the sun in image axes: columns grow eastward, rows grow southward
    d_col, d_row = east, -north
    transpose = abs(d_row) > abs(d_col)
    if transpose:  # march along rows instead
        z = z.T
        d_col, d_row = d_row, d_col
    flip = d_col > 0  # make the sun lie toward column 0
    if flip:
        z = z[:, ::-1]
    slope_m = d_row / abs(d_col) if d_col else 0.0  # row change per column step toward the sun
    h, w = z.shape
    tan_el = up / math.hypot(east, north)
    step_m = pixel_size_m * math.hypot(1.0, slope_m)
    cols = np.arange(w)
    # line k holds pixels (k + off[c], c); walking toward column 0 walks toward the sun
    off = np.rint(-slope_m * cols).astype(np.int64)
    lo, hi = int(off.min()), int(off.max())
    rows = np.arange(-hi, h - lo)[:, None] + off[None, :]
    inside = (rows >= 0) & (rows < h)
    line = np.where(inside, z[np.clip(rows, 0, h - 1), cols[None, :]], -np.inf).astype(np.float32)
    # height of the sun ray above each point, counted from the far end: z - dist * tan(el)
    ray = line + (cols[None, :] * np.float32(step_m * tan_el))
    horizon = np.maximum.accumulate(ray, axis=1)
    shadow_line = np.zeros(line.shape, bool)
    shadow_line[:, 1:] = ray[:, 1:] < horizon[:, :-1] - np.float32(0.5)
    k = np.arange(h)[:, None] - off[None, :] + hi  # line index of pixel (r, c)
    shadow = shadow_line[k, cols[None, :]]
    if flip:
        shadow = shadow[:, ::-1]
    if transpose:
        shadow = shadow.T
    return np.ascontiguousarray(shadow)


@dataclass
class Illumination:
    """Direct and diffuse light factors on the grid (float32 (H, W)); flat open ground: 1, 1."""

    direct: np.ndarray
    sky: np.ndarray
    shadow_share: float

    def factor(self, sky_fraction: float, ambient_fraction: float = 0.0) -> np.ndarray:
        """Total light for a band: on flat open ground ``sky_fraction`` of it is sky light and
        ``ambient_fraction`` light reflected by the surrounding terrain (reaching shadows too)."""
        direct = 1.0 - sky_fraction - ambient_fraction
        out = self.direct * np.float32(direct)
        out += self.sky * np.float32(sky_fraction)
        out += np.float32(ambient_fraction)
        return out


def terrain_illumination(dz_dx: np.ndarray, dz_dy: np.ndarray, elevation_m: np.ndarray, pixel_size_m: float,
                         sun: Sun, minnaert_k: float = 0.8, shadows: bool = True) -> Illumination:
    """Direct (Minnaert hillshade, zero in cast shadows) and sky-light factors.

    ``dz_dx`` east gradient and ``dz_dy`` north gradient (m/m) of the true terrain.
    """
    east, north, up = _sun_vector(sun)
    norm = np.sqrt(dz_dx * dz_dx + dz_dy * dz_dy + 1.0, dtype=np.float32)
    cos_i = (-dz_dx * np.float32(east) - dz_dy * np.float32(north) + np.float32(up)) / norm
    np.clip(cos_i, 0.0, None, out=cos_i)
    cos_i *= np.float32(1.0 / max(up, 1e-3))
    direct = cos_i if minnaert_k == 1.0 else np.power(cos_i, np.float32(minnaert_k), dtype=np.float32)
    share = 0.0
    if shadows:
        shade = cast_shadow(elevation_m, pixel_size_m, sun)
        direct[shade] = 0.0
        share = float(shade.mean())
    sky = np.float32(0.5) * (np.float32(1.0) + np.float32(1.0) / norm)  # sky view of a tilted plane
    return Illumination(direct.astype(np.float32, copy=False), sky.astype(np.float32, copy=False), share)


def hillshade(dz_dx: np.ndarray, dz_dy: np.ndarray, sun: Sun, diffuse: float = 0.15) -> np.ndarray:
    """Hillshade factor (1 on flat ground): direct light on the slope plus diffuse sky light."""
    east, north, up = _sun_vector(sun)
    norm = np.sqrt(dz_dx * dz_dx + dz_dy * dz_dy + 1.0)
    cos_i = (-dz_dx * east - dz_dy * north + up) / norm
    sky = 0.5 * (1.0 + 1.0 / norm)
    direct = 1.0 - diffuse
    return ((direct * np.clip(cos_i, 0.0, None) + diffuse * sky) / (direct * up + diffuse)).astype(np.float32)
