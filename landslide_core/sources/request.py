"""What to fetch: an analysis request (AOI, pre and post date windows, cloud limit, composite).

Dates are inclusive. :meth:`AnalysisRequest.validate` raises :class:`InputError` with what was
wrong and what to do; :meth:`AnalysisRequest.key` is a stable hash of the normalised request;
:meth:`AnalysisRequest.grid` is the analysis grid (the AOI's UTM zone at 10 m), or the grid a
request was put on with :meth:`AnalysisRequest.on_grid` (a tile of a regional batch).
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import InputError
from ..grid import Grid, grid_for_bounds_lonlat
from .aoi import MAX_AOI_KM2, aoi_bounds, check_aoi, normalised_aoi, parse_aoi

__all__ = ["DateWindow", "AnalysisRequest", "parse_aoi", "MAX_AOI_KM2", "COMPOSITES", "parse_date"]

#: How a window becomes one image: the least cloudy date inside the AOI, or a cloud-masked median.
COMPOSITES = ("least_cloudy", "median")


def parse_date(value: Any, what: str = "date") -> datetime.date:
    """A date from a ``datetime.date``/``datetime`` or an ISO ``YYYY-MM-DD`` string."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError(f"The {what} is empty.", "Pick a date (YYYY-MM-DD).")
    try:
        return datetime.date.fromisoformat(str(value).strip())
    except ValueError:
        raise InputError(f"The {what} '{value}' is not a date.", "Write it as YYYY-MM-DD, e.g. 2023-03-15.") from None


@dataclass(frozen=True)
class DateWindow:
    """An inclusive range of acquisition dates."""

    start: datetime.date
    end: datetime.date

    @classmethod
    def parse(cls, start: Any, end: Any, label: str = "date window") -> "DateWindow":
        """From dates or ISO strings; an empty start or end is a clear error."""
        if (start in (None, "")) and (end in (None, "")):
            raise InputError(f"The {label} is empty (no start or end date).",
                             "Pick a start and an end date (YYYY-MM-DD).")
        return cls(parse_date(start, f"{label} start"), parse_date(end, f"{label} end"))

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def validate(self, label: str = "date window", today: Optional[datetime.date] = None) -> None:
        today = today or datetime.date.today()
        if self.start is None or self.end is None:
            raise InputError(f"The {label} is empty (a start or end date is missing).",
                             "Pick a start and an end date (YYYY-MM-DD).")
        if self.start > self.end:
            raise InputError(f"The {label} is reversed: it starts {self.start} after it ends {self.end}.",
                             "Swap the two dates.")
        if self.end > today:
            raise InputError(f"The {label} ends in the future ({self.end}; today is {today}).",
                             "Imagery exists only up to today: end the window today or earlier.")

    def contains(self, date: datetime.date) -> bool:
        return self.start <= date <= self.end

    def to_json(self) -> list[str]:
        return [self.start.isoformat(), self.end.isoformat()]

    def __str__(self) -> str:
        return f"{self.start} to {self.end}"


@dataclass(frozen=True)
class AnalysisRequest:
    """An AOI (GeoJSON Polygon/MultiPolygon, EPSG:4326), two date windows and a cloud limit."""

    aoi: dict = field(hash=False)
    pre: DateWindow
    post: DateWindow
    cloud_limit_pct: float = 30.0
    composite: str = "least_cloudy"
    #: The analysis grid, when the request is for a given grid (a tile of a regional batch, on
    #: the pixel lattice of its region's grid); ``None``: the AOI's own UTM grid.
    grid_override: Optional[Grid] = field(default=None, hash=False)

    def on_grid(self, grid: Grid) -> "AnalysisRequest":
        """This request on ``grid`` (the AOI should cover the grid's footprint)."""
        return dataclasses.replace(self, grid_override=grid)

    def validate(self, max_area_km2: float = MAX_AOI_KM2, today: Optional[datetime.date] = None) -> None:
        """Raise InputError (what, why, what to do) for the first problem found."""
        check_aoi(self.aoi, max_area_km2)
        self.pre.validate("'before' window", today)
        self.post.validate("'after' window", today)
        if self.post.end <= self.pre.end:
            raise InputError(
                f"The 'after' window ends {self.post.end}, not after the 'before' window ends "
                f"({self.pre.end}).",
                "The 'after' window must end later than the 'before' window: move it after the event.")
        if self.post.start <= self.pre.end:
            raise InputError(
                f"The 'before' window ({self.pre}) and the 'after' window ({self.post}) overlap from "
                f"{self.post.start} to {min(self.pre.end, self.post.end)}: a scene in both would be compared "
                "with itself and hide the change.",
                "End the 'before' window before the 'after' window starts (the event lies between them).")
        try:
            cloud = float(self.cloud_limit_pct)
        except (TypeError, ValueError):
            cloud = float("nan")
        if not 0.0 <= cloud <= 100.0:
            raise InputError(f"The cloud limit {self.cloud_limit_pct} is outside 0-100 %.",
                             "Pick a cloud limit between 0 and 100 (30 is a good start).")
        if self.composite not in COMPOSITES:
            raise InputError(f"Unknown composite '{self.composite}'.", f"Use one of: {', '.join(COMPOSITES)}.")

    def normalised(self) -> dict[str, Any]:
        """The fields that define the request, in a canonical JSON-able form."""
        out = {
            "aoi": normalised_aoi(self.aoi),
            "pre": self.pre.to_json(),
            "post": self.post.to_json(),
            "cloud_limit_pct": round(float(self.cloud_limit_pct), 3),
            "composite": self.composite,
        }
        if self.grid_override is not None:
            out["grid"] = self.grid_override.key()
        return out

    def key(self) -> str:
        """A stable hash (hex) of the normalised request."""
        return stable_hash(self.normalised())

    def grid(self) -> Grid:
        """The analysis grid: the grid given by :meth:`on_grid`, else the UTM zone of the AOI's
        centre at 10 m, covering its bounds."""
        if self.grid_override is not None:
            return self.grid_override
        return grid_for_bounds_lonlat(*aoi_bounds(self.aoi))

    def window_name(self, window: DateWindow) -> str:
        """'pre' or 'post' for one of this request's windows, else 'window'."""
        if window == self.pre:
            return "pre"
        if window == self.post:
            return "post"
        return "window"


def stable_hash(obj: Any) -> str:
    """SHA-256 hex digest of canonical JSON."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
