"""The delivered DEM: the true terrain as a real elevation model would give it.

Real scenes come with a 12.5-30 m elevation model (Copernicus GLO-30, SRTM, ALOS) resampled
to the 10 m grid, in whole metres, so slopes computed from it are blocky. The generator keeps
the true (sharp) terrain for the light and the landslides, and delivers this: the terrain
smoothed to the model's footprint, sampled on a coarse grid at a random resolution and phase,
with the model's own errors, resampled to the 10 m grid by nearest neighbour or bilinearly,
and (usually) rounded to whole metres.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..bands import slope_horn_deg


@dataclass
class DeliveredDem:
    """The delivered elevation (float32 (H, W), metres) and how it was made."""

    elevation_m: np.ndarray
    coarse_m: np.ndarray          # float32 (hc, wc): the model on its own grid
    resolution_m: float
    origin_px: tuple[float, float]  # coarse sample (0, 0) in grid pixels (row, col)
    resampling: str               # "nearest" or "bilinear"

    def slope_l4s_deg(self, pixel_size_m: float, whole_degrees: bool = True) -> np.ndarray:
        """Slope as Landslide4Sense delivers it: computed on the model's grid, then nearest-resampled."""
        coarse = slope_horn_deg(self.coarse_m, self.resolution_m, self.resolution_m)
        h, w = self.elevation_m.shape
        f = self.resolution_m / pixel_size_m
        iy = _nearest(h, f, self.origin_px[0], coarse.shape[0])
        ix = _nearest(w, f, self.origin_px[1], coarse.shape[1])
        out = coarse[iy[:, None], ix[None, :]]
        return np.rint(out).astype(np.float32) if whole_degrees else out.astype(np.float32)


def _nearest(n: int, f: float, origin: float, n_coarse: int) -> np.ndarray:
    return np.clip(np.rint((np.arange(n) - origin) / f), 0, n_coarse - 1).astype(np.int64)


def _sample_1d(a: np.ndarray, pos: np.ndarray, axis: int) -> np.ndarray:
    """Linear interpolation of ``a`` along ``axis`` at fractional indices ``pos``."""
    n = a.shape[axis]
    pos = np.clip(pos, 0.0, n - 1.0)
    i0 = np.minimum(np.floor(pos).astype(np.int64), max(n - 2, 0))
    wgt = (pos - i0).astype(np.float32)
    i1 = np.minimum(i0 + 1, n - 1)
    shape = [1, 1]
    shape[axis] = -1
    wgt = wgt.reshape(shape)
    return np.take(a, i0, axis=axis) * (1.0 - wgt) + np.take(a, i1, axis=axis) * wgt


def deliver_dem(rng: np.random.Generator, elevation_m: np.ndarray, pixel_size_m: float,
                resolution_m: tuple[float, float] = (10.0, 30.0), error_m: tuple[float, float] = (0.2, 1.5),
                whole_metre_share: float = 0.5, nearest_share: float = 0.25) -> DeliveredDem:
    """Degrade the true ``elevation_m`` to a DEM of a random resolution in ``resolution_m``.

    ``error_m``: range of the model's error standard deviation (metres; spatially correlated
    over a couple of its cells). ``whole_metre_share``: chance of whole-metre values;
    ``nearest_share``: chance of nearest-neighbour resampling (as Landslide4Sense's elevation
    band; the pipeline's sources resample bilinearly).
    """
    z = np.asarray(elevation_m, np.float32)
    h, w = z.shape
    res = float(rng.uniform(*resolution_m))
    f = max(res / pixel_size_m, 1.0)
    res = f * pixel_size_m
    nearest = bool(rng.uniform() < nearest_share)
    err = float(rng.uniform(*error_m))
    whole = bool(rng.uniform() < whole_metre_share)
    origin = (float(rng.uniform(0.0, f)) - f / 2, float(rng.uniform(0.0, f)) - f / 2)
    # the model's footprint: a smoothing of about one of its cells
    smooth = ndimage.gaussian_filter(z, 0.45 * f, truncate=3.0) if f > 1.05 else z
    hc, wc = int(np.ceil((h - origin[0]) / f)) + 1, int(np.ceil((w - origin[1]) / f)) + 1
    coarse = _sample_1d(smooth, origin[0] + f * np.arange(hc), 0)
    coarse = _sample_1d(coarse, origin[1] + f * np.arange(wc), 1)
    noise = ndimage.gaussian_filter(rng.standard_normal(coarse.shape).astype(np.float32), 1.5)
    noise *= np.float32(err / max(float(noise.std()), 1e-6))
    coarse = (coarse + noise).astype(np.float32)
    if nearest:
        out = coarse[_nearest(h, f, origin[0], hc)[:, None], _nearest(w, f, origin[1], wc)[None, :]]
    else:
        out = _sample_1d(coarse, (np.arange(h) - origin[0]) / f, 0)
        out = _sample_1d(out, (np.arange(w) - origin[1]) / f, 1)
    if whole:
        out = np.rint(out)
    return DeliveredDem(np.ascontiguousarray(out, np.float32), coarse, res, origin,
                        "nearest" if nearest else "bilinear")
