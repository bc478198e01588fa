"""The named demo event preselected in the dashboard: a synthetic event near Huanuco, Peru."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _box(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


@dataclass(frozen=True)
class DemoEvent:
    """A named synthetic event: where (GeoJSON polygon, EPSG:4326), when, and its seed."""

    name: str
    aoi: dict[str, Any] = field(hash=False)
    pre_window: tuple[str, str]
    post_window: tuple[str, str]
    event_date: str
    seed: int


#: About 4.4 km x 4.4 km in the thesis study area between Junin, Pasco and Huanuco.
DEMO_EVENT = DemoEvent(
    name="Synthetic event, Huanuco valley (demo)",
    aoi=_box(-75.42, -11.32, -75.38, -11.28),
    pre_window=("2020-01-01", "2020-01-31"),
    post_window=("2020-04-01", "2020-04-30"),
    event_date="2020-03-15",
    seed=2020,
)
