"""What re-thresholding a result reads and derives, kept in memory for the next threshold.

Every threshold change on the Compare page, every download and every report re-thresholds a
finished result (:func:`landslide_core.result_views.rethreshold`). Reading its probabilities
and evidence (eight float32 rasters) and deriving what does not depend on the threshold (the
spectral change, the valley floor and the slope directions) cost more than the re-thresholding
itself at 400 km2, so they are kept for the latest ``MAX_RESULTS`` results, and the pair
results themselves (masks, change, new landslides) for the latest ``MAX_PAIRS`` (result,
threshold, minimum area) (``bench/interactive.py`` measures both), and the outlines of the
other change classes (what the review section shows) for the latest ``MAX_OUTLINES``.

Entries are keyed by the result folder and the size and modification time of each file they
were read from, so a result written again (a new ``done.json``, a replaced raster) is read
again. Arrays handed out are read-only: callers share them. Memory at 400 km2 (2000 x 2000
px): about 160 MB per result's inputs and 45 MB per pair result.

Each entry is made once: a caller asking for an entry that another thread is making waits for
it. :func:`prefetch` makes entries ahead in one background thread (the thresholds a slider
step away); a caller that needs an entry nobody is making first stops the prefetch, so that
the two never share the CPU.
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

from .errors import Cancelled
from .progress import CancelToken

MAX_RESULTS = 2
#: Pair results kept: the one on screen, the neighbours :func:`prefetch` makes, one more.
MAX_PAIRS = 4
#: Outlines of the other change classes (persisting, vanished) per pair: small (vectors only).
MAX_OUTLINES = 8
PREFETCH_THREAD = "landslide-prefetch"


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
    """A small thread-safe least-recently-used map whose values are each made once (a second
    caller waits for the first); values are made outside the lock."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._making: dict[Hashable, threading.Event] = {}
        self._lock = threading.Lock()

    def get_or_make(self, key: Hashable, make: Callable[[], Any],
                    on_miss: Optional[Callable[[], None]] = None) -> Any:
        while True:
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    return self._items[key]
                busy = self._making.get(key)
                if busy is None:
                    done = self._making[key] = threading.Event()
                    break
            busy.wait()  # another thread makes it: take its value (or make it, if it failed)
        try:
            if on_miss is not None:
                on_miss()
            value = make()
            with self._lock:
                self._items[key] = value
                self._items.move_to_end(key)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
            return value
        finally:
            with self._lock:
                del self._making[key]
            done.set()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_inputs = _LRU(MAX_RESULTS)
_pairs = _LRU(MAX_PAIRS)
_outlines = _LRU(MAX_OUTLINES)


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


def _in_prefetch() -> bool:
    return threading.current_thread().name == PREFETCH_THREAD


def cached_inputs(key: Hashable, make: Callable[[], PairInputs]) -> PairInputs:
    return _inputs.get_or_make(key, make, None if _in_prefetch() else stop_prefetch)


def cached_pair(key: Hashable, make: Callable[[], Any]) -> Any:
    return _pairs.get_or_make(key, make, None if _in_prefetch() else stop_prefetch)


def cached_outlines(key: Hashable, make: Callable[[], Any]) -> Any:
    return _outlines.get_or_make(key, make, None if _in_prefetch() else stop_prefetch)


class _Prefetch:
    """One background thread making entries ahead; a newer request replaces an older one."""

    def __init__(self):
        self.lock = threading.Lock()
        self.queue: list[tuple[CancelToken, Callable[[float, CancelToken], Any], list[float]]] = []
        self.token: Optional[CancelToken] = None
        self.worker: Optional[threading.Thread] = None

    def submit(self, make: Callable[[float, CancelToken], Any], thresholds: list[float]) -> None:
        token = CancelToken()
        with self.lock:
            if self.token is not None:
                self.token.cancel()
            self.token = token
            self.queue[:] = [(token, make, list(thresholds))]
            if self.worker is None or not self.worker.is_alive():
                self.worker = threading.Thread(target=self._loop, name=PREFETCH_THREAD, daemon=True)
                self.worker.start()

    def stop(self) -> None:
        with self.lock:
            if self.token is not None:
                self.token.cancel()
            self.queue.clear()

    def _loop(self) -> None:
        while True:
            with self.lock:
                if not self.queue:
                    self.worker = None
                    return
                token, make, thresholds = self.queue.pop(0)
            for t in thresholds:
                if token.cancelled:
                    break
                try:
                    make(t, token)
                except Cancelled:
                    break
                except Exception:  # noqa: BLE001 - the page's own call reports it
                    break

    def idle(self, timeout_s: float) -> bool:
        """Wait until no prefetch runs (True) or ``timeout_s`` passed (False)."""
        worker = self.worker
        if worker is None:
            return True
        worker.join(timeout_s)
        return not worker.is_alive()


_prefetch = _Prefetch()


def prefetch(make: Callable[[float, CancelToken], Any], thresholds: list[float]) -> None:
    """Make ``make(t, cancel)`` for each threshold in a background thread (e.g. one slider step
    either side of the one on screen), so that the next step finds its pair result ready. A
    newer call, or a caller that must make an entry itself, cancels it; errors are left to the
    real call."""
    _prefetch.submit(make, thresholds)


def stop_prefetch() -> None:
    _prefetch.stop()


def prefetch_idle(timeout_s: float = 30.0) -> bool:
    """Wait for the background prefetch to finish (benchmarks, tests)."""
    return _prefetch.idle(timeout_s)


def clear() -> None:
    """Forget every kept input and pair result (tests; memory pressure)."""
    _inputs.clear()
    _pairs.clear()
    _outlines.clear()


__all__ = ["PairInputs", "MAX_RESULTS", "MAX_PAIRS", "MAX_OUTLINES", "cached_inputs", "cached_pair", "cached_outlines",
           "files_stamp", "read_only",
           "prefetch", "stop_prefetch", "prefetch_idle", "clear"]
