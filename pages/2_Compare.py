"""Compare: before and after on the map, the change, statistics and downloads."""
from __future__ import annotations

import streamlit as st

from dashboard import compare, state, ui, watchlist
from dashboard.errors import show_error
from dashboard.i18n import t
from landslide_core.errors import UserError

ui.page_setup("Compare")
ss = st.session_state
watchlist.open_linked_result()  # /Compare?result=KEY, the link in a watchlist alert

st.title(t("compare.title"))

try:
    result = compare.current_result()
except UserError as exc:  # a damaged result folder: say so, keep the session
    show_error(exc)
    ss[state.RESULT_FOLDER] = None
    st.stop()
if result is None:
    st.info(t("compare.none"), icon=":material/info:")
    ui.page_link("pages/1_Monitor.py", t("ui.go_monitor"), ":material/travel_explore:")
    st.stop()

compare.header(result)
compare.warnings(result)

# ---------------------------------------------------------------- threshold and statistics
default_t = compare.default_threshold(result)
if ss.get("cmp_for") != str(result.folder) or ss.get(state.CMP_THRESHOLD) is None:
    ss["cmp_for"] = str(result.folder)
    ss[state.CMP_THRESHOLD] = round(default_t, 2)
    ss[state.LOCATE_ID] = None
if ss.get(state.CMP_OPACITY) is None:
    ss[state.CMP_OPACITY] = 60

c_t, c_o, c_v = st.columns([2, 2, 2])
c_t.slider(t("monitor.threshold"), min_value=0.05, max_value=0.95, step=0.01, key=state.CMP_THRESHOLD,
           help=t("compare.threshold_help", threshold=f"{default_t:.2f}"))
c_o.slider(t("compare.opacity"), min_value=0, max_value=100, step=5, key=state.CMP_OPACITY)
view_mode = c_v.radio(t("compare.view_label"), ["side", "layers"], horizontal=True, key="w_cmp_view",
                      format_func=lambda v: t(f"compare.view.{v}"))
threshold = float(ss[state.CMP_THRESHOLD])

try:
    with st.spinner(t("compare.recomputing")):
        view = compare.compare_view(str(result.folder), compare.done_mtime(result), threshold)
except UserError as exc:
    show_error(exc)
    st.stop()
except Exception as exc:  # noqa: BLE001
    show_error(exc)
    st.stop()

compare.statistics(view)

# ---------------------------------------------------------------- maps
locate_geometry = compare.locate_geometry(view, ss.get(state.LOCATE_ID))
opacity = ss[state.CMP_OPACITY] / 100.0
basemaps = bool(ss.get(state.BASEMAPS))
if view_mode != "layers":
    left, right = st.columns(2, gap="small")
    left.markdown(t("compare.left"))
    right.markdown(t("compare.right"))
    compare.show_dual_map(view, opacity, basemaps, locate_geometry, "cmp_dual_map", height=460)
else:
    compare.show_map(compare.all_overlays(view, opacity), view, basemaps, locate_geometry, "cmp_map",
                     height=560)
st.html(compare.legend())

# ---------------------------------------------------------------- table, charts, downloads
compare.landslide_table(view)
compare.charts(view)
compare.downloads(result, threshold)
compare.provenance(result)
