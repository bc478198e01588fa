"""A deterministic train/validation split by group (an ROI, a reviewed scene).

Every patch of a group goes to the same side, so no place is both trained and validated on.
A group's side depends only on its name and the seed (a hash), never on which other groups
exist: adding ROIs to a dataset leaves the earlier ones where they were. With two groups or
more, each side gets at least one (the group nearest the threshold moves).
"""
from __future__ import annotations

import hashlib
import re
from typing import Iterable

from ..errors import InputError

#: A dataset's own train/validation split, beside img/ and mask/: {"train": [...], "val": [...]}
#: of patch names. Training uses it when no other split is given.
SPLIT_FILE = "split.json"


def now_iso() -> str:
    """The time now, UTC, ISO 8601 to the second (manifests' ``written_utc``)."""
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def natural_key(name: str) -> list:
    """Sort key that puts image_2 before image_10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(name))]


def group_draw(group: str, seed: int = 0) -> float:
    """A number in [0, 1) fixed by the group's name and the seed."""
    digest = hashlib.sha256(f"{int(seed)}:{group}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def check_val_share(val_share: float) -> float:
    try:
        share = float(val_share)
    except (TypeError, ValueError):
        share = float("nan")
    if not 0.0 < share < 1.0:
        raise InputError(f"The validation share {val_share!r} is not between 0 and 1.", "Use e.g. 0.2 (80/20).")
    return share


def assign_split(groups: Iterable[str], val_share: float = 0.2, seed: int = 0) -> dict[str, str]:
    """group -> "train" or "val" (see the module docstring)."""
    share = check_val_share(val_share)
    names = sorted(set(groups))
    draws = {g: group_draw(g, seed) for g in names}
    side = {g: ("val" if draws[g] < share else "train") for g in names}
    if len(names) >= 2:
        vals = [g for g in names if side[g] == "val"]
        trains = [g for g in names if side[g] == "train"]
        if not vals:
            side[min(trains, key=lambda g: draws[g])] = "val"
        elif not trains:
            side[max(vals, key=lambda g: draws[g])] = "train"
    return side
