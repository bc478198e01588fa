"""The analyses of one browser session: those it ran and those it opened from the history.

Results are cached for everyone on the server (the same request is computed once), but each
session sees only its own analyses: a fresh session starts with none, and the Compare page
never shows what another session ran. The server's whole history is listed on the Home page,
to be opened on purpose.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import streamlit as st

from landslide_core import analysis

from . import state
from .i18n import t

#: Session key: this session's analyses, newest first: [{"folder": str, "label": str}, ...].
MY_RESULTS = "my_results"
MAX_REMEMBERED = 30


def remember(folder: str | Path, label: Optional[str] = None) -> None:
    """Add an analysis to this session's list (newest first) and make it the one shown."""
    ss = st.session_state
    folder = str(folder)
    items = [i for i in ss.get(MY_RESULTS, []) if i.get("folder") != folder]
    known = next((i for i in ss.get(MY_RESULTS, []) if i.get("folder") == folder), None)
    items.insert(0, {"folder": folder, "label": label or (known or {}).get("label")})
    ss[MY_RESULTS] = items[:MAX_REMEMBERED]
    ss[state.RESULT_FOLDER] = folder


def mine() -> list[tuple[analysis.AnalysisResult, Optional[str]]]:
    """This session's finished analyses that still exist, with their area labels."""
    out = []
    for item in st.session_state.get(MY_RESULTS, []):
        folder = Path(item.get("folder", ""))
        if (folder / analysis.DONE_FILE).is_file():
            try:
                out.append((analysis.load_result(folder), item.get("label")))
            except analysis.UserError:
                continue
    return out


def label_of(folder: str | Path) -> Optional[str]:
    folder = str(folder)
    return next((i.get("label") for i in st.session_state.get(MY_RESULTS, []) if i.get("folder") == folder), None)


def current() -> Optional[analysis.AnalysisResult]:
    """The analysis this session shows (its latest, or the one it opened), else None.

    Raises UserError when that analysis' folder is damaged."""
    folder = st.session_state.get(state.RESULT_FOLDER)
    if folder and (Path(folder) / analysis.DONE_FILE).is_file():
        return analysis.load_result(folder)
    return None


def for_area(aoi: Optional[dict]) -> Optional[analysis.AnalysisResult]:
    """This session's newest analysis of this area, else its newest one that overlaps it (to
    show the scenes already fetched there on the map), else None."""
    if not aoi:
        return None
    try:
        from shapely.geometry import shape

        from landslide_core.sources.aoi import normalised_aoi

        want, area = normalised_aoi(aoi), shape(aoi)
    except Exception:  # noqa: BLE001 - a broken AOI has no analysis
        return None
    overlapping = None
    for result, _ in mine():
        other = (result.request or {}).get("aoi")
        if other == want:
            return result
        try:
            if overlapping is None and other and shape(other).intersects(area):
                overlapping = result
        except Exception:  # noqa: BLE001
            continue
    return overlapping


def _is_demo_area(aoi: dict) -> bool:
    try:
        from landslide_core.sources.aoi import normalised_aoi

        return normalised_aoi(aoi) == normalised_aoi(state.demo_defaults().aoi)
    except Exception:  # noqa: BLE001
        return False


def _deg(value: float, pos: str, neg: str) -> str:
    return f"{abs(value):.3f}° {pos if value >= 0 else neg}"


def describe_area(request: dict[str, Any], label: Optional[str] = None) -> str:
    """Which area an analysis covered, in words: its label when known (e.g. "Demo event:
    ..." or "Uploaded file x.geojson"), its size and where it lies."""
    aoi = (request or {}).get("aoi")
    if not label and aoi and _is_demo_area(aoi):
        label = t("ui.demo_area")
    where = t("ui.area.unknown")
    if aoi:
        try:
            from shapely.geometry import shape

            from landslide_core.sources.aoi import aoi_area_km2

            c = shape(aoi).centroid
            where = t("ui.area.where", km2=f"{aoi_area_km2(aoi):,.2f}", lat=_deg(c.y, "N", "S"),
                      lon=_deg(c.x, "E", "W"))
        except Exception:  # noqa: BLE001 - a description, never an error
            pass
    return f"{label} ({where})" if label else where
