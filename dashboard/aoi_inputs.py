"""The Monitor page's area-of-interest inputs: the drawing map, upload, bounding box, status.

A rejected input never lingers: a rejected drawing is taken off the map (the map is drawn
anew), rejected bounding-box values are put back to the current area's bounds, and the error
says what was refused and why.
"""
from __future__ import annotations

from typing import Optional

import streamlit as st

from landslide_core.errors import InputError, UserError
from landslide_core.i18n import user_error

from . import history, maps, state, ui
from .i18n import error_text, t

AOI_MAP_KEY = "aoi_map"
#: Session key: bumped to draw the map anew (drops a rejected drawing from it).
MAP_GENERATION = "aoi_map_generation"
#: Session key: the AOI the bounding-box fields were last filled from.
BBOX_FOR = "bbox_for"
DEFAULT_BBOX = (-75.41, -11.31, -75.39, -11.29)


# ---------------------------------------------------------------- upload

def aoi_upload() -> None:
    """A GeoJSON/KML upload; a new file replaces the AOI when it is valid, else says why."""
    ss = st.session_state
    up = st.file_uploader(t("monitor.upload_label", kb=f"{state.MAX_AOI_FILE_BYTES // 1000:,}"),
                          type=["geojson", "json", "kml"], key="w_aoi_file")
    if up is None:
        return
    data = up.getvalue()
    sig = state.signature(up.name.encode() + b"\0" + data)
    if ss.get(state.UPLOAD_SEEN) == sig:
        return
    ss[state.UPLOAD_SEEN] = sig
    try:
        state.set_aoi(ui.aoi_from_upload(up.name, data), t("monitor.label.uploaded", file=up.name))
    except UserError as exc:
        ss[state.AOI_ERROR] = t("monitor.upload_refused", message=error_text(exc))


# ---------------------------------------------------------------- bounding box

def _bbox_of(aoi: Optional[dict]) -> tuple[float, float, float, float]:
    from landslide_core.sources.aoi import aoi_bounds

    try:
        return tuple(round(v, 5) for v in aoi_bounds(aoi)) if aoi else DEFAULT_BBOX
    except Exception:  # noqa: BLE001 - any AOI the parser refuses: the default box
        return DEFAULT_BBOX


def _fill_bbox(aoi: Optional[dict]) -> None:
    ss = st.session_state
    ss[state.BBOX_W], ss[state.BBOX_S], ss[state.BBOX_E], ss[state.BBOX_N] = _bbox_of(aoi)
    ss[BBOX_FOR] = state.signature(aoi)


def _apply_bbox() -> None:
    """Button callback: the typed box becomes the AOI, or the fields go back to the current area."""
    ss = st.session_state
    typed = [ss.get(k) for k in (state.BBOX_W, state.BBOX_S, state.BBOX_E, state.BBOX_N)]
    try:
        if any(v is None for v in typed):
            raise user_error(InputError, "errors.bbox_empty")
        west, south, east, north = (float(v) for v in typed)
        state.set_aoi(ui.aoi_from_bbox(west, south, east, north), t("monitor.label.bbox"))
    except UserError as exc:
        shown = ", ".join("-" if v is None else f"{float(v):g}" for v in typed)
        ss[state.AOI_ERROR] = t("monitor.bbox_refused", values=shown, message=error_text(exc))
        _fill_bbox(ss.get(state.AOI))
        return
    _fill_bbox(ss.get(state.AOI))


def aoi_bbox() -> None:
    """West/south/east/north in degrees, applied with a button; they follow the current area."""
    ss = st.session_state
    aoi = ss.get(state.AOI)
    if state.BBOX_W not in ss or ss.get(BBOX_FOR) != state.signature(aoi):
        _fill_bbox(aoi)
    c1, c2 = st.columns(2)
    c1.number_input(t("monitor.west"), min_value=-180.0, max_value=180.0, step=0.001, format="%.5f",
                    key=state.BBOX_W)
    c2.number_input(t("monitor.east"), min_value=-180.0, max_value=180.0, step=0.001, format="%.5f",
                    key=state.BBOX_E)
    c1.number_input(t("monitor.south"), min_value=-90.0, max_value=90.0, step=0.001, format="%.5f", key=state.BBOX_S)
    c2.number_input(t("monitor.north"), min_value=-90.0, max_value=90.0, step=0.001, format="%.5f", key=state.BBOX_N)
    st.button(t("monitor.use_box"), on_click=_apply_bbox, key="btn_bbox")


# ---------------------------------------------------------------- status

def aoi_status(aoi: Optional[dict]) -> Optional[str]:
    """Show the AOI's area and origin, or what is wrong with it; return the problem or None."""
    from landslide_core.sources.aoi import aoi_warnings, check_aoi
    from landslide_core.sources.request import MAX_AOI_KM2

    if not aoi:
        msg = t("monitor.no_area")
        st.error(msg, icon=":material/error:")
        return msg
    try:
        area_km2 = check_aoi(aoi, MAX_AOI_KM2)
    except InputError as exc:
        msg = error_text(exc)
        st.error(msg, icon=":material/error:")
        return msg
    for warning in aoi_warnings(aoi):
        st.warning(warning, icon=":material/warning:")
    st.metric(t("monitor.area_metric"), f"{area_km2:,.2f} km²", help=t("monitor.area_limit", km2=f"{MAX_AOI_KM2:,.0f}"))
    st.caption(f"{st.session_state.get(state.AOI_LABEL) or t('monitor.aoi')} · "
               + t("monitor.limit", km2=f"{MAX_AOI_KM2:,.0f}"))
    return None


# ---------------------------------------------------------------- drawing map

def map_key(aoi: Optional[dict]) -> str:
    """The drawing map's widget key: a new area or a rejected drawing gives a fresh map."""
    ss = st.session_state
    return f"{AOI_MAP_KEY}_{state.signature(aoi)[:10]}_{int(ss.get(MAP_GENERATION, 0))}"


def scene_overlays(aoi: Optional[dict]) -> list[dict]:
    """True colour (and hillshade) of the scenes this session already fetched for this area, as
    compact images (the lossless PNGs made the map's script megabytes, on every run of the page)."""
    from landslide_core.analysis import DONE_FILE

    result = history.for_area(aoi)
    if result is None or not (result.display or {}).get("bounds"):
        return []
    try:
        mtime = (result.folder / DONE_FILE).stat().st_mtime
    except OSError:
        return []
    out = []
    for key, name, show in (("hillshade", t("maps.hillshade"), False),
                            ("pre_rgb", t("maps.pre_rgb_fetched"), False),
                            ("post_rgb", t("maps.post_rgb_fetched"), True)):
        url = maps.compact_image_url(str(result.folder), result.display.get(key), mtime)
        if url:
            out.append({"name": name, "url": url, "bounds": result.display["bounds"], "opacity": 1.0, "show": show})
    return out


def aoi_draw_map(aoi: Optional[dict], height: int = 460) -> None:
    """The drawing map; a finished drawing becomes the AOI (panning does not rerun the page).

    Without internet the map shows the offline basemap, and once this area's scenes are
    fetched, their true colour."""
    from streamlit_folium import st_folium

    ss = st.session_state
    m = maps.aoi_map(aoi, _fallback_center(), basemaps=bool(ss.get(state.BASEMAPS)),
                     scene_overlays=scene_overlays(aoi))
    out = st_folium(m, key=map_key(aoi), height=height, use_container_width=True,
                    returned_objects=["last_active_drawing", "all_drawings"])
    drawing = (out or {}).get("last_active_drawing") if isinstance(out, dict) else None
    if not drawing or not isinstance(drawing, dict) or not drawing.get("geometry"):
        return
    sig = state.signature(drawing["geometry"])
    if ss.get(state.DRAWING_SEEN) == sig:
        return
    ss[state.DRAWING_SEEN] = sig
    try:
        state.set_aoi(ui.aoi_from_drawing(drawing), t("monitor.label.drawn"))
    except UserError as exc:
        ss[state.AOI_ERROR] = t("monitor.drawing_refused", message=error_text(exc))
        ss[MAP_GENERATION] = int(ss.get(MAP_GENERATION, 0)) + 1
    st.rerun()


def _fallback_center() -> tuple[float, float]:
    try:
        from landslide_core.sources.aoi import aoi_bounds

        w, s, e, n = aoi_bounds(state.demo_defaults().aoi)
        return ((s + n) / 2, (w + e) / 2)
    except Exception:  # noqa: BLE001 - any centre will do
        return (-11.3, -75.4)
