"""Small, learnable Landslide4Sense-layout files for tests and benchmarks.

Background: noisy values near 1 (L4S units) in every band; landslides: round bright blobs
in the visible and near-infrared bands with a lower elevation, and the mask is 1 inside
the blobs. Not realistic (see ``landslide_core.synthetic`` for that), but a tiny model
learns it in a few epochs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..bands import ALL_BANDS

BRIGHT_BANDS = ("B2", "B3", "B4", "B8")


def toy_patch(rng: np.random.Generator, size: int = 128, n_bands: int = 14,
              max_blobs: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """One image (size, size, n_bands) float64 in L4S units and its uint8 mask."""
    img = 1.0 + 0.1 * rng.standard_normal((size, size, n_bands))
    mask = np.zeros((size, size), np.uint8)
    yy, xx = np.mgrid[0:size, 0:size]
    for _ in range(int(rng.integers(1, max_blobs + 1))):
        cy, cx = rng.integers(8, size - 8, 2)
        r = rng.uniform(size / 16, size / 7)
        mask[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 1
    bright = [ALL_BANDS.index(b) for b in BRIGHT_BANDS if ALL_BANDS.index(b) < n_bands]
    img[..., bright] += 0.8 * mask[..., None]
    return img, mask


def write_toy_l4s(out_dir: str | Path, n_patches: int = 8, seed: int = 0, size: int = 128,
                  n_bands: int = 14, mask_dtype: str = "uint8") -> Path:
    """Write ``out_dir/img/image_N.h5`` ('img') and ``out_dir/mask/mask_N.h5`` ('mask'), N = 1..n."""
    import h5py

    out = Path(out_dir)
    (out / "img").mkdir(parents=True, exist_ok=True)
    (out / "mask").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(1, n_patches + 1):
        img, mask = toy_patch(rng, size, n_bands)
        with h5py.File(out / "img" / f"image_{i}.h5", "w") as f:
            f.create_dataset("img", data=img)
        with h5py.File(out / "mask" / f"mask_{i}.h5", "w") as f:
            f.create_dataset("mask", data=mask.astype(mask_dtype))
    return out
