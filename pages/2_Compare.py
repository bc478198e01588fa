"""Compare: before and after on the map, the change, statistics and downloads."""
from __future__ import annotations

import streamlit as st

from dashboard import compare, review, state, ui, watchlist
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

st.slider(t("monitor.threshold"), min_value=compare.SLIDER_MIN, max_value=compare.SLIDER_MAX, step=0.01,
          key=state.CMP_THRESHOLD, help=t("compare.threshold_help", threshold=f"{default_t:.2f}"))
threshold = float(ss[state.CMP_THRESHOLD])

# Everything below depends on the threshold: one placeholder, so that a new threshold shows a
# spinner in place of the old figures while it is computed.
body = st.empty()
try:
    view = compare.view_for(result, threshold, body)
except UserError as exc:
    show_error(exc)
    st.stop()
except Exception as exc:  # noqa: BLE001
    show_error(exc)
    st.stop()

with body.container():
    compare.statistics(view)
    compare.maps_panel(view)  # a fragment: opacity and view changes rerun the maps alone
    # ------------------------------------------------------------ table, charts, downloads
    compare.landslide_table(view)
    compare.charts(view)
    compare.downloads(result, threshold)
    compare.provenance(result)

# ---------------------------------------------------------------- review (dashboard/review.py)
review.section(result, threshold)
compare.prefetch_neighbours(result, threshold)
