"""What re-thresholding a result reads and derives, kept in memory for the next threshold.

Every threshold change on the Compare page, every download and every report re-thresholds a
finished result (:func:`landslide_core.result_views.rethreshold`). Reading its probabilities
and evidence (eight float32 rasters) and deriving what does not depend on the threshold (the
spectral change, the valley floor and the slope directions) cost more than the re-thresholding
itself at 400 km2, so they are kept for the latest ``MAX_RESULTS`` results, and the pair
results themselves (masks, change, new landslides) for the latest ``MAX_PAIRS`` (result,
threshold, minimum area) (``bench/interactive.py`` measures both).

Entries are keyed by the result folder and the size and modification time of each file they
were read from, so a result written again (a new ``done.json``, a replaced raster) is read
again. Arrays handed out are read-only: callers share them. Memory at 400 km2 (2000 x 2000
px): about 160 MB per result's inputs and 45 MB per pair result.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Hashable, Optional

import numpy as np
from rasterio.crs import CRS
from rasterio.transform import Affine

MAX_RESULTS = 2
MAX_PAIRS = 3


@dataclass
class PairInputs:
    """What re-thresholding one result needs that does not depend on the threshold."""

    pre_prob: np.ndarray
    post_prob: np.ndarray
    transform: Affine
    crs: CRS
    slope_deg: Optional[np.ndarray]
    elevation_m: Optional[np.ndarray]
    spectral: Any  # change.SpectralChange or None
    terrain: Any = None  # objects.Terrain of elevation_m for the result's valley radius, or None


class _LRU:
    """A small thread-safe least-recently-used map; values are made outside the lock."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_make(self, key: Hashable, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_inputs = _LRU(MAX_RESULTS)
_pairs = _LRU(MAX_PAIRS)


def files_stamp(paths: list[Path]) -> tuple:
    """(path, size, mtime) of each file (None for a missing one): what the key of an entry made
    from these files holds."""
    out = []
    for p in paths:
        try:
            st = p.stat()
            out.append((str(p), st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((str(p), None, None))
    return tuple(out)


def read_only(*arrays: Optional[np.ndarray]) -> None:
    for a in arrays:
        if isinstance(a, np.ndarray):
            a.setflags(write=False)


def cached_inputs(key: Hashable, make: Callable[[], PairInputs]) -> PairInputs:
    return _inputs.get_or_make(key, make)


def cached_pair(key: Hashable, make: Callable[[], Any]) -> Any:
    return _pairs.get_or_make(key, make)


def clear() -> None:
    """Forget every kept input and pair result (tests; memory pressure)."""
    _inputs.clear()
    _pairs.clear()


__all__ = ["PairInputs", "MAX_RESULTS", "MAX_PAIRS", "cached_inputs", "cached_pair", "files_stamp", "read_only",
           "clear"]
