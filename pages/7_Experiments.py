"""Experiments: the thesis's grid (Tables 6 and 7) re-run, beside the thesis's own figures."""
from __future__ import annotations

import streamlit as st

from dashboard import experiments, ui
from dashboard.i18n import t

ui.page_setup("Experiments")
st.title(t("experiments.title"))
st.caption(t("experiments.caption"))
folder = experiments.grid_picker()
if folder is not None:
    experiments.render_grid(folder)
