"""landslide_core: everything of the landslide monitor except the pages (no streamlit here)."""

__version__ = "0.1.0"
