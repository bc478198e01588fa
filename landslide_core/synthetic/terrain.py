"""Synthetic mountain terrain: fractal relief, drainage network and carved valleys.

Relief is spectral (FFT) noise with ridged low frequencies. A drainage network is computed
on a coarse grid (priority-flood depression filling, D8 receivers, flow accumulation), its
channels are drawn at full resolution and the valleys are carved around them: flat floors
along big rivers, V-shaped side valleys. Finally the relief is scaled so the slope
distribution (Horn's method at the real pixel size) is that of steep Andean terrain.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..bands import slope_horn_deg
from .noise import draw_noise, field_later, smoothstep, spectral_noise

#: Elevation limits of the generated terrain (metres).
MIN_ELEVATION_M = 100.0
MAX_ELEVATION_M = 4800.0
#: Amplitude (m) of the fine relief (gullies, spurs) on the hillsides.
ROUGHNESS_M = 6.0


@dataclass
class Terrain:
    """A DEM and its derived layers on the scene grid (all (H, W))."""

    elevation_m: np.ndarray      # float32
    slope_deg: np.ndarray        # float32, Horn's method at the real pixel size
    dz_dx: np.ndarray            # float32, east gradient (m/m)
    dz_dy: np.ndarray            # float32, north gradient (m/m)
    channel_dist_px: np.ndarray  # float32, distance to the nearest drainage channel
    channel_area_km2: np.ndarray  # float32, upstream area of that channel
    pixel_size_m: float
    valley_floor: np.ndarray | None = None  # bool: the flat floors (floodplains) of the rivers


def _priority_flood(z: np.ndarray, outlet_share: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fill depressions; return (filled z, D8 receiver index (-1 at outlets), cell order).

    Outlets are the lowest ``outlet_share`` of the edge cells (at least one).
    """
    h, w = z.shape
    n = h * w
    flat = z.ravel().tolist()
    filled = list(flat)
    receiver = [-1] * n
    seen = bytearray(n)
    heap: list[tuple[float, float, int]] = []
    edge = np.zeros((h, w), bool)
    edge[0], edge[-1], edge[:, 0], edge[:, -1] = True, True, True, True
    edge_idx = np.flatnonzero(edge)
    limit = np.quantile(z.ravel()[edge_idx], min(max(outlet_share, 0.0), 1.0))
    for i in edge_idx[z.ravel()[edge_idx] <= limit].tolist():
        heap.append((flat[i], flat[i], i))
        seen[i] = 1
    heapq.heapify(heap)
    order: list[int] = []
    offsets = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]
    pop, push = heapq.heappop, heapq.heappush
    while heap:
        zc, _, i = pop(heap)
        order.append(i)
        r, c = divmod(i, w)
        for dr, dc in offsets:
            rr, cc = r + dr, c + dc
            if 0 <= rr < h and 0 <= cc < w:
                j = rr * w + cc
                if not seen[j]:
                    seen[j] = 1
                    receiver[j] = i
                    zo = flat[j]
                    zj = zo if zo > zc else zc  # depressions fill flat; inside, the lowest goes first
                    filled[j] = zj
                    push(heap, (zj, zo, j))
    return (np.asarray(filled, dtype=np.float64).reshape(h, w),
            np.asarray(receiver, dtype=np.int64), np.asarray(order, dtype=np.int64))


def _flow_accumulation(receiver: np.ndarray, order: np.ndarray) -> np.ndarray:
    acc = [1.0] * len(receiver)
    rec = receiver.tolist()
    for i in reversed(order.tolist()):
        j = rec[i]
        if j >= 0:
            acc[j] += acc[i]
    return np.asarray(acc, dtype=np.float64)


def _draw_channels(shape: tuple[int, int], factor: int, receiver: np.ndarray, zc: np.ndarray,
                   area_km2: np.ndarray, min_area_km2: float, jitter: tuple[np.ndarray, np.ndarray]):
    """Rasterise channel segments (cell centre -> receiver centre) at full resolution.

    Returns (centreline mask, channel z, channel area) images, values set on the centreline.
    """
    h, w = shape
    wc = zc.shape[1]
    cells = np.flatnonzero((area_km2.ravel() >= min_area_km2) & (receiver >= 0))
    line = np.zeros(shape, bool)
    z_img = np.zeros(shape, np.float32)
    a_img = np.zeros(shape, np.float32)
    if cells.size == 0:
        return line, z_img, a_img
    # smooth courses: a quadratic Bezier from mid(cell, receiver) to mid(receiver, next),
    # bent at the receiver; channel heads add the straight half from the cell to the start
    rec = receiver[cells]
    rec2 = np.where(receiver[rec] >= 0, receiver[rec], rec)
    r0, c0 = np.divmod(cells, wc)
    r1, c1 = np.divmod(rec, wc)
    r2, c2 = np.divmod(rec2, wc)
    has_donor = np.bincount(rec, minlength=receiver.size) > 0
    head = ~has_donor[cells]
    n_steps = 2 * factor + 1
    t = np.linspace(0.0, 1.0, n_steps, dtype=np.float32)[None, :]
    p0y, p0x = (r0 + r1) / 2.0, (c0 + c1) / 2.0
    p2y, p2x = (r1 + r2) / 2.0, (c1 + c2) / 2.0
    by = (1 - t) ** 2 * p0y[:, None] + 2 * (1 - t) * t * r1[:, None] + t ** 2 * p2y[:, None]
    bx = (1 - t) ** 2 * p0x[:, None] + 2 * (1 - t) * t * c1[:, None] + t ** 2 * p2x[:, None]
    hy = r0[:, None] * (1 - t) + p0y[:, None] * t
    hx = c0[:, None] * (1 - t) + p0x[:, None] * t
    hy = np.where(head[:, None], hy, by[:, :1])
    hx = np.where(head[:, None], hx, bx[:, :1])
    y = (np.concatenate([hy, by], axis=1) + 0.5) * factor
    x = (np.concatenate([hx, bx], axis=1) + 0.5) * factor
    zf = zc.ravel()
    zm0 = (zf[cells] + zf[rec]) / 2.0
    zm2 = (zf[rec] + zf[rec2]) / 2.0
    zb = zm0[:, None] * (1 - t) + zm2[:, None] * t
    zh = zf[cells][:, None] * (1 - t) + zm0[:, None] * t
    z = np.concatenate([zh, zb], axis=1)
    yi = np.clip(y.astype(np.int64), 0, h - 1)
    xi = np.clip(x.astype(np.int64), 0, w - 1)
    # meander: displace by a smooth jitter field sampled at the point
    jy, jx = jitter
    yj = np.clip(np.round(y + jy[yi, xi]).astype(np.int64), 0, h - 1)
    xj = np.clip(np.round(x + jx[yi, xi]).astype(np.int64), 0, w - 1)
    a = np.broadcast_to(area_km2.ravel()[cells][:, None], z.shape)
    # draw small channels first so that large ones win where they overlap
    order = np.argsort(a[:, 0], kind="stable")
    yj, xj, z, a = yj[order].ravel(), xj[order].ravel(), z[order].ravel(), a[order].ravel()
    line[yj, xj] = True
    z_img[yj, xj] = z
    a_img[yj, xj] = a
    return line, z_img, a_img


def _sheared(a: np.ndarray, fill: float) -> np.ndarray:
    """Shift row i right by i (diagonals become columns); shape (H, W + H)."""
    h, w = a.shape
    out = np.full((h, w + h), fill, dtype=a.dtype)
    rows = np.arange(h)[:, None]
    out[rows, np.arange(w)[None, :] + rows] = a
    return out


def _unsheared(a: np.ndarray, w: int) -> np.ndarray:
    h = a.shape[0]
    rows = np.arange(h)[:, None]
    return a[rows, np.arange(w)[None, :] + rows]


def _sweep(z: np.ndarray, cost: np.ndarray, axis: int, reverse: bool) -> np.ndarray:
    """One directional pass of z(x) = min over sources (z_src + path cost), vectorised."""
    if reverse:
        z, cost = np.flip(z, axis), np.flip(cost, axis)
    c = np.cumsum(cost, axis=axis, dtype=np.float32)
    out = c + np.minimum.accumulate(z - c, axis=axis)
    out = np.minimum(out, z)
    return np.flip(out, axis) if reverse else out


def cost_envelope(z_src: np.ndarray, cost_per_px: np.ndarray, rounds: int = 2, cancel=None) -> np.ndarray:
    """Lower envelope of cones: min over sources of (source z + accumulated cost along a path).

    ``z_src`` is +inf off the sources. Paths go in 8 directions (diagonal cost x sqrt 2) by
    repeated sweeps; an octagonal approximation of the cost distance, good to a few %.
    """
    from ..progress import check_cancel

    z = z_src.astype(np.float32)
    cost = cost_per_px.astype(np.float32)
    h, w = z.shape
    for _ in range(rounds):
        check_cancel(cancel)
        for axis in (0, 1):
            for rev in (False, True):
                z = _sweep(z, cost, axis, rev)
        for flip in (False, True):
            check_cancel(cancel)
            zz = np.flip(z, 1) if flip else z
            cc = np.flip(cost, 1) if flip else cost
            zs = _sheared(zz, np.inf)
            cs = _sheared(cc * np.float32(np.sqrt(2.0)), np.float32(0.0))
            for rev in (False, True):
                zs = _sweep(zs, cs, 0, rev)
            zz = _unsheared(zs, w)
            z = np.flip(zz, 1) if flip else zz
    return z


def _add_inflow(rng: np.random.Generator, area: np.ndarray, receiver: np.ndarray, shape: tuple[int, int],
                inflow_km2: float) -> None:
    """A river from outside: add ``inflow_km2`` along the path from an edge cell to its outlet."""
    hc, wc = shape
    edge = np.zeros(shape, bool)
    edge[0], edge[-1], edge[:, 0], edge[:, -1] = True, True, True, True
    idx = np.flatnonzero(edge.ravel() & (receiver >= 0))
    if idx.size == 0:
        return
    start = int(rng.choice(idx))
    seen = 0
    i = start
    while i >= 0 and seen <= hc * wc:
        area[i] += inflow_km2
        i = int(receiver[i])
        seen += 1


def make_terrain(rng: np.random.Generator, height: int, width: int, pixel_size_m: float = 10.0,
                 base_elevation_m: float = 1500.0, hillslope_deg: float = 29.0,
                 channel_steepness: float = 0.09, floor_m_per_sqrt_km2: float = 6.0,
                 inflow_km2: float = 0.0, plateau: float = 0.0, cancel=None, pool=None) -> Terrain:
    """Generate a terrain of the given shape. Deterministic for a given ``rng`` state.

    ``hillslope_deg``: typical hillside angle; ``channel_steepness``: channel gradient at
    1 km2 upstream area (gradient = k * A**-0.45, the stream-power steady state);
    ``floor_m_per_sqrt_km2``: half-width of the flat valley floor (floodplain) of a river,
    per square root of its upstream area; ``inflow_km2``: a river entering the scene from
    outside with this upstream area (0: none), flowing through it on a gentle, wide floor;
    ``plateau``: 0 none, else the share (0-1) of the relief above which the ground flattens
    into a plateau. ``cancel``: a CancelToken checked between the steps. ``pool``: an executor
    that makes some noise fields beside the rest (the same terrain, sooner).
    """
    from ..progress import check_cancel

    px = float(pixel_size_m)
    shape = (int(height), int(width))
    # drainage tree on a coarse grid (cells of ~40 m, at most ~200 x 200 cells)
    factor = max(int(round(40.0 / px)) if px < 40 else 1, int(np.ceil(max(shape) / 200.0)), 1)
    hc, wc = -(-shape[0] // factor), -(-shape[1] // factor)
    coarse_px = px * factor
    trend = spectral_noise(rng, (hc, wc), beta=4.0, min_wavelength_px=3000 / coarse_px)
    ridges = np.abs(spectral_noise(rng, (hc, wc), beta=3.0, min_wavelength_px=600 / coarse_px,
                                   max_wavelength_px=6000 / coarse_px))
    white = rng.standard_normal((hc, wc)).astype(np.float32)
    z_net = trend + 0.5 * ridges + 0.25 * white
    _, receiver, order = _priority_flood(z_net, outlet_share=0.08)
    check_cancel(cancel)
    cell_km2 = coarse_px ** 2 / 1e6
    area = _flow_accumulation(receiver, order) * cell_km2
    if inflow_km2 > 0:
        _add_inflow(rng, area, receiver, (hc, wc), inflow_km2)
    # channel long profiles: steady state gradient k * A^-0.45, integrated from the outlets
    rr, cc = np.divmod(np.arange(hc * wc), wc)
    rec = np.where(receiver >= 0, receiver, np.arange(hc * wc))
    rr2, cc2 = np.divmod(rec, wc)
    seg_m = coarse_px * np.hypot(rr - rr2, cc - cc2)
    grad = np.minimum(channel_steepness * area ** -0.45, 0.7)
    rise = (seg_m * grad).tolist()
    t_norm = (trend - trend.min()) / max(float(np.ptp(trend)), 1e-6)
    z_ch = (t_norm.ravel() * 0.08 * max(shape) * px / 10.0).astype(np.float64).tolist()
    rec_l = receiver.tolist()
    for i in order.tolist():
        j = rec_l[i]
        if j >= 0:
            z_ch[i] = z_ch[j] + rise[i]
    z_ch = np.asarray(z_ch).reshape(hc, wc)
    area = area.reshape(hc, wc)
    # the generator's last draws, taken now; their fields are made beside the work below (by
    # ``pool``) until each is needed
    jitter_later = [field_later(draw_noise(rng, shape, 2.5, 80 / px, 1500 / px), pool if i == 0 else None)
                    for i in range(2)]  # one made beside, one here
    theta_later = field_later(draw_noise(rng, shape, 2.5, 100 / px, 3000 / px), pool)
    rough_later = field_later(draw_noise(rng, shape, beta=2.5, min_wavelength_px=25 / px,
                                         max_wavelength_px=400 / px), pool)
    jitter = (0.5 * factor * jitter_later[0](), 0.5 * factor * jitter_later[1]())
    min_area = 0.02
    line, z_line, a_line = _draw_channels(shape, factor, receiver, z_ch, area, min_area, jitter)
    if not line.any():  # a tiny grid: the lowest pixel drains it
        line[shape[0] // 2, shape[1] // 2] = True
        a_line[line] = min_area
    check_cancel(cancel)
    dist, (iy, ix) = ndimage.distance_transform_edt(~line, return_indices=True)
    dist = dist.astype(np.float32)
    z_near = z_line[iy, ix]
    a_near = a_line[iy, ix]
    # flat floors along the bigger rivers (width in metres grows with sqrt of area)
    floor_m = np.where(a_near > 2.0, floor_m_per_sqrt_km2 * np.sqrt(a_near), 0.0)
    src = np.where((dist * px <= floor_m) | line, z_near, np.inf)
    # hillsides: cost distance from the channels with a varying hillslope angle
    theta = hillslope_deg + 7.0 * theta_later()
    theta = np.clip(theta, 8.0, 50.0)
    cost = np.tan(np.radians(theta)) * px
    half = 2 if (px < 15 and min(shape) >= 64) else 1
    if half > 1:  # the cost distance at 2x coarser pixels is plenty (it is smoothed below)
        hh, wh = -(-shape[0] // half), -(-shape[1] // half)
        src_p = np.pad(src, ((0, hh * half - shape[0]), (0, wh * half - shape[1])), constant_values=np.inf)
        src_h = src_p.reshape(hh, half, wh, half).min(axis=(1, 3))
        z_h = cost_envelope(src_h, cost[::half, ::half] * half, cancel=cancel)
        z = ndimage.zoom(z_h, half, order=1, prefilter=False, grid_mode=False)
        z = np.pad(z, ((0, max(0, shape[0] - z.shape[0])), (0, max(0, shape[1] - z.shape[1]))), mode="edge")
        z = z[:shape[0], :shape[1]]
        on = np.isfinite(src)
        z[on] = np.minimum(z[on], src[on])
    else:
        z = cost_envelope(src, cost, cancel=cancel)
    check_cancel(cancel)
    # rounded ridge crests and fine roughness (gullies, spurs)
    z = ndimage.gaussian_filter(z, 1.2 * 10.0 / px)
    rough = rough_later()
    floor = (dist * px <= floor_m) & (floor_m > 0)
    hills = smoothstep(dist, 1.0, 4.0) * (1.0 - ndimage.uniform_filter(floor.astype(np.float32), 5))
    z += ROUGHNESS_M * rough * hills  # valley floors stay flat
    z -= float(z.min())
    span = float(z.max())
    top = MAX_ELEVATION_M - base_elevation_m
    if span > top:  # compress the highest part to stay below the elevation limit
        z = np.where(z > 0.8 * top, 0.8 * top + (z - 0.8 * top) * (0.2 * top) / (span - 0.8 * top), z)
    check_cancel(cancel)
    if plateau > 0:  # flat tops above a level, with a rounded rim
        level = float(np.quantile(z[::4, ::4], 1.0 - plateau))
        rim = 40.0
        above = np.clip(z - level, 0.0, None)
        z = np.where(z > level, level + rim * (1.0 - np.exp(-above / rim)) + 0.04 * above, z)
    # the true terrain (the delivered DEM is degraded from it: dem.py)
    z = ndimage.gaussian_filter(z, 0.7 * 10.0 / px)
    check_cancel(cancel)
    elevation = (z + base_elevation_m).astype(np.float32)
    slope = slope_horn_deg(elevation, px, px)
    gy, gx = np.gradient(elevation, px)
    return Terrain(elevation, slope, gx.astype(np.float32), (-gy).astype(np.float32),
                   dist, a_near.astype(np.float32), px, floor)
