"""The small public Python API, for notebooks and scripts::

    from landslide_core import fetch, load_model, detect_pair, write_report

    fetch(bbox=(-75.409, -11.309, -75.391, -11.291), pre=("2020-01-01", "2020-01-31"),
          post=("2020-04-01", "2020-04-30"), out="pair")          # the offline demo source
    model = load_model()                                          # the shipped default model
    summary = detect_pair("pair/pre.tif", "pair/post.tif", "result", model=model)
    write_report("result", "report.pdf", lang="es")

The same functions the CLI calls; errors are ``landslide_core.errors.UserError`` subclasses
(what was wrong and what to do). ``model`` is a model's card path, a name in ``models/``
(``"default"``, ``"index"``) or what :func:`load_model` returned (loaded once, reused).
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Optional, Sequence

from .progress import CancelToken, ProgressFn

DateLike = str | dt.date


def load_model(model: Optional[str | Path] = None):
    """(model, card, card path) of ``model`` (a card path or a name), default: the default model."""
    from .detection import load_model as _load

    return _load(model)


def _options(threshold, device, options: dict[str, Any]):
    from .detection import DetectionOptions

    return DetectionOptions(threshold=threshold, device=device, **options).validate()


def _model_args(model) -> dict[str, Any]:
    if isinstance(model, tuple) and len(model) == 3:
        return {"model_path": model[2], "loaded": model}
    return {"model_path": model}


def detect(image: str | Path, out: str | Path, model=None, threshold: Optional[float] = None,
           device: Optional[str] = None, progress: Optional[ProgressFn] = None,
           cancel: Optional[CancelToken] = None, **options: Any) -> dict[str, Any]:
    """Landslides in one scene GeoTIFF, written into ``out`` (COGs, GeoJSON, CSV, summary.json);
    returns the summary. ``options``: more :class:`~landslide_core.detection.DetectionOptions`
    (``window_px``, ``min_area_ha``, ...)."""
    from .detection import detect_scene

    return detect_scene(image, out, options=_options(threshold, device, options), progress=progress, cancel=cancel,
                        **_model_args(model))


def detect_pair(pre: str | Path, post: str | Path, out: str | Path, model=None, threshold: Optional[float] = None,
                device: Optional[str] = None, progress: Optional[ProgressFn] = None,
                cancel: Optional[CancelToken] = None, **options: Any) -> dict[str, Any]:
    """Landslides in two dates and their change, written into ``out``; returns the summary
    (``summary["change"]``: new_count, new_ha, persisting_ha, vanished_ha, not_assessable_ha)."""
    from .detection import detect_pair as _detect_pair

    return _detect_pair(pre, post, out, options=_options(threshold, device, options), progress=progress,
                        cancel=cancel, **_model_args(model))


def fetch(aoi: Optional[dict | str | Path] = None, *, bbox: Optional[Sequence[float]] = None,
          pre: Sequence[DateLike], post: Sequence[DateLike], out: str | Path, source: str = "demo",
          cloud_limit_pct: float = 30.0, composite: str = "least_cloudy",
          progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> dict[str, Any]:
    """The 'before' and 'after' scenes of an area into ``out`` (``pre.tif``, ``post.tif``,
    ``provenance.json``); returns the provenance record. The area: ``aoi`` (a GeoJSON geometry,
    or a GeoJSON/KML file) or ``bbox`` (west, south, east, north in degrees). ``source``:
    demo (offline, synthetic), earthengine."""
    from .commands.fetch import bbox_aoi, read_aoi
    from .errors import InputError
    from .sources import AnalysisRequest, DateWindow, get_source
    from .sources.pair import fetch_pair

    if (aoi is None) == (bbox is None):
        raise InputError("Give the area either as aoi (GeoJSON) or as bbox (west, south, east, north).")
    if bbox is not None:
        area = bbox_aoi(*[float(v) for v in bbox])
    elif isinstance(aoi, dict):
        from .sources import parse_aoi

        area = parse_aoi(aoi)
    else:
        area = read_aoi(str(aoi))
    request = AnalysisRequest(area, DateWindow.parse(str(pre[0]), str(pre[1]), "'before' window"),
                              DateWindow.parse(str(post[0]), str(post[1]), "'after' window"), cloud_limit_pct,
                              composite)
    return fetch_pair(request, get_source(source), out, progress=progress, cancel=cancel)


def write_report(result: str | Path, out: str | Path, lang: Optional[str] = None, threshold: Optional[float] = None,
           area_name: Optional[str] = None) -> Path:
    """The situation report (``.pdf`` or ``.html``) of a finished analysis folder."""
    from .report import write_report as _write_report

    return _write_report(result, out, lang, threshold, area_name)


def write_outputs(result: str | Path, out: str | Path, lang: Optional[str] = None, threshold: Optional[float] = None):
    """Every GIS output of a finished analysis into the folder ``out``, and one ZIP."""
    from .report import write_outputs as _write_outputs

    return _write_outputs(result, out, lang, threshold)


__all__ = ["load_model", "detect", "detect_pair", "fetch", "write_report", "write_outputs"]
