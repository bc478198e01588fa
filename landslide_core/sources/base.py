"""The one interface of every imagery source, and the values it returns.

A source lists the scenes of a date window (:class:`SceneListing`) and fetches one raw scene
per window as a scene GeoTIFF (``landslide_core.scene.write_scene``: B1..B12 digital numbers,
elevation, valid) on ``request.grid()``, through the disk cache (:class:`FetchedScene`).
"""
from __future__ import annotations

import datetime
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Protocol, runtime_checkable

from ..progress import CancelToken, ProgressFn
from .request import AnalysisRequest, DateWindow


@dataclass
class SceneListing:
    """One acquisition in a date window, with its cloud cover overall and inside the AOI."""

    date: datetime.date
    scene_id: str
    scene_cloud_pct: float
    aoi_cloud_pct: float
    aoi_coverage_pct: float

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["date"] = self.date.isoformat()
        return d


@dataclass
class Readiness:
    """Whether a source can be used now; ``message`` in plain words (English), with what to do
    if not. ``message_id`` and ``params``, when set, name the same text in the message catalogue
    (:func:`landslide_core.i18n.t`), so a page can show it in its own language."""

    ready: bool
    message: str
    message_id: Optional[str] = None
    params: dict = field(default_factory=dict)

    def text(self, lang: Optional[str] = None) -> str:
        """The message in ``lang`` (default: the current language); as written without an id."""
        if not self.message_id:
            return self.message
        from ..i18n import t

        return t(self.message_id, lang, **self.params)


@dataclass
class FetchedScene:
    """A scene GeoTIFF on disk with its provenance (scene ids, dates, cloud %)."""

    path: Path
    provenance: dict = field(default_factory=dict)
    from_cache: bool = False


@runtime_checkable
class ImagerySource(Protocol):
    name: str
    version: str

    def readiness(self) -> Readiness: ...

    def list_scenes(self, request: AnalysisRequest, window: DateWindow) -> list[SceneListing]: ...

    def fetch(self, request: AnalysisRequest, window: DateWindow,
              progress: Optional[ProgressFn] = None,
              cancel: Optional[CancelToken] = None) -> FetchedScene: ...
