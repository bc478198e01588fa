"""A labelled dataset -> Landslide4Sense layout, through the one patch exporter.

Every ROI that is labelled (accepted) and carries no quality flag becomes its patches (the
128 px patches centred in the ROI: one for a 1500 m ROI); the others are listed in the
manifest with why they stayed out (flagged, skipped, not labelled, no imagery). The split is
by ROI, so each place is either trained or validated on.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from ..errors import InputError
from ..patches.export import PatchExporter
from ..progress import CancelToken, ProgressFn, check_cancel
from .store import DatasetStore


def export_dataset(store: DatasetStore, out_dir: str | Path, val_share: float = 0.2, seed: int = 0,
                   append: bool = False, progress: Optional[ProgressFn] = None,
                   cancel: Optional[CancelToken] = None) -> dict[str, Any]:
    """Export ``store`` into ``out_dir``; return the manifest (see the module docstring)."""
    out = Path(out_dir).expanduser()
    if out.resolve() == store.root.resolve() or store.root.resolve() in out.resolve().parents:
        raise InputError("The export folder lies inside the dataset folder.", "Export into a folder of its own.")
    exporter = PatchExporter(out, append=append, description={
        "dataset": store.spec.name, "dataset_folder": str(store.root), "source": store.spec.source,
        "window": list(store.spec.window), "pre_window": store.spec.pre_window,
        "cloud_limit_pct": store.spec.cloud_limit_pct, "roi_size_m": store.spec.roi_size_m})
    ids = store.roi_ids()
    for k, roi_id in enumerate(ids):
        check_cancel(cancel)
        label = store.label(roi_id)
        fetched = store.fetch_record(roi_id)
        post = (fetched.get("scenes") or {}).get("post") or {}
        meta = {"roi": roi_id, "scene_ids": post.get("scene_ids", []), "dates": post.get("dates", []),
                "labeller": label.labeller, "flags": label.flags, "status": label.status,
                "label_updated": label.updated, "suggestion_model": label.suggestion_model,
                "source": fetched.get("source", store.spec.source)}
        reason = label.excluded_reason
        if reason is None and not store.has_scene(roi_id):
            reason = "no imagery"
        if reason:
            exporter.exclude(roi_id, reason, meta)
        else:
            exporter.add(store.scene_path(roi_id), label.features, roi_id, meta)
        if progress:
            progress(k + 1, len(ids), "exporting")
    return exporter.finish(val_share, seed)
