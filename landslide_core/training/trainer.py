"""Training in the calling process: the thesis recipe, with run folders, resume and stop.

``train(config, run_dir)`` checks the settings and the data, takes the device lock (waiting
in the queue if another run holds it), decodes the patches once, then trains with Adam and
StepLR on (1 - alpha) * WCE + alpha * Dice. After every epoch it validates on the whole
validation set, appends a row to ``metrics.csv``, saves ``last`` (and ``best`` when the
validation loss improved) and the resume state (weights, optimizer, scheduler, epoch,
history: safetensors + JSON, never pickle). It stops early after ``patience`` epochs
without a better validation loss. A run started again in the same folder with the same
settings resumes from its last saved epoch.
"""
from __future__ import annotations

import csv
import json
import logging
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from ..bands import BAND_SETS, BandScaling, minmax_scaling
from ..checkpoint import ModelCard, card_and_weights_paths, save_checkpoint, sha256_file
from ..errors import Cancelled, InputError, UserError
from ..progress import CancelToken, ProgressFn
from ..zoo import build_model
from . import runs
from .config import TrainConfig, check_architecture
from .dataset import BatchLoader, PatchSet, Split, discover, estimate_bytes, load_patches, split_names
from .evaluate import score_patches
from .losses import WceDiceLoss

log = logging.getLogger("landslide_core.training")

METRIC_COLUMNS = ("epoch", "lr", "train_loss", "train_wce", "train_dice", "val_loss", "val_wce", "val_dice",
                  "val_precision", "val_recall", "val_f1", "val_iou", "epoch_s", "data_wait_s", "samples_per_s")


@dataclass
class RunSummary:
    """How a run ended, its best epoch and where its checkpoints are."""

    run_dir: Path
    state: str
    epochs_done: int
    total_epochs: int
    best_epoch: Optional[int] = None
    best_val_loss: Optional[float] = None
    best_metrics: dict[str, float] = field(default_factory=dict)
    best_checkpoint: Optional[Path] = None
    last_checkpoint: Optional[Path] = None
    stopped_early: bool = False
    message: str = ""


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU; an unavailable device is a clear error."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise InputError(f"Unknown device '{name}'.", "Use auto, cpu, cuda or cuda:N.") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"The device '{name}' was asked for but this machine has no usable CUDA GPU.",
                             "Use --device cpu or auto.")
        return torch.device("cuda", dev.index or 0)
    if dev.type != "cpu":
        raise InputError(f"The device '{name}' is not supported.", "Use auto, cpu, cuda or cuda:N.")
    return dev


# ---------------------------------------------------------------- resume state


def _jsonable(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def save_state(run_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               scheduler: Any, meta: dict[str, Any]) -> None:
    """Write ``train_state.safetensors`` (tensors) and ``train_state.json`` (everything else)."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {f"model.{k}": v.detach().cpu().contiguous()
                                        for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    opt_values: dict[str, dict[str, Any]] = {}
    for pid, entry in opt["state"].items():
        opt_values[str(pid)] = {}
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{pid}.{key}"] = value.detach().cpu().contiguous()
                opt_values[str(pid)][key] = {"tensor": True}
            else:
                opt_values[str(pid)][key] = {"value": value}
    weights = run_dir / f"{runs.STATE}.safetensors"
    tmp = weights.with_name(weights.name + ".partial")
    save_file(tensors, str(tmp))
    tmp.replace(weights)
    meta = dict(meta, optimizer={"param_groups": _jsonable(opt["param_groups"]), "state": opt_values},
                scheduler=_jsonable(scheduler.state_dict()), tensors_sha256=sha256_file(weights))
    runs._write_json_atomic(run_dir / f"{runs.STATE}.json", meta)


def load_state(run_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               scheduler: Any) -> Optional[dict[str, Any]]:
    """Restore a saved state into the given objects; None when there is none."""
    from safetensors.torch import load_file

    meta_path, weights = run_dir / f"{runs.STATE}.json", run_dir / f"{runs.STATE}.safetensors"
    if not meta_path.exists() or not weights.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("tensors_sha256") != sha256_file(weights):
            raise ValueError("the tensors file does not match its JSON (written halfway?)")
        tensors = load_file(str(weights))
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True)
        opt_meta = meta["optimizer"]
        state = {}
        for pid, entry in opt_meta["state"].items():
            state[int(pid)] = {key: tensors[f"optim.{pid}.{key}"] if spec.get("tensor") else spec["value"]
                               for key, spec in entry.items()}
        optimizer.load_state_dict({"state": state, "param_groups": opt_meta["param_groups"]})
        scheduler.load_state_dict(meta["scheduler"])
    except (OSError, ValueError, KeyError, RuntimeError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise UserError(f"The resume state in {run_dir} cannot be used ({str(exc).splitlines()[0]}).",
                        f"Delete {runs.STATE}.json and {runs.STATE}.safetensors to start this run over, "
                        "or start a new run.") from None
    return meta


def recover_from_checkpoint(run_dir: Path, config: TrainConfig, model: torch.nn.Module, scheduler: Any,
                            damage: UserError) -> dict[str, Any]:
    """When the resume state is damaged: the run's ``last`` checkpoint and ``metrics.csv`` give
    the weights, the epoch and the history; the optimizer starts afresh (its moments are lost)
    and the learning-rate schedule is advanced to that epoch. A finished run stays finished.
    Raises the original error (with what to do) when there is no usable last checkpoint."""
    import warnings

    from ..checkpoint import load_checkpoint

    last_card, _ = card_and_weights_paths(run_dir / runs.LAST)
    try:
        last_model, card = load_checkpoint(last_card)
        epoch = int(card.metrics.get("epoch", 0))
        model.load_state_dict(last_model.state_dict(), strict=True)
    except (UserError, RuntimeError, ValueError, TypeError) as exc:
        raise UserError(f"{damage.what} The last checkpoint cannot replace it either ({str(exc).splitlines()[0]}).",
                        f"Start the run over: delete {runs.STATE}.json and {runs.STATE}.safetensors in {run_dir}, "
                        "or start a new run.") from None
    history = [dict(r, epoch=int(r["epoch"])) for r in runs.read_metrics(run_dir) if 0 < r.get("epoch", 0) <= epoch]
    if epoch < 1 or len(history) != epoch:
        raise UserError(f"{damage.what} Its metrics.csv does not match the last checkpoint (epoch {epoch}).",
                        f"Start the run over: delete {runs.STATE}.json and {runs.STATE}.safetensors in {run_dir}, "
                        "or start a new run.")
    best_i = min(range(len(history)), key=lambda i: history[i]["val_loss"])
    since_best = len(history) - 1 - best_i
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stepping the schedule without optimizer steps
        for _ in range(epoch):
            scheduler.step()
    message = (f"resume state damaged ({damage.what}); continuing from the last checkpoint (epoch {epoch}) "
               "with a fresh optimizer state")
    log.warning(message)
    return {"epoch": epoch, "history": history, "best_val_loss": history[best_i]["val_loss"],
            "best_epoch": int(history[best_i]["epoch"]), "epochs_since_best": since_best,
            "stopped_early": since_best >= config.patience, "recovered": message}


def _write_metrics(run_dir: Path, rows: list[dict[str, float]]) -> None:
    path = run_dir / runs.METRICS_FILE
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=METRIC_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)


def _append_metrics(run_dir: Path, row: dict[str, float]) -> None:
    path = run_dir / runs.METRICS_FILE
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=METRIC_COLUMNS)
        if new:
            w.writeheader()
        w.writerow(row)


# ---------------------------------------------------------------- data


def prepare_data(config: TrainConfig, run_dir: Path, progress: Optional[ProgressFn] = None,
                 cancel: Optional[CancelToken] = None) -> tuple[PatchSet, Split]:
    """Decode the labelled patches and split them (reusing the run's saved split on resume)."""
    layout = discover(config.data_dir)
    pairs = [p for s, ps in layout.subsets.items() if s != "test" for p in ps if p.mask is not None]
    names_set = BAND_SETS[config.bands]
    first_shape = (128, 128)
    cache_path = None
    if config.cache == "memmap" or (
        config.cache == "auto" and estimate_bytes(len(pairs), len(names_set), first_shape) > config.memory_limit_gb * 2**30
    ):
        cache_path = run_dir / "data_cache" / "x.npy"
    patches = load_patches(config.data_dir, pairs, config.bands, config.on_bad, cache_path, progress, cancel)
    split_path = run_dir / runs.SPLIT_FILE
    if split_path.exists():
        saved = json.loads(split_path.read_text())
        have = set(patches.names)
        missing = [n for n in saved["train"] + saved["val"] if n not in have]
        if missing:
            raise InputError(f"The run's saved split names patches that are no longer usable: "
                             f"{', '.join(missing[:5])}.", "Restore those files or start a new run.")
        split = Split(saved["train"], saved["val"], saved.get("how", "saved split"))
    else:
        split = split_names(layout, patches.names, config.val_share, config.seed, config.split_file)
        if config.max_train_patches is not None:
            split.train = split.train[: config.max_train_patches]
        runs._write_json_atomic(split_path, dict(split.to_dict(), skipped=[str(b) for b in patches.skipped]))
    return patches, split


# ---------------------------------------------------------------- training


def input_scaling(config: TrainConfig, patches: PatchSet, train_idx: np.ndarray) -> BandScaling:
    """The run's input scaling: none ("l4s"), or min-max statistics of the training split only
    (a fine-tuning run keeps its parent's: its weights were learnt on those numbers)."""
    if config.scaling != "minmax":
        return BandScaling(config.scaling, tuple(patches.bands))
    if config.init_from:
        parent = _parent_card(config)
        if parent.scaling == "minmax":
            return parent.input_scaling()
    order = np.sort(np.asarray(train_idx))
    return minmax_scaling(_Rows(patches.x, order), patches.bands)


class _Rows:
    """Rows ``index`` of an (N, ...) array, read in slices (a memory-mapped cache stays on disk)."""

    def __init__(self, x: np.ndarray, index: np.ndarray):
        self.x, self.index = x, index
        self.shape = (len(index),) + tuple(x.shape[1:])

    def __getitem__(self, sl: slice) -> np.ndarray:
        return np.asarray(self.x[self.index[sl]])


def _card(config: TrainConfig, run_dir: Path, which: str, metrics: dict[str, float], split: Split,
          scaling: BandScaling, lineage: Optional[dict[str, Any]] = None) -> ModelCard:
    if lineage:
        lineage = dict(lineage, after={k: metrics.get(k) for k in ("f1", "precision", "recall", "iou", "epoch")})
    return ModelCard(
        lineage=dict(lineage or {}),
        name=f"{run_dir.name}-{which}",
        architecture=config.arch,
        band_set=config.bands,
        bands=list(BAND_SETS[config.bands]),
        scaling=scaling.name,
        normalisation=scaling.describe(),
        scaling_stats=scaling.stats(),
        arch_kwargs=dict(config.arch_kwargs),
        trained_on=(f"{config.data_dir}: {len(split.train)} training / {len(split.val)} validation "
                    f"patches ({split.how})"),
        metrics=dict(metrics),
        training_config=config.to_dict(),
        run_id=run_dir.name,
        notes=f"{which} checkpoint of run {run_dir.name}; loss (1-{config.alpha})*WCE(beta={config.beta})"
              f" + {config.alpha}*Dice" + (_lineage_note(lineage) if lineage else ""),
    )


def _lineage_note(lineage: dict[str, Any]) -> str:
    before, after = lineage.get("before") or {}, lineage.get("after") or {}
    note = f"; fine-tuned from {(lineage.get('parent') or {}).get('name')}"
    if before.get("f1") is not None and after.get("f1") is not None:
        note += (f": F1 on the held-out validation patches {before['f1']:.3f} before, {after['f1']:.3f} after "
                 f"({before.get('patches')} patches)")
    return note


def _card_metrics(row: dict[str, float]) -> dict[str, float]:
    return {"epoch": int(row["epoch"]), "val_loss": row["val_loss"], "wce": row["val_wce"], "dice": row["val_dice"],
            "f1": row["val_f1"], "precision": row["val_precision"], "recall": row["val_recall"],
            "iou": row["val_iou"], "threshold": 0.5, "split": "validation"}


def train(config: TrainConfig, run_dir: str | Path, progress: Optional[ProgressFn] = None,
          cancel: Optional[CancelToken] = None, *, lock: bool = True, clear_stop: bool = True) -> RunSummary:
    """Train in this process; write the run folder; return how it ended.

    A stop (``cancel`` or a ``STOP`` file in the run folder) ends the run between batches
    with state "stopped"; bad settings or data raise :class:`UserError` (state "failed",
    the message in ``status.json``).
    """
    if config.data_dir:
        config.data_dir = str(Path(config.data_dir).expanduser().resolve())
    config.validate()
    check_architecture(config)
    run_dir = Path(run_dir)
    runs.prepare_run_dir(run_dir, config)
    if clear_stop:
        (run_dir / runs.STOP_FILE).unlink(missing_ok=True)
    device = resolve_device(config.device)
    writer = runs.StatusWriter(run_dir, runs.RunStatus(
        state="queued", pid=os.getpid(), total_epochs=config.epochs, device=str(device),
        started_utc=runs.now_iso(), message="waiting for the device" if lock else ""))
    handler = logging.FileHandler(run_dir / runs.LOG_FILE)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    if log.level == logging.NOTSET or log.level > logging.INFO:
        log.setLevel(logging.INFO)
    device_lock = runs.DeviceLock(str(device), run_dir)

    def should_stop() -> bool:
        return (cancel is not None and cancel.cancelled) or runs.stop_requested(run_dir)

    writer.update()
    writer.start_heartbeat()
    try:
        if lock and not device_lock.acquire(
            on_wait=lambda owner: (writer.update(message=f"queued: {owner.get('run_dir', 'another run')} "
                                                         f"is training on {device}"),
                                   log.info("queued behind %s", owner.get("run_dir"))),
            should_stop=should_stop,
        ):
            raise Cancelled("Stopped while waiting in the queue.")
        writer.update(state="running", message="loading data")
        log.info("run %s on %s: %s", run_dir.name, device, json.dumps(config.to_dict()))
        return _train_locked(config, run_dir, device, writer, progress, cancel, should_stop)
    except Cancelled as exc:
        rows = runs.read_metrics(run_dir)
        writer.update(state="stopped", message=str(exc), ended_utc=runs.now_iso(), eta_s=None)
        log.info("stopped: %s", exc)
        return _summary_from_folder(config, run_dir, "stopped", rows, message=str(exc))
    except UserError as exc:
        writer.update(state="failed", error=str(exc), ended_utc=runs.now_iso(), eta_s=None)
        log.error("failed: %s", exc)
        raise
    except BaseException as exc:
        writer.update(state="failed", ended_utc=runs.now_iso(), eta_s=None,
                      error=f"Unexpected error: {type(exc).__name__}: {exc}. Details are in {run_dir / runs.LOG_FILE}; "
                            "please report it with that log.")
        log.error("unexpected error:\n%s", traceback.format_exc())
        raise
    finally:
        writer.close()
        device_lock.release()
        log.removeHandler(handler)
        handler.close()


def _parent_card(config: TrainConfig) -> ModelCard:
    from ..checkpoint import read_card, resolve_model_path

    return read_card(resolve_model_path(config.init_from))


def _init_weights(model: torch.nn.Module, config: TrainConfig, bands: Sequence[str]) -> None:
    """Start from another model's weights (fine-tuning): same architecture, options, bands and
    input scaling."""
    from ..checkpoint import load_checkpoint, resolve_model_path

    parent, card = load_checkpoint(resolve_model_path(config.init_from))
    mismatch = [what for what, ok in (
        ("architecture", card.architecture == config.arch),
        ("band set", list(card.bands) == list(bands)),
        ("architecture options", {k: v for k, v in card.arch_kwargs.items() if k != "bands"}
         == {k: v for k, v in config.arch_kwargs.items() if k != "bands"}),
        ("input scaling", card.scaling == config.scaling)) if not ok]
    if mismatch:
        raise UserError(f"The model {config.init_from} cannot start this run: its {', '.join(mismatch)} differ "
                        f"({card.architecture}, {card.band_set}, {card.arch_kwargs}, scaling {card.scaling}).",
                        "Fine-tune with the same architecture, band set, options and scaling as the parent model.")
    model.load_state_dict(parent.state_dict())


def parent_lineage(config: TrainConfig, run_dir: Path, patches: PatchSet, split: Split, val_idx: np.ndarray,
                   device: torch.device, should_stop) -> dict[str, Any]:
    """A fine-tuning run's lineage: the parent model, the data (the dataset's own description of
    it, e.g. the reviewed chips and the generated mix) and the parent's scores on this run's
    validation patches before any training (worked out once, kept in the run folder)."""
    from ..checkpoint import load_checkpoint, resolve_model_path
    from ..patches.export import read_manifest

    path = run_dir / runs.PARENT_SCORES_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    card_path = resolve_model_path(config.init_from)
    parent, card = load_checkpoint(card_path, device)
    loss_fn = WceDiceLoss(config.alpha, config.beta)
    _, counts = score_patches(parent, patches, val_idx, loss_fn, device, config.batch_size, float(card.threshold),
                              should_stop=should_stop, scaling=card.input_scaling())
    try:
        manifest = read_manifest(config.data_dir)
    except UserError:
        manifest = {}
    data = {"folder": config.data_dir, "train_patches": len(split.train), "val_patches": len(split.val),
            "split": split.how, **({"finetune": manifest["finetune"]} if isinstance(manifest.get("finetune"), dict)
                                   else {})}
    lineage = {"parent": {"name": card.name, "path": str(card_path), "weights_sha256": card.weights_sha256,
                          "architecture": card.architecture, "band_set": card.band_set},
               "data": data,
               "before": {**counts.scores(), "patches": len(val_idx), "threshold": float(card.threshold),
                          "on": "this run's validation patches, before fine-tuning"}}
    runs._write_json_atomic(path, lineage)
    return lineage


def _summary_from_folder(config: TrainConfig, run_dir: Path, state: str, rows: list[dict[str, float]],
                         stopped_early: bool = False, message: str = "") -> RunSummary:
    best = min(rows, key=lambda r: r["val_loss"]) if rows else None
    best_card, _ = card_and_weights_paths(run_dir / runs.BEST)
    last_card, _ = card_and_weights_paths(run_dir / runs.LAST)
    return RunSummary(
        run_dir=run_dir, state=state, epochs_done=len(rows), total_epochs=config.epochs,
        best_epoch=int(best["epoch"]) if best else None, best_val_loss=best["val_loss"] if best else None,
        best_metrics=_card_metrics(best) if best else {},
        best_checkpoint=best_card if best_card.exists() else None,
        last_checkpoint=last_card if last_card.exists() else None,
        stopped_early=stopped_early, message=message,
    )


def _train_locked(config: TrainConfig, run_dir: Path, device: torch.device, writer: runs.StatusWriter,
                  progress: Optional[ProgressFn], cancel: Optional[CancelToken], should_stop) -> RunSummary:
    def load_progress(done: int, total: int, stage: str) -> None:
        if should_stop():
            raise Cancelled("Stopped while loading the data.")
        if progress:
            progress(done, total, stage)

    patches, split = prepare_data(config, run_dir, load_progress, cancel)
    if patches.skipped:
        log.warning("%d bad files skipped (named above; also in %s)", len(patches.skipped), runs.SPLIT_FILE)
    train_idx, val_idx = patches.subset(split.train), patches.subset(split.val)
    log.info("data: %d training / %d validation patches (%s), bands %s", len(train_idx), len(val_idx),
             split.how, ",".join(patches.bands))
    scaling = input_scaling(config, patches, train_idx)
    if not scaling.identity:
        log.info("input scaling %s from the training split: min %s, max %s", scaling.name,
                 [round(v, 4) for v in scaling.minimum], [round(v, 4) for v in scaling.maximum])

    torch.manual_seed(config.seed)
    model = build_model(config.arch, len(patches.bands), patches.bands, **config.arch_kwargs).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
    loss_fn = WceDiceLoss(config.alpha, config.beta)
    try:
        meta = load_state(run_dir, model, optimizer, scheduler)
    except UserError as exc:  # damaged: continue from the last checkpoint instead of failing
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
        meta = recover_from_checkpoint(run_dir, config, model, scheduler, exc)
        writer.update(message=meta["recovered"])
    if not meta and config.init_from:
        _init_weights(model, config, patches.bands)
        log.info("weights initialised from %s (fine-tuning)", config.init_from)
    lineage = None
    if config.init_from:
        writer.update(message="scoring the parent model on the validation patches")
        lineage = parent_lineage(config, run_dir, patches, split, val_idx, device, should_stop)
        log.info("parent %s on the validation patches before fine-tuning: F1 %.3f, precision %.3f, recall %.3f",
                 config.init_from, lineage["before"]["f1"], lineage["before"]["precision"],
                 lineage["before"]["recall"])
    history: list[dict[str, float]] = list(meta["history"]) if meta else []
    start_epoch = int(meta["epoch"]) if meta else 0
    best_val = float(meta["best_val_loss"]) if meta and meta.get("best_val_loss") is not None else float("inf")
    best_epoch = meta.get("best_epoch") if meta else None
    since_best = int(meta["epochs_since_best"]) if meta else 0
    stopped_early = bool(meta.get("stopped_early")) if meta else False
    _write_metrics(run_dir, history)
    if meta:
        log.info("resuming after epoch %d of %d", start_epoch, config.epochs)

    pin = device.type == "cuda"
    n_batches = -(-len(train_idx) // config.batch_size)
    total_steps = n_batches * config.epochs
    epoch_times: list[float] = []
    writer.update(epoch=start_epoch, total_batches=n_batches, best_epoch=best_epoch,
                  best_val_loss=None if best_val == float("inf") else best_val, message="training")

    epoch = start_epoch
    while epoch < config.epochs and not stopped_early:
        t_epoch = time.perf_counter()
        torch.manual_seed(config.seed * 100_003 + epoch)
        model.train()
        loader = BatchLoader(patches, train_idx, config.batch_size, shuffle=True, augment=config.augment,
                             seed=config.seed, epoch=epoch, workers=config.workers, pin_memory=pin,
                             radiometric=config.radiometric_jitter, scaling=scaling)
        sums = np.zeros(3)
        seen = 0
        wait_s = 0.0
        it = iter(loader)
        for b in range(len(loader)):
            t_wait = time.perf_counter()
            batch = next(it)
            wait_s += time.perf_counter() - t_wait
            if should_stop():
                raise Cancelled(f"Stopped on request during epoch {epoch + 1}; the last saved epoch is {epoch}.")
            x = batch.x.to(device, non_blocking=pin)
            y = batch.y.to(device, non_blocking=pin)
            optimizer.zero_grad(set_to_none=True)
            parts = loss_fn.parts(model(x), y)
            if not torch.isfinite(parts.total):
                raise UserError(f"The training loss became {float(parts.total)} in epoch {epoch + 1}, batch {b + 1}.",
                                f"Lower the learning rate (now {config.lr}) or check the data for extreme values.")
            parts.total.backward()
            optimizer.step()
            n = len(batch.index)
            sums += n * np.array([float(parts.total.detach()), float(parts.wce.detach()), float(parts.dice.detach())])
            seen += n
            done = epoch * n_batches + b + 1
            elapsed = time.perf_counter() - t_epoch
            per_batch = (np.mean(epoch_times) / n_batches) if epoch_times else elapsed / (b + 1)
            writer.status.batch = b + 1
            writer.status.eta_s = round(per_batch * (total_steps - done), 1)
            if progress:
                progress(done, total_steps, f"epoch {epoch + 1}/{config.epochs}")
        scheduler_lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        model.eval()
        val_sums, counts = score_patches(model, patches, val_idx, loss_fn, device, config.batch_size,
                                         should_stop=should_stop, scaling=scaling)
        val_loss, val_wce, val_dice = val_sums.parts(config.alpha)
        epoch_s = time.perf_counter() - t_epoch
        epoch_times.append(epoch_s)
        row = {"epoch": epoch + 1, "lr": scheduler_lr,
               "train_loss": sums[0] / seen, "train_wce": sums[1] / seen, "train_dice": sums[2] / seen,
               "val_loss": val_loss, "val_wce": val_wce, "val_dice": val_dice,
               **{f"val_{k}": v for k, v in counts.scores().items()},
               "epoch_s": round(epoch_s, 3), "data_wait_s": round(wait_s, 4),
               "samples_per_s": round(seen / max(epoch_s, 1e-9), 2)}
        history.append(row)
        improved = val_loss < best_val
        if improved:
            best_val, best_epoch, since_best = val_loss, epoch + 1, 0
            save_checkpoint(model, _card(config, run_dir, runs.BEST, _card_metrics(row), split, scaling, lineage),
                            run_dir / runs.BEST)
        else:
            since_best += 1
        save_checkpoint(model, _card(config, run_dir, runs.LAST, _card_metrics(row), split, scaling, lineage),
                        run_dir / runs.LAST)
        stopped_early = since_best >= config.patience
        epoch += 1
        save_state(run_dir, model, optimizer, scheduler, {
            "epoch": epoch, "best_val_loss": best_val, "best_epoch": best_epoch, "epochs_since_best": since_best,
            "stopped_early": stopped_early, "history": history, "run_id": run_dir.name,
        })
        _append_metrics(run_dir, row)
        remaining = 0 if stopped_early else config.epochs - epoch
        writer.update(epoch=epoch, batch=0, eta_s=round(float(np.mean(epoch_times)) * remaining, 1),
                      best_epoch=best_epoch, best_val_loss=best_val)
        log.info("epoch %d/%d: train loss %.4f, val loss %.4f (WCE %.4f, Dice %.4f), F1 %.3f, P %.3f, R %.3f, "
                 "IoU %.3f, %.1f s (data wait %.2f s)%s", epoch, config.epochs, row["train_loss"], val_loss,
                 val_wce, val_dice, row["val_f1"], row["val_precision"], row["val_recall"], row["val_iou"],
                 epoch_s, wait_s, " *best*" if improved else "")
    message = (f"stopped early after epoch {epoch}: no better validation loss for {config.patience} epochs"
               if stopped_early else f"finished {epoch} of {config.epochs} epochs")
    writer.update(state="finished", message=message, ended_utc=runs.now_iso(), eta_s=0.0)
    log.info("%s; best epoch %s (val loss %.4f)", message, best_epoch, best_val)
    return _summary_from_folder(config, run_dir, "finished", history, stopped_early, message)
