"""The batch's outputs, from the tiles' files: COG mosaics per zone and the new landslides.

- :func:`finalize_zone`: the region tiles' cores laid side by side in a GDAL VRT
  (:func:`.mosaic.write_vrt`, no pixel copied) and written as Cloud-Optimized GeoTIFFs by
  :mod:`landslide_core.exports`: ``change.tif`` and ``probability_post.tif``, or one of each
  per UTM zone (:func:`output_names`); the zone's new landslides in raster order;
- :func:`finalize_region`: ``new_landslides.geojson`` with every zone's new landslides,
  numbered in raster order zone by zone (as one run over each zone numbers them).

Tiles that are not finished are nodata in the mosaics.
"""
from __future__ import annotations

import time
from typing import Any, Optional

from .layout import read_json, write_json
from .worker import load_batch, model_card, task_result


def output_names(plan, zone_id: str) -> dict[str, str]:
    """``change.tif`` and ``probability_post.tif`` for a region in one zone; with several zones
    one of each per zone: ``change_epsg32718.tif``, ``probability_post_epsg32718.tif``."""
    suffix = "" if len(plan.zones) == 1 else f"_{zone_id}"
    return {"change": f"change{suffix}.tif", "probability_post": f"probability_post{suffix}.tif"}


def finalize_zone(job_path: str, zone_id: str) -> dict[str, Any]:
    """The zone's COG mosaics (region tiles' cores; unfinished tiles are nodata) and its new
    landslides in raster order (``<zone>/new_landslides.json``)."""
    from .. import exports
    from .mosaic import covering_window, write_vrt

    t0 = time.perf_counter()
    layout, job, plan = load_batch(job_path)
    zone = plan.zone(zone_id)
    tiles = plan.tiles_of(zone_id, "region")
    finished = [t for t in tiles if read_json(layout.marker(zone_id, t.id, "change")) is not None]
    bbox = covering_window(t.core for t in tiles)
    grid = bbox.grid(zone.grid)
    names = output_names(plan, zone_id)
    card = model_card(job)
    provenance = {"batch": job.key(), "zone": zone_id, "crs": zone.grid.crs.to_string(),
                  "tiles": len(tiles), "tiles_mapped": len(finished), "source": job.source,
                  "pre": job.pre, "post": job.post, "settings": job.options}
    outputs = {}
    for kind, dtype, nodata, path_of in (("change", "uint8", 255, layout.change),
                                         ("probability_post", "float32", float("nan"), layout.probability_post)):
        sources = [(path_of(zone_id, t.id), _in_mosaic(t.core, bbox)) for t in finished]
        vrt = write_vrt(layout.zone_dir(zone_id) / f"{kind}.vrt", grid, sources, dtype, nodata)
        exports.cog_from_geotiff(vrt, layout.out / names[kind], "change" if kind == "change" else "probability",
                                 card.to_dict(), provenance)
        outputs[kind] = names[kind]
    features = []
    for t in finished:
        features += (read_json(layout.features(zone_id, t.id)) or {}).get("features", [])
    features.sort(key=lambda f: tuple(f["properties"]["_first_px"]))
    write_json(layout.zone_dir(zone_id) / "new_landslides.json", {"features": features})
    return task_result("merge", zone_id, t0, False, outputs=outputs, tiles=len(tiles), tiles_mapped=len(finished),
                   grid={"crs": grid.crs.to_string(), "transform": list(grid.transform)[:6], "width": grid.width,
                         "height": grid.height})


def _in_mosaic(core, bbox):
    """``core`` in the pixels of the mosaic ``bbox``."""
    from .tiling import PixelWindow

    return PixelWindow(core.row0 - bbox.row0, core.row1 - bbox.row0, core.col0 - bbox.col0, core.col1 - bbox.col0)


def finalize_region(job_path: str, settings: Optional[dict] = None) -> dict[str, Any]:
    """``new_landslides.geojson`` and ``.gpkg``: every zone's new landslides, numbered in raster
    order per zone (the GeoPackage also holds the region, layer ``aoi``)."""
    from .. import exports

    t0 = time.perf_counter()
    layout, job, plan = load_batch(job_path)
    card = model_card(job)
    features = []
    for zone in plan.zones:
        for f in (read_json(layout.zone_dir(zone.id) / "new_landslides.json") or {}).get("features", []):
            props = {k: v for k, v in f["properties"].items() if k != "_first_px"}
            props["id"] = len(features) + 1
            features.append({**f, "properties": props})
    exports.write_geojson(features, layout.out / "new_landslides.geojson", card.to_dict(),
                          {"batch": job.key(), "source": job.source, "pre": job.pre, "post": job.post,
                           "zones": [z.id for z in plan.zones]},
                          {"change_class": "new", **(settings or {})})
    from ..report.gpkg import write_layers  # the same layer as detect's GeoPackage, and the region

    region = {"type": "Feature", "geometry": job.region, "properties": {"what": "area of interest"}}
    write_layers({"new_landslides": features, "aoi": [region]}, layout.out / "new_landslides.gpkg", "en")
    return task_result("merge", "region", t0, False, new_count=len(features),
                   new_landslides_ha=round(sum(f["properties"]["area_ha"] for f in features), 6))


__all__ = ["finalize_region", "finalize_zone", "output_names"]
