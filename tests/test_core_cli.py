"""`python -m landslide_core detect`: end to end on tiny scenes, and every bad input -> message + exit code."""
from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
import torch
from conftest import UTM18S, make_raw_scene
from rasterio.crs import CRS
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_validate

from landslide_core import detection
from landslide_core.bands import ALL_BANDS
from landslide_core.checkpoint import ModelCard, save_checkpoint
from landslide_core.cli import main
from landslide_core.detection import DetectionOptions, detect_pair, detect_scene
from landslide_core.exports import read_metadata
from landslide_core.progress import CancelToken
from landslide_core.scene import write_scene
from landslide_core.zoo import build_model


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("unet_vanilla", 14, base_channels=4)
    card = ModelCard(name="tiny", architecture="unet_vanilla", band_set="l4s14", bands=list(ALL_BANDS),
                     arch_kwargs={"base_channels": 4}, threshold=0.5, trained_on="nothing (test)")
    return save_checkpoint(model, card, tmp_path_factory.mktemp("model") / "tiny")


def run(capsys, *argv):
    rc = main(["detect", *map(str, argv)])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return rc, out, err


def scene(tmp_path, name="s.tif", h=40, w=50, seed=0, **changes):
    raw = make_raw_scene(h, w, seed=seed)
    for k, v in changes.items():
        setattr(raw, k, v)
    return write_scene(tmp_path / name, raw)


def plain_tif(path, count, crs=UTM18S, descriptions=None, data=None, nodata=None):
    data = np.ones((count, 20, 20), np.float32) * 100 if data is None else data
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=count,
                       dtype="float32", crs=crs, transform=from_origin(400000, 8750000, 10, 10), nodata=nodata) as ds:
        ds.write(data)
        for i, d in enumerate(descriptions or []):
            ds.set_band_description(i + 1, d)
    return path


# -- end to end ---------------------------------------------------------------------------------
def test_detect_single_end_to_end(tmp_path, model_path, capsys):
    s = scene(tmp_path)
    rc, out, err = run(capsys, "--image", s, "--out", tmp_path / "out", "--model", model_path,
                       "--window", 32, "--overlap", 0.25, "--threshold", 0.45, "--device", "cpu")
    assert rc == 0, err
    assert "landslides:" in out and "detect" in err  # summary on stdout, progress bar on stderr
    o = tmp_path / "out"
    for name in ("probability.tif", "mask.tif", "landslides.geojson", "landslides.csv", "summary.json"):
        assert (o / name).exists(), name
    for name in ("probability.tif", "mask.tif"):
        assert cog_validate(str(o / name))[0]
        assert read_metadata(o / name)["model_card"]["name"] == "tiny"
        assert read_metadata(o / name)["provenance"]["source"] == "test"
    summary = json.loads((o / "summary.json").read_text())
    assert summary["threshold"] == 0.45 and summary["model"]["name"] == "tiny"
    assert summary["prediction"]["window_shape_px"] == [32, 32] and summary["prediction"]["overlap_px"] == 8
    assert summary["landslide_ha"] + summary["stable_ha"] == pytest.approx(40 * 50 * 0.01)
    assert set(summary["timings_s"]) >= {"predict", "postprocess", "export", "total"}
    with rasterio.open(o / "mask.tif") as m, rasterio.open(o / "probability.tif") as p:
        mask, prob = m.read(1), p.read(1)
    assert set(np.unique(mask)) <= {0, 1}
    gj = json.loads((o / "landslides.geojson").read_text())
    assert gj["metadata"]["model_card"]["name"] == "tiny"
    assert summary["landslide_count"] == len(gj["features"])
    assert np.isfinite(prob).all() and not list(o.glob(".*"))


def test_window_covering_the_scene_with_zero_overlap_is_one_pass(tmp_path, model_path, capsys):
    s = scene(tmp_path)
    rc, _, err = run(capsys, "--image", s, "--out", tmp_path / "o", "--model", model_path, "--window", 64,
                     "--overlap", 0)
    assert rc == 0, err
    pred = json.loads((tmp_path / "o" / "summary.json").read_text())["prediction"]
    assert pred["windows_total"] == 1 and pred["window_shape_px"] == [40, 50]


def test_detect_pair_end_to_end(tmp_path, model_path, capsys):
    pre, post = scene(tmp_path, "pre.tif", seed=1), scene(tmp_path, "post.tif", seed=2)
    rc, out, err = run(capsys, "--pre", pre, "--post", post, "--out", tmp_path / "pair", "--model", model_path,
                       "--window", 32, "--threshold", 0.45)
    assert rc == 0, err
    assert "new landslides:" in out
    o = tmp_path / "pair"
    for name in ("pre/probability.tif", "pre/mask.tif", "pre/landslides.geojson", "pre/summary.json",
                 "post/probability.tif", "post/mask.tif", "post/landslides.geojson", "post/summary.json",
                 "change.tif", "change.geojson", "summary.json"):
        assert (o / name).exists(), name
    assert cog_validate(str(o / "change.tif"))[0]
    with rasterio.open(o / "change.tif") as ds:
        change = ds.read(1)
        assert ds.nodata == 255
    assert set(np.unique(change)) <= {0, 1, 2, 3}
    summary = json.loads((o / "summary.json").read_text())
    c = summary["change"]
    assert c["new_ha"] + c["persisting_ha"] + c["vanished_ha"] + c["stable_ha"] + c["not_assessable_ha"] == \
        pytest.approx(40 * 50 * 0.01)
    assert c["new_ha"] == pytest.approx((change == 1).sum() * 0.01)
    assert summary["reprojected"] is None
    assert c["new_count"] == len(json.loads((o / "change.geojson").read_text())["features"])
    assert read_metadata(o / "change.tif")["provenance"]["post"]["seed"] == 2


def test_pair_progress_stages_and_cancel(tmp_path, model_path):
    pre, post = scene(tmp_path, "pre.tif", seed=1), scene(tmp_path, "post.tif", seed=2)
    stages = []
    detect_pair(pre, post, tmp_path / "o", model_path, DetectionOptions(window_px=32, overlap_px=8),
                progress=lambda d, t, s: stages.append(s))
    assert [s for i, s in enumerate(stages) if i == 0 or stages[i - 1] != s] == ["detect pre", "detect post", "change"]
    token = CancelToken()
    token.cancel()
    rc_exc = None
    try:
        detect_scene(pre, tmp_path / "c", model_path, DetectionOptions(window_px=32, overlap_px=8), cancel=token)
    except Exception as exc:  # noqa: BLE001 - checking the type below
        rc_exc = exc
    assert type(rc_exc).__name__ == "Cancelled" and not (tmp_path / "c" / "probability.tif").exists()


def test_pair_on_different_grids_is_reprojected_onto_post(tmp_path, model_path, capsys):
    post = scene(tmp_path, "post.tif", seed=2)
    pre = scene(tmp_path, "pre.tif", seed=1, transform=from_origin(400055.0, 8749975.0, 10.0, 10.0))
    rc, out, err = run(capsys, "--pre", pre, "--post", post, "--out", tmp_path / "o", "--model", model_path,
                       "--window", 32)
    assert rc == 0, err
    assert "reprojected" in out
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["reprojected"]["pre_grid"]["transform"][2] == 400055.0
    assert summary["grid"]["transform"][2] == 400000.0
    with rasterio.open(tmp_path / "o" / "pre" / "mask.tif") as ds:
        assert ds.transform == from_origin(400000.0, 8750000.0, 10.0, 10.0)
        pre_mask = ds.read(1)
    assert (pre_mask[:, :5] == 255).all()  # west of the pre scene: not assessable
    assert summary["change"]["not_assessable_ha"] > 0


def test_pair_in_another_crs_is_reprojected(tmp_path, model_path, capsys):
    from rasterio.warp import transform

    post = scene(tmp_path, "post.tif", seed=2)
    (x,), (y,) = transform(UTM18S, CRS.from_epsg(32717), [400000.0], [8750000.0])  # same place, zone 17S
    pre = scene(tmp_path, "pre.tif", seed=1, crs=CRS.from_epsg(32717), transform=from_origin(x - 30, y + 30, 10, 10),
                )
    rc, _, err = run(capsys, "--pre", pre, "--post", post, "--out", tmp_path / "o", "--model", model_path,
                     "--window", 32)
    assert rc == 0, err
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["reprojected"]["pre_grid"]["crs"] == "EPSG:32717"


# -- bad input ------------------------------------------------------------------------------------
def test_pair_without_overlap_refused(tmp_path, model_path, capsys):
    post = scene(tmp_path, "post.tif")
    pre = scene(tmp_path, "pre.tif", transform=from_origin(500000.0, 8750000.0, 10.0, 10.0))
    rc, _, err = run(capsys, "--pre", pre, "--post", post, "--out", tmp_path / "o", "--model", model_path)
    assert rc == 2 and "do not overlap" in err


@pytest.mark.parametrize("count", [3, 12, 15])
def test_wrong_band_count_refused(tmp_path, model_path, capsys, count):
    bad = plain_tif(tmp_path / "bad.tif", count)
    rc, _, err = run(capsys, "--image", bad, "--out", tmp_path / "o", "--model", model_path)
    assert rc == 2 and f"{count} bands" in err


def test_wrong_band_names_refused(tmp_path, model_path, capsys):
    names = [f"B{i}" for i in range(1, 13)] + ["elev"]
    bad = plain_tif(tmp_path / "bad.tif", 13, descriptions=names)
    rc, _, err = run(capsys, "--image", bad, "--out", tmp_path / "o", "--model", model_path)
    assert rc == 2 and "lacks the bands elevation" in err


def test_no_crs_refused(tmp_path, model_path, capsys):
    bad = plain_tif(tmp_path / "bad.tif", 14, crs=None)
    rc, _, err = run(capsys, "--image", bad, "--out", tmp_path / "o", "--model", model_path)
    assert rc == 2 and "no coordinate reference system" in err


def test_geographic_crs_refused(tmp_path, model_path, capsys):
    bad = plain_tif(tmp_path / "bad.tif", 14, crs=CRS.from_epsg(4326))
    rc, _, err = run(capsys, "--image", bad, "--out", tmp_path / "o", "--model", model_path)
    assert rc == 2 and "geographic CRS" in err


def test_not_a_geotiff_refused(tmp_path, model_path, capsys):
    bad = tmp_path / "bad.tif"
    bad.write_text("hello")
    rc, _, err = run(capsys, "--image", bad, "--out", tmp_path / "o", "--model", model_path)
    assert rc == 2 and "Cannot open" in err
    rc, _, err = run(capsys, "--image", tmp_path / "missing.tif", "--out", tmp_path / "o", "--model", model_path)
    assert rc == 2 and "Cannot open" in err


def test_all_nodata_refused(tmp_path, model_path, capsys):
    raw = make_raw_scene(30, 30)
    raw.valid[:] = False
    s = write_scene(tmp_path / "clouds.tif", raw)
    rc, _, err = run(capsys, "--image", s, "--out", tmp_path / "o", "--model", model_path)
    assert rc == 2 and "no valid pixel" in err
    assert not (tmp_path / "o" / "probability.tif").exists()
    data = np.full((14, 20, 20), -9999.0, np.float32)
    nd = plain_tif(tmp_path / "nodata.tif", 14, data=data, nodata=-9999.0)
    rc, _, err = run(capsys, "--image", nd, "--out", tmp_path / "o2", "--model", model_path)
    assert rc == 2 and "no valid pixel" in err


def test_all_nan_or_inf_refused_and_partial_nan_not_assessable(tmp_path, model_path, capsys):
    raw = make_raw_scene(30, 30)
    raw.data[:] = np.nan
    raw.data[3, :10] = np.inf
    rc, _, err = run(capsys, "--image", write_scene(tmp_path / "nan.tif", raw), "--out", tmp_path / "o",
                     "--model", model_path)
    assert rc == 2 and "NaN/infinite" in err
    raw = make_raw_scene(30, 30)
    raw.data[2, 0:10, 0:10] = np.nan
    raw.data[5, 20:25, 20:30] = np.inf
    rc, _, err = run(capsys, "--image", write_scene(tmp_path / "part.tif", raw), "--out", tmp_path / "p",
                     "--model", model_path, "--window", 16)
    assert rc == 0, err
    with rasterio.open(tmp_path / "p" / "mask.tif") as ds:
        mask = ds.read(1)
    assert (mask[0:10, 0:10] == 255).all() and (mask[20:25, 20:30] == 255).all()
    assert (mask == 255).sum() == 150
    s = json.loads((tmp_path / "p" / "summary.json").read_text())
    assert s["not_assessable_ha"] == pytest.approx(1.5)


def test_pair_with_an_all_cloud_date_refused_naming_it(tmp_path, model_path, capsys):
    raw = make_raw_scene(40, 50, seed=1)
    raw.valid[:] = False
    pre = write_scene(tmp_path / "pre.tif", raw)
    rc, _, err = run(capsys, "--pre", pre, "--post", scene(tmp_path, "post.tif"), "--out", tmp_path / "o",
                     "--model", model_path)
    assert rc == 2 and f"pre scene {pre} has no valid pixel" in err


@pytest.mark.parametrize("t", ["1.5", "-0.1", "nan"])
def test_threshold_outside_0_1_refused(tmp_path, model_path, capsys, t):
    rc, _, err = run(capsys, "--image", scene(tmp_path), "--out", tmp_path / "o", "--model", model_path,
                     "--threshold", t)
    assert rc == 2 and "outside 0-1" in err


@pytest.mark.parametrize("overlap", ["0.5", "-0.1", "0.9"])
def test_overlap_outside_range_refused(tmp_path, model_path, capsys, overlap):
    rc, _, err = run(capsys, "--image", scene(tmp_path), "--out", tmp_path / "o", "--model", model_path,
                     "--overlap", overlap)
    assert rc == 2 and "0 <= F < 0.5" in err


def test_missing_model_refused(tmp_path, capsys, monkeypatch):
    s = scene(tmp_path)
    rc, _, err = run(capsys, "--image", s, "--out", tmp_path / "o", "--model", tmp_path / "nope.json")
    assert rc == 3 and "does not exist" in err
    monkeypatch.setattr(detection, "default_model_path", lambda: tmp_path / "models" / "default.json")
    rc, _, err = run(capsys, "--image", s, "--out", tmp_path / "o")
    assert rc == 3 and "No default model" in err and "--model" in err


def test_unreadable_model_refused(tmp_path, model_path, capsys):
    s = scene(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    rc, _, err = run(capsys, "--image", s, "--out", tmp_path / "o", "--model", bad)
    assert rc == 3 and "not readable JSON" in err
    card = json.loads(model_path.read_text())
    (tmp_path / "t.json").write_text(json.dumps(card))
    (tmp_path / "t.safetensors").write_bytes(model_path.with_suffix(".safetensors").read_bytes()[:-8] + b"tampered")
    rc, _, err = run(capsys, "--image", s, "--out", tmp_path / "o", "--model", tmp_path / "t.json")
    assert rc == 3 and "SHA-256" in err


def test_model_needing_bands_the_scene_lacks_is_refused():
    from landslide_core.errors import ModelError
    from landslide_core.predictor import Predictor

    card = ModelCard(name="future", architecture="unet_vanilla", band_set="l4s14",
                     bands=list(ALL_BANDS[:-1]) + ["B8A"])
    with pytest.raises(ModelError, match="B8A"):
        Predictor(build_model("unet_vanilla", 14, base_channels=4), card)


def test_usage_errors(tmp_path, model_path, capsys):
    s = scene(tmp_path)
    rc, _, err = run(capsys, "--image", s, "--out", s, "--model", model_path)
    assert rc == 2 and "not a folder" in err
    rc, _, err = run(capsys, "--out", tmp_path / "o", "--model", model_path)
    assert rc == 2 and "--image" in err
    rc, _, err = run(capsys, "--image", s, "--pre", s, "--out", tmp_path / "o", "--model", model_path)
    assert rc == 2
    rc, _, err = run(capsys, "--pre", s, "--out", tmp_path / "o", "--model", model_path)
    assert rc == 2 and "--post" in err
    rc, _, err = run(capsys, "--image", s, "--out", tmp_path / "o", "--model", model_path, "--window", 4)
    assert rc == 2 and "too small" in err
    if not torch.cuda.is_available():
        rc, _, err = run(capsys, "--image", s, "--out", tmp_path / "o", "--model", model_path, "--device", "cuda")
        assert rc == 2 and "CUDA" in err


def test_index_model_by_name_and_object_rule_flags(tmp_path, capsys):
    """`--model index` (the training-free detector, found by name); rules and change settings from flags."""
    s = scene(tmp_path, h=64, w=64)
    rc, out, err = run(capsys, "--image", s, "--out", tmp_path / "o", "--model", "index", "--window", 64,
                       "--rule", "min_slope_deg=20", "--rule", "max_rectangularity=off", "--grow-ratio", 0.8)
    assert rc == 0, err
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["model"]["name"] == "index" and summary["model"]["architecture"] == "spectral_index"
    assert summary["settings"]["rules"]["min_slope_deg"] == 20.0
    assert summary["settings"]["rules"]["max_rectangularity"] is None
    assert summary["settings"]["grow_ratio"] == 0.8
    assert (tmp_path / "o" / "rejected.geojson").is_file()
    rc, _, err = run(capsys, "--image", s, "--out", tmp_path / "p", "--model", "index", "--no-rules")
    assert rc == 0 and json.loads((tmp_path / "p" / "summary.json").read_text())["settings"]["rules"][
        "min_slope_deg"] is None


@pytest.mark.parametrize("flag, value, says", [
    ("--rule", "min_slope_deg", "NAME=VALUE"),
    ("--rule", "steepness=3", "no such setting"),
    ("--rule", "min_slope_deg=steep", "not a number"),
    ("--rule", "min_slope_deg=120", "0-90"),
    ("--rule", "valley_radius_m=off", "at least 20 m"),
    ("--change-setting", "tolerance_px=-2", "whole number"),
    ("--grow-ratio", "0", "grow ratio"),
])
def test_bad_rule_flags_refused(tmp_path, model_path, capsys, flag, value, says):
    s = scene(tmp_path)
    rc, _, err = run(capsys, "--image", s, "--out", tmp_path / "o", "--model", model_path, flag, value)
    assert rc == 2 and says in err


def test_unknown_model_name_lists_the_known_ones(tmp_path, capsys):
    rc, _, err = run(capsys, "--image", scene(tmp_path), "--out", tmp_path / "o", "--model", "nosuchmodel")
    assert rc == 3 and "does not exist" in err and "index" in err
