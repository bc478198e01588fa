"""Which device runs the model: CUDA when present (unless forced to CPU), else CPU threads."""
from __future__ import annotations

import os
from typing import Optional

import torch

from .errors import InputError

DEVICE_CHOICES = ("cpu", "cuda")


def available_cpu_cores() -> int:
    """CPU cores this process may use (its affinity set), at least 1."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return max(os.cpu_count() or 1, 1)


def cpu_threads() -> int:
    """Threads for CPU inference: OMP_NUM_THREADS when the user set it, else every core."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return available_cpu_cores()


def choose_device(requested: Optional[str] = None) -> torch.device:
    """The device to run on: ``requested`` ("cpu" or "cuda"), or CUDA when available.

    On CPU, torch's intra-op threads are set to the cores available (see :func:`cpu_threads`).
    """
    name = (requested or "").strip().lower() or None
    if name is not None and name.split(":")[0] not in DEVICE_CHOICES:
        raise InputError(f"Unknown device '{requested}'.", "Use 'cpu' or 'cuda', or leave it out to choose automatically.")
    if name is None:
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError(
                "CUDA was requested but no CUDA GPU is available to torch.",
                "Run with `--device cpu` (or leave the device out), or install a CUDA build of "
                "torch on a machine with an NVIDIA GPU.",
            )
        return torch.device(name)
    torch.set_num_threads(cpu_threads())
    return torch.device("cpu")
