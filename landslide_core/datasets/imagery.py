"""Imagery for a dataset's ROIs: fetched through the same sources and cache as everything else,
stored per ROI as a scene GeoTIFF on the ROI's own grid, with provenance.

Each ROI's scenes are fetched with an ordinary :class:`~landslide_core.sources.AnalysisRequest`
(the ROI's square as the area, the dataset's windows and cloud limit), so the scene cache,
the Earth Engine download and the demo generator are the ones the Monitor page uses. The
fetched scene lies on the request's grid (the UTM zone of the area's centre); it is cut (or,
when that grid is in another zone, reprojected) to the ROI's grid, and the slope is kept from
the larger scene so the ROI's edges have a true slope. One ROI that cannot be fetched (no scene
under the cloud limit, an outage) is recorded with its reason and the others go on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from ..bands import ALL_BANDS, ELEVATION, SLOPE, slope_horn_deg
from ..errors import Cancelled, SourceError, UserError
from ..grid import Grid
from ..progress import CancelToken, ProgressFn, check_cancel
from ..scene import RawScene, read_scene, write_scene
from .labels import now_iso
from .store import SCENE_FILES, DatasetStore


def _aligned_offset(scene: RawScene, grid: Grid) -> Optional[tuple[int, int]]:
    """(row, col) of the grid's top-left pixel in the scene when both share CRS and pixel lattice."""
    st, gt = scene.transform, grid.transform
    if scene.crs != grid.crs or not (math.isclose(st.a, gt.a) and math.isclose(st.e, gt.e)) or st.b or st.d:
        return None
    col = (gt.c - st.c) / st.a
    row = (gt.f - st.f) / st.e
    if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        return None
    r, c = int(round(row)), int(round(col))
    if r < 0 or c < 0 or r + grid.height > scene.height or c + grid.width > scene.width:
        return None
    return r, c


def scene_on_grid(scene: RawScene, grid: Grid) -> RawScene:
    """``scene`` on ``grid``: a cut when they share the pixel lattice, else a reprojection
    (bilinear bands, nearest valid mask, slope recomputed by Horn's method on the new grid).
    The result holds all 14 contract bands."""
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    data = scene.data
    names = list(scene.band_names)
    if SLOPE not in names:  # the larger scene's slope: true at the ROI's edges
        px = abs(scene.transform.a)
        slope = slope_horn_deg(data[names.index(ELEVATION)], px, abs(scene.transform.e))
        data = np.concatenate([data, slope[None]], axis=0)
        names.append(SLOPE)
    order = [names.index(b) for b in ALL_BANDS]
    data = data[order]
    offset = _aligned_offset(scene, grid)
    prov = dict(scene.provenance)
    if offset is not None:
        r, c = offset
        out = data[:, r:r + grid.height, c:c + grid.width].copy()
        valid = scene.valid[r:r + grid.height, c:c + grid.width].copy()
        prov["cut_from"] = {"crs": scene.crs.to_string(), "transform": list(scene.transform)[:6],
                            "row": r, "col": c}
    else:
        out = np.full((len(ALL_BANDS), grid.height, grid.width), np.nan, np.float32)
        reproject(np.ascontiguousarray(data, np.float32), out, src_transform=scene.transform, src_crs=scene.crs,
                  dst_transform=grid.transform, dst_crs=grid.crs, resampling=Resampling.bilinear,
                  src_nodata=np.nan, dst_nodata=np.nan)
        v = np.zeros((grid.height, grid.width), np.float32)
        reproject(scene.valid.astype(np.float32), v, src_transform=scene.transform, src_crs=scene.crs,
                  dst_transform=grid.transform, dst_crs=grid.crs, resampling=Resampling.nearest,
                  src_nodata=None, dst_nodata=0.0)
        out[ALL_BANDS.index(SLOPE)] = slope_horn_deg(out[ALL_BANDS.index(ELEVATION)], abs(grid.transform.a),
                                                     abs(grid.transform.e))
        valid = (v > 0.5) & np.isfinite(out).all(axis=0)
        prov["reprojected_from"] = {"crs": scene.crs.to_string(), "transform": list(scene.transform)[:6]}
    return RawScene(out.astype(np.float32, copy=False), ALL_BANDS, valid, grid.transform, grid.crs, prov)


@dataclass
class FetchReport:
    """What a fetch of a dataset's ROIs did."""

    fetched: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        parts = [f"{len(self.fetched)} fetched", f"{len(self.already)} already there"]
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        return ", ".join(parts)


def _source(store: DatasetStore, source: Any = None):
    if source is not None:
        return source
    from ..sources import get_source

    return get_source(store.spec.source, **store.spec.source_options)


def fetch_roi(store: DatasetStore, roi_id: str, source: Any = None, progress: Optional[ProgressFn] = None,
              cancel: Optional[CancelToken] = None, refetch: bool = False) -> dict[str, Any]:
    """Fetch one ROI's scene to label (and its pre-event scene when the dataset has a pre window)
    onto the ROI's grid; return the record written to its ``fetch.json``."""
    roi = store.roi(roi_id)
    roles = ["post"] + (["pre"] if store.spec.pre_window else [])
    if not refetch and all(store.has_scene(roi_id, r) for r in roles):
        return store.fetch_record(roi_id)
    src = _source(store, source)
    request = store.spec.request_for(roi)
    grid = roi.grid()
    record: dict[str, Any] = {"roi": roi.id, "source": getattr(src, "name", store.spec.source),
                              "source_version": getattr(src, "version", ""), "fetched_utc": now_iso(),
                              "request": request.normalised(), "roi_grid": grid.key(), "scenes": {}}
    folder = store.roi_dir(roi_id)
    folder.mkdir(parents=True, exist_ok=True)
    for role in roles:
        check_cancel(cancel)
        window = request.post if role == "post" else request.pre
        fetched = src.fetch(request, window, progress=progress, cancel=cancel)
        scene = scene_on_grid(read_scene(fetched.path), grid)
        prov = dict(fetched.provenance or scene.provenance)
        scene.provenance = {**prov, "roi": roi.id, "roi_grid": grid.key(), "role": role,
                            "dataset": store.spec.name, **{k: v for k, v in scene.provenance.items()
                                                          if k in ("cut_from", "reprojected_from")}}
        write_scene(store.scene_path(roi_id, role), scene)
        record["scenes"][role] = {
            "file": SCENE_FILES[role], "from_cache": bool(fetched.from_cache),
            "scene_ids": [s.get("scene_id") for s in prov.get("scenes") or [] if isinstance(s, dict)]
            or list(prov.get("scene_ids") or []),
            "dates": list(prov.get("dates") or ([prov["date"]] if prov.get("date") else [])),
            "window": window.to_json(),
            "valid_pct": round(100.0 * float(np.mean(scene.valid)), 2),
        }
    store.write_fetch_record(roi_id, record)
    return record


def fetch_rois(store: DatasetStore, roi_ids: Optional[list[str]] = None, source: Any = None,
               progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
               refetch: bool = False) -> FetchReport:
    """Fetch the scenes of the given ROIs (default: all). A failing ROI is recorded (its
    ``fetch.json`` says why) and the others go on; a cancel stops between ROIs."""
    ids = list(roi_ids) if roi_ids is not None else store.roi_ids()
    src = _source(store, source)
    report = FetchReport()
    roles = ["post"] + (["pre"] if store.spec.pre_window else [])
    for k, roi_id in enumerate(ids):
        check_cancel(cancel)
        if progress:
            progress(k, len(ids), "fetching ROIs")
        if not refetch and all(store.has_scene(roi_id, r) for r in roles):
            report.already.append(roi_id)
            continue
        try:
            fetch_roi(store, roi_id, src, cancel=cancel, refetch=refetch)
            report.fetched.append(roi_id)
        except Cancelled:
            raise
        except UserError as exc:
            report.failed[roi_id] = str(exc)
            store.write_fetch_record(roi_id, {"roi": roi_id, "error": str(exc), "kind": type(exc).__name__,
                                              "fetched_utc": now_iso()})
    if progress:
        progress(len(ids), len(ids), "fetching ROIs")
    if ids and len(report.failed) == len(ids):
        first = next(iter(report.failed.values()))
        raise SourceError(f"No ROI could be fetched; the first said: {first}",
                          "Check the source, the date window and the cloud limit.")
    return report
