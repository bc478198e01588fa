"""The demo source: deterministic synthetic scenes for any AOI behind the source interface."""
from __future__ import annotations

import datetime
import importlib.util
import importlib
import types

import numpy as np
import pytest
from test_sources_request import POST, PRE, SQUARE

from landslide_core.bands import ELEVATION, SPECTRAL_BANDS
from landslide_core.errors import SourceError
from landslide_core.scene import RawScene, read_scene
from landslide_core.sources import demo as demo_module
from landslide_core.sources import get_source
from landslide_core.sources.base import ImagerySource
from landslide_core.sources.cache import SceneCache
from landslide_core.sources.demo import DemoSource
from landslide_core.sources.request import AnalysisRequest, DateWindow

D = datetime.date
TINY = {"type": "Polygon", "coordinates": [[[-75.300, -12.100], [-75.297, -12.100], [-75.297, -12.097],
                                             [-75.300, -12.097], [-75.300, -12.100]]]}


@pytest.fixture
def fake_synthetic(monkeypatch):
    calls = []

    def scene(grid, seed, shift):
        rng = np.random.default_rng(seed)
        data = rng.uniform(0, 3000, (13, grid.height, grid.width)).astype(np.float32) + shift
        return RawScene(data, SPECTRAL_BANDS + (ELEVATION,), np.ones((grid.height, grid.width), bool),
                        grid.transform, grid.crs, {"generator": "fake"})

    def generate_event(grid, seed=0, pre_date="", post_date="", clouds=True, cancel=None):
        calls.append(dict(grid=grid, seed=seed, pre_date=pre_date, post_date=post_date, clouds=clouds))
        return types.SimpleNamespace(pre=scene(grid, seed, 0.0), post=scene(grid, seed, 500.0),
                                     new_landslides=np.zeros((grid.height, grid.width), bool))

    demo_event = types.SimpleNamespace(name="Demo", aoi=SQUARE, pre_window=("2023-01-01", "2023-02-28"),
                                       post_window=("2023-04-01", "2023-05-31"), event_date="2023-03-10", seed=7)
    fake = types.SimpleNamespace(generate_event=generate_event, DEMO_EVENT=demo_event, calls=calls)
    monkeypatch.setattr(demo_module, "_synthetic", lambda: fake)
    return fake


def test_demo_serves_pre_and_post_on_the_request_grid(tmp_path, fake_synthetic):
    src = DemoSource(cache=SceneCache(tmp_path, 10**9))
    assert isinstance(src, ImagerySource) and src.readiness().ready
    req = AnalysisRequest(TINY, PRE, POST)
    pre, post = src.fetch(req, PRE), src.fetch(req, POST)
    assert len(fake_synthetic.calls) == 1  # one event for both windows
    call = fake_synthetic.calls[0]
    assert call["grid"] == req.grid() and call["seed"] == DemoSource.seed_for(req)
    assert pre.provenance["role"] == "pre" and post.provenance["role"] == "post"
    a, b = read_scene(pre.path), read_scene(post.path)
    g = req.grid()
    assert a.data.shape == (14, g.height, g.width) and a.crs == g.crs and a.transform == g.transform
    assert np.allclose(b.band("B2") - a.band("B2"), 500.0)
    assert call["pre_date"] == pre.provenance["dates"][0] and call["post_date"] == post.provenance["dates"][0]
    assert PRE.contains(D.fromisoformat(call["pre_date"])) and POST.contains(D.fromisoformat(call["post_date"]))
    again = DemoSource(cache=SceneCache(tmp_path, 10**9)).fetch(req, PRE)
    assert again.from_cache and again.provenance["role"] == "pre"


def test_demo_is_deterministic_per_aoi_and_dates(fake_synthetic, tmp_path):
    src = DemoSource(cache=SceneCache(tmp_path, 10**9))
    req = AnalysisRequest(TINY, PRE, POST)
    assert src.list_scenes(req, PRE) == src.list_scenes(req, PRE)
    other_dates = AnalysisRequest(TINY, PRE, DateWindow(D(2023, 4, 1), D(2023, 6, 30)), cloud_limit_pct=5)
    assert DemoSource.seed_for(req) == DemoSource.seed_for(other_dates)  # the area's seed, not the request's
    assert DemoSource.seed_for(req) != DemoSource.seed_for(AnalysisRequest(SQUARE, PRE, POST))
    scenes = src.list_scenes(req, PRE)
    assert len(scenes) >= 11 and all(PRE.contains(s.date) for s in scenes)
    assert all(0 <= s.scene_cloud_pct <= 100 and s.aoi_coverage_pct == 100 for s in scenes)
    assert min(s.scene_cloud_pct for s in scenes) <= 12.0  # one fairly clear date per window
    assert [(s.date - scenes[0].date).days % 5 for s in scenes] == [0] * len(scenes)


def test_event_date_rule(fake_synthetic, tmp_path):
    src = DemoSource(cache=SceneCache(tmp_path, 10**9))
    assert src.event_date(AnalysisRequest(SQUARE, PRE, POST)) == D(2023, 3, 10)  # the demo area
    assert DemoSource.seed_for(AnalysisRequest(SQUARE, PRE, POST)) == 7  # its own seed: truth known
    assert src.event_date(AnalysisRequest(TINY, PRE, POST)) == D(2023, 3, 1)  # day after 'before' ends
    late_pre = AnalysisRequest(SQUARE, DateWindow(D(2023, 3, 1), D(2023, 3, 20)), POST)
    assert src.fetch(late_pre, late_pre.pre).provenance["role"] == "post"  # ends after the event


def test_demo_cloud_limit_too_strict_lists_dates(fake_synthetic, tmp_path):
    src = DemoSource(cache=SceneCache(tmp_path, 10**9))
    req = AnalysisRequest(TINY, PRE, POST, cloud_limit_pct=0.5)
    with pytest.raises(SourceError, match="under the cloud limit of 0.5%.*Widen the date window"):
        src.fetch(req, PRE)


def test_demo_not_ready_without_generator(monkeypatch):
    def broken():
        raise ImportError("no module named landslide_core.synthetic")

    monkeypatch.setattr(demo_module, "_synthetic", broken)
    r = get_source("demo").readiness()
    assert not r.ready and "synthetic generator" in r.message


@pytest.mark.skipif(importlib.util.find_spec("landslide_core.synthetic") is None, reason="no generator yet")
def test_demo_with_the_real_generator_on_a_tiny_aoi(tmp_path):
    synthetic = importlib.import_module("landslide_core.synthetic")
    if not hasattr(synthetic, "generate_event"):
        pytest.skip("the synthetic generator is not complete yet")
    src = DemoSource(cache=SceneCache(tmp_path, 10**9))
    assert src.readiness().ready
    req = AnalysisRequest(TINY, PRE, POST)
    pre, post = src.fetch(req, PRE), src.fetch(req, POST)
    a, b = read_scene(pre.path), read_scene(post.path)
    g = req.grid()
    assert a.data.shape == b.data.shape == (14, g.height, g.width)
    assert np.isfinite(a.band("elevation")).all()
    again = DemoSource(cache=SceneCache(tmp_path / "other", 10**9)).fetch(req, POST)
    assert np.array_equal(read_scene(again.path).data, b.data, equal_nan=True)  # deterministic


def test_overlapping_windows_still_give_a_later_after_date(fake_synthetic, tmp_path):
    src = DemoSource(cache=SceneCache(tmp_path, 10**9))
    for shift in range(12):
        pre = DateWindow(D(2023, 1, 1) + datetime.timedelta(days=shift), D(2023, 3, 31))
        req = AnalysisRequest(TINY, pre, DateWindow(D(2023, 2, 1), D(2023, 4, 5)))
        a, b = src.pair_dates(req)
        assert a.date < b.date and req.post.contains(b.date)
    ev = src.event(req)
    assert ev.new_landslides.shape == (req.grid().height, req.grid().width)


def test_demo_scene_list_does_not_change_with_the_cloud_limit_or_composite(fake_synthetic):
    """Issue 15 item 17: the acquisitions belong to the area and the date, not to the request."""
    src = DemoSource()
    base = src.list_scenes(AnalysisRequest(TINY, PRE, POST, cloud_limit_pct=30.0), PRE)
    for other in (AnalysisRequest(TINY, PRE, POST, cloud_limit_pct=5.0),
                  AnalysisRequest(TINY, PRE, POST, cloud_limit_pct=80.0, composite="median"),
                  AnalysisRequest(TINY, PRE, DateWindow(D(2023, 3, 20), D(2023, 6, 30)))):
        assert src.list_scenes(other, PRE) == base
    # Overlapping windows agree on the dates they share.
    late = DateWindow(D(2023, 1, 20), D(2023, 3, 31))
    shared = {s.date: s for s in src.list_scenes(AnalysisRequest(TINY, PRE, POST), late)}
    assert [s for s in base if s.date in shared] == [shared[s.date] for s in base if s.date in shared]
    assert len(shared) and any(s.date in shared for s in base)


def test_demo_median_differs_from_least_cloudy(tmp_path):
    """Issue 15 item 17: the median composite combines several dates, the least cloudy one."""
    src = DemoSource(cache=SceneCache(tmp_path, 10**9))
    least = AnalysisRequest(TINY, PRE, POST, cloud_limit_pct=60.0)
    median = AnalysisRequest(TINY, PRE, POST, cloud_limit_pct=60.0, composite="median")
    a, b = src.fetch(least, PRE), src.fetch(median, PRE)
    assert len(a.provenance["dates"]) == 1 and len(b.provenance["dates"]) > 1
    assert b.provenance["composite"] == "median"
    assert a.path != b.path
    sa, sb = read_scene(a.path), read_scene(b.path)
    assert sa.data.shape == sb.data.shape
    assert not np.allclose(sa.band("B4"), sb.band("B4"), equal_nan=True)
    assert np.array_equal(sa.band("elevation"), sb.band("elevation"))  # the same terrain


def test_another_cloud_limit_that_picks_the_same_date_reuses_the_scene(fake_synthetic, tmp_path):
    src = DemoSource(cache=SceneCache(tmp_path, 10**9))
    first = src.fetch(AnalysisRequest(TINY, PRE, POST, cloud_limit_pct=30.0), PRE)
    again = src.fetch(AnalysisRequest(TINY, PRE, POST, cloud_limit_pct=40.0), PRE)
    assert again.from_cache and again.provenance["dates"] == first.provenance["dates"]


@pytest.mark.parametrize("composite", ["least_cloudy", "median"])
def test_cancel_stops_a_demo_fetch_within_a_second(tmp_path, composite):
    """Issue 15 item 19: the generator's cancel checks reach the demo source (a ~60 km2 area)."""
    import threading
    import time

    from landslide_core.errors import Cancelled
    from landslide_core.progress import CancelToken

    h = 0.035
    aoi = {"type": "Polygon", "coordinates": [[[-75.6 - h, -11.6 - h], [-75.6 + h, -11.6 - h], [-75.6 + h, -11.6 + h],
                                               [-75.6 - h, -11.6 + h], [-75.6 - h, -11.6 - h]]]}
    req = AnalysisRequest(aoi, PRE, POST, 30.0, composite)
    token = CancelToken()
    threading.Timer(0.3, token.cancel).start()
    t0 = time.perf_counter()
    with pytest.raises(Cancelled):
        DemoSource(cache=SceneCache(tmp_path, 10**10)).fetch(req, PRE, cancel=token)
    assert time.perf_counter() - t0 < 1.3
    assert not list(tmp_path.glob("*.tif"))  # nothing half-written kept
