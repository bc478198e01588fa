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
        # The rectangle depends only on the convex hull of the corners (GEOS takes the hull of
        # the input's coordinates first), which the outer corners of the first and the last
        # pixel of each row of an object already span (an object's pixels run row by row, left
        # to right). They go to GEOS as one line per object: built from the coordinates in C,
        # with no geometry per point.
        run = obj * groups.shape[0] + rows
        first = np.ones(run.size, bool)
        first[1:] = run[1:] != run[:-1]
        last = np.ones(run.size, bool)
        last[:-1] = first[1:]
        on = big[obj]
        left, right = first & on, last & on
        row_l, col_l, row_r, col_r = rr_all[left], cc_all[left], rr_all[right], cc_all[right]
        pts = np.stack([np.stack([row_l, col_l], 1), np.stack([row_l + 1, col_l], 1),
                        np.stack([row_r, col_r + 1], 1), np.stack([row_r + 1, col_r + 1], 1)], 1)
        pts = pts.reshape(-1, 2).astype(np.float64)
        which = np.repeat(obj[left], 4)
        index = np.searchsorted(np.flatnonzero(big), which)
        envelopes = shapely.oriented_envelope(shapely.linestrings(pts, indices=index))
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


__all__ = ["shape_measures"]
