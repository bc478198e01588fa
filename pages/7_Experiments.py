"""Experiments: the thesis's grid (Tables 6 and 7) re-run, beside the thesis's own figures."""
from __future__ import annotations

import streamlit as st

from dashboard import experiments, ui

ui.page_setup("Experiments")
st.title("The thesis's experiment grid")
st.caption("Four U-Net variants x two band sets (x two datasets), trained with the thesis's recipe by "
           "`python -m landslide_core experiment thesis-grid --data DIR [--data-extra DIR2] [--epochs N]`; "
           "each run goes through the run queue and shows on the Training page.")
folder = experiments.grid_picker()
if folder is not None:
    experiments.render_grid(folder)
