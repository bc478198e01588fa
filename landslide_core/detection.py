"""Detection end to end: scene GeoTIFF(s) -> probability, mask, polygons, change, summary.

``detect_scene`` writes into ``out_dir``: ``probability.tif``, ``mask.tif`` (COGs),
``landslides.geojson``, ``landslides.csv``, ``rejected.geojson`` (objects the terrain and
shape rules turned down, with the rule) and ``summary.json``. ``detect_pair`` writes the same
for each date under ``pre/`` and ``post/``, plus ``change.tif``, ``change.geojson`` (new
landslides, each with why it was kept), ``evidence.tif`` (terrain and spectra, for
re-thresholding without the model) and ``summary.json``. Pre is brought onto the post grid
and co-registered first (:mod:`landslide_core.alignment`); the summary reports the shift.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.errors import RasterioError
from rasterio.transform import Affine

from . import exports
from .alignment import align_pair, check_overlap, grid_of, reproject_scene_to, same_grid  # noqa: F401 (re-exported)
from .change import ChangeSettings, summarise_pair
from .checkpoint import ModelCard, default_model_path, load_checkpoint, resolve_model_path
from .errors import InputError, ModelError
from .evidence import EVIDENCE_FILE, read_spectral_pair, read_terrain, write_evidence
from .objects import MEASURES, ObjectRules, Terrain
from .output_folder import StagedOutput
from .postprocess import (DEFAULT_GROW_RATIO, DEFAULT_MIN_AREA_HA, check_grow_ratio, check_threshold,
                          label_lookup, landslide_mask, mask_summary, pixel_area_ha, pixel_area_m2,
                          polygons_from_mask)
from .predictor import DEFAULT_OVERLAP_PX, DEFAULT_WINDOW_PX, PredictionInfo, Predictor, PredictorConfig
from .progress import CancelToken, HeldProgress, LinkedCancelToken, ProgressFn, check_cancel
from .scene import SceneReader

STRIP_ROWS = 256
#: The files detect_scene writes, and detect_pair (checked against the inputs before any work).
SCENE_OUTPUTS = ("probability.tif", "mask.tif", "landslides.geojson", "landslides.csv", "rejected.geojson",
                 "summary.json")
PAIR_OUTPUTS = tuple(f"{d}/{n}" for d in ("pre", "post") for n in SCENE_OUTPUTS) + (
    "change.tif", "change.geojson", EVIDENCE_FILE, "summary.json")
#: GDAL's block cache during detection (its default, 5% of RAM, would dominate the memory
#: use on big scenes; a strip of blocks is all that windowed reading re-uses).
GDAL_CACHE_MB = 128


def _gdal_env():
    return rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 1024 * 1024)


@dataclass
class DetectionOptions:
    """Knobs of a detection run; ``threshold=None`` uses the model card's threshold."""

    window_px: int = DEFAULT_WINDOW_PX
    overlap_px: int = DEFAULT_OVERLAP_PX
    threshold: Optional[float] = None
    min_area_ha: float = DEFAULT_MIN_AREA_HA
    device: Optional[str] = None
    batch_size: Optional[int] = None
    #: Hysteresis: objects grow over pixels at ``grow_ratio`` x the threshold.
    grow_ratio: float = DEFAULT_GROW_RATIO
    #: Terrain and shape rules for objects (single dates and pairs).
    rules: ObjectRules = field(default_factory=ObjectRules)
    #: How change is decided per object (pairs).
    change: ChangeSettings = field(default_factory=ChangeSettings)
    #: Estimate and correct the shift between the dates (pairs).
    coregister: bool = True

    def predictor_config(self) -> PredictorConfig:
        return PredictorConfig(window_px=int(self.window_px), overlap_px=int(self.overlap_px),
                               batch_size=self.batch_size, device=self.device)

    def validate(self) -> "DetectionOptions":
        if self.threshold is not None:
            check_threshold(self.threshold)
        if self.min_area_ha is None or not self.min_area_ha >= 0:
            raise InputError(f"The minimum mapping unit must be >= 0 ha, got {self.min_area_ha}.")
        check_grow_ratio(self.grow_ratio)
        self.rules = ObjectRules.from_dict(self.rules)
        self.change = ChangeSettings.from_dict(self.change)
        self.predictor_config().validate()
        return self

    @classmethod
    def from_dict(cls, data: Optional[dict[str, Any]]) -> "DetectionOptions":
        """Options from their JSON form (as recorded in results); unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in names}).validate()

    def object_settings(self) -> dict[str, Any]:
        """What decides objects and change, as recorded in the outputs' provenance."""
        return {"min_area_ha": self.min_area_ha, "grow_ratio": self.grow_ratio, "rules": self.rules.to_dict(),
                "change": self.change.to_dict(), "coregister": self.coregister}


@dataclass
class _SceneResult:
    summary: dict[str, Any]
    prob: np.ndarray
    slope_deg: np.ndarray
    elevation_m: np.ndarray
    transform: Affine
    crs: CRS
    terrain: Optional[Terrain] = None  # of elevation_m, shared by every object measure of the date
    exported: Optional[Future] = None  # outputs written beside other work (_detect_one's exports_in)


#: (model in eval mode, its card, its card's path): what ``load_model`` returns. Callers that
#: keep models loaded (the dashboard's st.cache_resource) pass it as ``loaded``.
LoadedModel = tuple[Any, ModelCard, Path]


def load_model(model_path: Optional[str | Path] = None) -> LoadedModel:
    """The model and its card from ``model_path``, or the default model in models/."""
    if model_path is None:
        path = default_model_path()
        if not path.exists():
            raise ModelError(
                f"No default model: {path} does not exist.",
                "Pass a model with --model PATH (a model's .json card), or train one and save it "
                "as models/default.json + models/default.safetensors (see the README).",
            )
    else:
        path = resolve_model_path(model_path)
    model, card = load_checkpoint(path, device="cpu")
    return model, card, path


def _model_summary(card: ModelCard, path: Path) -> dict[str, Any]:
    return {"name": card.name, "path": str(path), "architecture": card.architecture, "band_set": card.band_set,
            "card_threshold": card.threshold, "weights_sha256": card.weights_sha256, "trained_on": card.trained_on}


def _detect_one(scene_path: Path, out_dir: Path, predictor: Predictor, card: ModelCard, model_path: Path,
                threshold: float, options: DetectionOptions, progress: Optional[ProgressFn],
                cancel: Optional[CancelToken], stage: str, label: str,
                shown_path: Optional[Path] = None, where: str = "",
                exports_in: Optional[Executor] = None) -> _SceneResult:
    """Detect in one scene and write its outputs into ``out_dir``. ``exports_in``: an executor
    that writes the outputs (GeoTIFFs, GeoJSON, CSV, summary.json) beside the caller's next
    work; the result's ``exported`` then says when they are written (or raises their error)."""
    t0 = time.perf_counter()
    what = f"{label} scene {shown_path or scene_path}" if label else f"scene {shown_path or scene_path}"
    out_dir.mkdir(parents=True, exist_ok=True)
    with SceneReader(scene_path) as reader:
        transform, crs = reader.transform, reader.crs
        provenance = {"scene": str(shown_path or scene_path), **reader.provenance}
    raw_prob = out_dir / ".probability.raw.tif"
    try:
        try:
            info: PredictionInfo = predictor.predict_file(scene_path, raw_prob, progress, cancel, stage=stage)
        except RasterioError as exc:
            raise InputError(f"Cannot read the {what}: {exc}.",
                             "Check that the file is a complete GeoTIFF.") from None
        if info.valid_px == 0:
            raise InputError(
                f"The {what} has no valid pixel{where}: every pixel there is nodata, masked as "
                "cloud/shadow, or NaN/infinite.", "Choose a scene with clear pixels over the area.")
        t_pred = time.perf_counter()
        with rasterio.open(raw_prob) as ds:
            prob = ds.read(1)
        slope, elevation = read_terrain(scene_path, cancel)
        check_cancel(cancel)
        # the valley position and downslope vectors of the date's DEM, once for its rules, its
        # polygons' measures and the change (each computed them again before)
        terrain = (Terrain.of(elevation, math.sqrt(pixel_area_m2(transform)), options.rules.valley_radius_m)
                   if elevation is not None else None)
        check_cancel(cancel)
        mask, ruled = landslide_mask(prob, threshold, transform, options.min_area_ha, options.grow_ratio,
                                     options.rules, slope, elevation, terrain=terrain, cancel=cancel)
        check_cancel(cancel)
        features = polygons_from_mask(mask, prob, slope, transform, crs, options.min_area_ha,
                                      extra=_measures_of(slope, elevation, transform, options.rules, terrain),
                                      cancel=cancel)
        check_cancel(cancel)
        rejected = polygons_from_mask(np.where(ruled.rejected_mask(), 1, 0).astype(np.uint8), prob, slope,
                                      transform, crs, 0.0, extra=_rejection_of(ruled), cancel=cancel)
        check_cancel(cancel)
    except BaseException:
        raw_prob.unlink(missing_ok=True)
        raise
    t_post = time.perf_counter()
    card_dict = card.to_dict()
    stats = mask_summary(mask, transform, prob)
    summary = {
        "kind": "scene",
        "scene": str(scene_path),
        "grid": {"crs": crs.to_string(), "transform": list(transform)[:6], "width": int(prob.shape[1]),
                 "height": int(prob.shape[0]), "pixel_area_ha": pixel_area_ha(transform)},
        "model": _model_summary(card, model_path),
        "threshold": threshold,
        "min_area_ha": options.min_area_ha,
        **stats,
        "assessed_ha": round(stats["landslide_ha"] + stats["stable_ha"], 4),
        "rejected_by_rule": ruled.rejected_counts(),
        "settings": options.object_settings(),
        "prediction": {**info.to_dict(), "path": str(out_dir / "probability.tif")},
        "timings_s": {"predict": round(t_pred - t0, 3), "postprocess": round(t_post - t_pred, 3)},
        "provenance": provenance,
        "outputs": {"probability": "probability.tif", "mask": "mask.tif", "polygons": "landslides.geojson",
                    "table": "landslides.csv", "rejected": "rejected.geojson"},
    }

    def export() -> None:
        t_start = time.perf_counter()
        try:
            check_cancel(cancel)
            exports.cog_from_geotiff(raw_prob, out_dir / "probability.tif", "probability", card_dict, provenance)
        finally:
            raw_prob.unlink(missing_ok=True)
        check_cancel(cancel)
        exports.write_cog(mask, out_dir / "mask.tif", transform, crs, "mask", card_dict, provenance)
        check_cancel(cancel)
        settings = {"threshold": threshold, **options.object_settings()}
        exports.write_geojson(features, out_dir / "landslides.geojson", card_dict, provenance, settings)
        exports.write_csv(features, out_dir / "landslides.csv")
        exports.write_geojson(rejected, out_dir / "rejected.geojson", card_dict, provenance, settings)
        t_exp = time.perf_counter()
        summary["timings_s"].update(export=round(t_exp - t_start, 3), total=round(t_exp - t0, 3))
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))

    result = _SceneResult(summary, prob, slope, elevation, transform, crs, terrain)
    if exports_in is None:
        export()
    else:
        result.exported = exports_in.submit(_in_gdal_env, export)
    return result


def _measures_of(slope, elevation, transform: Affine, rules: ObjectRules, terrain: Optional[Terrain] = None):
    """Per-polygon terrain and shape measures (the ones the rules use), for the GeoJSON and CSV."""
    from .objects import measure_objects

    def extra(labels: np.ndarray, k: int) -> dict[str, list]:
        table = measure_objects(labels, slope, elevation, math.sqrt(pixel_area_m2(transform)),
                                rules.valley_radius_m, terrain=terrain)
        return {name: list(table.measures[name]) for name in MEASURES if name != "slope_deg_mean"}
    return extra


def _rejection_of(ruled):
    """Per rejected polygon: the rule that turned it down, in words, and its measures."""
    from .objects import REJECT_REASONS

    def extra(labels: np.ndarray, k: int) -> dict[str, list]:
        obj = label_lookup(ruled.table.labels, labels, k) - 1
        rule = [ruled.verdicts[j] for j in obj]
        out: dict[str, list] = {"rejected_by": rule, "reason": [REJECT_REASONS.get(r, r) for r in rule]}
        for name in MEASURES:
            out[name] = [ruled.table.measures[name][j] for j in obj]
        return out
    return extra


def _in_gdal_env(fn, *args, **kwargs):
    """``fn`` run inside this module's GDAL settings (rasterio's are per thread)."""
    with _gdal_env():
        return fn(*args, **kwargs)


def make_out_dir(out_dir: Path) -> Path:
    """Create the output folder, or explain why it cannot be."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InputError(f"The output path {out_dir} exists and is not a folder.", "Give a folder for --out.") from None
    except OSError as exc:
        raise InputError(f"Cannot create the output folder {out_dir}: {exc.strerror}.",
                         "Give a folder you can write to.") from None
    return out_dir


def _prepare(model_path, options: Optional[DetectionOptions], loaded: Optional[LoadedModel] = None):
    options = (options or DetectionOptions()).validate()
    model, card, path = loaded if loaded is not None else load_model(model_path)
    threshold = check_threshold(card.threshold if options.threshold is None else options.threshold)
    predictor = Predictor(model, card, options.predictor_config())
    return options, card, path, threshold, predictor


def ready_model(model_path: Optional[str | Path], options: Optional[DetectionOptions] = None,
                shape: Optional[tuple[int, int]] = None, loaded: Optional[LoadedModel] = None) -> LoadedModel:
    """The model loaded (or ``loaded``), with its inference backend made ready for rasters of
    ``shape`` (height, width): what a first detection would spend before its first window
    (reading the weights, exporting to ONNX Runtime). Run beside a fetch; pass the result to
    the detection as ``loaded``."""
    _, card, path, _, predictor = _prepare(model_path, options, loaded)
    if shape is not None:
        predictor.prepare(*shape)
    return predictor.model, card, path


def detect_scene(scene_path: str | Path, out_dir: str | Path, model_path: Optional[str | Path] = None,
                 options: Optional[DetectionOptions] = None, progress: Optional[ProgressFn] = None,
                 cancel: Optional[CancelToken] = None, loaded: Optional[LoadedModel] = None) -> dict[str, Any]:
    """Detect landslides in one scene GeoTIFF; write the outputs into ``out_dir``; return the summary.

    ``loaded``: a model already loaded by :func:`load_model` (then ``model_path`` is not read).
    """
    scene_path, out_dir = Path(scene_path), Path(out_dir)
    with SceneReader(scene_path):
        pass  # refuse unreadable files, wrong bands and CRS before loading the model
    options, card, path, threshold, predictor = _prepare(model_path, options, loaded)
    # Written into a working folder inside out_dir and moved into place at the end: the input
    # is never overwritten, a failure or a signal leaves out_dir as it was.
    with StagedOutput(out_dir, [scene_path], SCENE_OUTPUTS) as stage, _gdal_env():
        res = _detect_one(scene_path, stage.folder, predictor, card, path, threshold, options, progress, cancel,
                          "detect", "")
    return {**stage.repoint(res.summary), "replaced": stage.replaced}


# -- pairs -------------------------------------------------------------------------------------
def detect_pair(pre_path: str | Path, post_path: str | Path, out_dir: str | Path,
                model_path: Optional[str | Path] = None, options: Optional[DetectionOptions] = None,
                progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
                loaded: Optional[LoadedModel] = None) -> dict[str, Any]:
    """Detect in both dates and map the change (on the post grid); return the pair summary.

    ``loaded``: a model already loaded by :func:`load_model` (then ``model_path`` is not read).
    """
    with _gdal_env():
        return _detect_pair(pre_path, post_path, out_dir, model_path, options, progress, cancel, loaded)


def _detect_pair(pre_path, post_path, out_dir, model_path, options, progress, cancel, loaded) -> dict[str, Any]:
    t0 = time.perf_counter()
    pre_path, post_path, out_dir = Path(pre_path), Path(post_path), Path(out_dir)
    overlap = None
    with SceneReader(pre_path) as pre, SceneReader(post_path) as post:
        if not same_grid(pre, post):
            overlap = check_overlap(pre, post)
    options, card, path, threshold, predictor = _prepare(model_path, options, loaded)
    # Written into a working folder inside out_dir and moved into place at the end: the inputs
    # are never overwritten, a failure or a signal leaves out_dir as it was.
    with StagedOutput(out_dir, [pre_path, post_path], PAIR_OUTPUTS) as stage:
        summary = _detect_pair_into(stage.folder, pre_path, post_path, options, card, path, threshold, predictor,
                                    progress, cancel, t0, overlap)
    return {**stage.repoint(summary), "replaced": stage.replaced}


def _detect_pair_into(out_dir: Path, pre_path: Path, post_path: Path, options, card, path, threshold, predictor,
                      progress, cancel, t0, overlap) -> dict[str, Any]:
    where = (f" where it overlaps the post scene ({overlap[0]} x {overlap[1]} pixels of the post grid)"
             if overlap else "")
    # The post date needs no alignment: it is detected beside the alignment and the pre date.
    # Its progress is held back until the pre date is done, so the stages still come in order.
    # Beside the pre date's detection and the change, the same two threads then read the
    # spectra for the change and write the pre date's outputs.
    post_progress, side_cancel = HeldProgress(progress), LinkedCancelToken(cancel)
    aligned = None
    try:
        with ThreadPoolExecutor(2, thread_name_prefix="landslide-pair") as pool:
            post_job = pool.submit(_in_gdal_env, _detect_one, post_path, out_dir / "post",
                                   predictor.beside(), card, path, threshold,
                                   options, post_progress, side_cancel, "detect post", "post", exports_in=pool)
            try:
                aligned = align_pair(pre_path, post_path, out_dir, cancel, coregister=options.coregister)
                spectral_job = pool.submit(_in_gdal_env, read_spectral_pair, aligned.pre_path, post_path,
                                           side_cancel)
                pre_res = _detect_one(aligned.pre_path, out_dir / "pre", predictor, card, path, threshold, options,
                                      progress, cancel, "detect pre", "pre", shown_path=pre_path, where=where,
                                      exports_in=pool)
                pre_res.terrain = None  # the change measures on the post date's DEM: 64 MB at 400 km2
                post_progress.release()
                post_res = post_job.result()
                check_cancel(cancel)
                if progress:
                    progress(0, 1, "change")
                t_change = time.perf_counter()
                spectral = spectral_job.result()
                summary = _change_into(out_dir, pre_path, post_path, aligned, pre_res, post_res, spectral, options,
                                       card, path, threshold, progress, cancel, t0, t_change, pool)
            except BaseException:
                side_cancel.cancel()  # and the pool waits for its work before the folder goes
                raise
    finally:
        if aligned is not None:
            aligned.cleanup()
    return summary


def _change_into(out_dir: Path, pre_path: Path, post_path: Path, aligned, pre_res: _SceneResult,
                 post_res: _SceneResult, spectral, options, card, path, threshold, progress, cancel, t0: float,
                 t_change: float, pool: Executor) -> dict[str, Any]:
    """The change between the dates, its outputs and the pair's summary.json (the dates'
    outputs may still be being written: waited for before their summaries are read). ``pool``
    writes the evidence beside the change's own outputs."""
    shift = aligned.shift.to_dict() if aligned.shift is not None else None
    pair = summarise_pair(pre_res.prob, post_res.prob, post_res.slope_deg, post_res.transform, post_res.crs,
                          threshold, options.min_area_ha, elevation_m=post_res.elevation_m, spectral=spectral,
                          grow_ratio=options.grow_ratio, rules=options.rules, settings=options.change,
                          terrain=post_res.terrain, cancel=cancel)
    check_cancel(cancel)
    for res in (pre_res, post_res):
        if res.exported is not None:
            res.exported.result()
    if aligned.reprojection or shift:
        pre_res.summary["scene"] = str(pre_path)
        pre_res.summary["reprojected"] = aligned.reprojection
        pre_res.summary["coregistration"] = shift
        (out_dir / "pre" / "summary.json").write_text(json.dumps(pre_res.summary, indent=2, default=str))
    card_dict = card.to_dict()
    provenance = {"pre": pre_res.summary["provenance"], "post": post_res.summary["provenance"],
                  "coregistration": shift, "settings": {"threshold": threshold, **options.object_settings()}}
    if aligned.reprojection:
        provenance["reprojected"] = aligned.reprojection
    evidence_job = pool.submit(_in_gdal_env, write_evidence, out_dir / EVIDENCE_FILE, spectral, post_res.slope_deg,
                               post_res.elevation_m, post_res.transform, post_res.crs, provenance, cancel=cancel)
    exports.write_cog(pair.change, out_dir / "change.tif", post_res.transform, post_res.crs, "change",
                      card_dict, provenance)
    check_cancel(cancel)
    exports.write_geojson(pair.new_features, out_dir / "change.geojson", card_dict, provenance,
                          {"threshold": threshold, "min_area_ha": options.min_area_ha, "change_class": "new"})
    evidence_job.result()
    check_cancel(cancel)
    if progress:
        progress(1, 1, "change")
    warnings = [w for w in ((aligned.shift.warning if aligned.shift else None),) if w]
    summary = {
        "kind": "pair",
        "pre_scene": str(pre_path),
        "post_scene": str(post_path),
        "grid": post_res.summary["grid"],
        "reprojected": aligned.reprojection,
        "coregistration": shift,
        "warnings": warnings,
        "model": _model_summary(card, path),
        "threshold": threshold,
        "min_area_ha": options.min_area_ha,
        "settings": options.object_settings(),
        "change": pair.summary,
        "pre": {k: pre_res.summary[k] for k in ("landslide_ha", "landslide_count", "not_assessable_ha",
                                                "rejected_by_rule", "timings_s")},
        "post": {k: post_res.summary[k] for k in ("landslide_ha", "landslide_count", "not_assessable_ha",
                                                  "rejected_by_rule", "timings_s")},
        "timings_s": {"change": round(time.perf_counter() - t_change, 3), "total": round(time.perf_counter() - t0, 3)},
        "provenance": provenance,
        "outputs": {"pre": "pre/", "post": "post/", "change": "change.tif", "new_landslides": "change.geojson",
                    "evidence": EVIDENCE_FILE},
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


__all__ = ["DetectionOptions", "detect_scene", "detect_pair", "load_model", "ready_model", "reproject_scene_to"]
