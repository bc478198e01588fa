"""Postprocess and change: masks, polygons of known hectares on a known UTM grid, MMU, change classes."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import UTM18S
from pyproj import Transformer
from rasterio.transform import from_origin
from shapely.geometry import shape

from landslide_core.change import (CHANGE_NEW, CHANGE_NOT_ASSESSABLE, CHANGE_PERSISTING, CHANGE_STABLE,
                                   CHANGE_VANISHED, change_classes, summarise_pair)
from landslide_core.errors import InputError
from landslide_core.objects import ObjectRules
from landslide_core.postprocess import (FEATURE_PROPERTIES, apply_min_mapping_unit, mask_from_probability,
                                        pixel_area_ha, polygons_from_mask)

# 10 m pixels in UTM 18S: one pixel is 0.01 ha, a 10 x 10 block is exactly 1 ha.
ORIGIN_X, ORIGIN_Y = 400000.0, 8750000.0
T10 = from_origin(ORIGIN_X, ORIGIN_Y, 10.0, 10.0)
OFF = ObjectRules.off()


def test_mask_from_probability():
    prob = np.array([[0.1, 0.5, 0.9], [np.nan, 0.49, 1.0]], np.float32)
    mask = mask_from_probability(prob, 0.5)
    assert mask.dtype == np.uint8
    assert mask.tolist() == [[0, 1, 1], [255, 0, 1]]
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(InputError, match="0-1"):
            mask_from_probability(prob, bad)


def test_polygon_areas_perimeters_and_centroids_on_a_known_utm_grid():
    mask = np.zeros((60, 80), np.uint8)
    mask[5:15, 10:20] = 1  # 100 px = 1 ha, perimeter 400 m
    mask[30:34, 40:45] = 1  # 20 px = 0.2 ha, perimeter 180 m
    mask[50:52, 70:71] = 1  # 2 px = 0.02 ha: below the 0.1 ha minimum mapping unit
    mask[0:3, 70:80] = 255  # not assessable, never a landslide
    prob = np.full(mask.shape, 0.8, np.float32)
    prob[5:15, 10:15] = 0.6
    slope = np.zeros(mask.shape, np.float32)
    slope[5:15, 10:20] = np.arange(10)[None, :] * 2.0  # 0..18 degrees across the block
    feats = polygons_from_mask(mask, prob, slope, T10, UTM18S, min_area_ha=0.1)
    assert len(feats) == 2
    big, small = sorted(feats, key=lambda f: -f["properties"]["area_ha"])
    p = big["properties"]
    assert set(p) == set(FEATURE_PROPERTIES)
    assert p["area_ha"] == pytest.approx(1.0)
    assert p["perimeter_m"] == pytest.approx(400.0)
    assert p["slope_deg_mean"] == pytest.approx(9.0)
    assert p["slope_deg_max"] == pytest.approx(18.0)
    assert p["probability_mean"] == pytest.approx(0.7)
    assert small["properties"]["area_ha"] == pytest.approx(0.2)
    assert small["properties"]["perimeter_m"] == pytest.approx(180.0)
    # centroid of the 1 ha block: x = 400000 + 150 m, y = 8750000 - 100 m, converted to lon/lat
    lon, lat = Transformer.from_crs(UTM18S, "EPSG:4326", always_xy=True).transform(ORIGIN_X + 150, ORIGIN_Y - 100)
    assert p["centroid_lon"] == pytest.approx(lon, abs=1e-6)
    assert p["centroid_lat"] == pytest.approx(lat, abs=1e-6)
    # geometry in EPSG:4326 around that point, and ~1 ha once projected back
    geom = shape(big["geometry"])
    assert -78 < geom.centroid.x < -74 and -13 < geom.centroid.y < -10
    to_utm = Transformer.from_crs("EPSG:4326", UTM18S, always_xy=True)
    xs, ys = to_utm.transform(*np.array(big["geometry"]["coordinates"][0]).T)
    from shapely.geometry import Polygon
    assert Polygon(zip(xs, ys)).area == pytest.approx(10000.0, rel=1e-6)
    assert big["properties"]["id"] != small["properties"]["id"]


def test_non_square_pixels_measure_real_area():
    t = from_origin(ORIGIN_X, ORIGIN_Y, 10.0, 20.0)  # 200 m2 per pixel
    assert pixel_area_ha(t) == pytest.approx(0.02)
    mask = np.zeros((20, 20), np.uint8)
    mask[2:7, 2:12] = 1  # 50 px * 200 m2 = 1 ha; 100 m x 100 m
    (f,) = polygons_from_mask(mask, None, None, t, UTM18S)
    assert f["properties"]["area_ha"] == pytest.approx(1.0)
    assert f["properties"]["perimeter_m"] == pytest.approx(400.0)
    assert f["properties"]["slope_deg_mean"] is None and f["properties"]["probability_mean"] is None


def test_minimum_mapping_unit_on_connected_components():
    mask = np.zeros((30, 30), np.uint8)
    mask[0:3, 0:3] = 1  # 9 px = 0.09 ha: dropped at 0.1 ha
    mask[10:20, 10:11] = 1  # 10 px = 0.1 ha: kept (exactly the unit)
    mask[25, 25] = 1
    mask[26, 26] = 1  # touch only diagonally: two 1-px components, not one
    mask[5, 5:8] = 255
    out = apply_min_mapping_unit(mask, T10, 0.1)
    assert out[0:3, 0:3].max() == 0 and out[10:20, 10].min() == 1 and out[25, 25] == 0 and out[26, 26] == 0
    assert (out == 255).sum() == 3  # not-assessable pixels untouched
    assert len(polygons_from_mask(mask, None, None, T10, UTM18S, 0.1)) == 1
    assert len(polygons_from_mask(mask, None, None, T10, UTM18S, 0.0)) == 4
    assert len(polygons_from_mask(mask, None, None, T10, UTM18S, 0.05)) == 2


def test_polygons_need_a_projected_grid():
    from rasterio.crs import CRS

    with pytest.raises(InputError, match="projected"):
        polygons_from_mask(np.ones((3, 3), np.uint8), None, None, T10, CRS.from_epsg(4326))


def test_change_classes_on_constructed_masks():
    pre = np.array([[0, 0, 0, 1, 1, 1, 255, 255, 255]], np.uint8)
    post = np.array([[0, 1, 255, 0, 1, 255, 0, 1, 255]], np.uint8)
    assert change_classes(pre, post).tolist() == [[
        CHANGE_STABLE, CHANGE_NEW, CHANGE_NOT_ASSESSABLE, CHANGE_VANISHED, CHANGE_PERSISTING,
        CHANGE_NOT_ASSESSABLE, CHANGE_NOT_ASSESSABLE, CHANGE_NOT_ASSESSABLE, CHANGE_NOT_ASSESSABLE]]
    assert (CHANGE_STABLE, CHANGE_NEW, CHANGE_PERSISTING, CHANGE_VANISHED, CHANGE_NOT_ASSESSABLE) == (0, 1, 2, 3, 255)
    with pytest.raises(InputError):
        change_classes(pre, post[:, :5])


def test_summarise_pair_hectares_counts_and_threshold():
    """Hectares and counts with the terrain and shape rules off (square test objects are blocky)."""
    shape_ = (50, 50)
    pre = np.full(shape_, 0.1, np.float32)
    post = np.full(shape_, 0.1, np.float32)
    pre[0:10, 0:10] = post[0:10, 0:10] = 0.9  # persisting 1 ha
    pre[20:25, 0:10] = 0.9  # vanished 0.5 ha
    post[30:40, 30:40] = 0.9  # new 1 ha, strong
    post[0:5, 40:50] = 0.6  # new 0.5 ha, weak (gone at threshold 0.7)
    post[45, 45] = 0.9  # new but 1 px: below the minimum mapping unit
    post[10:20, 30:35] = np.nan  # cloud after: 0.5 ha not assessable
    slope = np.full(shape_, 30.0, np.float32)
    res = summarise_pair(pre, post, slope, T10, UTM18S, threshold=0.5, min_area_ha=0.1, rules=OFF)
    s = res.change_summary
    assert s.persisting_ha == pytest.approx(1.0) and s.vanished_ha == pytest.approx(0.5)
    assert s.new_ha == pytest.approx(1.5) and s.new_count == 2 and s.new_landslides_ha == pytest.approx(1.5)
    assert s.not_assessable_ha == pytest.approx(0.5)
    assert s.stable_ha == pytest.approx(25.0 - 1.0 - 0.5 - 1.5 - 0.5)
    assert res.change[45, 45] == CHANGE_STABLE  # the 1-px blob was removed before the change
    assert res.summary["post"]["landslide_count"] == 3 and res.summary["pre"]["landslide_count"] == 2
    assert {f["properties"]["area_ha"] for f in res.new_features} == {1.0, 0.5}
    assert all(f["properties"]["slope_deg_mean"] == pytest.approx(30.0) for f in res.new_features)
    # the threshold slider: recomputed from the same probabilities, no model
    high = summarise_pair(pre, post, slope, T10, UTM18S, threshold=0.7, min_area_ha=0.1, rules=OFF)
    assert high.change_summary.new_count == 1 and high.change_summary.new_ha == pytest.approx(1.0)
    big_mmu = summarise_pair(pre, post, slope, T10, UTM18S, threshold=0.5, min_area_ha=0.8, rules=OFF)
    assert big_mmu.change_summary.new_count == 1
    with pytest.raises(InputError):
        summarise_pair(pre, post, slope, T10, UTM18S, threshold=2.0)


def test_masks_and_polygons_stop_on_cancel_and_give_the_same_answer_with_a_live_token():
    from landslide_core.errors import Cancelled
    from landslide_core.postprocess import landslide_mask
    from landslide_core.progress import CancelToken

    prob = np.zeros((40, 50), np.float32)
    prob[5:20, 5:20] = 0.9
    live, stopped = CancelToken(), CancelToken()
    stopped.cancel()
    mask, _ = landslide_mask(prob, 0.5, T10, 0.1, rules=OFF, cancel=live)
    assert np.array_equal(mask, landslide_mask(prob, 0.5, T10, 0.1, rules=OFF)[0])
    assert polygons_from_mask(mask, prob, None, T10, UTM18S, cancel=live) == \
        polygons_from_mask(mask, prob, None, T10, UTM18S)
    with pytest.raises(Cancelled):
        landslide_mask(prob, 0.5, T10, 0.1, rules=OFF, cancel=stopped)
    with pytest.raises(Cancelled):
        polygons_from_mask(mask, prob, None, T10, UTM18S, cancel=stopped)


def test_evidence_write_stops_on_cancel_and_leaves_no_file(tmp_path):
    from landslide_core.change import SpectralPair
    from landslide_core.errors import Cancelled
    from landslide_core.evidence import read_evidence, write_evidence
    from landslide_core.progress import CancelToken

    shape = (20, 30)
    layer = np.arange(600, dtype=np.float32).reshape(shape)
    spectral = SpectralPair(layer, layer + 1, layer + 2, layer + 3)
    stopped = CancelToken()
    stopped.cancel()
    with pytest.raises(Cancelled):
        write_evidence(tmp_path / "evidence.tif", spectral, layer + 4, layer + 5, T10, UTM18S, cancel=stopped)
    assert list(tmp_path.iterdir()) == []
    write_evidence(tmp_path / "evidence.tif", spectral, layer + 4, layer + 5, T10, UTM18S, cancel=CancelToken())
    got, slope, elevation = read_evidence(tmp_path / "evidence.tif")
    assert np.array_equal(got.visible_post, layer + 3) and np.array_equal(elevation, layer + 5)
    assert [p.name for p in tmp_path.iterdir()] == ["evidence.tif"]
