"""Reviews of one analysis: ``reviews.geojson`` in its result folder, safe with many writers.

A review is one act of a person on one object, kept as a GeoJSON feature (EPSG:4326) whose
geometry is the object as it was reviewed and whose properties say

- ``verdict``: "confirmed" (a landslide), "rejected" (not one: an explicit negative) or
  "drawn" (a landslide the detector missed, drawn on the after map);
- ``kind`` and ``date``: what the object was (new, persisting, before only, drawn) and which
  scene shows it ("post" or "pre"); ``object_id`` and ``threshold`` at the time of review;
- ``who``, ``when`` (UTC), ``why``; ``model`` and ``model_sha256`` (the version of the model
  whose detection was reviewed) and ``analysis`` (the analysis key).

The file keeps every review in the order made; undoing one moves it to ``undone`` (with who
undid it and when), so nothing is silently lost. A later review of the same object (its
geometry overlapping an earlier one's by at least :data:`SAME_OBJECT_OVERLAP` of the smaller,
on the same date) supersedes the earlier one; undoing the later one brings the earlier back.
:meth:`ReviewStore.active` gives the reviews in force.

Every change happens under a lock per result folder (across processes and threads): the file
is read, changed and written back atomically, so two sessions reviewing the same analysis at
once keep each other's reviews. A damaged file is never overwritten: the error names it.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

from ..errors import InputError
from ..fileio import atomic_write_text, exclusive_lock

REVIEWS_FILE = "reviews.geojson"
FORMAT = "landslide-reviews"
VERDICTS = ("confirmed", "rejected", "drawn")
#: Verdicts whose objects are landslide pixels in chips.
LANDSLIDE_VERDICTS = ("confirmed", "drawn")
KINDS = ("new", "persisting", "before only", "drawn")
DATES = ("pre", "post")
#: Two reviews are of the same object when their geometries overlap by this share of the smaller.
SAME_OBJECT_OVERLAP = 0.5
#: Bounds on what a person types.
MAX_WHO_CHARS = 80
MAX_WHY_CHARS = 500
#: A drawn landslide covers at least one 10 m pixel (m2) and has at most this many corners.
MIN_DRAWN_AREA_M2 = 100.0
MAX_DRAWN_POINTS = 5000
#: How long a writer waits for another one (seconds) before saying so.
LOCK_TIMEOUT_S = 30.0


def now_utc() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _clean_text(value: Any, limit: int, default: str = "") -> str:
    text = " ".join(str(value or "").split())
    return (text or default)[:limit]


@dataclass
class Review:
    """One review (see the module docstring); ``geometry`` is GeoJSON in EPSG:4326."""

    review_id: str
    verdict: str
    kind: str
    date: str
    geometry: dict[str, Any]
    who: str = "anonymous"
    when: str = field(default_factory=now_utc)
    why: str = ""
    object_id: Optional[str] = None
    threshold: Optional[float] = None
    area_ha: Optional[float] = None
    model: str = ""
    model_sha256: str = ""
    analysis: str = ""

    @property
    def is_landslide(self) -> bool:
        return self.verdict in LANDSLIDE_VERDICTS

    @property
    def shape(self):
        """The geometry as a (valid) shapely geometry, worked out once."""
        cached = self.__dict__.get("_shape")
        if cached is None:
            cached = self.__dict__["_shape"] = valid_shape(self.geometry)
        return cached

    def to_feature(self) -> dict[str, Any]:
        props = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "geometry"}
        return {"type": "Feature", "geometry": self.geometry, "properties": props}

    @classmethod
    def from_feature(cls, feature: dict[str, Any], where: str) -> "Review":
        try:
            props = dict(feature["properties"])
            names = set(cls.__dataclass_fields__)
            review = cls(geometry=feature["geometry"], **{k: v for k, v in props.items() if k in names})
        except (KeyError, TypeError) as exc:
            raise InputError(f"{where} holds a review that cannot be read ({exc}).",
                             "Restore the file from a backup, or move it away to start the reviews afresh.") from None
        if review.verdict not in VERDICTS or review.date not in DATES or not isinstance(review.geometry, dict):
            raise InputError(f"{where} holds a review with verdict {review.verdict!r} and date {review.date!r}.",
                             "Restore the file from a backup, or move it away to start the reviews afresh.")
        return review


def _shape(geometry: dict[str, Any]):
    from shapely.geometry import shape

    return shape(geometry)


def valid_shape(geometry: Any):
    """A shapely geometry of a GeoJSON geometry (or of a shapely one), made valid."""
    g = _shape(geometry) if isinstance(geometry, dict) else geometry
    return g if g.is_valid else g.buffer(0)


def overlap_share(a: Any, b: Any) -> float:
    """Area of the intersection of two geometries (GeoJSON or shapely) over the smaller one's area (0-1)."""
    sa, sb = valid_shape(a), valid_shape(b)
    small = min(sa.area, sb.area)
    if small <= 0 or not sa.intersects(sb):
        return 0.0
    return float(sa.intersection(sb).area / small)


def same_object(a: Review, b: Review) -> bool:
    return a.date == b.date and overlap_share(a.shape, b.shape) >= SAME_OBJECT_OVERLAP


def _boxes_meet(a, b) -> bool:
    ax0, ay0, ax1, ay1 = a.bounds
    bx0, by0, bx1, by1 = b.bounds
    return ax0 <= bx1 and bx0 <= ax1 and ay0 <= by1 and by0 <= ay1


def active_reviews(reviews: Iterable[Review]) -> list[Review]:
    """The reviews in force: each one, unless a later review of the same object supersedes it."""
    out: list[Review] = []
    for r in reviews:
        out = [a for a in out if not (a.date == r.date and _boxes_meet(a.shape, r.shape) and same_object(a, r))]
        out.append(r)
    return out


# ---------------------------------------------------------------- drawn polygons

def _area_m2(geom) -> float:
    """Geodesic area (m2) of a shapely geometry in lon/lat."""
    from pyproj import Geod

    return abs(Geod(ellps="WGS84").geometry_area_perimeter(geom)[0])


def check_drawn(geometry: Any, aoi: Optional[dict[str, Any]]) -> dict[str, Any]:
    """The drawn polygon as a clean GeoJSON Polygon (EPSG:4326), or InputError saying what is
    wrong: not a polygon, malformed, self-intersecting, smaller than a pixel, outside the area."""
    from shapely.geometry import mapping
    from shapely.validation import explain_validity

    redraw = "Draw the landslide again on the after map."
    if isinstance(geometry, dict) and geometry.get("type") == "Feature":
        geometry = geometry.get("geometry")
    if not isinstance(geometry, dict) or geometry.get("type") != "Polygon":
        kind = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
        raise InputError(f"The drawn shape is a {kind}, not a polygon.",
                         "Use the polygon or rectangle tool of the map.")
    rings = geometry.get("coordinates")
    try:
        points = [(float(p[0]), float(p[1])) for ring in rings for p in ring]
    except (TypeError, ValueError, IndexError):
        raise InputError("The drawn shape has points that are not [longitude, latitude] numbers.", redraw) from None
    if len(points) > MAX_DRAWN_POINTS:
        raise InputError(f"The drawn shape has {len(points)} corners, more than {MAX_DRAWN_POINTS}.",
                         "Draw it with fewer corners.")
    if not all(math.isfinite(x) and math.isfinite(y) and -180 <= x <= 180 and -90 <= y <= 90 for x, y in points):
        raise InputError("The drawn shape has points outside longitude -180..180 / latitude -90..90.", redraw)
    try:
        shape = _shape(geometry)
    except (ValueError, TypeError, AttributeError) as exc:
        raise InputError(f"The drawn shape is not a usable polygon ({exc}).", redraw) from None
    if shape.is_empty or len(rings[0]) < 4:
        raise InputError("The drawn shape has fewer than three corners.", redraw)
    if not shape.is_valid:
        raise InputError(f"The drawn shape crosses itself ({explain_validity(shape)}).",
                         "Draw the outline again without crossing lines.")
    area_m2 = _area_m2(shape)
    if area_m2 < MIN_DRAWN_AREA_M2:
        raise InputError(f"The drawn shape covers {area_m2:.0f} m², less than one 10 m pixel.",
                         "Zoom in and draw the whole landslide.")
    if aoi:
        area = _shape(aoi)
        if not area.is_valid:
            area = area.buffer(0)
        outside = shape.difference(area)
        share = outside.area / shape.area if shape.area else 1.0
        if share > 1e-6:
            where = "entirely outside" if share > 0.999 else f"{100 * share:.0f} % outside"
            raise InputError(f"The drawn landslide lies {where} the area of this analysis.",
                             "Draw it inside the area outline (the analysis has no imagery elsewhere).")
    return mapping(shape)


# ---------------------------------------------------------------- the store

class ReviewStore:
    """The reviews of the analysis in ``folder`` (its ``reviews.geojson``)."""

    def __init__(self, folder: str | Path, analysis: str = "", model: Optional[dict[str, Any]] = None,
                 aoi: Optional[dict[str, Any]] = None):
        self.folder = Path(folder)
        self.path = self.folder / REVIEWS_FILE
        self.analysis = analysis or self.folder.name
        self.model = dict(model or {})
        self.aoi = aoi

    @classmethod
    def of(cls, result) -> "ReviewStore":
        """The store of an :class:`~landslide_core.results.AnalysisResult`."""
        return cls(result.folder, result.key, result.model, (result.request or {}).get("aoi"))

    # ------------------------------------------------------------ reading
    def _read(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"type": "FeatureCollection", "format": FORMAT, "analysis": self.analysis, "features": [],
                    "undone": []}
        except OSError as exc:
            raise InputError(f"The reviews file {self.path} cannot be read ({exc.strerror}).",
                             "Check the file's permissions.") from None
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise InputError(f"The reviews file {self.path} is damaged ({exc}); it was left as it is.",
                             "Restore it from a backup, or move it away to start the reviews afresh.") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("features"), list):
            raise InputError(f"The reviews file {self.path} is not a FeatureCollection of reviews.",
                             "Restore it from a backup, or move it away to start the reviews afresh.")
        doc.setdefault("undone", [])
        return doc

    def all(self) -> list[Review]:
        """Every review in force or superseded, in the order made (undone ones left out)."""
        return [Review.from_feature(f, str(self.path)) for f in self._read()["features"]]

    def active(self) -> list[Review]:
        """The reviews in force (see :func:`active_reviews`)."""
        return active_reviews(self.all())

    def undone(self) -> list[dict[str, Any]]:
        return list(self._read().get("undone") or [])

    # ------------------------------------------------------------ writing
    def _change(self, change) -> Any:
        """Read, apply ``change(doc)`` and write back, all under the folder's review lock."""
        lock = self.folder / ".locks" / "reviews.lock"
        try:
            with exclusive_lock(lock, timeout_s=LOCK_TIMEOUT_S):
                doc = self._read()
                out = change(doc)
                doc.update({"type": "FeatureCollection", "format": FORMAT, "analysis": self.analysis,
                            "written_utc": now_utc()})
                atomic_write_text(self.path, json.dumps(doc, indent=1, default=str))
                return out
        except TimeoutError:
            raise InputError(f"Another session has been saving reviews of this analysis for over "
                             f"{LOCK_TIMEOUT_S:.0f} s.", "Try again in a moment.") from None

    def _new(self, verdict: str, kind: str, date: str, geometry: dict[str, Any], who: str, why: str,
             object_id: Optional[str], threshold: Optional[float], area_ha: Optional[float]) -> Review:
        return Review(review_id=uuid.uuid4().hex[:12], verdict=verdict, kind=kind, date=date, geometry=geometry,
                      who=_clean_text(who, MAX_WHO_CHARS, "anonymous"), why=_clean_text(why, MAX_WHY_CHARS),
                      object_id=object_id, threshold=None if threshold is None else round(float(threshold), 4),
                      area_ha=None if area_ha is None else round(float(area_ha), 4),
                      model=str(self.model.get("name") or ""), model_sha256=str(self.model.get("weights_sha256") or ""),
                      analysis=self.analysis)

    def _append(self, review: Review) -> Review:
        def change(doc: dict[str, Any]) -> Review:
            doc["features"].append(review.to_feature())
            return review
        return self._change(change)

    def review(self, candidate: dict[str, Any], verdict: str, who: str = "", why: str = "",
               threshold: Optional[float] = None) -> Review:
        """Confirm or reject a detected object (a feature from
        :func:`landslide_core.review.candidates.review_candidates`)."""
        if verdict not in ("confirmed", "rejected"):
            raise InputError(f"Unknown verdict {verdict!r}.", "Confirm or reject the object.")
        props = (candidate or {}).get("properties") or {}
        kind, date = props.get("kind"), props.get("date")
        if kind not in KINDS or date not in DATES or not isinstance(candidate.get("geometry"), dict):
            raise InputError("The object to review is not a detection of this analysis.",
                             "Select a row of the table of detections.")
        return self._append(self._new(verdict, kind, date, candidate["geometry"], who, why,
                                      props.get("object_id"), threshold, props.get("area_ha")))

    def draw(self, geometry: Any, who: str = "", why: str = "") -> Review:
        """Add a landslide the detector missed, drawn on the after map (checked: a polygon that
        does not cross itself, inside the area of the analysis)."""
        clean = check_drawn(geometry, self.aoi)
        return self._append(self._new("drawn", "drawn", "post", clean, who, why, None, None,
                                      _area_m2(_shape(clean)) / 1e4))

    def undo(self, review_id: str, who: str = "") -> Review:
        """Take a review back (it moves to ``undone``); InputError if it is not there (already
        undone, perhaps by another session)."""
        def change(doc: dict[str, Any]) -> Review:
            for i, f in enumerate(doc["features"]):
                if (f.get("properties") or {}).get("review_id") == review_id:
                    doc["features"].pop(i)
                    review = Review.from_feature(f, str(self.path))
                    doc["undone"].append({**f, "properties": {**f["properties"], "undone_by": _clean_text(
                        who, MAX_WHO_CHARS, "anonymous"), "undone_when": now_utc()}})
                    return review
            raise InputError(f"The review {review_id} is not in force (undone already, perhaps in another session).",
                             "Reload the page to see the reviews as they are now.")
        return self._change(change)


__all__ = ["Review", "ReviewStore", "REVIEWS_FILE", "VERDICTS", "KINDS", "LANDSLIDE_VERDICTS", "active_reviews",
           "check_drawn", "overlap_share", "same_object", "SAME_OBJECT_OVERLAP"]
