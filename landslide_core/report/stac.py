"""A STAC Item (SpatioTemporal Asset Catalog, 1.0.0, projection extension) describing the
outputs of one analysis: where (geometry, bbox), when (the two scenes' dates), on which grid
(proj:*), what was found, and every file as an asset with its media type and role."""
from __future__ import annotations

import datetime as dt
from typing import Any

from .. import __version__

STAC_VERSION = "1.0.0"
PROJECTION_EXT = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
MEDIA_TYPES = {
    ".tif": "image/tiff; application=geotiff; profile=cloud-optimized",
    ".geojson": "application/geo+json",
    ".gpkg": "application/geopackage+sqlite3",
    ".csv": "text/csv",
    ".json": "application/json",
    ".png": "image/png",
    ".pdf": "application/pdf",
    ".html": "text/html",
    ".qml": "application/xml",
    ".txt": "text/plain",
}


def _role(name: str) -> list[str]:
    if name.endswith(".png"):
        return ["overview"]
    if name.endswith((".qml", ".json", ".txt")):
        return ["metadata"]
    if name.endswith((".pdf", ".html")):
        return ["metadata", "report"]
    return ["data"]


def _epsg(crs) -> Any:
    try:
        return crs.to_epsg()
    except Exception:  # noqa: BLE001
        return None


def stac_item(facts, assets: dict[str, tuple[str, str]], item_id: str) -> dict[str, Any]:
    """The Item of ``facts`` (report.facts.ReportFacts); ``assets``: {key: (file name, title)},
    the files beside the Item (hrefs are relative)."""
    w, s, e, n = facts.bounds_lonlat
    geometry = facts.aoi or {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
    start = facts.pre.dates[0] if facts.pre.dates else facts.pre.window[0]
    end = facts.post.last_date or facts.post.window[1]
    h, wpx = facts.change_raster.shape
    tr = facts.transform
    ch = facts.change
    properties: dict[str, Any] = {
        "datetime": None,
        "start_datetime": f"{start}T00:00:00Z",
        "end_datetime": f"{end}T23:59:59Z",
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "title": f"Landslide change, {facts.place.name('en')}, {start} to {end}",
        "description": ("New, persisting and vanished landslides between two Sentinel-2 L1C scenes, "
                        "mapped by a segmentation model (landslide-monitor)."),
        "proj:code": f"EPSG:{_epsg(facts.crs)}" if _epsg(facts.crs) is not None else None,
        "proj:wkt2": facts.crs.to_wkt() if _epsg(facts.crs) is None else None,
        "proj:shape": [int(h), int(wpx)],
        "proj:transform": [tr.a, tr.b, tr.c, tr.d, tr.e, tr.f],
        "landslide:pre_scene_dates": facts.pre.dates,
        "landslide:post_scene_dates": facts.post.dates,
        "landslide:new_count": int(ch.get("new_count") or 0),
        "landslide:new_ha": float(ch.get("new_ha") or 0.0),
        "landslide:persisting_ha": float(ch.get("persisting_ha") or 0.0),
        "landslide:vanished_ha": float(ch.get("vanished_ha") or 0.0),
        "landslide:not_assessable_ha": float(ch.get("not_assessable_ha") or 0.0),
        "landslide:threshold": facts.threshold,
        "landslide:min_area_ha": facts.min_area_ha,
        "landslide:model": str(facts.model.get("name") or ""),
        "landslide:source": facts.source_name,
        "landslide:software": f"landslide-monitor {__version__}",
    }
    properties = {k: v for k, v in properties.items() if v is not None or k == "datetime"}
    stac_assets = {}
    for key, (name, title) in assets.items():
        suffix = "." + name.rsplit(".", 1)[-1].lower()
        stac_assets[key] = {"href": f"./{name}", "type": MEDIA_TYPES.get(suffix, "application/octet-stream"),
                            "title": title, "roles": _role(name)}
    return {"type": "Feature", "stac_version": STAC_VERSION, "stac_extensions": [PROJECTION_EXT], "id": item_id,
            "geometry": geometry, "bbox": [w, s, e, n], "properties": properties, "links": [],
            "assets": stac_assets}


__all__ = ["stac_item", "STAC_VERSION"]
