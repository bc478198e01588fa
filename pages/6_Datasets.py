"""Datasets: build a labelled dataset of your own region (the thesis's L4S-PE) and export it."""
from __future__ import annotations

import streamlit as st

from dashboard import datasets as ds
from dashboard import labelling_panel, ui

ui.page_setup("Datasets")
st.title("Build a dataset")
st.caption("Regions of interest from an inventory, a drawing or a sample; their imagery through the usual sources "
           "and cache; labels from a model's suggestion that you accept, edit or clear; quality flags; and an "
           "export to the Landslide4Sense layout that the Training page reads.")
ds.show_notice()

st.subheader("1. Dataset")
store = ds.render_dataset_picker()
if store is None:
    st.stop()
summary = ds.render_summary(store)

st.subheader("2. Regions of interest and imagery")
ds.render_rois(store)

st.subheader("3. Label")
labelling_panel.render_labelling(store)

st.subheader("4. Export and train")
ds.render_export(store, summary)
with st.expander("Merge datasets (e.g. Landslide4Sense + yours)"):
    ds.render_merge()
