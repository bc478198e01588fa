"""The band contract: L4S scaling round trip, band sets, and Horn slope with real pixel sizes."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import UTM18S, make_raw_scene
from rasterio.transform import from_origin
from rasterio.windows import Window

from landslide_core.bands import (ALL_BANDS, BAND_SETS, L4S_SCALE, band_set, scale_vector, slope_horn_deg,
                                  to_model_input, to_raw)
from landslide_core.errors import InputError
from landslide_core.scene import RawScene, SceneReader, write_scene


def test_value_times_vector_divided_back_is_unchanged():
    rng = np.random.default_rng(0)
    l4s = rng.uniform(0.0, 3.0, (14, 5, 6)).astype(np.float32)
    raw = l4s * L4S_SCALE[:, None, None]
    x, finite = to_model_input(raw.astype(np.float32), ALL_BANDS, ALL_BANDS)
    assert finite.all()
    np.testing.assert_allclose(x, l4s, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(to_raw(x, ALL_BANDS), raw, rtol=1e-6)


def test_real_scaling_vector_values():
    # the medians quoted by the L4S authors, divided by the vector, give values near 1
    assert scale_vector(["B2", "B10", "slope", "elevation"]).tolist() == pytest.approx(
        [824.63171476, 9.04787384, 20.29228266, 772.83144788], rel=1e-6)
    raw = np.array([830.0, 500.0, 2100.0], np.float32)[:, None, None]
    x, _ = to_model_input(raw, ["B2", "B4", "B8"], ["B2", "B4", "B8"])
    assert x.ravel().tolist() == pytest.approx([830 / 824.63171476, 500 / 445.17289745, 2100 / 1941.32229668], rel=1e-6)


def test_thesis6_selects_and_orders_its_bands():
    raw = np.stack([np.full((2, 2), (i + 1) * s, np.float32) for i, s in enumerate(L4S_SCALE)])
    x, _ = to_model_input(raw, ALL_BANDS, band_set("thesis6"))
    expected = [ALL_BANDS.index(b) + 1 for b in BAND_SETS["thesis6"]]
    np.testing.assert_allclose(x[:, 0, 0], expected, rtol=1e-6)
    assert BAND_SETS["thesis6"] == ("B2", "B3", "B4", "B8", "slope", "elevation")


def test_non_finite_values_become_zero_and_not_finite():
    raw = np.ones((14, 3, 3), np.float32) * L4S_SCALE[:, None, None].astype(np.float32)
    raw[0, 0, 0] = np.nan
    raw[5, 1, 1] = np.inf
    x, finite = to_model_input(raw, ALL_BANDS, ALL_BANDS)
    assert np.isfinite(x).all()
    assert x[0, 0, 0] == 0 and x[5, 1, 1] == 0
    assert not finite[0, 0] and not finite[1, 1] and finite.sum() == 7


def test_missing_band_is_named():
    with pytest.raises(InputError, match="B10"):
        to_model_input(np.ones((2, 2, 2), np.float32), ["B2", "B3"], ["B2", "B10"])


def test_flat_dem_has_zero_slope():
    assert np.all(slope_horn_deg(np.full((9, 11), 1234.5), 10.0, 10.0) == 0.0)


@pytest.mark.parametrize("px_w,px_h", [(10.0, 10.0), (10.0, 20.0), (30.0, 7.5)])
def test_45_degree_ramps_with_real_pixel_size(px_w, px_h):
    rows, cols = np.mgrid[0:12, 0:15].astype(np.float64)
    east = cols * px_w  # rises 1 m per metre eastwards
    south = rows * px_h  # rises 1 m per metre southwards
    inner = (slice(1, -1), slice(1, -1))
    np.testing.assert_allclose(slope_horn_deg(east, px_w, px_h)[inner], 45.0, atol=1e-4)
    np.testing.assert_allclose(slope_horn_deg(south, px_w, px_h)[inner], 45.0, atol=1e-4)
    # a ramp that rises 1 m per metre along both axes: gradient sqrt(2) -> atan(sqrt 2)
    both = cols * px_w + rows * px_h
    np.testing.assert_allclose(slope_horn_deg(both, px_w, px_h)[inner], np.degrees(np.arctan(np.sqrt(2))), atol=1e-4)


def test_ramp_in_pixels_is_not_45_when_pixel_is_not_one_metre():
    cols = np.tile(np.arange(10, dtype=np.float64), (6, 1))  # 1 m per pixel of 10 m: 5.71 degrees
    np.testing.assert_allclose(slope_horn_deg(cols, 10.0, 10.0)[1:-1, 1:-1], np.degrees(np.arctan(0.1)), atol=1e-4)


def _scene_with_relief(height=50, width=70, px=(10.0, 20.0)) -> RawScene:
    scene = make_raw_scene(height, width, seed=4)
    yy, xx = np.mgrid[0:height, 0:width]
    k = scene.band_names.index("elevation")
    scene.data[k] = (2000 + 300 * np.sin(xx / 6.0) * np.cos(yy / 5.0) + 3.0 * xx).astype(np.float32)
    scene.transform = from_origin(400000.0, 8750000.0, px[0], px[1])
    scene.crs = UTM18S
    return scene


def test_windowed_slope_equals_whole_scene_slope(tmp_path):
    scene = _scene_with_relief()
    path = write_scene(tmp_path / "relief.tif", scene)
    k = ALL_BANDS.index("slope")
    with SceneReader(path) as reader:
        whole, _ = reader.read()
        expected = slope_horn_deg(scene.band("elevation"), 10.0, 20.0)
        np.testing.assert_allclose(whole[k], expected, atol=1e-4)
        for col, row, w, h in [(0, 0, 16, 16), (13, 7, 21, 30), (50, 30, 20, 20), (69, 49, 1, 1)]:
            part, _ = reader.read(Window(col, row, w, h))
            np.testing.assert_allclose(part[k], whole[k][row:row + h, col:col + w], atol=1e-5)


def test_bad_pixel_size_refused():
    with pytest.raises(InputError):
        slope_horn_deg(np.zeros((3, 3)), 0.0, 10.0)
