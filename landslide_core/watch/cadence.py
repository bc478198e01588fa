"""How often an area is checked: ``5d``, ``12h``, ``2w`` (days, hours, weeks) to a timedelta."""
from __future__ import annotations

import datetime as dt
import re

from ..errors import InputError

#: Sentinel-2 passes every 5 days: the default and the natural cadence.
DEFAULT_CADENCE = "5d"
MIN_CADENCE = dt.timedelta(hours=1)
MAX_CADENCE = dt.timedelta(days=366)
_UNITS = {"h": ("hours", 1), "d": ("days", 1), "w": ("days", 7)}
_RE = re.compile(r"^\s*(\d+)\s*([hdw])\s*$", re.IGNORECASE)


def parse_cadence(text: str) -> dt.timedelta:
    """``"5d"`` -> 5 days. A number and a unit: h (hours), d (days) or w (weeks); 1 h to 366 d."""
    m = _RE.match(str(text or ""))
    if not m:
        raise InputError(f"The cadence '{text}' is not understood.",
                         "Write a number and a unit: h (hours), d (days) or w (weeks), e.g. --every 5d.")
    n, unit = int(m.group(1)), m.group(2).lower()
    name, factor = _UNITS[unit]
    every = dt.timedelta(**{name: n * factor})
    if not MIN_CADENCE <= every <= MAX_CADENCE:
        raise InputError(f"The cadence '{text}' is outside 1h to 366d.",
                         "Sentinel-2 passes every 5 days: --every 5d is a good start.")
    return every


def format_cadence(seconds: int) -> str:
    """5 days -> ``"5d"``; whole weeks as ``"2w"``; else hours."""
    seconds = int(seconds)
    if seconds % (7 * 86400) == 0 and seconds >= 14 * 86400:
        return f"{seconds // (7 * 86400)}w"
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    return f"{seconds // 3600}h"
