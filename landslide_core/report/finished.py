"""A finished result folder, whoever made it: the dashboard's (``done.json``) or the CLI's
``detect --pre --post`` (``summary.json`` only), seen as one :class:`AnalysisResult`.

Nothing here runs a model or changes the folder. A CLI folder has no request: its area comes
from ``provenance.json`` beside the scenes when ``fetch`` wrote them, else from the extent of
the analysis grid; its dates from the scenes' provenance (kept in ``summary.json``).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any, Optional

from ..errors import InputError
from ..i18n import user_error
from ..results import DONE_FILE, AnalysisResult, load_result

SUMMARY_FILE = "summary.json"


def _read_json(path: Path) -> Optional[dict]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _fetch_record(scene: Optional[str]) -> dict[str, Any]:
    """``provenance.json`` written by ``fetch`` beside a scene, when there is one."""
    if not scene:
        return {}
    from ..sources.pair import PROVENANCE_FILE

    return _read_json(Path(scene).parent / PROVENANCE_FILE) or {}


def _window_of(prov: dict[str, Any], record: dict[str, Any], role: str) -> list[str]:
    window = (record.get("request") or {}).get(role) or prov.get("window")
    if isinstance(window, (list, tuple)) and len(window) == 2:
        return [str(window[0]), str(window[1])]
    dates = prov.get("dates") or ([prov["date"]] if prov.get("date") else [])
    return [str(min(dates)), str(max(dates))] if dates else ["?", "?"]


def _model_card(folder: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """The model card stored in the change raster (all of it), else the summary's model."""
    from ..exports import read_metadata

    card: dict[str, Any] = {}
    try:
        card = read_metadata(folder / "change.tif").get("model_card") or {}
    except Exception:  # noqa: BLE001 - an older or damaged raster: the summary says enough
        card = {}
    model = dict(summary.get("model") or {})
    return {**model, **card} if card else model


def _from_summary(folder: Path, summary: dict[str, Any]) -> AnalysisResult:
    prov = summary.get("provenance") or {}
    pre_prov, post_prov = dict(prov.get("pre") or {}), dict(prov.get("post") or {})
    record = _fetch_record(summary.get("post_scene")) or _fetch_record(summary.get("pre_scene"))
    request = {"aoi": (record.get("request") or {}).get("aoi"),
               "pre": _window_of(pre_prov, record, "pre"), "post": _window_of(post_prov, record, "post"),
               "cloud_limit_pct": (record.get("request") or {}).get("cloud_limit_pct"),
               "composite": (record.get("request") or {}).get("composite")}
    for role, p in (("pre", pre_prov), ("post", post_prov)):
        window = record.get(role) or {}
        if not p.get("dates") and window.get("dates"):
            p["dates"] = window["dates"]
        if p.get("aoi_cloud_pct") is None and window.get("aoi_cloud_pct") is not None:
            p["aoi_cloud_pct"] = window["aoi_cloud_pct"]
    settings = dict(summary.get("settings") or {})
    options = {**settings, "threshold": summary.get("threshold")}
    path = folder / SUMMARY_FILE
    finished = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc).isoformat(timespec="seconds")
    source = {"name": record.get("source") or pre_prov.get("source") or post_prov.get("source") or "files",
              "version": str(post_prov.get("source_version") or "")}
    key = hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    return AnalysisResult(folder=folder, key=key, request=request, source=source,
                          model=_model_card(folder, summary), options=options, summary=summary,
                          provenance={"pre": pre_prov, "post": post_prov},
                          scenes={"pre": str(summary.get("pre_scene") or ""),
                                  "post": str(summary.get("post_scene") or "")},
                          finished=finished, elapsed_s=float((summary.get("timings_s") or {}).get("total") or 0.0),
                          from_cache=True, display={}, files={})


def open_result(folder: str | Path) -> AnalysisResult:
    """The finished change analysis in ``folder`` (dashboard or CLI), or an InputError that
    says what is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise user_error(InputError, "errors.result_not_found", folder=str(folder))
    if (folder / DONE_FILE).is_file():
        return load_result(folder, verify="size")
    summary = _read_json(folder / SUMMARY_FILE)
    if summary is None:
        raise user_error(InputError, "errors.result_not_finished", folder=str(folder))
    if summary.get("kind") != "pair":
        raise user_error(InputError, "errors.result_not_a_pair", folder=str(folder))
    for rel in ("pre/probability.tif", "post/probability.tif", "change.tif", "change.geojson"):
        if not (folder / rel).is_file():
            raise user_error(InputError, "errors.result_file_missing", folder=str(folder), file=rel)
    return _from_summary(folder, summary)


__all__ = ["open_result"]
