"""Promotion: a run's best checkpoint becomes a model in ``models/`` with its card."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Optional

from .. import checkpoint
from ..checkpoint import card_and_weights_paths, load_checkpoint, write_card
from ..errors import InputError
from ..fileio import temp_path_for
from . import runs

#: A model name: used whole (``fullmatch``: a trailing newline is not a name).
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")
#: The dashboard's models folder setting, honoured here too.
MODELS_ENV = "LANDSLIDE_MODELS_DIR"


def default_models_dir() -> Path:
    """env LANDSLIDE_MODELS_DIR, else the project's models/ (checkpoint.MODELS_DIR)."""
    env = os.environ.get(MODELS_ENV)
    return Path(env).expanduser() if env else checkpoint.MODELS_DIR


def resolve_model(model: str | Path) -> Path:
    """A checkpoint path, or the name of a model in the models folder."""
    p = Path(model)
    if p.exists() or p.with_suffix(".json").exists() or p.suffix in (".json", ".safetensors"):
        return p
    named = default_models_dir() / f"{model}.json"
    return named if named.exists() else p


def promote(run_dir: str | Path, name: Optional[str] = None, models_dir: Optional[str | Path] = None,
            force: bool = False) -> Path:
    """Copy the best checkpoint of ``run_dir`` to ``models_dir/NAME`` (default: the run id).

    The card keeps its metrics, training data, settings and run id; its name becomes NAME.
    Refuses a run that is still going (unless ``force``), a run without a best checkpoint,
    a bad name and an existing model of that name (unless ``force``). Returns the card path.
    """
    run_dir = Path(run_dir)
    name = name or run_dir.name
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or name.endswith("."):
        raise InputError(f"The model name {name!r} is not usable.",
                         "Use letters, digits, '-', '_' or '.' (not at the end), at most 80 characters, "
                         "starting with a letter or digit.")
    status = runs.current_status(run_dir)
    if not (run_dir / runs.CONFIG_FILE).exists():
        raise InputError(f"{run_dir} is not a training run (no {runs.CONFIG_FILE}).",
                         "Give a run folder, such as one listed by `python -m landslide_core runs`.")
    if status is None:
        raise InputError(f"{run_dir} has no {runs.STATUS_FILE}: the run never started.",
                         "Start it (python -m landslide_core train --resume RUN_DIR), then promote it.")
    if status.state in ("queued", "running") and not force:
        raise InputError(f"The run {run_dir.name} is still {status.state}.",
                         "Wait until it ends or stop it, then promote it (or use --force).")
    best_card, best_weights = card_and_weights_paths(run_dir / runs.BEST)
    if not best_card.exists():
        raise InputError(f"The run {run_dir.name} has no best checkpoint ({best_card.name}).",
                         "A run saves one after its first epoch; train longer.")
    _model, card = load_checkpoint(best_card)  # checks the weights against the card
    target_dir = Path(models_dir) if models_dir else default_models_dir()
    target_card, target_weights = card_and_weights_paths(target_dir / name)
    if (target_card.exists() or target_weights.exists()) and not force:
        raise InputError(f"A model named '{name}' already exists in {target_dir}.",
                         "Choose another name (--name) or replace it (--force).")
    target_dir.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(target_weights)
    try:
        shutil.copyfile(best_weights, tmp)
        tmp.replace(target_weights)
    finally:
        tmp.unlink(missing_ok=True)
    card.name = name
    card.run_id = card.run_id or run_dir.name
    card.notes = (card.notes + f"; promoted from {run_dir}").lstrip("; ")
    return write_card(card, target_card)
