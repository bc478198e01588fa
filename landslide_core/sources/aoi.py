"""The area of interest (AOI): parse GeoJSON or KML into one polygon geometry and check it.

An AOI is a GeoJSON ``Polygon`` or ``MultiPolygon`` in EPSG:4326 (lon, lat). Checks say what
was wrong and what to do: not a polygon, malformed (a part of the wrong kind, a ring of fewer
than three corners, a coordinate that is not a finite number), empty, self-intersecting,
crossing the antimeridian, larger than the area limit, or spread so far that the grid around
it (its bounding box in one UTM zone, what is fetched and computed) is over the grid limit.
Every malformed input gives an :class:`InputError`; the size of what is parsed is bounded
(text length, nesting depth, number of points), so hostile input costs bounded time and memory.
"""
from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from typing import Any

from ..errors import InputError

#: Default largest AOI, in km2 (a 20 km x 20 km square); larger areas take too long to fetch.
MAX_AOI_KM2 = 400.0
#: Default largest analysis grid (the AOI's bounding box in its UTM zone), in km2: a compact
#: AOI under the area limit always fits; two small parts far apart do not.
MAX_GRID_KM2 = 1000.0
#: Bounds on what is parsed: characters of text and points in all rings (JSON nesting is
#: bounded by the parser's recursion limit, reported as an InputError).
MAX_AOI_TEXT_CHARS = 20_000_000
MAX_AOI_POINTS = 200_000
#: Latitudes the UTM analysis grid covers, and Sentinel-2's regular coverage (for warnings).
UTM_LATITUDES = (-80.0, 84.0)
SENTINEL2_LATITUDES = (-56.0, 84.0)
_POLYGON_TYPES = ("Polygon", "MultiPolygon")
_MALFORMED_FIX = "Each point must be [longitude, latitude] in degrees; export the area again as GeoJSON or KML."


def parse_aoi(obj_or_text: Any, filename: str | None = None) -> dict:
    """GeoJSON (geometry, Feature, FeatureCollection of one polygon) or KML -> geometry dict.

    ``obj_or_text`` is a dict, JSON/KML text or bytes; ``filename`` (optional) names the
    source in messages and picks KML by its extension. Z values are dropped. Anything that
    is not one usable polygon raises :class:`InputError`.
    """
    label = filename or "The area"
    if isinstance(obj_or_text, (bytes, bytearray)):
        if len(obj_or_text) > MAX_AOI_TEXT_CHARS:
            raise _too_big(label, len(obj_or_text))
        try:
            obj_or_text = bytes(obj_or_text).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InputError(f"{label} is not text (UTF-8).",
                             "Upload a GeoJSON or KML file.") from None
    if isinstance(obj_or_text, str):
        if len(obj_or_text) > MAX_AOI_TEXT_CHARS:
            raise _too_big(label, len(obj_or_text))
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
    return _drop_z(geometry, label)


def _too_big(label: str, n: int) -> InputError:
    return InputError(f"{label} is {n / 1e6:,.1f} MB, more than the {MAX_AOI_TEXT_CHARS / 1e6:,.0f} MB an area "
                      "file may have.", "Keep just the outline of the area (simplify it, or keep one polygon).")


def _parse_json_text(text: str, label: str) -> dict:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{label} is not valid GeoJSON ({exc.msg} at line {exc.lineno}).",
                         "Check the file, or export the area again as GeoJSON or KML.") from None
    except RecursionError:
        raise InputError(f"{label} nests brackets too deeply to be an area (GeoJSON needs at most 6 levels).",
                         "Check the file, or export the area again as GeoJSON or KML.") from None
    except ValueError as exc:
        raise InputError(f"{label} is not valid GeoJSON ({str(exc)[:80]}).",
                         "Check the file, or export the area again as GeoJSON or KML.") from None
    if not isinstance(obj, dict):
        raise InputError(f"{label} is JSON but not a GeoJSON object.",
                         "Give a GeoJSON Polygon, Feature or FeatureCollection.")
    return obj


def _kind_text(kind: Any) -> str:
    if isinstance(kind, str) and kind.strip():
        return kind[:40]
    return "shape without a type" if kind is None else f"shape whose type is {type(kind).__name__}"


def _geometry_of(obj: Any, label: str, depth: int = 0) -> dict:
    if not isinstance(obj, dict):
        raise InputError(f"{label} holds a {type(obj).__name__} where a GeoJSON object was expected.",
                         "Give a GeoJSON Polygon, Feature or FeatureCollection.")
    if depth > 4:
        raise InputError(f"{label} nests Features and collections too deeply.", "Give one polygon.")
    kind = obj.get("type")
    kind = kind if isinstance(kind, str) else None if kind is None else kind
    if kind == "FeatureCollection":
        features = obj.get("features")
        if features is None or features == []:
            raise InputError(f"{label} is an empty FeatureCollection (no features).",
                             "Draw or upload one polygon.")
        if not isinstance(features, list):
            raise InputError(f"{label} is a FeatureCollection whose 'features' is a {type(features).__name__}, "
                             "not a list.", "Give a list of Features holding one polygon.")
        if len(features) > 1:
            raise InputError(f"{label} holds {len(features)} features; an analysis area is one polygon.",
                             "Keep one polygon, or merge them into one (MultiPolygon) first.")
        return _geometry_of(features[0], label, depth + 1)
    if kind == "Feature":
        geometry = obj.get("geometry")
        if not geometry:
            raise InputError(f"{label} is a Feature without a geometry.", "Draw or upload one polygon.")
        if not isinstance(geometry, dict):
            raise InputError(f"{label} is a Feature whose geometry is a {type(geometry).__name__}, not a "
                             "GeoJSON geometry.", "Draw or upload one polygon.")
        return _geometry_of(geometry, label, depth + 1)
    if kind == "GeometryCollection":
        geometries = obj.get("geometries")
        if not isinstance(geometries, list):
            raise InputError(f"{label} is a GeometryCollection without a list of geometries.",
                             "Draw or upload one polygon.")
        parts = [g for g in geometries if isinstance(g, dict) and g.get("type") in _POLYGON_TYPES]
        if len(parts) == 1:
            return _geometry_of(parts[0], label, depth + 1)
        raise InputError(f"{label} is a GeometryCollection holding {len(parts)} polygons; an analysis area is "
                         "one polygon.", "Keep one polygon, or merge them into one (MultiPolygon) first.")
    if kind not in _POLYGON_TYPES:
        raise InputError(f"{label} is a {_kind_text(kind)}, not a polygon.",
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
    except (RecursionError, ValueError) as exc:
        raise InputError(f"{label} is not valid KML ({type(exc).__name__}).",
                         "Export the area again as KML or GeoJSON.") from None
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


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _kml_ring(text: str, label: str) -> list[list[float]]:
    ring = []
    for token in re.split(r"\s+", (text or "").strip()):
        if not token:
            continue
        try:
            values = [float(v) for v in token.split(",")]
        except ValueError:
            raise InputError(f"{label} has an unreadable KML coordinate '{token[:40]}'.",
                             "Coordinates must be 'lon,lat[,alt]' separated by spaces.") from None
        if len(values) < 2:
            raise InputError(f"{label} has a KML coordinate '{token[:40]}' without a latitude.",
                             "Coordinates must be 'lon,lat[,alt]' separated by spaces.")
        ring.append(values[:2])
    return ring


def _number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError
    return float(v)


def _drop_z(geometry: dict, label: str = "The area") -> dict:
    """The geometry with 2-D coordinates, checked point by point: every ring a list of at
    least three corners, every coordinate a finite number; at most MAX_AOI_POINTS points."""
    count = 0

    def ring2d(ring: Any, where: str) -> list[list[float]]:
        nonlocal count
        if not isinstance(ring, (list, tuple)):
            raise InputError(f"{label} has a {where} that is a {type(ring).__name__}, not a list of points.",
                             _MALFORMED_FIX)
        count += len(ring)
        if count > MAX_AOI_POINTS:
            raise InputError(f"{label} has more than {MAX_AOI_POINTS:,} points.",
                             "Simplify the outline (a few hundred points are plenty).")
        out = []
        for p in ring:
            try:
                if not isinstance(p, (list, tuple)) or len(p) < 2:
                    raise TypeError
                x, y = _number(p[0]), _number(p[1])
            except TypeError:
                raise InputError(f"{label} has a point that is not [longitude, latitude] in a {where}: "
                                 f"{str(p)[:60]}.", _MALFORMED_FIX) from None
            if not (math.isfinite(x) and math.isfinite(y)):
                raise InputError(f"{label} has a coordinate that is not a finite number ({x}, {y}).",
                                 _MALFORMED_FIX)
            out.append([x, y])
        if out and out[0] != out[-1]:
            out.append(list(out[0]))  # close an open ring
        corners = len({(x, y) for x, y in out})
        if len(out) < 4 or corners < 3:
            raise InputError(f"{label} has a {where} of {corners} distinct point(s); a polygon needs at least "
                             "three corners.", "Draw a polygon with at least three corners.")
        return out

    def polygon(rings: Any, where: str) -> list[list[list[float]]]:
        if not isinstance(rings, (list, tuple)) or not rings:
            raise InputError(f"{label} has a {where} without rings of points.", _MALFORMED_FIX)
        return [ring2d(r, "ring" if i == 0 else "hole") for i, r in enumerate(rings)]

    kind = geometry.get("type") if isinstance(geometry, dict) else None
    coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if kind == "Polygon":
        return {"type": kind, "coordinates": polygon(coords, "polygon")}
    if kind == "MultiPolygon":
        if not isinstance(coords, (list, tuple)) or not coords:
            raise InputError(f"{label} is a MultiPolygon without polygons.", _MALFORMED_FIX)
        return {"type": kind, "coordinates": [polygon(p, "part") for p in coords]}
    raise InputError(f"{label} is a {_kind_text(kind)}, not a polygon.", "Draw or upload one polygon.")


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


def _km(deg_lon: float, lat: float) -> float:
    return deg_lon * 111.32 * max(math.cos(math.radians(lat)), 0.0)


def check_aoi(aoi: dict, max_area_km2: float = MAX_AOI_KM2, max_grid_km2: float | None = None) -> float:
    """Check an AOI geometry; return its area in km2 or raise InputError (what, why, fix).

    ``max_grid_km2`` bounds the analysis grid (the AOI's bounding box in its UTM zone at
    10 m); default: the larger of MAX_GRID_KM2 and 2.5 x ``max_area_km2``.
    """
    if not isinstance(aoi, dict):
        raise InputError("The area is missing.", "Draw an area or upload a GeoJSON or KML file.")
    geometry = _drop_z(_geometry_of(aoi, "The area"))
    lons = [p[0] for p in _points(geometry)]
    lats = [p[1] for p in _points(geometry)]
    if min(lats) < -90 or max(lats) > 90:
        swap = ""
        if all(-90 <= x <= 90 for x in lons) and all(-180 <= y <= 180 for y in lats):
            swap = (f" They look like [latitude, longitude]: swapped, the area would be at longitude "
                    f"{min(lats):.3f}..{max(lats):.3f}, latitude {min(lons):.3f}..{max(lons):.3f}.")
        raise InputError(f"The area has latitudes outside -90..90 ({min(lats):.3f}..{max(lats):.3f}).{swap}",
                         "Coordinates must be [longitude, latitude] in degrees (EPSG:4326); "
                         "check that they are not swapped or projected.")
    if min(lons) < -180 or max(lons) > 180:
        raise InputError(
            f"The area has longitudes outside -180..180 ({min(lons):.3f}..{max(lons):.3f}): past the antimeridian "
            "(180 degrees), or not in degrees.",
            "Give longitudes in -180..180 (EPSG:4326); an area across 180 degrees must be split into two areas, "
            "one on each side.")
    span = max(lons) - min(lons)
    if span > 180:
        width_km = _km(span, max(abs(min(lats)), abs(max(lats))))
        raise InputError(
            f"The area spans {span:.1f} degrees of longitude ({min(lons):.3f} to {max(lons):.3f}), about "
            f"{width_km:,.0f} km from west to east: far larger than the limit of {max_area_km2:,.0f} km2. "
            "If it is meant to cross the antimeridian (180 degrees) instead, one UTM grid cannot hold it.",
            "Draw a smaller area. Split it into two areas, one on each side of 180 degrees, if it crosses there.")
    if min(lats) < UTM_LATITUDES[0] or max(lats) > UTM_LATITUDES[1]:
        raise InputError(
            f"The area reaches latitude {min(lats) if min(lats) < UTM_LATITUDES[0] else max(lats):.3f}, outside "
            f"{UTM_LATITUDES[0]:g}..{UTM_LATITUDES[1]:g}, where the UTM analysis grid (and Sentinel-2) do not reach.",
            "Check that the coordinates are [longitude, latitude] and not swapped.")
    from shapely.errors import GEOSException
    from shapely.validation import explain_validity

    try:
        geom = to_shape(geometry)
        valid = geom.is_valid
    except (ValueError, TypeError, AttributeError, GEOSException) as exc:
        raise InputError(f"The area is not a usable polygon ({str(exc)[:120]}).",
                         "Redraw it as a simple closed outline with at least three corners.") from None
    if geom.is_empty:
        raise InputError("The area is empty (no points).", "Draw or upload one polygon.")
    if not valid:
        reason = explain_validity(geom)
        where = re.search(r"\[([-\d.eE]+)\s+([-\d.eE]+)\]", reason)
        near = f" near lon {float(where.group(1)):.5f}, lat {float(where.group(2)):.5f}" if where else ""
        if "self-intersection" in reason.lower():
            raise InputError(f"The area's outline crosses itself{near} (self-intersection).",
                             "Redraw the polygon so that its edges do not cross.")
        raise InputError(f"The area is not a valid polygon: {reason}.",
                         "Redraw it as a simple closed outline with at least three corners.")
    if geom.area == 0:
        raise InputError("The area has no extent (its points are on a line or one spot).",
                         "Draw a polygon with at least three distinct corners.")
    area = aoi_area_km2(geometry)
    if not math.isfinite(area):
        raise InputError("The area's size cannot be measured in its UTM zone.",
                         "Check that the coordinates are [longitude, latitude] in degrees.")
    if area > max_area_km2 + 0.05:
        raise InputError(
            f"The area is {area:,.1f} km², larger than the limit of {max_area_km2:,.0f} km² "
            f"(about {max_area_km2 ** 0.5:.0f} km x {max_area_km2 ** 0.5:.0f} km).",
            "Draw a smaller area, or split it into several areas under the limit.")
    check_grid_size(geometry, max_grid_km2 if max_grid_km2 is not None else max(MAX_GRID_KM2, 2.5 * max_area_km2))
    return area


def check_grid_size(geometry: dict, max_grid_km2: float) -> None:
    """Refuse an AOI whose analysis grid (bounding box in its UTM zone at 10 m) is over the limit:
    the grid, not the polygon, decides what is fetched and held in memory."""
    from ..grid import grid_for_bounds_lonlat

    grid = grid_for_bounds_lonlat(*aoi_bounds(geometry))
    if not math.isfinite(grid.area_km2) or grid.area_km2 > max_grid_km2:
        w_km, h_km = grid.width * grid.pixel_size_m / 1000, grid.height * grid.pixel_size_m / 1000
        raise InputError(
            f"The area's bounding box is {w_km:,.1f} km x {h_km:,.1f} km ({grid.area_km2:,.0f} km2, a grid of "
            f"{grid.width:,} x {grid.height:,} pixels at 10 m), larger than the grid limit of {max_grid_km2:,.0f} km2: "
            "the whole box around the area is fetched and analysed, so parts far apart make a huge grid.",
            "Analyse each part as its own area, or draw one compact area.")


def aoi_warnings(aoi: dict) -> list[str]:
    """Doubts about a valid AOI worth telling the user (it is still used): e.g. an area
    outside Sentinel-2's regular coverage, where swapped coordinates often land."""
    try:
        geometry = _drop_z(_geometry_of(aoi, "The area"))
    except InputError:
        return []
    lons = [p[0] for p in _points(geometry)]
    lats = [p[1] for p in _points(geometry)]
    out = []
    lo, hi = SENTINEL2_LATITUDES
    if min(lats) < lo or max(lats) > hi:
        msg = (f"The area is at latitude {min(lats):.3f}..{max(lats):.3f}, outside Sentinel-2's regular coverage "
               f"({lo:g}..{hi:g}); there may be no scenes.")
        if all(lo <= x <= hi for x in lons) and all(-180 <= y <= 180 for y in lats):
            msg += (f" If the coordinates were written as [latitude, longitude], swapped the area would be at "
                    f"longitude {min(lats):.3f}..{max(lats):.3f}, latitude {min(lons):.3f}..{max(lons):.3f}.")
        out.append(msg)
    return out


def _points(geometry: dict):
    polys = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    for poly in polys:
        for ring in poly:
            yield from ring


def normalised_aoi(aoi: dict, decimals: int = 7) -> dict:
    """A canonical form for hashing: counter-clockwise shells, coordinates rounded."""
    from shapely.geometry import mapping
    from shapely.geometry.polygon import orient

    geom = to_shape(_drop_z(_geometry_of(aoi, "The area")))
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
    pts = list(_points(_drop_z(_geometry_of(aoi, "The area"))))
    lons, lats = [p[0] for p in pts], [p[1] for p in pts]
    return min(lons), min(lats), max(lons), max(lats)
