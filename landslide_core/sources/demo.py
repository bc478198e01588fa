"""The demo source: a synthetic landslide event for any area and dates, offline.

It wraps ``landslide_core.synthetic`` behind the imagery-source interface. The event is
generated on ``request.grid()`` with a seed taken from the area alone (:func:`area_seed`), so
the same area always has the same terrain and the same acquisitions, whatever the dates, the
cloud limit or the composite. A window that ends before the event date gets the event's
"before" scene, any other window its "after" scene. The event date is the demo event's own
date for the demo area, otherwise the day after the 'before' window ends.

Acquisitions (:func:`acquisitions`) come every 5 days on a fixed schedule per area, each with
a cloud cover drawn from the area and its date only, and one fairly clear date in every 15
days (so any window of 25 days or more has one). The "least cloudy" composite renders the
clearest date; the "median" composite renders every date under the cloud limit (the
clearest few), each with its own clouds, and takes the per-pixel median of the clear pixels.
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
from .request import AnalysisRequest, DateWindow, parse_date, stable_hash
from .selection import choose_least_cloudy, dates_used

REVISIT_DAYS = 5
#: Sentinel-2A's first images: the synthetic revisits of every area are counted from here.
EPOCH = datetime.date(2015, 6, 23)
#: One fairly clear acquisition in every run of this many revisits.
CLEAR_EVERY = 3
#: A median combines at most this many dates (the clearest under the limit).
MEDIAN_MAX_DATES = 5


def _synthetic():
    from .. import synthetic

    return synthetic


def area_seed(aoi: dict) -> int:
    """The demo event's own seed for its area (so its truth is known), else one from the area."""
    try:
        demo = _synthetic().DEMO_EVENT
        if normalised_aoi(demo.aoi) == normalised_aoi(aoi):
            return int(demo.seed)
    except (ImportError, AttributeError):
        pass
    return int(stable_hash(normalised_aoi(aoi))[:8], 16)


def acquisitions(seed: int, start: datetime.date, end: datetime.date) -> list[SceneListing]:
    """The synthetic acquisitions of an area (by its seed) between two dates, inclusive.

    Every 5 days on the area's own schedule; the cloud cover of a date depends on the area
    and that date only, so overlapping windows agree. One date in every CLEAR_EVERY revisits
    is fairly clear (2-12 % cloud)."""
    phase = seed % REVISIT_DAYS
    d = start + datetime.timedelta(days=(phase - (start - EPOCH).days) % REVISIT_DAYS)
    out = []
    while d <= end:
        revisit = ((d - EPOCH).days - phase) // REVISIT_DAYS
        clear_slot = random.Random(f"{seed}:clear:{revisit // CLEAR_EVERY}").randrange(CLEAR_EVERY)
        rng = random.Random(f"{seed}:{d.isoformat()}")
        scene = rng.uniform(2.0, 12.0) if revisit % CLEAR_EVERY == clear_slot else 80.0 * rng.random() ** 2
        aoi = min(100.0, max(0.0, scene + rng.uniform(-10.0, 10.0)))
        out.append(SceneListing(d, f"DEMO_{d:%Y%m%d}_{seed:08x}", round(scene, 1), round(aoi, 1), 100.0))
        d += datetime.timedelta(days=REVISIT_DAYS)
    return out


class DemoSource:
    """Synthetic Sentinel-2-like scenes with a landslide event, for any AOI and dates."""

    name = "demo"
    version = "2"  # 2: acquisitions per area and date (not per request); median composite

    def __init__(self, cache: Optional[SceneCache] = None, clouds: bool = True,
                 event_date: Optional[datetime.date] = None):
        self.cache = cache if cache is not None else SceneCache()
        self.clouds = clouds
        self.event_date_override = event_date
        self._lock = threading.Lock()
        self._last: Optional[tuple[str, Any]] = None
        self._last_world: Optional[tuple[str, Any]] = None

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
        """The seed of the request's area (:func:`area_seed`): dates and settings do not change it."""
        return area_seed(request.aoi)

    def event_date(self, request: AnalysisRequest) -> datetime.date:
        if self.event_date_override is not None:
            return self.event_date_override
        if self.is_demo_area(request):
            return parse_date(_synthetic().DEMO_EVENT.event_date, "demo event date")
        return request.pre.end + datetime.timedelta(days=1)

    def list_scenes(self, request: AnalysisRequest, window: DateWindow) -> list[SceneListing]:
        return acquisitions(self.seed_for(request), window.start, window.end)

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
        """The dates a median of the window combines: the clearest few under the cloud limit."""
        listings = self.list_scenes(request, window)
        used = dates_used(listings, float(request.cloud_limit_pct), window, "median", "the demo")
        used = sorted(used, key=lambda c: (c.aoi_cloud_pct, c.date))[:MEDIAN_MAX_DATES]
        keep = {c.date for c in used}
        return [s for s in listings if s.date in keep]

    def event(self, request: AnalysisRequest):
        """The whole synthetic event of a request (scenes and truth: ``new_landslides``)."""
        pre, post = self.pair_dates(request)
        return self._event(request, pre.date, post.date)

    # --- fetching ------------------------------------------------------------------------------
    def role(self, request: AnalysisRequest, window: DateWindow) -> str:
        """"pre" for a window that ends before the event date, else "post"."""
        return "pre" if window.end < self.event_date(request) else "post"

    def cache_key(self, request: AnalysisRequest, window: DateWindow) -> str:
        """Keyed by what decides the pixels: the area, its grid, the dates rendered and the role,
        so another cloud limit that picks the same dates reuses the scene."""
        role = self.role(request, window)
        if request.composite == "median":
            dates = [s.date.isoformat() for s in self.median_dates(request, window)]
        else:
            pre, post = self.pair_dates(request)
            dates = [(pre if role == "pre" else post).date.isoformat()]
        extra = {"clouds": self.clouds, "event_date": self.event_date(request).isoformat(),
                 "composite": request.composite, "dates": dates, "role": role}
        return scene_key(self.name, self.version, {"aoi": normalised_aoi(request.aoi)}, window.to_json(),
                         request.grid().key(), extra)

    def _event(self, request: AnalysisRequest, pre_date: datetime.date, post_date: datetime.date):
        key = f"{stable_hash(normalised_aoi(request.aoi))}:{pre_date}:{post_date}:{self.clouds}"
        with self._lock:
            if self._last is not None and self._last[0] == key:
                return self._last[1]
            event = _synthetic().generate_event(request.grid(), seed=self.seed_for(request),
                                                pre_date=pre_date.isoformat(),
                                                post_date=post_date.isoformat(), clouds=self.clouds)
            self._last = (key, event)
            return event

    def _world(self, request: AnalysisRequest):
        """The area's synthetic world (terrain, covers, scars), kept for the last area."""
        key = f"{normalised_aoi(request.aoi)}:{self.seed_for(request)}"
        with self._lock:
            if self._last_world is not None and self._last_world[0] == key:
                return self._last_world[1]
        world = _synthetic().build_world(request.grid(), seed=self.seed_for(request))
        with self._lock:
            self._last_world = (key, world)
        return world

    def _median_scene(self, request: AnalysisRequest, window: DateWindow, role: str,
                      progress: Optional[ProgressFn], cancel: Optional[CancelToken]) -> tuple[RawScene, list]:
        """The per-pixel median of the clear pixels of every date the median uses, each date
        rendered with its own listed cloud cover. Returns the scene and the dates used."""
        dates = self.median_dates(request, window)
        world = self._world(request)
        check_cancel(cancel)
        stack, valid, first = None, None, None
        for i, listing in enumerate(dates):
            check_cancel(cancel)
            cover = max(float(listing.aoi_cloud_pct), 0.0) / 100.0
            options = dataclasses.replace(world.options, cloud_cover=(cover, cover))
            scene = _synthetic().render_scene(dataclasses.replace(world, options=options), role, listing.date,
                                              clouds=self.clouds)
            if stack is None:  # DN 0-10000 fit uint16; 0 marks a pixel under cloud
                first = scene
                stack = np.zeros((len(dates), scene.data.shape[0] - 1) + scene.valid.shape, np.uint16)
                valid = np.zeros((len(dates),) + scene.valid.shape, bool)
            stack[i] = np.where(scene.valid, np.clip(np.round(scene.data[:-1]), 1, 65535), 0).astype(np.uint16)
            valid[i] = scene.valid
            if progress:
                progress(i + 1, len(dates) + 1, "generate")
        data = np.empty_like(first.data)
        with np.errstate(invalid="ignore"):
            for b in range(stack.shape[1]):
                check_cancel(cancel)
                band = np.where(valid, stack[:, b].astype(np.float32), np.nan)
                data[b] = np.nanmedian(band, axis=0) if valid.any() else np.nan
        data[-1] = first.data[-1]  # elevation: the same on every date
        any_valid = valid.any(axis=0)
        data[:-1, ~any_valid] = first.data[:-1, ~any_valid]  # cloudy on every date: the first date shows
        scene = dataclasses.replace(first, data=data.astype(np.float32), valid=any_valid)
        return scene, dates

    def fetch(self, request: AnalysisRequest, window: DateWindow, progress: Optional[ProgressFn] = None,
              cancel: Optional[CancelToken] = None) -> FetchedScene:
        request.validate()
        check_cancel(cancel)
        if request.composite == "median":
            return self._fetch_median(request, window, progress, cancel)

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

    def _fetch_median(self, request: AnalysisRequest, window: DateWindow, progress: Optional[ProgressFn],
                      cancel: Optional[CancelToken]) -> FetchedScene:
        def make_scene() -> RawScene:
            event_date = self.event_date(request)
            role = self.role(request, window)
            scene, dates = self._median_scene(request, window, role, progress, cancel)
            check_cancel(cancel)
            scene = dataclasses.replace(scene, provenance={
                **dict(getattr(scene, "provenance", {}) or {}),
                "source": self.name, "source_version": self.version, "synthetic": True,
                "seed": self.seed_for(request), "event_date": event_date.isoformat(), "role": role,
                "window": window.to_json(), "composite": "median",
                "dates": [s.date.isoformat() for s in dates], "scenes": [s.to_json() for s in dates],
                "aoi_cloud_pct": round(100.0 * (1.0 - float(np.mean(scene.valid))), 2),
                "grid": request.grid().key(),
            })
            if progress:
                progress(1, 1, "generate")
            return scene

        return self.cache.fetch_scene(self.cache_key(request, window), make_scene)
