"""ONNX Runtime as an optional CPU backend of the predictor.

Measured on this project's U-Nets on a CPU (``bench/inference.py``), ONNX Runtime's CPU
provider runs a window in about 0.7-0.8 of the time of PyTorch's eager channels-last
convolutions (it fuses each convolution with its batch norm and activation), and its time per
pixel stays flat as windows grow, where PyTorch's rises. It is used when the ``onnxruntime``
package is installed (``pip install onnxruntime``) and the model exports to ONNX; otherwise
the predictor stays with PyTorch. Nothing else changes: the same windows, blending and
probabilities, within :data:`MAX_PROBABILITY_DIFF` of PyTorch's (checked on a probe input
when the session is made; a model that differs more is left to PyTorch).

A model's session is made once and kept on the model object (the dashboard keeps its models
loaded), so only the first prediction pays for the export (a fraction of a second for the
default model).
"""
from __future__ import annotations

import io
import logging
import os
from typing import Optional

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)

#: Largest difference in probability from PyTorch's accepted on the probe input.
MAX_PROBABILITY_DIFF = 1e-4
#: Env switch: "0" keeps the predictor on PyTorch even when onnxruntime is installed.
ENV_SWITCH = "LANDSLIDE_ONNXRUNTIME"
_ATTR = "_landslide_onnx_session"


def available() -> bool:
    """Whether the backend may be used: onnxruntime importable and not switched off."""
    if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class OnnxModel:
    """A model exported to ONNX and run by ONNX Runtime on the CPU: ``__call__(x)`` maps a
    float32 (N, C, H, W) array to the logits (N, 1, H, W), like the model, for H and W that
    are multiples of ``multiple`` (the network's stride: the export traces the path that
    needs no padding; :meth:`fits` says whether a batch may go here)."""

    def __init__(self, session, threads: int, multiple: int):
        self.session = session
        self.threads = threads
        self.multiple = multiple
        self.input_name = session.get_inputs()[0].name

    def fits(self, height: int, width: int) -> bool:
        return height % self.multiple == 0 and width % self.multiple == 0

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]


def _export(model: nn.Module, channels: int, side: int) -> bytes:
    import warnings

    buf = io.BytesIO()
    probe = torch.zeros(1, channels, side, side)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python control flow (the padding)
        torch.onnx.export(model, (probe,), buf, input_names=["x"], output_names=["logits"], opset_version=17,
                          dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}, "logits": {0: "n", 2: "h", 3: "w"}},
                          dynamo=False)
    return buf.getvalue()


def _session(onnx_bytes: bytes, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # waiting threads sleep instead of spinning (see landslide_core/__init__.py)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])


def onnx_model(model: nn.Module, channels: int, threads: int, multiple: int = 1) -> Optional[OnnxModel]:
    """The model's ONNX Runtime twin (made once, kept on the model), or None when the backend
    is not available or the model does not export or does not match PyTorch closely enough
    (checked at two window shapes, so the export is not tied to one)."""
    if not available():
        return None
    kept = getattr(model, _ATTR, None)
    if isinstance(kept, OnnxModel) and kept.threads == threads:
        return kept
    if kept is False:
        return None
    multiple = max(int(multiple), 1)
    side = multiple * max(1, -(-64 // multiple))
    try:
        twin = OnnxModel(_session(_export(model, channels, side), threads), threads, multiple)
        rng = np.random.default_rng(0)
        for h, w in ((side + multiple, side + 2 * multiple), (side + 3 * multiple, side)):
            probe = rng.uniform(0.0, 2.0, (2, channels, h, w)).astype(np.float32)
            with torch.inference_mode():
                want = torch.sigmoid(model(torch.from_numpy(probe)).float()).numpy()
            got = 1.0 / (1.0 + np.exp(-twin(probe).astype(np.float64)))
            diff = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("inf")
            if not diff <= MAX_PROBABILITY_DIFF:
                raise ValueError(f"probabilities differ by {diff:.2e} from PyTorch's at {h} x {w} px")
    except Exception as exc:  # noqa: BLE001 - any failure: PyTorch runs the model instead
        log.info("ONNX Runtime not used for this model (%s); PyTorch runs it", str(exc).splitlines()[0][:200])
        _keep(model, False)
        return None
    _keep(model, twin)
    return twin


def _keep(model: nn.Module, value) -> None:
    object.__setattr__(model, _ATTR, value)  # a plain attribute, not a submodule or parameter


__all__ = ["OnnxModel", "available", "onnx_model", "MAX_PROBABILITY_DIFF", "ENV_SWITCH"]
