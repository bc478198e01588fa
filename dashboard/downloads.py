"""The Compare page's downloads: the situation report, everything in one ZIP, the GeoPackage,
and each file on its own, all at the page's threshold, named by place and date
(``<area>_<post date>_change.tif``), in the session's language.

Files are written on click (``data`` is a function) and kept under the result's ``exports/``
(``result_views.cached_export``): a second click, or another session, gets the same file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import streamlit as st

from landslide_core import analysis
from landslide_core.report import bundle

from .i18n import lang, t

MIME = {".geojson": "application/geo+json", ".csv": "text/csv", ".tif": "image/tiff", ".json": "application/json",
        ".pdf": "application/pdf", ".zip": "application/zip", ".gpkg": "application/geopackage+sqlite3",
        ".html": "text/html", ".png": "image/png"}
#: The single files and the catalogue key of each label.
FILES = {"change.tif": "compare.dl.change", "new_landslides.geojson": "compare.dl.geojson",
         "new_landslides.csv": "compare.dl.csv", "new_landslides.metadata.json": "compare.dl.sidecar",
         "mask_pre.tif": "compare.dl.mask_pre", "mask_post.tif": "compare.dl.mask_post",
         "probability_pre.tif": "compare.dl.probability_pre", "probability_post.tif": "compare.dl.probability_post"}


@st.cache_data(max_entries=64, show_spinner=False)
def stem(folder: str, mtime: float) -> str:  # noqa: ARG001 - the cache key
    """``<area>_<post date>`` of an analysis (the nearest town is looked up once)."""
    return bundle.stem_of(analysis.load_result(folder))


def _button(label: str, data: Callable[[], bytes], file_name: str, key: str, primary: bool = False) -> None:
    st.download_button(label, data=data, file_name=file_name, mime=MIME.get(Path(file_name).suffix, "application/octet-stream"),
                       key=key, icon=":material/download:", on_click="ignore", width="content",
                       type="primary" if primary else "secondary")


def render(result: analysis.AnalysisResult, threshold: float) -> None:
    st.subheader(t("compare.dl.title"))
    st.caption(t("compare.dl.caption", threshold=f"{threshold:.2f}"))
    language = lang()
    name = stem(str(result.folder), (result.folder / analysis.DONE_FILE).stat().st_mtime)
    with st.container(horizontal=True, gap="small"):
        _button(t("compare.dl.report"),
                lambda: bundle.report_file(result, threshold, language).read_bytes(),
                f"{name}_report.pdf", "dl_report", primary=True)
        _button(t("compare.dl.zip"),
                lambda: bundle.zip_file(result, threshold, language)[0].read_bytes(),
                f"{name}_outputs.zip", "dl_zip")
        _button(t("compare.dl.gpkg"),
                lambda: bundle.gpkg_file(result, threshold, language).read_bytes(),
                f"{name}_landslides.gpkg", "dl_gpkg")
        _button(t("compare.dl.quicklook"),
                lambda: bundle.quicklook_file(result, "change", threshold, language).read_bytes(),
                f"{name}_quicklook_change.png", "dl_quicklook")
    with st.container(horizontal=True, gap="small"):
        for export_name, key in FILES.items():
            def data(n: str = export_name) -> bytes:
                return analysis.export_file(result, n, threshold).read_bytes()

            _button(t(key), data, f"{name}_{export_name}", f"dl_{export_name}")


__all__ = ["render", "FILES"]
