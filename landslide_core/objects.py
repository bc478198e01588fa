"""Terrain- and shape-aware landslide objects: measures per object and the rules that use them.

A landslide is a scar on a slope that runs downslope; it is not on the valley floor. Fields
are blocky and flat, rivers follow the lowest ground, roads and terraces follow the contours.
Each connected object of a mask is measured (mean slope, height above the local valley floor,
compactness, rectangularity, elongation and how well its long axis follows the slope) and
kept only when every rule of :class:`ObjectRules` holds. The rules are named settings with
defaults chosen by measurement (``bench/object_rules.py``) and are recorded in the outputs'
provenance. The same rules serve single dates and pairs.

Measures:

- ``slope_deg_mean``: mean of the slope band over the object (degrees).
- ``height_above_valley_m``: mean height of the object above the local valley floor, the
  lowest ground within ``valley_radius_m`` (metres); ~0 on floodplains and riverbeds.
- ``relative_height``: mean position of the object between that valley floor (0) and the
  highest ground within the same radius (1); a river that descends its valley stays near 0
  even where it runs metres above the lowest point around it.
- ``compactness``: 4 pi area / perimeter^2 (1 for a disk, small for thin or ragged objects).
- ``rectangularity``: area / area of the smallest rotated rectangle around it (1 for a
  rectangle; fields are near 1, landslides, tapered and irregular, well below).
- ``width_m``: the short side of that rectangle (metres).
- ``elongation``: long axis / short axis of the object's ellipse of inertia (>= 1).
- ``downslope_alignment``: |cos| of the angle between the long axis and the downslope
  direction (1 along the slope, 0 along the contour).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
from scipy import ndimage

from .errors import InputError
from .settings import settings_from_dict

#: Names of the per-object measures, in the order they appear in tables.
MEASURES: tuple[str, ...] = ("slope_deg_mean", "height_above_valley_m", "relative_height", "compactness",
                             "rectangularity", "width_m", "elongation", "downslope_alignment")
#: Only objects at least this wide (metres) are judged "blocky": a thread of a few pixels is a
#: rectangle whatever it is (debris tracks are thin).
BLOCKY_MIN_WIDTH_M = 40.0


@dataclass
class ObjectRules:
    """Object-level rules with physical meaning; ``None`` (or 0 where stated) turns a rule off.

    Defaults were chosen by measurement with the default model on generated patches with
    fields, floodplains, rivers, roads and clear-cuts (``bench/object_rules.py --model default``)
    and on generated validation events (seeds 7001-7004), and checked on the real samples
    (``bench/real_samples.py``, ``bench/real_nochange.py``). A trained model that has learnt the
    confounders loses more real landslides than false ones to strict rules: 15 deg and
    compactness 0.15 turned down 9 % of the landslide area for 17 % of the confounder area.
    """

    #: Landslides start on slopes: an object whose mean slope is gentler than this is not one.
    #: Fields and floodplains lie under 8 deg; scars with a long runout onto gentler ground
    #: average 12-15 deg, so 15 cost landslides and nothing under 12 was a confounder.
    min_slope_deg: Optional[float] = 12.0
    #: Not on the valley floor: the object's mean height above the lowest ground within
    #: ``valley_radius_m`` must be at least this (floodplains, gravel bars and rivers are ~0) ...
    min_height_above_valley_m: Optional[float] = 5.0
    #: ... and its mean position between that floor (0) and the highest ground around (1) at
    #: least this (a river descending its valley stays near 0).
    min_relative_height: Optional[float] = 0.10
    valley_radius_m: float = 300.0
    #: Blocky objects (fields, clear-cuts) at least ``blocky_min_area_ha`` large and
    #: ``BLOCKY_MIN_WIDTH_M`` wide whose rectangularity is at least this are rejected.
    max_rectangularity: Optional[float] = 0.82
    blocky_min_area_ha: float = 0.3
    #: Long objects lying along the contour (roads, terraces, canals): rejected when their
    #: elongation is at least ``contour_min_elongation`` and their long axis is closer to the
    #: contour than this alignment with the slope (|cos| of the angle, 0..1).
    min_downslope_alignment: Optional[float] = 0.35
    contour_min_elongation: float = 3.0
    #: Thread-like, ragged objects: compactness below this is rejected. Rivers and their
    #: gravel bars (long, winding, with ragged banks) score under 0.1 (the braided river of the
    #: real sample image_52 is kept at 0.05 and turned down at 0.10); landslide scars mostly 0.3
    #: and more, but long, branching debris tracks reach down to 0.1, and 0.15 cost 6 % of the
    #: generated landslide area.
    min_compactness: Optional[float] = 0.10

    def validate(self) -> "ObjectRules":
        def positive(name: str, value: Any, upper: Optional[float] = None) -> None:
            if value is None:
                return
            try:
                v = float(value)
            except (TypeError, ValueError):
                raise InputError(f"The object rule {name} must be a number, got {value!r}.") from None
            if not math.isfinite(v) or v < 0 or (upper is not None and v > upper):
                rng = f"0-{upper:g}" if upper is not None else ">= 0"
                raise InputError(f"The object rule {name} is {value}; it must be {rng}.",
                                 "Leave it empty to switch the rule off.")

        positive("min_slope_deg", self.min_slope_deg, 90)
        positive("min_height_above_valley_m", self.min_height_above_valley_m)
        positive("min_relative_height", self.min_relative_height, 1)
        positive("valley_radius_m", self.valley_radius_m, 5000)
        positive("max_rectangularity", self.max_rectangularity, 1)
        positive("blocky_min_area_ha", self.blocky_min_area_ha)
        positive("min_downslope_alignment", self.min_downslope_alignment, 1)
        positive("contour_min_elongation", self.contour_min_elongation)
        positive("min_compactness", self.min_compactness, 1)
        if not self.valley_radius_m or float(self.valley_radius_m) < 20:
            raise InputError(f"valley_radius_m is {self.valley_radius_m}; it must be at least 20 m.")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Optional[dict[str, Any]]) -> "ObjectRules":
        return settings_from_dict(cls, data, "object rule(s)")

    @classmethod
    def off(cls) -> "ObjectRules":
        """Every rule switched off (objects are kept whatever their terrain and shape)."""
        return cls(min_slope_deg=None, min_height_above_valley_m=None, min_relative_height=None,
                   max_rectangularity=None, min_downslope_alignment=None, min_compactness=None)


#: What each rule says when it rejects an object.
REJECT_REASONS: dict[str, str] = {
    "min_slope_deg": "flat ground",
    "min_height_above_valley_m": "on the valley floor",
    "min_relative_height": "low in the valley (river, floodplain)",
    "max_rectangularity": "blocky like a field or clear-cut",
    "min_downslope_alignment": "long and along the contour, like a road or terrace",
    "min_compactness": "thread-like or ragged",
}


def valley_position(elevation_m: np.ndarray, pixel_size_m: float,
                    radius_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel: (height above the lowest ground within ``radius_m`` in metres, position between
    that lowest (0) and the highest (1) ground within the radius), float32.

    NaN elevations are ignored (filled from their neighbours) and stay NaN.
    """
    z = np.asarray(elevation_m, dtype=np.float32)
    bad = ~np.isfinite(z)
    if bad.all():
        return np.full(z.shape, np.nan, np.float32), np.full(z.shape, np.nan, np.float32)
    if bad.any():
        _, (iy, ix) = ndimage.distance_transform_edt(bad, return_indices=True)
        z = z[iy, ix]
    size = max(3, 2 * int(round(radius_m / max(float(pixel_size_m), 1e-6))) + 1)
    floor = ndimage.minimum_filter(z, size=size, mode="nearest")
    top = ndimage.maximum_filter(z, size=size, mode="nearest")
    height = (z - floor).astype(np.float32)
    relative = (height / np.maximum(top - floor, 1.0)).astype(np.float32)
    height[bad] = np.nan
    relative[bad] = np.nan
    return height, relative


def height_above_valley_m(elevation_m: np.ndarray, pixel_size_m: float, radius_m: float) -> np.ndarray:
    """Height of every pixel above the lowest ground within ``radius_m`` (metres, float32)."""
    return valley_position(elevation_m, pixel_size_m, radius_m)[0]


def downslope_vectors(elevation_m: np.ndarray, pixel_size_m: float) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) components of the downslope gradient (metres per metre); rows grow southward."""
    z = np.asarray(elevation_m, dtype=np.float32)
    z = np.where(np.isfinite(z), z, np.nanmean(z) if np.isfinite(z).any() else 0.0)
    g_row, g_col = np.gradient(z, float(pixel_size_m))
    return (-g_row).astype(np.float32), (-g_col).astype(np.float32)


@dataclass
class Terrain:
    """What the object measures take from the elevation, computed once per grid and radius:
    the valley position (:func:`valley_position`) and the downslope vectors
    (:func:`downslope_vectors`). A scene's objects at every threshold share one."""

    height_m: np.ndarray
    relative: np.ndarray
    down_row: np.ndarray
    down_col: np.ndarray
    pixel_size_m: float
    radius_m: float

    @classmethod
    def of(cls, elevation_m: np.ndarray, pixel_size_m: float, radius_m: float) -> "Terrain":
        height, relative = valley_position(elevation_m, pixel_size_m, radius_m)
        down_row, down_col = downslope_vectors(elevation_m, pixel_size_m)
        return cls(height, relative, down_row, down_col, float(pixel_size_m), float(radius_m))

    def fits(self, shape: tuple[int, ...], pixel_size_m: float, radius_m: float) -> bool:
        return (tuple(self.height_m.shape) == tuple(shape) and self.pixel_size_m == float(pixel_size_m)
                and self.radius_m == float(radius_m))


@dataclass
class ObjectTable:
    """Measures of the labelled objects 1..n (arrays of length n, index i = label i + 1)."""

    labels: np.ndarray  # int32 (H, W): 0 background, 1..n objects
    area_px: np.ndarray
    measures: dict[str, np.ndarray]

    @property
    def n(self) -> int:
        return int(self.area_px.size)

    def row(self, i: int) -> dict[str, Optional[float]]:
        out = {}
        for name in MEASURES:
            v = float(self.measures[name][i])
            out[name] = round(v, 3) if math.isfinite(v) else None
        return out


def measure_objects(labels: np.ndarray, slope_deg: Optional[np.ndarray], elevation_m: Optional[np.ndarray],
                    pixel_size_m: float, valley_radius_m: float = ObjectRules.valley_radius_m,
                    valley: Optional[tuple[np.ndarray, np.ndarray]] = None,
                    terrain: Optional[Terrain] = None) -> ObjectTable:
    """Measure labelled objects 1..n (``labels`` int, 0 background).

    ``valley``: a precomputed :func:`valley_position` of the elevation; ``terrain``: a
    precomputed :class:`Terrain` of it (used when it fits the grid, pixel size and radius).
    Otherwise both are computed from the elevation when given.
    """
    from .label_groups import LabelGroups, per_label_mean
    from .shape_measures import shape_measures

    labels = np.asarray(labels)
    n = int(labels.max()) if labels.size else 0
    area = np.bincount(labels.ravel(), minlength=n + 1)[1:].astype(np.int64)
    if terrain is not None and elevation_m is not None and terrain.fits(labels.shape, pixel_size_m, valley_radius_m):
        valley = (terrain.height_m, terrain.relative)
        down = (terrain.down_row, terrain.down_col)
    else:
        if valley is None and elevation_m is not None:
            valley = valley_position(elevation_m, pixel_size_m, valley_radius_m)
        down = downslope_vectors(elevation_m, pixel_size_m) if elevation_m is not None else (None, None)
    height_m, relative = valley if valley is not None else (None, None)
    groups = LabelGroups.of(labels, n)
    measures = {"slope_deg_mean": per_label_mean(labels, n, slope_deg, groups),
                "height_above_valley_m": per_label_mean(labels, n, height_m, groups),
                "relative_height": per_label_mean(labels, n, relative, groups)}
    shape = shape_measures(labels, n, *down, groups=groups)
    shape["width_m"] = shape.pop("width_px") * float(pixel_size_m)
    measures.update(shape)
    return ObjectTable(labels, area, measures)


def judge_objects(table: ObjectTable, rules: ObjectRules, pixel_area_ha: float) -> list[Optional[str]]:
    """For each object: None when every rule holds, else the name of the first rule it fails.

    A measure that is unknown (no slope or elevation band) never rejects an object.
    """
    m = table.measures
    out: list[Optional[str]] = []
    for i in range(table.n):
        def below(name: str, limit: Optional[float]) -> bool:
            v = m[name][i]
            return limit is not None and np.isfinite(v) and v < float(limit)

        failed = None
        if below("slope_deg_mean", rules.min_slope_deg):
            failed = "min_slope_deg"
        elif below("height_above_valley_m", rules.min_height_above_valley_m):
            failed = "min_height_above_valley_m"
        elif below("relative_height", rules.min_relative_height):
            failed = "min_relative_height"
        elif (rules.max_rectangularity is not None and table.area_px[i] * pixel_area_ha >= rules.blocky_min_area_ha
              and np.isfinite(m["rectangularity"][i]) and m["rectangularity"][i] >= float(rules.max_rectangularity)
              and m["width_m"][i] >= BLOCKY_MIN_WIDTH_M):
            failed = "max_rectangularity"
        elif (rules.min_downslope_alignment is not None and np.isfinite(m["elongation"][i])
              and m["elongation"][i] >= rules.contour_min_elongation
              and below("downslope_alignment", rules.min_downslope_alignment)):
            failed = "min_downslope_alignment"
        elif below("compactness", rules.min_compactness):
            failed = "min_compactness"
        out.append(failed)
    return out


@dataclass
class RuledObjects:
    """Objects after the rules: the kept mask and what was rejected, by rule."""

    kept: np.ndarray                 # bool (H, W)
    table: ObjectTable               # measures of every object before the rules
    verdicts: list[Optional[str]]    # None kept, else the failed rule, per object

    def rejected_counts(self) -> dict[str, int]:
        counts = {name: 0 for name in REJECT_REASONS}
        for v in self.verdicts:
            if v is not None:
                counts[v] += 1
        return counts

    def rejected_mask(self) -> np.ndarray:
        bad = np.array([v is not None for v in self.verdicts] + [False])
        lab = self.table.labels
        return bad[np.where(lab > 0, lab - 1, self.table.n)]


def apply_object_rules(binary: np.ndarray, slope_deg: Optional[np.ndarray], elevation_m: Optional[np.ndarray],
                       pixel_size_m: float, rules: Optional[ObjectRules] = None,
                       valley: Optional[tuple[np.ndarray, np.ndarray]] = None,
                       terrain: Optional[Terrain] = None,
                       components: Optional[tuple[np.ndarray, int]] = None) -> RuledObjects:
    """Keep the 4-connected objects of ``binary`` that every rule accepts (``valley``,
    ``terrain``: precomputed, see :func:`measure_objects`; ``components``: the caller's
    (labels, count) of the 4-connected components of ``binary``, numbered in scan order as
    :func:`~landslide_core.postprocess.label_components` numbers them)."""
    from .postprocess import label_components

    rules = (rules or ObjectRules()).validate()
    labels, n = components if components is not None else label_components(np.asarray(binary, bool))
    table = measure_objects(labels, slope_deg, elevation_m, pixel_size_m, rules.valley_radius_m, valley, terrain)
    verdicts = judge_objects(table, rules, pixel_size_m * pixel_size_m / 1e4)
    keep = np.array([False] + [v is None for v in verdicts])
    return RuledObjects(keep[labels], table, verdicts)


__all__ = ["ObjectRules", "ObjectTable", "RuledObjects", "Terrain", "MEASURES", "REJECT_REASONS", "apply_object_rules",
           "height_above_valley_m", "valley_position", "measure_objects", "judge_objects", "downslope_vectors"]
