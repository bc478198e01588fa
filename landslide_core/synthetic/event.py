"""Landslide scars: sources on steep slopes, runout down the steepest descent.

Each landslide starts at a source pixel steeper than a threshold, follows the steepest
descent of the (slightly smoothed) DEM until its length is used up, the ground flattens or
it reaches a river, and is drawn as a chain of discs: wide at the head scarp, narrower along
the track, widening again in the deposit. Edges are made irregular with noise. A share of
them are debris flows: narrow tracks that run far down the channels, to gentler ground.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .noise import draw_noise, field_later
from .terrain import Terrain

#: Landslide sources are on slopes at least this steep (degrees).
MIN_SOURCE_SLOPE_DEG = 28.0
#: Runout stops where the ground is gentler than this (degrees).
RUNOUT_STOP_SLOPE_DEG = 10.0
#: Debris flows run on down the channels to gentler ground than this (degrees).
DEBRIS_STOP_SLOPE_DEG = 5.0

_OFFSETS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


@dataclass
class Landslides:
    """Landslide scars on the grid: the mask and where each one started."""

    mask: np.ndarray          # bool (H, W)
    source_rows: np.ndarray   # int (N,)
    source_cols: np.ndarray   # int (N,)
    label: np.ndarray         # int32 (H, W): 0 none, k = k-th landslide (1-based)


def steepest_descent(elevation_m: np.ndarray) -> np.ndarray:
    """D8 receiver of every pixel (flat index; itself at pits and on the border)."""
    h, w = elevation_m.shape
    z = np.pad(elevation_m.astype(np.float32), 1, mode="edge")
    best = np.zeros((h, w), np.float32)
    rec = np.arange(h * w, dtype=np.int64).reshape(h, w)
    rows, cols = np.mgrid[0:h, 0:w]
    for dr, dc in _OFFSETS:
        drop = (elevation_m - z[1 + dr:1 + dr + h, 1 + dc:1 + dc + w]) / np.float32(np.hypot(dr, dc))
        better = drop > best
        best = np.where(better, drop, best)
        rr = np.clip(rows + dr, 0, h - 1)
        cc = np.clip(cols + dc, 0, w - 1)
        rec = np.where(better, rr * w + cc, rec)
    return rec.ravel()


_DR = np.array([dr for dr, _ in _OFFSETS])
_DC = np.array([dc for _, dc in _OFFSETS])
_DIST = np.hypot(_DR, _DC).astype(np.float32)


def _receivers(z_flat: np.ndarray, h: int, w: int, cells: np.ndarray) -> np.ndarray:
    """D8 steepest-descent receiver of ``cells`` (flat indices; itself at pits), as steepest_descent."""
    r, c = np.divmod(cells, w)
    rr, cc = r[:, None] + _DR[None, :], c[:, None] + _DC[None, :]
    inside = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
    nb = np.clip(rr, 0, h - 1) * w + np.clip(cc, 0, w - 1)
    drop = np.where(inside, (z_flat[cells][:, None] - z_flat[nb]) / _DIST[None, :], 0.0)
    best = np.argmax(drop, axis=1)
    take = drop[np.arange(cells.size), best] > 0
    return np.where(take, nb[np.arange(cells.size), best], cells)


def make_landslides(rng: np.random.Generator, terrain: Terrain, n: int, allowed: np.ndarray,
                    median_length_m: float = 180.0, median_width_m: float = 50.0,
                    min_source_slope_deg: float = MIN_SOURCE_SLOPE_DEG, debris_share: float = 0.0,
                    size_spread: float = 1.0, pool=None) -> Landslides:
    """Draw ``n`` landslides whose sources lie on ``allowed`` ground steeper than the threshold.

    Scars cover only ``allowed`` pixels. Fewer than ``n`` are drawn when there are not
    enough steep allowed pixels. ``debris_share``: share drawn as debris flows (long, narrow,
    stopping only on gentle ground); ``size_spread`` widens the size distribution (1: as
    measured inventories, larger: more very small and very large scars). ``pool``: an executor
    that makes the edges' noise field beside the rest (the same scars, sooner).
    """
    h, w = terrain.elevation_m.shape
    px = terrain.pixel_size_m
    slope = terrain.slope_deg
    empty = Landslides(np.zeros((h, w), bool), np.zeros(0, np.int64), np.zeros(0, np.int64),
                       np.zeros((h, w), np.int32))
    margin = 3
    inner = np.zeros((h, w), bool)
    inner[margin:h - margin, margin:w - margin] = True
    candidates = np.flatnonzero((allowed & inner & (slope >= min_source_slope_deg)).ravel())
    if n <= 0 or candidates.size == 0:
        return empty
    n = min(n, candidates.size)
    weight = (slope.ravel()[candidates] - min_source_slope_deg + 2.0).astype(np.float64)
    src = rng.choice(candidates, size=n, replace=False, p=weight / weight.sum())
    src.sort()
    length_px = np.clip(rng.lognormal(np.log(median_length_m / px), 0.45 * size_spread, n), 4, 160).astype(np.int64)
    radius_px = np.clip(rng.lognormal(np.log(median_width_m / 2 / px), 0.35 * size_spread, n), 1.2, 22.0)
    debris = rng.uniform(size=n) < debris_share
    if debris.any():  # debris flows: 3-6 times longer, narrow
        k = int(debris.sum())
        length_px[debris] = np.clip(length_px[debris] * rng.uniform(3.0, 6.0, k), 20, 300).astype(np.int64)
        radius_px[debris] = np.clip(radius_px[debris] * rng.uniform(0.35, 0.6, k), 1.0, 4.0)
    # walk down the steepest descent of a smoothed DEM, all landslides at once
    zs = ndimage.gaussian_filter(terrain.elevation_m, 1.5 * 10.0 / px).ravel()
    stop_ground = (slope < RUNOUT_STOP_SLOPE_DEG).ravel() | ~allowed.ravel()
    stop_debris = (slope < DEBRIS_STOP_SLOPE_DEG).ravel() | ~allowed.ravel()
    steps = int(length_px.max())
    path = np.empty((n, steps + 1), np.int64)
    path[:, 0] = src
    alive = np.ones(n, bool)
    cur = src.copy()
    for k in range(1, steps + 1):
        nxt = _receivers(zs, h, w, cur)
        alive &= (nxt != cur) & (k <= length_px)
        cur = np.where(alive, nxt, cur)
        path[:, k] = cur
        alive &= ~np.where(debris, stop_debris[cur], stop_ground[cur])
    # discs along the paths: head scarp wide, track narrower, deposit wider
    t = np.arange(steps + 1)[None, :] / np.maximum(length_px[:, None], 1)
    profile = 1.0 - 0.35 * np.sin(np.pi * np.clip(t * 1.6 - 0.1, 0, 1)) + 0.25 * np.clip(t - 0.75, 0, 1) * 4
    r = radius_px[:, None] * profile
    radius_img = np.zeros(h * w, np.float32)
    owner = np.zeros(h * w, np.int32)
    flat_path, flat_r = path.ravel(), r.ravel().astype(np.float32)
    ids = np.repeat(np.arange(1, n + 1, dtype=np.int32), steps + 1)
    order = np.argsort(flat_r, kind="stable")  # largest radius wins on shared pixels
    radius_img[flat_path[order]] = flat_r[order]
    owner[flat_path[order]] = ids[order]
    radius_img = radius_img.reshape(h, w)
    owner = owner.reshape(h, w)
    edge_later = field_later(draw_noise(rng, (h, w), 2.5, 8.0, 60 / px), pool)  # the last draw
    dist, (iy, ix) = ndimage.distance_transform_edt(radius_img == 0, return_indices=True)
    edge = 1.0 + 0.2 * edge_later()
    mask = (dist <= radius_img[iy, ix] * edge) & allowed
    label = np.where(mask, owner[iy, ix], 0).astype(np.int32)
    rows, cols = np.divmod(src, w)
    return Landslides(mask, rows, cols, label)
