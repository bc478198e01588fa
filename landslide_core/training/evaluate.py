"""Scoring a model on labelled patches: the thesis's Table 6 (F1, precision, recall, IoU,
Dice-WCE, WCE, Dice), and prediction previews for the dashboard.

The metrics come from pixel counts summed over the whole set (threshold: the model card's,
0.5 by default); the losses from sums over all pixels (WCE: mean over pixels; Dice: soft,
from the summed overlap), with alpha and beta of the model's training (else 0.5 and 5).
"""
from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from ..bands import BandScaling
from ..checkpoint import ModelCard, load_checkpoint
from ..errors import Cancelled, InputError
from ..progress import CancelToken, ProgressFn
from .dataset import BatchLoader, Layout, PatchSet, discover, load_patches
from .losses import LossSums, WceDiceLoss
from .metrics import PixelCounts, pixel_counts

TABLE_COLUMNS = ("F1-score", "Precision", "Recall", "IoU", "Dice-WCE", "WCE", "Dice")


@torch.no_grad()
def score_patches(model: torch.nn.Module, patches: PatchSet, indices: np.ndarray, loss_fn: WceDiceLoss,
                  device: torch.device | str = "cpu", batch_size: int = 16, threshold: float = 0.5,
                  should_stop: Callable[[], bool] = lambda: False,
                  progress: Optional[ProgressFn] = None,
                  scaling: Optional[BandScaling] = None) -> tuple[LossSums, PixelCounts]:
    """Loss sums and landslide pixel counts of ``model`` over ``patches[indices]`` (input
    scaled by ``scaling``, the model's, when given)."""
    model.eval()
    device = torch.device(device)
    sums, counts = LossSums(), PixelCounts()
    loader = BatchLoader(patches, indices, batch_size, shuffle=False, augment=False, workers=1, scaling=scaling)
    for i, batch in enumerate(loader):
        if should_stop():
            raise Cancelled("Stopped on request during validation.")
        logits = model(batch.x.to(device))
        y = batch.y.to(device)
        sums.add(loss_fn.sums(logits, y))
        counts.add(pixel_counts(logits, y, threshold))
        if progress:
            progress(i + 1, len(loader), "scoring")
    return sums, counts


@dataclass
class EvalResult:
    """Table 6 of one model on one dataset."""

    model: str
    data: str
    patches: int
    f1: float
    precision: float
    recall: float
    iou: float
    dice_wce: float
    wce: float
    dice: float
    alpha: float
    beta: float
    threshold: float
    tp: int
    fp: int
    fn: int
    tn: int

    def table_row(self) -> dict[str, float]:
        return dict(zip(TABLE_COLUMNS, (self.f1, self.precision, self.recall, self.iou,
                                        self.dice_wce, self.wce, self.dice)))


def format_table(results: list[EvalResult]) -> str:
    """A plain-text table like the thesis's Table 6, one row per model."""
    names = [Path(r.model).stem for r in results]
    width = max([len("Model")] + [len(n) for n in names])
    head = "Model".ljust(width) + "".join(f"  {c:>9}" for c in TABLE_COLUMNS)
    lines = [head, "-" * len(head)]
    for name, r in zip(names, results):
        lines.append(name.ljust(width) + "".join(f"  {v:>9.3f}" for v in r.table_row().values()))
    r0 = results[0]
    lines.append(f"data: {r0.data} ({r0.patches} patches); threshold {r0.threshold}; "
                 f"Dice-WCE = (1-{r0.alpha})*WCE(beta={r0.beta}) + {r0.alpha}*Dice")
    return "\n".join(lines)


def write_results(results: list[EvalResult], out: str | Path) -> Path:
    """Write by suffix: .json (all fields), .csv (the table and counts), else the text table."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".json":
        out.write_text(json.dumps([asdict(r) for r in results], indent=2))
    elif out.suffix.lower() == ".csv":
        with open(out, "w", newline="") as fh:
            fields = ["model", *TABLE_COLUMNS, "patches", "tp", "fp", "fn", "tn", "alpha", "beta", "threshold", "data"]
            w = csv.DictWriter(fh, fieldnames=fields)
            w.writeheader()
            for r in results:
                w.writerow({"model": r.model, **r.table_row(), "patches": r.patches, "tp": r.tp, "fp": r.fp,
                            "fn": r.fn, "tn": r.tn, "alpha": r.alpha, "beta": r.beta,
                            "threshold": r.threshold, "data": r.data})
    else:
        out.write_text(format_table(results) + "\n")
    return out


def evaluation_pairs(layout: Layout):
    """The test patches of an official release when labelled, else every labelled patch."""
    test = layout.labelled("test")
    if test:
        return test, "TestData"
    pairs = [p for ps in layout.subsets.values() for p in ps if p.mask is not None]
    if not pairs:
        raise InputError(f"{layout.root} has no labelled patches to evaluate on.", "Add the mask/ folders.")
    return pairs, "all labelled patches"


def _loss_weights(card: ModelCard) -> tuple[float, float]:
    cfg = card.training_config or {}
    return float(cfg.get("alpha", 0.5)), float(cfg.get("beta", 5.0))


def evaluate(model_path: str | Path, data_dir: str | Path, batch_size: int = 16, device: str = "cpu",
             on_bad: str = "stop", progress: Optional[ProgressFn] = None,
             cancel: Optional[CancelToken] = None) -> EvalResult:
    """Score the checkpoint at ``model_path`` on the labelled patches in ``data_dir``."""
    model, card = load_checkpoint(model_path, device)
    layout = discover(data_dir)
    pairs, which = evaluation_pairs(layout)
    patches = load_patches(data_dir, pairs, card.bands, on_bad, progress=progress, cancel=cancel)
    alpha, beta = _loss_weights(card)
    sums, counts = score_patches(model, patches, np.arange(len(patches)), WceDiceLoss(alpha, beta), device,
                                 batch_size, float(card.threshold),
                                 should_stop=lambda: cancel is not None and cancel.cancelled,
                                 scaling=card.input_scaling())
    total, wce, dice = sums.parts(alpha)
    s = counts.scores()
    return EvalResult(str(model_path), f"{Path(data_dir)} [{which}]", len(patches), s["f1"], s["precision"],
                      s["recall"], s["iou"], total, wce, dice, alpha, beta, float(card.threshold),
                      counts.tp, counts.fp, counts.fn, counts.tn)


# ---------------------------------------------------------------- previews


@dataclass
class PreviewPatch:
    """One validation patch for display: RGB (H, W, 3) uint8, mask and probability (H, W)."""

    name: str
    rgb: np.ndarray
    mask: np.ndarray
    probability: np.ndarray

    @property
    def mask_image(self) -> np.ndarray:
        """The mask as a grey uint8 image (landslide white)."""
        return (np.asarray(self.mask) > 0).astype(np.uint8) * 255

    @property
    def probability_image(self) -> np.ndarray:
        """The probability 0-1 as a grey uint8 image."""
        return (np.clip(self.probability, 0, 1) * 255).round().astype(np.uint8)

    @property
    def landslide_share(self) -> tuple[float, float]:
        """(true, predicted at 0.5) share of landslide pixels."""
        return float(np.mean(self.mask > 0)), float(np.mean(self.probability >= 0.5))


def rgb_image(x: np.ndarray, bands: tuple[str, ...] | list[str]) -> np.ndarray:
    """True colour (B4, B3, B2) of an L4S-unit patch (C, H, W), stretched 2-98 %, as uint8."""
    idx = [list(bands).index(b) for b in ("B4", "B3", "B2") if b in bands]
    if len(idx) < 3:
        idx = [0, 0, 0]
    rgb = np.moveaxis(np.asarray(x)[idx], 0, -1).astype(np.float32)
    lo, hi = np.percentile(rgb, [2, 98])
    return (np.clip((rgb - lo) / max(hi - lo, 1e-6), 0, 1) * 255).astype(np.uint8)


@torch.no_grad()
def preview_predictions(checkpoint: str | Path, data_dir: str | Path, names: list[str],
                        device: str = "cpu") -> list[PreviewPatch]:
    """Predictions of a checkpoint on the named patches (e.g. a run's first validation patches)."""
    model, card = load_checkpoint(checkpoint, device)
    layout = discover(data_dir)
    by_name = {p.name: p for ps in layout.subsets.values() for p in ps}
    pairs = [by_name[n] for n in names if n in by_name]
    if not pairs:
        raise InputError(f"None of the patches {', '.join(names[:3])} is in {data_dir}.",
                         "The data folder changed since the run; choose another run.")
    patches = load_patches(data_dir, pairs, card.bands, on_bad="skip")
    x = card.input_scaling().apply(np.asarray(patches.x, dtype=np.float32), patches.bands)
    prob = torch.sigmoid(model(torch.from_numpy(np.ascontiguousarray(x)).to(device)))[:, 0]
    prob = prob.cpu().numpy()
    return [PreviewPatch(n, rgb_image(patches.x[i], patches.bands), patches.y[i], prob[i])
            for i, n in enumerate(patches.names)]


def run_preview(run_dir: str | Path, count: int = 4, device: str = "cpu") -> list[PreviewPatch]:
    """Previews of a run's best checkpoint on its first ``count`` validation patches."""
    from . import runs

    run_dir = Path(run_dir)
    best = run_dir / f"{runs.BEST}.json"
    if not best.exists():
        raise InputError(f"The run {run_dir.name} has no best checkpoint yet.", "Wait for its first epoch to end.")
    config = runs.read_config(run_dir)
    split = json.loads((run_dir / runs.SPLIT_FILE).read_text())
    return preview_predictions(best, config.data_dir, list(split["val"])[:count], device)
