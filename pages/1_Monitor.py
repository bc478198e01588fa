"""Monitor: choose an area and two date windows, then run the analysis."""
from __future__ import annotations

import functools

import streamlit as st

from dashboard import jobs, state, ui, watchlist, widgets
from dashboard.errors import show_error
from landslide_core.errors import UserError

ui.page_setup("Monitor")
ss = st.session_state

st.title("Monitor an area")
st.caption("Choose the area, the dates before and after the event, then press **Run analysis**.")

# ---------------------------------------------------------------- area of interest
st.subheader("1. Area of interest")
col_map, col_inputs = st.columns([3, 2], gap="medium")

with col_inputs:
    tab_draw, tab_upload, tab_bbox, tab_demo = st.tabs(["Draw", "Upload", "Bounding box", "Demo event"])
    with tab_draw:
        st.markdown("Use the **polygon** or **rectangle** tool at the top left of the map. "
                    "The last shape drawn becomes the area.")
    with tab_upload:
        widgets.aoi_upload()
    with tab_bbox:
        widgets.aoi_bbox()
    with tab_demo:
        st.markdown("A synthetic landslide event in the Peruvian Andes: runs offline, no account needed.")
        st.button("Use the demo event", on_click=state.use_demo_event, key="btn_demo")

    aoi = ss.get(state.AOI)
    if ss.get(state.AOI_ERROR):
        st.error(ss[state.AOI_ERROR], icon=":material/error:")
    aoi_problem = widgets.aoi_status(aoi)

with col_map:
    st.toggle("Online basemaps (OpenStreetMap, satellite)", key=state.BASEMAPS,
              help="Off: a plain background, nothing is requested from the internet. The analysis "
                   "layers show either way.")
    widgets.aoi_draw_map(aoi)

# ---------------------------------------------------------------- dates and settings
st.subheader("2. Dates and settings")
c_pre, c_post, c_more = st.columns(3, gap="medium")
with c_pre:
    st.markdown("**Before the event**")
    st.date_input("From", key=state.PRE_START, format="YYYY-MM-DD")
    st.date_input("To", key=state.PRE_END, format="YYYY-MM-DD")
with c_post:
    st.markdown("**After the event**")
    st.date_input("From", key=state.POST_START, format="YYYY-MM-DD")
    st.date_input("To", key=state.POST_END, format="YYYY-MM-DD")
with c_more:
    st.slider("Cloud limit (%)", min_value=0.0, max_value=100.0, step=1.0, key=state.CLOUD_LIMIT, format="%.0f",
              help="Scenes with more cloud than this are skipped; of the rest, the date with the "
                   "clearest view of the area is used.")
    source_name, source_problem = widgets.source_picker()

local_paths = None
if source_name == "local":
    local_paths = widgets.local_files()
    if not (local_paths["pre_path"] and local_paths["post_path"]):
        source_problem = source_problem or ("Local files need a 'before' and an 'after' scene GeoTIFF: "
                                            "upload both (a DEM is optional).")
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
            ss[state.JOB] = jobs.AnalysisJob(work, description=ss.get(state.AOI_LABEL) or "analysis").start()
            job = ss[state.JOB]
        except UserError as exc:
            show_error(exc)
        except Exception as exc:  # noqa: BLE001 - shown as a message, logged
            show_error(exc)

if job is not None:
    widgets.job_panel(job)

# ---------------------------------------------------------------- watch over time
watchlist.watch_this_area(request, source_name, model_entry, options, problems)
