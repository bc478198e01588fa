"""The area of interest (AOI): parse GeoJSON or KML into one polygon geometry and check it.

An AOI is a GeoJSON ``Polygon`` or ``MultiPolygon`` in EPSG:4326 (lon, lat). Checks say what
was wrong and what to do: not a polygon, empty, self-intersecting, crossing the antimeridian,
larger than the area limit (its area and the limit).
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

from ..errors import InputError

#: Default largest AOI, in km2 (a 20 km x 20 km square); larger areas take too long to fetch.
MAX_AOI_KM2 = 400.0
_POLYGON_TYPES = ("Polygon", "MultiPolygon")


def parse_aoi(obj_or_text: Any, filename: str | None = None) -> dict:
    """GeoJSON (geometry, Feature, FeatureCollection of one polygon) or KML -> geometry dict.

    ``obj_or_text`` is a dict, JSON/KML text or bytes; ``filename`` (optional) names the
    source in messages and picks KML by its extension. Z values are dropped.
    """
    label = filename or "the area"
    if isinstance(obj_or_text, (bytes, bytearray)):
        try:
            obj_or_text = obj_or_text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InputError(f"{label} is not text (UTF-8).",
                             "Upload a GeoJSON or KML file.") from None
    if isinstance(obj_or_text, str):
        text = obj_or_text.strip()
        if not text:
            raise InputError(f"{label} is empty.", "Draw an area or upload a GeoJSON or KML file.")
        is_kml = (filename or "").lower().endswith(".kml") or text.startswith("<")
        obj = _parse_kml(text, label) if is_kml else _parse_json_text(text, label)
    elif isinstance(obj_or_text, dict):
        obj = obj_or_text
    else:
        raise InputError(f"{label} is a {type(obj_or_text).__name__}, not GeoJSON or KML.",
                         "Give a GeoJSON geometry, Feature or FeatureCollection, or KML text.")
    geometry = _geometry_of(obj, label)
    return _drop_z(geometry)


def _parse_json_text(text: str, label: str) -> dict:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{label} is not valid GeoJSON ({exc.msg} at line {exc.lineno}).",
                         "Check the file, or export the area again as GeoJSON or KML.") from None
    if not isinstance(obj, dict):
        raise InputError(f"{label} is JSON but not a GeoJSON object.",
                         "Give a GeoJSON Polygon, Feature or FeatureCollection.")
    return obj


def _geometry_of(obj: dict, label: str) -> dict:
    kind = obj.get("type")
    if kind == "FeatureCollection":
        features = obj.get("features") or []
        if not features:
            raise InputError(f"{label} is an empty FeatureCollection (no features).",
                             "Draw or upload one polygon.")
        if len(features) > 1:
            raise InputError(f"{label} holds {len(features)} features; an analysis area is one polygon.",
                             "Keep one polygon, or merge them into one (MultiPolygon) first.")
        return _geometry_of(features[0], label)
    if kind == "Feature":
        geometry = obj.get("geometry")
        if not geometry:
            raise InputError(f"{label} is a Feature without a geometry.", "Draw or upload one polygon.")
        return _geometry_of(geometry, label)
    if kind == "GeometryCollection":
        parts = [g for g in obj.get("geometries") or [] if g.get("type") in _POLYGON_TYPES]
        if len(parts) == 1:
            return parts[0]
    if kind not in _POLYGON_TYPES:
        raise InputError(f"{label} is a {kind or 'shape without a type'}, not a polygon.",
                         "An analysis area must be a Polygon or MultiPolygon: draw an area, "
                         "not a point or a line.")
    if not obj.get("coordinates"):
        raise InputError(f"{label} is an empty {kind} (no coordinates).", "Draw or upload one polygon.")
    return {"type": kind, "coordinates": obj["coordinates"]}


def _parse_kml(text: str, label: str) -> dict:
    try:
        root = ET.fromstring(text.encode("utf-8"))
    except ET.ParseError as exc:
        raise InputError(f"{label} is not valid KML ({exc}).", "Export the area again as KML or GeoJSON.") from None
    polygons = []
    for poly in root.iter():
        if _local(poly.tag) != "Polygon":
            continue
        outer, inners = None, []
        for el in poly.iter():
            tag = _local(el.tag)
            if tag in ("outerBoundaryIs", "innerBoundaryIs"):
                coords = next((c for c in el.iter() if _local(c.tag) == "coordinates"), None)
                ring = _kml_ring(coords.text if coords is not None else "", label)
                if tag == "outerBoundaryIs":
                    outer = ring
                else:
                    inners.append(ring)
        if outer:
            polygons.append([outer] + inners)
    if not polygons:
        kinds = sorted({_local(e.tag) for e in root.iter()} & {"Point", "LineString", "LinearRing"})
        found = f" (it holds {', '.join(kinds)})" if kinds else ""
        raise InputError(f"{label} has no polygon{found}.",
                         "An analysis area must be a polygon: draw an area, not a point or a line.")
    if len(polygons) == 1:
        return {"type": "Polygon", "coordinates": polygons[0]}
    return {"type": "MultiPolygon", "coordinates": polygons}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _kml_ring(text: str, label: str) -> list[list[float]]:
    ring = []
    for token in re.split(r"\s+", (text or "").strip()):
        if not token:
            continue
        try:
            values = [float(v) for v in token.split(",")]
        except ValueError:
            raise InputError(f"{label} has an unreadable KML coordinate '{token}'.",
                             "Coordinates must be 'lon,lat[,alt]' separated by spaces.") from None
        ring.append(values[:2])
    return ring


def _drop_z(geometry: dict) -> dict:
    def ring2d(ring):
        return [[float(p[0]), float(p[1])] for p in ring]

    try:
        if geometry["type"] == "Polygon":
            coords = [ring2d(r) for r in geometry["coordinates"]]
        else:
            coords = [[ring2d(r) for r in poly] for poly in geometry["coordinates"]]
    except (TypeError, IndexError, ValueError, KeyError):
        raise InputError("The area's coordinates are malformed.",
                         "Each point must be [longitude, latitude] in degrees.") from None
    return {"type": geometry["type"], "coordinates": coords}


def to_shape(aoi: dict):
    """The AOI as a shapely geometry (no checks)."""
    from shapely.geometry import shape

    return shape(aoi)


def aoi_area_km2(aoi: dict) -> float:
    """Area of the AOI in km2, measured in the UTM zone of its centre (the analysis grid's
    projection: what is fetched and computed). Within 0.1 % of the geodesic area in the zone."""
    from pyproj import Transformer
    from shapely.ops import transform

    from ..grid import utm_crs

    west, south, east, north = aoi_bounds(aoi)
    crs = utm_crs((west + east) / 2.0, (south + north) / 2.0)
    to_utm = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    return transform(to_utm.transform, to_shape(aoi)).area / 1e6


def aoi_geodesic_area_km2(aoi: dict) -> float:
    """Geodesic area of the AOI on the WGS84 ellipsoid, in km2."""
    from pyproj import Geod

    area_m2, _ = Geod(ellps="WGS84").geometry_area_perimeter(to_shape(aoi))
    return abs(area_m2) / 1e6


def check_aoi(aoi: dict, max_area_km2: float = MAX_AOI_KM2) -> float:
    """Check an AOI geometry; return its area in km2 or raise InputError (what, why, fix)."""
    if not isinstance(aoi, dict):
        raise InputError("The area is missing.", "Draw an area or upload a GeoJSON or KML file.")
    geometry = _drop_z(_geometry_of(aoi, "The area"))
    from shapely.validation import explain_validity

    geom = to_shape(geometry)
    if geom.is_empty:
        raise InputError("The area is empty (no points).", "Draw or upload one polygon.")
    lons = [p[0] for p in _points(geometry)]
    lats = [p[1] for p in _points(geometry)]
    if min(lats) < -90 or max(lats) > 90:
        raise InputError(f"The area has latitudes outside -90..90 ({min(lats):.3f}..{max(lats):.3f}).",
                         "Coordinates must be [longitude, latitude] in degrees (EPSG:4326); "
                         "check that they are not swapped or projected.")
    if min(lons) < -180 or max(lons) > 180 or max(lons) - min(lons) > 180:
        raise InputError(
            "The area crosses the antimeridian (180 degrees longitude), which the UTM grid "
            "cannot hold in one piece.",
            "Split it into two areas, one on each side of 180 degrees, and analyse each.")
    if not geom.is_valid:
        reason = explain_validity(geom)
        where = re.search(r"\[([-\d.eE]+)\s+([-\d.eE]+)\]", reason)
        near = f" near lon {float(where.group(1)):.5f}, lat {float(where.group(2)):.5f}" if where else ""
        if "Self-intersection" in reason or "self-intersection" in reason.lower():
            raise InputError(f"The area's outline crosses itself{near} (self-intersection).",
                             "Redraw the polygon so that its edges do not cross.")
        raise InputError(f"The area is not a valid polygon: {reason}.",
                         "Redraw it as a simple closed outline with at least three corners.")
    if geom.area == 0:
        raise InputError("The area has no extent (its points are on a line or one spot).",
                         "Draw a polygon with at least three distinct corners.")
    area = aoi_area_km2(geometry)
    if area > max_area_km2 + 0.05:
        raise InputError(
            f"The area is {area:,.1f} km², larger than the limit of {max_area_km2:,.0f} km² "
            f"(about {max_area_km2 ** 0.5:.0f} km x {max_area_km2 ** 0.5:.0f} km).",
            "Draw a smaller area, or split it into several areas under the limit.")
    return area


def _points(geometry: dict):
    polys = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    for poly in polys:
        for ring in poly:
            yield from ring


def normalised_aoi(aoi: dict, decimals: int = 7) -> dict:
    """A canonical form for hashing: counter-clockwise shells, coordinates rounded."""
    from shapely.geometry import mapping
    from shapely.geometry.polygon import orient

    geom = to_shape(_drop_z(aoi))
    if geom.geom_type == "Polygon":
        geom = orient(geom, 1.0)
    elif geom.geom_type == "MultiPolygon":
        from shapely.geometry import MultiPolygon

        geom = MultiPolygon([orient(p, 1.0) for p in geom.geoms])
    m = mapping(geom)

    def rnd(x):
        if isinstance(x, (list, tuple)):
            return [rnd(v) for v in x]
        return round(float(x), decimals)

    return {"type": m["type"], "coordinates": rnd(m["coordinates"])}


def aoi_bounds(aoi: dict) -> tuple[float, float, float, float]:
    """(west, south, east, north) in degrees."""
    pts = list(_points(_drop_z(aoi)))
    lons, lats = [p[0] for p in pts], [p[1] for p in pts]
    return min(lons), min(lats), max(lons), max(lats)
