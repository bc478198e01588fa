"""Regional batches on Dask: a region cut into tiles, each tile fetched, predicted and mapped
by Dask workers, the results merged into one map per UTM zone.

The result equals one run of the same pipeline over each zone (``fetch`` + ``detect`` on the
zone's grid): tiles share out the windows of that one run (:mod:`.tiling`), their weighted
sums add up (:mod:`.mosaic`), and change is decided on whole objects (:mod:`.borders`).
Dask is used only in this package (:mod:`.cluster`, :mod:`.runner`); the tasks (:mod:`.tasks`)
call the same source, predictor, change and export functions as the CLI.

``run_batch(BatchSettings(...))`` runs or resumes a batch; ``python -m landslide_core batch``
is its command. (Imported lazily: a worker that only unpickles the cluster's plugin or a
fetch task does not load torch.)
"""
from __future__ import annotations

from typing import Any

__all__ = ["BatchSettings", "prepare_job", "run_batch"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
