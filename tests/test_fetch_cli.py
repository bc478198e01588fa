"""`python -m landslide_core fetch`: a scene pair and its provenance into a folder, which
`detect --pre --post` reads; bad input exits 2, a source problem 4."""
from __future__ import annotations

import json
import random

import pytest
import torch
from ee_service import add_granules, ee_service, key_config, scene  # noqa: F401
from test_sources_demo import TINY
from test_sources_request import POST, PRE, SQUARE

from landslide_core.bands import ALL_BANDS
from landslide_core.checkpoint import ModelCard, save_checkpoint
from landslide_core.cli import main
from landslide_core.scene import read_scene
from landslide_core.sources.cache import SceneCache
from landslide_core.sources.earthengine import EarthEngineSource
from landslide_core.sources.pair import fetch_pair
from landslide_core.sources.request import AnalysisRequest
from landslide_core.sources.retry import RetryPolicy
from landslide_core.zoo import build_model

DATES = ["--pre-start", "2023-01-01", "--pre-end", "2023-02-28", "--post-start", "2023-04-01",
         "--post-end", "2023-05-31"]


@pytest.fixture
def env(monkeypatch, tmp_path):
    for var in ("EE_SERVICE_ACCOUNT_KEY", "EE_PROJECT", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LANDSLIDE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    aoi = tmp_path / "area.geojson"
    aoi.write_text(json.dumps(TINY))
    return aoi


def fetch(capsys, *argv):
    rc = main(["fetch", *map(str, argv)])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return rc, out, err


def tiny_model(folder):
    torch.manual_seed(0)
    model = build_model("unet_vanilla", 14, base_channels=4)
    card = ModelCard(name="tiny", architecture="unet_vanilla", band_set="l4s14", bands=list(ALL_BANDS),
                     arch_kwargs={"base_channels": 4}, threshold=0.5, trained_on="nothing (test)")
    return save_checkpoint(model, card, folder / "tiny")


def test_demo_fetch_writes_a_pair_that_detect_accepts_and_a_repeat_comes_from_the_cache(env, tmp_path, capsys):
    out = tmp_path / "pair"
    rc, text, err = fetch(capsys, "--aoi", env, *DATES, "--source", "demo", "--out", out)
    assert rc == 0, err
    assert "fetch pre" in err and "fetch post" in err  # the progress bars
    pre, post = read_scene(out / "pre.tif"), read_scene(out / "post.tif")
    assert pre.data.shape == post.data.shape and pre.data.shape[0] == 14 and pre.crs == post.crs
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["source"] == "demo" and prov["request"]["pre"] == ["2023-01-01", "2023-02-28"]
    for role in ("pre", "post"):
        assert prov[role]["file"] == f"{role}.tif" and prov[role]["dates"] and not prov[role]["from_cache"]
        assert {"scene_ids", "aoi_cloud_pct", "requests", "bytes_downloaded"} <= set(prov[role])
    assert prov["totals"] == {"requests": 0, "bytes_downloaded": 0}  # the demo downloads nothing

    rc, text, err = fetch(capsys, "--aoi", env, *DATES, "--out", out)
    assert rc == 0 and "from the cache" in text and "replaced: pre.tif, post.tif, provenance.json" in text
    assert json.loads((out / "provenance.json").read_text())["pre"]["from_cache"] is True

    model = tiny_model(tmp_path / "model")
    rc = main(["detect", "--pre", str(out / "pre.tif"), "--post", str(out / "post.tif"),
               "--out", str(tmp_path / "detected"), "--model", str(model)])
    assert rc == 0 and "new landslides" in capsys.readouterr().out
    assert (tmp_path / "detected" / "summary.json").exists()


def test_bbox_gives_the_same_area_as_its_geojson(env, tmp_path, capsys):
    (w, s), (e, n) = TINY["coordinates"][0][0], TINY["coordinates"][0][2]
    rc, _, err = fetch(capsys, "--bbox", w, s, e, n, *DATES, "--out", tmp_path / "b")
    assert rc == 0, err
    rc, text, _ = fetch(capsys, "--aoi", env, *DATES, "--out", tmp_path / "a")
    assert rc == 0 and "from the cache" in text  # the same request: the same cache entry


@pytest.mark.parametrize("change, words", [
    ({"--pre-end": "2023-02-30"}, "is not a date"),
    ({"--pre-start": "2023-03-01"}, "reversed"),
    ({"--post-end": "2999-01-01"}, "in the future"),
    ({"--cloud-limit": "150"}, "outside 0-100"),
    ({"--source": "sentinelhub"}, "demo, earthengine, local"),
    ({"--source": "local"}, "--local-pre PRE.tif and --local-post POST.tif"),
])
def test_bad_input_exits_2_with_a_clear_message(env, tmp_path, capsys, change, words):
    args = dict(zip(DATES[::2], DATES[1::2]))
    args.update({"--cloud-limit": "30", "--source": "demo"})
    args.update(change)
    flat = [x for kv in args.items() for x in kv]
    rc, _, err = fetch(capsys, "--aoi", env, *flat, "--out", tmp_path / "o")
    assert rc == 2 and words in err, err


@pytest.mark.parametrize("content, words", [
    ('{"type": "FeatureCollection", "features": []}', "empty FeatureCollection"),
    ("", "is empty"),
    ('{"type": "Point", "coordinates": [1, 2]}', "not a polygon"),
])
def test_an_empty_or_wrong_area_exits_2(env, tmp_path, capsys, content, words):
    env.write_text(content)
    rc, _, err = fetch(capsys, "--aoi", env, *DATES, "--out", tmp_path / "o")
    assert rc == 2 and words in err, err


def test_missing_area_file_reversed_bbox_and_out_that_is_a_file_exit_2(env, tmp_path, capsys):
    rc, _, err = fetch(capsys, "--aoi", tmp_path / "nope.geojson", *DATES, "--out", tmp_path / "o")
    assert rc == 2 and "does not exist" in err
    rc, _, err = fetch(capsys, "--bbox", "-75.2", "-12.1", "-75.3", "-12.0", *DATES, "--out", tmp_path / "o")
    assert rc == 2 and "west (-75.2) must be less than east" in err
    (tmp_path / "file").write_text("x")
    rc, _, err = fetch(capsys, "--aoi", env, *DATES, "--out", tmp_path / "file")
    assert rc == 2 and "is a file, not a folder" in err


def test_earth_engine_without_sign_in_exits_4_with_the_reason(env, tmp_path, capsys):
    rc, _, err = fetch(capsys, "--aoi", env, *DATES, "--source", "earthengine", "--out", tmp_path / "o")
    assert rc == 4 and "not signed in" in err and "EE_PROJECT" in err
    assert not (tmp_path / "o" / "pre.tif").exists()


def test_earth_engine_pair_records_the_requests_and_bytes_of_this_run(tmp_path, ee_service):
    add_granules(ee_service, [scene("pre_a", "2023-01-20", 5.0, clear=0.9), scene("post_a", "2023-04-20", 8.0, clear=0.7)])
    src = EarthEngineSource(cache=SceneCache(tmp_path / "cache", 10**9), auth_config=key_config(ee_service.key),
                            http_transport=ee_service, retry_policy=RetryPolicy(sleep=lambda s: None,
                                                                                rng=random.Random(0)))
    request = AnalysisRequest(SQUARE, PRE, POST)
    record = fetch_pair(request, src, tmp_path / "pair")
    assert record["pre"]["scene_ids"] == ["pre_a"] and record["post"]["scene_ids"] == ["post_a"]
    assert record["post"]["aoi_cloud_pct"] == 30.0
    pixels = ee_service.bytes_sent("computePixels")
    assert record["totals"]["requests"] == len(ee_service.calls("computePixels")) + len(ee_service.calls("compute"))
    assert 0.99 * pixels < record["totals"]["bytes_downloaded"] <= pixels  # NPY headers aside
    again = fetch_pair(request, src, tmp_path / "pair")
    assert again["totals"] == {"requests": 0, "bytes_downloaded": 0} and again["pre"]["from_cache"]
