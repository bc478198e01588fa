"""A finished analysis seen at another threshold: re-thresholding, tables and downloads.

Everything here reads a result folder (``results.AnalysisResult``) and never runs a model.

Downloads (:func:`export_file`) are written once per (file, threshold, minimum area) under
``exports/`` and then reused. Many sessions may ask for the same download at once: each
export has a lock (across processes and threads), is written to a temporary file of its own,
checked (it opens, its grid matches the analysis) and renamed into place, and its size and
checksum are recorded beside it; a reused export is checked against that record first, so a
damaged one is written again instead of being served.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Optional

from .errors import InputError
from .fileio import atomic_write_text, exclusive_lock, file_checksum, temp_path_for
from .results import EXPORTS_DIR, AnalysisResult

#: Slope classes (degrees) for the "area by slope class" chart: [lower, upper).
SLOPE_CLASSES_DEG: tuple[tuple[float, float], ...] = ((0, 15), (15, 25), (25, 35), (35, 45), (45, 90))

_DAMAGED_FIX = "Run the analysis again (the same request redoes what is damaged)."


def default_threshold(result: AnalysisResult) -> float:
    """The threshold the analysis ran with: its options', else its model card's, else 0.5."""
    t = (result.summary or {}).get("threshold")
    if t is None:
        t = (result.options or {}).get("threshold")
    if t is None:
        t = (result.model or {}).get("threshold", 0.5)
    return float(t)


def default_min_area_ha(result: AnalysisResult) -> float:
    from .postprocess import DEFAULT_MIN_AREA_HA

    v = (result.summary or {}).get("min_area_ha")
    if v is None:
        v = (result.options or {}).get("min_area_ha")
    return float(DEFAULT_MIN_AREA_HA if v is None else v)


def _read_band(path: Path):
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with rasterio.open(path) as ds:
            return ds.read(1, out_dtype="float32"), ds.transform, ds.crs
    except (RasterioError, OSError) as exc:
        raise InputError(f"The analysis file {path} is damaged or missing ({exc}).", _DAMAGED_FIX) from None


def rethreshold(result: AnalysisResult, threshold: float, min_area_ha: Optional[float] = None,
                cancel=None):
    """Masks, change, new landslides and totals at another threshold, from the saved
    probabilities and evidence (no model run), with the analysis's own object rules and change
    settings. Returns :class:`landslide_core.change.PairResult` (its arrays read-only).

    What does not depend on the threshold is read and derived once per result, and the latest
    pair results are kept (:mod:`landslide_core.rethreshold_cache`): the same threshold again
    is instant, another one costs the re-thresholding alone. ``cancel``: a
    :class:`~landslide_core.progress.CancelToken`, checked between the steps."""
    import copy
    import dataclasses

    pair = _shared_pair(result, threshold, min_area_ha, cancel)
    # the lists and records are the caller's to change; the (read-only) rasters are shared
    return dataclasses.replace(pair, new_features=_copied(pair.new_features),
                               change_summary=copy.deepcopy(pair.change_summary),
                               summary=_copied(pair.summary))


def _shared_pair(result: AnalysisResult, threshold: float, min_area_ha: Optional[float] = None, cancel=None):
    """The kept :class:`~landslide_core.change.PairResult` itself (see :func:`rethreshold`):
    for readers that change nothing of it."""
    from .change import summarise_pair
    from .detection import DetectionOptions
    from .postprocess import check_threshold
    from .rethreshold_cache import cached_pair, read_only

    threshold = check_threshold(threshold)
    if min_area_ha is None:
        min_area_ha = default_min_area_ha(result)
    key, inputs = _pair_inputs(result)
    options = DetectionOptions.from_dict(result.options)

    def make():
        pair = summarise_pair(inputs.pre_prob, inputs.post_prob, inputs.slope_deg, inputs.transform, inputs.crs,
                              threshold, min_area_ha, elevation_m=inputs.elevation_m, spectral=inputs.spectral,
                              grow_ratio=options.grow_ratio, rules=options.rules, settings=options.change,
                              terrain=inputs.terrain, cancel=cancel)
        read_only(pair.pre_mask, pair.post_mask, pair.change)
        return pair

    return cached_pair(("pair", key, float(threshold), float(min_area_ha)), make)


def _copied(value):
    """A deep copy of plain data (GeoJSON features, summaries) by a pickle round trip: the same
    as ``copy.deepcopy`` for these, several times faster on hundreds of polygons."""
    import pickle

    return pickle.loads(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def class_outlines(result: AnalysisResult, threshold: float, min_area_ha: Optional[float] = None,
                   cancel=None) -> dict[int, list[dict]]:
    """GeoJSON features (EPSG:4326) of the persisting and the vanished landslides at
    ``threshold``, keyed by change class (:data:`~landslide_core.change.CHANGE_PERSISTING`,
    :data:`~landslide_core.change.CHANGE_VANISHED`): persisting with the post date's
    probability, vanished with the pre date's. Kept per (result, threshold, minimum area) like
    :func:`rethreshold`, and made ahead by :func:`prefetch_rethreshold`."""
    from .change import CHANGE_PERSISTING, CHANGE_VANISHED
    from .postprocess import check_threshold, polygons_from_mask
    from .rethreshold_cache import cached_outlines

    threshold = check_threshold(threshold)
    if min_area_ha is None:
        min_area_ha = default_min_area_ha(result)
    key, inputs = _pair_inputs(result)

    def make() -> dict[int, list[dict]]:
        change = _shared_pair(result, threshold, min_area_ha, cancel).change  # read only
        return {value: polygons_from_mask(change, prob, inputs.slope_deg, inputs.transform, inputs.crs,
                                          min_area_ha, value=value, cancel=cancel)
                for value, prob in ((CHANGE_PERSISTING, inputs.post_prob), (CHANGE_VANISHED, inputs.pre_prob))}

    return _copied(cached_outlines(("outlines", key, float(threshold), float(min_area_ha)), make))


def prefetch_rethreshold(result: AnalysisResult, thresholds, min_area_ha: Optional[float] = None) -> None:
    """Re-threshold ``result`` at ``thresholds`` in the background (valid ones only), with the
    outlines of every change class (:func:`class_outlines`), so that asking for one of them
    next is instant (:func:`landslide_core.rethreshold_cache.prefetch`)."""
    from .rethreshold_cache import prefetch

    wanted = [float(t) for t in thresholds if 0.0 <= float(t) <= 1.0]
    if wanted:
        prefetch(lambda t, cancel: class_outlines(result, t, min_area_ha, cancel), wanted)


def _pair_inputs(result: AnalysisResult):
    """(key, :class:`~landslide_core.rethreshold_cache.PairInputs`) of a result, read once."""
    import math

    from rasterio.errors import RasterioError

    from .detection import DetectionOptions
    from .evidence import EVIDENCE_FILE, read_evidence
    from .objects import Terrain
    from .postprocess import pixel_area_m2
    from .rethreshold_cache import PairInputs, cached_inputs, files_stamp, read_only
    from .results import DONE_FILE

    evidence = result.path(EVIDENCE_FILE)
    key = ("inputs", str(Path(result.folder).resolve()), files_stamp([
        result.path(DONE_FILE), result.probability_tif("pre"), result.probability_tif("post"), evidence,
        result.slope_tif]))

    def make() -> PairInputs:
        pre_prob, transform, crs = _read_band(result.probability_tif("pre"))
        post_prob, _, _ = _read_band(result.probability_tif("post"))
        if pre_prob.shape != post_prob.shape:
            raise InputError(f"The analysis in {result.folder} is damaged: its pre and post probabilities differ "
                             f"in shape ({pre_prob.shape} and {post_prob.shape}).", _DAMAGED_FIX)
        options = DetectionOptions.from_dict(result.options)
        spectral = elevation = terrain = None
        if evidence.is_file():
            try:
                pair, slope, elevation = read_evidence(evidence)
            except (RasterioError, OSError) as exc:
                raise InputError(f"The analysis file {evidence} is damaged ({exc}).", _DAMAGED_FIX) from None
            spectral = pair.change()
        else:
            slope = _read_band(result.slope_tif)[0] if result.slope_tif.is_file() else None
        if elevation is not None:
            terrain = Terrain.of(elevation, math.sqrt(pixel_area_m2(transform)), options.rules.valley_radius_m)
            read_only(terrain.height_m, terrain.relative, terrain.down_row, terrain.down_col)
        if spectral is not None:
            read_only(spectral.d_ndvi, spectral.d_bright)
        read_only(pre_prob, post_prob, slope, elevation)
        return PairInputs(pre_prob, post_prob, transform, crs, slope, elevation, spectral, terrain)

    return key, cached_inputs(key, make)


def grid_of(result: AnalysisResult):
    """(transform, crs) of the analysis grid."""
    return _grid(result)[:2]


def _grid(result: AnalysisResult):
    """(transform, crs, width, height) of the analysis grid."""
    import rasterio
    from rasterio.errors import RasterioError

    path = result.probability_tif("post")
    try:
        with rasterio.open(path) as ds:
            return ds.transform, ds.crs, ds.width, ds.height
    except (RasterioError, OSError) as exc:
        raise InputError(f"The analysis file {path} is damaged or missing ({exc}).", _DAMAGED_FIX) from None


def slope_class_areas(features: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Hectares and count of landslides per slope class (by each polygon's mean slope)."""
    rows = [{"slope_class": f"{lo:g}-{hi:g} deg", "area_ha": 0.0, "count": 0} for lo, hi in SLOPE_CLASSES_DEG]
    rows.append({"slope_class": "unknown", "area_ha": 0.0, "count": 0})
    for f in features:
        p = f.get("properties", {})
        slope = p.get("slope_deg_mean")
        idx = len(SLOPE_CLASSES_DEG)
        if slope is not None:
            for i, (lo, hi) in enumerate(SLOPE_CLASSES_DEG):
                if lo <= float(slope) < hi or (i == len(SLOPE_CLASSES_DEG) - 1 and float(slope) >= hi):
                    idx = i
                    break
        rows[idx]["area_ha"] = round(rows[idx]["area_ha"] + float(p.get("area_ha") or 0.0), 6)
        rows[idx]["count"] += 1
    if rows[-1]["count"] == 0:
        rows.pop()
    return rows


def feature_table(features: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per landslide: its properties (area, slope, probability, centroid, and for new
    landslides the evidence that kept them: pre probability, NDVI drop, why)."""
    from .postprocess import feature_columns

    columns = feature_columns(features)
    return [{k: f.get("properties", {}).get(k) for k in columns} for f in features]


def provenance_record(result: AnalysisResult) -> dict[str, Any]:
    """What goes into every exported file besides the model card."""
    return {"request": result.request, "source": result.source, "scenes": result.provenance,
            "options": result.options, "analysis_key": result.key, "finished": result.finished}


def model_card_record(result: AnalysisResult) -> dict[str, Any]:
    return {k: v for k, v in (result.model or {}).items() if k != "path"}


EXPORT_FILES: dict[str, str] = {
    "new_landslides.geojson": "New landslides (GeoJSON, EPSG:4326)",
    "new_landslides.csv": "New landslides table (CSV)",
    "new_landslides.metadata.json": "The table's model card and provenance (JSON)",
    "change.tif": "Change raster (COG)",
    "probability_pre.tif": "Probability before (COG)",
    "probability_post.tif": "Probability after (COG)",
    "mask_pre.tif": "Mask before (COG)",
    "mask_post.tif": "Mask after (COG)",
}


#: Bumped when the exported files change form, so older exports are not served as current
#: (2: clean CSV header with a metadata sidecar; colour tables, band descriptions and units).
EXPORT_FORMAT = 2


def exports_dir(result: AnalysisResult, threshold: float, min_area_ha: float) -> Path:
    return result.folder / EXPORTS_DIR / f"t{float(threshold):.3f}_mmu{float(min_area_ha):g}_f{EXPORT_FORMAT}"


def _record_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.check.json")


def export_problem(path: Path) -> Optional[str]:
    """Why an existing export may not be reused (None: it matches its record)."""
    try:
        record = json.loads(_record_path(path).read_text())
        size = path.stat().st_size
    except FileNotFoundError:
        return "missing, or written without a record"
    except (OSError, ValueError) as exc:
        return f"unreadable record ({exc})"
    if not isinstance(record, dict) or size != record.get("size_bytes"):
        return "its size differs from its record (truncated?)"
    if file_checksum(path) != record.get("blake2b"):
        return "its checksum differs from its record"
    return None


def _check_export(path: Path, name: str, grid) -> None:
    """Raise InputError unless a freshly written export is complete and on the analysis grid."""
    if name.endswith(".tif"):
        import rasterio
        from rasterio.errors import RasterioError

        from .exports import RasterKind

        kind = "probability" if name.startswith("probability_") else ("mask" if name.startswith("mask_") else "change")
        dtype = RasterKind.get(kind)[0]
        _, _, width, height = grid
        try:
            with rasterio.open(path) as ds:
                ok = (ds.width, ds.height, ds.count, ds.dtypes[0]) == (width, height, 1, dtype)
                ds.read(1)  # every block decodes
        except (RasterioError, OSError) as exc:
            raise InputError(f"The export {name} could not be read back ({exc}).", "Try again.") from None
        if not ok:
            raise InputError(f"The export {name} does not match the analysis grid.", _DAMAGED_FIX)
    elif name.endswith(".geojson"):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"The export {name} could not be read back ({exc}).", "Try again.") from None
        if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
            raise InputError(f"The export {name} is not a FeatureCollection.", "Try again.")
    elif name.endswith(".csv"):
        lines = path.read_text().splitlines()
        if not lines or not lines[0].startswith("id,"):
            raise InputError(f"The export {name} has no table header.", "Try again.")
    elif name.endswith(".json"):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"The export {name} could not be read back ({exc}).", "Try again.") from None
        if not isinstance(doc, dict) or "model_card" not in doc:
            raise InputError(f"The export {name} has no model card.", "Try again.")


def _write_export(result: AnalysisResult, name: str, threshold: float, min_area_ha: float, tmp: Path) -> None:
    from . import exports

    card, prov = model_card_record(result), provenance_record(result)
    prov = {**prov, "threshold": float(threshold), "min_area_ha": float(min_area_ha)}
    if name.startswith("probability_"):
        date = name[len("probability_"):-len(".tif")]
        exports.cog_from_geotiff(result.probability_tif(date), tmp, "probability", card, prov)
        return
    pair = rethreshold(result, threshold, min_area_ha)
    transform, crs = grid_of(result)
    if name == "change.tif":
        exports.write_cog(pair.change, tmp, transform, crs, "change", card, prov)
    elif name.startswith("mask_"):
        mask = pair.pre_mask if "pre" in name else pair.post_mask
        exports.write_cog(mask, tmp, transform, crs, "mask", card, prov)
    elif name.endswith(".geojson"):
        exports.write_geojson(pair.new_features, tmp, card, prov, extra={"summary": pair.change_summary.to_dict()})
    elif name.endswith(".metadata.json"):
        # The CSV's sidecar: what a table cannot hold in its rows.
        exports.write_table_metadata(tmp, f"{name[:-len('.metadata.json')]}.csv", card, prov,
                                     pair.new_features, summary=pair.change_summary.to_dict())
    else:
        # CSV: a clean header row and one row per landslide (GDAL, QGIS, pandas and
        # spreadsheets read it as it is); the model card and provenance are in the sidecar.
        exports.write_csv(pair.new_features, tmp)


def export_file(result: AnalysisResult, name: str, threshold: float,
                min_area_ha: Optional[float] = None) -> Path:
    """Write one download of the analysis at ``threshold`` (model card and provenance inside)
    under ``exports/t<threshold>_mmu<min area>/`` and return its path; an intact existing
    export is reused, a damaged one written again. Safe to call from many threads and
    processes at once: they all get the same complete file."""
    if name not in EXPORT_FILES:
        raise InputError(f"Unknown export '{name}'.", f"Choose one of: {', '.join(EXPORT_FILES)}.")
    if min_area_ha is None:
        min_area_ha = default_min_area_ha(result)
    grid = []  # read once, only when the file has to be written

    def write(tmp: Path) -> None:
        _write_export(result, name, threshold, min_area_ha, tmp)

    def check(tmp: Path) -> None:
        grid.append(_grid(result))
        _check_export(tmp, name, grid[0])

    return cached_export(result, name, threshold, min_area_ha, write, check)


def cached_export(result: AnalysisResult, name: str, threshold: float, min_area_ha: Optional[float],
                  write: Callable[[Path], None], check: Optional[Callable[[Path], None]] = None) -> Path:
    """The file ``name`` of the analysis at ``threshold`` and ``min_area_ha`` under
    ``exports/``: reused when intact (its size and checksum match its record), else written by
    ``write(tmp)`` into a temporary file of its own, checked by ``check(tmp)`` (raise to refuse
    it), recorded and renamed into place, all under a lock per file (threads and processes)."""
    if min_area_ha is None:
        min_area_ha = default_min_area_ha(result)
    out_dir = exports_dir(result, threshold, min_area_ha)
    path = out_dir / name
    if export_problem(path) is None:
        return path
    out_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(out_dir / f".{name}.lock"):
        if export_problem(path) is None:  # another caller wrote it while this one waited
            return path
        tmp = temp_path_for(path)
        try:
            write(tmp)
            if check is not None:
                check(tmp)
            if not tmp.is_file() or tmp.stat().st_size == 0:
                raise InputError(f"The export {name} came out empty.", "Try again.")
            record = {"size_bytes": tmp.stat().st_size, "blake2b": file_checksum(tmp)}
            os.replace(tmp, path)
            atomic_write_text(_record_path(path), json.dumps(record))
        finally:
            tmp.unlink(missing_ok=True)
    return path


__all__ = ["EXPORT_FILES", "export_file", "cached_export", "exports_dir", "export_problem", "rethreshold",
           "prefetch_rethreshold", "class_outlines", "grid_of", "default_threshold",
           "default_min_area_ha", "slope_class_areas", "feature_table", "provenance_record", "model_card_record",
           "SLOPE_CLASSES_DEG"]
