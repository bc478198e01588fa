"""The Compare page's speed-ups keep their answers: kept entries are made once and equal a fresh
computation, the background prefetch gives way, and overlays from a display grid equal the
nearest-neighbour reprojection they replace."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.transform import from_origin

from landslide_core import display, rethreshold_cache
from landslide_core.errors import Cancelled
from landslide_core.progress import check_cancel


def test_an_entry_is_made_once_when_two_threads_ask_for_it():
    lru = rethreshold_cache._LRU(2)
    calls = []

    def make():
        calls.append(threading.current_thread().name)
        time.sleep(0.2)
        return object()

    got = []
    threads = [threading.Thread(target=lambda: got.append(lru.get_or_make("k", make))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(calls) == 1
    assert len(got) == 2 and got[0] is got[1]


def test_a_failed_make_is_not_kept_and_the_least_recently_used_entry_goes_first():
    lru = rethreshold_cache._LRU(2)
    with pytest.raises(ValueError):
        lru.get_or_make("bad", lambda: (_ for _ in ()).throw(ValueError("boom")))
    assert lru.get_or_make("bad", lambda: "made again") == "made again"
    lru.get_or_make("a", lambda: "a")
    lru.get_or_make("bad", lambda: pytest.fail("kept: not made again"))  # "bad" used: "a" is the oldest
    lru.get_or_make("b", lambda: "b")
    assert lru.get_or_make("a", lambda: "a again") == "a again"


def test_prefetch_makes_ahead_and_a_newer_request_cancels_the_older():
    rethreshold_cache.stop_prefetch()
    assert rethreshold_cache.prefetch_idle(10)
    started, made, tokens = threading.Event(), [], []

    def slow(t, cancel):
        tokens.append(cancel)
        started.set()
        for _ in range(200):  # until cancelled (at most 10 s)
            check_cancel(cancel)
            time.sleep(0.05)
        made.append(t)

    rethreshold_cache.prefetch(slow, [0.3, 0.31])
    assert started.wait(10)
    rethreshold_cache.prefetch(lambda t, cancel: made.append(t), [0.5, 0.49])
    assert rethreshold_cache.prefetch_idle(10)
    assert tokens[0].cancelled
    assert made == [0.5, 0.49]  # the older request stopped at its first threshold


def test_stop_prefetch_cancels_the_running_one():
    started, outcome = threading.Event(), []

    def slow(t, cancel):
        started.set()
        try:
            for _ in range(200):
                check_cancel(cancel)
                time.sleep(0.05)
        except Cancelled:
            outcome.append("cancelled")
            raise

    rethreshold_cache.prefetch(slow, [0.4])
    assert started.wait(10)
    t0 = time.perf_counter()
    rethreshold_cache.stop_prefetch()
    assert rethreshold_cache.prefetch_idle(10)
    assert outcome == ["cancelled"] and time.perf_counter() - t0 < 5


@pytest.mark.parametrize("epsg", [32718, 32633])
def test_overlays_from_the_display_grid_equal_the_nearest_reprojection(epsg):
    rng = np.random.default_rng(epsg)
    classes = rng.choice(np.array([0, 1, 2, 3, 255], dtype=np.uint8), size=(70, 90), p=[0.6, 0.1, 0.1, 0.1, 0.1])
    transform, crs = from_origin(400_000.0, 8_700_000.0, 10.0, 10.0), CRS.from_epsg(epsg)
    grid = display.DisplayGrid(classes.shape, transform, crs, max_px=64)
    # what the overlays were before: the class raster itself reprojected (nearest), off-grid 0
    direct, bounds = display.to_lonlat(classes.astype(np.float32), transform, crs, Resampling.nearest, 64,
                                       nodata=-1.0)
    expected = np.where(direct < 0, 0, direct).astype(np.uint8)
    assert np.array_equal(grid.sample(classes), expected)
    assert grid.bounds == bounds
    with pytest.raises(ValueError, match="not on this grid"):
        grid.sample(classes[:10])
