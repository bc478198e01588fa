"""Clouds and cloud shadows over a TOA scene, and the valid-pixel mask.

Cumulus-like clouds (thin at their edges, thick inside) and their shadows, cast away from
the sun by the cloud-top height. Both are not valid; cirrus is part of the atmosphere
(atmosphere.py), where only a thick veil makes a pixel invalid.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .noise import smoothstep, spectral_noise
from .illumination import Sun

#: TOA DN of a thick cloud, B1..B12 (B10: only the part of high cloud tops).
CLOUD_DN = np.array([6200, 6000, 5900, 5900, 6100, 6300, 6400, 6400, 5200, 0, 4400, 3000], np.float32)


@dataclass
class CloudLayer:
    """Cloud opacity, shadow strength and cirrus B10 on the scene grid (all (H, W) float32).

    ``cirrus_dn`` is kept for callers that add their own cirrus; make_clouds leaves it 0.
    """

    opacity: np.ndarray
    shadow: np.ndarray
    cirrus_dn: np.ndarray
    top_height_m: float

    def invalid(self) -> np.ndarray:
        """Pixels a detector must not judge: cloud, its shadow, or thick cirrus."""
        bad = (self.opacity > 0.04) | (self.shadow > 0.08) | (self.cirrus_dn > 250.0)
        return ndimage.binary_dilation(bad, iterations=2)


def make_clouds(rng: np.random.Generator, shape: tuple[int, int], sun: Sun, pixel_size_m: float,
                cover: float) -> CloudLayer:
    """Cumulus-like clouds covering about ``cover`` (0-1) of the scene and their shadows."""
    h, w = shape
    px = pixel_size_m
    if cover <= 0:
        zero = np.zeros(shape, np.float32)
        return CloudLayer(zero, zero.copy(), zero.copy(), 0.0)
    field = spectral_noise(rng, shape, 3.0, 80 / px, 4000 / px)
    thr = float(np.quantile(field[::3, ::3], 1.0 - min(cover, 0.99)))
    opacity = smoothstep(field, thr, thr + 1.0)
    top_m = float(rng.uniform(1200.0, 3500.0))
    shift = top_m * math.tan(sun.zenith_rad) / px  # shadows lie away from the sun
    az = math.radians(sun.azimuth_deg)
    dx, dy = -shift * math.sin(az), shift * math.cos(az)  # rows grow southward
    shadow = ndimage.shift(opacity, (dy, dx), order=1, mode="constant", cval=0.0)
    shadow = np.clip(shadow - opacity, 0.0, 1.0).astype(np.float32)
    cirrus = np.zeros(shape, np.float32)
    return CloudLayer(opacity.astype(np.float32), shadow, cirrus, top_m)


def apply_clouds(toa: np.ndarray, layer: CloudLayer, path_dn: np.ndarray) -> np.ndarray:
    """Blend clouds over the TOA bands (12, H, W) in place; darken shadows; add cirrus."""
    cloud = CLOUD_DN.copy()
    cloud[9] = 40.0 + 700.0 * min(max((layer.top_height_m - 1000.0) / 6000.0, 0.0), 1.0)
    shade = np.nonzero(layer.shadow > 0)
    if shade[0].size:
        sub = toa[:, shade[0], shade[1]]
        ground = np.clip(sub - path_dn[:, None], 0.0, None)
        toa[:, shade[0], shade[1]] = sub - ground * (0.55 * layer.shadow[shade])[None]
    cov = np.nonzero(layer.opacity > 0)
    if cov[0].size:
        a = layer.opacity[cov][None]
        toa[:, cov[0], cov[1]] = toa[:, cov[0], cov[1]] * (1.0 - a) + cloud[:, None] * a
    if layer.cirrus_dn.any():
        toa[9] += layer.cirrus_dn
        toa[:9] += 3.0 * layer.cirrus_dn[None]
    return toa
