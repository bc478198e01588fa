"""The predictor: windows over any raster size, blended stitching, invalid pixels, files by windows."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch
from conftest import make_raw_scene
from rasterio.transform import Affine

from landslide_core.bands import ALL_BANDS, BAND_SETS, L4S_SCALE
from landslide_core.checkpoint import ModelCard
from landslide_core.device import choose_device
from landslide_core.errors import Cancelled, InputError
from landslide_core.predictor import Predictor, PredictorConfig, plan_axis, taper_1d
from landslide_core.progress import CancelToken
from landslide_core.scene import RawScene, SceneReader, write_scene
from landslide_core.zoo import build_model


def textured_stack(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.sin(xx / 5.0 + seed) * np.cos(yy / 4.0) + 0.5 * np.sin((xx + 2 * yy) / 11.0)
    return (L4S_SCALE[:, None, None] * (1 + 0.4 * base + 0.2 * rng.standard_normal((14, h, w)))).astype(np.float32)


def contrasty_model(band_set: str = "l4s14"):
    """A tiny random U-Net whose BatchNorm statistics come from textured input, so its output varies."""
    torch.manual_seed(0)
    bands = list(BAND_SETS[band_set])
    model = build_model("unet_vanilla", len(bands), base_channels=4)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
    model.train()
    with torch.no_grad():
        idx = [ALL_BANDS.index(b) for b in bands]
        for seed in range(3):
            x = textured_stack(64, 64, seed)[idx] / L4S_SCALE[idx, None, None].astype(np.float32)
            model(torch.from_numpy(x[None]))
    model.eval()
    card = ModelCard(name="tiny", architecture="unet_vanilla", band_set=band_set, bands=bands,
                     arch_kwargs={"base_channels": 4})
    return model, card


@pytest.fixture(scope="module")
def tiny():
    return contrasty_model()


def predictor(tiny, window, overlap, **kw):
    model, card = tiny
    return Predictor(model, card, PredictorConfig(window_px=window, overlap_px=overlap, device="cpu", **kw))


@pytest.mark.parametrize("length,window,overlap,multiple", [
    (1, 64, 8, 16), (63, 64, 8, 16), (64, 64, 8, 16), (65, 64, 8, 16), (200, 64, 8, 16),
    (2048, 512, 32, 16), (4096, 512, 32, 32), (1000, 100, 30, 1), (129, 128, 0, 16)])
def test_plan_axis_covers_evenly_with_at_least_the_overlap(length, window, overlap, multiple):
    starts, size = plan_axis(length, window, overlap, multiple)
    assert size <= window and starts[0] == 0 and starts[-1] + size == length
    if len(starts) > 1:
        overlaps = [a + size - b for a, b in zip(starts, starts[1:])]
        assert min(overlaps) >= overlap and max(overlaps) - min(overlaps) <= 1
        assert size % multiple == 0 or size == window
    else:
        assert size == length


def test_taper_is_a_partition_of_unity_and_flat_at_raster_edges():
    starts, size = plan_axis(300, 64, 16, 16)
    total = np.zeros(300)
    for i, s in enumerate(starts):
        w = taper_1d(starts, size, i)
        total[s:s + size] += w
    np.testing.assert_allclose(total, 1.0, atol=1e-5)
    assert taper_1d(starts, size, 0)[0] == 1.0 and taper_1d(starts, size, len(starts) - 1)[-1] == 1.0


@pytest.mark.parametrize("h,w", [(1, 1), (1, 9), (7, 1), (20, 30), (63, 65), (70, 90), (130, 47)])
def test_any_raster_size_works(tiny, h, w):
    prob = predictor(tiny, 48, 8).predict_array(textured_stack(h, w), np.ones((h, w), bool))
    assert prob.shape == (h, w) and prob.dtype == np.float32
    assert np.isfinite(prob).all() and (prob >= 0).all() and (prob <= 1).all()


def test_raster_smaller_than_window_is_one_pass(tiny):
    stack = textured_stack(30, 40)
    small = predictor(tiny, 512, 32).predict_array(stack)
    model, _ = tiny
    from landslide_core.bands import to_model_input
    x, _ = to_model_input(stack, ALL_BANDS, ALL_BANDS)
    with torch.inference_mode():
        direct = torch.sigmoid(model(torch.from_numpy(x[None])))[0, 0].numpy()
    np.testing.assert_allclose(small, direct, atol=1e-5)


def test_blended_stitching_is_seamless_for_a_local_model():
    """With a receptive field (11 px) inside the overlap, blending reproduces the one-pass result."""
    torch.manual_seed(0)
    layers = [torch.nn.Conv2d(14, 8, 3, padding=1), torch.nn.Tanh()]
    for _ in range(3):
        layers += [torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.Tanh()]
    net = torch.nn.Sequential(*layers, torch.nn.Conv2d(8, 1, 3, padding=1)).eval()
    _, card = contrasty_model()
    stack = textured_stack(150, 170, seed=3)

    def run(window, overlap):
        return Predictor(net, card, PredictorConfig(window, overlap, device="cpu")).predict_array(stack)

    ref, blended, naive = run(1024, 0), run(64, 16), run(64, 0)
    err_blend, err_naive = np.abs(blended - ref).max(), np.abs(naive - ref).max()
    assert err_naive > 1e-3  # hard tile edges do show
    assert err_blend < err_naive / 20


def test_blended_unet_is_close_to_one_pass_and_beats_naive_tiling(tiny):
    stack = textured_stack(400, 400, seed=3)
    ref = predictor(tiny, 1024, 0).predict_array(stack)
    assert ref.std() > 0.02  # the model's output varies, so seams would show
    blended = predictor(tiny, 256, 32).predict_array(stack)
    naive = predictor(tiny, 128, 0).predict_array(stack)
    err_blend = np.abs(blended - ref).mean()
    err_naive = np.abs(naive - ref).mean()
    assert err_blend < 0.005
    assert err_blend * 3 < err_naive


def test_invalid_and_non_finite_pixels_are_not_assessable(tiny):
    h, w = 60, 80
    stack = textured_stack(h, w)
    valid = np.ones((h, w), bool)
    valid[10:20, 30:50] = False  # cloud
    stack[3, 40, 5] = np.nan
    stack[13, 50, 70] = np.inf
    prob = predictor(tiny, 32, 8).predict_array(stack, valid)
    assert np.isnan(prob[10:20, 30:50]).all()
    assert np.isnan(prob[40, 5]) and np.isnan(prob[50, 70])
    assert np.isfinite(prob).sum() == h * w - 200 - 2


def test_all_invalid_runs_no_window(tiny, tmp_path):
    stack = textured_stack(40, 40)
    p = predictor(tiny, 16, 4)
    prob = p.predict_array(stack, np.zeros((40, 40), bool))
    assert np.isnan(prob).all()


def test_six_band_model_reads_its_bands_from_the_full_stack():
    model, card = contrasty_model("thesis6")
    stack = textured_stack(40, 50)
    prob = Predictor(model, card, PredictorConfig(window_px=32, overlap_px=8, device="cpu")).predict_array(stack)
    assert np.isfinite(prob).all()
    stack[0] = np.nan  # B1 is not a thesis6 band: no effect
    prob2 = Predictor(model, card, PredictorConfig(window_px=32, overlap_px=8, device="cpu")).predict_array(stack)
    np.testing.assert_array_equal(prob, prob2)


def test_predict_file_matches_predict_array_and_reads_by_windows(tiny, tmp_path, monkeypatch):
    scene = make_raw_scene(75, 110, seed=5)
    scene.valid[5:9, 5:9] = False
    path = write_scene(tmp_path / "s.tif", scene)
    with SceneReader(path) as r:
        stack, valid = r.read()
    expected = predictor(tiny, 48, 8).predict_array(stack, valid)

    sizes = []
    original = SceneReader.read

    def spy(self, window=None):
        sizes.append((int(window.height), int(window.width)))
        return original(self, window)

    monkeypatch.setattr(SceneReader, "read", spy)
    calls = []
    info = predictor(tiny, 48, 8).predict_file(path, tmp_path / "p.tif", progress=lambda d, t, s: calls.append((d, t, s)))
    assert max(h for h, _ in sizes) <= 48 and max(w for _, w in sizes) <= 48
    with rasterio.open(tmp_path / "p.tif") as ds:
        got = ds.read(1)
        assert ds.crs == scene.crs and ds.transform == scene.transform and np.isnan(ds.nodata)
    np.testing.assert_allclose(got, expected, atol=1e-6, equal_nan=True)
    assert info.valid_px == 75 * 110 - 16 and info.windows_total == info.windows_run
    assert calls[-1][0] == calls[-1][1] == info.windows_total and all(s == "detect" for *_, s in calls)
    assert [d for d, *_ in calls] == sorted(d for d, *_ in calls)
    assert not (tmp_path / "p.tif.partial").exists()


def test_cancel_stops_between_batches_and_leaves_nothing(tiny, tmp_path):
    path = write_scene(tmp_path / "s.tif", make_raw_scene(64, 64))
    token = CancelToken()

    def progress(done, total, stage):
        token.cancel()

    with pytest.raises(Cancelled):
        predictor(tiny, 16, 4, batch_size=1).predict_file(path, tmp_path / "p.tif", progress=progress, cancel=token)
    assert not (tmp_path / "p.tif").exists() and not (tmp_path / "p.tif.partial").exists()


def test_bad_config_refused(tiny):
    model, card = tiny
    for window, overlap in [(64, 32), (64, -1), (0, 0)]:
        with pytest.raises(InputError):
            Predictor(model, card, PredictorConfig(window_px=window, overlap_px=overlap, device="cpu"))
    with pytest.raises(InputError):
        Predictor(model, card, PredictorConfig(batch_size=0, device="cpu"))
    with pytest.raises(InputError, match="expected"):
        predictor(tiny, 32, 0).predict_array(np.zeros((13, 5, 5), np.float32))


def test_device_choice():
    assert choose_device("cpu").type == "cpu"
    assert torch.get_num_threads() >= 1
    with pytest.raises(InputError, match="Unknown device"):
        choose_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="--device cpu"):
            choose_device("cuda")
        assert choose_device(None).type == "cpu"


def test_tiles_of_one_window_plan_add_up_to_the_whole_run(tiny, tmp_path):
    """Tiles that share out a whole raster's windows (accumulate=True) add up to one run over it."""
    from landslide_core.predictor import WindowPlan

    scene = make_raw_scene(90, 130, seed=3)
    scene.valid[40:44, 60:70] = False
    path = write_scene(tmp_path / "whole.tif", scene)
    p = predictor(tiny, 48, 8, batch_size=1)
    p.predict_file(path, tmp_path / "whole_prob.tif")
    with rasterio.open(tmp_path / "whole_prob.tif") as ds:
        whole = ds.read(1)
    plan = p.window_plan(90, 130)
    assert len(plan.rows) >= 2 and len(plan.cols) >= 3
    acc = np.zeros((90, 130), np.float32)
    wsum = np.zeros((90, 130), np.float32)
    margin = 3
    for rr in ((0, 1), (1, len(plan.rows))):
        for cc in ((0, 2), (2, len(plan.cols))):
            # a tile: its windows' union plus a margin, cut out of the scene
            r0, r1 = plan.rows[rr[0]], plan.rows[rr[1] - 1] + plan.wy
            c0, c1 = plan.cols[cc[0]], plan.cols[cc[1] - 1] + plan.wx
            r0, c0, r1, c1 = max(r0 - margin, 0), max(c0 - margin, 0), min(r1 + margin, 90), min(c1 + margin, 130)
            tile = RawScene(scene.data[:, r0:r1, c0:c1], scene.band_names, scene.valid[r0:r1, c0:c1],
                            scene.transform * Affine.translation(c0, r0), scene.crs)
            tile_path = write_scene(tmp_path / f"t{rr[0]}{cc[0]}.tif", tile)
            out = tmp_path / f"a{rr[0]}{cc[0]}.tif"
            info = p.predict_file(tile_path, out, plan=plan.part(rr, cc, r0, c0), accumulate=True)
            assert info.windows_total == (rr[1] - rr[0]) * (cc[1] - cc[0])
            with rasterio.open(out) as ds:
                num, den = ds.read(1), ds.read(2)
            acc[r0:r1, c0:c1] += num
            wsum[r0:r1, c0:c1] += den
    with np.errstate(invalid="ignore", divide="ignore"):
        merged = np.where(wsum > 0, acc / wsum, np.nan)
    assert np.array_equal(np.isnan(merged), np.isnan(whole)) and np.isnan(whole[40:44, 60:70]).all()
    assert np.nanmax(np.abs(merged - whole)) < 1e-6
    single = (wsum > 0) & np.isfinite(whole)
    # away from the seams (one tile's windows only) the numbers are the very same
    assert (merged[single] == whole[single]).mean() > 0.5


def test_a_plan_part_outside_the_raster_is_refused(tiny, tmp_path):
    path = write_scene(tmp_path / "s.tif", make_raw_scene(40, 40))
    p = predictor(tiny, 32, 8)
    big = p.window_plan(100, 100)
    with pytest.raises(ValueError, match="do not fit"):
        p.predict_file(path, tmp_path / "p.tif", plan=big.part((0, 2), (0, 2), 0, 0))


def test_the_dashboard_offers_the_predictors_default_overlap():
    """The Monitor page's overlap starts at the predictor's own default (kept as a copy there, so
    the page does not load torch to show it)."""
    from dashboard import state
    from landslide_core.predictor import DEFAULT_OVERLAP_PX, DEFAULT_WINDOW_PX

    assert state.DEFAULT_OVERLAP_PX == DEFAULT_OVERLAP_PX
    assert 2 * DEFAULT_OVERLAP_PX < DEFAULT_WINDOW_PX
