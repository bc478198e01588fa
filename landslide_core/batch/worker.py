"""What a worker process keeps between tasks: the batch's job and plan, the model, the source.

Loaded once per process (the job and plan again when their files change), so a worker pays
for imports, the model's weights and a source's sign-in once, not per tile. Each task sets
torch to the job's threads (one: the workers are the parallelism) and reports its time and
the process's peak memory with :func:`task_result`.
"""
from __future__ import annotations

import os
import resource
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import InputError
from .layout import BatchLayout, read_json

_LOCK = threading.Lock()
_CACHE: dict[str, Any] = {}


def load_batch(job_path: str):
    """(layout, job, plan) of a batch, cached per process (keyed by the files' modification times)."""
    from .job import BatchJob
    from .tiling import BatchPlan

    job_path = Path(job_path)
    if not job_path.is_file():
        raise InputError(f"The batch job file {job_path} is not visible on this worker.",
                         "The output folder (--out) must be on a filesystem every worker can read and write.")
    layout = BatchLayout(job_path.parent.parent)
    key = ("job", str(job_path), job_path.stat().st_mtime_ns, layout.plan.stat().st_mtime_ns)
    with _LOCK:
        hit = _CACHE.get("job")
        if hit and hit[0] == key:
            return hit[1]
        job = BatchJob.from_dict(read_json(job_path))
        plan = BatchPlan.from_dict(read_json(layout.plan))
        _CACHE["job"] = (key, (layout, job, plan))
        _threads(job.torch_threads)
        return layout, job, plan


def _threads(n: int) -> None:
    """torch and GDAL's block decoding on ``n`` threads (the workers are the parallelism)."""
    import os

    import torch

    if torch.get_num_threads() != int(n):
        torch.set_num_threads(int(n))
    os.environ["GDAL_NUM_THREADS"] = str(int(n))  # read by GDAL at every open


def loaded_model(job):
    """(model, card, path) and a predictor, loaded once per process."""
    from ..detection import load_model
    from ..predictor import Predictor

    key = ("model", job.model_path, job.model_sha256, repr(sorted(job.options.items())))
    with _LOCK:
        hit = _CACHE.get("model")
        if hit and hit[0] == key:
            return hit[1]
        loaded = load_model(job.model_path)
        if loaded[1].weights_sha256 != job.model_sha256:
            raise InputError(f"The model {job.model_path} on this worker differs from the one the batch started "
                             f"with (weights {loaded[1].weights_sha256[:12]} vs {job.model_sha256[:12]}).",
                             "Give every worker the same model files.")
        options = job.detection_options()
        predictor = Predictor(loaded[0], loaded[1], options.predictor_config())
        _CACHE["model"] = (key, (loaded, predictor))
        return loaded, predictor


def model_card(job):
    """The model card alone (outputs carry it), without loading the weights."""
    from ..checkpoint import read_card

    return read_card(job.model_path)


def imagery_source(job):
    from ..sources import get_source

    key = ("source", job.source, repr(sorted((k, repr(v)) for k, v in job.source_options.items())))
    with _LOCK:
        hit = _CACHE.get("source")
        if hit and hit[0] == key:
            return hit[1]
        source = get_source(job.source, **job.source_options)
        _CACHE["source"] = (key, source)
        return source


def peak_rss_mb() -> float:
    """This process's peak resident memory (MB): Linux's VmHWM, which starts afresh in a new
    program (``ru_maxrss`` would carry over the peak of the process that started the worker)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024.0, 1)
    except (OSError, ValueError, IndexError):
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def task_result(stage: str, ident: str, t0: float, reused: bool, **more: Any) -> dict[str, Any]:
    return {"stage": stage, "id": ident, "reused": bool(reused), "seconds": round(time.perf_counter() - t0, 3),
            "pid": os.getpid(), "peak_rss_mb": peak_rss_mb(), **more}


__all__ = ["imagery_source", "load_batch", "loaded_model", "model_card", "peak_rss_mb", "task_result"]
