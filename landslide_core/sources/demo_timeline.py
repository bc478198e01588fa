"""The demo over time: any area's acquisitions, clear and cloudy, and its event on a known date.

A real area is seen by Sentinel-2 every 5 days; some passes are clear, many are cloudy. The
timeline gives any area the same, offline, so a watched area can be followed through an
event:

- acquisitions every :data:`REVISIT_DAYS` days on a phase of the area's own;
- cloud cover per date that depends only on the area and the date, never on the window or
  the cloud limit that asks (a pass listed today is listed the same way tomorrow), with at
  least one clear pass every ``CLEAR_EVERY * REVISIT_DAYS`` days;
- an event on a known date: the storm that triggers it keeps the passes from
  :data:`STORM_DAYS_BEFORE` days before to :data:`STORM_DAYS_AFTER` days after it cloudy, so
  the first clear view of the new landslides comes 10 to 15 days later, as it often does.

A date's scene shows the synthetic world before the event if the date is before it, else
after; its clouds are drawn to the listed cover. The world (terrain, covers, landslides) is
one per area: the demo event's own for the demo area, so the watchlist and a single analysis
of that area see the same landslides; elsewhere one with at least
:data:`MIN_EVENT_LANDSLIDES` new landslides.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import random
import threading
from collections import OrderedDict
from typing import Any, Optional

from ..grid import Grid
from ..scene import RawScene
from .aoi import normalised_aoi
from .base import SceneListing
from .request import DateWindow, parse_date, stable_hash

#: Days between two passes over an area (Sentinel-2A and 2B together).
REVISIT_DAYS = 5
#: The day the passes are counted from (Sentinel-2A's first images, mid 2015).
EPOCH = datetime.date(2015, 7, 4)
#: Every CLEAR_EVERY-th pass of an area is clear (outside a storm); others are clear by chance.
CLEAR_EVERY = 3
CLEAR_SHARE = 0.35
#: Passes this many days around the event are cloudy (the storm that triggers it).
STORM_DAYS_BEFORE = 3
STORM_DAYS_AFTER = 10
#: An area's event has at least this many new landslides, at this density (a storm that
#: leaves a mark); the demo area keeps its own event.
MIN_EVENT_LANDSLIDES = 3
EVENT_LANDSLIDES_PER_KM2 = (2.5, 3.5)


def _demo_event():
    from ..synthetic import DEMO_EVENT

    return DEMO_EVENT


def is_demo_area(aoi: dict) -> bool:
    try:
        return normalised_aoi(_demo_event().aoi) == normalised_aoi(aoi)
    except (ImportError, AttributeError):
        return False


def area_seed(aoi: dict) -> int:
    """The seed of an area's timeline and world: the demo event's for its area, else from the
    area alone (not the dates or the cloud limit)."""
    if is_demo_area(aoi):
        return int(_demo_event().seed)
    return int(stable_hash({"demo_timeline": normalised_aoi(aoi)})[:8], 16)


def default_event_date(aoi: dict, baseline_end: datetime.date) -> datetime.date:
    """When an area's event happens: the demo event's date for its area, else the day after the
    baseline window ends (as a single demo analysis puts it after the 'before' window)."""
    if is_demo_area(aoi):
        return parse_date(_demo_event().event_date, "demo event date")
    return baseline_end + datetime.timedelta(days=1)


class DemoTimeline:
    """The passes over one area and its event (see the module doc)."""

    def __init__(self, aoi: dict, event_date: datetime.date):
        self.aoi = aoi
        self.seed = area_seed(aoi)
        self.demo_area = is_demo_area(aoi)
        self.event_date = parse_date(event_date, "event date")

    # --- passes ------------------------------------------------------------------------------
    def dates(self, start: datetime.date, end: datetime.date) -> list[datetime.date]:
        """The pass dates from ``start`` to ``end`` (inclusive)."""
        phase = self.seed % REVISIT_DAYS
        offset = (start - EPOCH).days - phase
        first = start + datetime.timedelta(days=(-offset) % REVISIT_DAYS)
        out = []
        d = first
        while d <= end:
            out.append(d)
            d += datetime.timedelta(days=REVISIT_DAYS)
        return out

    def in_storm(self, date: datetime.date) -> bool:
        return -STORM_DAYS_BEFORE <= (date - self.event_date).days <= STORM_DAYS_AFTER

    def acquisition(self, date: datetime.date) -> SceneListing:
        """The pass of ``date`` with its cloud cover (scene and inside the area)."""
        rng = random.Random(f"demo-timeline:{self.seed}:{date.isoformat()}")
        index = (date - EPOCH).days // REVISIT_DAYS
        chance = rng.random()
        if self.in_storm(date):
            scene, aoi = rng.uniform(75.0, 98.0), rng.uniform(80.0, 100.0)
        elif index % CLEAR_EVERY == self.seed % CLEAR_EVERY or chance < CLEAR_SHARE:
            scene = rng.uniform(1.0, 12.0)
            aoi = min(100.0, max(0.0, scene + rng.uniform(-4.0, 4.0)))
        else:
            scene = rng.uniform(40.0, 95.0)
            aoi = min(100.0, max(0.0, scene + rng.uniform(-15.0, 15.0)))
        return SceneListing(date, f"DEMO_{date:%Y%m%d}_{self.seed:08x}", round(scene, 1), round(aoi, 1), 100.0)

    def acquisitions(self, window: DateWindow) -> list[SceneListing]:
        return [self.acquisition(d) for d in self.dates(window.start, window.end)]

    def state_on(self, date: datetime.date) -> str:
        """'pre' before the event day, else 'post'."""
        return "pre" if date < self.event_date else "post"

    # --- scenes -------------------------------------------------------------------------------
    def render(self, grid: Grid, listing: SceneListing, clouds: bool = True) -> RawScene:
        """The scene of one pass on ``grid``: the world before or after the event, on that day,
        under clouds covering about the listed share of the area."""
        from ..synthetic.world import render_scene

        world = _world(grid, self.seed, None if self.demo_area else MIN_EVENT_LANDSLIDES)
        cover = max(0.0, min(0.99, float(listing.aoi_cloud_pct) / 100.0))
        world = dataclasses.replace(world, options=dataclasses.replace(world.options, cloud_cover=(cover, cover)))
        return render_scene(world, self.state_on(listing.date), listing.date, clouds)

    def to_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "event_date": self.event_date.isoformat(), "revisit_days": REVISIT_DAYS}


_WORLDS: "OrderedDict[str, Any]" = OrderedDict()
_WORLDS_LOCK = threading.Lock()
_WORLDS_KEPT = 4


def _world(grid: Grid, seed: int, min_new_landslides: Optional[int], cancel=None):
    """The area's world (terrain, covers, old scars, the event's landslides), a few kept in memory.
    ``cancel``: a CancelToken checked while a world is built."""
    from ..synthetic.world import build_world

    key = json.dumps([grid.key(), seed, min_new_landslides], sort_keys=True, default=str)
    with _WORLDS_LOCK:
        if key in _WORLDS:
            _WORLDS.move_to_end(key)
            return _WORLDS[key]
    if min_new_landslides is None:
        world = build_world(grid, seed, cancel=cancel)
    else:
        from ..synthetic.world import WorldOptions

        options = dataclasses.replace(WorldOptions(), new_landslides_per_km2=EVENT_LANDSLIDES_PER_KM2)
        world = build_world(grid, seed, options=options, cancel=cancel)
        if _count(world.new_landslides) < min_new_landslides:
            world = build_world(grid, seed, n_new_landslides=min_new_landslides, options=options, cancel=cancel)
    with _WORLDS_LOCK:
        _WORLDS[key] = world
        while len(_WORLDS) > _WORLDS_KEPT:
            _WORLDS.popitem(last=False)
    return world


def _count(mask) -> int:
    from scipy import ndimage

    return int(ndimage.label(mask)[1]) if mask.any() else 0


__all__ = ["DemoTimeline", "area_seed", "default_event_date", "is_demo_area", "REVISIT_DAYS", "EPOCH"]
