"""Where a batch keeps its files: ``DIR/work/`` for the job, the plan and each tile's results.

::

    DIR/work/job.json                      what the batch computes (region, dates, source, model, settings)
    DIR/work/plan.json                     zones and tiles (landslide_core.batch.tiling)
    DIR/work/<zone>/shift.json             the zone's co-registration shift (estimated once per zone)
    DIR/work/<zone>/tiles/<tile>/
        scenes/pre.tif, post.tif, provenance.json      fetched (removed once the tile is predicted)
        fetch.done                                     marker: the scenes are complete
        accum_pre.tif, accum_post.tif, evidence.tif    predicted (weighted sums and weights; evidence of the core)
        predict.done                                   marker
        change.tif, probability_post.tif, features.json  the core's change, probability and new landslides
        change.done                                    marker (names the zone's state it was computed from)

A marker is a small JSON file written last, atomically: a tile with its marker is finished
and is reused by a rerun; anything without one is computed again.
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any, Optional

STAGES = ("fetch", "predict", "change")


class BatchLayout:
    """Paths of one batch's files under its output folder."""

    def __init__(self, out_dir: str | Path):
        self.out = Path(out_dir)
        self.work = self.out / "work"

    @property
    def job(self) -> Path:
        return self.work / "job.json"

    @property
    def plan(self) -> Path:
        return self.work / "plan.json"

    def zone_dir(self, zone_id: str) -> Path:
        return self.work / zone_id

    def shift(self, zone_id: str) -> Path:
        return self.zone_dir(zone_id) / "shift.json"

    def tile_dir(self, zone_id: str, tile_id: str) -> Path:
        return self.zone_dir(zone_id) / "tiles" / tile_id

    def scenes(self, zone_id: str, tile_id: str) -> Path:
        return self.tile_dir(zone_id, tile_id) / "scenes"

    def marker(self, zone_id: str, tile_id: str, stage: str) -> Path:
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}")
        return self.tile_dir(zone_id, tile_id) / f"{stage}.done"

    def accum(self, zone_id: str, tile_id: str, which: str) -> Path:
        return self.tile_dir(zone_id, tile_id) / f"accum_{which}.tif"

    def evidence(self, zone_id: str, tile_id: str) -> Path:
        return self.tile_dir(zone_id, tile_id) / "evidence.tif"

    def change(self, zone_id: str, tile_id: str) -> Path:
        return self.tile_dir(zone_id, tile_id) / "change.tif"

    def probability_post(self, zone_id: str, tile_id: str) -> Path:
        return self.tile_dir(zone_id, tile_id) / "probability_post.tif"

    def features(self, zone_id: str, tile_id: str) -> Path:
        return self.tile_dir(zone_id, tile_id) / "features.json"


def write_json(path: Path, data: Any) -> Path:
    """Write JSON through a unique temporary name and rename it into place (atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    try:
        tmp.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_json(path: Path) -> Optional[Any]:
    """The JSON in ``path``, or None when it is missing or unreadable (an unfinished marker)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


__all__ = ["BatchLayout", "STAGES", "read_json", "write_json"]
