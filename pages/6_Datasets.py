"""Datasets: build a labelled dataset of your own region (the thesis's L4S-PE) and export it."""
from __future__ import annotations

import streamlit as st

from dashboard import datasets as ds
from dashboard import labelling_panel, ui
from dashboard.i18n import t

ui.page_setup("Datasets")
st.title(t("datasets.title"))
st.caption(t("datasets.caption"))
ds.show_notice()

st.subheader(t("datasets.s1"))
store = ds.render_dataset_picker()
if store is None:
    st.stop()
summary = ds.render_summary(store)

st.subheader(t("datasets.s2"))
ds.render_rois(store)

st.subheader(t("datasets.s3"))
labelling_panel.render_labelling(store)

st.subheader(t("datasets.s4"))
ds.render_export(store, summary)
with st.expander(t("datasets.merge_expander")):
    ds.render_merge()
