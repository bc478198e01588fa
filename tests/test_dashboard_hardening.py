"""Issue 15, items 14-19: the dashboard's part of the hardening, page by page with AppTest.

Each test is named after its item. The browser-only parts (tile failures, map geometry, the
820 px layout, two real browser sessions) are in tests/test_browser.py.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import history, jobs, maps, state
from landslide_core.errors import Cancelled

from dashboard_testkit import demo_windows, save_tiny_model, tiny_demo_aoi, tiny_demo_request

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
MONITOR = str(ROOT / "pages" / "1_Monitor.py")
COMPARE = str(ROOT / "pages" / "2_Compare.py")
TRAINING = str(ROOT / "pages" / "3_Training.py")
MODELS = str(ROOT / "pages" / "4_Models.py")
TIMEOUT_S = 120
HASHED_NAME = re.compile(r"[0-9a-f]{16,}")


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("hardening")
    save_tiny_model(root / "models")
    return root


@pytest.fixture(autouse=True)
def app_env(dirs, monkeypatch):
    monkeypatch.setenv("LANDSLIDE_MODELS_DIR", str(dirs / "models"))
    monkeypatch.setenv("LANDSLIDE_CACHE_DIR", str(dirs / "cache"))
    monkeypatch.setenv("LANDSLIDE_RESULTS_DIR", str(dirs / "results"))
    monkeypatch.setenv("LANDSLIDE_BASEMAPS", "0")
    monkeypatch.delenv("EE_SERVICE_ACCOUNT_KEY", raising=False)
    monkeypatch.setenv("HOME", str(dirs / "home"))


@pytest.fixture(scope="module")
def finished(dirs):
    """A finished analysis of the tiny demo area, run by 'someone else' (not in any session)."""
    import os

    from landslide_core import analysis
    from landslide_core.sources import get_source

    old = os.environ.get("LANDSLIDE_CACHE_DIR")
    os.environ["LANDSLIDE_CACHE_DIR"] = str(dirs / "cache")
    try:
        return analysis.run_analysis(tiny_demo_request(), get_source("demo"), dirs / "models" / "tiny.json", None,
                                     dirs / "results")
    finally:
        if old is None:
            os.environ.pop("LANDSLIDE_CACHE_DIR", None)
        else:
            os.environ["LANDSLIDE_CACHE_DIR"] = old


def _texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def _run(at: AppTest) -> AppTest:
    at.run(timeout=TIMEOUT_S)
    assert not at.exception, _texts(at.exception)
    return at


def _monitor(**session) -> AppTest:
    at = AppTest.from_file(MONITOR, default_timeout=TIMEOUT_S)
    at.session_state[state.AOI] = tiny_demo_aoi()
    at.session_state[state.AOI_LABEL] = "tiny test area"
    for k, v in session.items():
        at.session_state[k] = v
    return _run(at)


def _wait_for_job(at: AppTest, limit_s: float = 240) -> AppTest:
    t0 = time.time()
    while (job := at.session_state[state.JOB]) is not None and job.running:
        assert time.time() - t0 < limit_s, "the job did not finish in time"
        time.sleep(0.3)
    return _run(at)


def _map_script(at: AppTest, index: int = 0) -> str:
    comps = [c for c in at.get("component_instance") if "st_folium" in c.proto.component_name]
    return json.loads(comps[index].proto.json_args)["script"]


# ---------------------------------------------------------------- item 14: sessions

def test_item14_a_fresh_session_does_not_see_another_sessions_analysis(finished):
    at = _run(AppTest.from_file(COMPARE, default_timeout=TIMEOUT_S))
    assert "No analysis in this session yet" in _texts(at.info)
    assert not at.metric  # nothing of the other session's result
    home = _run(AppTest.from_file(APP, default_timeout=TIMEOUT_S))
    assert "None in this session yet" in _texts(home.info)
    assert any(e.label.startswith("History") for e in home.expander)


def test_item14_opening_from_the_history_is_on_purpose_and_stays_in_the_session(finished):
    home = _run(AppTest.from_file(APP, default_timeout=TIMEOUT_S))
    opens = [b for b in home.button if b.label == "Open" and b.key.startswith("open_")]
    assert opens
    opens[0].click()
    _run(home)
    assert home.session_state[state.RESULT_FOLDER] == str(finished.folder)
    assert "New landslides" in [m.label for m in home.metric]  # now on Compare
    assert [i["folder"] for i in home.session_state[history.MY_RESULTS]] == [str(finished.folder)]


def test_item14_each_session_keeps_its_own_run(dirs):
    a = _monitor()
    a.button(key="btn_run").click()
    _run(a)
    a = _wait_for_job(a)
    mine = a.session_state[state.RESULT_FOLDER]
    assert mine and a.session_state[history.MY_RESULTS][0]["folder"] == mine
    b = _run(AppTest.from_file(COMPARE, default_timeout=TIMEOUT_S))  # another browser session
    assert "No analysis in this session yet" in _texts(b.info)


# ---------------------------------------------------------------- item 15: maps with context

AOI = tiny_demo_aoi()


def test_item15_the_offline_map_has_borders_rivers_and_towns():
    from dashboard import basemap_data

    ok, why = basemap_data.available()
    assert ok, why
    ctx = basemap_data.context_layers(-75.42, -11.32, -75.38, -11.28)
    assert ctx.rivers and ctx.regions and len(ctx.towns) >= 10
    assert any(t["name"] == "Huánuco" for t in ctx.towns) and any(t["label"] for t in ctx.towns)
    html = maps.rendered_html(maps.aoi_map(AOI, (-11.3, -75.4), basemaps=False))
    assert maps.OFFLINE_NAME in html and "Huánuco" in html and "landslide-town" in html
    assert '"LineString"' in html  # rivers and borders as lines
    assert "openstreetmap" not in html.lower()


def test_item15_online_tiles_that_fail_are_reported_and_fall_back():
    html = maps.rendered_html(maps.aoi_map(AOI, (-11.3, -75.4), basemaps=True))
    assert "tile.openstreetmap.org" in html
    assert "tileerror" in html and maps.TILE_FAILURE_TEXT in html
    assert maps.OFFLINE_NAME in html  # the fallback the note switches on


def test_item15_a_fitted_area_keeps_clear_of_the_controls():
    html = maps.rendered_html(maps.aoi_map(AOI, (-11.3, -75.4), basemaps=False))
    fit = re.search(r"fitBounds\(\s*(\[\[.*?\]\])\s*,\s*(\{.*?\})\s*\)", html, re.S)
    assert fit, "the map is not fitted to the area"
    options = json.loads(fit.group(2))
    assert options["padding"] == list(maps.FIT_PADDING_PX) and min(options["padding"]) >= 40
    assert options["maxZoom"] <= 16


def test_item15_the_monitor_map_shows_the_fetched_scene_of_the_area(finished):
    at = _monitor()
    assert "fetched scene" not in _map_script(at)  # nothing fetched in this session yet
    at.session_state[history.MY_RESULTS] = [{"folder": str(finished.folder), "label": "tiny test area"}]
    _run(at)
    script = _map_script(at)
    assert "After: true colour (fetched scene)" in script and "Hillshade" in script
    assert "data:image/webp;base64," in script  # inside the page, compact
    assert maps.OFFLINE_NAME in script


def test_item15_hillshade_is_lit_from_the_north_west():
    from landslide_core.display import hillshade

    r, c = np.mgrid[0:16, 0:16].astype(float)
    faces_nw, faces_se = (r + c) * 5.0, -(r + c) * 5.0
    assert hillshade(faces_nw, 10, 10)[8, 8] > hillshade(np.zeros((16, 16)), 10, 10)[8, 8] > \
        hillshade(faces_se, 10, 10)[8, 8]


# ---------------------------------------------------------------- item 16: stale results and inputs

def test_item16_a_new_area_clears_the_old_result():
    at = _monitor()
    at.button(key="btn_run").click()
    _run(at)
    at = _wait_for_job(at)
    assert any(m.label == "New landslides" for m in at.metric)
    # A new area, typed as a box: the old numbers leave the page.
    c = tiny_demo_aoi()["coordinates"][0]
    at.number_input(key=state.BBOX_W).set_value(round(c[0][0] + 0.002, 5))
    at.button(key="btn_bbox").click()
    _run(at)
    assert at.session_state[state.AOI_LABEL] == "Bounding box typed in"
    assert at.session_state[state.JOB] is None
    assert not any(m.label == "New landslides" for m in at.metric)
    assert "inputs changed" in _texts(at.caption)
    assert "Same request as before" not in _texts(at.info) and "Analysis finished" not in _texts(at.success)


def test_item16_a_failed_run_leaves_when_the_dates_change(monkeypatch):
    from dashboard import widgets
    from landslide_core.errors import SourceError

    def failing(*a, progress=None, cancel=None, **kw):
        raise SourceError("No scene under the cloud limit.", "Raise the cloud limit.")

    monkeypatch.setattr(widgets, "run_analysis_work", failing)
    at = _monitor()
    at.button(key="btn_run").click()
    _run(at)
    at = _wait_for_job(at)
    assert "No scene under the cloud limit" in _texts(at.error)
    (pre_start, _), _ = demo_windows()
    at.date_input(key=state.PRE_START).set_value(pre_start + dt.timedelta(days=1))
    _run(at)
    assert "No scene under the cloud limit" not in _texts(at.error)


def test_item16_rejected_box_values_go_back_to_the_current_area():
    at = _monitor()
    before = [at.number_input(key=k).value for k in (state.BBOX_W, state.BBOX_S, state.BBOX_E, state.BBOX_N)]
    at.number_input(key=state.BBOX_W).set_value(-75.0)  # "west" east of the east edge: refused
    at.button(key="btn_bbox").click()
    _run(at)
    error = _texts(at.error)
    assert "-75" in error and "was not used" in error and "West" in error
    assert [at.number_input(key=k).value for k in (state.BBOX_W, state.BBOX_S, state.BBOX_E, state.BBOX_N)] == before
    assert at.session_state[state.AOI] == tiny_demo_aoi()


def test_item16_a_rejected_drawing_gets_a_fresh_map():
    """The drawing map's key changes after a rejection, so the rejected shape is not kept
    (the browser test draws one for real)."""
    from dashboard import aoi_inputs

    at = _monitor()
    keys = [c.proto.id for c in at.get("component_instance")]
    at.session_state[aoi_inputs.MAP_GENERATION] = 1  # what a rejected drawing does
    _run(at)
    assert [c.proto.id for c in at.get("component_instance")] != keys


# ---------------------------------------------------------------- item 17: demo and inputs

def test_item17_overlapping_windows_are_refused_on_the_monitor_page():
    (pre_start, _), (post_start, post_end) = demo_windows()
    at = _monitor(**{state.PRE_END: post_start + dt.timedelta(days=5)})
    assert "overlap" in _texts(at.error)
    at.button(key="btn_run").click()
    _run(at)
    assert at.session_state[state.JOB] is None and "cannot start yet" in _texts(at.error)


def test_item17_the_scene_chart_does_not_move_with_the_cloud_limit():
    at = _monitor()
    first = json.loads(at.get("plotly_chart")[0].proto.spec)
    at.slider(key=state.CLOUD_LIMIT).set_value(60.0)
    _run(at)
    second = json.loads(at.get("plotly_chart")[0].proto.spec)

    def points(spec):
        return sorted((x, y) for tr in spec["data"] for x, y in zip(tr["x"], tr["y"]))

    assert points(first) == points(second)


def _scene_without_bands(path: Path) -> bytes:
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(path, "w", driver="GTiff", width=16, height=16, count=3, dtype="float32", crs="EPSG:32718",
                       transform=from_origin(400000, 8750000, 10, 10)) as ds:
        ds.write(np.ones((3, 16, 16), np.float32))
        for i, name in enumerate(("B2", "B3", "B4")):
            ds.set_band_description(i + 1, name)
    return path.read_bytes()


def test_item17_local_file_errors_name_the_users_files_not_internal_ones(tmp_path):
    data = _scene_without_bands(tmp_path / "x.tif")
    at = _monitor(**{state.SOURCE: "local"})
    at.file_uploader(key="w_local_pre").upload("my_before.tif", data, "image/tiff")
    at.file_uploader(key="w_local_post").upload("my_after.tif", data + b"\0", "image/tiff")
    _run(at)
    at.button(key="btn_run").click()
    _run(at)
    if at.session_state[state.JOB] is not None:  # (an app that let it run: its error counts too)
        at = _wait_for_job(at)
    text = _texts(at.error) + _texts(at.warning)
    assert "my_before.tif" in text and "lacks the bands" in text
    assert not HASHED_NAME.search(text), text
    for cli_only in ("band_map", "dem_path", "pre_path", "post_path", "--"):
        assert cli_only not in text, text
    assert at.session_state[state.JOB] is None


# ---------------------------------------------------------------- item 18: training

def test_item18_training_starts_with_a_recipe_that_fits_a_cpu(monkeypatch, tmp_path):
    from dashboard import training

    monkeypatch.setenv("LANDSLIDE_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr(training, "cuda_available", lambda: False)
    at = _run(AppTest.from_file(TRAINING, default_timeout=TIMEOUT_S))
    assert at.radio(key="tr_preset").value == "quick"
    assert at.number_input(key="tr_epochs").value == 10
    assert json.loads(at.text_input(key="tr_arch_kwargs").value) == {"base_channels": 8}
    assert at.selectbox(key="tr_arch").value == "unet_vanilla"
    at.radio(key="tr_preset").set_value("thesis")
    _run(at)
    assert at.number_input(key="tr_epochs").value == 100 and at.text_input(key="tr_arch_kwargs").value == ""


def test_item18_practice_data_is_made_from_the_page(monkeypatch, tmp_path):
    from landslide_core.training.dataset import discover

    monkeypatch.setenv("LANDSLIDE_RUNS_DIR", str(tmp_path / "runs"))
    at = _run(AppTest.from_file(TRAINING, default_timeout=TIMEOUT_S))
    folder = tmp_path / "practice"
    at.text_input(key="tr_practice_dir").set_value(str(folder))
    at.number_input(key="tr_practice_patches").set_value(8)
    at.button(key="tr_practice_make").click()
    _run(at)
    job = at.session_state["tr_practice_job"]
    assert job.wait(120) and job.error is None, repr(job.error)
    _run(at)
    _run(at)
    assert at.text_input(key="tr_data").value == str(folder)
    assert len(list((folder / "img").glob("*.h5"))) == 8 and len(list((folder / "mask").glob("*.h5"))) == 8
    assert "Made 8 practice patches" in _texts(at.success)
    discover(str(folder))  # the training reader takes it as it is


# ---------------------------------------------------------------- item 19: small things

def test_item19_slope_bars_say_what_their_labels_count(finished):
    at = AppTest.from_file(COMPARE, default_timeout=TIMEOUT_S)
    at.session_state[state.RESULT_FOLDER] = str(finished.folder)
    _run(at)
    from dashboard import compare

    view = compare.compare_view(str(finished.folder), compare.done_mtime(finished), 0.05)
    rows = compare.slope_chart_rows(view)
    assert all("°" in r["slope_class"] and "deg" not in r["slope_class"] for r in rows)
    assert all(r["label"] == "" or re.fullmatch(r"\d+ landslides?", r["label"]) for r in rows)
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    bars = [t for spec in charts for t in spec["data"] if t.get("type") == "bar"]
    if bars:  # the tiny model may find nothing at the page's threshold
        assert bars[0]["cliponaxis"] is False and bars[0]["textposition"] == "outside"


def test_item19_provenance_is_written_out_not_raw_json(finished):
    at = AppTest.from_file(COMPARE, default_timeout=TIMEOUT_S)
    at.session_state[state.RESULT_FOLDER] = str(finished.folder)
    _run(at)
    assert not at.json  # raw JSON only on request
    text = _texts(at.markdown)
    for part in ("**Area**", "**Before**: window", "**After**: window", "**Model**: tiny", "km²", "cloud limit"):
        assert part in text, part
    at.toggle(key="cmp_raw_provenance").set_value(True)
    _run(at)
    assert at.json


def test_item19_areas_are_in_square_kilometres():
    from dashboard_testkit import big_aoi

    at = _monitor(**{state.AOI: big_aoi()})
    assert "km²" in _texts(at.error) and "km2" not in _texts(at.error)


def test_item19_home_shows_epochs_as_whole_numbers_and_which_area_each_analysis_covered(finished, dirs, tmp_path,
                                                                                        monkeypatch):
    from landslide_core.checkpoint import read_card

    models = tmp_path / "models"
    models.mkdir()
    for f in (dirs / "models").glob("tiny.*"):
        (models / f.name).write_bytes(f.read_bytes())
    card = json.loads((models / "tiny.json").read_text())
    card["metrics"] = {"epoch": 29.0, "f1": 0.9516}
    (models / "tiny.json").write_text(json.dumps(card))
    read_card(models / "tiny.json")
    monkeypatch.setenv("LANDSLIDE_MODELS_DIR", str(models))
    at = _run(AppTest.from_file(APP, default_timeout=TIMEOUT_S))
    captions = _texts(at.caption)
    assert "epoch 29 " in captions + " " and "29.000" not in captions and "f1 0.952" in captions
    text = _texts(at.markdown)
    assert re.search(r"\*\*\d+\.\d\d km² around 11\.\d{3}° S, 75\.\d{3}° W\*\*", text), text
    from dashboard.history import describe_area

    assert describe_area({"aoi": state.demo_defaults().aoi}).startswith("Demo event area (19.3")


def test_item19_models_page_keeps_the_asterisks_of_notes(dirs, tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    for f in (dirs / "models").glob("tiny.*"):
        (models / f.name).write_bytes(f.read_bytes())
    card = json.loads((models / "tiny.json").read_text())
    card["notes"] = "Trained 3*4 hours on *synthetic* data; see a_b_c and _x_."
    (models / "tiny.json").write_text(json.dumps(card))
    monkeypatch.setenv("LANDSLIDE_MODELS_DIR", str(models))
    at = _run(AppTest.from_file(MODELS, default_timeout=TIMEOUT_S))
    notes = next(m.value for m in at.markdown if m.value.startswith("**Notes**"))
    assert r"3\*4 hours on \*synthetic\* data" in notes and "a_b_c" in notes and r"\_x\_" in notes


def test_item19_cancel_takes_effect_at_once_even_in_a_step_without_checks():
    release = threading.Event()
    checked = threading.Event()

    def slow_step(progress=None, cancel=None):
        progress(0, 1, "fetch pre")
        release.wait(10)  # a step that cannot look at the token (e.g. generating a synthetic scene)
        cancel.raise_if_cancelled()
        checked.set()
        return "late result"

    job = jobs.AnalysisJob(slow_step).start()
    time.sleep(0.1)
    t0 = time.perf_counter()
    job.cancel()
    assert not job.running and time.perf_counter() - t0 < 1.0
    assert isinstance(job.error, Cancelled) and job.thread_alive
    release.set()
    assert job.wait(5) and not checked.is_set()  # the thread stopped at its next check
    assert job.result is None and isinstance(job.error, Cancelled)


def test_item19_cancel_in_the_page_frees_the_run_button_at_once(monkeypatch):
    from dashboard import widgets

    release = threading.Event()

    def stuck(*a, progress=None, cancel=None, **kw):
        progress(0, 1, "fetch pre")
        release.wait(20)
        cancel.raise_if_cancelled()

    monkeypatch.setattr(widgets, "run_analysis_work", stuck)
    try:
        at = _monitor()
        at.button(key="btn_run").click()
        _run(at)
        _run(at)
        assert at.button(key="btn_run").disabled
        t0 = time.perf_counter()
        at.button(key="btn_cancel").click()
        _run(at)
        assert time.perf_counter() - t0 < 5  # one page run, no waiting for the stuck step
        assert "Cancelled by the user" in _texts(at.warning)
        assert not at.button(key="btn_run").disabled
    finally:
        release.set()


def test_an_interrupted_first_page_run_still_gets_the_defaults(monkeypatch):
    """A first run stopped part-way (the user clicked on at once) must not leave a session
    without an area or dates."""
    from streamlit.runtime.scriptrunner_utils.exceptions import StopException

    calls = {"n": 0}
    real = state.set_demo_event

    def interrupted(only_missing=False):
        calls["n"] += 1
        if calls["n"] == 1:
            raise StopException()
        real(only_missing)

    monkeypatch.setattr(state, "set_demo_event", interrupted)
    at = AppTest.from_file(MONITOR, default_timeout=TIMEOUT_S)
    at.run(timeout=TIMEOUT_S)
    _run(at)
    assert at.session_state[state.AOI] is not None
    assert at.date_input(key=state.PRE_START).value == demo_windows()[0][0]
