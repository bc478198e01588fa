"""The pixels of labelled objects, grouped per object once, for measures without a loop over rasters.

A label raster (0 background, 1..n objects) is turned into one array of flat pixel indices
sorted by label, each object's pixels in row-major order (the order ``np.nonzero`` gives
inside the object's bounding box), with where each object starts. Per-object work then slices
that array instead of cropping, comparing and searching the raster once per object, which cost
most of the time of measuring objects and their change on large scenes (``bench/interactive.py``).
Measures computed from these groups are bit-for-bit those of the per-object code they replace:
the same values in the same order reach the same numpy reductions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np


@dataclass
class LabelGroups:
    """Pixels of objects 1..n of a label raster of ``shape``; object ``i`` (label ``i + 1``) has
    the flat indices ``pixels[starts[i]:starts[i + 1]]``, in row-major order."""

    shape: tuple[int, int]
    n: int
    pixels: np.ndarray   # int64 flat indices, grouped by label
    starts: np.ndarray   # int64 (n + 1,)
    counts: np.ndarray   # int64 (n,): pixels per object
    _objects: Optional[np.ndarray] = field(default=None, repr=False)

    @classmethod
    def of(cls, labels: np.ndarray, n: Optional[int] = None) -> "LabelGroups":
        labels = np.asarray(labels)
        if n is None:
            n = int(labels.max()) if labels.size else 0
        flat = labels.ravel()
        sel = np.flatnonzero(flat)
        lab = flat[sel]
        keep = lab <= n
        if not keep.all():
            sel, lab = sel[keep], lab[keep]
        order = np.argsort(lab, kind="stable")  # stable: row-major order within each object
        counts = np.bincount(lab, minlength=n + 1)[1:n + 1].astype(np.int64)
        starts = np.zeros(n + 1, np.int64)
        np.cumsum(counts, out=starts[1:])
        return cls((int(labels.shape[0]), int(labels.shape[1])), int(n), sel[order].astype(np.int64), starts, counts)

    def rows_cols(self) -> tuple[np.ndarray, np.ndarray]:
        """(row, col) of every grouped pixel (int64, aligned with ``pixels``)."""
        return np.divmod(self.pixels, self.shape[1])

    def label_of_pixels(self) -> np.ndarray:
        """Object index (0..n-1) of every grouped pixel."""
        if self._objects is None:
            self._objects = np.repeat(np.arange(self.n, dtype=np.int64), self.counts)
        return self._objects

    def bbox_starts(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First row and first column of each object's bounding box (0 for an empty object)."""
        r0 = np.zeros(self.n, np.int64)
        c0 = np.zeros(self.n, np.int64)
        filled = self.counts > 0
        if filled.any():
            starts = self.starts[:-1][filled]
            r0[filled] = np.minimum.reduceat(rows, starts)
            c0[filled] = np.minimum.reduceat(cols, starts)
        return r0, c0

    def values(self, raster: np.ndarray) -> np.ndarray:
        """The raster's values at the grouped pixels (aligned with ``pixels``)."""
        return np.asarray(raster).ravel().take(self.pixels)


def outside_edges(labels: np.ndarray, n: int) -> np.ndarray:
    """Per object 1..n (index i for label i + 1): pixel edges facing a pixel of another label or
    the outside of the raster (the perimeter in pixel edges)."""
    lab = np.asarray(labels)
    edges = np.zeros(n + 1, np.int64)

    def add(values: np.ndarray) -> None:
        values = values[values > 0]
        if values.size:
            edges[:] += np.bincount(values, minlength=n + 1)[:n + 1]

    down = lab[1:, :] != lab[:-1, :]
    add(lab[1:, :][down])
    add(lab[:-1, :][down])
    across = lab[:, 1:] != lab[:, :-1]
    add(lab[:, 1:][across])
    add(lab[:, :-1][across])
    for border in (lab[0, :], lab[-1, :], lab[:, 0], lab[:, -1]):
        add(border)
    return edges[1:]


def per_label_mean(labels: np.ndarray, n: int, values: Optional[np.ndarray],
                   groups: Optional[LabelGroups] = None) -> np.ndarray:
    """Per object 1..n the mean of the finite ``values`` at its pixels (NaN for none; all NaN
    without ``values``). ``groups``: the labels' :class:`LabelGroups` when the caller has them
    (the sums are the same: each object's values are added in row-major order either way)."""
    if values is None:
        return np.full(n, np.nan)
    if groups is not None and groups.n == n:
        v = groups.values(values).astype(np.float64)
        lab = groups.label_of_pixels() + 1
    else:
        flat = labels.ravel()
        sel = np.flatnonzero(flat)
        v = np.asarray(values).ravel()[sel].astype(np.float64)
        lab = flat[sel]
    ok = np.isfinite(v)
    s = np.bincount(lab[ok], weights=v[ok], minlength=n + 1)[1:]
    c = np.bincount(lab[ok], minlength=n + 1)[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c > 0, s / np.maximum(c, 1), np.nan)


__all__ = ["LabelGroups", "outside_edges", "per_label_mean"]
