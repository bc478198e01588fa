"""landslide_core: everything of the landslide monitor except the pages (no streamlit here)."""
import os as _os

# OpenMP threads (torch's CPU kernels) sleep instead of spinning while they wait for work.
# Spinning threads fight every other thread for the cores: on a shared 2-core machine a
# 2-thread forward pass took 15x longer with the default (active) policy than with this one
# (bench/inference.py prints the policy in use). Set before torch is imported; a value the
# user set wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
