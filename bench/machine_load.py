"""The machine's load average, printed beside the benches' timings (the machine may be shared)."""
from __future__ import annotations

import os


def load() -> float:
    """The 1-minute load average, rounded to 0.01."""
    return round(os.getloadavg()[0], 2)
