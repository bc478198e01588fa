"""Detection end to end: scene GeoTIFF(s) -> probability, mask, polygons, change, summary.

``detect_scene`` writes into ``out_dir``: ``probability.tif``, ``mask.tif`` (COGs),
``landslides.geojson``, ``landslides.csv`` and ``summary.json``. ``detect_pair`` writes the
same for each date under ``pre/`` and ``post/``, plus ``change.tif``, ``change.geojson`` (new
landslides) and ``summary.json``. When pre and post are on different grids, pre is
reprojected onto the post grid (bilinear for bands, nearest for the valid mask) and the
summary says so; when they do not overlap, the pair is refused.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.errors import RasterioError
from rasterio.transform import Affine
from rasterio.windows import Window

from . import exports
from .bands import ALL_BANDS, VALID
from .change import summarise_pair
from .checkpoint import ModelCard, default_model_path, load_checkpoint
from .errors import InputError, ModelError
from .output_folder import StagedOutput
from .postprocess import (DEFAULT_MIN_AREA_HA, apply_min_mapping_unit, check_threshold, mask_from_probability,
                          mask_summary, pixel_area_ha, polygons_from_mask)
from .predictor import DEFAULT_OVERLAP_PX, DEFAULT_WINDOW_PX, PredictionInfo, Predictor, PredictorConfig
from .progress import CancelToken, ProgressFn, check_cancel
from .scene import PROVENANCE_TAG as SCENE_PROVENANCE_TAG
from .scene import SceneReader, scene_profile

STRIP_ROWS = 256
#: The files detect_scene writes, and detect_pair (checked against the inputs before any work).
SCENE_OUTPUTS = ("probability.tif", "mask.tif", "landslides.geojson", "landslides.csv", "summary.json")
PAIR_OUTPUTS = tuple(f"{d}/{n}" for d in ("pre", "post") for n in SCENE_OUTPUTS) + (
    "change.tif", "change.geojson", "summary.json")
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

    def predictor_config(self) -> PredictorConfig:
        return PredictorConfig(window_px=int(self.window_px), overlap_px=int(self.overlap_px),
                               batch_size=self.batch_size, device=self.device)


@dataclass
class _SceneResult:
    summary: dict[str, Any]
    prob: np.ndarray
    slope_deg: np.ndarray
    transform: Affine
    crs: CRS


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
        path = Path(model_path)
        if not path.exists() and not path.with_suffix(".json").exists():
            raise ModelError(f"The model {path} does not exist.",
                             "Give the path of a model's .json card (its .safetensors beside it).")
    model, card = load_checkpoint(path, device="cpu")
    return model, card, path


def grid_of(path: str | Path) -> dict[str, Any]:
    with SceneReader(path) as r:
        return {"crs": r.crs.to_string(), "transform": list(r.transform)[:6], "width": r.width, "height": r.height}


def _model_summary(card: ModelCard, path: Path) -> dict[str, Any]:
    return {"name": card.name, "path": str(path), "architecture": card.architecture, "band_set": card.band_set,
            "card_threshold": card.threshold, "weights_sha256": card.weights_sha256, "trained_on": card.trained_on}


def _read_slope(scene_path: str | Path, cancel: Optional[CancelToken]) -> np.ndarray:
    """The scene's slope (degrees) read strip by strip."""
    with SceneReader(scene_path) as reader:
        slope = np.empty((reader.height, reader.width), np.float32)
        for y0 in range(0, reader.height, STRIP_ROWS):
            check_cancel(cancel)
            h = min(STRIP_ROWS, reader.height - y0)
            slope[y0:y0 + h] = reader.read_slope_deg(Window(0, y0, reader.width, h))
    return slope


def _detect_one(scene_path: Path, out_dir: Path, predictor: Predictor, card: ModelCard, model_path: Path,
                threshold: float, options: DetectionOptions, progress: Optional[ProgressFn],
                cancel: Optional[CancelToken], stage: str, label: str,
                shown_path: Optional[Path] = None, where: str = "") -> _SceneResult:
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
        slope = _read_slope(scene_path, cancel)
        mask = apply_min_mapping_unit(mask_from_probability(prob, threshold), transform, options.min_area_ha)
        features = polygons_from_mask(mask, prob, slope, transform, crs, options.min_area_ha)
        t_post = time.perf_counter()
        card_dict = card.to_dict()
        exports.cog_from_geotiff(raw_prob, out_dir / "probability.tif", "probability", card_dict, provenance)
    finally:
        raw_prob.unlink(missing_ok=True)
    exports.write_cog(mask, out_dir / "mask.tif", transform, crs, "mask", card_dict, provenance)
    exports.write_geojson(features, out_dir / "landslides.geojson", card_dict, provenance,
                          {"threshold": threshold, "min_area_ha": options.min_area_ha})
    exports.write_csv(features, out_dir / "landslides.csv")
    t_exp = time.perf_counter()
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
        "prediction": {**info.to_dict(), "path": str(out_dir / "probability.tif")},
        "timings_s": {"predict": round(t_pred - t0, 3), "postprocess": round(t_post - t_pred, 3),
                      "export": round(t_exp - t_post, 3), "total": round(t_exp - t0, 3)},
        "provenance": provenance,
        "outputs": {"probability": "probability.tif", "mask": "mask.tif", "polygons": "landslides.geojson",
                    "table": "landslides.csv"},
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return _SceneResult(summary, prob, slope, transform, crs)


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
    options = options or DetectionOptions()
    if options.threshold is not None:
        check_threshold(options.threshold)
    if options.min_area_ha is None or not options.min_area_ha >= 0:
        raise InputError(f"The minimum mapping unit must be >= 0 ha, got {options.min_area_ha}.")
    options.predictor_config().validate()
    model, card, path = loaded if loaded is not None else load_model(model_path)
    threshold = check_threshold(card.threshold if options.threshold is None else options.threshold)
    predictor = Predictor(model, card, options.predictor_config())
    return options, card, path, threshold, predictor


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
def same_grid(a: SceneReader, b: SceneReader) -> bool:
    return (a.crs == b.crs and a.width == b.width and a.height == b.height
            and a.transform.almost_equals(b.transform, precision=1e-6 * abs(b.transform.a)))


#: Fewest pixels (of the post grid) a reprojected pair must overlap by, across and along.
MIN_OVERLAP_PX = 3


def check_overlap(pre: SceneReader, post: SceneReader) -> tuple[int, int]:
    """Refuse a pair whose footprints do not intersect (after bringing pre into post's CRS), or
    overlap by less than MIN_OVERLAP_PX post pixels; return the overlap (columns, rows)."""
    from rasterio.warp import transform_bounds

    def bounds(r: SceneReader):
        return rasterio.transform.array_bounds(r.height, r.width, r.transform)  # (west, south, east, north)

    l, b, r, t = transform_bounds(pre.crs, post.crs, *bounds(pre))
    pw, ps, pe, pn = bounds(post)
    covers = (f"pre covers {l:.0f},{b:.0f} - {r:.0f},{t:.0f} and post {pw:.0f},{ps:.0f} - {pe:.0f},{pn:.0f} "
              f"in {post.crs.to_string()}")
    if min(r, pe) <= max(l, pw) or min(t, pn) <= max(b, ps):
        raise InputError(
            f"The pre scene {pre.path} and the post scene {post.path} do not overlap ({covers}), so no change "
            "can be computed.", "Give two images of the same area.")
    px_w, px_h = post.pixel_size_m
    cols = int((min(r, pe) - max(l, pw)) // px_w)
    rows = int((min(t, pn) - max(b, ps)) // px_h)
    if cols < MIN_OVERLAP_PX or rows < MIN_OVERLAP_PX:
        area_ha = max(min(r, pe) - max(l, pw), 0) * max(min(t, pn) - max(b, ps), 0) / 1e4
        raise InputError(
            f"The pre scene {pre.path} and the post scene {post.path} overlap on only {cols} x {rows} pixels "
            f"({area_ha:.2f} ha; {covers}): too little to compare.", "Give two images of the same area.")
    return cols, rows


def reproject_scene_to(src_path: Path, target: SceneReader, out_path: Path,
                       cancel: Optional[CancelToken] = None) -> Path:
    """Write ``src_path`` as a scene GeoTIFF on ``target``'s grid, strip by strip.

    Bands are resampled bilinearly, the ``valid`` band by nearest neighbour; pixels outside
    the source or at its nodata become NaN (not valid).
    """
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    with SceneReader(src_path) as src:
        names = [b for b in ALL_BANDS if b in src.band_index]
        idx = [src.band_index[b] for b in names]
        src_nodata = src.nodata
        provenance = dict(src.provenance)
    provenance["reprojected_onto"] = {"crs": target.crs.to_string(), "transform": list(target.transform)[:6],
                                      "width": target.width, "height": target.height}
    with rasterio.open(src_path) as ds, SceneReader(src_path) as src:
        has_valid = VALID in src.band_index
        common = dict(crs=target.crs, transform=target.transform, width=target.width, height=target.height,
                      dtype="float32", nodata=float("nan"), src_nodata=src_nodata)
        profile = scene_profile(target.width, target.height, len(names) + 1, target.transform, target.crs)
        partial = out_path.with_name(out_path.name + ".partial")
        with WarpedVRT(ds, resampling=Resampling.bilinear, **common) as bil, \
                WarpedVRT(ds, resampling=Resampling.nearest, **common) as near, \
                rasterio.open(partial, "w", **profile) as dst:
            for y0 in range(0, target.height, STRIP_ROWS):
                check_cancel(cancel)
                win = Window(0, y0, target.width, min(STRIP_ROWS, target.height - y0))
                data = bil.read(idx, window=win)
                valid = np.isfinite(data).all(axis=0)
                if has_valid:
                    v = near.read(src.band_index[VALID], window=win)
                    valid &= np.isfinite(v) & (v != 0)
                dst.write(data, indexes=list(range(1, len(names) + 1)), window=win)
                dst.write(valid.astype(np.float32)[None], indexes=[len(names) + 1], window=win)
            for i, name in enumerate(names + [VALID]):
                dst.set_band_description(i + 1, name)
            dst.update_tags(**{SCENE_PROVENANCE_TAG: json.dumps(provenance, default=str)})
    partial.replace(out_path)
    return out_path


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
        aligned = same_grid(pre, post)
        if not aligned:
            overlap = check_overlap(pre, post)
    options, card, path, threshold, predictor = _prepare(model_path, options, loaded)
    with StagedOutput(out_dir, [pre_path, post_path], PAIR_OUTPUTS) as stage:
        summary = _detect_pair_into(stage.folder, pre_path, post_path, aligned, options, card, path, threshold,
                                    predictor, progress, cancel, t0, overlap)
    return {**stage.repoint(summary), "replaced": stage.replaced}


def _detect_pair_into(out_dir: Path, pre_path: Path, post_path: Path, aligned: bool, options, card, path,
                      threshold, predictor, progress, cancel, t0, overlap=None) -> dict[str, Any]:
    reprojection = None
    pre_input = pre_path
    tmp_pre = out_dir / ".pre_on_post_grid.tif"
    try:
        if not aligned:
            with SceneReader(post_path) as post:
                reproject_scene_to(pre_path, post, tmp_pre, cancel)
            pre_input = tmp_pre
            reprojection = {"pre_grid": grid_of(pre_path), "onto_post_grid": grid_of(post_path),
                            "resampling": "bilinear for bands, nearest for the valid mask"}
        where = (f" where it overlaps the post scene ({overlap[0]} x {overlap[1]} pixels of the post grid)"
                 if overlap else "")
        pre_res = _detect_one(pre_input, out_dir / "pre", predictor, card, path, threshold, options, progress,
                              cancel, "detect pre", "pre", shown_path=pre_path, where=where)
    finally:
        tmp_pre.unlink(missing_ok=True)
    if reprojection:
        pre_res.summary["scene"] = str(pre_path)
        pre_res.summary["reprojected"] = reprojection
        (out_dir / "pre" / "summary.json").write_text(json.dumps(pre_res.summary, indent=2, default=str))
    post_res = _detect_one(post_path, out_dir / "post", predictor, card, path, threshold, options, progress,
                           cancel, "detect post", "post")
    check_cancel(cancel)
    if progress:
        progress(0, 1, "change")
    t_change = time.perf_counter()
    pair = summarise_pair(pre_res.prob, post_res.prob, post_res.slope_deg, post_res.transform, post_res.crs,
                          threshold, options.min_area_ha)
    card_dict = card.to_dict()
    provenance = {"pre": pre_res.summary["provenance"], "post": post_res.summary["provenance"]}
    if reprojection:
        provenance["reprojected"] = reprojection
    exports.write_cog(pair.change, out_dir / "change.tif", post_res.transform, post_res.crs, "change",
                      card_dict, provenance)
    exports.write_geojson(pair.new_features, out_dir / "change.geojson", card_dict, provenance,
                          {"threshold": threshold, "min_area_ha": options.min_area_ha, "change_class": "new"})
    if progress:
        progress(1, 1, "change")
    summary = {
        "kind": "pair",
        "pre_scene": str(pre_path),
        "post_scene": str(post_path),
        "grid": post_res.summary["grid"],
        "reprojected": reprojection,
        "model": _model_summary(card, path),
        "threshold": threshold,
        "min_area_ha": options.min_area_ha,
        "change": pair.summary,
        "pre": {k: pre_res.summary[k] for k in ("landslide_ha", "landslide_count", "not_assessable_ha", "timings_s")},
        "post": {k: post_res.summary[k] for k in ("landslide_ha", "landslide_count", "not_assessable_ha", "timings_s")},
        "timings_s": {"change": round(time.perf_counter() - t_change, 3), "total": round(time.perf_counter() - t0, 3)},
        "provenance": provenance,
        "outputs": {"pre": "pre/", "post": "post/", "change": "change.tif", "new_landslides": "change.geojson"},
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


__all__ = ["DetectionOptions", "detect_scene", "detect_pair", "load_model", "reproject_scene_to"]
