"""The demo source: a synthetic landslide event for any area and dates, offline.

It wraps ``landslide_core.synthetic.generate_event`` behind the imagery-source interface. The
event is generated on ``request.grid()`` with a seed taken from the request key, so the same
area and dates always give the same scenes. A window that ends before the event date gets the
event's "before" scene, any other window its "after" scene. The event date is the demo
event's own date for the demo area, otherwise the day after the 'before' window ends.
``list_scenes`` gives plausible synthetic acquisitions every 5 days with deterministic cloud
cover (one fairly clear date per window).

With ``world`` (an AOI, e.g. a regional batch's region), every request is served from the one
synthetic world of that area: the world's scenes (seed, dates and grid of the world's own
request) are rendered once, cached, and each request's grid is cut out of them
(:mod:`landslide_core.sources.regrid`), so the tiles of a region see one consistent world and
agree pixel for pixel with a request for the whole region. :meth:`DemoSource.prepare` renders
the world ahead of the tiles.
"""
from __future__ import annotations

import dataclasses
import datetime
import random
import threading
from typing import Any, Optional

import numpy as np

from ..errors import SourceError
from ..progress import CancelToken, ProgressFn, check_cancel
from ..scene import RawScene
from .aoi import normalised_aoi
from .base import FetchedScene, Readiness, SceneListing
from .cache import SceneCache, scene_key
from .request import MAX_AOI_KM2, AnalysisRequest, DateWindow, parse_date
from .selection import choose_least_cloudy

REVISIT_DAYS = 5
#: The largest world rendered for ``world``: the generator's limit (4096 px a side at 10 m).
WORLD_MAX_KM2 = 1600.0


def _synthetic():
    from .. import synthetic

    return synthetic


class DemoSource:
    """Synthetic Sentinel-2-like scenes with a landslide event, for any AOI and dates."""

    name = "demo"
    version = "1"

    def __init__(self, cache: Optional[SceneCache] = None, clouds: bool = True,
                 event_date: Optional[datetime.date] = None, world: Optional[dict] = None):
        self.cache = cache if cache is not None else SceneCache()
        self.clouds = clouds
        self.event_date_override = event_date
        self.world = normalised_aoi(world) if world is not None else None
        self._lock = threading.Lock()
        self._last: Optional[tuple[str, Any]] = None
        self._world_scenes: dict[str, FetchedScene] = {}

    def readiness(self) -> Readiness:
        try:
            _synthetic().generate_event  # noqa: B018 - presence check
        except (ImportError, AttributeError) as exc:
            return Readiness(False, f"Demo: not available, the synthetic generator cannot be loaded "
                             f"({exc}). Reinstall the project (pip install -r requirements.txt).")
        return Readiness(True, "Demo: ready. Synthetic scenes with a landslide event for any area "
                         "and dates; no account or network needed.")

    # --- determinism ---------------------------------------------------------------------------
    @staticmethod
    def is_demo_area(request: AnalysisRequest) -> bool:
        try:
            return normalised_aoi(_synthetic().DEMO_EVENT.aoi) == normalised_aoi(request.aoi)
        except (ImportError, AttributeError):
            return False

    @classmethod
    def seed_for(cls, request: AnalysisRequest) -> int:
        """The demo event's own seed for its area (so its truth is known), else from the request key."""
        if cls.is_demo_area(request):
            return int(_synthetic().DEMO_EVENT.seed)
        return int(request.key()[:8], 16)

    def world_request(self, request: AnalysisRequest) -> AnalysisRequest:
        """The request whose synthetic world serves ``request``: the world's own (its AOI, the
        request's dates and cloud limit) when the source has a ``world``, else ``request``."""
        if self.world is None:
            return request
        return AnalysisRequest(self.world, request.pre, request.post, request.cloud_limit_pct, request.composite)

    def event_date(self, request: AnalysisRequest) -> datetime.date:
        request = self.world_request(request)
        if self.event_date_override is not None:
            return self.event_date_override
        if self.is_demo_area(request):
            return parse_date(_synthetic().DEMO_EVENT.event_date, "demo event date")
        return request.pre.end + datetime.timedelta(days=1)

    def list_scenes(self, request: AnalysisRequest, window: DateWindow) -> list[SceneListing]:
        request = self.world_request(request)
        seed = self.seed_for(request)
        rng = random.Random(f"{seed}:{window.start}:{window.end}")
        first = window.start + datetime.timedelta(days=seed % REVISIT_DAYS)
        dates = []
        d = first if first <= window.end else window.end
        while d <= window.end:
            dates.append(d)
            d += datetime.timedelta(days=REVISIT_DAYS)
        clear_index = rng.randrange(len(dates))
        out = []
        for i, d in enumerate(dates):
            scene = rng.uniform(2.0, 12.0) if i == clear_index else 80.0 * rng.random() ** 2
            aoi = min(100.0, max(0.0, scene + rng.uniform(-10.0, 10.0)))
            out.append(SceneListing(d, f"DEMO_{d:%Y%m%d}_{seed:08x}", round(scene, 1), round(aoi, 1), 100.0))
        return out

    def chosen_date(self, request: AnalysisRequest, window: DateWindow,
                    after: Optional[datetime.date] = None) -> SceneListing:
        """The least cloudy synthetic acquisition of the window under the limit (after ``after``)."""
        listings = [s for s in self.list_scenes(request, window) if after is None or s.date > after]
        best = choose_least_cloudy(listings, float(request.cloud_limit_pct), window, "the demo")
        return next(s for s in listings if s.date == best.date)

    def pair_dates(self, request: AnalysisRequest) -> tuple[SceneListing, SceneListing]:
        """The 'before' and 'after' acquisitions; the after one is always later."""
        pre = self.chosen_date(request, request.pre)
        return pre, self.chosen_date(request, request.post, after=pre.date)

    def event(self, request: AnalysisRequest):
        """The whole synthetic event of a request (scenes and truth: ``new_landslides``); with a
        ``world``, the world's event."""
        request = self.world_request(request)
        pre, post = self.pair_dates(request)
        return self._event(request, pre.date, post.date)

    # --- fetching ------------------------------------------------------------------------------
    def cache_key(self, request: AnalysisRequest, window: DateWindow) -> str:
        extra = {"clouds": self.clouds, "event_date": self.event_date(request).isoformat()}
        if self._cut_from_world(request):
            extra["world"] = self.world
        return scene_key(self.name, self.version, request.normalised(), window.to_json(),
                         request.grid().key(), extra)

    def _event(self, request: AnalysisRequest, pre_date: datetime.date, post_date: datetime.date):
        key = f"{request.key()}:{pre_date}:{post_date}:{self.clouds}"
        with self._lock:
            if self._last is not None and self._last[0] == key:
                return self._last[1]
            event = _synthetic().generate_event(request.grid(), seed=self.seed_for(request),
                                                pre_date=pre_date.isoformat(),
                                                post_date=post_date.isoformat(), clouds=self.clouds)
            self._last = (key, event)
            return event

    def _cut_from_world(self, request: AnalysisRequest) -> bool:
        """Whether ``request``'s scenes are cut out of the world's (not the world's own request)."""
        return self.world is not None and self.world_request(request).normalised() != request.normalised()

    def prepare(self, request: AnalysisRequest, progress: Optional[ProgressFn] = None,
                cancel: Optional[CancelToken] = None) -> None:
        """Render (or find in the cache) the world's scenes of both windows, once, before the
        tiles of a region are cut from them."""
        world = self.world_request(request)
        for window in (world.pre, world.post):
            self._fetch_own(world, window, progress, cancel, WORLD_MAX_KM2 if self.world else MAX_AOI_KM2)

    def fetch(self, request: AnalysisRequest, window: DateWindow, progress: Optional[ProgressFn] = None,
              cancel: Optional[CancelToken] = None) -> FetchedScene:
        if not self._cut_from_world(request):
            return self._fetch_own(request, window, progress, cancel,
                                   WORLD_MAX_KM2 if self.world is not None else MAX_AOI_KM2)
        from .regrid import write_scene_on_grid

        request.validate()
        world = self.world_request(request)
        whole = self._world_scene(world, window, cancel)
        check_cancel(cancel)
        grid = request.grid()
        extra = {"grid": grid.key(), "cut_from_world": {"aoi": self.world, "grid": world.grid().key()}}
        path, hit = self.cache.get_or_create(self.cache_key(request, window),
                                             lambda tmp: write_scene_on_grid(whole.path, grid, tmp, extra))
        from ..scene import SceneReader

        with SceneReader(path) as reader:
            provenance = dict(reader.provenance)
        if progress:
            progress(1, 1, "cut")
        return FetchedScene(path, provenance, hit)

    def _world_scene(self, world: AnalysisRequest, window: DateWindow,
                     cancel: Optional[CancelToken]) -> FetchedScene:
        """The world's scene of a window, from the cache once, then remembered (the tiles of a
        region cut many grids from one world scene)."""
        key = self.cache_key(world, window)
        hit = self._world_scenes.get(key)
        if hit is not None and hit.path.exists():
            return hit
        scene = self._fetch_own(world, window, None, cancel, WORLD_MAX_KM2)
        self._world_scenes = {key: scene, **{k: v for k, v in list(self._world_scenes.items())[:1]}}
        return scene

    def _fetch_own(self, request: AnalysisRequest, window: DateWindow, progress: Optional[ProgressFn],
                   cancel: Optional[CancelToken], max_area_km2: float) -> FetchedScene:
        """The scene of ``request``'s own synthetic event (generated on its grid)."""
        request.validate(max_area_km2=max_area_km2)
        check_cancel(cancel)

        def make_scene() -> RawScene:
            pre, post = self.pair_dates(request)
            event_date = self.event_date(request)
            is_pre = window.end < event_date
            if progress:
                progress(0, 1, "generate")
            event = self._event(request, pre.date, post.date)
            check_cancel(cancel)
            scene = event.pre if is_pre else event.post
            this = pre if is_pre else post  # the date the scene was rendered for
            if scene is None:
                raise SourceError("The synthetic generator returned no scene.", "This is a bug: please report it.")
            scene = dataclasses.replace(scene, provenance={
                **dict(getattr(scene, "provenance", {}) or {}),
                "source": self.name, "source_version": self.version, "synthetic": True,
                "seed": self.seed_for(request), "event_date": event_date.isoformat(),
                "role": "pre" if is_pre else "post", "window": window.to_json(),
                "dates": [this.date.isoformat()],
                "scenes": [this.to_json()],
                "aoi_cloud_pct": round(100.0 * (1.0 - float(np.mean(scene.valid))), 2),
                "grid": request.grid().key(),
            })
            if progress:
                progress(1, 1, "generate")
            return scene

        return self.cache.fetch_scene(self.cache_key(request, window), make_scene)
