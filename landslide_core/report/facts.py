"""What a report and the GIS outputs say about a finished analysis, in no language yet.

:func:`gather` reads a result folder at a threshold: at the analysis's own threshold and
minimum area, the figures are the ones it saved (``summary.json``, ``change.geojson``, the
masks), so a report repeats them exactly; at another threshold they are recomputed from the
saved probabilities and evidence (``result_views.rethreshold``: no model runs).
"""
from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .. import __version__
from ..errors import InputError
from ..result_views import (default_min_area_ha, default_threshold, model_card_record, provenance_record,
                            rethreshold, slope_class_areas)
from ..results import AnalysisResult
from .place import Place, place_of

#: Rows of the "largest new landslides" table.
TOP_N = 10
CHANGE_KEYS = ("new_count", "new_ha", "persisting_ha", "vanished_ha", "not_assessable_ha", "stable_ha")


@dataclass
class DateFacts:
    """One date of the pair: its window, the scenes used and their cloud over the area."""

    role: str
    window: list[str]
    dates: list[str]
    scenes: list[dict[str, Any]]
    cloud_pct: Optional[float]
    composite: Optional[str] = None

    @property
    def date_text(self) -> str:
        return ", ".join(self.dates) if self.dates else "?"

    @property
    def last_date(self) -> Optional[str]:
        return max(self.dates) if self.dates else None


@dataclass
class ReportFacts:
    result: AnalysisResult
    place: Place
    threshold: float
    min_area_ha: float
    at_run: bool
    change: dict[str, Any]
    new_features: list[dict[str, Any]]
    pre: DateFacts
    post: DateFacts
    model: dict[str, Any]
    change_raster: np.ndarray
    masks: dict[str, np.ndarray]
    transform: Any
    crs: Any
    bounds_lonlat: tuple[float, float, float, float]
    made_utc: str
    slope_classes: list[dict[str, Any]] = field(default_factory=list)
    _date_features: dict[str, list] = field(default_factory=dict, repr=False)
    #: True-colour backgrounds made from the scene files (figures.backdrop), once.
    _backdrops: Optional[dict[str, Any]] = field(default=None, repr=False)

    # ---------------------------------------------------------------- derived
    @property
    def top(self) -> list[dict[str, Any]]:
        """The largest new landslides, largest first (at most :data:`TOP_N`)."""
        props = [f.get("properties", {}) for f in self.new_features]
        return sorted(props, key=lambda p: -float(p.get("area_ha") or 0.0))[:TOP_N]

    @property
    def aoi(self) -> Optional[dict]:
        return (self.result.request or {}).get("aoi")

    @property
    def source_name(self) -> str:
        return str((self.result.source or {}).get("name") or "?")

    @property
    def synthetic(self) -> bool:
        prov = self.result.provenance or {}
        return (any(bool((prov.get(d) or {}).get("synthetic")) for d in ("pre", "post"))
                or self.source_name in ("demo", "synthetic"))

    @property
    def pixel_size_m(self) -> float:
        return math.sqrt(abs(self.transform.a * self.transform.e))

    @property
    def stem(self) -> str:
        """``<area>_<post date>``: the start of every output file's name."""
        return f"{self.place.slug}_{self.post.last_date or 'undated'}"

    def metadata(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(model card, provenance) as every exported file carries them."""
        prov = {**provenance_record(self.result), "threshold": self.threshold, "min_area_ha": self.min_area_ha}
        return model_card_record(self.result), prov

    def date_features(self, role: str) -> list[dict[str, Any]]:
        """Landslide polygons of one date (``pre`` or ``post``), EPSG:4326."""
        if role not in self._date_features:
            self._date_features[role] = _date_features(self, role)
        return self._date_features[role]


# -------------------------------------------------------------------- reading

def _read_raster(path: Path):
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with rasterio.open(path) as ds:
            return ds.read(1), ds.transform, ds.crs
    except (RasterioError, OSError) as exc:
        raise InputError(f"The analysis file {path} is damaged or missing ({exc}).",
                         "Run the analysis again.") from None


def _features(path: Path) -> list[dict[str, Any]]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"The analysis file {path} is damaged or missing ({exc}).",
                         "Run the analysis again.") from None
    return list(doc.get("features") or [])


def _date_features(facts: ReportFacts, role: str) -> list[dict[str, Any]]:
    saved = facts.result.path(role, "landslides.geojson")
    if facts.at_run and saved.is_file():
        return _features(saved)
    from ..evidence import EVIDENCE_FILE, read_evidence
    from ..postprocess import polygons_from_mask

    prob = _read_raster(facts.result.probability_tif(role))[0].astype(np.float32)
    slope = None
    if facts.result.path(EVIDENCE_FILE).is_file():
        slope = read_evidence(facts.result.path(EVIDENCE_FILE))[1]
    mask = (facts.masks[role] == 1).astype(np.uint8)
    return polygons_from_mask(mask, prob, slope, facts.transform, facts.crs, facts.min_area_ha)


def _date_facts(result: AnalysisResult, role: str) -> DateFacts:
    req, prov = result.request or {}, (result.provenance or {}).get(role) or {}
    window = req.get(role) or prov.get("window") or ["?", "?"]
    scenes = [s for s in (prov.get("scenes") or []) if isinstance(s, dict)]
    dates = list(prov.get("dates") or sorted({s.get("date") for s in scenes if s.get("date")}))
    if not dates and prov.get("date"):
        dates = [str(prov["date"])]
    if not scenes:
        ids = list(prov.get("scene_ids") or [])
        scenes = [{"scene_id": i, "date": dates[0] if len(dates) == 1 else None} for i in ids]
    cloud = prov.get("aoi_cloud_pct")
    if cloud is None:
        cloud = prov.get("cloud_percent")  # a scene without an area: the cloud share of the scene
    return DateFacts(role, [str(window[0]), str(window[1])], [str(d) for d in dates], scenes,
                     None if cloud is None else float(cloud), req.get("composite") or prov.get("composite"))


def _bounds_lonlat(transform, crs, shape) -> tuple[float, float, float, float]:
    from rasterio.warp import transform_bounds

    h, w = shape
    left, top = transform.c, transform.f
    right, bottom = left + w * transform.a, top + h * transform.e
    return tuple(transform_bounds(crs, "EPSG:4326", min(left, right), min(top, bottom), max(left, right),
                                  max(top, bottom), densify_pts=21))


def gather(result: AnalysisResult, threshold: Optional[float] = None, min_area_ha: Optional[float] = None,
           area_name: Optional[str] = None) -> ReportFacts:
    """The facts of ``result`` at ``threshold`` and ``min_area_ha`` (default: the analysis's own)."""
    run_t, run_mmu = default_threshold(result), default_min_area_ha(result)
    threshold = run_t if threshold is None else float(threshold)
    min_area_ha = run_mmu if min_area_ha is None else float(min_area_ha)
    at_run = abs(threshold - run_t) < 1e-9 and abs(min_area_ha - run_mmu) < 1e-9
    saved_change = (result.summary or {}).get("change") or {}
    if at_run and all(k in saved_change for k in CHANGE_KEYS[:5]):
        change_raster, transform, crs = _read_raster(result.change_tif)
        masks = {role: _read_raster(result.mask_tif(role))[0] for role in ("pre", "post")}
        change = dict(saved_change)
        features = _features(result.change_geojson)
    else:
        pair = rethreshold(result, threshold, min_area_ha)
        from ..result_views import grid_of

        transform, crs = grid_of(result)
        change_raster, masks = pair.change, {"pre": pair.pre_mask, "post": pair.post_mask}
        change = {**pair.change_summary.to_dict(), **pair.summary}
        features = pair.new_features
        at_run = False
    bounds = _bounds_lonlat(transform, crs, change_raster.shape)
    aoi = (result.request or {}).get("aoi")
    prov = result.provenance or {}
    synthetic = any(bool((prov.get(d) or {}).get("synthetic")) for d in ("pre", "post"))
    place = place_of(aoi, bounds, synthetic=synthetic, given_name=area_name)
    facts = ReportFacts(result=result, place=place, threshold=threshold, min_area_ha=min_area_ha, at_run=at_run,
                        change=change, new_features=features, pre=_date_facts(result, "pre"),
                        post=_date_facts(result, "post"), model=model_card_record(result),
                        change_raster=change_raster, masks=masks, transform=transform, crs=crs,
                        bounds_lonlat=bounds,
                        made_utc=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    facts.slope_classes = slope_class_areas(features)
    return facts


def software() -> str:
    return f"landslide-monitor {__version__}"


__all__ = ["ReportFacts", "DateFacts", "gather", "TOP_N", "software"]
