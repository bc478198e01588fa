"""Change between a pre and a post result, pixel by pixel, with area totals.

Change classes (uint8): 0 stable (no landslide either date), 1 new (post only), 2 persisting
(both), 3 vanished (pre only), 255 not assessable (not assessable in either date).
:func:`summarise_pair` recomputes everything from cached probabilities (no model), so a
threshold or minimum-mapping-unit change is cheap.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from rasterio.crs import CRS
from rasterio.transform import Affine

from .errors import InputError
from .postprocess import (DEFAULT_MIN_AREA_HA, LANDSLIDE, NOT_ASSESSABLE, STABLE, apply_min_mapping_unit,
                          check_threshold, count_components, mask_from_probability, mask_summary,
                          pixel_area_ha, polygons_from_mask)

CHANGE_STABLE = 0
CHANGE_NEW = 1
CHANGE_PERSISTING = 2
CHANGE_VANISHED = 3
CHANGE_NOT_ASSESSABLE = 255
CHANGE_NAMES = {CHANGE_STABLE: "stable", CHANGE_NEW: "new", CHANGE_PERSISTING: "persisting",
                CHANGE_VANISHED: "vanished", CHANGE_NOT_ASSESSABLE: "not assessable"}


def change_classes(pre_mask: np.ndarray, post_mask: np.ndarray) -> np.ndarray:
    """Pixelwise change class of two masks (1 landslide, 0 stable, 255 not assessable)."""
    pre_mask, post_mask = np.asarray(pre_mask), np.asarray(post_mask)
    if pre_mask.shape != post_mask.shape:
        raise InputError(f"The pre mask {pre_mask.shape} and post mask {post_mask.shape} differ in shape.",
                         "Put both dates on the same grid first.")
    out = np.full(pre_mask.shape, CHANGE_STABLE, np.uint8)
    pre1, post1 = pre_mask == LANDSLIDE, post_mask == LANDSLIDE
    out[~pre1 & post1] = CHANGE_NEW
    out[pre1 & post1] = CHANGE_PERSISTING
    out[pre1 & ~post1] = CHANGE_VANISHED
    out[(pre_mask == NOT_ASSESSABLE) | (post_mask == NOT_ASSESSABLE)] = CHANGE_NOT_ASSESSABLE
    return out


@dataclass
class ChangeSummary:
    """Hectares per change class (pixelwise) and the new landslides (after the minimum mapping unit)."""

    new_ha: float
    persisting_ha: float
    vanished_ha: float
    stable_ha: float
    not_assessable_ha: float
    new_count: int
    new_landslides_ha: float  # area of the new landslides counted (each at least min_area_ha)
    threshold: float
    min_area_ha: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarise_change(change: np.ndarray, transform: Affine, new_count: int, new_landslides_ha: float,
                     threshold: float, min_area_ha: float) -> ChangeSummary:
    ha = pixel_area_ha(transform)
    counts = np.bincount(change.ravel(), minlength=256)

    def area(c: int) -> float:
        return round(float(counts[c] * ha), 4)

    return ChangeSummary(area(CHANGE_NEW), area(CHANGE_PERSISTING), area(CHANGE_VANISHED), area(CHANGE_STABLE),
                         area(CHANGE_NOT_ASSESSABLE), int(new_count), round(float(new_landslides_ha), 4),
                         float(threshold), float(min_area_ha))


@dataclass
class PairResult:
    """Everything of a pre/post pair at one threshold: masks, change, new landslides, summary."""

    pre_mask: np.ndarray  # uint8, MMU applied
    post_mask: np.ndarray  # uint8, MMU applied
    change: np.ndarray  # uint8 change classes
    new_features: list[dict[str, Any]]  # GeoJSON features (EPSG:4326) of new landslides
    change_summary: ChangeSummary
    summary: dict[str, Any]  # change_summary plus per-date figures, JSON-able


def summarise_pair(pre_prob: np.ndarray, post_prob: np.ndarray, slope_deg: np.ndarray, transform: Affine,
                   crs: CRS, threshold: float, min_area_ha: float = DEFAULT_MIN_AREA_HA) -> PairResult:
    """Masks, change classes, new-landslide polygons and totals from two probability rasters on one grid."""
    threshold = check_threshold(threshold)
    if np.shape(pre_prob) != np.shape(post_prob):
        raise InputError(f"The pre {np.shape(pre_prob)} and post {np.shape(post_prob)} probabilities differ in shape.",
                         "Put both dates on the same grid first.")
    pre_mask = apply_min_mapping_unit(mask_from_probability(pre_prob, threshold), transform, min_area_ha)
    post_mask = apply_min_mapping_unit(mask_from_probability(post_prob, threshold), transform, min_area_ha)
    change = change_classes(pre_mask, post_mask)
    new_binary = np.where(change == CHANGE_NEW, LANDSLIDE, STABLE).astype(np.uint8)
    new_features = polygons_from_mask(new_binary, post_prob, slope_deg, transform, crs, min_area_ha)
    new_ha = sum(f["properties"]["area_ha"] for f in new_features)
    stats = summarise_change(change, transform, len(new_features), new_ha, threshold, min_area_ha)
    summary = stats.to_dict()
    summary["pre"] = mask_summary(pre_mask, transform, pre_prob)
    summary["post"] = mask_summary(post_mask, transform, post_prob)
    return PairResult(pre_mask, post_mask, change, new_features, stats, summary)


__all__ = ["change_classes", "ChangeSummary", "PairResult", "summarise_pair", "summarise_change",
           "CHANGE_NAMES", "count_components"]
