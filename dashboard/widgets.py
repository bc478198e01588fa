"""The Monitor page's widget groups: source, model, settings, the request and its scenes.

The area inputs are in :mod:`dashboard.aoi_inputs`, uploaded scene files in
:mod:`dashboard.local_files`, the run and its result in :mod:`dashboard.run_panel`.
"""
from __future__ import annotations

from typing import Any, Optional

import streamlit as st

from landslide_core.errors import InputError, UserError
from landslide_core.i18n import user_error

from . import object_settings, state, ui
from .errors import error_text, show_error
from .i18n import lang as ui_lang
from .i18n import t

# ---------------------------------------------------------------- source, model, settings

def source_picker() -> tuple[str, Optional[str]]:
    """The imagery source; Earth Engine is marked unavailable (with why) when its self-test fails."""
    ss = st.session_state
    readiness = {name: ui.source_readiness(name) for name in ("demo", "earthengine")}

    def label(name: str) -> str:
        text = state.source_label(name)
        if name in readiness and not readiness[name][0]:
            text += t("monitor.not_available")
        return text

    if ss.get(state.SOURCE) not in state.SOURCES:
        ss[state.SOURCE] = "demo"
    name = st.selectbox(t("monitor.source"), state.SOURCES, format_func=label, key=state.SOURCE)
    ready, message = readiness.get(name, (True, ""))
    message = ui.readiness_text(name, ready, message)
    if not ready:
        problem = t("monitor.source_unusable", source=state.source_label(name), message=message)
        st.error(problem, icon=":material/cloud_off:")
        return name, problem
    st.caption(message[:1].upper() + message[1:])
    return name, None


def model_picker():
    """The model to run; returns (ModelEntry or None, problem or None)."""
    ss = st.session_state
    entries = ui.list_model_entries()
    if not entries:
        problem = t("home.no_model", folder=str(state.models_dir()))
        st.error(problem, icon=":material/error:")
        return None, problem
    paths = [str(e.path) for e in entries]
    if ss.get(state.MODEL) not in paths:
        ss[state.MODEL] = paths[0]
    by_path = {str(e.path): e for e in entries}
    chosen = st.selectbox(t("monitor.model"), paths, format_func=lambda p: by_path[p].label, key=state.MODEL)
    entry = by_path[chosen]
    card = entry.card
    # The card's own words (trained_on) are in the language it was written in: shown in
    # English only; other languages get what it was trained on in their words.
    if card.trained_on and ui_lang() == "en":
        bits = [f"trained on {card.trained_on}"]
    elif card.trained_on:
        bits = [t("monitor.model_synthetic") if "synthetic" in card.trained_on.lower() else t("monitor.model_card")]
    else:
        bits = []
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
    with st.expander(t("monitor.advanced")):
        c1, c2, c3 = st.columns(3)
        c1.slider(t("monitor.threshold"), min_value=0.05, max_value=0.95, step=0.01, key=state.THRESHOLD,
                  help=t("monitor.threshold_help", threshold=f"{card_threshold:.2f}"))
        c2.number_input(t("monitor.overlap"), min_value=0, max_value=256, step=8, key=state.OVERLAP,
                        help=t("monitor.overlap_help"))
        c3.selectbox(t("monitor.composite_label"), COMPOSITES, key=state.COMPOSITE,
                     format_func=lambda c: t(f"monitor.composite.{c}") if c in ("least_cloudy", "median") else c,
                     help=t("monitor.composite_help"))
        object_settings.widgets()
    return DetectionOptions(threshold=float(ss[state.THRESHOLD]), overlap_px=int(ss[state.OVERLAP]),
                            **object_settings.chosen())


def build_request():
    """The AnalysisRequest of the current inputs, validated (InputError otherwise)."""
    from landslide_core.sources.request import AnalysisRequest, DateWindow

    ss = st.session_state
    aoi = ss.get(state.AOI)
    if not aoi:
        raise user_error(InputError, "errors.no_aoi")
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

@st.cache_data(ttl=600, show_spinner=False)
def _scene_rows(source_name: str, request_json: dict, local_items: tuple) -> tuple[list[dict], dict[str, str]]:
    """Scenes of both windows, each marked chosen / usable / over the limit, and for a window
    with no usable scene the source's message (what was found, what to do)."""
    from landslide_core.sources.request import AnalysisRequest, DateWindow
    from landslide_core.sources.selection import dates_used, under_limit

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
            if req.composite == "median" and hasattr(source, "median_dates"):  # a source that caps the dates
                chosen_ids = {s.scene_id for s in source.median_dates(req, window)}
            else:
                chosen_ids = {i for c in dates_used(listings, limit, window, req.composite, source_name)
                              for i in c.scene_ids}
        except UserError as exc:
            problems[label] = exc
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
    with st.expander(t("monitor.scenes"), expanded=True):
        try:
            with st.spinner(t("monitor.scenes_listing")):
                rows, problems = _scene_rows(source_name, request.normalised(),
                                             tuple(sorted((local_paths or {}).items())))
        except Exception as exc:  # noqa: BLE001 - UserError or not, shown as a message
            show_error(exc)
            return
        for label, problem in problems.items():
            st.warning(t("monitor.window_problem", window=t(f"monitor.window.{label}"), message=error_text(problem)),
                       icon=":material/cloud:")
        if not rows:
            return
        # The plotted values in the session's language (legend and hover texts are visible text).
        windows = {w: t(f"monitor.window.{w}") for w in ("before", "after")}
        statuses = {s: t(f"monitor.status.{k}") for s, k in (("chosen", "chosen"), ("under the limit", "under"),
                                                            ("over the limit", "over"))}
        shown = [{**r, "window": windows[r["window"]], "status": statuses[r["status"]]} for r in rows]
        fig = px.scatter(shown, x="date", y="aoi_cloud_pct", color="window", symbol="status",
                         hover_data=["scene_id", "scene_cloud_pct", "aoi_coverage_pct"],
                         labels={"date": t("monitor.chart.date"), "aoi_cloud_pct": t("monitor.chart.cloud"),
                                 "window": t("monitor.chart.window"), "status": t("monitor.chart.scene"),
                                 "scene_id": t("monitor.chart.scene_id"),
                                 "scene_cloud_pct": t("monitor.chart.scene_cloud"),
                                 "aoi_coverage_pct": t("monitor.chart.coverage")},
                         color_discrete_map={windows["before"]: "#2b7bba", windows["after"]: "#b5442c"},
                         symbol_map={statuses["chosen"]: "star", statuses["under the limit"]: "circle",
                                     statuses["over the limit"]: "x"})
        fig.update_traces(marker={"size": 12})
        fig.update_xaxes(tickformat="%Y-%m-%d")  # numeric dates: no month names in one language
        fig.update_layout(height=340, margin={"l": 10, "r": 10, "t": 30, "b": 10}, yaxis_range=[-3, 103],
                          legend={"orientation": "h", "yanchor": "top", "y": -0.25, "x": 0})
        st.plotly_chart(fig, key="scenes_chart")
        limit = f"{float(request.cloud_limit_pct):.0f}"
        if request.composite == "median":
            used = {w: sum(1 for r in rows if r["window"] == w and r["status"] == "chosen") for w in ("before", "after")}
            st.caption(t("monitor.scenes_median", limit=limit, before=used["before"], after=used["after"]))
        else:
            chosen = {r["window"]: r["date"] for r in rows if r["status"] == "chosen"}
            st.caption(t("monitor.scenes_single", limit=limit, before=chosen.get("before", t("monitor.none")),
                         after=chosen.get("after", t("monitor.none"))))


# ---------------------------------------------------------------- running

def run_analysis_work(request, source, model_path, options, results_root=None, progress=None, cancel=None,
                      loaded_model=None):
    """The job's work (runs in the background thread; no Streamlit calls)."""
    from landslide_core.analysis import run_analysis

    return run_analysis(request, source, model_path, options, results_root, progress=progress, cancel=cancel,
                        loaded_model=loaded_model)
