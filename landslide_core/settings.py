"""Named settings (dataclasses of rules and thresholds) from their JSON form, with clear errors."""
from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from .errors import InputError

T = TypeVar("T")


def settings_from_dict(cls: type[T], data: Any, what: str) -> T:
    """``cls`` from ``data`` (None: the defaults; an instance: itself; a mapping of its field
    names), validated; unknown names and non-mappings are an :class:`InputError` naming ``what``."""
    if data is None:
        return cls().validate()  # type: ignore[attr-defined]
    if isinstance(data, cls):
        return data.validate()  # type: ignore[attr-defined]
    if not isinstance(data, dict):
        raise InputError(f"{what.capitalize()} must be a mapping of names to values, got {type(data).__name__}.")
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(f"Unknown {what}: {', '.join(unknown)}.", f"Known: {', '.join(sorted(names))}.")
    return cls(**data).validate()  # type: ignore[attr-defined]
