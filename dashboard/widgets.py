"""The Monitor page's widget groups: AOI inputs, source, model, settings, scenes, progress."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Optional

import streamlit as st

from landslide_core.analysis import STAGES
from landslide_core.errors import Cancelled, InputError, UserError

from . import maps, state, ui
from .errors import show_error

AOI_MAP_KEY = "aoi_map"


# ---------------------------------------------------------------- AOI

def aoi_upload() -> None:
    """A GeoJSON/KML upload; a new file replaces the AOI when it is valid, else says why."""
    ss = st.session_state
    up = st.file_uploader(
        f"GeoJSON or KML with one polygon (at most {state.MAX_AOI_FILE_BYTES // 1000:,} kB)",
        type=["geojson", "json", "kml"], key="w_aoi_file")
    if up is None:
        return
    data = up.getvalue()
    sig = state.signature(up.name.encode() + b"\0" + data)
    if ss.get(state.UPLOAD_SEEN) == sig:
        return
    ss[state.UPLOAD_SEEN] = sig
    try:
        state.set_aoi(ui.aoi_from_upload(up.name, data), f"Uploaded file {up.name}")
    except UserError as exc:
        ss[state.AOI_ERROR] = f"The uploaded file was not used: {exc}"


def _apply_bbox() -> None:
    ss = st.session_state
    try:
        aoi = ui.aoi_from_bbox(float(ss[state.BBOX_W]), float(ss[state.BBOX_S]),
                               float(ss[state.BBOX_E]), float(ss[state.BBOX_N]))
        state.set_aoi(aoi, "Bounding box typed in")
    except UserError as exc:
        ss[state.AOI_ERROR] = f"The bounding box was not used: {exc}"


def aoi_bbox() -> None:
    """West/south/east/north in degrees, applied with a button."""
    ss = st.session_state
    if state.BBOX_W not in ss:
        from landslide_core.sources.aoi import aoi_bounds

        aoi = ss.get(state.AOI)
        w, s, e, n = aoi_bounds(aoi) if aoi else (-75.41, -11.31, -75.39, -11.29)
        ss[state.BBOX_W], ss[state.BBOX_S], ss[state.BBOX_E], ss[state.BBOX_N] = (
            round(w, 5), round(s, 5), round(e, 5), round(n, 5))
    c1, c2 = st.columns(2)
    c1.number_input("West (lon)", min_value=-180.0, max_value=180.0, step=0.001, format="%.5f", key=state.BBOX_W)
    c2.number_input("East (lon)", min_value=-180.0, max_value=180.0, step=0.001, format="%.5f", key=state.BBOX_E)
    c1.number_input("South (lat)", min_value=-90.0, max_value=90.0, step=0.001, format="%.5f", key=state.BBOX_S)
    c2.number_input("North (lat)", min_value=-90.0, max_value=90.0, step=0.001, format="%.5f", key=state.BBOX_N)
    st.button("Use this box", on_click=_apply_bbox, key="btn_bbox")


def aoi_status(aoi: Optional[dict]) -> Optional[str]:
    """Show the AOI's area and origin, or what is wrong with it; return the problem or None."""
    from landslide_core.sources.aoi import aoi_warnings, check_aoi
    from landslide_core.sources.request import MAX_AOI_KM2

    if not aoi:
        msg = ("No area of interest yet. Draw one on the map, upload a GeoJSON or KML file, type a "
               "bounding box, or use the demo event.")
        st.error(msg, icon=":material/error:")
        return msg
    try:
        area_km2 = check_aoi(aoi, MAX_AOI_KM2)
    except InputError as exc:
        msg = str(exc)
        st.error(msg, icon=":material/error:")
        return msg
    for warning in aoi_warnings(aoi):
        st.warning(warning, icon=":material/warning:")
    st.metric("Area", f"{area_km2:,.2f} km²", help=f"Limit: {MAX_AOI_KM2:,.0f} km².")
    st.caption(f"{st.session_state.get(state.AOI_LABEL) or 'Area of interest'} · limit "
               f"{MAX_AOI_KM2:,.0f} km²")
    return None


def aoi_draw_map(aoi: Optional[dict]) -> None:
    """The drawing map; a finished drawing becomes the AOI (panning does not rerun the page)."""
    from streamlit_folium import st_folium

    ss = st.session_state
    center = _fallback_center()
    m = maps.aoi_map(aoi, center, basemaps=bool(ss.get(state.BASEMAPS, True)))
    out = st_folium(m, key=AOI_MAP_KEY, height=460, use_container_width=True,
                    returned_objects=["last_active_drawing", "all_drawings"])
    drawing = (out or {}).get("last_active_drawing") if isinstance(out, dict) else None
    if not drawing or not isinstance(drawing, dict) or not drawing.get("geometry"):
        return
    sig = state.signature(drawing["geometry"])
    if ss.get(state.DRAWING_SEEN) == sig:
        return
    ss[state.DRAWING_SEEN] = sig
    try:
        state.set_aoi(ui.aoi_from_drawing(drawing), "Drawn on the map")
    except UserError as exc:
        ss[state.AOI_ERROR] = f"The drawn shape was not used: {exc}"
    st.rerun()


def _fallback_center() -> tuple[float, float]:
    try:
        from landslide_core.sources.aoi import aoi_bounds

        w, s, e, n = aoi_bounds(state.demo_defaults().aoi)
        return ((s + n) / 2, (w + e) / 2)
    except Exception:  # noqa: BLE001 - any centre will do
        return (-11.3, -75.4)


# ---------------------------------------------------------------- source, model, settings

def source_picker() -> tuple[str, Optional[str]]:
    """The imagery source; Earth Engine is marked unavailable (with why) when its self-test fails."""
    ss = st.session_state
    readiness = {name: ui.source_readiness(name) for name in ("demo", "earthengine")}

    def label(name: str) -> str:
        text = state.SOURCE_LABELS[name]
        if name in readiness and not readiness[name][0]:
            text += " - not available"
        return text

    if ss.get(state.SOURCE) not in state.SOURCES:
        ss[state.SOURCE] = "demo"
    name = st.selectbox("Imagery source", state.SOURCES, format_func=label, key=state.SOURCE)
    ready, message = readiness.get(name, (True, "Scene GeoTIFFs you upload below."))
    if not ready:
        problem = f"{state.SOURCE_LABELS[name]} cannot be used now. {message}"
        st.error(problem, icon=":material/cloud_off:")
        return name, problem
    st.caption(message)
    return name, None


def _save_upload(up) -> str:
    data = up.getvalue()
    folder = state.results_root() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()[:20]}{Path(up.name).suffix.lower() or '.tif'}"
    if not path.exists():
        tmp = path.with_name(path.name + ".partial")
        tmp.write_bytes(data)
        tmp.replace(path)
    return str(path)


def local_files() -> dict[str, Optional[str]]:
    """Uploads of a 'before' and an 'after' scene GeoTIFF (and an optional DEM)."""
    st.markdown("**Local scene files** (GeoTIFF, bands B1..B12 and elevation, projected CRS in metres)")
    c1, c2, c3 = st.columns(3)
    pre = c1.file_uploader("Before (scene GeoTIFF)", type=["tif", "tiff"], key="w_local_pre")
    post = c2.file_uploader("After (scene GeoTIFF)", type=["tif", "tiff"], key="w_local_post")
    dem = c3.file_uploader("DEM (optional)", type=["tif", "tiff"], key="w_local_dem")
    paths = {"pre_path": _save_upload(pre) if pre else None,
             "post_path": _save_upload(post) if post else None,
             "dem_path": _save_upload(dem) if dem else None}
    if paths["post_path"]:
        # The analysis runs on the 'after' file's grid: its extent becomes the area (once per file).
        ss = st.session_state
        sig = state.signature(paths["post_path"])
        if ss.get("local_extent_seen") != sig:
            ss["local_extent_seen"] = sig
            try:
                state.set_aoi(ui.file_extent_aoi(paths["post_path"]), f"Extent of the 'after' file {post.name}")
            except UserError as exc:
                ss[state.AOI_ERROR] = f"The 'after' file was not used: {exc}"
            st.rerun()
    else:
        st.info("Upload the 'before' and 'after' scenes; the area becomes the 'after' file's extent.")
    return paths


def model_picker():
    """The model to run; returns (ModelEntry or None, problem or None)."""
    ss = st.session_state
    entries = ui.list_model_entries()
    if not entries:
        problem = (f"No model found in {state.models_dir()}. Train one on the Training page, or put a "
                   "model's .json card and .safetensors weights in that folder.")
        st.error(problem, icon=":material/error:")
        return None, problem
    paths = [str(e.path) for e in entries]
    if ss.get(state.MODEL) not in paths:
        ss[state.MODEL] = paths[0]
    by_path = {str(e.path): e for e in entries}
    chosen = st.selectbox("Model", paths, format_func=lambda p: by_path[p].label, key=state.MODEL)
    entry = by_path[chosen]
    card = entry.card
    bits = [f"trained on {card.trained_on}" if card.trained_on else None]
    for k in ("f1", "iou", "val_f1", "test_f1"):
        if isinstance(card.metrics, dict) and k in card.metrics:
            try:
                bits.append(f"{k} {float(card.metrics[k]):.3f}")
            except (TypeError, ValueError):
                pass
    st.caption(" · ".join(b for b in bits if b) or card.architecture)
    return entry, None


def advanced_settings(model_entry) -> Any:
    """Threshold, overlap and composite; returns DetectionOptions."""
    from landslide_core.detection import DetectionOptions
    from landslide_core.sources.request import COMPOSITES

    ss = st.session_state
    card_threshold = float(model_entry.card.threshold) if model_entry is not None else 0.5
    if ss.get(state.THRESHOLD) is None:
        ss[state.THRESHOLD] = round(card_threshold, 2)
    if ss.get(state.COMPOSITE) not in COMPOSITES:
        ss[state.COMPOSITE] = COMPOSITES[0]
    with st.expander("Advanced settings"):
        c1, c2, c3 = st.columns(3)
        c1.slider("Threshold (probability)", min_value=0.05, max_value=0.95, step=0.01, key=state.THRESHOLD,
                  help=f"Pixels at or above this probability are landslide. The model's own: {card_threshold:.2f}. "
                       "It can also be changed afterwards on the Compare page without running the model.")
        c2.number_input("Window overlap (px)", min_value=0, max_value=256, step=8, key=state.OVERLAP,
                        help="Overlap between the model's sliding windows; blended to hide seams.")
        c3.selectbox("Composite", COMPOSITES, key=state.COMPOSITE,
                     format_func=lambda c: {"least_cloudy": "Least cloudy date", "median": "Cloud-masked median"}.get(c, c),
                     help="How each window becomes one image.")
    return DetectionOptions(threshold=float(ss[state.THRESHOLD]), overlap_px=int(ss[state.OVERLAP]))


def build_request():
    """The AnalysisRequest of the current inputs, validated (InputError otherwise)."""
    from landslide_core.sources.request import AnalysisRequest, DateWindow

    ss = st.session_state
    aoi = ss.get(state.AOI)
    if not aoi:
        raise InputError("No area of interest.", "Draw one on the map, upload a file or use the demo event.")
    request = AnalysisRequest(
        aoi=aoi,
        pre=DateWindow.parse(ss.get(state.PRE_START), ss.get(state.PRE_END), "'before' window"),
        post=DateWindow.parse(ss.get(state.POST_START), ss.get(state.POST_END), "'after' window"),
        cloud_limit_pct=float(ss.get(state.CLOUD_LIMIT, state.DEFAULT_CLOUD_LIMIT_PCT)),
        composite=str(ss.get(state.COMPOSITE) or "least_cloudy"),
    )
    request.validate()
    return request


# ---------------------------------------------------------------- scenes chart

@st.cache_data(ttl=600, show_spinner="Listing the scenes of each window...")
def _scene_rows(source_name: str, request_json: dict, local_items: tuple) -> tuple[list[dict], dict[str, str]]:
    """Scenes of both windows, each marked chosen / usable / over the limit, and for a window
    with no usable scene the source's message (what was found, what to do)."""
    from landslide_core.sources.request import AnalysisRequest, DateWindow
    from landslide_core.sources.selection import choose_least_cloudy, under_limit

    req = AnalysisRequest(aoi=request_json["aoi"], pre=DateWindow.parse(*request_json["pre"]),
                          post=DateWindow.parse(*request_json["post"]),
                          cloud_limit_pct=request_json["cloud_limit_pct"], composite=request_json["composite"])
    source = ui.make_source(source_name, dict(local_items) if local_items else None)
    limit = float(req.cloud_limit_pct)
    rows, problems = [], {}
    for label, window in (("before", req.pre), ("after", req.post)):
        listings = source.list_scenes(req, window)
        usable_ids = {s.scene_id for s in under_limit(listings, limit)}
        chosen_ids: set[str] = set()
        try:
            chosen_ids = set(choose_least_cloudy(listings, limit, window, source_name).scene_ids)
        except UserError as exc:
            problems[label] = str(exc)
        for s in listings:
            status = ("chosen" if s.scene_id in chosen_ids else
                      "under the limit" if s.scene_id in usable_ids else "over the limit")
            rows.append({"window": label, "date": s.date.isoformat(), "scene_id": s.scene_id,
                         "aoi_cloud_pct": s.aoi_cloud_pct, "scene_cloud_pct": s.scene_cloud_pct,
                         "aoi_coverage_pct": s.aoi_coverage_pct, "status": status})
    return rows, problems


def scenes_chart(source_name: str, request, local_paths: Optional[dict]) -> None:
    """Date against cloud % inside the AOI for each window, before anything is fetched; the
    date each window would use is a star."""
    import plotly.express as px

    if source_name == "local" and not (local_paths and local_paths.get("pre_path") and local_paths.get("post_path")):
        return
    with st.expander("Scenes available in each window", expanded=True):
        try:
            rows, problems = _scene_rows(source_name, request.normalised(),
                                         tuple(sorted((local_paths or {}).items())))
        except Exception as exc:  # noqa: BLE001 - UserError or not, shown as a message
            show_error(exc)
            return
        for label, message in problems.items():
            st.warning(f"'{label.capitalize()}' window: {message}", icon=":material/cloud:")
        if not rows:
            return
        fig = px.scatter(rows, x="date", y="aoi_cloud_pct", color="window", symbol="status",
                         hover_data=["scene_id", "scene_cloud_pct", "aoi_coverage_pct"],
                         labels={"date": "Acquisition date", "aoi_cloud_pct": "Cloud inside the area (%)",
                                 "window": "Window", "status": "Scene"},
                         color_discrete_map={"before": "#2b7bba", "after": "#b5442c"},
                         symbol_map={"chosen": "star", "under the limit": "circle", "over the limit": "x"})
        fig.update_traces(marker={"size": 12})
        fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 30, "b": 10}, yaxis_range=[-3, 103])
        st.plotly_chart(fig, key="scenes_chart")
        chosen = {r["window"]: r["date"] for r in rows if r["status"] == "chosen"}
        st.caption(f"Scenes with up to {float(request.cloud_limit_pct):.0f} % cloud qualify; the star is the "
                   f"date each window uses (before: {chosen.get('before', 'none')}, "
                   f"after: {chosen.get('after', 'none')}).")


# ---------------------------------------------------------------- running

def run_analysis_work(request, source, model_path, options, results_root=None, progress=None, cancel=None,
                      loaded_model=None):
    """The job's work (runs in the background thread; no Streamlit calls)."""
    from landslide_core.analysis import run_analysis

    return run_analysis(request, source, model_path, options, results_root, progress=progress, cancel=cancel,
                        loaded_model=loaded_model)


STAGE_LABELS = {"fetch pre": "Fetch the 'before' scene", "fetch post": "Fetch the 'after' scene",
                "detect pre": "Detect landslides before", "detect post": "Detect landslides after",
                "change": "Map the change"}


def job_panel(job) -> None:
    """Progress of the running analysis (refreshed twice a second) with Cancel; then its result."""

    @st.fragment(run_every=0.5 if job.running else None)
    def panel() -> None:
        ss = st.session_state
        current = ss.get(state.JOB)
        if current is None:
            return
        if current.running:
            st.progress(current.fraction(), text=f"{STAGE_LABELS.get(current.stage, 'Starting')}... "
                                                  f"({current.elapsed_s:.0f} s)")
            lines = []
            for stage in STAGES:
                if stage in current.stages_done:
                    mark = ":material/check_circle:"
                elif stage == current.stage:
                    mark = ":material/pending:"
                else:
                    mark = ":material/radio_button_unchecked:"
                lines.append(f"{mark} {STAGE_LABELS[stage]}")
            st.markdown("  \n".join(lines))
            if current.token.cancelled:
                st.warning("Cancelling after the current step...")
            elif st.button("Cancel", key="btn_cancel", icon=":material/cancel:"):
                current.cancel()
                st.warning("Cancelling after the current step...")
            return
        if not getattr(current, "shown", False):
            current.shown = True
            st.rerun()  # the whole page, so everything sees the result
        show_job_result(current)

    panel()


def show_job_result(job) -> None:
    ss = st.session_state
    if job.error is not None:
        show_error(job.error)
        if isinstance(job.error, Cancelled):
            st.caption("Scenes already fetched stay in the cache: running again continues from there.")
        return
    result = job.result
    ss[state.RESULT_FOLDER] = str(result.folder)
    change = (result.summary or {}).get("change", {})
    if result.from_cache:
        st.info(f"Same request as before: the result came from the cache in {job.elapsed_s:.2f} s.",
                icon=":material/bolt:")
    else:
        st.success(f"Analysis finished in {result.elapsed_s:.1f} s.", icon=":material/check_circle:")
    c = st.columns(4)
    c[0].metric("New landslides", f"{int(change.get('new_count', 0))}")
    c[1].metric("New (ha)", f"{float(change.get('new_ha', 0.0)):,.2f}")
    c[2].metric("Persisting (ha)", f"{float(change.get('persisting_ha', 0.0)):,.2f}")
    c[3].metric("Not assessable (ha)", f"{float(change.get('not_assessable_ha', 0.0)):,.2f}")
    ui.page_link("pages/2_Compare.py", "Compare before and after", ":material/compare:")
