"""Streamlit AppTest of the home, Monitor and Compare pages: widgets, demo flow, error paths."""
from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import state

from dashboard_testkit import big_aoi, demo_windows, save_tiny_model, tiny_demo_aoi

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
MONITOR = str(ROOT / "pages" / "1_Monitor.py")
COMPARE = str(ROOT / "pages" / "2_Compare.py")
TIMEOUT_S = 120


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pages")
    save_tiny_model(root / "models")
    return root


@pytest.fixture(autouse=True)
def app_env(dirs, monkeypatch):
    monkeypatch.setenv("LANDSLIDE_MODELS_DIR", str(dirs / "models"))
    monkeypatch.setenv("LANDSLIDE_CACHE_DIR", str(dirs / "cache"))
    monkeypatch.setenv("LANDSLIDE_RESULTS_DIR", str(dirs / "results"))
    monkeypatch.setenv("LANDSLIDE_BASEMAPS", "0")
    # No Earth Engine credentials here, whatever the machine has.
    monkeypatch.delenv("EE_SERVICE_ACCOUNT_KEY", raising=False)
    monkeypatch.setenv("HOME", str(dirs / "home"))


def _texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def _run(at: AppTest) -> AppTest:
    at.run(timeout=TIMEOUT_S)
    assert not at.exception, _texts(at.exception)
    return at


def monitor(aoi="tiny", **session) -> AppTest:
    at = AppTest.from_file(MONITOR, default_timeout=TIMEOUT_S)
    if aoi == "tiny":
        at.session_state[state.AOI] = tiny_demo_aoi()
        at.session_state[state.AOI_LABEL] = "tiny test area"
    elif aoi is not None or "no_aoi" in session:
        at.session_state[state.AOI] = aoi
    session.pop("no_aoi", None)
    for k, v in session.items():
        at.session_state[k] = v
    return _run(at)


def wait_for_job(at: AppTest, limit_s: float = 240) -> AppTest:
    t0 = time.time()
    while True:
        job = at.session_state[state.JOB]
        if job is not None and not job.running:
            break
        assert time.time() - t0 < limit_s, "the analysis did not finish in time"
        time.sleep(0.5)
        _run(at)
    return _run(at)


# ---------------------------------------------------------------- widgets

def test_home_page_shows_sources_models_and_recent_analyses():
    at = _run(AppTest.from_file(APP, default_timeout=TIMEOUT_S))
    text = _texts(at.markdown)
    assert "Sentinel-2" in text
    assert "tiny" in text  # the model card
    assert "Demo (synthetic event, offline)**: ready" in _texts(at.success)
    assert "Earth Engine" in _texts(at.warning)  # no credentials: its self-test message
    assert any(b.label == "Test the sources again" for b in at.button)


def test_monitor_widgets_and_demo_event_preselected():
    at = _run(AppTest.from_file(MONITOR, default_timeout=TIMEOUT_S))
    assert at.session_state[state.AOI] is not None
    assert str(at.session_state[state.AOI_LABEL]).startswith("Demo event")
    assert at.selectbox(key=state.SOURCE).value == "demo"
    (pre_start, pre_end), (post_start, post_end) = demo_windows()
    assert at.date_input(key=state.PRE_START).value == pre_start
    assert at.date_input(key=state.POST_END).value == post_end
    assert at.slider(key=state.CLOUD_LIMIT).value == 30.0
    assert at.selectbox(key=state.MODEL).value.endswith("tiny.json")
    assert at.slider(key=state.THRESHOLD).value == 0.5
    assert [b for b in at.button if b.label == "Run analysis"]
    assert any(m.label == "Area" for m in at.metric)
    assert not at.error, _texts(at.error)


# ---------------------------------------------------------------- the demo flow

def test_demo_flow_runs_end_to_end_then_compare_and_cache(dirs):
    at = monitor()
    at.button(key="btn_run").click()
    _run(at)
    at = wait_for_job(at)
    job = at.session_state[state.JOB]
    assert job.error is None, repr(job.error)
    assert "Analysis finished" in _texts(at.success)
    folder = at.session_state[state.RESULT_FOLDER]
    assert folder and (Path(folder) / "done.json").is_file()
    assert any(m.label == "New landslides" for m in at.metric)

    # Compare page: statistics, table or "none" message, downloads.
    cmp_at = AppTest.from_file(COMPARE, default_timeout=TIMEOUT_S)
    cmp_at.session_state[state.RESULT_FOLDER] = folder
    _run(cmp_at)
    labels = [m.label for m in cmp_at.metric]
    for label in ("New landslides", "New (ha)", "Persisting (ha)", "Vanished (ha)", "Not assessable (ha)"):
        assert label in labels
    summary = json.loads((Path(folder) / "summary.json").read_text())["change"]
    new_count = next(m for m in cmp_at.metric if m.label == "New landslides").value
    assert int(new_count) == summary["new_count"]
    from dashboard import downloads

    buttons = cmp_at.get("download_button")
    assert len(buttons) == 4 + len(downloads.FILES)  # report, ZIP, GeoPackage, picture, then each file
    assert buttons[0].proto.label == "Report (PDF)"

    # Threshold slider: statistics recomputed from the saved probabilities.
    cmp_at.slider(key=state.CMP_THRESHOLD).set_value(0.05)
    _run(cmp_at)
    low_new = float(next(m for m in cmp_at.metric if m.label == "New (ha)").value.replace(",", ""))
    cmp_at.slider(key=state.CMP_THRESHOLD).set_value(0.95)
    _run(cmp_at)
    high_new = float(next(m for m in cmp_at.metric if m.label == "New (ha)").value.replace(",", ""))
    assert low_new >= high_new

    # The same request again: from the cache, in at most a second.
    at.button(key="btn_run").click()
    _run(at)
    at = wait_for_job(at)
    job = at.session_state[state.JOB]
    assert job.result.from_cache and job.elapsed_s <= 1.0
    assert "from the cache" in _texts(at.info)


def test_compare_without_any_analysis_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("LANDSLIDE_RESULTS_DIR", str(tmp_path / "empty"))
    at = _run(AppTest.from_file(COMPARE, default_timeout=TIMEOUT_S))
    assert "No analysis in this session yet" in _texts(at.info)


# ---------------------------------------------------------------- error paths

def test_no_aoi():
    at = monitor(aoi=None, no_aoi=True)
    assert "No area of interest yet" in _texts(at.error)
    at.button(key="btn_run").click()
    _run(at)
    assert "cannot start yet" in _texts(at.error)
    assert at.session_state[state.JOB] is None


def test_aoi_larger_than_the_limit():
    at = monitor(aoi=big_aoi())
    text = _texts(at.error)
    assert "larger than the limit" in text and "km²" in text


def test_reversed_windows():
    (pre_start, pre_end), _ = demo_windows()
    at = monitor(**{state.PRE_START: pre_end, state.PRE_END: pre_start})
    assert "reversed" in _texts(at.error)
    at.button(key="btn_run").click()
    _run(at)
    assert at.session_state[state.JOB] is None


def test_invalid_upload_keeps_the_area():
    at = monitor()
    before = at.session_state[state.AOI]
    at.file_uploader(key="w_aoi_file").upload("area.geojson", b"{not json", "application/geo+json")
    _run(at)
    text = _texts(at.error)
    assert "area.geojson" in text and "not valid GeoJSON" in text
    assert at.session_state[state.AOI] == before


def test_oversized_upload():
    at = monitor()
    pad = b" " * (state.MAX_AOI_FILE_BYTES + 10)
    at.file_uploader(key="w_aoi_file").upload("huge.geojson", b'{"type": "Polygon",' + pad + b'"coordinates": []}',
                                              "application/geo+json")
    _run(at)
    text = _texts(at.error)
    assert "huge.geojson" in text and "larger than" in text and "limit" in text


def test_valid_upload_and_bbox_replace_the_area():
    at = monitor()
    aoi = tiny_demo_aoi()
    doc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": aoi}]}
    at.file_uploader(key="w_aoi_file").upload("mine.geojson", json.dumps(doc).encode(), "application/geo+json")
    _run(at)
    assert at.session_state[state.AOI_LABEL] == "Uploaded file mine.geojson"
    assert not at.error, _texts(at.error)
    at.number_input(key=state.BBOX_W).set_value(-75.40)
    at.number_input(key=state.BBOX_E).set_value(-75.41)  # west > east
    at.button(key="btn_bbox").click()
    _run(at)
    assert "West" in _texts(at.error) and at.session_state[state.AOI_LABEL] == "Uploaded file mine.geojson"


def test_earth_engine_without_credentials():
    at = monitor(**{state.SOURCE: "earthengine"})
    text = _texts(at.error)
    assert "Earth Engine" in text and "cannot be used now" in text
    at.button(key="btn_run").click()
    _run(at)
    assert at.session_state[state.JOB] is None
    assert "cannot start yet" in _texts(at.error)


# ---------------------------------------------------------------- Compare with known detections

def _engineered_result(dirs, tmp_path) -> Path:
    """A finished demo analysis whose probabilities are replaced by three known blobs:
    new landslides of known size in the 'after' date, none before."""
    import shutil

    import numpy as np
    import rasterio

    from landslide_core import analysis
    from landslide_core.sources import get_source

    from dashboard_testkit import tiny_demo_request

    src = analysis.run_analysis(tiny_demo_request(), get_source("demo"), dirs / "models" / "tiny.json", None,
                                dirs / "results")
    folder = tmp_path / "results" / "engineered"
    shutil.copytree(src.folder, folder)
    with rasterio.open(folder / "post" / "probability.tif") as ds:
        profile, shape = ds.profile, (ds.height, ds.width)
    post = np.full(shape, 0.05, np.float32)
    h, w = shape
    for i, (r, c, size) in enumerate([(h // 4, w // 4, 8), (h // 2, w // 2, 12), (3 * h // 4, w // 3, 6)]):
        post[r:r + size, c:c + size] = 0.9 - 0.1 * i
    pre = np.full(shape, 0.05, np.float32)
    for date, arr in (("pre", pre), ("post", post)):
        with rasterio.open(folder / date / "probability.tif", "w", **profile) as ds:
            ds.write(arr, 1)
    # the ground under the blobs lost its vegetation and got brighter (the evidence of change)
    from landslide_core.change import SpectralPair
    from landslide_core.evidence import EVIDENCE_FILE, write_evidence
    from landslide_core.objects import ObjectRules

    blobs = post > 0.5
    spectral = SpectralPair(np.full(shape, 0.75, np.float32), np.where(blobs, 0.15, 0.75).astype(np.float32),
                            np.full(shape, 600.0, np.float32), np.where(blobs, 1300.0, 600.0).astype(np.float32))
    slope = np.full(shape, 30.0, np.float32)
    elevation = (1000.0 + 5.0 * np.arange(h, dtype=np.float32)[:, None] + np.zeros(shape, np.float32))
    write_evidence(folder / EVIDENCE_FILE, spectral, slope, elevation, profile["transform"], profile["crs"])
    done = json.loads((folder / "done.json").read_text())
    done["folder"] = str(folder)
    done["options"] = {**(done.get("options") or {}), "rules": ObjectRules.off().to_dict()}  # square blobs are blocky
    # The probabilities were replaced on purpose: record their new checksums (else the result
    # is rightly reported as damaged).
    done["files"] = analysis.file_manifest(folder)
    (folder / "done.json").write_text(json.dumps(done))
    return folder


def test_compare_table_charts_locate_and_threshold(dirs, tmp_path):
    folder = _engineered_result(dirs, tmp_path)
    at = AppTest.from_file(COMPARE, default_timeout=TIMEOUT_S)
    at.session_state[state.RESULT_FOLDER] = str(folder)
    _run(at)
    metric = {m.label: m.value for m in at.metric}
    assert metric["New landslides"] == "3"
    # 8x8 + 12x12 + 6x6 pixels of 10 m = 2.44 ha
    assert metric["New (ha)"] == "2.44"
    table = at.dataframe[0].value
    assert list(table["area (ha)"].round(2)) == [0.64, 1.44, 0.36] or sorted(table["area (ha)"].round(2)) == [0.36, 0.64, 1.44]
    assert {"mean slope (deg)", "mean probability", "lon", "lat"} <= set(table.columns)
    assert len(at.get("plotly_chart")) == 2  # area by slope class, sizes
    # Locate one landslide: the maps are redrawn around it, no error.
    at.selectbox(key=state.LOCATE_ID).set_value(2)
    _run(at)
    assert at.session_state[state.LOCATE_ID] == 2
    # A threshold above two of the blobs leaves one new landslide, without the model.
    at.slider(key=state.CMP_THRESHOLD).set_value(0.85)
    _run(at)
    assert {m.label: m.value for m in at.metric}["New landslides"] == "1"
    # One map with layer toggles works too.
    at.radio(key="w_cmp_view").set_value("layers")
    _run(at)
    assert not at.error


def test_local_files_flow(tmp_path):
    """Two uploaded scene GeoTIFFs: their extent becomes the area, and the analysis runs."""
    from conftest import make_raw_scene

    from landslide_core.scene import write_scene

    pre = write_scene(tmp_path / "before_2024-01-10.tif", make_raw_scene(seed=1)).read_bytes()
    post = write_scene(tmp_path / "after_2024-03-10.tif", make_raw_scene(seed=2)).read_bytes()
    at = monitor(**{state.SOURCE: "local"})
    assert "Upload the 'before' and 'after' scenes" in _texts(at.info)
    at.button(key="btn_run").click()
    _run(at)
    assert "Local files need" in _texts(at.error) and at.session_state[state.JOB] is None
    at.file_uploader(key="w_local_pre").upload("before_2024-01-10.tif", pre, "image/tiff")
    at.file_uploader(key="w_local_post").upload("after_2024-03-10.tif", post, "image/tiff")
    _run(at)
    assert str(at.session_state[state.AOI_LABEL]).startswith("Extent of the 'after' file")
    # The make_raw_scene grid: 80 x 64 px of 10 m = 0.51 km2.
    area = next(m for m in at.metric if m.label == "Area").value
    assert area.startswith("0.5"), area
    at.date_input(key=state.PRE_START).set_value(dt.date(2024, 1, 1))
    at.date_input(key=state.PRE_END).set_value(dt.date(2024, 1, 31))
    at.date_input(key=state.POST_START).set_value(dt.date(2024, 3, 1))
    at.date_input(key=state.POST_END).set_value(dt.date(2024, 3, 31))
    _run(at)
    assert not at.error, _texts(at.error)
    at.button(key="btn_run").click()
    _run(at)
    at = wait_for_job(at)
    job = at.session_state[state.JOB]
    assert job.error is None, repr(job.error)
    assert job.result.source["name"] == "local"


def test_home_lists_recent_analyses_and_opens_one(dirs, tmp_path, monkeypatch):
    folder = _engineered_result(dirs, tmp_path)
    monkeypatch.setenv("LANDSLIDE_RESULTS_DIR", str(folder.parent))
    at = _run(AppTest.from_file(APP, default_timeout=TIMEOUT_S))
    text = _texts(at.markdown)
    assert "new landslides" in text and "demo" in text
    open_buttons = [b for b in at.button if b.label == "Open"]
    assert open_buttons
    open_buttons[0].click()
    _run(at)
    assert at.session_state[state.RESULT_FOLDER] == str(folder)
    assert "New landslides" in [m.label for m in at.metric]  # now on the Compare page


def test_compare_with_a_damaged_result_says_so(dirs, tmp_path):
    folder = _engineered_result(dirs, tmp_path)
    (folder / "done.json").write_text("{broken")
    at = AppTest.from_file(COMPARE, default_timeout=TIMEOUT_S)
    at.session_state[state.RESULT_FOLDER] = str(folder)
    _run(at)
    assert "unreadable" in _texts(at.error)


def test_scene_chart_marks_the_chosen_dates_and_warns_when_none_qualifies():
    at = monitor()
    assert at.get("plotly_chart")
    assert "the star is the date each window uses" in _texts(at.caption)
    at.slider(key=state.CLOUD_LIMIT).set_value(0.0)
    _run(at)
    text = _texts(at.warning)
    assert "window" in text and "cloud limit" in text and "raise the cloud limit" in text


def test_object_rules_from_advanced_settings_reach_the_analysis_and_its_provenance(dirs):
    from dashboard import object_settings

    at = monitor()
    assert at.number_input(key=object_settings.RULE_PREFIX + "min_slope_deg").value == 12.0
    at.number_input(key=object_settings.RULE_PREFIX + "min_slope_deg").set_value(25.0)
    at.number_input(key=object_settings.RULE_PREFIX + "max_rectangularity").set_value(1.0)  # = off
    at.slider(key=object_settings.GROW_RATIO).set_value(0.8)
    _run(at)
    at.button(key="btn_run").click()
    _run(at)
    at = wait_for_job(at)
    job = at.session_state[state.JOB]
    assert job.error is None, repr(job.error)
    folder = Path(at.session_state[state.RESULT_FOLDER])
    done = json.loads((folder / "done.json").read_text())
    assert done["options"]["rules"]["min_slope_deg"] == 25.0
    assert done["options"]["rules"]["max_rectangularity"] is None
    assert done["options"]["grow_ratio"] == 0.8
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["settings"]["rules"]["min_slope_deg"] == 25.0
    # another rule value makes the shown result stale: it is cleared, not shown as current
    at.number_input(key=object_settings.RULE_PREFIX + "min_slope_deg").set_value(20.0)
    _run(at)
    assert "Analysis finished" not in _texts(at.success)


def test_model_picker_offers_the_training_free_baseline():
    at = monitor()
    box = at.selectbox(key=state.MODEL)
    assert box.value.endswith("tiny.json")  # the folder's own model first
    index = [o for o in box.options if "training-free" in o]
    assert index == ["index (training-free spectral baseline)"]


def test_compare_provenance_says_how_the_dates_were_aligned_and_what_the_rules_did(dirs, tmp_path):
    from dashboard import compare

    folder = _engineered_result(dirs, tmp_path)
    summary = json.loads((folder / "summary.json").read_text())
    assert "coregistration" in summary and "settings" in summary
    text = compare.coregistration_text({"rows_px": 1.0, "cols_px": -0.5, "applied": True, "magnitude_m": 11.2})
    assert "shifted +1.00 px down, -0.50 px right (11.2 m)" in text
    assert "not applied" in compare.coregistration_text({"applied": False, "reliable": False, "notes": ["few tiles"]})
    objects = compare.objects_text({"settings": {"grow_ratio": 0.6, "rules": {"min_slope_deg": 15.0,
                                                                                "max_rectangularity": None},
                                                 "change": {"min_ndvi_drop": 0.12, "min_brightness_rise": 0.05}},
                                    "post": {"rejected_by_rule": {"min_slope_deg": 2}}})
    assert "min_slope_deg 15" in objects and "max_rectangularity" not in objects
    assert "after: turned down 2 flat ground" in objects
    at = AppTest.from_file(COMPARE, default_timeout=TIMEOUT_S)
    at.session_state[state.RESULT_FOLDER] = str(folder)
    _run(at)
    assert "Co-registration" in _texts(at.markdown) and "Objects and change" in _texts(at.markdown)
