"""The Watchlist page's parts, "Watch this area" on the Monitor page, and result links.

The watchlist itself lives in ``landslide_core.watch``; here are only widgets and calls.
"""
from __future__ import annotations

import datetime as dt
import functools
import math
import re
from pathlib import Path
from typing import Any, Optional

import streamlit as st

from landslide_core.errors import UserError

from . import history, jobs, maps, state, ui
from .errors import show_error
from .i18n import t
from .job_panel import job_panel

# --- session keys of the watchlist (not widgets kept across pages) ---
CHECK_JOB = "watch_check_job"       # dashboard.jobs.AnalysisJob of the running/last "Check now"
SELECTED = "w_watch_area"           # the area chosen on the Watchlist page
WATCH_PAGE = "pages/5_Watchlist.py"
COMPARE_PAGE = "pages/2_Compare.py"

#: Colour of an area by its last check (map and legend); its words: watch.status.<key>.
STATUS_COLOURS = {
    "alert": ("#d7301f", "new landslides (alert)"),
    "ok": ("#2ca25f", "checked: nothing over the alert rule"),
    "no_new_scene": ("#6a8caf", "no new clear scene"),
    "failed": ("#f28e2b", "last check failed"),
    "never": ("#9e9e9e", "not checked yet"),
}


def status_text(key: str) -> str:
    return t(f"watch.status.{key}")
CADENCES = ("5d", "10d", "15d", "1w", "2w", "30d")


@st.cache_resource(show_spinner=False)
def _store(url: str):
    from landslide_core.watch.store import WatchStore

    return WatchStore(url)


def store():
    """The watchlist database of this server (LANDSLIDE_DB_URL or SQLite in the data folder)."""
    from landslide_core.watch.config import default_db_url

    return _store(default_db_url())


def status_key(area, last) -> str:
    if last is None:
        return "never"
    if last.status == "ok":
        return "alert" if area.rule.passes(last.new_count, last.new_ha) else "ok"
    return last.status if last.status in STATUS_COLOURS else "failed"


def legend() -> str:
    return ('<div style="font-size:0.9rem">' + "".join(
        f'<span style="display:inline-block;width:0.9em;height:0.9em;margin:0 0.3em 0 0.9em;vertical-align:middle;'
        f'border:1px solid #555;background:{colour}"></span>{status_text(key)}'
        for key, (colour, _) in STATUS_COLOURS.items()) + "</div>")


def areas_map(areas: list, last: dict, basemaps: bool) -> None:
    """All areas on one map, coloured by their last status."""
    import folium
    from shapely.geometry import shape
    from shapely.ops import unary_union
    from streamlit_folium import st_folium

    from . import offline_assets

    union = unary_union([shape(a.geometry) for a in areas])
    west, south, east, north = union.bounds
    m = maps.new_map([(south + north) / 2, (west + east) / 2], zoom=10, basemaps=basemaps)
    for a in areas:
        c = last.get(a.id)
        key = status_key(a, c)
        colour = STATUS_COLOURS[key][0]
        detail = (t("watch.found", count=c.new_count, ha=f"{c.new_ha:.2f}") if c is not None and c.status == "ok"
                  else status_text(key))
        folium.GeoJson({"type": "Feature", "geometry": a.geometry, "properties": {"name": a.name, "status": detail}},
                       name=a.name, style_function=functools.partial(_style, colour),
                       tooltip=folium.GeoJsonTooltip(fields=["name", "status"],
                                                     aliases=[t("watch.area"), t("watch.last_check")])).add_to(m)
    pad = 0.01
    m.fit_bounds([[south - pad, west - pad], [north + pad, east + pad]])
    folium.LayerControl(collapsed=True).add_to(m)
    offline_assets.localize(m)
    st_folium(m, height=380, use_container_width=True, returned_objects=[], key="watch_map")
    st.html(legend())


def _style(colour: str, _feature: Any) -> dict:
    return {"color": colour, "weight": 3, "fill": True, "fillColor": colour, "fillOpacity": 0.35}


def _when(value: Optional[dt.datetime]) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def areas_table(areas: list, last: dict) -> None:
    """Last check, its finding, next due, per area."""
    rows = []
    for a in areas:
        c = last.get(a.id)
        key = status_key(a, c)
        rows.append({
            t("watch.col.area"): a.name, t("watch.col.every"): a.cadence_text, t("watch.col.source"): a.source,
            t("watch.col.last"): _when(c.finished_at) if c else t("watch.never"),
            t("watch.col.status"): status_text(key) if c is None or c.status != "ok" else t("watch.ok"),
            t("watch.col.new_count"): c.new_count if c is not None and c.status == "ok" else None,
            t("watch.col.new_ha"): round(c.new_ha, 2) if c is not None and c.status == "ok" else None,
            t("watch.col.next"): _when(a.next_due_at) if a.next_due_at else t("watch.now"),
            t("watch.col.alerts"): ", ".join(str(ch) for ch in a.channels) or "-",
        })
    st.dataframe(rows, hide_index=True, width="stretch")


def timeline_figure(area, checks: list):
    """New hectares (line) and count (bars) per check, over time; other checks as grey marks.
    Each point's customdata is the check's result folder (or '')."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(specs=[[{"secondary_y": True}]])
    ok = [c for c in checks if c.status == "ok"]
    other = [c for c in checks if c.status != "ok"]
    hover = "%{x|%Y-%m-%d %H:%M}<br>%{text}<extra></extra>"
    times = sorted(c.finished_at for c in checks)
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:]) if b > a]
    bar_ms = 1000 * max(3600.0, 0.6 * min([area.cadence_s] + gaps))
    if ok:
        x = [c.finished_at for c in ok]
        text = [t("watch.point", baseline=c.baseline_date, scene=c.scene_date, count=c.new_count, ha=f"{c.new_ha:.2f}")
                for c in ok]
        folders = [c.result_folder or "" for c in ok]
        fig.add_trace(go.Bar(x=x, y=[c.new_count for c in ok], name=t("watch.chart.count"), opacity=0.35,
                             marker_color="#b5442c", customdata=folders, text=text, hovertemplate=hover,
                             textposition="none", width=[bar_ms] * len(ok)), secondary_y=True)
        fig.add_trace(go.Scatter(x=x, y=[c.new_ha for c in ok], name=t("watch.chart.ha"), mode="lines+markers",
                                 marker={"size": 14, "color": "#d7301f"}, line={"color": "#d7301f"},
                                 customdata=folders, text=text, hovertemplate=hover), secondary_y=False)
    if other:
        fig.add_trace(go.Scatter(x=[c.finished_at for c in other], y=[0.0] * len(other), mode="markers",
                                 name=t("watch.chart.other"), customdata=[""] * len(other),
                                 marker={"size": 11, "symbol": "x", "color": "#6a8caf"},
                                 text=[f"{status_text(c.status if c.status in STATUS_COLOURS else 'failed')}: "
                                       f"{(c.reason or '')[:120]}" for c in other],
                                 hovertemplate=hover), secondary_y=False)
    if area.rule.min_ha is not None:
        fig.add_hline(y=area.rule.min_ha, line_dash="dot", line_color="#888",
                      annotation_text=t("watch.chart.alert_at", ha=f"{area.rule.min_ha:g}"),
                      annotation_position="top left")
    pad = max(area.cadence, dt.timedelta(days=2))
    fig.update_xaxes(type="date", range=[times[0] - pad, times[-1] + pad], tickformat="%Y-%m-%d")
    fig.update_yaxes(title_text=t("watch.chart.ha"), rangemode="tozero", secondary_y=False)
    top = max([int(c.new_count or 0) for c in ok] + [1])
    fig.update_yaxes(title_text=t("watch.chart.count_axis"), range=[0, top * 1.15], dtick=max(1, math.ceil(top / 5)), secondary_y=True,
                     showgrid=False)
    fig.update_layout(height=340, margin={"l": 10, "r": 10, "t": 30, "b": 10}, clickmode="event+select",
                      legend={"orientation": "h", "y": -0.2})
    return fig


def open_in_compare(folder: str) -> None:
    history.remember(folder)  # opened on purpose: this session's from now on
    st.switch_page(COMPARE_PAGE)


def timeline(area, checks: list) -> None:
    """The area's time line; a click on a point opens that check in Compare."""
    if not checks:
        st.info(t("watch.not_checked"), icon=":material/schedule:")
        return
    event = st.plotly_chart(timeline_figure(area, checks), key=f"watch_timeline_{area.id}", on_select="rerun",
                            selection_mode="points")
    points = ((event or {}).get("selection") or {}).get("points") or []
    folders = [p.get("customdata") for p in points if p.get("customdata")]
    folders = [f[0] if isinstance(f, (list, tuple)) else f for f in folders]
    if folders and (Path(folders[0]) / "done.json").is_file():
        open_in_compare(str(folders[0]))
    with_results = [c for c in reversed(checks) if c.status == "ok" and c.result_folder]
    if with_results:
        c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
        labels = {c.result_folder: t("watch.check_label", when=_when(c.finished_at), baseline=c.baseline_date,
                                     scene=c.scene_date, count=c.new_count, ha=f"{c.new_ha:.2f}")
                  for c in with_results}
        chosen = c1.selectbox(t("watch.open_check"), list(labels), format_func=labels.get,
                              key=f"watch_open_{area.id}")
        if c2.button(t("watch.open_in_compare"), key=f"watch_open_btn_{area.id}", icon=":material/compare:"):
            if (Path(chosen) / "done.json").is_file():
                open_in_compare(chosen)
            else:
                st.error(t("watch.result_gone", folder=chosen), icon=":material/error:")


# ----------------------------------------------------------------------------- Check now
def _check_work(name: str, progress=None, cancel=None):
    """The job's work: one check of ``name`` (runs in the background thread; no Streamlit)."""
    from landslide_core.watch.runner import WatchRunner

    return WatchRunner(store(), cancel=cancel, analysis_progress=progress).check_now(name)


def check_now(area) -> None:
    """The "Check now" button: one check of the area in the background."""
    ss = st.session_state
    job = ss.get(CHECK_JOB)
    busy = job is not None and job.running
    if st.button(t("watch.check_now"), type="primary", disabled=busy, key="btn_check_now", icon=":material/radar:",
                 help=t("watch.check_now_help")):
        ss[CHECK_JOB] = jobs.AnalysisJob(functools.partial(_check_work, area.name),
                                         description=area.name).start()


def check_result() -> None:
    """The running or finished "Check now" (progress, then what it found)."""
    if st.session_state.get(CHECK_JOB) is not None:
        _check_panel()


def _check_panel() -> None:
    def show_outcome(job) -> None:
        outcome = job.result
        if outcome.status == "ok":
            c = outcome.check
            st.success(t("watch.done_ok", count=c.new_count, ha=f"{c.new_ha:.2f}", baseline=c.baseline_date,
                         scene=c.scene_date), icon=":material/check_circle:")
        elif outcome.status == "no_new_scene":
            st.info(t("watch.done_no_scene", note=outcome.note), icon=":material/cloud:")
        elif outcome.status == "skipped":
            st.warning(t("watch.done_skipped", note=outcome.note), icon=":material/hourglass:")
        else:
            st.error(t("watch.done_failed", note=outcome.note), icon=":material/error:")

    # when the check ends the whole page reruns: its table and time line show the new check
    job_panel(CHECK_JOB, lambda job: t("watch.checking", area=job.description, seconds=f"{job.elapsed_s:.0f}"),
              show_outcome)


def remove_area(area) -> None:
    with st.popover(t("watch.remove"), icon=":material/delete:"):
        st.markdown(t("watch.remove_question", area=area.name))
        if st.button(t("watch.remove_area"), key=f"watch_remove_{area.id}", type="primary"):
            store().remove_area(area.name)
            st.session_state.pop(SELECTED, None)
            st.rerun()


# ----------------------------------------------------------------------------- Monitor: watch this area
def watch_this_area(request, source_name: str, model_entry, options, problems: list[str]) -> None:
    """An expander on the Monitor page: add the current area, its 'before' window (the baseline),
    cloud limit, source, model and settings to the watchlist."""
    with st.expander(t("watch.expander"), icon=":material/visibility:"):
        st.caption(t("watch.expander_caption"))
        c1, c2, c3 = st.columns([3, 1, 1])
        name = c1.text_input(t("watch.name"), key="w_watch_name", placeholder=t("watch.name_placeholder"))
        every = c2.selectbox(t("watch.every"), CADENCES, key="w_watch_every")
        alert_ha = c3.number_input(t("watch.alert_ha"), min_value=0.0, value=1.0, step=0.5, key="w_watch_alert_ha")
        c4, c5 = st.columns(2)
        webhook = c4.text_input(t("watch.webhook"), key="w_watch_webhook")
        email = c5.text_input(t("watch.email"), key="w_watch_email")
        if st.button(t("watch.add"), key="btn_watch", icon=":material/add_alert:"):
            if request is None or model_entry is None or problems:
                st.error(t("watch.cannot_add", problems=" ".join(problems) or t("monitor.incomplete")),
                         icon=":material/error:")
                return
            try:
                from landslide_core.watch.areas import new_area
                from landslide_core.watch.records import utc_now

                new = new_area(name, request.aoi, every=every, cloud_limit_pct=request.cloud_limit_pct,
                               alert_ha=alert_ha, webhooks=[webhook] if webhook.strip() else [],
                               emails=[email] if email.strip() else [], source=source_name, model=model_entry.path,
                               baseline=request.pre,
                               detection_options={"threshold": options.threshold, "overlap_px": options.overlap_px})
                area = store().add_area(new, utc_now())
            except UserError as exc:
                show_error(exc)
                return
            except Exception as exc:  # noqa: BLE001 - shown as a message, logged
                show_error(exc)
                return
            st.session_state[SELECTED] = area.name
            st.success(t("watch.added", area=area.name, every=area.cadence_text), icon=":material/check_circle:")
            ui.page_link(WATCH_PAGE, t("watch.open_watchlist"), ":material/visibility:")


# ----------------------------------------------------------------------------- links from alerts
_KEY_RE = re.compile(r"^[0-9a-f]{8,64}$")


def open_linked_result() -> None:
    """``/Compare?result=KEY`` (the link in an alert) opens that analysis."""
    key = st.query_params.get("result")
    if not key:
        return
    if _KEY_RE.match(str(key)):
        folder = Path(state.results_root()) / str(key)
        if (folder / "done.json").is_file():
            history.remember(folder)  # opened on purpose (a link): this session's from now on
        else:
            st.warning(t("watch.link_missing", key=key), icon=":material/link_off:")
    del st.query_params["result"]
