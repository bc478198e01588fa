"""Augmentation: the 8 flips and 90-degree rotations of a square patch (the dihedral group)."""
from __future__ import annotations

import numpy as np


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
