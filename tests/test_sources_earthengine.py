"""The Earth Engine source through the real earthengine-api client and the offline service
(tests/ee_service.py): listing, selection, the composite's scenes, DEM mask, cache."""
from __future__ import annotations

import random
import subprocess
import sys

import numpy as np
import pytest
from ee_service import (DEM, S2, Scene, add_granules, ee_service, grid_positions, key_config,  # noqa: F401
                        pattern_pixels, scene, too_many_aggregations)
from test_sources_request import POST, PRE, SQUARE

from landslide_core.errors import SourceError
from landslide_core.scene import read_scene
from landslide_core.sources import get_source
from landslide_core.sources.cache import SceneCache
from landslide_core.sources.earthengine import MAX_LISTED_SCENES, EarthEngineSource
from landslide_core.sources.ee_auth import find_config
from landslide_core.sources.request import AnalysisRequest
from landslide_core.sources.retry import RetryPolicy

TM10 = "20230110T150000_20230110T150000_T18LTM"
TM20 = "20230120T150000_20230120T150000_T18LTM"
UM20 = "20230120T150000_20230120T150000_T18LUM"
TM25 = "20230125T150000_20230125T150000_T18LTM"
PRE_SCENES = [scene(TM10, "2023-01-10", 12.0, clear=0.60), scene(TM20, "2023-01-20", 5.0, clear=0.98),
              scene(UM20, "2023-01-20", 8.0, clear=0.90, covered=0.3), scene(TM25, "2023-01-25", 75.0, clear=1.0)]


def make_source(tmp_path, service, **kw) -> EarthEngineSource:
    return EarthEngineSource(cache=SceneCache(tmp_path / "cache", 10**9), auth_config=key_config(service.key),
                             http_transport=service,
                             retry_policy=RetryPolicy(sleep=lambda s: None, rng=random.Random(0)), **kw)


def s2_ids(call) -> set:
    return set(call.detail["scene_ids"].get(S2, []))


# --- listing --------------------------------------------------------------------------------------
def test_list_scenes_reports_cloud_and_shadow_and_coverage(tmp_path, ee_service):
    add_granules(ee_service, PRE_SCENES + [scene("20230305_X", "2023-03-05")])  # outside the window
    scenes = make_source(tmp_path, ee_service).list_scenes(AnalysisRequest(SQUARE, PRE, POST), PRE)
    assert [s.scene_id for s in scenes] == [TM10, TM20, UM20, TM25]
    assert scenes[0].aoi_cloud_pct == 40.0 and scenes[1].aoi_cloud_pct == 2.0  # 1 - clear
    assert scenes[2].aoi_coverage_pct == 30.0 and scenes[0].scene_cloud_pct == 12.0
    (call,) = ee_service.calls("compute")
    for fn in ("ImageCollection.load", "Join.saveFirst", "Filter.dateRangeContains", "Collection.limit",
               "Image.directionalDistanceTransform", "Image.reduceRegion", "Reducer.mean"):
        assert fn in call.detail["functions"], fn


def test_a_window_with_more_granules_than_the_listing_holds_is_refused_not_cut(tmp_path, ee_service):
    add_granules(ee_service, [scene(f"g{i:03d}", "2023-01-15") for i in range(MAX_LISTED_SCENES + 1)])
    with pytest.raises(SourceError, match=f"more than {MAX_LISTED_SCENES}.*Shorten the date window"):
        make_source(tmp_path, ee_service).list_scenes(AnalysisRequest(SQUARE, PRE, POST), PRE)


def test_listing_retries_a_busy_service(tmp_path, ee_service):
    add_granules(ee_service, PRE_SCENES)
    ee_service.fail("compute", too_many_aggregations())
    assert len(make_source(tmp_path, ee_service).list_scenes(AnalysisRequest(SQUARE, PRE, POST), PRE)) == 4
    assert [c.status for c in ee_service.calls("compute")] == [429, 200]


# --- fetching: the composite uses what the listing showed ---------------------------------------------
def test_fetch_least_cloudy_uses_the_chosen_listed_granules_on_the_request_grid(tmp_path, ee_service):
    add_granules(ee_service, PRE_SCENES)
    req = AnalysisRequest(SQUARE, PRE, POST, cloud_limit_pct=30)
    fetched = make_source(tmp_path, ee_service).fetch(req, PRE)
    assert not fetched.from_cache and fetched.provenance["dates"] == ["2023-01-20"]
    assert {s["scene_id"] for s in fetched.provenance["scenes"]} == {TM20, UM20}
    (call,) = ee_service.calls("computePixels")
    assert s2_ids(call) == {TM20, UM20}  # exactly the listed granules of the chosen date
    assert call.detail["scene_ids"][DEM] == ["dem_tile"]
    grid = req.grid()
    assert (call.detail["width"], call.detail["height"]) == (grid.width, grid.height)
    assert [t for _, t in call.detail["bands"]] == ["uint16"] * 12 + ["float32", "uint8"]
    for fn in ("Filter.listContains", "ImageCollection.mosaic", "Image.toUint16", "GeometryConstructors.Rectangle"):
        assert fn in call.detail["functions"], fn
    scene_ = read_scene(fetched.path)
    assert scene_.data.shape == (14, grid.height, grid.width) and scene_.crs == grid.crs
    assert scene_.band_names[-1] == "elevation" and scene_.provenance["collection"] == "COPERNICUS/S2_HARMONIZED"
    download = fetched.provenance["download"]
    assert download["requests"] == 1 and download["listing_requests"] == 1
    assert download["bytes"] == grid.width * grid.height * (12 * 2 + 4 + 1)


def test_median_uses_every_listed_granule_under_the_limit(tmp_path, ee_service):
    add_granules(ee_service, PRE_SCENES)
    src = make_source(tmp_path, ee_service, dem="aw3d30", cloud_probability_threshold_pct=25)
    ee_service.add_scenes("JAXA/ALOS/AW3D30/V3_2", [Scene("alos_tile", "2021-01-01")])
    fetched = src.fetch(AnalysisRequest(SQUARE, PRE, POST, composite="median"), PRE)
    (call,) = ee_service.calls("computePixels")
    assert s2_ids(call) == {TM10, TM20, UM20}  # the 75 % cloud scene left out, as listed
    assert "reduce.median" in call.detail["functions"] and "reduce.count" in call.detail["functions"]
    assert call.detail["scene_ids"]["JAXA/ALOS/AW3D30/V3_2"] == ["alos_tile"]
    assert fetched.provenance["dates"] == ["2023-01-10", "2023-01-20"]


def test_masked_dem_pixels_become_nan_and_not_valid_with_no_false_slope(tmp_path, ee_service):
    """The service returns a fill value (0) where the DEM is masked and says so in the flags
    band: the scene holds NaN there, and no slope is made from the fill around it."""
    add_granules(ee_service, PRE_SCENES)

    def dem_hole(bands, grid):
        arr = pattern_pixels(bands, grid)
        x, y = grid_positions(grid)
        hole = (np.abs(x - x.mean()) < 5) & (np.abs(y - y.mean()) < 5)
        arr["elevation"] = np.where(hole, 0.0, 1000.0 + (x % 7))  # gentle terrain, fill 0 in the hole
        arr["flags"] = np.where(hole, 1, 3)  # clear, but no elevation
        return arr

    ee_service.pixel_fn = dem_hole
    fetched = make_source(tmp_path, ee_service).fetch(AnalysisRequest(SQUARE, PRE, POST), PRE)
    s = read_scene(fetched.path)
    elev = s.data[s.band_names.index("elevation")]
    slope = s.data[s.band_names.index("slope")]
    hole = np.isnan(elev)
    assert 50 <= hole.sum() <= 121 and not s.valid[hole].any()
    ring = np.zeros_like(hole)
    r, c = np.argwhere(hole).min(axis=0)
    ring[r - 1, c:c + 5] = True  # pixels next to the hole
    assert not s.valid[ring].any()  # their slope would use the fill: not assessable
    assert np.nanmax(slope[s.valid]) < 45  # nowhere a cliff from 1000 m down to 0


def test_second_fetch_is_a_cache_hit_and_truncated_file_is_refetched(tmp_path, ee_service):
    add_granules(ee_service, PRE_SCENES)
    src = make_source(tmp_path, ee_service)
    req = AnalysisRequest(SQUARE, PRE, POST)
    first = src.fetch(req, PRE)
    n = len(ee_service.calls("computePixels"))
    again = src.fetch(req, PRE)
    assert again.from_cache and again.path == first.path and len(ee_service.calls("computePixels")) == n
    assert again.provenance["dates"] == ["2023-01-20"]
    data = first.path.read_bytes()
    first.path.write_bytes(data[: len(data) // 2])  # a truncated download
    third = src.fetch(req, PRE)
    assert not third.from_cache and len(ee_service.calls("computePixels")) == 2 * n
    assert read_scene(third.path).data.shape[0] == 14


def test_no_scene_under_the_limit_lists_dates_and_suggests_a_fix(tmp_path, ee_service):
    add_granules(ee_service, [scene("a", "2023-01-10", 55.0, clear=0.4), scene("b", "2023-01-15", 80.0, clear=0.1)])
    with pytest.raises(SourceError) as exc:
        make_source(tmp_path, ee_service).fetch(AnalysisRequest(SQUARE, PRE, POST, cloud_limit_pct=20), PRE)
    msg = str(exc.value)
    assert "2023-01-10 (55% cloud" in msg and "2023-01-15 (80% cloud" in msg and "limit of 20%" in msg
    assert "Widen the date window or raise the cloud limit" in msg
    assert ee_service.calls("computePixels") == []


def test_no_scene_at_all(tmp_path, ee_service):
    with pytest.raises(SourceError, match="No Sentinel-2 scene.*Widen the date window"):
        make_source(tmp_path, ee_service).fetch(AnalysisRequest(SQUARE, PRE, POST), PRE)


def test_fetch_without_sign_in_is_a_plain_source_error_and_sends_nothing(tmp_path, ee_service):
    cfg = find_config(env={}, secrets_paths=[], user_credentials_path=tmp_path / "none",
                      adc_path=tmp_path / "none", cloud_vm=lambda env: None)
    src = EarthEngineSource(cache=SceneCache(tmp_path), auth_config=cfg, http_transport=ee_service)
    with pytest.raises(SourceError, match="not signed in.*EE_SERVICE_ACCOUNT_KEY.*EE_PROJECT"):
        src.fetch(AnalysisRequest(SQUARE, PRE, POST), PRE)
    assert ee_service.exchanges == []


# --- the module ------------------------------------------------------------------------------------
def test_importing_the_source_does_not_import_ee():
    code = ("import sys, landslide_core.sources.earthengine, landslide_core.sources.ee_auth, "
            "landslide_core.sources.ee_signin; import landslide_core.commands.sources, "
            "landslide_core.commands.fetch; print('ee' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_registry_builds_the_source_and_rejects_unknown_names():
    from landslide_core.errors import InputError

    assert get_source("earthengine", dem="glo30").name == "earthengine"
    with pytest.raises(InputError, match="demo, earthengine, local"):
        get_source("sentinelhub")
    with pytest.raises(SourceError, match="Unknown DEM"):
        get_source("earthengine", dem="srtm")
    with pytest.raises(SourceError, match="Unknown optical pixel type"):
        get_source("earthengine", optical_dtype="int8")
    with pytest.raises(InputError, match="Unknown option.*colour.*accepts.*cloud_probability_threshold_pct"):
        get_source("earthengine", colour="red")
    assert get_source("GEE").name == "earthengine" and get_source("local-files").name == "local"
