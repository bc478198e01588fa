"""The demo over time: passes per area, clear and cloudy, an event on a known date."""
from __future__ import annotations

import numpy as np
import pytest
from watch_testkit import BASELINE, EVENT_AOI, D, box

from landslide_core.errors import SourceError
from landslide_core.scene import read_scene
from landslide_core.sources import get_source
from landslide_core.sources.cache import SceneCache
from landslide_core.sources.demo import DemoSource
from landslide_core.sources.demo_timeline import (CLEAR_EVERY, REVISIT_DAYS, DemoTimeline, area_seed,
                                                  default_event_date)
from landslide_core.sources.request import AnalysisRequest, DateWindow
from landslide_core.synthetic import DEMO_EVENT

EVENT = D(2024, 2, 1)


def test_passes_every_five_days_and_independent_of_the_window():
    t = DemoTimeline(EVENT_AOI, EVENT)
    year = t.acquisitions(DateWindow(D(2023, 6, 1), D(2024, 6, 1)))
    gaps = {(b.date - a.date).days for a, b in zip(year, year[1:])}
    assert gaps == {REVISIT_DAYS}
    # a sub-window lists exactly the same passes, with the same clouds
    sub = t.acquisitions(DateWindow(D(2024, 1, 3), D(2024, 1, 29)))
    assert sub == [a for a in year if D(2024, 1, 3) <= a.date <= D(2024, 1, 29)]
    # the area alone decides the passes (not the dates of a request, nor its cloud limit)
    src = DemoSource(timeline=True, event_date=EVENT)
    for cloud in (10.0, 30.0, 90.0):
        req = AnalysisRequest(EVENT_AOI, DateWindow(*BASELINE), DateWindow(D(2024, 3, 1), D(2024, 3, 31)), cloud)
        assert src.list_scenes(req, req.pre) == [a for a in year if BASELINE[0] <= a.date <= BASELINE[1]]
    other = DemoTimeline(box(10.0, 46.0, 0.008), EVENT)
    assert area_seed(other.aoi) != t.seed


def test_clear_at_least_every_fifteen_days_and_cloudy_in_the_storm():
    t = DemoTimeline(EVENT_AOI, EVENT)
    passes = t.acquisitions(DateWindow(D(2023, 1, 1), D(2024, 12, 31)))
    clear = [a.date for a in passes if a.scene_cloud_pct <= 15 and a.aoi_cloud_pct <= 15 and not t.in_storm(a.date)]
    outside = [a for a in passes if not t.in_storm(a.date)]
    assert max((b - a).days for a, b in zip(clear, clear[1:])) <= CLEAR_EVERY * REVISIT_DAYS + REVISIT_DAYS * 3
    assert 0.3 < len(clear) / len(outside) < 0.8  # clear and cloudy passes both
    storm = [a for a in passes if t.in_storm(a.date)]
    assert storm and all(a.scene_cloud_pct >= 75 and a.aoi_cloud_pct >= 80 for a in storm)
    # the passes the watchlist tests rely on
    by_date = {a.date: a for a in passes}
    assert by_date[D(2024, 2, 4)].aoi_cloud_pct > 30 and by_date[D(2024, 2, 9)].aoi_cloud_pct > 30
    assert [d for d in sorted(by_date) if D(2024, 2, 1) < d <= D(2024, 2, 24) and by_date[d].scene_cloud_pct <= 30
            and by_date[d].aoi_cloud_pct <= 30] == [D(2024, 2, 24)]
    assert by_date[D(2024, 3, 5)].aoi_cloud_pct <= 30


def test_event_date_of_an_area():
    assert default_event_date(EVENT_AOI, D(2024, 1, 31)) == EVENT
    assert default_event_date(DEMO_EVENT.aoi, D(2020, 1, 31)) == D.fromisoformat(DEMO_EVENT.event_date)
    assert area_seed(DEMO_EVENT.aoi) == DEMO_EVENT.seed
    opts = DemoSource.watch_options(EVENT_AOI, DateWindow(*BASELINE))
    assert opts == {"timeline": True, "event_date": "2024-02-01"}
    assert get_source("demo", **opts).version != DemoSource.version  # analyses of the timeline are keyed apart


def test_timeline_scenes_show_the_world_before_and_after_the_event(tmp_path):
    aoi = EVENT_AOI
    src = DemoSource(cache=SceneCache(tmp_path, 10**9), timeline=True, event_date=EVENT)
    req = AnalysisRequest(aoi, DateWindow(D(2024, 1, 20), D(2024, 1, 20)), DateWindow(D(2024, 2, 24), D(2024, 2, 24)))
    pre, post = src.fetch(req, req.pre), src.fetch(req, req.post)
    assert pre.provenance["role"] == "pre" and post.provenance["role"] == "post"
    assert pre.provenance["dates"] == ["2024-01-20"] and post.provenance["dates"] == ["2024-02-24"]
    a, b = read_scene(pre.path), read_scene(post.path)
    assert a.data.shape == b.data.shape and not np.array_equal(a.data, b.data)
    # the same pass asked for by another window (a later check) is the same cached file
    later = AnalysisRequest(aoi, DateWindow(D(2024, 2, 24), D(2024, 2, 24)), DateWindow(D(2024, 3, 5), D(2024, 3, 5)))
    again = src.fetch(later, later.pre)
    assert again.from_cache and again.path == post.path
    # a day with no pass, or a cloudy pass under a strict limit, is a clear source error
    with pytest.raises(SourceError):
        src.fetch(AnalysisRequest(aoi, DateWindow(D(2024, 1, 21), D(2024, 1, 21)), req.post), DateWindow(D(2024, 1, 21), D(2024, 1, 21)))
