"""Where an analysis lies, in words and in a file name: "near San Ramón (Junin, Peru)" and
``san-ramon``.

The nearest town comes from the GeoNames places shipped with ``reverse-geocode`` (offline).
The demo event's area is called by the event's name.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Optional

from ..i18n import t

#: Towns below this population are passed over for the name (a hamlet says little to a reader).
MIN_POPULATION = 5000


@dataclass(frozen=True)
class Place:
    """An area's name per language, its slug for file names, and its centre (degrees)."""

    names: dict[str, str]
    slug: str
    lon: Optional[float] = None
    lat: Optional[float] = None

    def name(self, lang: str) -> str:
        return self.names.get(lang) or next(iter(self.names.values()))


def slugify(text: str, fallback: str = "area") -> str:
    """ASCII, lower case, words joined by '-': 'San Ramón' -> 'san-ramon'."""
    ascii_text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:40].strip("-") or fallback


@functools.lru_cache(maxsize=256)
def _nearest_town(lat: float, lon: float) -> Optional[dict[str, Any]]:
    try:
        import reverse_geocode

        return reverse_geocode.get((lat, lon), min_population=MIN_POPULATION)
    except Exception:  # noqa: BLE001 - a name is a nicety; coordinates still say where
        return None


def _is_demo(aoi: Optional[dict], synthetic: bool) -> bool:
    if not (aoi and synthetic):
        return False
    try:
        from shapely.geometry import shape

        from ..synthetic import DEMO_EVENT

        return shape(DEMO_EVENT.aoi).buffer(0.01).contains(shape(aoi).centroid)
    except Exception:  # noqa: BLE001
        return False


def _centre(aoi: Optional[dict], bounds_lonlat: Optional[tuple[float, float, float, float]]):
    if aoi:
        try:
            from shapely.geometry import shape

            c = shape(aoi).centroid
            return float(c.x), float(c.y)
        except Exception:  # noqa: BLE001
            pass
    if bounds_lonlat:
        w, s, e, n = bounds_lonlat
        return (w + e) / 2, (s + n) / 2
    return None


def _deg(value: float, pos: str, neg: str) -> str:
    return f"{abs(value):.3f}° {pos if value >= 0 else neg}"


def place_of(aoi: Optional[dict], bounds_lonlat: Optional[tuple[float, float, float, float]] = None,
             synthetic: bool = False, given_name: Optional[str] = None) -> Place:
    """The name of an area (AOI polygon, else the analysis extent ``(w, s, e, n)`` in degrees).

    ``given_name`` (the user's) wins; the demo event's area gets the event's name; otherwise
    the nearest town of at least :data:`MIN_POPULATION`, else the coordinates."""
    from ..i18n import LANGUAGES

    centre = _centre(aoi, bounds_lonlat)
    lon, lat = centre if centre else (None, None)
    if given_name:
        return Place({lang: given_name for lang in LANGUAGES}, slugify(given_name), lon, lat)
    if _is_demo(aoi, synthetic):
        return Place({lang: t("report.place.demo", lang) for lang in LANGUAGES}, "demo-huanuco", lon, lat)
    if centre is None:
        return Place({lang: t("report.place.unknown", lang) for lang in LANGUAGES}, "area")
    town = _nearest_town(round(lat, 4), round(lon, 4))
    if town and town.get("city"):
        region = ", ".join(x for x in (town.get("state"), town.get("country")) if x)
        names = {lang: t("report.place.near", lang, town=town["city"], region=region) for lang in LANGUAGES}
        return Place(names, slugify(town["city"]), lon, lat)
    coords = f"{_deg(lat, 'N', 'S')}, {_deg(lon, 'E', 'W')}"
    return Place({lang: t("report.place.at", lang, coords=coords) for lang in LANGUAGES},
                 slugify(f"{abs(lat):.3f}{'n' if lat >= 0 else 's'}-{abs(lon):.3f}{'e' if lon >= 0 else 'w'}"),
                 lon, lat)


__all__ = ["Place", "place_of", "slugify"]
