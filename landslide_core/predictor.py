"""Sliding-window inference over a raster of any size, with blended (seam-free) stitching.

The raster is cut into windows that overlap by at least ``overlap_px``; each window's
probabilities are weighted by a smooth taper (cosine, over the overlap zone only; flat in
the middle; no taper on sides that touch the raster edge) and the weighted sum is divided by
the summed weights, so neighbouring windows hand over smoothly and no seam remains.

Windows are spread evenly along each axis (all the same size, at most ``window_px``, rounded
to the network's stride), so little is computed twice. Work goes strip by strip (one row of
windows): input is read window by window and the blending accumulators cover one strip only,
so memory is bounded by the window size and the raster width, never by the raster's area.

Pixels that are not valid (nodata, cloud, shadow, non-finite values) come out as NaN: "not
assessable". They enter the network as 0 (the contract's fill for missing values).

Tiles of a larger raster (regional batches) use a :class:`WindowPlan` made for the whole
raster and run only their part of it (:meth:`WindowPlan.part`); with ``accumulate=True`` the
file holds the weighted sum and the summed weights instead of their ratio, so the tiles of a
region add up to exactly the windows and weights of one run over the whole raster (only the
order of the float additions differs where two tiles' windows overlap).

Batches of windows go through the network under ``torch.inference_mode`` in channels-last
memory format; on CUDA with autocast (bfloat16 where supported, else float16), on CPU in
float32. On the CPU, rasters of at least ``ONNX_MIN_PX`` pixels go through ONNX Runtime when
it is installed (:mod:`landslide_core.onnx_backend`: the same probabilities within 1e-4, in
about three quarters of the time); ``PredictorConfig.backend`` chooses explicitly.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from .bands import ALL_BANDS, to_model_input
from .checkpoint import ModelCard, check_bands
from .device import choose_device
from .errors import InputError
from .progress import CancelToken, ProgressFn, check_cancel

#: Defaults chosen by measurement (bench/inference.py, 2048 x 2048 px scene, default model,
#: one thread): the error against a whole-scene pass comes from the hand-over between windows,
#: so 64 px of cosine hand-over instead of 32 lowers it tenfold (mean 1.8e-5 instead of
#: 1.9e-4; MONAI's 512 px gaussian windows with 128 px overlap: 1.4e-4). Paid for by larger
#: windows: with up to 1536 px a side, that scene (and the 400 km2 AOI limit) runs in 2 x 2
#: windows of 1056 px, the same work as 3 x 3 windows of 704 px with 32 px of hand-over
#: (ONNX Runtime's time per pixel does not grow with the window); a scene of up to 1536 px
#: a side runs in one window, with no seam at all. Trimming the ramp's outer pixels did not
#: lower the error (measured).
DEFAULT_WINDOW_PX = 1536
DEFAULT_OVERLAP_PX = 64
#: Pixels per forward pass when the batch size is left to the predictor (CPU: one 512 px
#: window; bigger batches only cost cache; CUDA: enough to fill the GPU).
CPU_BATCH_PX = 1 << 18
CUDA_BATCH_PX = 1 << 23
#: Rasters from this many pixels up run on ONNX Runtime (CPU, backend "auto"): below, the
#: one-off export (a fraction of a second) costs more than it saves.
ONNX_MIN_PX = 1 << 20
BACKENDS = ("auto", "torch", "onnxruntime")
AMP_CHOICES = ("bf16", "fp16", "off")

ReadWindow = Callable[[int, int, int, int], "tuple[np.ndarray, np.ndarray]"]
WriteRows = Callable[[int, np.ndarray], None]


@dataclass
class PredictorConfig:
    """How the raster is cut: window size and overlap in pixels, windows per forward pass."""

    window_px: int = DEFAULT_WINDOW_PX
    overlap_px: int = DEFAULT_OVERLAP_PX
    batch_size: Optional[int] = None  # None: as many windows as fit CPU_BATCH_PX / CUDA_BATCH_PX
    device: Optional[str] = None  # None: CUDA when available, else CPU
    #: "auto": ONNX Runtime on the CPU for rasters of ONNX_MIN_PX and more when installed, else
    #: PyTorch; "torch": always PyTorch; "onnxruntime": ONNX Runtime on the CPU whenever it can.
    backend: Optional[str] = None
    #: CUDA only: "bf16", "fp16" or "off" (float32); None: bfloat16 where the GPU supports it,
    #: else float16 (bench/gpu_check.py measures each against float32).
    amp: Optional[str] = None

    def validate(self) -> None:
        if int(self.window_px) < 1:
            raise InputError(f"The window must be at least 1 px, got {self.window_px}.",
                             "Use e.g. --window 1024.")
        if not (0 <= int(self.overlap_px) and 2 * int(self.overlap_px) < int(self.window_px)):
            raise InputError(
                f"The overlap ({self.overlap_px} px) must be at least 0 and less than half "
                f"the window ({self.window_px} px).", "Use e.g. --overlap 0.03 (a fraction of the window).")
        if self.batch_size is not None and int(self.batch_size) < 1:
            raise InputError(f"The batch size must be at least 1, got {self.batch_size}.")
        if self.backend is not None and self.backend not in BACKENDS:
            raise InputError(f"Unknown inference backend '{self.backend}'.", f"Use one of: {', '.join(BACKENDS)}.")
        if self.amp is not None and self.amp not in AMP_CHOICES:
            raise InputError(f"Unknown mixed precision '{self.amp}'.", f"Use one of: {', '.join(AMP_CHOICES)}.")


@dataclass
class PredictionInfo:
    """What a prediction run did."""

    height: int
    width: int
    valid_px: int
    windows_total: int
    windows_run: int
    window_shape_px: tuple[int, int]
    overlap_px: int
    batch_size: int
    device: str
    seconds: float
    path: Optional[Path] = None
    backend: str = "torch"

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["path"] = str(self.path) if self.path else None
        d["window_shape_px"] = list(self.window_shape_px)
        return d


def plan_axis(length: int, window_px: int, overlap_px: int, multiple: int = 1) -> tuple[list[int], int]:
    """Window starts and the common window size along one axis of ``length`` pixels.

    One window when the axis fits; otherwise the fewest windows of at most ``window_px``
    that overlap by at least ``overlap_px``, sized to a multiple of the network's stride when
    that still fits, and spread evenly from edge to edge.
    """
    if length <= window_px:
        return [0], length
    step = window_px - overlap_px
    n = math.ceil((length - overlap_px) / step)
    size = math.ceil((length + (n - 1) * overlap_px) / n)
    if multiple > 1:
        size = min(math.ceil(size / multiple) * multiple, window_px)
    starts = [int(round(i * (length - size) / (n - 1))) for i in range(n)]
    return starts, size


def taper_1d(starts: list[int], size: int, index: int) -> np.ndarray:
    """Blending weights of window ``index`` along one axis.

    A raised-cosine ramp across each overlap with a neighbour (the two ramps of a pair sum
    to 1), flat elsewhere, and no ramp on a side without a neighbour (the raster edge).
    """
    w = np.ones(size, dtype=np.float32)
    if index > 0:
        ov = starts[index - 1] + size - starts[index]
        w[:ov] *= _ramp(ov)
    if index < len(starts) - 1:
        ov = starts[index] + size - starts[index + 1]
        w[size - ov:] *= 1.0 - _ramp(ov)
    return np.maximum(w, 1e-6)


def _ramp(overlap: int) -> np.ndarray:
    t = (np.arange(overlap, dtype=np.float64) + 0.5) / overlap
    return (np.sin(0.5 * np.pi * t) ** 2).astype(np.float32)


@dataclass
class WindowPlan:
    """The windows of a run over a raster: starts (pixels of that raster), sizes and blending
    weights per axis. ``whole`` covers a raster edge to edge (:meth:`spread`); ``part`` is the
    share of a larger raster's plan that lies in a tile of it."""

    rows: list[int]
    wy: int
    row_tapers: list[np.ndarray]
    cols: list[int]
    wx: int
    col_tapers: list[np.ndarray]
    #: (height, width) of the raster the plan was spread over (a part keeps its whole
    #: raster's): the predictor picks its backend by it, so tiles run like one whole run.
    raster_shape: Optional[tuple[int, int]] = None

    @classmethod
    def spread(cls, height: int, width: int, window_px: int, overlap_px: int, multiple: int = 1) -> "WindowPlan":
        """Windows spread evenly over a whole ``height`` x ``width`` raster (see :func:`plan_axis`)."""
        rows, wy = plan_axis(height, int(window_px), int(overlap_px), multiple)
        cols, wx = plan_axis(width, int(window_px), int(overlap_px), multiple)
        return cls(rows, wy, [taper_1d(rows, wy, i) for i in range(len(rows))],
                   cols, wx, [taper_1d(cols, wx, i) for i in range(len(cols))], (int(height), int(width)))

    def part(self, row_range: tuple[int, int], col_range: tuple[int, int], row_off: int, col_off: int) -> "WindowPlan":
        """Windows ``row_range`` x ``col_range`` (index ranges, end exclusive) of this plan, in the
        pixels of a tile whose top-left pixel is (``row_off``, ``col_off``) of this plan's raster;
        the weights stay those of the whole plan, so the tiles' sums add up to the whole run."""
        r0, r1 = row_range
        c0, c1 = col_range
        if not (0 <= r0 < r1 <= len(self.rows) and 0 <= c0 < c1 <= len(self.cols)):
            raise ValueError(f"window ranges {row_range} x {col_range} outside the plan "
                             f"({len(self.rows)} x {len(self.cols)} windows)")
        return WindowPlan([y - row_off for y in self.rows[r0:r1]], self.wy, self.row_tapers[r0:r1],
                          [x - col_off for x in self.cols[c0:c1]], self.wx, self.col_tapers[c0:c1],
                          self.raster_shape)

    def check_inside(self, height: int, width: int) -> None:
        if (self.rows[0] < 0 or self.cols[0] < 0 or self.rows[-1] + self.wy > height
                or self.cols[-1] + self.wx > width):
            raise ValueError(f"the windows ({self.rows[0]}..{self.rows[-1] + self.wy} x {self.cols[0]}.."
                             f"{self.cols[-1] + self.wx}) do not fit the raster ({height} x {width})")

    @property
    def count(self) -> int:
        return len(self.rows) * len(self.cols)


class _RowWriter:
    """Collects finished rows and hands them on in chunks aligned to ``block`` rows.

    Rows are (n, width) arrays, or (bands, n, width) for several bands at once."""

    def __init__(self, sink: WriteRows, width: int, block: int, bands: int = 0):
        self.sink, self.block = sink, block
        self.pending = np.empty((bands, 0, width) if bands else (0, width), np.float32)
        self.row0 = 0

    def add(self, rows: np.ndarray) -> None:
        self.pending = np.concatenate([self.pending, rows], axis=-2) if self.pending.size else rows
        n = (self.pending.shape[-2] // self.block) * self.block
        if n:
            self.sink(self.row0, self.pending[..., :n, :])
            self.row0 += n
            self.pending = self.pending[..., n:, :].copy()

    def close(self) -> None:
        if self.pending.shape[-2]:
            self.sink(self.row0, self.pending)
            self.row0 += self.pending.shape[-2]
            self.pending = self.pending[..., :0, :]


class Predictor:
    """Runs a model over rasters of any size; see the module docstring."""

    def __init__(self, model: nn.Module, card: ModelCard, config: Optional[PredictorConfig] = None):
        self.config = config or PredictorConfig()
        self.config.validate()
        check_bands(card, ALL_BANDS)
        self.card = card
        #: the card's input scaling after the L4S units ("l4s": none; "minmax": its statistics)
        self.scaling = card.input_scaling()
        self.device = choose_device(self.config.device)
        self.model = model.to(self.device).eval()
        self.multiple = int(getattr(model, "multiple", 1) or 1)
        self.on_cuda = self.device.type == "cuda"
        # channels_last is ~30% faster than NCHW for these convolutions on CPU (oneDNN) too
        self.model = self.model.to(memory_format=torch.channels_last)
        self.amp_dtype: Optional[torch.dtype] = None  # CUDA: the autocast dtype (None: float32)
        if self.on_cuda:
            amp = self.config.amp or ("bf16" if torch.cuda.is_bf16_supported() else "fp16")
            self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}[amp]
        self.onnx = None  # set per run by _choose_backend
        #: a lock shared by predictors that must not run the model at the same time (two dates on
        #: one GPU: two batches at once would need twice its memory); None: no lock
        self.device_lock: Optional[threading.Lock] = None

    def beside(self) -> "Predictor":
        """A predictor of the same model and settings, to run in another thread beside this one:
        on CUDA the two take turns on the device (a lock shared by both), on the CPU they do not."""
        twin = Predictor(self.model, self.card, self.config)
        if self.on_cuda:
            self.device_lock = self.device_lock or threading.Lock()
            twin.device_lock = self.device_lock
        return twin

    def _choose_backend(self, height: int, width: int) -> str:
        """"onnxruntime" or "torch" for a raster of this size (see :class:`PredictorConfig`)."""
        self.onnx = None
        wanted = self.config.backend or "auto"
        if self.on_cuda or wanted == "torch" or (wanted == "auto" and height * width < ONNX_MIN_PX):
            return "torch"
        from .onnx_backend import onnx_model

        self.onnx = onnx_model(self.model, len(self.card.bands), torch.get_num_threads(), self.multiple)
        return "onnxruntime" if self.onnx is not None else "torch"

    # -- public -----------------------------------------------------------------------------
    def prepare(self, height: int, width: int) -> str:
        """Make the backend of a ``height`` x ``width`` raster ready now (ONNX Runtime's session
        is exported once per model object), not at the first window; returns its name."""
        return self._choose_backend(int(height), int(width))

    def predict_array(self, stack_raw: np.ndarray, valid: Optional[np.ndarray] = None,
                      progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
                      stage: str = "detect") -> np.ndarray:
        """Probability (H, W) float32 of a raw stack (14, H, W) in ALL_BANDS order; NaN = not assessable."""
        if stack_raw.ndim != 3 or stack_raw.shape[0] != len(ALL_BANDS):
            raise InputError(f"The stack has shape {stack_raw.shape}; expected ({len(ALL_BANDS)}, rows, cols) "
                             f"in the order {', '.join(ALL_BANDS)}.")
        _, h, w = stack_raw.shape
        if valid is None:
            valid = np.ones((h, w), bool)
        if valid.shape != (h, w):
            raise InputError(f"The valid mask has shape {valid.shape}, the stack {stack_raw.shape[1:]}.")
        out = np.empty((h, w), np.float32)

        def read(y0: int, x0: int, hh: int, ww: int):
            return stack_raw[:, y0:y0 + hh, x0:x0 + ww], valid[y0:y0 + hh, x0:x0 + ww]

        def write(y0: int, rows: np.ndarray) -> None:
            out[y0:y0 + len(rows)] = rows

        self._run(h, w, read, write, progress, cancel, stage)
        return out

    def window_plan(self, height: int, width: int) -> WindowPlan:
        """The windows of a run over a whole ``height`` x ``width`` raster with this config."""
        cfg = self.config
        return WindowPlan.spread(height, width, int(cfg.window_px), int(cfg.overlap_px), self.multiple)

    def predict_file(self, scene_path: str | Path, out_path: str | Path,
                     progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
                     stage: str = "detect", plan: Optional[WindowPlan] = None,
                     accumulate: bool = False, creation: Optional[dict] = None) -> PredictionInfo:
        """Read a scene GeoTIFF by windows and write its probability GeoTIFF by rows.

        The output is a tiled float32 GeoTIFF with NaN nodata on the scene's grid (exports
        turn it into a Cloud-Optimized GeoTIFF). On error or cancellation nothing is left.

        ``plan``: the windows to run (in this scene's pixels; default: spread over the whole
        scene). ``accumulate``: write two bands instead, ``weighted_sum`` and ``weight``, the
        blending's numerator and denominator (numerator NaN where a covered pixel is not valid,
        both 0 where no window covers the pixel), so tiles of one plan can be added up.
        ``creation``: GeoTIFF creation options replacing the defaults (e.g. a faster codec for
        intermediate files).
        """
        import rasterio
        from rasterio.windows import Window

        from .scene import SceneReader

        out_path = Path(out_path)
        partial = out_path.with_name(out_path.name + ".partial")
        with SceneReader(scene_path) as reader:
            profile = dict(driver="GTiff", width=reader.width, height=reader.height, count=2 if accumulate else 1,
                           dtype="float32", crs=reader.crs, transform=reader.transform,
                           nodata=None if accumulate else float("nan"), tiled=True, blockxsize=256,
                           blockysize=256, BIGTIFF="IF_SAFER")  # not compressed: exports turn it into a COG at once
            profile.update(creation or {})

            def read(y0: int, x0: int, hh: int, ww: int):
                return reader.read(Window(x0, y0, ww, hh))

            try:
                with rasterio.open(partial, "w", **profile) as dst:
                    def write(y0: int, rows: np.ndarray) -> None:
                        dst.write(rows if rows.ndim == 3 else rows[None],
                                  window=Window(0, y0, rows.shape[-1], rows.shape[-2]))

                    info = self._run(reader.height, reader.width, read, write, progress, cancel, stage,
                                     plan=plan, accumulate=accumulate)
                    if accumulate:
                        dst.set_band_description(1, "weighted_sum")
                        dst.set_band_description(2, "weight")
                partial.replace(out_path)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
        info.path = out_path
        return info

    # -- internals --------------------------------------------------------------------------
    def batch_size_for(self, window_px_count: int) -> int:
        if self.config.batch_size:
            return int(self.config.batch_size)
        budget = CUDA_BATCH_PX if self.on_cuda else CPU_BATCH_PX
        return max(1, budget // max(window_px_count, 1))

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        if self.device_lock is not None:
            with self.device_lock:
                return self._forward_now(batch)
        return self._forward_now(batch)

    def _forward_now(self, batch: np.ndarray) -> np.ndarray:
        if self.onnx is not None and self.onnx.fits(*batch.shape[-2:]):
            logits = torch.from_numpy(self.onnx(batch))
            return torch.sigmoid(logits.float())[:, 0].numpy()
        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device).contiguous(memory_format=torch.channels_last)
            if self.on_cuda and self.amp_dtype is not None:
                with torch.autocast("cuda", dtype=self.amp_dtype):
                    logits = self.model(x)
            else:
                logits = self.model(x)
            return torch.sigmoid(logits.float())[:, 0].cpu().numpy()

    def _run(self, height: int, width: int, read: ReadWindow, write: WriteRows,
             progress: Optional[ProgressFn], cancel: Optional[CancelToken], stage: str,
             plan: Optional[WindowPlan] = None, accumulate: bool = False) -> PredictionInfo:
        t0 = time.perf_counter()
        cfg = self.config
        plan = plan or self.window_plan(height, width)
        plan.check_inside(height, width)
        # the backend of the whole raster's run, so a tile of it runs on the same one
        backend = self._choose_backend(*(plan.raster_shape or (height, width)))
        rows, wy, cols, wx, col_w = plan.rows, plan.wy, plan.cols, plan.wx, plan.col_tapers
        batch_size = self.batch_size_for(wy * wx)
        total = plan.count
        done = run = valid_px = 0
        acc = np.zeros((wy, width), np.float32)
        wsum = np.zeros((wy, width), np.float32)
        valid_strip = np.zeros((wy, width), bool)
        writer = _RowWriter(write, width, 256, bands=2 if accumulate else 0)

        def emit(n: int) -> int:
            """Hand on the first ``n`` rows of the strip; the number of valid pixels in them."""
            if accumulate:
                covered = wsum[:n] > 0
                num = np.where(covered & ~valid_strip[:n], np.float32(np.nan), acc[:n])
                writer.add(np.stack([num, wsum[:n].copy()]))
                return int((covered & valid_strip[:n]).sum())
            with np.errstate(invalid="ignore", divide="ignore"):
                final = acc[:n] / wsum[:n]
            final[~valid_strip[:n] | (wsum[:n] <= 0)] = np.nan
            writer.add(final)
            return int(np.isfinite(final).sum())

        cursor = 0  # the next row to hand on
        for r, y0 in enumerate(rows):
            while cursor < y0:  # rows above this plan's windows (a tile's part of a larger plan)
                valid_px += emit(min(wy, y0 - cursor))
                cursor += min(wy, y0 - cursor)
            row_w = plan.row_tapers[r][:, None]
            pending: list[tuple[int, np.ndarray]] = []
            for c, x0 in enumerate(cols):
                check_cancel(cancel)
                stack, valid = read(y0, x0, wy, wx)
                valid = np.asarray(valid, bool)
                x, finite = to_model_input(np.asarray(stack), ALL_BANDS, self.card.bands,
                                           scaling=self.scaling, valid=valid)
                valid = valid & finite
                valid_strip[:, x0:x0 + wx] = valid
                if not valid.any():
                    done += 1
                    continue
                pending.append((c, x))
                if len(pending) == batch_size or c == len(cols) - 1:
                    done, run = self._flush(pending, cols, wx, row_w, col_w, acc, wsum, done, run)
                    pending = []
                    if progress:
                        progress(done, total, stage)
            if pending:
                done, run = self._flush(pending, cols, wx, row_w, col_w, acc, wsum, done, run)
            if progress:
                progress(done, total, stage)
            next_y = rows[r + 1] if r + 1 < len(rows) else min(y0 + wy, height)
            n = next_y - y0
            valid_px += emit(n)
            cursor = next_y
            keep = wy - n
            acc[:keep] = acc[n:].copy()
            wsum[:keep] = wsum[n:].copy()
            valid_strip[:keep] = valid_strip[n:].copy()
            acc[keep:] = 0.0
            wsum[keep:] = 0.0
            valid_strip[keep:] = False
        while cursor < height:  # rows below this plan's windows
            valid_px += emit(min(wy, height - cursor))
            cursor += min(wy, height - cursor)
        writer.close()
        return PredictionInfo(height, width, valid_px, total, run, (wy, wx), int(cfg.overlap_px),
                              batch_size, str(self.device), time.perf_counter() - t0, backend=backend)

    def _flush(self, pending, cols, wx, row_w, col_w, acc, wsum, done, run):
        probs = self._forward(np.stack([x for _, x in pending]))
        for (c, _), p in zip(pending, probs):
            x0 = cols[c]
            weight = row_w * col_w[c][None, :]
            acc[:, x0:x0 + wx] += p * weight
            wsum[:, x0:x0 + wx] += weight
        return done + len(pending), run + len(pending)
