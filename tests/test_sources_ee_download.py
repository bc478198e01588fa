"""Chunked computePixels download against the fake ee: planning, reassembly, retries, splits."""
from __future__ import annotations

import random

import numpy as np
import pytest
from fake_ee import (computation_timed_out, expected_value, fake_ee, out_of_memory, rate_limited,  # noqa: F401 - fixture
                     socket_timeout, unavailable)
from test_sources_request import POST, PRE, square_km

from landslide_core.errors import Cancelled, SourceError
from landslide_core.grid import grid_centered
from landslide_core.progress import CancelToken
from landslide_core.sources.ee_download import (MAX_REQUEST_BYTES, DownloadStats, download_pixels,
                                                ee_compute_fn, plan_chunks)
from landslide_core.sources.request import AnalysisRequest
from landslide_core.sources.retry import FATAL, RETRY, SPLIT, RetryPolicy, classify

BANDS14 = tuple(f"b{i}" for i in range(14))


def no_wait_policy(sleeps: list, attempts: int = 5) -> RetryPolicy:
    return RetryPolicy(max_attempts=attempts, base_delay_s=1.0, max_delay_s=30.0, sleep=sleeps.append,
                       rng=random.Random(0))


def expected_block(grid, band_index: int, rows=slice(None), cols=slice(None)) -> np.ndarray:
    t = grid.transform
    x = np.int64(round(t.c / t.a)) + np.arange(grid.width, dtype=np.int64)[cols][None, :]
    y = np.int64(round(t.f / t.e)) + np.arange(grid.height, dtype=np.int64)[rows][:, None]
    return expected_value(band_index, x, y)


def test_plan_chunks_respects_both_limits_and_covers_the_grid_once():
    for w, h, n in [(2006, 2005, 14), (100, 100, 14), (40000, 10, 1), (5000, 300, 14)]:
        chunks = plan_chunks(w, h, n)
        cover = np.zeros((h, w), np.uint8)
        for c in chunks:
            assert c.nbytes(n) < MAX_REQUEST_BYTES and c.width <= 32768 and c.height <= 32768
            cover[c.row:c.row + c.height, c.col:c.col + c.width] += 1
        assert (cover == 1).all()
    assert len(plan_chunks(100, 100, 14)) == 1


def test_20km_aoi_14_float32_bands_split_under_48mb_and_reassembled_bit_for_bit(fake_ee):
    request = AnalysisRequest(square_km(20.0), PRE, POST)
    request.validate()
    grid = request.grid()
    assert grid.width >= 2000 and grid.height >= 2000
    stats = DownloadStats()
    done = []
    out = download_pixels(ee_compute_fn("expr", BANDS14), grid, BANDS14, max_workers=4,
                          policy=no_wait_policy([]), stats=stats,
                          progress=lambda d, t, s: done.append((d, t, s)))
    total_bytes = grid.width * grid.height * 14 * 4
    assert total_bytes > 4 * MAX_REQUEST_BYTES
    reqs = fake_ee.compute_requests
    assert len(reqs) == stats.chunks >= 5
    for r in reqs:
        dims = r["grid"]["dimensions"]
        assert dims["width"] * dims["height"] * 14 * 4 < 48_000_000
        assert r["fileFormat"] == "NUMPY_NDARRAY" and r["bandIds"] == list(BANDS14)
        assert r["grid"]["crsCode"] == "EPSG:32718"
        assert r["grid"]["affineTransform"]["scaleX"] == 10.0
    assert out.dtype == np.float32 and out.shape == (14, grid.height, grid.width)
    for k in range(14):
        exp = expected_block(grid, k)
        assert np.array_equal(out[k].view(np.uint32), exp.view(np.uint32)), f"band {k} differs"
    assert done[-1] == (stats.chunks, stats.chunks, "download") and len(done) == stats.chunks + 1


def test_two_rate_limits_then_success_means_two_retries(fake_ee):
    grid = grid_centered(-75.3, -12.1, 64, 48)
    fake_ee.errors = [rate_limited(), rate_limited()]
    sleeps, stats = [], DownloadStats()
    out = download_pixels(ee_compute_fn("expr", BANDS14), grid, BANDS14, policy=no_wait_policy(sleeps),
                          stats=stats)
    assert stats.retries == 2 and stats.requests == 3 and len(fake_ee.compute_requests) == 3
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0  # backoff with jitter
    assert np.array_equal(out[3], expected_block(grid, 3))


@pytest.mark.parametrize("make_error, cause", [(rate_limited, "rate limit (HTTP 429"),
                                               (unavailable, "server error"),
                                               (computation_timed_out, "computation timed out"),
                                               (socket_timeout, "network timeout")])
def test_five_failures_give_a_clear_error_naming_the_cause(fake_ee, make_error, cause):
    grid = grid_centered(-75.3, -12.1, 32, 32)
    fake_ee.errors = [make_error() for _ in range(5)]
    sleeps = []
    with pytest.raises(SourceError) as exc:
        download_pixels(ee_compute_fn("expr", BANDS14), grid, BANDS14, policy=no_wait_policy(sleeps))
    msg = str(exc.value)
    assert "failed 5 times" in msg and cause in msg and "try again" in msg
    assert len(fake_ee.compute_requests) == 5 and len(sleeps) == 4
    assert sleeps == sorted(sleeps)  # exponential backoff grows


def test_four_failures_then_success_still_succeeds(fake_ee):
    grid = grid_centered(-75.3, -12.1, 32, 32)
    fake_ee.errors = [unavailable(), socket_timeout(), computation_timed_out(), rate_limited()]
    stats = DownloadStats()
    download_pixels(ee_compute_fn("expr", BANDS14), grid, BANDS14, policy=no_wait_policy([]), stats=stats)
    assert stats.retries == 4


def test_memory_limit_splits_the_tile_in_four(fake_ee):
    grid = grid_centered(-75.3, -12.1, 100, 80)
    fake_ee.errors = [out_of_memory()]  # the whole tile fails once, as scripted
    fake_ee.memory_limit_px = 2500  # and by size: 100x80 fails, 50x40 = 2000 fits
    stats = DownloadStats()
    out = download_pixels(ee_compute_fn("expr", BANDS14), grid, BANDS14, policy=no_wait_policy([]), stats=stats)
    assert stats.splits == 1 and len(fake_ee.compute_requests) == 5
    sizes = sorted((r["grid"]["dimensions"]["width"], r["grid"]["dimensions"]["height"])
                   for r in fake_ee.compute_requests)
    assert sizes == [(50, 40)] * 4 + [(100, 80)]
    for k in (0, 13):
        assert np.array_equal(out[k], expected_block(grid, k))


def test_memory_limit_everywhere_gives_a_clear_error(fake_ee):
    grid = grid_centered(-75.3, -12.1, 64, 64)
    fake_ee.memory_limit_px = 1
    with pytest.raises(SourceError, match="User memory limit exceeded.*smaller area"):
        download_pixels(ee_compute_fn("expr", BANDS14), grid, BANDS14, policy=no_wait_policy([]))


def test_unknown_error_is_not_retried(fake_ee):
    from fake_ee import EEException

    grid = grid_centered(-75.3, -12.1, 32, 32)
    fake_ee.errors = [EEException("Image.select: Pattern 'B8A' did not match any bands.")]
    with pytest.raises(SourceError, match="Pattern 'B8A'"):
        download_pixels(ee_compute_fn("expr", BANDS14), grid, BANDS14, policy=no_wait_policy([]))
    assert len(fake_ee.compute_requests) == 1


def test_cancel_between_chunks(fake_ee):
    request = AnalysisRequest(square_km(8.0), PRE, POST)
    grid = request.grid()
    token = CancelToken()

    def progress(done, total, stage):
        if done >= 1:
            token.cancel()

    with pytest.raises(Cancelled):
        download_pixels(ee_compute_fn("expr", BANDS14), grid, BANDS14, max_workers=1,
                        policy=no_wait_policy([]), progress=progress, cancel=token, max_bytes=2_000_000)
    n_chunks = len(plan_chunks(grid.width, grid.height, 14, max_bytes=2_000_000))
    assert n_chunks > 4 and len(fake_ee.compute_requests) < n_chunks


def test_classify():
    from fake_ee import EEException

    assert classify(EEException("Too many concurrent aggregations."))[0] == RETRY
    assert classify(EEException("User memory limit exceeded."))[0] == SPLIT
    assert classify(TimeoutError())[0] == RETRY
    assert classify(EEException("Collection.loadTable: Table not found"))[0] == FATAL

    class HttpErr(Exception):
        class resp:  # noqa: N801 - mimics googleapiclient
            status = 502

    assert classify(HttpErr("boom")) == (RETRY, "server error (HTTP 502)")


def test_cancel_wakes_up_a_retry_wait(fake_ee):
    import threading
    import time

    grid = grid_centered(-75.3, -12.1, 32, 32)
    fake_ee.errors = [rate_limited() for _ in range(5)]
    token = CancelToken()
    threading.Timer(0.3, token.cancel).start()
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        download_pixels(ee_compute_fn("expr", BANDS14), grid, BANDS14, cancel=token,
                        policy=RetryPolicy(base_delay_s=20.0, sleep=time.sleep))
    assert time.monotonic() - t0 < 3.0
