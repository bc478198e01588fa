"""Watchlist: the watched areas on a map, their last checks, a time line per area, Check now."""
from __future__ import annotations

import streamlit as st

from dashboard import state, ui, watchlist
from dashboard.errors import show_error
from dashboard.i18n import t

ui.page_setup("Watchlist")
ss = st.session_state

st.title(t("watch.title"))
st.caption(t("watch.caption"))

try:
    store = watchlist.store()
    areas = store.list_areas()
    last = store.last_checks()
except Exception as exc:  # noqa: BLE001 - a database that cannot be opened: say so
    show_error(exc)
    st.stop()

if not areas:
    st.info(t("watch.none"), icon=":material/info:")
    ui.page_link("pages/1_Monitor.py", t("ui.go_monitor"), ":material/travel_explore:")
    st.stop()

watchlist.areas_map(areas, last, bool(ss.get(state.BASEMAPS)))
watchlist.areas_table(areas, last)

st.subheader(t("watch.timeline"))
names = [a.name for a in areas]
if ss.get(watchlist.SELECTED) not in names:
    ss[watchlist.SELECTED] = names[0]
c_area, c_check, c_remove = st.columns([4, 1, 1], vertical_alignment="bottom")
name = c_area.selectbox(t("watch.area"), names, key=watchlist.SELECTED)
area = next(a for a in areas if a.name == name)
with c_check:
    watchlist.check_now(area)
with c_remove:
    watchlist.remove_area(area)
watchlist.check_result()
watchlist.timeline(area, store.history(area.id))
