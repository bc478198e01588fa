"""What officials take away from a finished analysis: the situation report (PDF, HTML) and
the GIS outputs (named COGs with colour tables and QGIS styles, GeoJSON, a clean CSV with its
metadata sidecar, a GeoPackage, quicklooks, a STAC Item and one ZIP with a README).

Everything here reads a finished result folder (the dashboard's or ``detect --pre --post``'s)
and never runs a model:

    from landslide_core.report import write_report, write_outputs
    write_report("result", "report.pdf", lang="es")
    write_outputs("result", "gis/")             # every file, and <area>_<date>_all.zip
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..errors import InputError
from ..fileio import atomic_write_bytes
from ..i18n import current_language, normalise_language, user_error
from ..results import AnalysisResult
from .facts import ReportFacts, gather
from .finished import open_result

REPORT_FORMATS = {".pdf": "pdf", ".html": "html", ".htm": "html"}


def report_bytes(facts: ReportFacts, lang: Optional[str] = None, fmt: str = "pdf") -> bytes:
    """The situation report of ``facts`` in ``lang`` as PDF or HTML bytes."""
    from .content import report_text
    from .figures import situation_map_png, slope_chart_png

    lang = normalise_language(lang) or current_language()
    text = report_text(facts, lang)
    map_png, chart_png = situation_map_png(facts, lang), slope_chart_png(facts, lang)
    if fmt == "html":
        from .html import render_html

        return render_html(text, map_png, chart_png)
    from .pdf import render_pdf

    return render_pdf(text, map_png, chart_png)


def _result(result: AnalysisResult | str | Path) -> AnalysisResult:
    return result if isinstance(result, AnalysisResult) else open_result(result)


def write_report(result: AnalysisResult | str | Path, out: str | Path, lang: Optional[str] = None,
                 threshold: Optional[float] = None, area_name: Optional[str] = None) -> Path:
    """Write the situation report of a finished analysis to ``out`` (.pdf or .html)."""
    out = Path(out)
    fmt = REPORT_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise user_error(InputError, "errors.report_suffix", path=str(out))
    facts = gather(_result(result), threshold, area_name=area_name)
    return atomic_write_bytes(out, report_bytes(facts, lang, fmt))


def write_outputs(result: AnalysisResult | str | Path, out_dir: str | Path, lang: Optional[str] = None,
                  threshold: Optional[float] = None, min_area_ha: Optional[float] = None,
                  area_name: Optional[str] = None):
    """Every GIS output and the report of a finished analysis into ``out_dir``, named
    ``<area>_<post date>_<what>``, plus one ZIP of them all; returns the bundle (bundle.Bundle)."""
    from .bundle import copy_bundle

    return copy_bundle(_result(result), Path(out_dir), lang, threshold, min_area_ha, area_name)


__all__ = ["open_result", "gather", "report_bytes", "write_report", "write_outputs", "REPORT_FORMATS"]
