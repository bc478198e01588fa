"""Every output of a finished analysis, named by place and date, and one ZIP of them all.

Names are ``<area>_<post date>_<what>`` (``san-ramon_2020-04-15_change.tif``). Files that
take time (COGs, GeoJSON, CSV, GeoPackage, quicklooks, report) are written once per
threshold and language under the result's ``exports/`` folder with the checked reuse of
``result_views.cached_export`` (locks, temporary files, size and checksum records); the small
ones that carry the names (QGIS styles, STAC Item, README, the CSV's sidecar) are written when
the bundle is put together. The ZIP holds every file its README names, and nothing else.
"""
from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..fileio import atomic_write_bytes, atomic_write_text, temp_path_for
from ..i18n import current_language, normalise_language, t
from ..result_views import cached_export, default_min_area_ha, default_threshold, export_file
from ..results import AnalysisResult
from .facts import ReportFacts, gather

README_NAME = "README.txt"
#: (suffix after the stem, generic export name or None, raster kind or None, catalogue key).
RASTERS = (("change", "change.tif", "change"),
           ("probability_pre", "probability_pre.tif", "probability"),
           ("probability_post", "probability_post.tif", "probability"),
           ("mask_pre", "mask_pre.tif", "mask"),
           ("mask_post", "mask_post.tif", "mask"))
QUICKLOOKS = ("before", "after", "change")


@dataclass
class OutputFile:
    name: str
    path: Path
    description: str


@dataclass
class Bundle:
    """The named outputs of one analysis at one threshold, in one language."""

    stem: str
    lang: str
    threshold: float
    min_area_ha: float
    files: list[OutputFile] = field(default_factory=list)
    zip_path: Optional[Path] = None

    @property
    def zip_name(self) -> str:
        return f"{self.stem}_outputs.zip"

    def names(self) -> list[str]:
        return [f.name for f in self.files]


class _Facts:
    """The facts of the result, gathered on first use (a fully cached bundle needs none)."""

    def __init__(self, result, threshold, min_area_ha, area_name):
        self.args = (result, threshold, min_area_ha, area_name)
        self.value: Optional[ReportFacts] = None

    def __call__(self) -> ReportFacts:
        if self.value is None:
            result, threshold, min_area_ha, area_name = self.args
            self.value = gather(result, threshold, min_area_ha, area_name)
        return self.value


def output_name(stem: str, what: str) -> str:
    return f"{stem}_{what}"


def stem_of(result: AnalysisResult, area_name: Optional[str] = None) -> str:
    """``<area>_<post date>`` without reading any raster."""
    from .facts import _date_facts
    from .place import place_of

    post = _date_facts(result, "post")
    prov = result.provenance or {}
    synthetic = any(bool((prov.get(d) or {}).get("synthetic")) for d in ("pre", "post"))
    bounds = None
    if not (result.request or {}).get("aoi"):
        from ..result_views import _grid
        from .facts import _bounds_lonlat

        transform, crs, width, height = _grid(result)
        bounds = _bounds_lonlat(transform, crs, (height, width))
    place = place_of((result.request or {}).get("aoi"), bounds, synthetic=synthetic, given_name=area_name)
    return f"{place.slug}_{post.last_date or 'undated'}"


# ------------------------------------------------------------------ cached pieces

def report_file(result: AnalysisResult, threshold: Optional[float] = None, lang: Optional[str] = None,
                fmt: str = "pdf", min_area_ha: Optional[float] = None,
                facts: Optional[Callable[[], ReportFacts]] = None) -> Path:
    """The situation report (``pdf`` or ``html``) at ``threshold`` in ``lang``, written once."""
    from . import report_bytes

    lang = normalise_language(lang) or current_language()
    threshold = default_threshold(result) if threshold is None else float(threshold)
    min_area_ha = default_min_area_ha(result) if min_area_ha is None else float(min_area_ha)
    get = facts or _Facts(result, threshold, min_area_ha, None)
    return cached_export(result, f"report_{lang}.{fmt}", threshold, min_area_ha,
                         lambda tmp: tmp.write_bytes(report_bytes(get(), lang, fmt)))


def gpkg_file(result: AnalysisResult, threshold: Optional[float] = None, lang: Optional[str] = None,
              min_area_ha: Optional[float] = None, facts: Optional[Callable[[], ReportFacts]] = None) -> Path:
    """The GeoPackage at ``threshold`` (layer descriptions in ``lang``), written once."""
    from .gpkg import LAYERS, write_gpkg

    lang = normalise_language(lang) or current_language()
    threshold = default_threshold(result) if threshold is None else float(threshold)
    min_area_ha = default_min_area_ha(result) if min_area_ha is None else float(min_area_ha)
    get = facts or _Facts(result, threshold, min_area_ha, None)

    def check(tmp: Path) -> None:
        import pyogrio

        names = [str(n) for n in pyogrio.list_layers(str(tmp))[:, 0]]
        if not set(LAYERS) <= set(names):
            raise ValueError(f"the GeoPackage lacks layers: {sorted(set(LAYERS) - set(names))}")

    return cached_export(result, f"landslides_{lang}.gpkg", threshold, min_area_ha,
                         lambda tmp: write_gpkg(get(), tmp, lang), check)


def quicklook_file(result: AnalysisResult, what: str, threshold: Optional[float] = None,
                   lang: Optional[str] = None, min_area_ha: Optional[float] = None,
                   facts: Optional[Callable[[], ReportFacts]] = None) -> Path:
    """A quicklook PNG (``before``, ``after`` or ``change``), written once."""
    from .figures import quicklook_png

    lang = normalise_language(lang) or current_language()
    threshold = default_threshold(result) if threshold is None else float(threshold)
    min_area_ha = default_min_area_ha(result) if min_area_ha is None else float(min_area_ha)
    get = facts or _Facts(result, threshold, min_area_ha, None)
    name = f"quicklook_{what}_{lang}.png" if what == "change" else f"quicklook_{what}.png"
    return cached_export(result, name, threshold, min_area_ha,
                         lambda tmp: tmp.write_bytes(quicklook_png(get(), what, lang)))


# ------------------------------------------------------------------ the bundle

def _readme(bundle: Bundle, facts: ReportFacts, lang: str) -> str:
    lines = [t("gis.readme.title", lang, area=facts.place.name(lang)), "",
             t("gis.readme.intro", lang, pre=facts.pre.date_text, post=facts.post.date_text,
               threshold=f"{bundle.threshold:.2f}", min_area=f"{bundle.min_area_ha:g}"), "",
             t("gis.readme.files", lang), ""]
    width = max(len(f.name) for f in bundle.files) + 2
    for f in bundle.files:
        lines.append(f"{f.name.ljust(width)}{f.description}")
    lines += ["", t("gis.readme.crs", lang), t("gis.readme.qgis", lang), ""]
    return "\n".join(lines)


def build_bundle(result: AnalysisResult, staging: Path, lang: Optional[str] = None,
                 threshold: Optional[float] = None, min_area_ha: Optional[float] = None,
                 area_name: Optional[str] = None) -> Bundle:
    """Collect the outputs: cached ones from ``exports/``, small named ones written into
    ``staging`` (an empty folder). Returns the bundle (paths and README descriptions)."""
    from . import stac
    from .styles import qml_for

    lang = normalise_language(lang) or current_language()
    threshold = default_threshold(result) if threshold is None else float(threshold)
    min_area_ha = default_min_area_ha(result) if min_area_ha is None else float(min_area_ha)
    facts = _Facts(result, threshold, min_area_ha, area_name)
    stem = facts().stem
    bundle = Bundle(stem, lang, threshold, min_area_ha)
    add = bundle.files.append
    for what, export_name, kind in RASTERS:
        add(OutputFile(output_name(stem, f"{what}.tif"), export_file(result, export_name, threshold, min_area_ha),
                       t(f"gis.file.{what}", lang)))
        qml = staging / output_name(stem, f"{what}.qml")
        atomic_write_text(qml, qml_for(kind, lang))
        add(OutputFile(qml.name, qml, t("gis.file.qml", lang, raster=output_name(stem, f"{what}.tif"))))
    add(OutputFile(output_name(stem, "new_landslides.geojson"),
                   export_file(result, "new_landslides.geojson", threshold, min_area_ha),
                   t("gis.file.geojson", lang)))
    csv_name = output_name(stem, "new_landslides.csv")
    add(OutputFile(csv_name, export_file(result, "new_landslides.csv", threshold, min_area_ha),
                   t("gis.file.csv", lang)))
    from ..exports import write_table_metadata

    card, prov = facts().metadata()
    sidecar = write_table_metadata(staging / output_name(stem, "new_landslides.metadata.json"), csv_name, card, prov,
                                   facts().new_features, summary=facts().change)
    add(OutputFile(sidecar.name, sidecar, t("gis.file.sidecar", lang, csv=csv_name)))
    add(OutputFile(output_name(stem, "landslides.gpkg"), gpkg_file(result, threshold, lang, min_area_ha, facts),
                   t("gis.file.gpkg", lang)))
    for what in QUICKLOOKS:
        add(OutputFile(output_name(stem, f"quicklook_{what}.png"),
                       quicklook_file(result, what, threshold, lang, min_area_ha, facts),
                       t(f"gis.file.quicklook_{what}", lang)))
    report = report_file(result, threshold, lang, "pdf", min_area_ha, facts) if area_name is None else None
    if report is None:
        from . import report_bytes

        report = atomic_write_bytes(staging / output_name(stem, "report.pdf"), report_bytes(facts(), lang, "pdf"))
    add(OutputFile(output_name(stem, "report.pdf"), report, t("gis.file.report", lang)))
    item_name = output_name(stem, "stac_item.json")
    assets = {f.name[len(stem) + 1:].rsplit(".", 1)[0].replace(".", "_"): (f.name, f.description)
              for f in bundle.files}
    item = stac.stac_item(facts(), assets, f"{stem}_landslides")
    atomic_write_text(staging / item_name, json.dumps(item, indent=2))
    add(OutputFile(item_name, staging / item_name, t("gis.file.stac", lang)))
    readme = staging / README_NAME
    add(OutputFile(README_NAME, readme, t("gis.file.readme", lang)))
    atomic_write_text(readme, _readme(bundle, facts(), lang))
    return bundle


def write_zip(bundle: Bundle, path: Path) -> Path:
    """One ZIP of every file of the bundle (deflated; COGs stored as they are)."""
    tmp = temp_path_for(path)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in bundle.files:
                packed = zipfile.ZIP_STORED if f.name.endswith((".tif", ".png", ".gpkg", ".pdf")) else zipfile.ZIP_DEFLATED
                zf.write(f.path, f.name, compress_type=packed)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    bundle.zip_path = path
    return path


def zip_file(result: AnalysisResult, threshold: Optional[float] = None, lang: Optional[str] = None,
             min_area_ha: Optional[float] = None) -> tuple[Path, str]:
    """(path, download name) of the ZIP of every output at ``threshold`` in ``lang``, written once."""
    import tempfile

    lang = normalise_language(lang) or current_language()
    threshold = default_threshold(result) if threshold is None else float(threshold)
    min_area_ha = default_min_area_ha(result) if min_area_ha is None else float(min_area_ha)
    names: list[str] = []

    def write(tmp: Path) -> None:
        with tempfile.TemporaryDirectory(dir=tmp.parent, prefix=".bundle-") as staging:
            bundle = build_bundle(result, Path(staging), lang, threshold, min_area_ha)
            write_zip(bundle, tmp)
            names.append(bundle.zip_name)

    path = cached_export(result, f"outputs_{lang}.zip", threshold, min_area_ha, write, _check_zip)
    return path, names[0] if names else f"{stem_of(result)}_outputs.zip"


def _check_zip(path: Path) -> None:
    with zipfile.ZipFile(path) as zf:
        bad = zf.testzip()
        if bad is not None:
            raise ValueError(f"{bad} is damaged in the ZIP")


def copy_bundle(result: AnalysisResult, out_dir: Path, lang: Optional[str] = None,
                threshold: Optional[float] = None, min_area_ha: Optional[float] = None,
                area_name: Optional[str] = None) -> Bundle:
    """Every output into ``out_dir`` under its name, and the ZIP of them all beside them."""
    import tempfile

    from ..fileio import ensure_writable_folder

    ensure_writable_folder(out_dir, "--out")
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".bundle-") as staging:
        bundle = build_bundle(result, Path(staging), lang, threshold, min_area_ha, area_name)
        for f in bundle.files:
            target = out_dir / f.name
            tmp = temp_path_for(target)
            try:
                shutil.copyfile(f.path, tmp)
                tmp.replace(target)
            finally:
                tmp.unlink(missing_ok=True)
            f.path = target
        write_zip(bundle, out_dir / bundle.zip_name)
    return bundle


__all__ = ["Bundle", "OutputFile", "build_bundle", "copy_bundle", "write_zip", "zip_file", "report_file",
           "gpkg_file", "quicklook_file", "stem_of", "README_NAME"]
