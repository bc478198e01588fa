"""Checkpoints: weights as safetensors plus a JSON model card. Loading never unpickles.

``NAME.safetensors`` holds the weights; ``NAME.json`` holds the :class:`ModelCard`, including
the SHA-256 of the weights file, checked on every load so a swapped or tampered file is
refused. Cards are checked field by field when read (a malformed card is a ModelError naming
the field, never another exception) and both files are read only as regular files within a
size bound (a named pipe or ``/dev/zero`` is refused, not read forever).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from torch import nn

from .bands import ALL_BANDS, BAND_SETS, BandScaling, missing_bands, scaling_problem
from .errors import InputError, ModelError
from .fileio import atomic_write_text, check_regular_file, read_bytes_bounded, temp_path_for
from .zoo import ARCHITECTURES, build_model, check_arch_options

CARD_SUFFIX = ".json"
WEIGHTS_SUFFIX = ".safetensors"


def shipped_models_dir() -> Path:
    """Where the shipped models live: ``landslide_core/_models`` in an installed wheel (the
    wheel packs ``models/`` there), else ``models/`` beside the package (a checkout, or an
    editable install of one)."""
    here = Path(__file__).resolve().parent
    installed = here / "_models"
    return installed if installed.is_dir() else here.parent / "models"


#: Where the shipped models live, and the default model's name in it.
MODELS_DIR = shipped_models_dir()
DEFAULT_MODEL_NAME = "default"
#: Size bounds of the two files of a checkpoint.
MAX_CARD_BYTES = 2_000_000
MAX_WEIGHTS_BYTES = 2_000_000_000
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_TEXT_FIELDS = ("name", "architecture", "band_set", "scaling", "normalisation", "trained_on", "created",
                "weights_sha256", "weights_dtype", "notes", "run_id")


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
    #: For scaling "minmax": {"bands", "min", "max", "units": "l4s"} of the training split.
    scaling_stats: dict[str, Any] = field(default_factory=dict)
    #: For a fine-tuned model: {"parent": the model it started from, "data": what it was tuned
    #: on (reviewed chips, generated mix), "before": the parent's scores on this run's held-out
    #: validation patches, "after": this checkpoint's on the same}.
    lineage: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def input_scaling(self) -> BandScaling:
        """The scaling this model's input gets after the L4S units (checked when the card was read)."""
        return BandScaling.from_stats(self.scaling, self.scaling_stats, self.bands)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "card") -> "ModelCard":
        """A card from its JSON object; ModelError (naming the field) for anything malformed."""
        if not isinstance(data, dict):
            raise ModelError(f"The model card {source} is not a JSON object.")
        names = {f.name for f in dataclasses.fields(cls)}
        required = ("name", "architecture", "band_set", "bands")
        lacking = [k for k in required if k not in data]
        if lacking:
            raise ModelError(f"The model card {source} lacks {', '.join(lacking)}.",
                             "Re-export the model with `python -m landslide_core` tools.")
        values = {k: v for k, v in data.items() if k in names}
        problem = _card_problem(values)
        if problem:
            raise ModelError(f"The model card {source} is unusable: {problem}.",
                             "Fix the card (or re-export the model), or remove it from the models folder.")
        card = cls(**values)
        card.threshold = float(card.threshold)
        return card


def _card_problem(values: dict[str, Any]) -> Optional[str]:
    """What is wrong with a card's values (None: usable); no network is built."""
    from .zoo import json_text

    for key in _TEXT_FIELDS:
        if key in values and not isinstance(values[key], str):
            return f"{key} is {json_text(values[key])}, not text"
    if not values["name"].strip() or len(values["name"]) > 200:
        return "name is empty or longer than 200 characters"
    if values["architecture"] not in ARCHITECTURES:
        return f"it names an unknown architecture '{values['architecture'][:40]}' (known: {', '.join(ARCHITECTURES)})"
    bands = values["bands"]
    if not isinstance(bands, list) or not bands or not all(isinstance(b, str) for b in bands):
        return f"bands is {json_text(bands)}, not a list of band names"
    unknown = [b for b in bands if b not in ALL_BANDS]
    if unknown or len(set(bands)) != len(bands):
        return f"bands holds unknown or repeated names ({json_text(bands)}); known: {', '.join(ALL_BANDS)}"
    if "scaling_stats" in values and not isinstance(values["scaling_stats"], dict):
        return f"scaling_stats is {json_text(values['scaling_stats'])}, not a JSON object"
    problem = scaling_problem(values.get("scaling", "l4s"), values.get("scaling_stats", {}), bands)
    if problem:
        return f"its input scaling is unusable: {problem}"
    threshold = values.get("threshold", 0.5)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold) \
            or not 0.0 <= threshold <= 1.0:
        return f"threshold is {json_text(threshold)}, not a number from 0 to 1"
    for key in ("arch_kwargs", "metrics", "training_config", "lineage"):
        if key in values and not isinstance(values[key], dict):
            return f"{key} is {json_text(values[key])}, not a JSON object"
    sha = values.get("weights_sha256", "")
    if sha and not _SHA256_RE.fullmatch(sha):
        return f"weights_sha256 {json_text(sha)} is not a SHA-256 (64 hex digits)"
    if values.get("weights_dtype", "float32") not in ("float32", "float16"):
        return f"weights_dtype is {json_text(values['weights_dtype'])}, not float32 or float16"
    try:
        check_arch_options(values["architecture"], len(bands), values.get("arch_kwargs", {}), bands)
    except InputError as exc:
        return f"arch_kwargs {json_text(values.get('arch_kwargs'))}: {exc}"
    return None


def card_and_weights_paths(path: str | Path) -> tuple[Path, Path]:
    """Both files of a checkpoint from either one's path or the common stem."""
    p = Path(path)
    if p.suffix in (CARD_SUFFIX, WEIGHTS_SUFFIX):
        p = p.with_suffix("")
    return p.with_name(p.name + CARD_SUFFIX), p.with_name(p.name + WEIGHTS_SUFFIX)


def sha256_file(path: Path) -> str:
    check_regular_file(path, "The weights file", MAX_WEIGHTS_BYTES, ModelError)
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
    tmp = temp_path_for(weights_path)
    try:
        save_file(state, str(tmp), metadata={"model_card_name": card.name})
        tmp.replace(weights_path)
    finally:
        tmp.unlink(missing_ok=True)
    card.weights_sha256 = sha256_file(weights_path)
    card.weights_dtype = "float16" if half else "float32"
    return write_card(card, card_path)


def write_card(card: ModelCard, card_path: str | Path) -> Path:
    """Write a model card as JSON, atomically (temporary file, then rename)."""
    card_path = Path(card_path)
    atomic_write_text(card_path, json.dumps(card.to_dict(), indent=2))
    return card_path


def read_card(path: str | Path) -> ModelCard:
    card_path, _ = card_and_weights_paths(path)
    if not card_path.exists():
        raise ModelError(f"No model card at {card_path}.",
                         "Give the path of a model's .json card or .safetensors file.")
    raw = read_bytes_bounded(card_path, "The model card", MAX_CARD_BYTES, ModelError)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise ModelError(f"The model card {card_path} is not readable JSON ({str(exc)[:120]}).") from None
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
    check_regular_file(weights_path, "The weights file", MAX_WEIGHTS_BYTES, ModelError)
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
    try:
        model = build_model(card.architecture, len(card.bands), card.bands, **card.arch_kwargs)
    except (InputError, TypeError, ValueError) as exc:
        raise ModelError(f"The model card {card.name} describes a network that cannot be built "
                         f"({str(exc).splitlines()[0]}).", "Fix its arch_kwargs, or re-export the model.") from None
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


@dataclass
class ModelListing:
    """One card in a models folder: its card when usable, else why not."""

    path: Path
    card: Optional[ModelCard]
    problem: str = ""

    @property
    def usable(self) -> bool:
        return self.card is not None


def scan_models(models_dir: Optional[Path] = None) -> list[ModelListing]:
    """Every card in ``models_dir`` (default: the project's models/), usable or not, by name."""
    out = []
    folder = Path(models_dir or MODELS_DIR)
    for card_path in sorted(folder.glob(f"*{CARD_SUFFIX}")) if folder.is_dir() else []:
        try:
            out.append(ModelListing(card_path, read_card(card_path)))
        except ModelError as exc:
            out.append(ModelListing(card_path, None, str(exc)))
    return out


def list_models(models_dir: Optional[Path] = None) -> list[ModelCard]:
    """Cards of every model in ``models_dir`` (default: the project's models/), usable ones only
    (:func:`scan_models` also gives the unusable ones with their reasons)."""
    return [m.card for m in scan_models(models_dir) if m.card is not None]
