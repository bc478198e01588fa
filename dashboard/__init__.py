"""Streamlit helpers shared by the pages: state keys, maps, offline assets, error display.

Only the dashboard imports streamlit; ``landslide_core`` never does.
"""
