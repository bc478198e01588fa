"""Imagery sources behind one interface (:class:`~.base.ImagerySource`), and their registry.

``get_source("demo" | "earthengine" | "local", **options)`` builds a source; each lists the
scenes of a date window and fetches one raw scene GeoTIFF per window on ``request.grid()``,
through the disk cache. Nothing here imports ``ee``.
"""
from __future__ import annotations

import importlib
import inspect
from typing import Any

from ..errors import InputError
from .base import FetchedScene, ImagerySource, Readiness, SceneListing
from .request import MAX_AOI_KM2, AnalysisRequest, DateWindow, parse_aoi

SOURCE_NAMES = ("demo", "earthengine", "local")

#: name -> (module, class); modules are imported when a source is asked for.
_REGISTRY = {"demo": ("demo", "DemoSource"), "earthengine": ("earthengine", "EarthEngineSource"),
             "local": ("local", "LocalFilesSource")}
_ALIASES = {"ee": "earthengine", "gee": "earthengine", "googleearthengine": "earthengine",
            "localfiles": "local", "files": "local", "synthetic": "demo"}


def source_class(name: str) -> type:
    """The class registered under ``name`` (or an alias); unknown names list the known ones."""
    key = (name or "").strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise InputError(f"Unknown imagery source '{name}'.", f"Use one of: {', '.join(SOURCE_NAMES)}.")
    module, cls = _REGISTRY[key]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def get_source(name: str, **options: Any) -> ImagerySource:
    """The source called ``name``, built with ``options`` (checked against its constructor)."""
    cls = source_class(name)
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise InputError(f"Unknown option(s) for the '{cls.name}' source: {', '.join(unknown)}.",
                         f"It accepts: {', '.join(sorted(accepted))}.")
    return cls(**options)


__all__ = ["get_source", "source_class", "SOURCE_NAMES", "ImagerySource", "Readiness", "SceneListing",
           "FetchedScene", "AnalysisRequest", "DateWindow", "parse_aoi", "MAX_AOI_KM2"]
