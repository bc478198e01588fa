"""Streamlit AppTest of the watchlist in the dashboard: "Watch this area" on the Monitor page,
the Watchlist page (map, table, Check now, time line), and alert links opening Compare."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import state, watchlist
from dashboard_testkit import demo_windows, save_tiny_model, tiny_demo_aoi
from landslide_core.sources.request import DateWindow
from landslide_core.watch.areas import new_area
from landslide_core.watch.records import utc_now

ROOT = Path(__file__).resolve().parent.parent
MONITOR = str(ROOT / "pages" / "1_Monitor.py")
COMPARE = str(ROOT / "pages" / "2_Compare.py")
WATCHLIST = str(ROOT / "pages" / "5_Watchlist.py")
TIMEOUT_S = 120


@pytest.fixture
def app_env(tmp_path, monkeypatch):
    save_tiny_model(tmp_path / "models")
    for k, v in {"LANDSLIDE_MODELS_DIR": tmp_path / "models", "LANDSLIDE_CACHE_DIR": tmp_path / "cache",
                 "LANDSLIDE_RESULTS_DIR": tmp_path / "results", "LANDSLIDE_DATA_DIR": tmp_path / "data",
                 "HOME": tmp_path / "home"}.items():
        monkeypatch.setenv(k, str(v))
    monkeypatch.setenv("LANDSLIDE_BASEMAPS", "0")
    monkeypatch.delenv("LANDSLIDE_DB_URL", raising=False)
    monkeypatch.delenv("EE_SERVICE_ACCOUNT_KEY", raising=False)
    watchlist._store.clear()  # one store per database URL: a fresh one per test
    yield tmp_path
    watchlist._store.clear()


def _texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def _run(at: AppTest) -> AppTest:
    at.run(timeout=TIMEOUT_S)
    assert not at.exception, _texts(at.exception)
    return at


def _monitor() -> AppTest:
    at = AppTest.from_file(MONITOR, default_timeout=TIMEOUT_S)
    at.session_state[state.AOI] = tiny_demo_aoi()
    at.session_state[state.AOI_LABEL] = "tiny test area"
    return _run(at)


def test_watch_this_area_from_the_monitor_page(app_env):
    at = _monitor()
    at.button(key="btn_watch").click()
    _run(at)  # no name: a clear message, nothing stored
    assert "The area has no name" in _texts(at.error)
    assert watchlist.store().list_areas() == []
    at.text_input(key="w_watch_name").input("Slopes above the road")
    at.selectbox(key="w_watch_every").select("10d")
    at.text_input(key="w_watch_webhook").input("ftp://nope")
    at.button(key="btn_watch").click()
    _run(at)
    assert "is not an http(s) URL" in _texts(at.error) and watchlist.store().list_areas() == []
    at.text_input(key="w_watch_webhook").input("http://127.0.0.1:9/hook")
    at.button(key="btn_watch").click()
    _run(at)
    assert "Watching 'Slopes above the road' every 10d" in _texts(at.success)
    (area,) = watchlist.store().list_areas()
    (pre_start, pre_end), _ = demo_windows()
    assert area.baseline.start == pre_start and area.baseline.end == pre_end  # the 'before' window
    assert area.source == "demo" and area.source_options["timeline"] is True
    assert area.model.endswith("tiny.json") and area.cloud_limit_pct == 30.0 and area.cadence_text == "10d"
    assert area.detection_options == {"threshold": 0.5, "overlap_px": 64}  # the page's defaults
    assert [str(c) for c in area.channels] == ["webhook http://127.0.0.1:9/hook"]
    at.button(key="btn_watch").click()  # the same name again
    _run(at)
    assert "already watched" in _texts(at.error)


def test_watchlist_page_check_now_and_time_line(app_env):
    at = _run(AppTest.from_file(WATCHLIST, default_timeout=TIMEOUT_S))
    assert "No area is watched yet" in _texts(at.info)

    (pre_start, pre_end), _ = demo_windows()
    watchlist.store().add_area(new_area("Tiny", tiny_demo_aoi(), baseline=DateWindow(pre_start, pre_end),
                                        model=app_env / "models" / "tiny.json"), utc_now())
    at = _run(AppTest.from_file(WATCHLIST, default_timeout=TIMEOUT_S))
    table = at.dataframe[0].value
    assert list(table["Area"]) == ["Tiny"] and list(table["Last check (UTC)"]) == ["never"]
    assert "Not checked yet" in _texts(at.info)
    at.button(key="btn_check_now").click()
    _run(at)
    t0 = time.time()
    while at.session_state[watchlist.CHECK_JOB].running:
        assert time.time() - t0 < 240, "the check did not finish in time"
        time.sleep(0.5)
        _run(at)
    _run(at)
    job = at.session_state[watchlist.CHECK_JOB]
    assert job.error is None, repr(job.error)
    assert job.result.status == "ok", job.result.note
    assert "Check finished" in _texts(at.success)
    table = at.dataframe[0].value
    assert list(table["Status"]) == ["ok"] and table["New landslides"][0] == job.result.check.new_count
    assert list(table["Next due (UTC)"]) != ["now"]
    assert at.get("plotly_chart"), "no time line"
    # the check's result, from the time line's "Open in Compare"
    assert at.selectbox(key=f"watch_open_{job.result.check.area_id}").value == job.result.check.result_folder

    # an alert's link: /Compare?result=KEY opens that analysis
    cmp_at = AppTest.from_file(COMPARE, default_timeout=TIMEOUT_S)
    cmp_at.query_params["result"] = job.result.check.result_key
    _run(cmp_at)
    assert cmp_at.session_state[state.RESULT_FOLDER] == job.result.check.result_folder
    assert any(m.label == "New landslides" for m in cmp_at.metric)


def test_watchlist_page_with_a_broken_database_url(app_env, monkeypatch):
    monkeypatch.setenv("LANDSLIDE_DB_URL", "not a database url")
    at = _run(AppTest.from_file(WATCHLIST, default_timeout=TIMEOUT_S))
    assert "is not a database URL" in _texts(at.error)
