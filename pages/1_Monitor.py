"""Monitor: choose an area and two date windows, then run the analysis."""
from __future__ import annotations

import functools

import streamlit as st

from dashboard import aoi_inputs, jobs, local_files, run_panel, state, ui, watchlist, widgets
from dashboard.errors import show_error
from landslide_core.errors import UserError

ui.page_setup("Monitor")
ss = st.session_state
run_panel.remember_finished()

st.title("Monitor an area")
st.caption("Choose the area, the dates before and after the event, then press **Run analysis**.")

# ---------------------------------------------------------------- area of interest
st.subheader("1. Area of interest")
st.toggle("Online basemaps (OpenStreetMap, satellite)", key=state.BASEMAPS,
          help="They need internet; when their tiles cannot be loaded the map says so. Off: the offline map "
               "of borders, rivers and towns, and nothing is requested from the internet. The analysis "
               "layers show either way.")
map_area = st.container()  # filled below, after the inputs have had their say

col_inputs, col_status = st.columns([3, 2], gap="medium")
with col_inputs:
    tab_draw, tab_upload, tab_bbox, tab_demo = st.tabs(["Draw", "Upload", "Bounding box", "Demo event"])
    with tab_draw:
        st.markdown("Use the **polygon** or **rectangle** tool at the top left of the map. "
                    "The last shape drawn becomes the area.")
    with tab_upload:
        aoi_inputs.aoi_upload()
    with tab_bbox:
        aoi_inputs.aoi_bbox()
    with tab_demo:
        st.markdown("A synthetic landslide event in the Peruvian Andes: runs offline, no account needed.")
        st.button("Use the demo event", on_click=state.use_demo_event, key="btn_demo")
with col_status:
    if ss.get(state.AOI_ERROR):
        st.error(ss[state.AOI_ERROR], icon=":material/error:")
    aoi_problem = aoi_inputs.aoi_status(ss.get(state.AOI))
with map_area:
    aoi_inputs.aoi_draw_map(ss.get(state.AOI))

# ---------------------------------------------------------------- dates and settings
st.subheader("2. Dates and settings")
c_pre, c_post = st.columns(2, gap="medium")
for col, label, start_key, end_key in ((c_pre, "Before the event", state.PRE_START, state.PRE_END),
                                       (c_post, "After the event", state.POST_START, state.POST_END)):
    with col:
        st.markdown(f"**{label}**")
        st.date_input("From", key=start_key, format="YYYY-MM-DD")
        st.date_input("To", key=end_key, format="YYYY-MM-DD")
c_cloud, c_source = st.columns(2, gap="medium")
with c_cloud:
    st.slider("Cloud limit (%)", min_value=0.0, max_value=100.0, step=1.0, key=state.CLOUD_LIMIT, format="%.0f",
              help="Scenes with more cloud than this are skipped; of the rest, the date with the "
                   "clearest view of the area is used (or, for a median, all of them).")
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
        problems.append(str(exc))
        st.error(str(exc), icon=":material/error:")

# ---------------------------------------------------------------- scenes per window
if request is not None and not source_problem:
    widgets.scenes_chart(source_name, request, local_paths)

# ---------------------------------------------------------------- run
st.subheader("3. Run")
inputs_key = run_panel.inputs_key(request, source_name, local_paths,
                                  model_entry.path if model_entry is not None else None, options)
if run_panel.drop_stale_job(inputs_key):
    st.caption("The inputs changed since the last analysis: its result left this page (it stays under "
               "your analyses on the Home page). Press **Run analysis** for the new inputs.")
job = ss.get(state.JOB)
busy = job is not None and job.running
clicked = st.button("Run analysis", type="primary", disabled=busy, key="btn_run",
                    help="Fetch both dates, detect landslides and map the change.")
if clicked and busy:
    st.warning("An analysis is already running: wait for it or cancel it first.")
elif clicked:
    if problems or request is None:
        st.error("The analysis cannot start yet: "
                 + (" ".join(problems) if problems else "the inputs above are incomplete."),
                 icon=":material/error:")
    else:
        try:
            source = ui.make_source(source_name, local_paths)
            model = ui.loaded_model(str(model_entry.path), model_entry.card.weights_sha256)
            work = functools.partial(widgets.run_analysis_work, request, source, model_entry.path, options,
                                     loaded_model=model)
            ss[state.JOB] = jobs.AnalysisJob(work, description=ss.get(state.AOI_LABEL) or "analysis",
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
