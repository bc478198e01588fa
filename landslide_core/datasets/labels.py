"""One ROI's label: its landslide polygons, status, quality flags and who made it; and the
drawing operations that edit it (add a shape, erase with a shape, brush strokes).

Polygons are GeoJSON features in EPSG:4326 (what maps draw and GIS tools read). Edits are
computed in the ROI's UTM zone (metres), so a brush of 20 m is 20 m wide everywhere.

A label's status is "todo" (not done), "labelled" (accepted: the polygons are the truth,
none meaning "no landslide here") or "skipped". Quality flags (clouds, sensor noise, not a
landslide) exclude an ROI from the export whatever its status, as the thesis's quality
control left 838 of 1000 ROIs.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Optional

from ..errors import InputError

STATUSES = ("todo", "labelled", "skipped")
#: Quality flags that exclude an ROI, with what each means.
QUALITY_FLAGS: dict[str, str] = {
    "cloud": "clouds or their shadows hide the ground",
    "noise": "sensor noise, stripes or missing data",
    "not_a_landslide": "the bare ground is something else (fields, roads, quarries, riverbeds)",
}
#: Default brush width (m) and the smallest polygon kept after an edit (m2: a quarter pixel).
DEFAULT_BRUSH_M = 20.0
MIN_POLYGON_M2 = 25.0
MAX_LABEL_POLYGONS = 2000


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class RoiLabel:
    """The label of one ROI (see the module docstring)."""

    roi_id: str
    status: str = "todo"
    features: list[dict[str, Any]] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    labeller: str = ""
    updated: str = ""
    #: the model whose suggestion the label started from ("" when drawn from scratch)
    suggestion_model: str = ""
    #: tool actions spent on this ROI (clicks and strokes recorded by the labelling page)
    actions: int = 0
    note: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise InputError(f"Unknown label status {self.status!r}.", f"Use one of: {', '.join(STATUSES)}.")
        unknown = [f for f in self.flags if f not in QUALITY_FLAGS]
        if unknown:
            raise InputError(f"Unknown quality flags: {', '.join(map(str, unknown))}.",
                             f"Use: {', '.join(QUALITY_FLAGS)}.")
        self.flags = sorted(set(self.flags))

    @property
    def excluded_reason(self) -> Optional[str]:
        """Why this ROI stays out of an export (None: it goes in)."""
        if self.flags:
            return "flagged: " + ", ".join(self.flags)
        if self.status == "skipped":
            return "skipped"
        if self.status != "labelled":
            return "not labelled yet"
        return None

    @property
    def polygon_count(self) -> int:
        return len(self.features)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RoiLabel":
        if not isinstance(data, dict) or "roi_id" not in data:
            raise InputError("A label file is damaged (no roi_id).", "Label the ROI again.")
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


# ---------------------------------------------------------------- geometry


def _to_utm(crs):
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:4326", crs, always_xy=True), Transformer.from_crs(crs, "EPSG:4326",
                                                                                          always_xy=True)


def features_to_shape(features: Iterable[dict[str, Any]], crs):
    """The union of polygon features (lon/lat) as one shapely geometry in ``crs`` (metres)."""
    from shapely.geometry import shape
    from shapely.ops import transform, unary_union

    fwd, _ = _to_utm(crs)
    parts = []
    for f in features:
        geom = f.get("geometry") if isinstance(f, dict) and f.get("type") == "Feature" else f
        if not isinstance(geom, dict) or geom.get("type") not in ("Polygon", "MultiPolygon"):
            continue
        try:
            parts.append(transform(fwd.transform, shape(geom)).buffer(0))
        except (ValueError, TypeError, AttributeError, IndexError):
            raise InputError("A label polygon is not valid GeoJSON.", "Clear the label and draw it again.") from None
    return unary_union(parts) if parts else None


def shape_to_features(geom, crs, properties: Optional[dict[str, Any]] = None) -> list[dict[str, Any]]:
    """A shapely geometry in ``crs`` -> polygon features in lon/lat (one per part), small
    slivers dropped."""
    from shapely.geometry import mapping
    from shapely.ops import transform

    if geom is None or geom.is_empty:
        return []
    _, back = _to_utm(crs)
    polys = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type == "Polygon" and g.area >= MIN_POLYGON_M2]
    if len(polys) > MAX_LABEL_POLYGONS:
        raise InputError(f"The label would hold {len(polys):,} polygons, more than {MAX_LABEL_POLYGONS:,}.",
                         "Label fewer, larger areas.")
    out = []
    for p in sorted(polys, key=lambda g: (-g.area, g.bounds)):
        ll = transform(back.transform, p)
        out.append({"type": "Feature", "geometry": _rounded(mapping(ll)),
                    "properties": {"area_m2": round(float(p.area), 1), **(properties or {})}})
    return out


def _rounded(geom: dict[str, Any], digits: int = 8) -> dict[str, Any]:
    def rnd(c):
        return [rnd(v) for v in c] if isinstance(c, (list, tuple)) else round(float(c), digits)

    return {"type": geom["type"], "coordinates": rnd(geom["coordinates"])}


def drawn_shape(feature: dict[str, Any], crs, brush_m: float = DEFAULT_BRUSH_M):
    """A shape drawn on the map as an area in ``crs``: polygons and rectangles as they are, a
    line (a brush stroke) widened to ``brush_m``, a point to a round dab of ``brush_m``."""
    from shapely.geometry import shape
    from shapely.ops import transform

    geom = feature.get("geometry") if isinstance(feature, dict) and feature.get("type") == "Feature" else feature
    if not isinstance(geom, dict) or "type" not in geom:
        raise InputError("The drawn shape is not GeoJSON.", "Draw it again.")
    if not (isinstance(brush_m, (int, float)) and 1.0 <= float(brush_m) <= 500.0):
        raise InputError(f"The brush width {brush_m!r} m is outside 1-500 m.", "Use e.g. 20 m (two pixels).")
    fwd, _ = _to_utm(crs)
    try:
        g = transform(fwd.transform, shape(geom))
    except (ValueError, TypeError, AttributeError, IndexError):
        raise InputError("The drawn shape is not valid.", "Draw it again.") from None
    if g.geom_type in ("LineString", "MultiLineString", "Point", "MultiPoint"):
        return g.buffer(float(brush_m) / 2.0, cap_style="round", join_style="round")
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g.buffer(0)
    raise InputError(f"A drawn {g.geom_type} cannot be a label.", "Draw polygons, rectangles or brush strokes.")


def edit_features(features: list[dict[str, Any]], drawn: Iterable[dict[str, Any]], crs, mode: str = "add",
                  brush_m: float = DEFAULT_BRUSH_M) -> list[dict[str, Any]]:
    """The label after drawing ``drawn`` shapes: added to it ("add") or cut out of it ("erase")."""
    from shapely.ops import unary_union

    if mode not in ("add", "erase"):
        raise InputError(f"Unknown drawing mode {mode!r}.", "Use add or erase.")
    current = features_to_shape(features, crs)
    shapes = [drawn_shape(d, crs, brush_m) for d in drawn]
    if not shapes:
        return list(features)
    stroke = unary_union(shapes)
    if mode == "add":
        result = stroke if current is None else current.union(stroke)
    else:
        result = None if current is None else current.difference(stroke)
    return shape_to_features(result, crs)


def normalise_features(features: Iterable[dict[str, Any]], crs) -> list[dict[str, Any]]:
    """Polygon features dissolved into non-overlapping parts (what the label stores)."""
    return shape_to_features(features_to_shape(list(features), crs), crs)


def label_area_m2(features: Iterable[dict[str, Any]], crs) -> float:
    geom = features_to_shape(list(features), crs)
    return 0.0 if geom is None else float(geom.area)
