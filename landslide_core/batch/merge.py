"""The batch's outputs, from the tiles' files: COG mosaics per zone and the new landslides.

- :func:`zone_mosaic`: the region tiles' cores laid side by side in a GDAL VRT
  (:func:`.mosaic.write_vrt`, no pixel copied) and written as a Cloud-Optimized GeoTIFF by
  :mod:`landslide_core.exports`: ``change.tif`` or ``probability_post.tif``, or one of each
  per UTM zone (:func:`output_names`);
- :func:`finalize_region`: ``new_landslides.geojson`` with every zone's new landslides,
  numbered in raster order zone by zone (as one run over each zone numbers them).

Each is one task (:func:`finalize`, :func:`merge_parts`): the mosaics and the new landslides
are written side by side.

Tiles that are not finished are nodata in the mosaics.
"""
from __future__ import annotations

import time
from typing import Any, Optional

from .layout import read_json
from .worker import load_batch, model_card, task_result


def output_names(plan, zone_id: str) -> dict[str, str]:
    """``change.tif`` and ``probability_post.tif`` for a region in one zone; with several zones
    one of each per zone: ``change_epsg32718.tif``, ``probability_post_epsg32718.tif``."""
    suffix = "" if len(plan.zones) == 1 else f"_{zone_id}"
    return {"change": f"change{suffix}.tif", "probability_post": f"probability_post{suffix}.tif"}


#: What a zone's mosaics are made of: (kind, dtype, nodata, the layout's path of a tile's file)
MOSAICS = (("change", "uint8", 255, "change"), ("probability_post", "float32", float("nan"), "probability_post"))


def finalize(job_path: str, part: str, settings: Optional[dict] = None) -> dict[str, Any]:
    """One part of the outputs, as one task: ``"ZONE/KIND"`` a zone's COG mosaic
    (:func:`zone_mosaic`), ``"region"`` the new landslides (:func:`finalize_region`). The parts
    are independent: they run side by side."""
    if part == "region":
        return finalize_region(job_path, settings)
    zone_id, kind = part.split("/")
    return zone_mosaic(job_path, zone_id, kind)


def merge_parts(plan) -> list[str]:
    """Every part of the outputs (:func:`finalize`), the largest first."""
    return [f"{z.id}/{kind}" for kind in ("probability_post", "change") for z in plan.zones] + ["region"]


def zone_mosaic(job_path: str, zone_id: str, kind: str) -> dict[str, Any]:
    """The zone's COG mosaic of ``kind`` (``change`` or ``probability_post``) from the region
    tiles' cores; unfinished tiles are nodata."""
    from .. import exports
    from .mosaic import covering_window, write_vrt

    t0 = time.perf_counter()
    layout, job, plan = load_batch(job_path)
    zone = plan.zone(zone_id)
    tiles = plan.tiles_of(zone_id, "region")
    finished = [t for t in tiles if read_json(layout.marker(zone_id, t.id, "change")) is not None]
    bbox = covering_window(t.core for t in tiles)
    grid = bbox.grid(zone.grid)
    name = output_names(plan, zone_id)[kind]
    provenance = {"batch": job.key(), "zone": zone_id, "crs": zone.grid.crs.to_string(),
                  "tiles": len(tiles), "tiles_mapped": len(finished), "source": job.source,
                  "pre": job.pre, "post": job.post, "settings": job.options}
    _, dtype, nodata, path_name = next(m for m in MOSAICS if m[0] == kind)
    path_of = getattr(layout, path_name)
    sources = [(path_of(zone_id, t.id), _in_mosaic(t.core, bbox)) for t in finished]
    vrt = write_vrt(layout.zone_dir(zone_id) / f"{kind}.vrt", grid, sources, dtype, nodata)
    exports.cog_from_geotiff(vrt, layout.out / name, "change" if kind == "change" else "probability",
                             model_card(job).to_dict(), provenance)
    return task_result("merge", f"{zone_id}/{kind}", t0, False, zone=zone_id, outputs={kind: name}, tiles=len(tiles),
                       tiles_mapped=len(finished),
                       grid={"crs": grid.crs.to_string(), "transform": list(grid.transform)[:6], "width": grid.width,
                             "height": grid.height})


def zone_features(layout, plan, zone_id: str) -> list[dict]:
    """The zone's new landslides from its finished region tiles, in raster order."""
    features = []
    for t in plan.tiles_of(zone_id, "region"):
        if read_json(layout.marker(zone_id, t.id, "change")) is not None:
            features += (read_json(layout.features(zone_id, t.id)) or {}).get("features", [])
    features.sort(key=lambda f: tuple(f["properties"]["_first_px"]))
    return features


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
        for f in zone_features(layout, plan, zone.id):
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


__all__ = ["finalize", "finalize_region", "merge_parts", "output_names", "zone_features", "zone_mosaic"]
