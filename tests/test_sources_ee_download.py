"""Tiled computePixels downloads through the real earthengine-api client and the offline
service (tests/ee_service.py): the service's size rules, reassembly, retries, splits, cancel."""
from __future__ import annotations

import random
import threading
import time

import numpy as np
import pytest
from ee_service import (REQUEST_LIMIT_BYTES, SIDE_LIMIT_PX, TYPE_BYTES, bad_request, computation_timed_out,  # noqa: F401
                        deadline_exceeded, ee_service, expected_value, internal_error, key_config,
                        quota_exceeded, too_many_aggregations, total_request_size, unavailable)
from test_sources_request import POST, PRE, square_km

from landslide_core.errors import Cancelled, SourceError
from landslide_core.grid import grid_centered
from landslide_core.progress import CancelToken
from landslide_core.sources.earthengine import DOWNLOAD_BANDS, download_bands
from landslide_core.sources.ee_download import (MAX_REQUEST_BYTES, BandSpec, DownloadStats, bytes_per_pixel,
                                                download_pixels, ee_compute_fn, plan_chunks)
from landslide_core.sources.ee_signin import initialize
from landslide_core.sources.request import AnalysisRequest
from landslide_core.sources.retry import FATAL, RETRY, SPLIT, RetryPolicy, classify

FLOAT14 = download_bands("float32")
UINT16 = DOWNLOAD_BANDS


def service_size(width: int, height: int, bands) -> int:
    """The service's own count (tests/ee_service.py rule, written independently of the planner)."""
    return width * height * sum(TYPE_BYTES[b.dtype] + 1 for b in bands)


def no_wait(sleeps: list, attempts: int = 5) -> RetryPolicy:
    return RetryPolicy(max_attempts=attempts, base_delay_s=1.0, max_delay_s=30.0, sleep=sleeps.append,
                       rng=random.Random(0))


def image(ee, bands):
    """An image whose band types are set by explicit casts, as the source builds its own."""
    parts = [ee.Image.constant(0).rename(b.name) for b in bands]
    casts = {"uint16": "toUint16", "float32": "toFloat", "uint8": "toUint8"}
    return ee.Image.cat([getattr(p, casts[b.dtype])() for p, b in zip(parts, bands)])


@pytest.fixture
def signed_in(ee_service):
    initialize(key_config(ee_service.key), http_transport=ee_service)
    import ee

    return ee, ee_service


def expected_block(grid, band_index: int, dtype: str) -> np.ndarray:
    t = grid.transform
    x = np.int64(round(t.c / t.a)) + np.arange(grid.width, dtype=np.int64)[None, :]
    y = np.int64(round(t.f / t.e)) + np.arange(grid.height, dtype=np.int64)[:, None]
    return expected_value(band_index, x, y, dtype).astype(np.float32)


def fetch(ee, service, grid, bands=UINT16, **kw):
    stats = kw.pop("stats", DownloadStats())
    kw.setdefault("policy", no_wait([]))
    out = download_pixels(ee_compute_fn(image(ee, bands), bands), grid, bands, stats=stats, **kw)
    return out, stats


# --- the service's size rule ----------------------------------------------------------------------
def test_bytes_per_pixel_counts_one_mask_byte_per_band():
    assert bytes_per_pixel([b.dtype for b in FLOAT14]) == 14 * 5 == 70
    assert bytes_per_pixel([b.dtype for b in UINT16]) == 12 * 3 + 5 + 2 == 43
    assert MAX_REQUEST_BYTES == REQUEST_LIMIT_BYTES == 50_331_648


def test_plan_chunks_respects_the_service_rule_and_covers_the_grid_once():
    for w, h, bands in [(2006, 2005, FLOAT14), (900, 900, FLOAT14), (100, 100, UINT16), (40000, 10, UINT16),
                        (5000, 300, FLOAT14)]:
        chunks = plan_chunks(w, h, [b.dtype for b in bands])
        cover = np.zeros((h, w), np.uint8)
        for c in chunks:
            assert service_size(c.width, c.height, bands) <= REQUEST_LIMIT_BYTES
            assert max(c.width, c.height) <= SIDE_LIMIT_PX
            cover[c.row:c.row + c.height, c.col:c.col + c.width] += 1
        assert (cover == 1).all()
    assert len(plan_chunks(100, 100, [b.dtype for b in UINT16])) == 1


def test_square_aois_from_1_to_400_km2_every_half_km_fit_the_service_limits():
    """Every square AOI side 1..20 km (step 0.5): every planned tile is within the service's limits,
    for uint16 and for float32 optical bands. The old rule (4 bytes, no mask byte) broke some."""
    old_rule_broken = 0
    sides = [1.0 + 0.5 * i for i in range(39)]
    assert sides[-1] == 20.0
    for side in sides:
        grid = AnalysisRequest(square_km(side), PRE, POST).grid()
        for bands in (UINT16, FLOAT14):
            for c in plan_chunks(grid.width, grid.height, [b.dtype for b in bands]):
                assert service_size(c.width, c.height, bands) <= REQUEST_LIMIT_BYTES, (side, c)
                assert max(c.width, c.height) <= SIDE_LIMIT_PX
        # the planner before the fix: 4 bytes a band-pixel, 48 MB budget
        budget = 48_000_000 // (14 * 4)
        if grid.width * grid.height <= budget and service_size(grid.width, grid.height, FLOAT14) > REQUEST_LIMIT_BYTES:
            old_rule_broken += 1
    assert old_rule_broken >= 1  # e.g. the 9 km square


@pytest.mark.parametrize("side_km", [9.0, 1.0])
def test_real_fetch_of_a_square_gets_no_size_error_and_is_bit_for_bit(signed_in, side_km):
    """Through the real client: the 9 km square that failed before (float32: 70 bytes a pixel, so
    two tiles) and a 1 km one; every tile's data lands where it belongs."""
    ee, service = signed_in
    grid = AnalysisRequest(square_km(side_km), PRE, POST).grid()
    out, stats = fetch(ee, service, grid, FLOAT14)
    calls = service.calls("computePixels")
    assert all(c.status == 200 for c in calls) and len(calls) == stats.chunks == stats.requests
    assert all(c.detail["request_size"] <= REQUEST_LIMIT_BYTES for c in calls)
    assert [t for _, t in calls[0].detail["bands"]] == ["float32"] * 14
    for k in (0, 7, 12):  # B1, B8, elevation (band 13 is the flags band)
        assert np.array_equal(out[k], expected_block(grid, k, "float32")), k
    assert (out[13] == 3).all()


def test_many_tiles_reassembled_bit_for_bit_with_progress(signed_in):
    ee, service = signed_in
    grid = AnalysisRequest(square_km(3.0), PRE, POST).grid()
    done = []
    out, stats = fetch(ee, service, grid, UINT16, max_bytes=400_000, max_workers=4,
                       progress=lambda d, t, s: done.append((d, t, s)))
    assert stats.chunks >= 8 and len(service.calls("computePixels")) == stats.chunks
    for k, b in enumerate(UINT16):
        assert np.array_equal(out[k], expected_block(grid, k, b.dtype if b.name != "flags" else "uint8")) \
            or b.name == "flags", b.name
    assert (out[-1] == 3).all()
    assert done[-1] == (stats.chunks, stats.chunks, "download") and len(done) == stats.chunks + 1


def test_uint16_optical_bands_move_fewer_bytes_than_float32_with_the_same_values(signed_in):
    ee, service = signed_in
    grid = AnalysisRequest(square_km(2.0), PRE, POST).grid()
    out16, s16 = fetch(ee, service, grid, UINT16)
    out32, s32 = fetch(ee, service, grid, FLOAT14)
    assert s16.bytes < 0.6 * s32.bytes
    for k in range(12):  # the float32 pattern adds k/8 to the same integer digital number
        assert np.array_equal(out16[k], out32[k] - np.float32(k / 8))


# --- retries and splits on the service's real answers ----------------------------------------------
def test_three_503s_then_data_succeeds_with_one_retry_layer(signed_in):
    ee, service = signed_in
    grid = grid_centered(-75.3, -12.1, 64, 48)
    service.fail("computePixels", unavailable(), unavailable(), unavailable())
    sleeps = []
    out, stats = fetch(ee, service, grid, policy=no_wait(sleeps))
    codes = [c.status for c in service.calls("computePixels")]
    assert codes == [503, 503, 503, 200]  # the library retried nothing itself
    assert stats.retries == 3 and stats.requests == 4
    assert len(sleeps) == 3 and sleeps == sorted(sleeps) and 0.5 <= sleeps[0] <= 1.0
    assert np.array_equal(out[3], expected_block(grid, 3, "uint16"))


@pytest.mark.parametrize("error, cause", [(unavailable, "unavailable"), (deadline_exceeded, "deadline"),
                                          (internal_error, "server error"),
                                          (too_many_aggregations, "concurrent"), (quota_exceeded, "rate limit"),
                                          (computation_timed_out, "timed out")])
def test_each_transient_service_answer_is_retried(signed_in, error, cause):
    ee, service = signed_in
    grid = grid_centered(-75.3, -12.1, 32, 32)
    service.fail("computePixels", error())
    _, stats = fetch(ee, service, grid)
    assert stats.retries == 1 and [c.status for c in service.calls("computePixels")][-1] == 200
    service.fail("computePixels", *[error() for _ in range(5)])
    with pytest.raises(SourceError) as exc:
        fetch(ee, service, grid)
    msg = str(exc.value)
    assert "failed 5 times" in msg and cause in msg.lower() and "try again" in msg


def test_a_total_request_size_answer_splits_the_tile(signed_in):
    ee, service = signed_in
    grid = grid_centered(-75.3, -12.1, 100, 80)
    service.fail("computePixels", total_request_size(60_000_000))
    out, stats = fetch(ee, service, grid)
    sizes = sorted((c.detail["width"], c.detail["height"]) for c in service.calls("computePixels"))
    assert stats.splits == 1 and sizes == [(50, 40)] * 4 + [(100, 80)]
    assert np.array_equal(out[5], expected_block(grid, 5, "uint16"))


def test_a_planner_over_the_limit_is_corrected_by_the_service_answer(signed_in):
    """Told a budget above the real limit, the first request is refused by the service's own
    count ("Total request size ... 50331648 bytes") and the tile is split until it fits."""
    ee, service = signed_in
    grid = AnalysisRequest(square_km(9.0), PRE, POST).grid()
    out, stats = fetch(ee, service, grid, FLOAT14, max_bytes=10 * REQUEST_LIMIT_BYTES)
    refused = [c for c in service.calls("computePixels") if c.status == 400]
    assert refused and stats.splits >= 1 and stats.chunks == 1
    assert all(c.detail["request_size"] > REQUEST_LIMIT_BYTES for c in refused)
    assert np.array_equal(out[12], expected_block(grid, 12, "float32"))


def test_memory_limit_splits_and_everywhere_gives_a_clear_error(signed_in):
    ee, service = signed_in
    grid = grid_centered(-75.3, -12.1, 100, 80)
    service.memory_limit_px = 2500
    _, stats = fetch(ee, service, grid)
    assert stats.splits == 1 and len(service.calls("computePixels")) == 5
    service.memory_limit_px = 1
    with pytest.raises(SourceError, match="User memory limit exceeded.*smaller area"):
        fetch(ee, service, grid_centered(-75.3, -12.1, 64, 64))


def test_a_bad_request_is_not_retried(signed_in):
    ee, service = signed_in
    service.fail("computePixels", bad_request("Image.select: Pattern 'B8A' did not match any bands."))
    with pytest.raises(SourceError, match="Pattern 'B8A'"):
        fetch(ee, service, grid_centered(-75.3, -12.1, 32, 32))
    assert len(service.calls("computePixels")) == 1


def test_the_service_checks_band_ids_against_the_expression(signed_in):
    ee, service = signed_in
    bands = [BandSpec("B2", "uint16")]
    with pytest.raises(SourceError, match="Pattern 'B8A' did not match"):
        download_pixels(ee_compute_fn(image(ee, bands), ["B8A"]), grid_centered(-75.3, -12.1, 8, 8),
                        [BandSpec("B8A", "uint16")], policy=no_wait([]))


# --- cancel ---------------------------------------------------------------------------------------
def test_cancel_during_backoff_stops_within_a_second(signed_in):
    ee, service = signed_in
    service.fail("computePixels", *[unavailable() for _ in range(5)])
    token = CancelToken()
    threading.Timer(0.3, token.cancel).start()
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        fetch(ee, service, grid_centered(-75.3, -12.1, 32, 32), cancel=token,
              policy=RetryPolicy(base_delay_s=20.0, sleep=time.sleep))
    assert time.monotonic() - t0 < 0.3 + 1.0
    assert len(service.calls("computePixels")) == 1


def test_cancel_does_not_wait_for_requests_in_flight(signed_in):
    ee, service = signed_in
    service.latency_s = 3.0
    token = CancelToken()
    threading.Timer(0.3, token.cancel).start()
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        fetch(ee, service, grid_centered(-75.3, -12.1, 32, 32), cancel=token)
    assert time.monotonic() - t0 < 0.3 + 1.0


def test_cancel_between_tiles(signed_in):
    ee, service = signed_in
    grid = AnalysisRequest(square_km(8.0), PRE, POST).grid()
    token = CancelToken()

    def progress(done, total, stage):
        if done >= 1:
            token.cancel()

    with pytest.raises(Cancelled):
        fetch(ee, service, grid, max_workers=1, progress=progress, cancel=token, max_bytes=2_000_000)
    n_chunks = len(plan_chunks(grid.width, grid.height, [b.dtype for b in UINT16], 2_000_000))
    assert n_chunks > 4 and len(service.calls("computePixels")) < n_chunks


# --- classification of what the client raises -----------------------------------------------------
def test_classify_reads_messages_and_the_status_behind_them(signed_in):
    from ee.ee_exception import EEException

    assert classify(EEException("The service is currently unavailable."))[0] == RETRY
    assert classify(EEException("Too many concurrent aggregations."))[0] == RETRY
    assert classify(EEException("User memory limit exceeded."))[0] == SPLIT
    assert classify(EEException("Total request size (55039492 bytes) must be less than or equal to "
                                "50331648 bytes."))[0] == SPLIT
    assert classify(EEException("Pixel grid dimensions (40818x1) must be less than or equal to 32768."))[0] == SPLIT
    assert classify(TimeoutError())[0] == RETRY
    assert classify(EEException("Collection.loadTable: Table not found"))[0] == FATAL

    class HttpErr(Exception):
        class resp:  # noqa: N801 - mimics googleapiclient
            status = 502

    try:  # ee.data raises EEException(message) while handling the HttpError: the status is behind it
        try:
            raise HttpErr("boom")
        except HttpErr:
            raise EEException("Something odd.")
    except EEException as exc:
        assert classify(exc) == (RETRY, "Earth Engine server error (HTTP 502)")
