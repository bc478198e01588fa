"""Checkpoints: weights as safetensors plus a JSON model card. Loading never unpickles.

``NAME.safetensors`` holds the weights; ``NAME.json`` holds the :class:`ModelCard`, including
the SHA-256 of the weights file, checked on every load so a swapped or tampered file is
refused.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from torch import nn

from .bands import BAND_SETS, SCALINGS, missing_bands
from .errors import ModelError
from .zoo import ARCHITECTURES, build_model

CARD_SUFFIX = ".json"
WEIGHTS_SUFFIX = ".safetensors"
#: Where the shipped models live, and the default model's name in it.
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL_NAME = "default"


@dataclass
class ModelCard:
    """What a model is, what it needs, what it was trained on, and how well it scored."""

    name: str
    architecture: str
    band_set: str
    bands: list[str]
    scaling: str = "l4s"
    normalisation: str = "raw / L4S vector (Landslide4Sense units); non-finite -> 0"
    threshold: float = 0.5
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    trained_on: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    training_config: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    weights_sha256: str = ""
    weights_dtype: str = "float32"
    notes: str = ""
    run_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "card") -> "ModelCard":
        names = {f.name for f in dataclasses.fields(cls)}
        required = ("name", "architecture", "band_set", "bands")
        lacking = [k for k in required if k not in data]
        if lacking:
            raise ModelError(f"The model card {source} lacks {', '.join(lacking)}.",
                             "Re-export the model with `python -m landslide_core` tools.")
        card = cls(**{k: v for k, v in data.items() if k in names})
        if card.architecture not in ARCHITECTURES:
            raise ModelError(f"The model card {source} names an unknown architecture '{card.architecture}'.",
                             f"Known: {', '.join(ARCHITECTURES)}.")
        if card.scaling not in SCALINGS:
            raise ModelError(f"The model card {source} uses an unknown scaling '{card.scaling}'.")
        if not 0.0 <= float(card.threshold) <= 1.0:
            raise ModelError(f"The model card {source} has a threshold {card.threshold} outside 0-1.")
        return card


def card_and_weights_paths(path: str | Path) -> tuple[Path, Path]:
    """Both files of a checkpoint from either one's path or the common stem."""
    p = Path(path)
    if p.suffix in (CARD_SUFFIX, WEIGHTS_SUFFIX):
        p = p.with_suffix("")
    return p.with_name(p.name + CARD_SUFFIX), p.with_name(p.name + WEIGHTS_SUFFIX)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_checkpoint(model: nn.Module, card: ModelCard, path: str | Path, half: bool = False) -> Path:
    """Write ``PATH.safetensors`` and ``PATH.json``; returns the card's path."""
    from safetensors.torch import save_file

    card_path, weights_path = card_and_weights_paths(path)
    card_path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    tmp = weights_path.with_name(weights_path.name + ".partial")
    save_file(state, str(tmp), metadata={"model_card_name": card.name})
    tmp.replace(weights_path)
    card.weights_sha256 = sha256_file(weights_path)
    card.weights_dtype = "float16" if half else "float32"
    return write_card(card, card_path)


def write_card(card: ModelCard, card_path: str | Path) -> Path:
    """Write a model card as JSON, atomically (temporary file, then rename)."""
    card_path = Path(card_path)
    tmp_card = card_path.with_name(card_path.name + ".partial")
    tmp_card.write_text(json.dumps(card.to_dict(), indent=2))
    tmp_card.replace(card_path)
    return card_path


def read_card(path: str | Path) -> ModelCard:
    card_path, _ = card_and_weights_paths(path)
    if not card_path.exists():
        raise ModelError(f"No model card at {card_path}.",
                         "Give the path of a model's .json card or .safetensors file.")
    try:
        data = json.loads(card_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"The model card {card_path} is not readable JSON ({exc}).") from None
    if not isinstance(data, dict):
        raise ModelError(f"The model card {card_path} is not a JSON object.")
    return ModelCard.from_dict(data, str(card_path))


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, ModelCard]:
    """Load a model in eval mode and its card; refuse missing, garbage or tampered files."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    card = read_card(path)
    _, weights_path = card_and_weights_paths(path)
    if not weights_path.exists():
        raise ModelError(f"The weights file {weights_path} is missing.",
                         "Keep the .safetensors file beside its .json card.")
    if card.weights_sha256 and sha256_file(weights_path) != card.weights_sha256:
        raise ModelError(
            f"The weights {weights_path} do not match their card (SHA-256 differs): "
            "the file was changed or replaced.",
            "Restore the original file or re-export the model.",
        )
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{weights_path} is not a valid safetensors file ({exc}).") from None
    model = build_model(card.architecture, len(card.bands), card.bands, **card.arch_kwargs)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelError(f"The weights in {weights_path} do not fit a {card.architecture} "
                         f"with {len(card.bands)} bands ({first}).") from None
    return model.to(device).eval(), card


def check_bands(card: ModelCard, available: Sequence[str]) -> None:
    """Refuse an input that lacks bands the model was trained on, naming them."""
    lacking = missing_bands(card.bands, available)
    if lacking:
        raise ModelError(
            f"The model '{card.name}' needs the bands {', '.join(lacking)}, which the input lacks.",
            f"Provide them, or choose a model trained on a band set the input has "
            f"(sets: {', '.join(f'{k}={list(v)}' for k, v in BAND_SETS.items())}).",
        )


def default_model_path() -> Path:
    return MODELS_DIR / f"{DEFAULT_MODEL_NAME}{CARD_SUFFIX}"


def model_dirs() -> list[Path]:
    """Where models are looked up by name: $LANDSLIDE_MODELS_DIR (if set), then the project's models/."""
    import os

    env = os.environ.get("LANDSLIDE_MODELS_DIR")
    dirs = [Path(env).expanduser()] if env else []
    return dirs + [MODELS_DIR]


def resolve_model_path(model: str | Path) -> Path:
    """A model's card path from a path (card, weights or common stem) or a model's name.

    A bare name (e.g. ``index`` or ``default``) is looked up in :func:`model_dirs`.
    """
    p = Path(model)
    card_path, _ = card_and_weights_paths(p)
    if card_path.exists():
        return card_path
    name = str(model)
    if name and "/" not in name and "\\" not in name and not p.suffix:
        for d in model_dirs():
            candidate = d / f"{name}{CARD_SUFFIX}"
            if candidate.exists():
                return candidate
    known = sorted({c.stem for d in model_dirs() if d.is_dir() for c in d.glob(f"*{CARD_SUFFIX}")})
    raise ModelError(f"The model {model} does not exist.",
                     "Give the path of a model's .json card (its .safetensors beside it), or a model's name"
                     + (f" ({', '.join(known)})." if known else "."))


def list_models(models_dir: Optional[Path] = None) -> list[ModelCard]:
    """Cards of every model in ``models_dir`` (default: the project's models/), readable ones only."""
    out = []
    for card_path in sorted((models_dir or MODELS_DIR).glob(f"*{CARD_SUFFIX}")):
        try:
            out.append(read_card(card_path))
        except ModelError:
            continue
    return out
