"""The sensor: misregistration, band resolutions, noise and integer digital numbers.

Sentinel-2 L1C scenes of two dates are co-registered to about a pixel; the generator shifts
a date's optical bands by a sub-pixel amount (the DEM stays on the grid). The 60 m bands
(B1, B9, B10) and 20 m bands (B5-B7, B11, B12) are smooth, the 10 m bands a little (the
optics), noise is 0.4 % of the signal plus 2 DN, values are integers in 0-10000.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from .noise import upsample_linear


#: Standard deviation (px) of the point spread function of the 10 m bands.
PSF_10M_PX = 0.5


def draw_shift(rng: np.random.Generator, max_px: float) -> tuple[float, float]:
    """A misregistration (rows, cols) of length uniform in 0..``max_px``, any direction."""
    if max_px <= 0:
        return 0.0, 0.0
    r = float(rng.uniform(0.0, max_px))
    a = float(rng.uniform(0.0, 2.0 * math.pi))
    return r * math.sin(a), r * math.cos(a)


def _moved(a: np.ndarray, k: int, axis: int) -> np.ndarray:
    """b[i] = a[clip(i - k)] along ``axis`` (content moved by whole pixels, edges repeated)."""
    n = a.shape[axis]
    k = max(-n, min(n, k))
    out = np.empty_like(a)

    def sl(start, stop):
        index = [slice(None)] * a.ndim
        index[axis] = slice(start, stop)
        return tuple(index)

    if k >= 0:
        out[sl(k, n)] = a[sl(0, n - k)]
        out[sl(0, k)] = a[sl(0, 1)]
    else:
        out[sl(0, n + k)] = a[sl(-k, n)]
        out[sl(n + k, n)] = a[sl(n - 1, n)]
    return out


def _shift_axis(a: np.ndarray, d: float, axis: int) -> np.ndarray:
    """Content moved by ``d`` pixels along ``axis`` (linear interpolation, edges repeated)."""
    if d == 0:
        return a
    k = int(math.floor(d))
    frac = np.float32(d - k)
    # out[i] = a[i - d] = (1 - frac) * a[i - k] + frac * a[i - k - 1]
    out = _moved(a, k, axis)
    if frac:
        out *= 1 - frac
        other = _moved(a, k + 1, axis)
        other *= frac
        out += other
    return out


def shift_image(a: np.ndarray, shift_rc: tuple[float, float], cancel=None) -> np.ndarray:
    """Move the content of ``a`` (..., H, W) by (rows, cols) pixels, sub-pixel, edges repeated.

    A stack (B, H, W) is moved band by band, in place of ``a`` (returned).
    """
    from ..progress import check_cancel

    dy, dx = float(shift_rc[0]), float(shift_rc[1])
    if a.ndim == 3:
        for b in range(a.shape[0]):
            check_cancel(cancel)
            a[b] = shift_image(a[b], (dy, dx))
        return a
    return _shift_axis(_shift_axis(a, dy, a.ndim - 2), dx, a.ndim - 1).astype(a.dtype, copy=False)


def shift_labels(a: np.ndarray, shift_rc: tuple[float, float]) -> np.ndarray:
    """Move a label raster by the shift rounded to whole pixels (edges repeated)."""
    dy, dx = int(round(shift_rc[0])), int(round(shift_rc[1]))
    if dy == 0 and dx == 0:
        return a
    return np.ascontiguousarray(_shift_axis(_shift_axis(a, dy, a.ndim - 2), dx, a.ndim - 1), dtype=a.dtype)


def _blur_coarse(band: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a wide kernel, done at half resolution (the result is smooth anyway)."""
    h, w = band.shape
    if min(h, w) < 16:
        return ndimage.gaussian_filter(band, sigma)
    hh, wh = h // 2 * 2, w // 2 * 2
    small = band[:hh, :wh].reshape(hh // 2, 2, wh // 2, 2).mean(axis=(1, 3))
    small = ndimage.gaussian_filter(small, sigma / 2.0, truncate=3.0)
    return upsample_linear(small, 2, h, w, offset=0.5)


def sensor(rng: np.random.Generator, toa: np.ndarray, noise_scale: float = 1.0, cancel=None) -> np.ndarray:
    """Band resolutions (60 m and 20 m bands smooth), noise, integer DNs in 0-10000 (in place)."""
    from ..progress import check_cancel

    root12 = np.float32(np.sqrt(12.0) * noise_scale)
    for b in range(toa.shape[0]):
        check_cancel(cancel)
        if b in (0, 8, 9):
            toa[b] = _blur_coarse(toa[b], 2.5)
        elif b in (4, 5, 6, 10, 11):
            toa[b] = ndimage.gaussian_filter(toa[b], 0.9, truncate=2.5)
        else:  # the 10 m bands: the optics' point spread (MTF about 0.3 at Nyquist)
            toa[b] = ndimage.gaussian_filter(toa[b], PSF_10M_PX, truncate=2.5)
        band = toa[b]
        nb = rng.random(band.shape, dtype=np.float32)  # uniform, scaled to unit variance below
        nb -= 0.5
        nb *= band * (0.004 * root12) + 2.0 * root12  # std: 0.4 % of the signal + 2 DN
        band += nb
    np.rint(toa, out=toa)
    np.clip(toa, 0.0, 10000.0, out=toa)
    return toa
