"""Landslide monitor: the entry point (`streamlit run app.py`).

Registers the pages: Home (dashboard/home.py) and every page in pages/ (Monitor, Compare,
Training, Models), each at a readable URL (/Monitor, /Compare, ...).
"""
from __future__ import annotations

import streamlit as st

from dashboard import home, ui
from dashboard.i18n import language_picker

language_picker()  # first: the page titles and every text follow the session's language
st.navigation(ui.navigation_pages(home.render), position="top").run()
