"""Fine-tuning on reviewed chips, and every model's scores on the chips' held-out share.

:func:`start_finetune` prepares a data folder for the run and starts it in the run queue
(``runs.launch_detached``): the reviewed chips (their own train/validation split, made by
group when the chips were cut) plus a mix of generated patches
(:func:`landslide_core.synthetic.write_l4s_dataset`, with "confounders" or "natural"
negatives) on the training side only, so the model does not forget what it knew; the
validation side is the chips' held-out share alone. The run starts from the parent's weights
(``TrainConfig.init_from``: same architecture, options, bands and scaling) and its cards
record the lineage: the parent, the chips and the mix, and the parent's and the fine-tuned
model's scores on the held-out chips (see ``trainer.parent_lineage``).

Generated patches are made once per (number, negatives, seed) and reused by later runs.

:func:`held_out_scores` scores models on a chips folder's held-out share (the Models page
shows them side by side); scores are kept in the folder (``.scores.json``, keyed by the
model's weights and the chips' manifest), so a repeat is instant.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path
from typing import Any, Optional, Sequence

from ..errors import InputError
from ..fileio import atomic_write_text, exclusive_lock
from ..progress import CancelToken, ProgressFn, check_cancel

NEGATIVES = ("confounders", "natural")
DEFAULT_EPOCHS = 10
DEFAULT_LR = 1e-4
DEFAULT_GENERATED_PER_CHIP = 1.0
SCORES_FILE = ".scores.json"
#: Generated patches come from synthetic scenes of this size (px): small scenes, quick to make.
GENERATED_SCENE_PX = 256


def finetune_root() -> Path:
    """Where fine-tuning data folders go: ``finetune-data/`` beside the runs folder's runs."""
    from ..training import runs

    return runs.runs_root().expanduser() / "finetune-data"


def chips_summary(chips_dir: str | Path) -> dict[str, Any]:
    """What a chips folder holds: patches, train and held-out (validation) counts, analyses;
    InputError when it is not a chips dataset or nothing is held out."""
    from ..patches.export import read_manifest
    from ..patches.split import SPLIT_FILE

    folder = Path(chips_dir).expanduser()
    manifest = read_manifest(folder) if folder.is_dir() else {}
    if not manifest.get("patches"):
        raise InputError(f"{folder} holds no chips (no manifest.json with patches).",
                         "Make chips on the Compare page (Make chips) or with python -m landslide_core chips.")
    try:
        split = json.loads((folder / SPLIT_FILE).read_text())
        train, val = list(split["train"]), list(split["val"])
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(f"{folder} has no usable {SPLIT_FILE}.", "Make the chips again.") from None
    if not val:
        raise InputError(f"None of the {len(train)} chips in {folder} is held out for validation: they all lie in "
                         "one place (one patch group).",
                         "Review objects in more places of the area (or more analyses), then make chips again.")
    if not train:
        raise InputError(f"All {len(val)} chips in {folder} are held out: none is left to train on.",
                         "Review objects in more places, then make chips again.")
    recs = manifest["patches"]
    return {"folder": str(folder), "patches": len(recs), "train": len(train), "val": len(val),
            "landslide_patches": sum(1 for r in recs if r.get("landslide_px")),
            "analyses": sorted((manifest.get("description") or {}).get("analyses") or {}),
            "written_utc": manifest.get("written_utc")}


def finetune_config(parent: str | Path, chips_dir: str | Path, epochs: int = DEFAULT_EPOCHS, lr: float = DEFAULT_LR,
                    batch_size: int = 8, patience: int = 5, device: str = "auto", seed: int = 0):
    """A training configuration that continues ``parent`` (a card path or a model's name):
    its architecture, options, bands, scaling and loss weights; a small learning rate."""
    from ..checkpoint import read_card, resolve_model_path
    from ..training import TrainConfig
    from ..zoo import TRAINABLE

    card_path = resolve_model_path(parent)
    card = read_card(card_path)
    if card.architecture not in TRAINABLE:
        raise InputError(f"The model '{card.name}' ({card.architecture}) has nothing to learn: it is a fixed rule.",
                         "Fine-tune a trained model (the default or a promoted one).")
    cfg = card.training_config or {}
    return TrainConfig(data_dir=str(chips_dir), arch=card.architecture, bands=card.band_set,
                       arch_kwargs={k: v for k, v in card.arch_kwargs.items() if k != "bands"}, epochs=int(epochs),
                       batch_size=int(batch_size), lr=float(lr), alpha=float(cfg.get("alpha", 0.5)),
                       beta=float(cfg.get("beta", 5.0)), patience=int(patience), seed=int(seed), device=device,
                       scaling=card.scaling, init_from=str(card_path), step_size=max(int(epochs), 1),
                       radiometric_jitter=float(cfg.get("radiometric_jitter", 0.0) or 0.0)).validate()


def generated_patches(n_patches: int, negatives: str = "confounders", seed: int = 0,
                      root: Optional[Path] = None, progress: Optional[ProgressFn] = None,
                      cancel: Optional[CancelToken] = None) -> Path:
    """A folder of ``n_patches`` generated Landslide4Sense patches, made once and reused."""
    from ..synthetic import write_l4s_dataset

    if negatives not in NEGATIVES:
        raise InputError(f"Unknown kind of generated negatives '{negatives}'.", f"Use one of: {', '.join(NEGATIVES)}.")
    root = Path(root) if root else finetune_root()
    folder = root / f"generated-{negatives}-{int(n_patches)}-seed{int(seed)}"
    done = folder / "generated.json"
    if done.is_file():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(root / f".{folder.name}.lock", cancel=cancel):
        if done.is_file():  # made by another run while this one waited
            return folder
        partial = root / f".{folder.name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        write_l4s_dataset(partial, int(n_patches), seed=int(seed), scene_px=GENERATED_SCENE_PX, negatives=negatives,
                          progress=progress, cancel=cancel)
        atomic_write_text(partial / "generated.json", json.dumps(
            {"patches": int(n_patches), "negatives": negatives, "seed": int(seed), "scene_px": GENERATED_SCENE_PX}))
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    return folder


def prepare_finetune_data(chips_dir: str | Path, out_dir: str | Path, generated_per_chip: float = DEFAULT_GENERATED_PER_CHIP,
                          negatives: str = "confounders", seed: int = 0, generated_root: Optional[Path] = None,
                          progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> Path:
    """The run's data folder: the chips (train and held-out) and generated patches (train only);
    ``manifest.json`` says what is in it (its ``finetune`` block goes into the model cards)."""
    from ..patches.merge import merge_datasets
    from ..patches.split import SPLIT_FILE

    if isinstance(generated_per_chip, bool) or not isinstance(generated_per_chip, (int, float)) \
            or not 0 <= generated_per_chip <= 20:
        raise InputError(f"The generated mix {generated_per_chip!r} is not a number of patches per chip from 0 to 20.",
                         "Use e.g. 1 (as many generated patches as training chips) or 0 (none).")
    chips = chips_summary(chips_dir)
    n_generated = int(round(generated_per_chip * chips["train"]))
    sources, names = [Path(chips["folder"])], ["chips"]
    if n_generated:
        check_cancel(cancel)
        sources.append(generated_patches(n_generated, negatives, seed, generated_root, progress, cancel))
        names.append("generated")
    check_cancel(cancel)
    out = Path(out_dir)
    manifest = merge_datasets(sources, out, names=names)
    held_out = {r["name"] for r in manifest["patches"] if r["source"] == "chips" and r["split"] == "val"}
    for r in manifest["patches"]:
        r["split"] = "val" if r["name"] in held_out else "train"
    split = {"train": [r["name"] for r in manifest["patches"] if r["split"] == "train"],
             "val": [r["name"] for r in manifest["patches"] if r["split"] == "val"],
             "how": "validation: the chips' own held-out share; training: the other chips and every generated patch"}
    atomic_write_text(out / SPLIT_FILE, json.dumps(split, indent=1))
    manifest["split"].update({"train": len(split["train"]), "val": len(split["val"]), "how": split["how"]})
    manifest["finetune"] = {
        "chips": {k: chips[k] for k in ("folder", "patches", "train", "val", "landslide_patches", "analyses",
                                        "written_utc")},
        "generated": {"patches": n_generated, "per_chip": generated_per_chip, "negatives": negatives,
                      "seed": int(seed), "folder": str(sources[1]) if n_generated else None},
        "held_out": len(split["val"]),
    }
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1, default=str))
    return out


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text)).strip("-.")[:40] or "model"


def start_finetune(parent: str | Path, chips_dir: str | Path, epochs: int = DEFAULT_EPOCHS, lr: float = DEFAULT_LR,
                   generated_per_chip: float = DEFAULT_GENERATED_PER_CHIP, negatives: str = "confounders",
                   batch_size: int = 8, patience: int = 5, device: str = "auto", seed: int = 0,
                   foreground: bool = False, progress: Optional[ProgressFn] = None,
                   cancel: Optional[CancelToken] = None):
    """Prepare the data and start a fine-tuning run (detached, in the run queue; or in this
    process with ``foreground``). Returns ``runs.Launched`` (detached) or ``RunSummary``."""
    from ..training import runs

    config = finetune_config(parent, chips_dir, epochs, lr, batch_size, patience, device, seed)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    name = f"{stamp}-finetune-{_safe_name(Path(config.init_from).stem)}"
    root = runs.runs_root().expanduser()
    run_dir, k = root / name, 1
    data_root = finetune_root()
    while run_dir.exists() or (data_root / run_dir.name).exists():
        k += 1
        run_dir = root / f"{name}-{k}"
    data = prepare_finetune_data(chips_dir, data_root / run_dir.name, generated_per_chip, negatives, seed,
                                 progress=progress, cancel=cancel)
    config.data_dir = str(data.resolve())
    if foreground:
        from ..training.trainer import train

        return train(config, run_dir, cancel=cancel)
    return runs.launch_detached(config, run_dir)


# ---------------------------------------------------------------- comparing models

def _read_scores(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / SCORES_FILE).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def held_out_scores(chips_dir: str | Path, model_paths: Sequence[str | Path], device: str = "cpu",
                    progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
                    held_out_only: bool = True) -> list[dict[str, Any]]:
    """Each model's F1, precision, recall and IoU on the chips' held-out (validation) patches
    (every patch with ``held_out_only=False``: a test area's chips), at its own threshold; one
    row per model (a model that cannot be scored says why)."""
    import numpy as np

    from ..checkpoint import load_checkpoint, read_card
    from ..errors import UserError
    from ..training.dataset import discover, load_patches
    from ..training.evaluate import score_patches
    from ..training.losses import WceDiceLoss

    summary = chips_summary(chips_dir)
    folder = Path(summary["folder"])
    val = set(json.loads((folder / "split.json").read_text())["val"])
    layout = discover(folder)
    pairs = [p for ps in layout.subsets.values() for p in ps
             if p.mask is not None and (p.name in val or not held_out_only)]
    cache = _read_scores(folder)
    rows, loaded = [], {}
    for i, path in enumerate(model_paths):
        check_cancel(cancel)
        if progress:
            progress(i, len(model_paths), "scoring")
        try:
            card = read_card(path)
            key = f"{card.weights_sha256}:{summary['written_utc']}:{card.threshold}" + ("" if held_out_only else ":all")
            if key in cache:
                rows.append({**cache[key], "model": card.name, "path": str(path)})
                continue
            bands = tuple(card.bands)
            if bands not in loaded:
                loaded[bands] = load_patches(folder, pairs, list(bands), on_bad="skip", cancel=cancel)
            patches = loaded[bands]
            model, card = load_checkpoint(path, device)
            _, counts = score_patches(model, patches, np.arange(len(patches)), WceDiceLoss(), device,
                                      threshold=float(card.threshold), scaling=card.input_scaling(),
                                      should_stop=lambda: cancel is not None and cancel.cancelled)
            row = {**counts.scores(), "patches": len(patches), "tp": counts.tp, "fp": counts.fp, "fn": counts.fn,
                   "threshold": float(card.threshold),
                   "parent": ((card.lineage or {}).get("parent") or {}).get("name") or "",
                   "error": ""}
            cache[key] = row
            rows.append({**row, "model": card.name, "path": str(path)})
        except UserError as exc:
            rows.append({"model": Path(path).stem, "path": str(path), "error": str(exc)})
    if progress:
        progress(len(model_paths), len(model_paths), "scoring")
    try:
        with exclusive_lock(folder / ".chips.lock", timeout_s=5):
            atomic_write_text(folder / SCORES_FILE, json.dumps({**_read_scores(folder), **cache}, indent=1))
    except (OSError, TimeoutError):
        pass  # scores are a cache: not keeping them only costs time next time
    return rows


__all__ = ["start_finetune", "prepare_finetune_data", "finetune_config", "generated_patches", "chips_summary",
           "held_out_scores", "finetune_root", "NEGATIVES"]
