"""Choosing scenes in a window: group granules by date, keep those under the cloud limit,
pick the least cloudy inside the AOI; a plain error when none qualifies."""
from __future__ import annotations

import datetime
from dataclasses import dataclass

from ..errors import SourceError
from .base import SceneListing
from .request import DateWindow

#: A date whose granules cover less of the AOI than this is not chosen as "least cloudy".
MIN_COVERAGE_PCT = 50.0


@dataclass
class DateCandidate:
    """All granules of one acquisition date, combined over the AOI."""

    date: datetime.date
    scene_ids: list[str]
    scene_cloud_pct: float   # worst granule
    aoi_cloud_pct: float     # coverage-weighted
    aoi_coverage_pct: float  # capped at 100

    @property
    def clear_pct(self) -> float:
        """Share of the AOI that is covered and clear."""
        return self.aoi_coverage_pct * (1.0 - self.aoi_cloud_pct / 100.0)


def group_by_date(listings: list[SceneListing]) -> list[DateCandidate]:
    by_date: dict[datetime.date, list[SceneListing]] = {}
    for s in listings:
        by_date.setdefault(s.date, []).append(s)
    out = []
    for date, items in sorted(by_date.items()):
        cover = sum(max(s.aoi_coverage_pct, 0.0) for s in items)
        cloud = (sum(s.aoi_cloud_pct * max(s.aoi_coverage_pct, 0.0) for s in items) / cover) if cover > 0 else 100.0
        out.append(DateCandidate(date, [s.scene_id for s in items], max(s.scene_cloud_pct for s in items),
                                 round(cloud, 2), round(min(cover, 100.0), 2)))
    return out


def under_limit(listings: list[SceneListing], cloud_limit_pct: float) -> list[SceneListing]:
    return [s for s in listings if s.scene_cloud_pct <= cloud_limit_pct]


def choose_least_cloudy(listings: list[SceneListing], cloud_limit_pct: float, window: DateWindow,
                        source: str = "the source") -> DateCandidate:
    """The date with the most clear AOI among granules under the scene cloud limit."""
    candidates = group_by_date(under_limit(listings, cloud_limit_pct))
    usable = [c for c in candidates if c.aoi_coverage_pct >= MIN_COVERAGE_PCT] or \
             [c for c in candidates if c.aoi_coverage_pct > 0]
    if not usable:
        raise no_scene_error(listings, cloud_limit_pct, window, source)
    return max(usable, key=lambda c: (c.clear_pct, -c.aoi_cloud_pct, c.date))


def dates_used(listings: list[SceneListing], cloud_limit_pct: float, window: DateWindow,
               composite: str = "least_cloudy", source: str = "the source") -> list[DateCandidate]:
    """The dates a window's image is made from: the least cloudy one, or for a ``"median"``
    composite every date under the cloud limit that covers part of the area (oldest first)."""
    if composite != "median":
        return [choose_least_cloudy(listings, cloud_limit_pct, window, source)]
    candidates = [c for c in group_by_date(under_limit(listings, cloud_limit_pct)) if c.aoi_coverage_pct > 0]
    if not candidates:
        raise no_scene_error(listings, cloud_limit_pct, window, source)
    return candidates


def no_scene_error(listings: list[SceneListing], cloud_limit_pct: float, window: DateWindow,
                   source: str = "the source") -> SourceError:
    """What was found (dates and cloud %), and what to do."""
    if not listings:
        return SourceError(
            f"No Sentinel-2 scene from {source} covers the area between {window.start} and {window.end}.",
            "Widen the date window (Sentinel-2 passes every 5 days; a month is a safe start).")
    found = "; ".join(
        f"{c.date} ({c.scene_cloud_pct:.0f}% cloud in the scene, {c.aoi_cloud_pct:.0f}% over the area, "
        f"{c.aoi_coverage_pct:.0f}% covered)"
        for c in group_by_date(listings)[:12])
    more = " ..." if len(group_by_date(listings)) > 12 else ""
    return SourceError(
        f"No scene between {window.start} and {window.end} is under the cloud limit of "
        f"{cloud_limit_pct:g}% and covers the area. Scenes found: {found}{more}.",
        "Widen the date window or raise the cloud limit.")
