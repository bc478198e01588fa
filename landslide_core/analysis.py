"""The analysis pipeline behind the dashboard's "Run analysis" button.

    request + source + model + options
      -> fetch pre, fetch post      (the source's own disk cache)
      -> detect pre, detect post    (detection.detect_pair: probabilities, masks, polygons)
      -> change                     (change raster, new landslides, summary)
      -> display images             (compact PNG overlays for the maps)

Each analysis lives in one folder under the results root, named by a hash of everything
that decides its pixels: the request key, the source's name and version, the model's weights
(SHA-256) and the detection options. ``done.json`` is written last, so a folder with it is
finished: the same request again returns it at once (``from_cache=True``) without touching the
source or the model. A folder without it (a crash or a cancel) is redone; fetched scenes are
kept by the source's cache, so redoing skips the fetch.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .checkpoint import read_card, sha256_file, card_and_weights_paths
from .errors import InputError, UserError
from .progress import CancelToken, ProgressFn, check_cancel, no_progress

log = logging.getLogger(__name__)

#: The stages reported to ``progress(done, total, stage)``, in order.
STAGES: tuple[str, ...] = ("fetch pre", "fetch post", "detect pre", "detect post", "change")
DONE_FILE = "done.json"
RESULT_VERSION = 2  # 2: per-object change with evidence.tif (co-registration, spectra, rules)


def default_results_root() -> Path:
    """env ``LANDSLIDE_RESULTS_DIR``, else ``analyses/`` in the scene cache folder."""
    env = os.environ.get("LANDSLIDE_RESULTS_DIR")
    if env:
        return Path(env).expanduser()
    from .sources.cache import default_cache_root

    return default_cache_root() / "analyses"


@dataclass
class AnalysisResult:
    """A finished analysis: where its files are, what it found and where its data came from."""

    folder: Path
    key: str
    request: dict[str, Any]
    source: dict[str, Any]
    model: dict[str, Any]
    options: dict[str, Any]
    summary: dict[str, Any]
    provenance: dict[str, Any]
    scenes: dict[str, str]
    finished: str
    elapsed_s: float
    from_cache: bool = False
    display: dict[str, Any] = field(default_factory=dict)

    # Paths of the standard outputs (written by detection.detect_pair).
    def path(self, *parts: str) -> Path:
        return self.folder.joinpath(*parts)

    @property
    def change_tif(self) -> Path:
        return self.path("change.tif")

    @property
    def change_geojson(self) -> Path:
        return self.path("change.geojson")

    def probability_tif(self, date: str) -> Path:
        return self.path(date, "probability.tif")

    def mask_tif(self, date: str) -> Path:
        return self.path(date, "mask.tif")

    @property
    def slope_tif(self) -> Path:
        return self.path("slope_deg.tif")

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["folder"] = str(self.folder)
        d.pop("from_cache")
        return d


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def options_dict(options: Any) -> dict[str, Any]:
    """Detection options as a JSON-able dict (dataclass or dict or None)."""
    if options is None:
        return {}
    if dataclasses.is_dataclass(options):
        return _jsonable(dataclasses.asdict(options))
    if isinstance(options, dict):
        return _jsonable(options)
    raise InputError(f"Detection options must be DetectionOptions or a dict, not {type(options).__name__}.")


def weights_sha256(model_path: str | Path) -> str:
    """SHA-256 of a model's weights: from its card when recorded, else computed."""
    card = read_card(model_path)
    if card.weights_sha256:
        return card.weights_sha256
    _, weights = card_and_weights_paths(model_path)
    return sha256_file(weights)


def source_files_identity(source) -> dict[str, Any]:
    """Path, size and modification time of a file-based source's inputs (e.g. local files), so
    that other files under the same request make another analysis."""
    out = {}
    for attr in ("pre_path", "post_path", "dem_path"):
        p = getattr(source, attr, None)
        if p:
            try:
                st = Path(p).stat()
                out[attr] = [str(Path(p).resolve()), st.st_size, st.st_mtime_ns]
            except OSError:
                out[attr] = [str(p), None, None]
    return out


def analysis_key(request, source, model_path: str | Path, options: Any) -> str:
    """The hash naming a result folder: request, source, model weights and options."""
    from .sources.request import stable_hash

    opts = options_dict(options)
    # Options that do not change the pixels are left out of the key.
    for name in ("device", "batch_size"):
        opts.pop(name, None)
    return stable_hash({
        "v": RESULT_VERSION,
        "request": request.key(),
        "source": {"name": getattr(source, "name", type(source).__name__),
                   "version": str(getattr(source, "version", "")),
                   "files": source_files_identity(source)},
        "model_sha256": weights_sha256(model_path),
        "options": opts,
    })[:32]


def load_result(folder: str | Path, from_cache: bool = True) -> AnalysisResult:
    """Read a finished analysis from its folder (its ``done.json``)."""
    folder = Path(folder)
    done = folder / DONE_FILE
    try:
        data = json.loads(done.read_text())
    except FileNotFoundError:
        raise InputError(f"No finished analysis in {folder}.",
                         "Run the analysis on the Monitor page first.") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"The analysis record {done} is unreadable ({exc}).",
                         "Run the analysis again; the damaged folder is replaced.") from None
    data["folder"] = folder
    names = {f.name for f in dataclasses.fields(AnalysisResult)}
    data = {k: v for k, v in data.items() if k in names}
    data["from_cache"] = from_cache
    return AnalysisResult(**data)


def find_cached(results_root: str | Path, key: str) -> Optional[AnalysisResult]:
    folder = Path(results_root) / key
    if (folder / DONE_FILE).is_file():
        try:
            return load_result(folder, from_cache=True)
        except InputError:
            return None
    return None


def list_results(results_root: Optional[str | Path] = None, limit: int = 20) -> list[AnalysisResult]:
    """Finished analyses, newest first."""
    root = Path(results_root) if results_root else default_results_root()
    if not root.is_dir():
        return []
    done_files = sorted((p for p in root.glob(f"*/{DONE_FILE}") if not p.parent.name.startswith(".")),
                        key=lambda p: p.stat().st_mtime, reverse=True)
    out = []
    for done in done_files[:limit]:
        try:
            out.append(load_result(done.parent))
        except InputError:
            continue
    return out


class _StageProgress:
    """Maps the progress of one step onto its pipeline stage name."""

    def __init__(self, progress: ProgressFn, stage: str):
        self.progress = progress
        self.stage = stage

    def __call__(self, done: int, total: int, stage: str = "") -> None:  # noqa: ARG002
        self.progress(done, total, self.stage)


def run_analysis(request, source, model_path: str | Path, options: Any = None,
                 results_root: Optional[str | Path] = None, progress: Optional[ProgressFn] = None,
                 cancel: Optional[CancelToken] = None, loaded_model=None) -> AnalysisResult:
    """Fetch, detect and compare; or return the finished result of the same analysis.

    ``loaded_model``: the model at ``model_path`` already loaded by ``detection.load_model``
    (the dashboard keeps models in memory); without it the model is read from disk.

    Raises :class:`UserError` subclasses (InputError, SourceError, ModelError, Cancelled)
    with what was wrong and what to do.
    """
    started = time.perf_counter()
    progress = progress or no_progress
    request.validate()
    results_root = Path(results_root) if results_root else default_results_root()
    key = analysis_key(request, source, model_path, options)
    cached = find_cached(results_root, key)
    if cached is not None:
        for stage in STAGES:
            progress(1, 1, stage)
        return cached

    readiness = source.readiness()
    if not readiness.ready:
        from .errors import SourceError

        raise SourceError(f"The source '{source.name}' is not ready: {readiness.message}")

    final = results_root / key
    _remove_stale_partials(results_root)
    # Work in a folder of this run's own, renamed into place when finished: a crash, a cancel
    # or a second session running the same request never sees or breaks half a result.
    folder = results_root / f".{key}.partial-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return _run_into(folder, final, key, request, source, model_path, options, progress, cancel, started,
                         loaded_model)
    finally:
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)


def _repoint_paths(folder: Path, final: Path) -> None:
    """Summaries written during the run name the working folder; make them name the final one."""
    for path in folder.rglob("*.json"):
        text = path.read_text()
        if str(folder) in text:
            path.write_text(text.replace(str(folder), str(final)))


def _remove_stale_partials(results_root: Path, older_than_s: float = 24 * 3600) -> None:
    now = time.time()
    for p in results_root.glob(".*.partial-*"):
        try:
            if now - p.stat().st_mtime > older_than_s:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            continue


def _run_into(folder: Path, final: Path, key: str, request, source, model_path, options,
              progress: ProgressFn, cancel: Optional[CancelToken], started: float,
              loaded_model=None) -> AnalysisResult:

    fetched = {}
    for date, window in (("pre", request.pre), ("post", request.post)):
        stage = f"fetch {date}"
        check_cancel(cancel)
        progress(0, 1, stage)
        fetched[date] = source.fetch(request, window, progress=_StageProgress(progress, stage), cancel=cancel)
        progress(1, 1, stage)

    check_cancel(cancel)
    from .detection import detect_pair

    detection = detect_pair(fetched["pre"].path, fetched["post"].path, folder, model_path=model_path,
                            options=options, progress=progress, cancel=cancel, loaded=loaded_model)

    check_cancel(cancel)
    from .display import build_display

    display = build_display(folder, fetched["pre"].path, fetched["post"].path)
    summary = _read_json(folder / "summary.json") or (detection if isinstance(detection, dict) else {})
    card = read_card(model_path)
    result = AnalysisResult(
        folder=folder, key=key, request=_jsonable(request.normalised()),
        source={"name": source.name, "version": str(source.version)},
        model={**card.to_dict(), "path": str(model_path)},
        options=options_dict(options), summary=_jsonable(summary),
        provenance={"pre": _jsonable(fetched["pre"].provenance), "post": _jsonable(fetched["post"].provenance)},
        scenes={"pre": str(fetched["pre"].path), "post": str(fetched["post"].path)},
        finished=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        elapsed_s=round(time.perf_counter() - started, 3), from_cache=False, display=display,
    )
    result.folder = final
    _repoint_paths(folder, final)
    (folder / DONE_FILE).write_text(json.dumps(result.to_json(), indent=2, default=str))
    if final.exists():
        if (final / DONE_FILE).is_file():  # another session finished the same analysis first
            progress(1, 1, "change")
            return load_result(final, from_cache=True)
        shutil.rmtree(final, ignore_errors=True)  # an unfinished folder of an older version
    try:
        folder.rename(final)  # last: the finished folder appears at once, done.json inside
    except OSError:
        if (final / DONE_FILE).is_file():
            return load_result(final, from_cache=True)
        raise
    progress(1, 1, "change")
    return result


#: Slope classes (degrees) for the "area by slope class" chart: [lower, upper).
SLOPE_CLASSES_DEG: tuple[tuple[float, float], ...] = ((0, 15), (15, 25), (25, 35), (35, 45), (45, 90))


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

    with rasterio.open(path) as ds:
        return ds.read(1, out_dtype="float32"), ds.transform, ds.crs


def rethreshold(result: AnalysisResult, threshold: float, min_area_ha: Optional[float] = None):
    """Masks, change, new landslides and totals at another threshold, from the saved
    probabilities and evidence (no model run), with the analysis's own object rules and change
    settings. Returns :class:`landslide_core.change.PairResult`."""
    from .change import summarise_pair
    from .detection import DetectionOptions
    from .evidence import EVIDENCE_FILE, read_evidence

    pre_prob, transform, crs = _read_band(result.probability_tif("pre"))
    post_prob, _, _ = _read_band(result.probability_tif("post"))
    options = DetectionOptions.from_dict(result.options)
    spectral = elevation = None
    if result.path(EVIDENCE_FILE).is_file():
        spectral, slope, elevation = read_evidence(result.path(EVIDENCE_FILE))
    else:
        slope = _read_band(result.slope_tif)[0] if result.slope_tif.is_file() else None
    if min_area_ha is None:
        min_area_ha = default_min_area_ha(result)
    return summarise_pair(pre_prob, post_prob, slope, transform, crs, threshold, min_area_ha,
                          elevation_m=elevation, spectral=spectral, grow_ratio=options.grow_ratio,
                          rules=options.rules, settings=options.change)


def grid_of(result: AnalysisResult):
    """(transform, crs) of the analysis grid."""
    import rasterio

    with rasterio.open(result.probability_tif("post")) as ds:
        return ds.transform, ds.crs


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
    "change.tif": "Change raster (COG)",
    "probability_pre.tif": "Probability before (COG)",
    "probability_post.tif": "Probability after (COG)",
    "mask_pre.tif": "Mask before (COG)",
    "mask_post.tif": "Mask after (COG)",
}


def export_file(result: AnalysisResult, name: str, threshold: float,
                min_area_ha: Optional[float] = None) -> Path:
    """Write one download of the analysis at ``threshold`` (model card and provenance inside)
    under ``exports/t<threshold>/`` and return its path; an existing file is reused."""
    from . import exports

    if name not in EXPORT_FILES:
        raise InputError(f"Unknown export '{name}'.", f"Choose one of: {', '.join(EXPORT_FILES)}.")
    if min_area_ha is None:
        min_area_ha = default_min_area_ha(result)
    out_dir = result.folder / "exports" / f"t{float(threshold):.3f}_mmu{float(min_area_ha):g}"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    if path.is_file():
        return path
    card, prov = model_card_record(result), provenance_record(result)
    prov = {**prov, "threshold": float(threshold), "min_area_ha": float(min_area_ha)}
    if name.startswith("probability_"):
        date = name[len("probability_"):-len(".tif")]
        return exports.cog_from_geotiff(result.probability_tif(date), path, "probability", card, prov)
    pair = rethreshold(result, threshold, min_area_ha)
    transform, crs = grid_of(result)
    if name == "change.tif":
        return exports.write_cog(pair.change, path, transform, crs, "change", card, prov)
    if name.startswith("mask_"):
        mask = pair.pre_mask if "pre" in name else pair.post_mask
        return exports.write_cog(mask, path, transform, crs, "mask", card, prov)
    if name.endswith(".geojson"):
        return exports.write_geojson(pair.new_features, path, card, prov,
                                     extra={"summary": pair.change_summary.to_dict()})
    # CSV: the table, preceded by '#' comment lines with the model card and provenance
    # (pandas: read_csv(path, comment="#")).
    tmp = out_dir / (name + ".table")
    exports.write_csv(pair.new_features, tmp)
    header = (f"# model_card: {json.dumps(card, default=str)}\n"
              f"# provenance: {json.dumps(prov, default=str)}\n")
    partial = path.with_name(path.name + ".partial")
    partial.write_text(header + tmp.read_text())
    partial.replace(path)
    tmp.unlink(missing_ok=True)
    return path


def _read_json(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


__all__ = ["STAGES", "AnalysisResult", "run_analysis", "load_result", "list_results", "find_cached",
           "analysis_key", "default_results_root", "UserError"]
