"""The analysis pipeline behind the dashboard's "Run analysis" button.

    request + source + model + options
      -> fetch pre, fetch post      (the source's own disk cache)
      -> detect pre, detect post    (detection.detect_pair: probabilities, masks, polygons)
      -> change                     (change raster, new landslides, summary)
      -> display images             (compact PNG overlays for the maps)

Each analysis lives in one folder under the results root (``results.py``: the store), named
by a hash of everything that decides its pixels: the request key, the source's name and
version, the model's weights (SHA-256) and the detection options. ``done.json`` is written
last, with the checksums of the files, so a folder with it is finished: the same request again
returns it at once (``from_cache=True``) without touching the source or the model, once its
files check out. A folder without it (a crash or a cancel) or with damaged files is redone;
fetched scenes are kept by the source's cache, so redoing skips the fetch. While an analysis
uses its two scenes they are pinned in the cache, so fetching one never evicts the other.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any, Optional

from .checkpoint import card_and_weights_paths, read_card, sha256_file
from .errors import InputError, SourceError, UserError
from .memory_pages import small_pages
from .progress import CancelToken, ProgressFn, check_cancel, no_progress
# The result store and the views of a result live in their own modules; their names stay
# importable from here.
from .result_views import (EXPORT_FILES, SLOPE_CLASSES_DEG, default_min_area_ha,  # noqa: F401
                           default_threshold, export_file, feature_table, grid_of, model_card_record,
                           prefetch_rethreshold, provenance_record, rethreshold, slope_class_areas)
from .results import (DONE_FILE, RESULT_VERSION, AnalysisResult, default_results_root,  # noqa: F401
                      file_manifest, find_cached, list_results, load_result, new_work_folder, publish)

log = logging.getLogger(__name__)

#: The stages reported to ``progress(done, total, stage)``, in order.
STAGES: tuple[str, ...] = ("fetch pre", "fetch post", "detect pre", "detect post", "change")


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
        raise SourceError(f"The source '{source.name}' is not ready: {readiness.message}")

    folder = new_work_folder(results_root, key)
    try:
        with small_pages():  # an analysis allocates many large fresh arrays (see memory_pages)
            return _run_into(folder, results_root / key, key, request, source, model_path, options, progress,
                             cancel, started, loaded_model)
    finally:
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)


#: How often a scene is fetched again when it was evicted between its fetch and its pinning.
PIN_ATTEMPTS = 3


def _fetch_pinned(source, request, window, stage: str, pins: contextlib.ExitStack, progress: ProgressFn,
                  cancel: Optional[CancelToken]):
    """Fetch a window's scene and pin it in the source's cache until the analysis ends."""
    from .sources.cache import pin_scene

    for _ in range(PIN_ATTEMPTS):
        check_cancel(cancel)
        fetched = source.fetch(request, window, progress=_StageProgress(progress, stage), cancel=cancel)
        pins.enter_context(pin_scene(fetched.path))
        if Path(fetched.path).is_file():
            return fetched
    raise SourceError(f"The {stage[len('fetch '):]} scene was removed from the scene cache right after it was "
                      "fetched, several times (the cache is too small for the analyses running now).",
                      "Raise LANDSLIDE_CACHE_MAX_GB, or run fewer analyses at once.")


def _ready_model(model_path, options, request, loaded_model):
    """:func:`landslide_core.detection.ready_model` for the request's grid."""
    from .detection import ready_model

    grid = request.grid()
    return ready_model(model_path, options, (grid.height, grid.width), loaded_model)


def _run_into(folder: Path, final: Path, key: str, request, source, model_path, options,
              progress: ProgressFn, cancel: Optional[CancelToken], started: float,
              loaded_model=None) -> AnalysisResult:
    from concurrent.futures import ThreadPoolExecutor

    with contextlib.ExitStack() as pins:
        # the model is read and its backend made ready beside the fetch (a download or the demo
        # world), not after it; its errors are raised once the scenes are in
        model_pool = ThreadPoolExecutor(1, thread_name_prefix="landslide-model")
        model_job = model_pool.submit(_ready_model, model_path, options, request, loaded_model)
        try:
            fetched = {}
            for date, window in (("pre", request.pre), ("post", request.post)):
                stage = f"fetch {date}"
                progress(0, 1, stage)
                fetched[date] = _fetch_pinned(source, request, window, stage, pins, progress, cancel)
                progress(1, 1, stage)
            check_cancel(cancel)
            loaded_model = model_job.result()
        finally:
            model_pool.shutdown(wait=False)  # a cancelled fetch does not wait for the model

        from .detection import detect_pair
        from .display import build_display
        from .progress import LinkedCancelToken

        # the display images need the scenes only: made beside the detection, on the core its
        # single-threaded steps leave free (GDAL, Pillow and numpy release the GIL)
        display_cancel = LinkedCancelToken(cancel)
        with ThreadPoolExecutor(1, thread_name_prefix="landslide-display") as pool:
            display_job = pool.submit(build_display, folder, fetched["pre"].path, fetched["post"].path,
                                      cancel=display_cancel)
            try:
                detection = detect_pair(fetched["pre"].path, fetched["post"].path, folder, model_path=model_path,
                                        options=options, progress=progress, cancel=cancel, loaded=loaded_model)
            except BaseException:
                display_cancel.cancel()  # and the pool waits for it before the folder goes
                raise
            display = display_job.result()
        check_cancel(cancel)
    summary = _read_json(folder / "summary.json") or (detection if isinstance(detection, dict) else {})
    card = read_card(model_path)
    result = AnalysisResult(
        folder=final, key=key, request=_jsonable(request.normalised()),
        source={"name": source.name, "version": str(source.version)},
        model={**card.to_dict(), "path": str(model_path)},
        options=options_dict(options), summary=_jsonable(summary),
        provenance={"pre": _jsonable(fetched["pre"].provenance), "post": _jsonable(fetched["post"].provenance)},
        scenes={"pre": str(fetched["pre"].path), "post": str(fetched["post"].path)},
        finished=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        elapsed_s=round(time.perf_counter() - started, 3), from_cache=False, display=display,
    )
    published = publish(folder, result)
    progress(1, 1, "change")
    return published


def _read_json(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


__all__ = ["STAGES", "AnalysisResult", "run_analysis", "load_result", "list_results", "find_cached",
           "analysis_key", "default_results_root", "UserError", "EXPORT_FILES", "export_file", "rethreshold",
           "grid_of", "default_threshold", "default_min_area_ha", "slope_class_areas", "feature_table",
           "provenance_record", "model_card_record", "SLOPE_CLASSES_DEG", "DONE_FILE", "RESULT_VERSION"]
