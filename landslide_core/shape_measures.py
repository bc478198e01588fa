"""Shape measures of labelled objects, all objects at once: compactness, rectangularity (and the
width of the smallest rotated rectangle), elongation and alignment with the downslope direction.

See :mod:`landslide_core.objects` for what each measure means and the rules that use them.
The objects' pixels are grouped once (:class:`~landslide_core.label_groups.LabelGroups`), the
rotated rectangles of all objects are found in one GEOS call, and each object's numbers are
computed from the same values in the same order as a loop over cropped objects would (the
equality is tested against that loop in ``tests/test_perf_equivalence.py``).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .label_groups import LabelGroups, outside_edges, per_label_mean

#: Corners of a pixel, (row, col) offsets from its top-left corner.
_CORNERS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float64)


def shape_measures(labels: np.ndarray, n: int, down_row: Optional[np.ndarray],
                   down_col: Optional[np.ndarray], groups: Optional[LabelGroups] = None) -> dict[str, np.ndarray]:
    """Compactness, rectangularity, width (pixels), elongation and downslope alignment of the
    objects 1..n of ``labels`` (arrays of length n, NaN for a label without pixels);
    ``groups``: the labels' :class:`LabelGroups` when the caller has them."""
    import shapely

    compact = np.full(n, np.nan)
    rect = np.full(n, np.nan)
    width = np.full(n, np.nan)
    elong = np.full(n, np.nan)
    align = np.full(n, np.nan)
    out = {"compactness": compact, "rectangularity": rect, "width_px": width, "elongation": elong,
           "downslope_alignment": align}
    if n == 0:
        return out
    if groups is None or groups.n != n:
        groups = LabelGroups.of(labels, n)
    mean_dr = per_label_mean(labels, n, down_row, groups)
    mean_dc = per_label_mean(labels, n, down_col, groups)
    rows, cols = groups.rows_cols()
    r0, c0 = groups.bbox_starts(rows, cols)
    obj = groups.label_of_pixels()
    rr_all = rows - r0[obj]  # coordinates inside each object's bounding box
    cc_all = cols - c0[obj]
    edges = outside_edges(labels, n)
    starts, counts = groups.starts, groups.counts
    # rectangularity: the smallest rotated rectangle of the pixels' corners, all objects in one call
    big = counts >= 3
    env_area = np.full(n, np.nan)
    env_width = np.full(n, np.nan)
    if big.any():
        # The rectangle depends only on the convex hull of the corners, which the first and the
        # last pixel of each row of an object already span (an object's pixels run row by row,
        # left to right).
        run = obj * groups.shape[0] + rows
        first = np.ones(run.size, bool)
        first[1:] = run[1:] != run[:-1]
        last = np.ones(run.size, bool)
        last[:-1] = first[1:]
        ends = (first | last) & big[obj]
        pts = (np.stack([rr_all[ends], cc_all[ends]], 1)[:, None, :] + _CORNERS[None]).reshape(-1, 2)
        per_object = 4 * np.bincount(obj[ends], minlength=n)[big]
        envelopes = shapely.oriented_envelope(shapely.from_wkb(_multipoint_wkb(pts, per_object)))
        env_area[big] = shapely.area(envelopes)
        ring_xy, ring_of = shapely.get_coordinates(shapely.get_exterior_ring(envelopes), return_index=True)
        ring_start = np.searchsorted(ring_of, np.arange(int(big.sum())))
        three = ring_xy[ring_start[:, None] + np.arange(3)[None, :]]  # the first three corners of each ring
        sides = np.hypot(*np.moveaxis(np.diff(three, axis=1), 2, 0))
        env_width[big] = sides.min(axis=1)
    # ellipse of inertia: centred coordinates (the mean of integers is exact, so these are the
    # values each object's own mean gives), then each object's sums in its own order
    filled = counts > 0
    means_r = np.zeros(n)
    means_c = np.zeros(n)
    means_r[filled] = np.add.reduceat(rr_all, starts[:-1][filled]).astype(np.float64) / counts[filled]
    means_c[filled] = np.add.reduceat(cc_all, starts[:-1][filled]).astype(np.float64) / counts[filled]
    y_all = rr_all - means_r[obj]
    x_all = cc_all - means_c[obj]
    yy_all, xx_all, xy_all = y_all * y_all, x_all * x_all, x_all * y_all
    add = np.add.reduce
    for i in range(n):
        s, e = int(starts[i]), int(starts[i + 1])
        if e == s:
            continue
        m = e - s
        area = float(m)
        # the staircase of pixel edges overstates a smooth outline by ~4/pi
        perimeter = int(edges[i]) * math.pi / 4.0
        compact[i] = min(1.0, 4.0 * math.pi * area / max(perimeter * perimeter, 1e-9))
        cyy, cxx, cxy = add(yy_all[s:e]) / m + 1 / 12, add(xx_all[s:e]) / m + 1 / 12, add(xy_all[s:e]) / m
        tr, det = cyy + cxx, cyy * cxx - cxy * cxy
        disc = math.sqrt(max(tr * tr / 4 - det, 0.0))
        l1, l2 = tr / 2 + disc, max(tr / 2 - disc, 1e-9)
        elong[i] = math.sqrt(l1 / l2)
        # long-axis direction (row, col) = eigenvector of the largest eigenvalue
        if abs(cxy) > 1e-12:
            ar, ac = l1 - cxx, cxy
        else:
            ar, ac = (1.0, 0.0) if cyy >= cxx else (0.0, 1.0)
        norm_a = math.hypot(ar, ac)
        dr, dc = mean_dr[i], mean_dc[i]
        norm_d = math.hypot(dr, dc) if np.isfinite(dr) and np.isfinite(dc) else 0.0
        if norm_a > 0 and norm_d > 1e-6:
            align[i] = abs(ar * dr + ac * dc) / (norm_a * norm_d)
        if big[i]:
            rect[i] = min(1.0, area / max(float(env_area[i]), 1e-9))
            width[i] = float(env_width[i])
        else:
            rect[i], width[i] = 1.0, 1.0
    return out


def _multipoint_wkb(xy: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Little-endian WKB of MultiPoints, ``counts[i]`` consecutive points of ``xy`` (N, 2) each:
    GEOS reads them in C, with no Python object per point."""
    point = np.dtype([("order", "u1"), ("kind", "<u4"), ("x", "<f8"), ("y", "<f8")])  # 21 bytes
    head = np.dtype([("order", "u1"), ("kind", "<u4"), ("n", "<u4")])  # 9 bytes
    counts = np.asarray(counts, np.int64)
    offsets = np.zeros(counts.size + 1, np.int64)
    np.cumsum(head.itemsize + point.itemsize * counts, out=offsets[1:])
    buf = np.zeros(int(offsets[-1]), np.uint8)
    heads = np.zeros(counts.size, head)
    heads["order"], heads["kind"], heads["n"] = 1, 4, counts
    buf[offsets[:-1, None] + np.arange(head.itemsize)] = heads.view(np.uint8).reshape(-1, head.itemsize)
    pts = np.zeros(len(xy), point)
    pts["order"], pts["kind"], pts["x"], pts["y"] = 1, 1, xy[:, 0], xy[:, 1]
    group_start = np.zeros(counts.size, np.int64)
    np.cumsum(counts[:-1], out=group_start[1:])
    k = np.arange(len(xy)) - np.repeat(group_start, counts)  # index of each point in its group
    at = np.repeat(offsets[:-1] + head.itemsize, counts) + point.itemsize * k
    buf[at[:, None] + np.arange(point.itemsize)] = pts.view(np.uint8).reshape(-1, point.itemsize)
    raw = buf.tobytes()
    return np.array([raw[a:b] for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())], dtype=object)


__all__ = ["shape_measures"]
