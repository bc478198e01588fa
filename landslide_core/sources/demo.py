"""The demo source: a synthetic landslide event for any area and dates, offline.

It wraps ``landslide_core.synthetic`` behind the imagery-source interface. The event is
generated on ``request.grid()`` with a seed taken from the area alone (the demo event's own
for its area), so the same area always has the same terrain and landslides, whatever the
dates, the cloud limit or the composite. A window that ends before the event date gets the
event's "before" scene, any other window its "after" scene. The event date is the demo
event's own date for the demo area, otherwise the day after the 'before' window ends.

The acquisitions are the area's :class:`~.demo_timeline.DemoTimeline` passes: every 5 days,
with a cloud cover that depends only on the area and the date (never on the window, the cloud
limit or the composite that asks). The "least cloudy" composite renders the clearest pass of
a window; the "median" composite renders the clearest few passes under the cloud limit, each
under its own clouds, and takes the per-pixel median of their clear pixels.

With ``timeline=True`` (what the watchlist uses) each scene is the chosen pass rendered from
the area's timeline world, with the area's event on a known date (``event_date``).

With ``world`` (an AOI, e.g. a regional batch's region), every request is served from the one
synthetic world of that area: the world's scenes (its seed, passes and grid) are rendered once,
cached, and each request's grid is cut out of them (:mod:`landslide_core.sources.regrid`), so
the tiles of a region see one consistent world and agree pixel for pixel with a request for
the whole region. :meth:`DemoSource.prepare` renders the world ahead of the tiles.
"""
from __future__ import annotations

import dataclasses
import datetime
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
from .selection import choose_least_cloudy, dates_used

#: A median combines at most this many passes (the clearest under the cloud limit).
MEDIAN_MAX_DATES = 5
#: The largest world rendered for ``world``: the generator's limit (4096 px a side at 10 m).
WORLD_MAX_KM2 = 1600.0


def _synthetic():
    from .. import synthetic

    return synthetic


class DemoSource:
    """Synthetic Sentinel-2-like scenes with a landslide event, for any AOI and dates."""

    name = "demo"
    version = "2"  # 2: passes per area and date (not per request); the median composite

    def __init__(self, cache: Optional[SceneCache] = None, clouds: bool = True,
                 event_date: Optional[datetime.date | str] = None, timeline: bool = False,
                 world: Optional[dict] = None):
        self.cache = cache if cache is not None else SceneCache()
        self.clouds = clouds
        self.event_date_override = parse_date(event_date, "demo event date") if event_date else None
        self._lock = threading.Lock()
        self._last: Optional[tuple[str, Any, set]] = None  # (event key, event, dates taken)
        self.world = normalised_aoi(world) if world is not None else None
        self._world_scenes: dict[str, FetchedScene] = {}
        self.timeline = bool(timeline)
        if self.timeline:  # the version names what decides the pixels (it keys analyses)
            self.version = f"{DemoSource.version}+timeline" + (
                f":{self.event_date_override}" if self.event_date_override else "")

    @classmethod
    def watch_options(cls, aoi: dict, baseline: DateWindow) -> dict[str, Any]:
        """Options for watching ``aoi`` over time: the timeline, with the event the day after
        the baseline window (the demo area: its own event date)."""
        from .demo_timeline import default_event_date

        return {"timeline": True, "event_date": default_event_date(aoi, baseline.end).isoformat()}

    def over_time(self, request: AnalysisRequest):
        """The timeline of the request's area (passes, clouds, its event)."""
        from .demo_timeline import DemoTimeline

        request = self.world_request(request)
        return DemoTimeline(request.aoi, self.event_date(request))

    def readiness(self) -> Readiness:
        try:
            _synthetic().generate_event  # noqa: B018 - presence check
        except (ImportError, AttributeError) as exc:
            return Readiness(False, f"Demo: not available, the synthetic generator cannot be loaded "
                             f"({exc}). Reinstall the project (pip install -r requirements.txt).")
        from ..i18n import t

        return Readiness(True, t("sources.demo.ready", "en"), message_id="sources.demo.ready")

    # --- determinism ---------------------------------------------------------------------------
    @staticmethod
    def is_demo_area(request: AnalysisRequest) -> bool:
        try:
            return normalised_aoi(_synthetic().DEMO_EVENT.aoi) == normalised_aoi(request.aoi)
        except (ImportError, AttributeError):
            return False

    @classmethod
    def seed_for(cls, request: AnalysisRequest) -> int:
        """The demo event's own seed for its area (so its truth is known), else the area's seed
        (:func:`~.demo_timeline.area_seed`): the dates and settings of a request do not change it."""
        if cls.is_demo_area(request):
            return int(_synthetic().DEMO_EVENT.seed)
        from .demo_timeline import area_seed

        return area_seed(request.aoi)

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
        """The area's passes in the window (the same for every request on that area)."""
        return self.over_time(request).acquisitions(window)

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

    def median_dates(self, request: AnalysisRequest, window: DateWindow) -> list[SceneListing]:
        """The passes a median of the window combines: the clearest few under the cloud limit."""
        listings = self.list_scenes(request, window)
        used = dates_used(listings, float(request.cloud_limit_pct), window, "median", "the demo")
        keep = {c.date for c in sorted(used, key=lambda c: (c.aoi_cloud_pct, c.date))[:MEDIAN_MAX_DATES]}
        return [s for s in listings if s.date in keep]

    def role(self, request: AnalysisRequest, window: DateWindow) -> str:
        """"pre" for a window that ends before the event date, else "post"."""
        return "pre" if window.end < self.event_date(request) else "post"

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
        if self.timeline:  # one pass of one area, whatever window chose it: checks share scenes
            return scene_key(self.name, self.version, {"aoi": normalised_aoi(request.aoi)},
                             self.chosen_date(request, window).date.isoformat(), request.grid().key(), extra)
        # Keyed by what decides the pixels: another cloud limit that picks the same passes reuses the scene.
        role = self.role(request, window)
        if request.composite == "median":
            dates = [s.date.isoformat() for s in self.median_dates(request, window)]
        else:
            pre, post = self.pair_dates(request)
            dates = [(pre if role == "pre" else post).date.isoformat()]
        extra.update({"composite": request.composite, "dates": dates, "role": role})
        return scene_key(self.name, self.version, {"aoi": normalised_aoi(request.aoi)}, window.to_json(),
                         request.grid().key(), extra)

    def _event_key(self, request: AnalysisRequest, pre_date: datetime.date, post_date: datetime.date) -> str:
        return f"{self.seed_for(request)}:{request.grid().key()}:{pre_date}:{post_date}:{self.clouds}"

    def _event(self, request: AnalysisRequest, pre_date: datetime.date, post_date: datetime.date,
               cancel: Optional[CancelToken] = None):
        key = self._event_key(request, pre_date, post_date)
        with self._lock:
            if self._last is not None and self._last[0] == key:
                return self._last[1]
            event = _synthetic().generate_event(request.grid(), seed=self.seed_for(request),
                                                pre_date=pre_date.isoformat(),
                                                post_date=post_date.isoformat(), clouds=self.clouds,
                                                cancel=cancel)
            self._last = (key, event, set())
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

    def _served(self, request: AnalysisRequest, pre_date: datetime.date, post_date: datetime.date,
                role: str) -> None:
        """The event is kept in memory for the other date of the pair; once both dates have been
        taken it is let go (about 1 GB at 400 km2; the scenes are in the disk cache by then),
        so it does not sit in memory through the detection that follows."""
        with self._lock:
            if self._last is not None and self._last[0] == self._event_key(request, pre_date, post_date):
                self._last[2].add(role)
                if {"pre", "post"} <= self._last[2]:
                    self._last = None

    def fetch(self, request: AnalysisRequest, window: DateWindow, progress: Optional[ProgressFn] = None,
              cancel: Optional[CancelToken] = None) -> FetchedScene:
        if not self._cut_from_world(request):
            return self._fetch_own(request, window, progress, cancel,
                                   WORLD_MAX_KM2 if self.world is not None else MAX_AOI_KM2)
        from ..scene import SceneReader
        from .regrid import write_scene_on_grid

        request.validate()
        world = self.world_request(request)
        whole = self._world_scene(world, window, cancel)
        check_cancel(cancel)
        grid = request.grid()
        extra = {"grid": grid.key(), "cut_from_world": {"aoi": self.world, "grid": world.grid().key()}}
        path, hit = self.cache.get_or_create(self.cache_key(request, window),
                                             lambda tmp: write_scene_on_grid(whole.path, grid, tmp, extra),
                                             cancel=cancel)
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
        if self.timeline:
            return self.cache.fetch_scene(self.cache_key(request, window),
                                          lambda: self._timeline_scene(request, window, progress, cancel), cancel)
        if request.composite == "median":
            return self.cache.fetch_scene(self.cache_key(request, window),
                                          lambda: self._median_scene(request, window, progress, cancel), cancel)

        def make_scene() -> RawScene:
            pre, post = self.pair_dates(request)
            event_date = self.event_date(request)
            is_pre = window.end < event_date
            if progress:
                progress(0, 1, "generate")
            event = self._event(request, pre.date, post.date, cancel)
            check_cancel(cancel)
            scene = event.pre if is_pre else event.post
            self._served(request, pre.date, post.date, "pre" if is_pre else "post")
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

        return self.cache.fetch_scene(self.cache_key(request, window), make_scene, cancel)

    def _timeline_scene(self, request: AnalysisRequest, window: DateWindow, progress: Optional[ProgressFn],
                        cancel: Optional[CancelToken]) -> RawScene:
        """The window's least cloudy pass under the limit, rendered from the area's timeline."""
        timeline = self.over_time(request)
        this = self.chosen_date(request, window)
        if progress:
            progress(0, 1, "generate")
        listing = timeline.acquisition(this.date)
        scene = timeline.render(request.grid(), listing, self.clouds)
        check_cancel(cancel)
        scene = dataclasses.replace(scene, provenance={
            **dict(getattr(scene, "provenance", {}) or {}),
            "source": self.name, "source_version": self.version, "synthetic": True,
            "timeline": timeline.to_json(), "seed": timeline.seed,
            "event_date": timeline.event_date.isoformat(), "role": timeline.state_on(this.date),
            "window": window.to_json(), "dates": [this.date.isoformat()], "scenes": [this.to_json()],
            "aoi_cloud_pct": round(100.0 * (1.0 - float(np.mean(scene.valid))), 2),
            "grid": request.grid().key(),
        })
        if progress:
            progress(1, 1, "generate")
        return scene

    def _median_scene(self, request: AnalysisRequest, window: DateWindow, progress: Optional[ProgressFn],
                      cancel: Optional[CancelToken]) -> RawScene:
        """The per-pixel median of the clear pixels of the passes :meth:`median_dates` picks, each
        rendered under its own listed clouds from the same world as the least cloudy scene."""
        from .demo_timeline import _world

        dates = self.median_dates(request, window)
        event_date, role = self.event_date(request), self.role(request, window)
        if progress:
            progress(0, len(dates) + 1, "generate")
        world = _world(request.grid(), self.seed_for(request), None, cancel)  # generate_event's world
        stack, valid, first = None, None, None
        for i, listing in enumerate(dates):
            check_cancel(cancel)
            cover = max(0.0, min(0.99, float(listing.aoi_cloud_pct) / 100.0))
            options = dataclasses.replace(world.options, cloud_cover=(cover, cover))
            scene = _synthetic().render_scene(dataclasses.replace(world, options=options), role, listing.date,
                                              clouds=self.clouds, cancel=cancel)
            if stack is None:  # DN 0-10000 fit uint16; 0 marks a pixel under cloud
                first = scene
                stack = np.zeros((len(dates), scene.data.shape[0] - 1) + scene.valid.shape, np.uint16)
                valid = np.zeros((len(dates),) + scene.valid.shape, bool)
            stack[i] = np.where(scene.valid, np.clip(np.round(scene.data[:-1]), 1, 65535), 0).astype(np.uint16)
            valid[i] = scene.valid
            if progress:
                progress(i + 1, len(dates) + 1, "generate")
        data = np.array(first.data, dtype=np.float32)
        any_valid = valid.any(axis=0)
        with np.errstate(invalid="ignore"):
            for b in range(stack.shape[1]):
                check_cancel(cancel)
                band = np.where(valid, stack[:, b].astype(np.float32), np.nan)
                data[b] = np.where(any_valid, np.nanmedian(band, axis=0), first.data[b])  # all cloudy: first pass
        scene = dataclasses.replace(first, data=data, valid=any_valid, provenance={
            **dict(getattr(first, "provenance", {}) or {}),
            "source": self.name, "source_version": self.version, "synthetic": True,
            "seed": self.seed_for(request), "event_date": event_date.isoformat(), "role": role,
            "window": window.to_json(), "composite": "median",
            "dates": [s.date.isoformat() for s in dates], "scenes": [s.to_json() for s in dates],
            "aoi_cloud_pct": round(100.0 * (1.0 - float(np.mean(any_valid))), 2),
            "grid": request.grid().key(),
        })
        if progress:
            progress(len(dates) + 1, len(dates) + 1, "generate")
        return scene
