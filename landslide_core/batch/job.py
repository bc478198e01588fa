"""What a batch computes, as the tasks read it: ``DIR/work/job.json``.

The job holds everything a tile task needs besides the plan (region, date windows, source,
model, detection settings), so tasks pass only the job's path and a tile id. Its
:meth:`BatchJob.key` identifies the results: a rerun with the same key reuses finished tiles,
one with another key into the same folder is refused.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

from ..detection import DetectionOptions
from ..sources.request import AnalysisRequest, DateWindow, stable_hash
from .tiling import PixelWindow, Tile, Zone

JOB_VERSION = 1


@dataclass
class BatchJob:
    """A regional batch's inputs (JSON-able)."""

    region: dict
    pre: list[str]
    post: list[str]
    cloud_limit_pct: float
    composite: str
    source: str
    source_options: dict
    model_path: str
    model_sha256: str
    options: dict
    tile_km: float
    #: torch threads per task (one per worker: the workers are the parallelism)
    torch_threads: int = 1
    version: int = JOB_VERSION
    extra: dict = field(default_factory=dict)

    def key(self) -> str:
        """What the results depend on (not how many threads or workers compute them)."""
        d = dataclasses.asdict(self)
        for k in ("torch_threads", "extra"):
            d.pop(k)
        return stable_hash(d)[:24]

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "key": self.key()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BatchJob":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def detection_options(self) -> DetectionOptions:
        return DetectionOptions.from_dict(self.options)

    def windows(self) -> tuple[DateWindow, DateWindow]:
        return (DateWindow.parse(*self.pre, label="'before' window"),
                DateWindow.parse(*self.post, label="'after' window"))

    def region_request(self) -> AnalysisRequest:
        pre, post = self.windows()
        return AnalysisRequest(self.region, pre, post, self.cloud_limit_pct, self.composite)

    def tile_request(self, zone: Zone, tile: Tile) -> AnalysisRequest:
        """The request of one tile: its fetch window's footprint as the AOI, on its exact grid."""
        return self.window_request(zone, tile.fetch)

    def window_request(self, zone: Zone, window: PixelWindow) -> AnalysisRequest:
        grid = window.grid(zone.grid)
        return dataclasses.replace(self.region_request(), aoi=footprint_lonlat(grid)).on_grid(grid)


def footprint_lonlat(grid, points_per_side: int = 8) -> dict:
    """A grid's outline as a GeoJSON polygon in EPSG:4326 (sides densified)."""
    from pyproj import Transformer

    left, bottom, right, top = grid.bounds
    xs, ys = [], []
    for k in range(points_per_side):
        f = k / points_per_side
        xs += [left + f * (right - left), right, right - f * (right - left), left]
        ys += [bottom, bottom + f * (top - bottom), top, top - f * (top - bottom)]
    # order the ring: bottom edge, right edge, top edge, left edge
    ring_x, ring_y = [], []
    for side in range(4):
        ring_x += xs[side::4]
        ring_y += ys[side::4]
    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(ring_x, ring_y)
    ring = [[round(float(a), 9), round(float(b), 9)] for a, b in zip(lon, lat)]
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


def options_to_dict(options: Optional[DetectionOptions]) -> dict[str, Any]:
    options = (options or DetectionOptions()).validate()
    d = dataclasses.asdict(options)
    d["rules"] = options.rules.to_dict()
    d["change"] = options.change.to_dict()
    return d


__all__ = ["BatchJob", "footprint_lonlat", "options_to_dict"]
