"""The shift between two dates: estimated on constructed shifted pairs, applied to scene files, refused when absurd."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import UTM18S
from rasterio.transform import from_origin
from scipy import ndimage

from landslide_core.alignment import align_pair
from landslide_core.bands import ALL_BANDS
from landslide_core.coregistration import MAX_SHIFT_PX, decide, estimate_shift, shift_image
from landslide_core.errors import InputError
from landslide_core.scene import RawScene, SceneReader, write_scene


def ground(h=300, w=300, seed=0) -> np.ndarray:
    """A textured NIR-like image: smooth relief shading plus field-like patches (DN)."""
    rng = np.random.default_rng(seed)
    relief = ndimage.gaussian_filter(rng.standard_normal((h, w)), 6) * 40
    patches = ndimage.zoom(rng.uniform(0.7, 1.3, (h // 15 + 1, w // 15 + 1)), 15, order=0)[:h, :w]
    return (2000.0 * patches * (1.0 + relief * 0.02) + rng.normal(0, 10, (h, w))).astype(np.float32)


@pytest.mark.parametrize("true_shift", [(0.6, -1.3), (-1.0, 0.0), (2.4, 1.7)])
def test_subpixel_shift_is_estimated_through_other_radiometry(true_shift):
    pre = ground()
    # post: the same ground moved by true_shift, another gain, haze and noise
    post = ndimage.shift(pre, (-true_shift[0], -true_shift[1]), order=3, mode="nearest") * 1.07 + 60
    post += np.random.default_rng(1).normal(0, 15, post.shape).astype(np.float32)
    est = decide(estimate_shift(pre, post), pixel_size_m=10.0)
    assert est.reliable and est.applied
    assert est.rows_px == pytest.approx(true_shift[0], abs=0.15)
    assert est.cols_px == pytest.approx(true_shift[1], abs=0.15)
    assert (est.warning is not None) == (np.hypot(*true_shift) > 2.0)
    aligned = shift_image(pre, (est.rows_px, est.cols_px), order=3)
    inner = (slice(8, -8), slice(8, -8))
    before = np.abs(pre[inner] * 1.07 + 60 - post[inner]).mean()
    after = np.nanmean(np.abs(aligned[inner] * 1.07 + 60 - post[inner]))
    assert after < 0.7 * before


def test_no_shift_is_not_applied_and_clouds_are_ignored():
    pre = ground(seed=3)
    post = pre * 0.95 + 20
    cloud = np.zeros(pre.shape, bool)
    cloud[50:150, 60:200] = True
    post_cloudy = np.where(cloud, 6000.0, post).astype(np.float32)
    est = decide(estimate_shift(pre, post_cloudy, None, ~cloud), 10.0)
    assert est.reliable and not est.applied and est.magnitude_px < 0.15


def test_textureless_or_unrelated_images_are_not_trusted():
    flat = np.full((200, 200), 1500.0, np.float32)
    est = decide(estimate_shift(flat, flat), 10.0)
    assert not est.reliable and not est.applied
    a, b = ground(seed=4), ground(seed=5)  # two different places
    est = decide(estimate_shift(a, b), 10.0)
    assert not est.reliable and not est.applied
    tiny = decide(estimate_shift(ground(40, 40), ground(40, 40)), 10.0)
    assert not tiny.reliable and "too small" in " ".join(tiny.notes)


def test_an_implausible_shift_is_refused():
    pre = ground(seed=6)
    post = ndimage.shift(pre, (-9.0, 0.0), order=1, mode="nearest")
    with pytest.raises(InputError, match="misaligned by 9"):
        decide(estimate_shift(pre, post), 10.0)
    assert MAX_SHIFT_PX < 9


def _scene(data_b8: np.ndarray) -> RawScene:
    names = tuple(b for b in ALL_BANDS if b != "slope")
    h, w = data_b8.shape
    stack = np.stack([data_b8 if b == "B8" else np.full((h, w), 1000.0 if b != "elevation" else 1500.0, np.float32)
                      for b in names]).astype(np.float32)
    return RawScene(stack, names, np.ones((h, w), bool), from_origin(400000.0, 8750000.0, 10.0, 10.0), UTM18S, {})


def test_align_pair_resamples_the_pre_scene_file(tmp_path):
    pre_b8 = ground(200, 200, seed=7)
    post_b8 = ndimage.shift(pre_b8, (-1.5, 0.5), order=3, mode="nearest")
    pre = write_scene(tmp_path / "pre.tif", _scene(pre_b8))
    post = write_scene(tmp_path / "post.tif", _scene(post_b8))
    aligned = align_pair(pre, post, tmp_path)
    try:
        assert aligned.shift.applied and aligned.pre_path != pre
        assert aligned.shift.rows_px == pytest.approx(1.5, abs=0.15)
        with SceneReader(aligned.pre_path) as r:
            b8 = r.read_bands(("B8",))[0]
            assert r.provenance["coregistration_shift_px"] == [pytest.approx(aligned.shift.rows_px, abs=1e-3),
                                                               pytest.approx(aligned.shift.cols_px, abs=1e-3)]
        inner = (slice(10, -10), slice(10, -10))
        assert np.nanmean(np.abs(b8[inner] - post_b8[inner])) < 0.4 * np.abs(pre_b8[inner] - post_b8[inner]).mean()
    finally:
        aligned.cleanup()
    assert not aligned.pre_path.exists()
    # switched off: the pre scene is used as it is
    assert align_pair(pre, post, tmp_path, coregister=False).pre_path == pre


@pytest.mark.parametrize("shift", [(0.37, -1.62), (-2.0, 1.0), (1.5, 0.5)])
def test_a_shift_on_the_grid_equals_gdals_bilinear_warper(tmp_path, shift):
    """The four-tap shift (a co-registration on the scene's own grid) gives GDAL's bilinear
    values; only the rim whose taps fall outside the source is not valid."""
    from rasterio.enums import Resampling
    from rasterio.transform import Affine
    from rasterio.vrt import WarpedVRT
    import rasterio

    from landslide_core.alignment import reproject_scene_to

    scene = _scene(ground(90, 110, seed=3))
    scene.data[:, 40:44, 50:53] = np.nan  # a hole (nodata) inside
    scene.valid[40:44, 50:53] = False
    src = write_scene(tmp_path / "pre.tif", scene)
    with SceneReader(src) as target:
        reproject_scene_to(src, target, tmp_path / "ours.tif", shift_px=shift)
    with rasterio.open(src) as ds, rasterio.open(tmp_path / "ours.tif") as ours_ds:
        n = ds.count - 1
        with WarpedVRT(ds, resampling=Resampling.bilinear, crs=ds.crs, transform=ds.transform, width=ds.width,
                       height=ds.height, dtype="float32", nodata=float("nan"), src_nodata=ds.nodata,
                       src_transform=ds.transform * Affine.translation(-shift[1], -shift[0])) as warped:
            ref = warped.read(list(range(1, n + 1)))
        ours = ours_ds.read(list(range(1, n + 1)))
        valid = ours_ds.read(n + 1) > 0
    both = np.isfinite(ref) & np.isfinite(ours)
    assert both.mean() > 0.9
    np.testing.assert_allclose(ours[both], ref[both], rtol=1e-5, atol=1e-2)
    assert not (np.isfinite(ours) & np.isnan(ref)).any()  # never a value where the warper has none
    # not valid: the hole (moved with the shift and widened by the taps) and the rim outside the source
    r, c = int(np.floor(shift[0])), int(np.floor(shift[1]))
    assert not valid[40 - r, 50 - c] and valid[20, 30]
    assert valid.sum() == np.isfinite(ours).all(axis=0).sum()
