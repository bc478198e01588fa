"""The training configuration: the thesis recipe as defaults, checked before any work starts."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..bands import BAND_SETS, DEFAULT_SCALING, SCALINGS
from ..errors import InputError
from ..zoo import NEEDS_BAND_NAMES, TRAINABLE, TRAINING_FREE

#: Fields that may differ between a run's saved config and a resumed one (they do not change
#: what is trained, only where and how fast).
RUNTIME_FIELDS = ("device", "workers")
ON_BAD_CHOICES = ("stop", "skip")
CACHE_CHOICES = ("auto", "memory", "memmap")


@dataclass
class TrainConfig:
    """Everything a training run needs. Defaults are the thesis recipe (section 5.1, Table 5).

    ``alpha`` weights Dice against WCE: L = (1 - alpha) * WCE + alpha * Dice; ``beta`` weights
    the landslide (positive) pixels of the WCE. ``on_bad`` says what to do with unreadable or
    malformed files: "stop" (an error naming them) or "skip" (a warning naming them).
    ``split_file`` is an optional JSON ``{"train": [...], "val": [...]}`` of patch names.
    ``cache`` keeps the decoded patches in memory ("memory"), in a memory-mapped file in the
    run folder ("memmap"), or picks by size ("auto": memmap above ``memory_limit_gb``).
    ``workers`` threads gather and augment the next batches while the model trains (0: none).
    ``device``: "auto" (CUDA when available), "cpu", "cuda" or "cuda:N".
    ``scaling``: the model input after the L4S units: "l4s" (as they are) or "minmax" (per band
    to 0-1 with min and max of the training split, stored in the model card; the thesis's).
    """

    data_dir: str = ""
    arch: str = "unet_vanilla"
    bands: str = "l4s14"
    epochs: int = 100
    batch_size: int = 16
    lr: float = 1e-3
    alpha: float = 0.5
    beta: float = 5.0
    step_size: int = 30
    gamma: float = 0.1
    patience: int = 10
    seed: int = 0
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    device: str = "auto"
    workers: int = 2
    val_share: float = 0.2
    augment: bool = True
    #: Radiometric jitter of training batches (another date's gain, haze, cirrus; 0 = off,
    #: 1 = the typical spread of Sentinel-2 dates). Only with ``augment``.
    radiometric_jitter: float = 0.0
    #: A model (card path or name) whose weights start the run: fine-tuning. Same architecture,
    #: options and band set; None starts from random weights.
    init_from: Optional[str] = None
    max_train_patches: Optional[int] = None
    on_bad: str = "stop"
    split_file: Optional[str] = None
    cache: str = "auto"
    memory_limit_gb: float = 4.0
    scaling: str = DEFAULT_SCALING

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "the configuration") -> "TrainConfig":
        if not isinstance(data, dict):
            raise InputError(f"{source} is not a JSON object of settings.")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InputError(f"{source} has unknown settings: {', '.join(unknown)}.",
                             f"Known settings: {', '.join(sorted(names))}.")
        return cls(**data)

    @classmethod
    def from_file(cls, path: str | Path) -> "TrainConfig":
        from ..fileio import read_bytes_bounded

        p = Path(path)
        raw = read_bytes_bounded(p, "The config file", 1_000_000)
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, RecursionError) as exc:
            raise InputError(f"The config file {p} is not valid JSON ({type(exc).__name__}).") from None
        except json.JSONDecodeError as exc:
            raise InputError(f"The config file {p} is not valid JSON ({exc}).") from None
        return cls.from_dict(data, f"The config file {p}")

    def validate(self) -> "TrainConfig":
        """Raise a clear :class:`InputError` for the first bad value; return self."""
        if not str(self.data_dir).strip():
            raise InputError("No data folder was given.", "Give the folder with img/ and mask/ (--data DIR).")
        if self.arch in TRAINING_FREE:
            raise InputError(f"The architecture '{self.arch}' has nothing to learn (a fixed spectral rule).",
                             f"Choose one of: {', '.join(TRAINABLE)}.")
        if self.arch not in TRAINABLE:
            raise InputError(f"Unknown architecture '{self.arch}'.",
                             f"Choose one of: {', '.join(TRAINABLE)}.")
        if self.bands not in BAND_SETS:
            raise InputError(f"Unknown band set '{self.bands}'.",
                             f"Choose one of: {', '.join(sorted(BAND_SETS))}.")
        if self.scaling not in SCALINGS:
            raise InputError(f"Unknown scaling '{self.scaling}'.", f"Choose one of: {', '.join(SCALINGS)}.")
        if self.scaling != "l4s" and self.arch in NEEDS_BAND_NAMES:
            raise InputError(f"The architecture '{self.arch}' computes band ratios from Landslide4Sense units, "
                             f"so it cannot take the '{self.scaling}' scaling.",
                             "Use scaling l4s with it, or choose another architecture.")
        checks = [
            (isinstance(self.epochs, int) and self.epochs >= 1, "epochs", "a whole number >= 1"),
            (isinstance(self.batch_size, int) and self.batch_size >= 1, "batch_size", "a whole number >= 1"),
            (self.lr > 0, "lr", "a number > 0 (the thesis uses 0.001)"),
            (0.0 <= self.alpha <= 1.0, "alpha", "between 0 and 1 (0.5 mixes WCE and Dice equally)"),
            (self.beta > 0, "beta", "a number > 0 (the thesis uses 5)"),
            (isinstance(self.step_size, int) and self.step_size >= 1, "step_size", "a whole number >= 1"),
            (0.0 < self.gamma <= 1.0, "gamma", "in (0, 1]"),
            (isinstance(self.patience, int) and self.patience >= 1, "patience", "a whole number >= 1"),
            (isinstance(self.workers, int) and self.workers >= 0, "workers", "a whole number >= 0"),
            (0.0 < self.val_share < 1.0, "val_share", "between 0 and 1 (0.2 = 80/20)"),
            (self.max_train_patches is None or self.max_train_patches >= 1, "max_train_patches",
             "empty or a whole number >= 1"),
            (self.on_bad in ON_BAD_CHOICES, "on_bad", f"one of {', '.join(ON_BAD_CHOICES)}"),
            (self.cache in CACHE_CHOICES, "cache", f"one of {', '.join(CACHE_CHOICES)}"),
            (self.memory_limit_gb > 0, "memory_limit_gb", "a number > 0"),
            (isinstance(self.radiometric_jitter, (int, float)) and 0.0 <= self.radiometric_jitter <= 3.0,
             "radiometric_jitter", "a number from 0 (off) to 3 (1 = the spread of Sentinel-2 dates)"),
            (isinstance(self.arch_kwargs, dict), "arch_kwargs", "a JSON object such as {\"base_channels\": 16}"),
        ]
        for ok, name, want in checks:
            if not ok:
                raise InputError(f"The setting {name}={getattr(self, name)!r} is not valid.", f"Use {want}.")
        return self

    def differences(self, other: "TrainConfig") -> list[str]:
        """Settings (other than runtime ones) whose values differ, as 'name: a != b'."""
        a, b = self.to_dict(), other.to_dict()
        return [f"{k}: {a[k]!r} != {b[k]!r}" for k in a if k not in RUNTIME_FIELDS and a[k] != b[k]]


def parse_arch_kwargs(text: str | None) -> dict[str, Any]:
    """Architecture options from JSON text ('' -> {}), or a clear error."""
    if not text or not str(text).strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"The architecture options {text!r} are not valid JSON ({exc.msg}).",
                         'Write them as {"base_channels": 16}.') from None
    if not isinstance(value, dict):
        raise InputError(f"The architecture options {text!r} are not a JSON object.",
                         'Write them as {"base_channels": 16}.')
    return value


def check_architecture(config: TrainConfig) -> int:
    """Check the architecture and its options by arithmetic, without building the network (a
    form asking for a huge one must not allocate it in the server process); returns the
    parameter count when known (0 otherwise)."""
    from ..bands import BAND_SETS as sets
    from ..zoo import check_arch_options

    return check_arch_options(config.arch, len(sets[config.bands]), config.arch_kwargs, sets[config.bands])
