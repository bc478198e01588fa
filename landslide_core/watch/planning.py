"""What one check compares: the newest clear scene since the last check, against the last
scene used (a rolling baseline); the first check compares against the area's baseline window.

Only the source's scene list is read here (no pixels): when no new pass is clear, the check
records "no new clear scene" and costs no fetch and no inference.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Optional

from ..sources.request import AnalysisRequest, DateWindow
from ..sources.selection import MIN_COVERAGE_PCT, DateCandidate, group_by_date
from .records import Area, Check


@dataclass
class Plan:
    """The windows of a check and, when there is one, the new clear scene."""

    baseline: DateWindow                  # the 'before' window: the last scene used, or the baseline window
    rolling: bool                         # True: the baseline is the last scene used
    since: dt.date                        # new scenes are those after this day
    looked: Optional[DateWindow]          # the days searched for a new scene
    passes: list[DateCandidate] = field(default_factory=list)
    new_scene: Optional[DateCandidate] = None
    request: Optional[AnalysisRequest] = None

    @property
    def reason(self) -> str:
        """Why there is nothing to compare, in words (for a 'no new clear scene' check)."""
        if self.looked is None:
            return f"No day after {self.since} to look at yet."
        if not self.passes:
            return f"No pass over the area between {self.looked.start} and {self.looked.end}."
        shown = "; ".join(f"{c.date} ({c.aoi_cloud_pct:.0f}% cloud over the area)" for c in self.passes[-6:])
        more = f" and {len(self.passes) - 6} earlier" if len(self.passes) > 6 else ""
        return (f"{len(self.passes)} pass(es) since {self.since}, none clear enough: {shown}{more}.")

    def to_json(self) -> dict[str, Any]:
        return {"baseline": self.baseline.to_json(), "rolling": self.rolling, "since": self.since.isoformat(),
                "looked": self.looked.to_json() if self.looked else None,
                "passes": [{"date": c.date.isoformat(), "scene_ids": c.scene_ids,
                            "scene_cloud_pct": c.scene_cloud_pct, "aoi_cloud_pct": c.aoi_cloud_pct,
                            "aoi_coverage_pct": c.aoi_coverage_pct} for c in self.passes[-12:]]}


def is_clear(candidate: DateCandidate, cloud_limit_pct: float) -> bool:
    """Under the cloud limit over the scene and over the area, and covering most of the area."""
    return (candidate.scene_cloud_pct <= cloud_limit_pct and candidate.aoi_cloud_pct <= cloud_limit_pct
            and candidate.aoi_coverage_pct >= MIN_COVERAGE_PCT)


def plan_check(area: Area, last_scene_check: Optional[Check], source, today: dt.date) -> Plan:
    """The plan of a check of ``area`` on ``today`` (see the module doc)."""
    if last_scene_check is not None and last_scene_check.scene_date is not None:
        d = last_scene_check.scene_date
        baseline, rolling, since = DateWindow(d, d), True, d
    else:
        baseline, rolling, since = area.baseline, False, area.baseline.end
    if today <= since:
        return Plan(baseline, rolling, since, None)
    looked = DateWindow(since + dt.timedelta(days=1), today)
    listing_request = AnalysisRequest(area.geometry, baseline, looked, area.cloud_limit_pct)
    passes = group_by_date(source.list_scenes(listing_request, looked))
    clear = [c for c in passes if is_clear(c, area.cloud_limit_pct)]
    plan = Plan(baseline, rolling, since, looked, passes)
    if clear:
        plan.new_scene = max(clear, key=lambda c: c.date)
        day = plan.new_scene.date
        plan.request = AnalysisRequest(area.geometry, baseline, DateWindow(day, day), area.cloud_limit_pct)
    return plan
