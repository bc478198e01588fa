"""The Earth Engine source against the fake ee: sign-in, listing, selection, expressions, cache."""
from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest
from fake_ee import EEException, fake_ee, listing_feature, rate_limited  # noqa: F401
from test_sources_request import POST, PRE, SQUARE

from landslide_core.errors import SourceError
from landslide_core.scene import read_scene
from landslide_core.sources import get_source
from landslide_core.sources.cache import SceneCache
from landslide_core.sources.earthengine import EarthEngineSource
from landslide_core.sources.ee_auth import AuthConfig, find_config, initialize, self_test
from landslide_core.sources.request import AnalysisRequest
from landslide_core.sources.retry import RetryPolicy

KEY = {"type": "service_account", "client_email": "bot@proj-1.iam.gserviceaccount.com",
       "private_key": "-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----\n", "project_id": "proj-1"}


def make_source(tmp_path, **kw) -> EarthEngineSource:
    cfg = AuthConfig(kind="service_account", key_info=KEY, project="proj-1", project_from="test")
    return EarthEngineSource(cache=SceneCache(tmp_path / "cache", 10**9), auth_config=cfg,
                             retry_policy=RetryPolicy(sleep=lambda s: None, rng=random.Random(0)), **kw)


def listing(*rows) -> dict:
    return {"type": "FeatureCollection", "features": [listing_feature(*r) for r in rows]}


PRE_SCENES = listing(("20230110T150000_20230110T150000_T18LTM", "2023-01-10", 12.0, 0.40, 1.0),
                     ("20230120T150000_20230120T150000_T18LTM", "2023-01-20", 5.0, 0.02, 1.0),
                     ("20230120T150000_20230120T150000_T18LUM", "2023-01-20", 8.0, 0.10, 0.3),
                     ("20230125T150000_20230125T150000_T18LTM", "2023-01-25", 75.0, 0.0, 1.0))


# --- sign-in ----------------------------------------------------------------------------------
def empty_env(tmp_path):
    return dict(env={}, secrets_paths=[tmp_path / "nope.toml"], user_credentials_path=tmp_path / "none")


def test_nothing_configured_says_what_is_missing_and_how_to_fix(tmp_path):
    r = self_test(find_config(**empty_env(tmp_path)))
    assert not r.ready
    for words in ("not signed in", "EE_SERVICE_ACCOUNT_KEY", "earthengine authenticate", "EE_PROJECT"):
        assert words in r.message


def test_fetch_without_sign_in_is_a_plain_source_error(tmp_path, fake_ee):
    src = EarthEngineSource(cache=SceneCache(tmp_path), auth_config=find_config(**empty_env(tmp_path)))
    with pytest.raises(SourceError, match="not signed in.*EE_SERVICE_ACCOUNT_KEY.*EE_PROJECT"):
        src.fetch(AnalysisRequest(SQUARE, PRE, POST), PRE)
    assert fake_ee.compute_requests == []


def test_service_account_key_from_env_and_project(tmp_path, fake_ee):
    key = tmp_path / "key.json"
    key.write_text(json.dumps(KEY))
    cfg = find_config(env={"EE_SERVICE_ACCOUNT_KEY": str(key), "EE_PROJECT": "my-ee-project"},
                      secrets_paths=[], user_credentials_path=tmp_path / "none")
    assert cfg.kind == "service_account" and cfg.project == "my-ee-project"
    r = self_test(cfg, connect=True)
    assert r.ready and "bot@proj-1" in r.message and "my-ee-project" in r.message
    init = [c for c in fake_ee.calls if c[0] == "Initialize"]
    assert init[-1][2]["project"] == "my-ee-project"
    assert [c for c in fake_ee.calls if c[0] == "ServiceAccountCredentials"][0][1] == (KEY["client_email"],)


def test_key_table_in_streamlit_secrets(tmp_path):
    secrets = tmp_path / "secrets.toml"
    lines = ['EE_PROJECT = "from-secrets"', "[ee_service_account]"] + [f"{k} = {json.dumps(v)}" for k, v in KEY.items()]
    secrets.write_text("\n".join(lines))
    cfg = find_config(env={}, secrets_paths=[secrets], user_credentials_path=tmp_path / "none")
    assert cfg.kind == "service_account" and cfg.project == "from-secrets"
    assert cfg.key_info["client_email"] == KEY["client_email"]


def test_user_credentials_and_missing_project(tmp_path):
    creds = tmp_path / "credentials"
    creds.write_text(json.dumps({"refresh_token": "r"}))
    cfg = find_config(env={}, secrets_paths=[], user_credentials_path=creds)
    assert cfg.kind == "user" and cfg.project is None
    r = self_test(cfg, connect=False)
    assert not r.ready and "no Cloud project" in r.message and "EE_PROJECT" in r.message
    creds.write_text(json.dumps({"refresh_token": "r", "project": "stored-proj"}))
    assert find_config(env={}, secrets_paths=[], user_credentials_path=creds).project == "stored-proj"


def test_bad_key_paths_are_named(tmp_path):
    cfg = find_config(env={"EE_SERVICE_ACCOUNT_KEY": str(tmp_path / "missing.json")}, secrets_paths=[],
                      user_credentials_path=tmp_path / "none")
    r = self_test(cfg)
    assert not r.ready and "missing.json" in r.message and "does not exist" in r.message
    oauth = tmp_path / "client.json"
    oauth.write_text(json.dumps({"installed": {"client_id": "x"}}))
    r = self_test(find_config(env={"EE_SERVICE_ACCOUNT_KEY": str(oauth)}, secrets_paths=[],
                              user_credentials_path=tmp_path / "none"))
    assert "not a service-account key" in r.message


def test_unregistered_project_is_explained(tmp_path, fake_ee):
    fake_ee.init_error = EEException("Project 'x' is not registered to use Earth Engine.")
    cfg = AuthConfig(kind="service_account", key_info=KEY, project="x", project_from="test")
    with pytest.raises(SourceError, match="not set up for Earth Engine.*register"):
        initialize(cfg)


def test_importing_the_source_does_not_import_ee():
    code = ("import sys, landslide_core.sources.earthengine, landslide_core.sources.ee_auth;"
            "import landslide_core.commands.sources; print('ee' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- listing and selection --------------------------------------------------------------------
def test_list_scenes_reports_cloud_and_coverage_and_builds_the_right_query(tmp_path, fake_ee):
    fake_ee.listing = PRE_SCENES
    src = make_source(tmp_path)
    scenes = src.list_scenes(AnalysisRequest(SQUARE, PRE, POST), PRE)
    assert [s.date.isoformat() for s in scenes] == ["2023-01-10", "2023-01-20", "2023-01-20", "2023-01-25"]
    assert scenes[1].aoi_cloud_pct == 2.0 and scenes[2].aoi_coverage_pct == 30.0 and scenes[0].scene_cloud_pct == 12.0
    q = fake_ee.getinfo_requests[0]
    for words in ("ImageCollection('COPERNICUS/S2_HARMONIZED')", "filterDate('2023-01-01', '2023-03-01')",
                  "COPERNICUS/S2_CLOUD_PROBABILITY", "Join.saveFirst('cloud_probability')",
                  "leftField='system:index'", "gt(40.0)", "reduceRegion", "Reducer.mean()", "CLOUDY_PIXEL_PERCENTAGE"):
        assert words in q, words


def test_fetch_least_cloudy_picks_the_clearest_date_on_the_request_grid(tmp_path, fake_ee):
    fake_ee.listing = PRE_SCENES
    src = make_source(tmp_path)
    req = AnalysisRequest(SQUARE, PRE, POST, cloud_limit_pct=30)
    fetched = src.fetch(req, PRE)
    assert not fetched.from_cache and fetched.provenance["dates"] == ["2023-01-20"]
    ids = {s["scene_id"] for s in fetched.provenance["scenes"]}
    assert ids == {"20230120T150000_20230120T150000_T18LTM", "20230120T150000_20230120T150000_T18LUM"}
    expr = fake_ee.compute_requests[0]["expression"]
    for words in ("Filter.lte('CLOUDY_PIXEL_PERCENTAGE', 30.0)", "Filter.inList('system:index'",
                  "20230120T150000_20230120T150000_T18LUM", "mosaic()", "MEAN_SOLAR_AZIMUTH_ANGLE",
                  "directionalDistanceTransform", "lt(1500.0)", "COPERNICUS/DEM/GLO30", "select('DEM')",
                  "resample('bilinear')", "rename('valid')"):
        assert words in expr, words
    grid = req.grid()
    g = fake_ee.compute_requests[0]["grid"]
    assert g["crsCode"] == "EPSG:32718" and g["dimensions"] == {"width": grid.width, "height": grid.height}
    assert g["affineTransform"]["translateX"] == grid.transform.c and g["affineTransform"]["scaleY"] == -10.0
    scene = read_scene(fetched.path)
    assert scene.data.shape == (14, grid.height, grid.width) and scene.crs == grid.crs
    assert scene.band_names[-1] == "elevation" and scene.provenance["collection"] == "COPERNICUS/S2_HARMONIZED"


def test_second_fetch_is_a_cache_hit_and_truncated_file_is_refetched(tmp_path, fake_ee):
    fake_ee.listing = PRE_SCENES
    src = make_source(tmp_path)
    req = AnalysisRequest(SQUARE, PRE, POST)
    first = src.fetch(req, PRE)
    n = len(fake_ee.compute_requests)
    again = src.fetch(req, PRE)
    assert again.from_cache and again.path == first.path and len(fake_ee.compute_requests) == n
    assert again.provenance["dates"] == ["2023-01-20"]
    data = first.path.read_bytes()
    first.path.write_bytes(data[: len(data) // 2])  # a truncated download
    third = src.fetch(req, PRE)
    assert not third.from_cache and len(fake_ee.compute_requests) == 2 * n
    assert read_scene(third.path).data.shape[0] == 14


def test_no_scene_under_the_limit_lists_dates_and_suggests_a_fix(tmp_path, fake_ee):
    fake_ee.listing = listing(("a", "2023-01-10", 55.0, 0.6, 1.0), ("b", "2023-01-15", 80.0, 0.9, 1.0))
    src = make_source(tmp_path)
    with pytest.raises(SourceError) as exc:
        src.fetch(AnalysisRequest(SQUARE, PRE, POST, cloud_limit_pct=20), PRE)
    msg = str(exc.value)
    assert "2023-01-10 (55% cloud" in msg and "2023-01-15 (80% cloud" in msg and "limit of 20%" in msg
    assert "Widen the date window or raise the cloud limit" in msg
    assert fake_ee.compute_requests == []


def test_no_scene_at_all(tmp_path, fake_ee):
    src = make_source(tmp_path)
    with pytest.raises(SourceError, match="No Sentinel-2 scene.*Widen the date window"):
        src.fetch(AnalysisRequest(SQUARE, PRE, POST), PRE)


def test_median_composite_and_alos_dem(tmp_path, fake_ee):
    fake_ee.listing = PRE_SCENES
    src = make_source(tmp_path, dem="aw3d30", cloud_probability_threshold_pct=25)
    fetched = src.fetch(AnalysisRequest(SQUARE, PRE, POST, composite="median"), PRE)
    expr = fake_ee.compute_requests[0]["expression"]
    assert "median()" in expr and "updateMask" in expr and "JAXA/ALOS/AW3D30/V3_2" in expr and "select('DSM')" in expr
    assert "gt(25.0)" in expr and "count()" in expr
    assert fetched.provenance["dates"] == ["2023-01-10", "2023-01-20"]  # 75 % cloud scene left out


def test_listing_retries_a_busy_server(tmp_path, fake_ee):
    fake_ee.listing = PRE_SCENES
    fake_ee.getinfo_errors = [rate_limited()]
    assert len(make_source(tmp_path).list_scenes(AnalysisRequest(SQUARE, PRE, POST), PRE)) == 4
    assert len(fake_ee.getinfo_requests) == 2


def test_registry_builds_the_source_and_rejects_unknown_names():
    from landslide_core.errors import InputError

    assert get_source("earthengine", dem="glo30").name == "earthengine"
    with pytest.raises(InputError, match="demo, earthengine, local"):
        get_source("sentinelhub")
    with pytest.raises(SourceError, match="Unknown DEM"):
        get_source("earthengine", dem="srtm")
    with pytest.raises(InputError, match="Unknown option.*colour.*accepts.*cloud_probability_threshold_pct"):
        get_source("earthengine", colour="red")
    assert get_source("GEE").name == "earthengine" and get_source("local-files").name == "local"
