"""Suggested labels: a model's detection on an ROI's scene, as polygons the labeller accepts,
edits or clears.

The suggestion is the ordinary single-date detection (:func:`landslide_core.detection.detect_scene`:
sliding windows, threshold, minimum mapping unit, terrain and shape rules), so any model in
the models folder serves, including the training-free ``index`` model. It is kept per ROI and
model (``rois/<id>/suggestions/<model>-<weights sha>/``), so opening an ROI again is instant.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Optional

from ..errors import InputError
from ..progress import CancelToken, ProgressFn
from .store import DatasetStore

SUGGESTIONS_DIR = "suggestions"
#: The suggestion model when none is chosen: the training-free spectral detector.
DEFAULT_SUGGESTION_MODEL = "index"


def _folder_name(card_name: str, sha: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", card_name)[:60]
    return f"{safe}-{(sha or 'nosha')[:12]}"


def suggestion_folder(store: DatasetStore, roi_id: str, model: str | Path, loaded: Any = None) -> Path:
    from ..checkpoint import read_card, resolve_model_path

    if loaded is not None:
        card = loaded[1]
    else:
        card = read_card(resolve_model_path(model))
    return store.roi_dir(roi_id) / SUGGESTIONS_DIR / _folder_name(card.name, card.weights_sha256)


def suggest(store: DatasetStore, roi_id: str, model: str | Path = DEFAULT_SUGGESTION_MODEL,
            loaded: Any = None, progress: Optional[ProgressFn] = None,
            cancel: Optional[CancelToken] = None) -> list[dict[str, Any]]:
    """The model's landslide polygons (GeoJSON features, lon/lat) on the ROI's scene to label.

    ``loaded``: a model already loaded by :func:`landslide_core.detection.load_model`.
    """
    from ..detection import detect_scene, load_model

    scene = store.scene_path(roi_id)
    if not scene.is_file():
        raise InputError(f"The ROI {roi_id} has no imagery yet.", "Fetch its imagery first.")
    loaded = loaded if loaded is not None else load_model(model)
    folder = suggestion_folder(store, roi_id, model, loaded)
    polygons = folder / "landslides.geojson"
    if not polygons.is_file():
        detect_scene(scene, folder, loaded=loaded, progress=progress, cancel=cancel)
    data = json.loads(polygons.read_text())
    out = []
    for f in data.get("features") or []:
        props = f.get("properties") or {}
        out.append({"type": "Feature", "geometry": f["geometry"],
                    "properties": {"area_m2": round(float(props.get("area_ha") or 0.0) * 1e4, 1),
                                   "probability_mean": props.get("probability_mean")}})
    return out
