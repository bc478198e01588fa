"""The optional ONNX Runtime backend: the same probabilities as PyTorch, and PyTorch whenever it cannot be used."""
from __future__ import annotations

import numpy as np
import pytest
from test_core_predictor import contrasty_model, textured_stack

from landslide_core import onnx_backend
from landslide_core.errors import InputError
from landslide_core.predictor import ONNX_MIN_PX, Predictor, PredictorConfig

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def tiny():
    return contrasty_model()


def run(tiny, stack, **config):
    model, card = tiny
    p = Predictor(model, card, PredictorConfig(device="cpu", **config))
    valid = np.ones(stack.shape[1:], bool)
    valid[:5, :7] = False
    prob = p.predict_array(stack, valid)
    return prob, p


def test_onnxruntime_gives_pytorchs_probabilities_within_1e4(tiny):
    stack = textured_stack(150, 230, seed=3)
    ours, p = run(tiny, stack, window_px=64, overlap_px=8, backend="onnxruntime")
    ref, q = run(tiny, stack, window_px=64, overlap_px=8, backend="torch")
    assert p.onnx is not None and q.onnx is None
    assert np.array_equal(np.isnan(ours), np.isnan(ref))
    assert float(np.nanmax(np.abs(ours - ref))) <= 1e-4
    assert float(np.nanstd(ref)) > 1e-3  # the model's output varies: the comparison means something


def test_windows_the_export_cannot_take_run_on_pytorch(tiny):
    stack = textured_stack(50, 70, seed=1)  # one window of 50 x 70 px: not a multiple of the stride
    ours, p = run(tiny, stack, window_px=128, overlap_px=8, backend="onnxruntime")
    ref, _ = run(tiny, stack, window_px=128, overlap_px=8, backend="torch")
    assert p.onnx is not None and not p.onnx.fits(50, 70)
    assert np.array_equal(ours, ref, equal_nan=True)  # the very same path


def test_auto_uses_pytorch_for_small_rasters_and_the_switch_turns_it_off(tiny, monkeypatch):
    stack = textured_stack(64, 64)
    _, p = run(tiny, stack, window_px=64, overlap_px=8)
    assert p.onnx is None and 64 * 64 < ONNX_MIN_PX
    monkeypatch.setenv(onnx_backend.ENV_SWITCH, "0")
    model, _ = tiny
    _, p = run((model, tiny[1]), stack, window_px=64, overlap_px=8, backend="onnxruntime")
    assert p.onnx is None  # switched off: PyTorch


def test_a_model_that_does_not_export_stays_on_pytorch(monkeypatch):
    model, card = contrasty_model()
    monkeypatch.setattr(onnx_backend, "_export", lambda *a: (_ for _ in ()).throw(RuntimeError("no export")))
    assert onnx_backend.onnx_model(model, len(card.bands), 1, 16) is None
    assert onnx_backend.onnx_model(model, len(card.bands), 1, 16) is None  # remembered: not tried again


def test_unknown_backend_is_refused():
    with pytest.raises(InputError, match="backend"):
        PredictorConfig(backend="tensorrt").validate()


def test_mixed_precision_setting_is_checked():
    PredictorConfig(amp="fp16").validate()
    with pytest.raises(InputError, match="mixed precision"):
        PredictorConfig(amp="int4").validate()


def test_a_tile_of_a_large_plan_runs_on_the_backend_of_the_whole_run(tiny):
    """Batch tiles run their part of a whole zone's windows: the backend ("auto") is the one a
    single run over the zone would choose, so tiles and that run give the same numbers."""
    model, card = tiny
    p = Predictor(model, card, PredictorConfig(device="cpu", window_px=64, overlap_px=8))
    side = 1100  # the zone: 1100 x 1100 px, at least ONNX_MIN_PX
    assert side * side >= ONNX_MIN_PX
    part = p.window_plan(side, side).part((0, 2), (0, 2), 0, 0)
    assert part.raster_shape == (side, side)
    h, w = part.rows[-1] + part.wy, part.cols[-1] + part.wx  # the tile: two by two windows
    stack = textured_stack(h, w, seed=2)
    valid = np.ones((h, w), bool)
    rows = []
    info = p._run(h, w, lambda y0, x0, hh, ww: (stack[:, y0:y0 + hh, x0:x0 + ww], valid[y0:y0 + hh, x0:x0 + ww]),
                  lambda y0, r: rows.append(r), None, None, "detect", plan=part, accumulate=True)
    assert info.backend == "onnxruntime" and p.onnx is not None
    _, alone = run(tiny, stack, window_px=64, overlap_px=8)  # the tile as a raster of its own: small
    assert alone.onnx is None
