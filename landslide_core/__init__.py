"""landslide_core: everything of the landslide monitor except the pages (no streamlit here).

The public API for notebooks (``landslide_core.api``)::

    from landslide_core import load_model, detect, detect_pair, fetch, write_report, write_outputs

Imported on first use, so ``import landslide_core`` (and the CLI) stays quick.
"""
import os as _os

# OpenMP threads (torch's CPU kernels) sleep instead of spinning while they wait for work.
# Spinning threads fight every other thread for the cores: on a shared 2-core machine a
# 2-thread forward pass took 15x longer with the default (active) policy than with this one
# (bench/inference.py prints the policy in use). Set before torch is imported; a value the
# user set wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# GDAL decodes the blocks of one compressed GeoTIFF read on every core (scenes, probabilities,
# evidence): a 2000 x 2000 scene of 16 bands read in 0.25 s instead of 0.43 s on 2 cores. Batch
# workers set it to their own thread count (one); a value the user set wins.
_os.environ.setdefault("GDAL_NUM_THREADS", "ALL_CPUS")

__version__ = "0.1.0"

_API = ("load_model", "detect", "detect_pair", "fetch", "write_report", "write_outputs")


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'landslide_core' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_API))


__all__ = ["__version__", *_API]
