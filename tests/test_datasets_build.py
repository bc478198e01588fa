"""Building a dataset: settings, imagery per ROI through a real source and cache onto the ROI's
own grid (also across a UTM zone border), suggestions, label edits and the `dataset` commands."""
from __future__ import annotations

import json

import numpy as np
import pytest
from shapely.geometry import shape

from landslide_core import cli
from landslide_core.datasets import DatasetSpec, DatasetStore, RoiLabel, roi_at
from landslide_core.datasets.imagery import fetch_rois, scene_on_grid
from landslide_core.datasets.labels import edit_features, features_to_shape, label_area_m2
from landslide_core.datasets.suggest import suggest
from landslide_core.errors import InputError, SourceError
from landslide_core.grid import grid_centered
from landslide_core.scene import RawScene, SceneReader
from landslide_core.sources import get_source
from landslide_core.sources.cache import SceneCache

from conftest import make_raw_scene

WINDOW = ("2020-04-01", "2020-04-30")
PRE = ("2020-01-01", "2020-01-31")


@pytest.fixture
def demo(tmp_path):
    return get_source("demo", cache=SceneCache(tmp_path / "cache"))


def _create(tmp_path, **kw) -> DatasetStore:
    return DatasetStore.create(tmp_path / "ds", DatasetSpec(kw.pop("name", "set"), window=WINDOW, **kw))


@pytest.mark.parametrize("kw, message", [
    (dict(window=("2020-04-30", "2020-04-01")), "reversed"),
    (dict(window=("2020-04-01", "2999-01-01")), "future"),
    (dict(pre_window=("2020-03-01", "2020-04-15")), "pre-event window ends"),
    (dict(name="../x"), "name"),
    (dict(source="nowhere"), "Unknown imagery source"),
    (dict(cloud_limit_pct=120), "cloud limit"),
    (dict(roi_size_m=50), "ROI size"),
])
def test_bad_dataset_settings_are_clear_errors(tmp_path, kw, message):
    spec = dict(name="set", window=WINDOW)
    spec.update(kw)
    with pytest.raises(InputError, match=message):
        DatasetStore.create(tmp_path / "ds", DatasetSpec(**spec))
    assert not (tmp_path / "ds").exists()


def test_store_refuses_folders_that_are_not_datasets(tmp_path):
    with pytest.raises(InputError, match="not a dataset"):
        DatasetStore(tmp_path)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    with pytest.raises(InputError, match="not an empty folder"):
        DatasetStore.create(tmp_path / "full", DatasetSpec("set", window=WINDOW))


def test_fetch_puts_each_roi_on_its_own_grid_across_a_zone_border(tmp_path, demo):
    store = _create(tmp_path, pre_window=PRE)
    west, east = roi_at(-78.0004, -9.5), roi_at(-77.9996, -9.5)  # either side of the 17/18 border
    assert store.add_rois([west, east, west]).added == [west, east]
    report = fetch_rois(store, source=demo)
    assert sorted(report.fetched) == sorted([west.id, east.id]) and not report.failed
    for roi in (west, east):
        g = roi.grid()
        for role in ("post", "pre"):
            with SceneReader(store.scene_path(roi.id, role)) as r:
                assert r.crs == g.crs and (r.width, r.height) == (150, 150)
                assert r.transform.almost_equals(g.transform)
                assert r.slope_given and r.provenance["roi"] == roi.id and r.provenance["role"] == role
                stack, valid = r.read()
            assert np.isfinite(stack[:, valid]).all() and valid.mean() > 0.3
        record = store.fetch_record(roi.id)
        assert record["scenes"]["post"]["scene_ids"] and record["scenes"]["post"]["dates"][0].startswith("2020-04")
        assert record["scenes"]["pre"]["dates"][0].startswith("2020-01")
    again = fetch_rois(store, source=demo)
    assert sorted(again.already) == sorted([west.id, east.id]) and not again.fetched
    # fetched again: the scenes come from the cache
    fetch_rois(store, source=demo, refetch=True)
    assert store.fetch_record(west.id)["scenes"]["post"]["from_cache"] is True


def test_a_scene_in_another_zone_is_reprojected_onto_the_roi_grid():
    roi_grid = grid_centered(-78.0004, -9.5, 150, 150)  # zone 17
    big = grid_centered(-77.995, -9.5, 500, 500)        # zone 18, covering the ROI
    s = make_raw_scene(500, 500, seed=2)
    data = s.data.copy()
    data[-1] = 1000.0 + 0.1 * np.arange(500)[None, :]  # elevation: a gentle ramp
    scene = RawScene(data, s.band_names, s.valid, big.transform, big.crs, {"source": "test"})
    out = scene_on_grid(scene, roi_grid)
    assert out.crs == roi_grid.crs and out.data.shape == (14, 150, 150)
    assert out.transform == roi_grid.transform and "reprojected_from" in out.provenance
    assert out.valid.mean() > 0.95
    elev = out.band("elevation")[out.valid]
    assert 1000.0 <= elev.min() and elev.max() <= 1050.0
    slope = out.band("slope")[5:-5, 5:-5]
    assert np.nanmax(slope) < 2.0  # a 0.01 gradient is ~0.6 degrees, recomputed on the new grid


def test_an_roi_without_a_scene_under_the_cloud_limit_is_recorded(tmp_path, demo):
    store = _create(tmp_path, cloud_limit_pct=0.0)
    roi = roi_at(-75.4, -11.3)
    store.add_rois([roi])
    with pytest.raises(SourceError, match="No ROI could be fetched"):
        fetch_rois(store, source=demo)
    assert "cloud" in store.fetch_record(roi.id)["error"]
    assert store.summary()["fetch_failed"] == 1


def test_suggestion_from_the_training_free_model_is_cached(tmp_path, demo):
    store = _create(tmp_path)
    roi = roi_at(-75.41, -11.31)
    store.add_rois([roi])
    fetch_rois(store, source=demo)
    polys = suggest(store, roi.id, "index")
    assert polys and all(p["geometry"]["type"] == "Polygon" for p in polys)
    folder = next((store.roi_dir(roi.id) / "suggestions").iterdir())
    assert folder.name.startswith("index-") and (folder / "landslides.geojson").is_file()
    stamp = (folder / "landslides.geojson").stat().st_mtime_ns
    assert suggest(store, roi.id, "index") == polys
    assert (folder / "landslides.geojson").stat().st_mtime_ns == stamp
    with pytest.raises(InputError, match="no imagery"):
        other = roi_at(-75.3, -11.3)
        store.add_rois([other])
        suggest(store, other.id, "index")


def test_label_edits_add_erase_and_brush():
    roi = roi_at(-75.4, -11.3)
    crs = roi.grid().crs
    lon, lat = roi.lon, roi.lat
    d = 0.001  # ~110 m
    rect = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[lon, lat], [lon + d, lat],
                                                                                  [lon + d, lat + d], [lon, lat + d],
                                                                                  [lon, lat]]]}}
    label = edit_features([], [rect], crs)
    area = label_area_m2(label, crs)
    assert 1.1e4 < area < 1.3e4
    stroke = {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[lon - 0.003, lat - 0.003],
                                                                                      [lon - 0.002, lat - 0.003]]}}
    label2 = edit_features(label, [stroke], crs, "add", brush_m=20)
    assert len(label2) == 2
    stroke_area = label_area_m2(label2, crs) - area
    assert 109 * 20 < stroke_area < 112 * 20 + 400  # length x width, plus the round caps
    erased = edit_features(label2, [rect], crs, "erase")
    assert len(erased) == 1 and label_area_m2(erased, crs) == pytest.approx(stroke_area, rel=1e-3)
    assert features_to_shape(erased, crs).is_valid
    with pytest.raises(InputError, match="brush width"):
        edit_features(label, [stroke], crs, brush_m=0)
    with pytest.raises(InputError, match="mode"):
        edit_features(label, [stroke], crs, mode="paint")
    with pytest.raises(InputError, match="quality flags"):
        RoiLabel("x", flags=["smoke"])
    with pytest.raises(InputError, match="status"):
        RoiLabel("x", status="done")
    assert shape(erased[0]["geometry"]).geom_type == "Polygon"


def test_dataset_commands_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LANDSLIDE_CACHE_DIR", str(tmp_path / "cache"))
    ds, out = str(tmp_path / "ds"), str(tmp_path / "out")
    assert cli.main(["dataset", "create", ds, "--window", *WINDOW, "--roi-size", "1500"]) == 0
    inv = tmp_path / "inv.csv"
    inv.write_text("lon,lat,name\n-75.41,-11.31,a\n-75.39,-11.29,b\n")
    assert cli.main(["dataset", "add", ds, "--inventory", str(inv)]) == 0
    assert "added 2 ROIs" in capsys.readouterr().out
    assert cli.main(["dataset", "fetch", ds]) == 0
    assert "2 fetched" in capsys.readouterr().out
    ids = DatasetStore(ds).roi_ids()
    assert cli.main(["dataset", "label", ds, ids[0], "--accept-suggestion", "--labeller", "ana"]) == 0
    assert cli.main(["dataset", "label", ds, ids[1], "--clear", "--flag", "noise"]) == 0
    capsys.readouterr()
    assert cli.main(["dataset", "status", ds, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["summary"]["labelled"] == 2 and status["summary"]["flagged"] == 1
    assert cli.main(["dataset", "export", ds, "--out", out]) == 0
    text = capsys.readouterr().out
    assert "1 patches" in text and "flagged: noise" in text
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["patches"][0]["labeller"] == "ana"
    # bad input: exit 2 with a message, no traceback
    assert cli.main(["dataset", "add", ds, "--point", "500", "0"]) == 2
    assert cli.main(["dataset", "label", ds, "99S-1-1"]) == 2
    assert cli.main(["dataset", "status", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a longitude/latitude" in err and "no ROI" in err and "not a dataset" in err
