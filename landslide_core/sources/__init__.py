"""Imagery sources behind one interface (:class:`~.base.ImagerySource`), and their registry.

``get_source("demo" | "earthengine" | "local", **options)`` builds a source; each lists the
scenes of a date window and fetches one raw scene GeoTIFF per window on ``request.grid()``,
through the disk cache.
"""
from __future__ import annotations

from typing import Any, Callable

from ..errors import InputError
from .base import FetchedScene, ImagerySource, Readiness, SceneListing
from .request import MAX_AOI_KM2, AnalysisRequest, DateWindow, parse_aoi

SOURCE_NAMES = ("demo", "earthengine", "local")


def _demo(**options: Any):
    from .demo import DemoSource

    return DemoSource(**options)


def _earthengine(**options: Any):
    from .earthengine import EarthEngineSource

    return EarthEngineSource(**options)


def _local(**options: Any):
    from .local import LocalFilesSource

    return LocalFilesSource(**options)


_FACTORIES: dict[str, Callable[..., ImagerySource]] = {
    "demo": _demo, "earthengine": _earthengine, "local": _local,
}


def get_source(name: str, **options: Any) -> ImagerySource:
    """The source called ``name``, built with ``options``; unknown names list the known ones."""
    key = (name or "").strip().lower().replace("-", "").replace("_", "")
    aliases = {"ee": "earthengine", "gee": "earthengine", "earthengine": "earthengine",
               "demo": "demo", "local": "local", "localfiles": "local"}
    if key not in aliases:
        raise InputError(f"Unknown imagery source '{name}'.", f"Use one of: {', '.join(SOURCE_NAMES)}.")
    try:
        return _FACTORIES[aliases[key]](**options)
    except TypeError as exc:
        raise InputError(f"Bad options for the '{aliases[key]}' source: {exc}.") from None


__all__ = ["get_source", "SOURCE_NAMES", "ImagerySource", "Readiness", "SceneListing", "FetchedScene",
           "AnalysisRequest", "DateWindow", "parse_aoi", "MAX_AOI_KM2"]
