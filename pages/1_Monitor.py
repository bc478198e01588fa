"""Monitor: choose an area and two date windows, then run the analysis."""
from __future__ import annotations

import functools

import streamlit as st

from dashboard import aoi_inputs, jobs, local_files, run_panel, state, ui, watchlist, widgets
from dashboard.errors import error_text, show_error
from dashboard.i18n import t
from landslide_core.errors import UserError

ui.page_setup("Monitor")
ss = st.session_state
run_panel.remember_finished()

st.title(t("monitor.title"))
st.caption(t("monitor.caption"))

# ---------------------------------------------------------------- area of interest
st.subheader(t("monitor.area"))
st.toggle(t("monitor.basemaps"), key=state.BASEMAPS, help=t("monitor.basemaps_help"))
map_area = st.container()  # filled below, after the inputs have had their say

col_inputs, col_status = st.columns([3, 2], gap="medium")
with col_inputs:
    tab_draw, tab_upload, tab_bbox, tab_demo = st.tabs([t("monitor.tab.draw"), t("monitor.tab.upload"),
                                                         t("monitor.tab.bbox"), t("monitor.tab.demo")])
    with tab_draw:
        st.markdown(t("monitor.draw_help"))
    with tab_upload:
        aoi_inputs.aoi_upload()
    with tab_bbox:
        aoi_inputs.aoi_bbox()
    with tab_demo:
        st.markdown(t("monitor.demo_text"))
        st.button(t("monitor.use_demo"), on_click=state.use_demo_event, key="btn_demo")
with col_status:
    if ss.get(state.AOI_ERROR):
        st.error(ss[state.AOI_ERROR], icon=":material/error:")
    aoi_problem = aoi_inputs.aoi_status(ss.get(state.AOI))
with map_area:
    aoi_inputs.aoi_draw_map(ss.get(state.AOI))

# ---------------------------------------------------------------- dates and settings
st.subheader(t("monitor.dates"))
c_pre, c_post = st.columns(2, gap="medium")
for col, label, start_key, end_key in ((c_pre, t("monitor.before"), state.PRE_START, state.PRE_END),
                                       (c_post, t("monitor.after"), state.POST_START, state.POST_END)):
    with col:
        st.markdown(f"**{label}**")
        st.date_input(t("monitor.from"), key=start_key, format="YYYY-MM-DD")
        st.date_input(t("monitor.to"), key=end_key, format="YYYY-MM-DD")
c_cloud, c_source = st.columns(2, gap="medium")
with c_cloud:
    st.slider(t("monitor.cloud_limit"), min_value=0.0, max_value=100.0, step=1.0, key=state.CLOUD_LIMIT,
              format="%.0f", help=t("monitor.cloud_limit_help"))
with c_source:
    source_name, source_problem = widgets.source_picker()

local_paths = None
if source_name == "local":
    local_paths, local_problem = local_files.local_files()
    source_problem = source_problem or local_problem
model_entry, model_problem = widgets.model_picker()
options = widgets.advanced_settings(model_entry)

problems: list[str] = [p for p in (aoi_problem, source_problem, model_problem) if p]
request = None
if not aoi_problem:
    try:
        request = widgets.build_request()
    except UserError as exc:
        problems.append(error_text(exc))
        st.error(error_text(exc), icon=":material/error:")

# ---------------------------------------------------------------- scenes per window
if request is not None and not source_problem:
    widgets.scenes_chart(source_name, request, local_paths)

# ---------------------------------------------------------------- run
st.subheader(t("monitor.run_title"))
inputs_key = run_panel.inputs_key(request, source_name, local_paths,
                                  model_entry.path if model_entry is not None else None, options)
if run_panel.drop_stale_job(inputs_key):
    st.caption(t("monitor.inputs_changed"))
job = ss.get(state.JOB)
busy = job is not None and job.running
clicked = st.button(t("monitor.run"), type="primary", disabled=busy, key="btn_run", help=t("monitor.run_help"))
if clicked and busy:
    st.warning(t("monitor.already_running"))
elif clicked:
    if problems or request is None:
        st.error(t("monitor.cannot_start", problems=" ".join(problems) if problems else t("monitor.incomplete")),
                 icon=":material/error:")
    else:
        try:
            source = ui.make_source(source_name, local_paths)
            model = ui.loaded_model(str(model_entry.path), model_entry.card.weights_sha256)
            work = functools.partial(widgets.run_analysis_work, request, source, model_entry.path, options,
                                     loaded_model=model)
            ss[state.JOB] = jobs.AnalysisJob(work, description=ss.get(state.AOI_LABEL) or t("monitor.analysis"),
                                             inputs_key=inputs_key).start()
            job = ss[state.JOB]
        except UserError as exc:
            show_error(exc)
        except Exception as exc:  # noqa: BLE001 - shown as a message, logged
            show_error(exc)

if job is not None:
    run_panel.job_panel(job)

# ---------------------------------------------------------------- watch over time
watchlist.watch_this_area(request, source_name, model_entry, options, problems)
