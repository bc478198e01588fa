"""Augmentation: the 8 flips and 90-degree rotations of a square patch (the dihedral group), and
radiometric jitter (another date's sensor gain, haze and cirrus over the same ground)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

#: Clear-sky path radiance (DN) per Sentinel-2 band: haze scales it, so it grows toward the blue.
_PATH_DN = {"B1": 1000.0, "B2": 640.0, "B3": 420.0, "B4": 270.0, "B5": 240.0, "B6": 160.0, "B7": 130.0,
            "B8": 110.0, "B9": 60.0, "B10": 11.5, "B11": 30.0, "B12": 12.0}


def radiometric_jitter(x: np.ndarray, bands: Sequence[str], rng: np.random.Generator,
                       strength: float = 1.0) -> np.ndarray:
    """Per sample of ``x`` (B, C, H, W, L4S units): a common gain (sd 5 % x strength), per-band
    gains (sd 3 %), added haze (0-0.3 x strength of the clear-sky path radiance, so most in the
    blue) and, for a third of the samples, cirrus in B10 (up to 40 DN). Terrain bands untouched."""
    from ..bands import scale_vector

    if strength <= 0:
        return x
    spectral = [i for i, b in enumerate(bands) if b in _PATH_DN]
    if not spectral:
        return x
    names = [bands[i] for i in spectral]
    scale = scale_vector(names)
    path = np.array([_PATH_DN[b] for b in names], np.float32) / scale
    out = x.copy()
    n = len(x)
    gain = (rng.normal(1.0, 0.05 * strength, (n, 1)) * rng.normal(1.0, 0.03 * strength, (n, len(names))))
    haze = rng.uniform(0.0, 0.3 * strength, (n, 1)) * path[None, :]
    sub = out[:, spectral]
    sub *= gain.astype(np.float32)[:, :, None, None]
    sub += haze.astype(np.float32)[:, :, None, None]
    if "B10" in names:
        j = names.index("B10")
        cirrus = np.where(rng.uniform(size=n) < 1 / 3, rng.uniform(0.0, 40.0 * strength, n), 0.0)
        sub[:, j] += (cirrus / float(scale[j])).astype(np.float32)[:, None, None]
    out[:, spectral] = sub
    return out


def dihedral(a: np.ndarray, k: int) -> np.ndarray:
    """Transform ``a`` (..., H, W) by element ``k`` (0..7): rotate k % 4 quarter turns, then
    flip left-right when k >= 4. k = 0 is the identity. Returns a view where possible."""
    if not 0 <= k < 8:
        raise ValueError(f"k must be in 0..7, not {k}")
    out = np.rot90(a, k % 4, axes=(-2, -1))
    return out[..., ::-1] if k >= 4 else out


def augment_batch(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Apply one random dihedral transform per sample to images (B, C, H, W) and masks (B, H, W).

    Non-square patches get only the transforms that keep their shape (0, 2, 4, 6).
    """
    square = x.shape[-1] == x.shape[-2]
    ks = rng.integers(0, 8, size=len(x)) if square else rng.choice([0, 2, 4, 6], size=len(x))
    xo = np.empty_like(x)
    yo = np.empty_like(y)
    for i, k in enumerate(ks):
        xo[i] = dihedral(x[i], int(k))
        yo[i] = dihedral(y[i], int(k))
    return xo, yo
