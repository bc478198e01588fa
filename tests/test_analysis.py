"""The analysis pipeline on the demo source: stages, disk cache, re-threshold, exports, cancel."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
import rasterio
from PIL import Image

from landslide_core import analysis
from landslide_core.detection import DetectionOptions
from landslide_core.errors import Cancelled, InputError
from landslide_core.progress import CancelToken
from landslide_core.sources import get_source

from dashboard_testkit import save_tiny_model, tiny_demo_request


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("analysis")
    mp = pytest.MonkeyPatch()
    mp.setenv("LANDSLIDE_CACHE_DIR", str(root / "cache"))
    model = save_tiny_model(root / "models")
    yield {"root": root, "model": model, "results": root / "results"}
    mp.undo()


@pytest.fixture(scope="module")
def first_run(env):
    seen = []
    request = tiny_demo_request()
    result = analysis.run_analysis(request, get_source("demo"), env["model"], DetectionOptions(threshold=0.5),
                                   env["results"], progress=lambda d, t, s: seen.append((s, d, t)))
    return request, result, seen


def test_stages_in_order_and_outputs(first_run):
    _, result, seen = first_run
    stages = []
    for stage, _, _ in seen:
        if not stages or stages[-1] != stage:
            stages.append(stage)
    assert stages == list(analysis.STAGES)
    assert result.from_cache is False
    assert (result.folder / analysis.DONE_FILE).is_file()
    for rel in ("pre/probability.tif", "post/probability.tif", "change.tif", "change.geojson",
                "summary.json", "slope_deg.tif"):
        assert (result.folder / rel).is_file(), rel
    change = result.summary["change"]
    for k in ("new_ha", "persisting_ha", "vanished_ha", "not_assessable_ha", "new_count"):
        assert k in change
    assert result.provenance["pre"] and result.provenance["post"]
    assert result.model["name"] == "tiny" and result.model["weights_sha256"]


def test_display_pngs_are_small_and_georeferenced(first_run):
    _, result, _ = first_run
    (s, w), (n, e) = result.display["bounds"]
    assert s < n and w < e and -12 < s < -10 and -76 < w < -74
    for key in ("pre_rgb", "post_rgb"):
        img = Image.open(result.folder / result.display[key])
        assert img.mode == "RGBA" and max(img.size) <= 1024
        assert np.asarray(img)[..., 3].max() == 255  # some pixels shown


def test_same_request_again_comes_from_the_cache_within_1s(env, first_run):
    request, first, _ = first_run
    t0 = time.perf_counter()
    again = analysis.run_analysis(request, get_source("demo"), env["model"], DetectionOptions(threshold=0.5),
                                  env["results"])
    elapsed = time.perf_counter() - t0
    print(f"cached analysis returned in {elapsed:.3f} s")
    assert again.from_cache is True
    assert elapsed <= 1.0
    assert again.folder == first.folder and again.summary == first.summary


def test_other_options_make_another_analysis(env, first_run):
    request, first, _ = first_run
    k1 = analysis.analysis_key(request, get_source("demo"), env["model"], DetectionOptions(threshold=0.5))
    k2 = analysis.analysis_key(request, get_source("demo"), env["model"], DetectionOptions(threshold=0.4))
    assert k1 == first.key and k1 != k2
    other_model = save_tiny_model(env["root"] / "models2", name="tiny")
    # Same architecture, same seed, same weights: same key; the weights decide, not the path.
    assert analysis.analysis_key(request, get_source("demo"), other_model, DetectionOptions(threshold=0.5)) == k1


def test_rethreshold_without_the_model(first_run, monkeypatch):
    _, result, _ = first_run
    import landslide_core.detection as detection

    monkeypatch.setattr(detection, "detect_pair", lambda *a, **k: pytest.fail("the model ran"))
    low = analysis.rethreshold(result, 0.05, min_area_ha=0.0)
    high = analysis.rethreshold(result, 0.95, min_area_ha=0.0)
    assert (low.post_mask == 1).sum() >= (high.post_mask == 1).sum()
    assert low.change.shape == high.change.shape
    assert set(np.unique(low.change)) <= {0, 1, 2, 3, 255}
    at_run = analysis.rethreshold(result, analysis.default_threshold(result))
    assert at_run.change_summary.new_count == result.summary["change"]["new_count"]
    rows = analysis.slope_class_areas(low.new_features)
    assert abs(sum(r["area_ha"] for r in rows) - sum(f["properties"]["area_ha"] for f in low.new_features)) < 1e-6


def test_rethreshold_kept_in_memory_equals_a_fresh_one(first_run):
    """The kept inputs and pair results give what reading and deriving again gives; the shared
    rasters are read-only and the records are each caller's own."""
    from landslide_core import rethreshold_cache

    _, result, _ = first_run
    rethreshold_cache.clear()
    fresh = analysis.rethreshold(result, 0.3, min_area_ha=0.0)
    fresh.new_features.append({"changed": "by the caller"})
    kept_inputs = analysis.rethreshold(result, 0.31, min_area_ha=0.0)  # inputs kept, pair made anew
    again = analysis.rethreshold(result, 0.3, min_area_ha=0.0)  # the pair kept
    rethreshold_cache.clear()
    cold = analysis.rethreshold(result, 0.31, min_area_ha=0.0)
    assert again.post_mask is fresh.post_mask and not again.post_mask.flags.writeable
    assert {"changed": "by the caller"} not in again.new_features
    assert np.array_equal(kept_inputs.pre_mask, cold.pre_mask)
    assert np.array_equal(kept_inputs.post_mask, cold.post_mask)
    assert np.array_equal(kept_inputs.change, cold.change)
    assert kept_inputs.new_features == cold.new_features and kept_inputs.summary == cold.summary


def test_exports_carry_model_card_and_provenance(first_run):
    from landslide_core.exports import read_metadata

    _, result, _ = first_run
    t = 0.3
    paths = {name: analysis.export_file(result, name, t) for name in analysis.EXPORT_FILES}
    for name in ("change.tif", "probability_pre.tif", "probability_post.tif", "mask_pre.tif", "mask_post.tif"):
        meta = read_metadata(paths[name])
        assert meta["model_card"]["name"] == "tiny"
        assert meta["provenance"]["scenes"]["post"], name
        with rasterio.open(paths[name]) as ds:
            assert ds.crs.is_projected and ds.overviews(1) is not None
    doc = json.loads(paths["new_landslides.geojson"].read_text())
    assert doc["type"] == "FeatureCollection" and doc["metadata"]["model_card"]["name"] == "tiny"
    assert doc["metadata"]["provenance"]["threshold"] == t
    # The CSV: a clean header row (GDAL, QGIS, pandas, spreadsheets); its model card and
    # provenance in the sidecar JSON.
    lines = paths["new_landslides.csv"].read_text().splitlines()
    assert lines[0].startswith("id,area_ha")
    assert len(lines) - 1 == len(doc["features"])
    sidecar = json.loads(paths["new_landslides.metadata.json"].read_text())
    assert sidecar["table"] == "new_landslides.csv" and sidecar["model_card"]["name"] == "tiny"
    assert sidecar["provenance"]["scenes"]["pre"] and sidecar["provenance"]["threshold"] == t
    assert list(sidecar["columns"])[:2] == ["id", "area_ha"] and "hectares" in sidecar["columns"]["area_ha"]
    with pytest.raises(InputError):
        analysis.export_file(result, "nonsense.txt", t)


def test_cancel_keeps_nothing_half_done(env):
    token = CancelToken()
    token.cancel()
    request = tiny_demo_request(cloud_limit_pct=35.0)
    with pytest.raises(Cancelled):
        analysis.run_analysis(request, get_source("demo"), env["model"], None, env["results"], cancel=token)
    key = analysis.analysis_key(request, get_source("demo"), env["model"], None)
    assert not (env["results"] / key / analysis.DONE_FILE).exists()
    assert analysis.find_cached(env["results"], key) is None


def test_listing_and_loading_results(env, first_run):
    _, result, _ = first_run
    listed = analysis.list_results(env["results"])
    assert any(r.key == result.key for r in listed)
    with pytest.raises(InputError):
        analysis.load_result(env["root"] / "nowhere")


def test_invalid_request_is_refused_before_any_work(env):
    from landslide_core.sources.request import AnalysisRequest, DateWindow

    req = tiny_demo_request()
    reversed_req = AnalysisRequest(req.aoi, DateWindow(req.pre.end, req.pre.start), req.post)
    with pytest.raises(InputError, match="reversed"):
        analysis.run_analysis(reversed_req, get_source("demo"), env["model"], None, env["results"])


def test_cancel_mid_run_keeps_the_fetched_scenes(env):
    """Cancelled while detecting: no finished folder; the scenes stay in the source's cache,
    so running again skips the fetch."""
    token = CancelToken()
    request = tiny_demo_request(cloud_limit_pct=40.0)

    def progress(done, total, stage):
        if stage == "detect pre":
            token.cancel()

    with pytest.raises(Cancelled):
        analysis.run_analysis(request, get_source("demo"), env["model"], None, env["results"],
                              progress=progress, cancel=token)
    key = analysis.analysis_key(request, get_source("demo"), env["model"], None)
    assert analysis.find_cached(env["results"], key) is None
    source = get_source("demo")
    fetched = source.fetch(request, request.pre)
    assert fetched.from_cache is True
    result = analysis.run_analysis(request, source, env["model"], None, env["results"])
    assert result.from_cache is False and (result.folder / analysis.DONE_FILE).is_file()


def test_unfinished_folders_never_count_and_are_replaced(env):
    request = tiny_demo_request(cloud_limit_pct=45.0)
    key = analysis.analysis_key(request, get_source("demo"), env["model"], None)
    half = env["results"] / key
    half.mkdir(parents=True)
    (half / "summary.json").write_text("{}")  # a crash left this, without done.json
    assert analysis.find_cached(env["results"], key) is None
    result = analysis.run_analysis(request, get_source("demo"), env["model"], None, env["results"])
    assert result.folder == half and (half / analysis.DONE_FILE).is_file()
    assert analysis.load_result(half).summary == result.summary
    assert not list(env["results"].glob(".*.partial-*"))  # the run's working folder is gone
    done = json.loads((half / analysis.DONE_FILE).read_text())
    assert done["folder"] == str(half)


def test_a_loaded_model_is_used_without_reading_the_model_file(env, monkeypatch):
    """The dashboard keeps models in memory (st.cache_resource) and passes them in."""
    from landslide_core import detection

    loaded = detection.load_model(env["model"])

    def no_disk(*_a, **_k):
        raise AssertionError("the model file was read again")

    monkeypatch.setattr(detection, "load_model", no_disk)
    request = tiny_demo_request()
    result = analysis.run_analysis(request, get_source("demo"), env["model"], DetectionOptions(threshold=0.4),
                                   env["root"] / "results_loaded", loaded_model=loaded)
    assert (result.folder / "change.tif").is_file()


def test_the_model_is_made_ready_beside_the_fetch(env, monkeypatch):
    """The model is read (and its backend made ready) in its own thread while the scenes are
    fetched, not after; a model that cannot be read still fails the analysis with its error."""
    import threading

    from landslide_core import detection
    from landslide_core.errors import ModelError

    real_load = detection.load_model
    loads = []

    def recording_load(path=None):
        loads.append(threading.current_thread().name)
        return real_load(path)

    monkeypatch.setattr(detection, "load_model", recording_load)
    request = tiny_demo_request()
    result = analysis.run_analysis(request, get_source("demo"), env["model"], DetectionOptions(threshold=0.45),
                                   env["root"] / "results_beside")
    assert (result.folder / "change.tif").is_file()
    assert len(loads) == 1 and loads[0].startswith("landslide-model")

    broken = env["root"] / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ModelError):
        analysis.run_analysis(request, get_source("demo"), broken, DetectionOptions(threshold=0.45),
                              env["root"] / "results_broken")
    assert not any((env["root"] / "results_broken").glob("*/done.json"))


def test_ready_model_prepares_the_backend_of_a_large_raster(env):
    from landslide_core import detection, onnx_backend
    from landslide_core.predictor import ONNX_MIN_PX

    model, card, _ = detection.ready_model(env["model"], shape=(ONNX_MIN_PX, 1))
    kept = getattr(model, onnx_backend._ATTR, None)
    assert (kept is not None) == onnx_backend.available()
