"""Probability -> mask -> landslide polygons with their measures.

Mask values: 1 landslide, 0 stable ground, 255 not assessable (cloud, shadow, nodata).
Objects are made by hysteresis (:func:`hysteresis_mask`): pixels at or above the threshold
seed an object, which grows over connected pixels at or above ``grow_ratio`` times the
threshold; then the minimum mapping unit and the terrain and shape rules of
:mod:`landslide_core.objects` decide which objects are landslides (:func:`landslide_objects`).
Connected components are 4-connected (pixels sharing an edge), the same rule as
``rasterio.features.shapes``; the minimum mapping unit drops components smaller than
``min_area_ha``. Areas and perimeters are measured in the grid's projected CRS (metres);
polygons are returned as GeoJSON features in EPSG:4326.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

import numpy as np
from rasterio.crs import CRS
from rasterio.transform import Affine

from .errors import InputError
from .progress import CancelToken, check_cancel

if TYPE_CHECKING:
    from .objects import ObjectRules, RuledObjects, Terrain

LANDSLIDE = 1
STABLE = 0
NOT_ASSESSABLE = 255
DEFAULT_MIN_AREA_HA = 0.1
WGS84 = CRS.from_epsg(4326)
FEATURE_PROPERTIES = ("id", "area_ha", "perimeter_m", "slope_deg_mean", "slope_deg_max",
                      "probability_mean", "centroid_lon", "centroid_lat")


def feature_columns(features: Sequence[dict[str, Any]]) -> list[str]:
    """Table columns of polygons: :data:`FEATURE_PROPERTIES`, then any further properties they
    carry (measures, evidence, why), in the order they first appear."""
    cols = list(FEATURE_PROPERTIES)
    for f in features:
        for k in f.get("properties", {}):
            if k not in cols:
                cols.append(k)
    return cols


#: The grow threshold of the hysteresis, as a share of the (seed) threshold.
DEFAULT_GROW_RATIO = 0.6


def check_threshold(threshold: float) -> float:
    """The decision threshold as a float in 0-1, or a clear error."""
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        raise InputError(f"The threshold '{threshold}' is not a number.", "Give a probability between 0 and 1, e.g. 0.5.") from None
    if not (0.0 <= t <= 1.0) or math.isnan(t):
        raise InputError(f"The threshold {threshold} is outside 0-1.", "Give a probability between 0 and 1, e.g. 0.5.")
    return t


def pixel_area_m2(transform: Affine) -> float:
    """Area of one pixel in CRS units squared (m^2 on a projected grid)."""
    return abs(transform.a * transform.e - transform.b * transform.d)


def pixel_area_ha(transform: Affine) -> float:
    return pixel_area_m2(transform) / 1e4


def mask_from_probability(prob: np.ndarray, threshold: float) -> np.ndarray:
    """uint8 mask: 1 where prob >= threshold, 0 below, 255 where prob is NaN (not assessable)."""
    t = check_threshold(threshold)
    prob = np.asarray(prob)
    mask = np.zeros(prob.shape, np.uint8)
    finite = np.isfinite(prob)
    with np.errstate(invalid="ignore"):
        mask[finite & (prob >= t)] = LANDSLIDE
    mask[~finite] = NOT_ASSESSABLE
    return mask


def check_grow_ratio(grow_ratio: float) -> float:
    try:
        r = float(grow_ratio)
    except (TypeError, ValueError):
        raise InputError(f"The grow ratio '{grow_ratio}' is not a number.",
                         "Give a share of the threshold between 0 and 1, e.g. 0.6.") from None
    if not 0.0 < r <= 1.0:
        raise InputError(f"The grow ratio {grow_ratio} is outside (0, 1].",
                         "Give a share of the threshold between 0 and 1, e.g. 0.6 (1 = no hysteresis).")
    return r


def hysteresis_mask(prob: np.ndarray, threshold: float, grow_ratio: float = DEFAULT_GROW_RATIO) -> np.ndarray:
    """uint8 mask by hysteresis: objects seeded at ``prob >= threshold`` and grown over the
    4-connected pixels with ``prob >= grow_ratio * threshold``; 255 where prob is NaN."""
    t = check_threshold(threshold)
    r = check_grow_ratio(grow_ratio)
    prob = np.asarray(prob)
    finite = np.isfinite(prob)
    with np.errstate(invalid="ignore"):
        seed = finite & (prob >= t)
        grow = finite & (prob >= t * r)
    mask = np.zeros(prob.shape, np.uint8)
    if r < 1.0 and seed.any():
        labels, n = label_components(grow)
        seeded = np.zeros(n + 1, bool)
        seeded[labels[seed]] = True
        seeded[0] = False
        grown = np.flatnonzero(labels)  # only the grow pixels are looked up
        mask.ravel()[grown[seeded[labels.ravel()[grown]]]] = LANDSLIDE
    else:
        mask[seed] = LANDSLIDE
    mask[~finite] = NOT_ASSESSABLE
    return mask


def label_lookup(source_labels: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """For labels 1..k of ``labels``, the label of ``source_labels`` they lie in (index i for
    label i + 1); each component of ``labels`` must lie inside one component of the source."""
    flat = np.asarray(labels).ravel()
    sel = np.flatnonzero(flat)
    out = np.zeros(k + 1, np.int64)
    out[flat[sel]] = np.asarray(source_labels).ravel()[sel]
    return out[1:]


def label_components(binary: np.ndarray) -> tuple[np.ndarray, int]:
    """4-connected components of a boolean array: (labels int32, count)."""
    from scipy import ndimage

    labels, n = ndimage.label(binary, structure=np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]]))
    return labels.astype(np.int32, copy=False), int(n)


def _labels_at_least(binary: np.ndarray, transform: Affine, min_area_ha: float,
                     core: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
    """Component labels renumbered 1..k keeping components of at least ``min_area_ha`` (and,
    given ``core``, a boolean array, only those holding one of its pixels); and their pixel counts."""
    if min_area_ha < 0:
        raise InputError(f"The minimum mapping unit must be >= 0 ha, got {min_area_ha}.")
    labels, n = label_components(binary)
    flat = labels.ravel()
    sel = np.flatnonzero(flat)  # the components' pixels: counted and renumbered, not the background
    lab = flat[sel]
    counts = np.bincount(lab, minlength=n + 1)
    keep = counts * pixel_area_ha(transform) >= min_area_ha - 1e-12
    if core is not None:
        keep &= np.bincount(labels[core & binary], minlength=n + 1) > 0
    keep[0] = False
    if keep[1:].all():  # none dropped: the labels are 1..k already
        return labels, counts[keep]
    new_ids = np.zeros(n + 1, np.int32)
    new_ids[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    out = np.zeros(labels.shape, np.int32)
    out.ravel()[sel] = new_ids[lab]
    return out, counts[keep]


def apply_min_mapping_unit(mask: np.ndarray, transform: Affine, min_area_ha: float = DEFAULT_MIN_AREA_HA,
                           value: int = LANDSLIDE, background: int = STABLE) -> np.ndarray:
    """A copy of ``mask`` where components of ``value`` smaller than ``min_area_ha`` become ``background``."""
    labels, _ = _labels_at_least(mask == value, transform, min_area_ha)
    out = mask.copy()
    out[(mask == value) & (labels == 0)] = background
    return out


def landslide_mask(prob: np.ndarray, threshold: float, transform: Affine,
                   min_area_ha: float = DEFAULT_MIN_AREA_HA, grow_ratio: float = DEFAULT_GROW_RATIO,
                   rules: Optional["ObjectRules"] = None, slope_deg: Optional[np.ndarray] = None,
                   elevation_m: Optional[np.ndarray] = None,
                   valley: Optional[tuple[np.ndarray, np.ndarray]] = None,
                   terrain: Optional["Terrain"] = None,
                   cancel: Optional[CancelToken] = None) -> tuple[np.ndarray, "RuledObjects"]:
    """The landslide mask of one date: hysteresis, minimum mapping unit, then the object rules.

    Returns the uint8 mask (1 landslide, 0 stable, 255 not assessable) and the objects before
    the rules with each one's verdict (what was rejected and why). ``valley``, ``terrain``:
    precomputed from the elevation (see :func:`landslide_core.objects.measure_objects`).
    ``cancel``: checked between the steps.
    """
    from .objects import ObjectRules, apply_object_rules

    mask = hysteresis_mask(prob, threshold, grow_ratio)
    check_cancel(cancel)
    # the minimum mapping unit (as apply_min_mapping_unit); the components it keeps, numbered
    # in scan order, are those of the mask it leaves, so the rules take them as they are
    labels, counts = _labels_at_least(mask == LANDSLIDE, transform, min_area_ha)
    mask[(mask == LANDSLIDE) & (labels == 0)] = STABLE
    check_cancel(cancel)
    pixel_m = math.sqrt(pixel_area_m2(transform))
    ruled = apply_object_rules(mask == LANDSLIDE, slope_deg, elevation_m, pixel_m,
                               rules if rules is not None else ObjectRules(), valley, terrain,
                               components=(labels, int(counts.size)))
    mask[(mask == LANDSLIDE) & ~ruled.kept] = STABLE
    return mask, ruled


def count_components(mask: np.ndarray, value: int = LANDSLIDE) -> int:
    return label_components(mask == value)[1]


def _polygons_lonlat(polys: list, to_lonlat) -> list[dict[str, Any]]:
    """GeoJSON geometries of shapely polygons, reprojected by ``to_lonlat`` (a pyproj
    Transformer, always_xy): all vertices in one call (the numbers of ``rasterio.warp.
    transform_geom``, in a sixth of its time), in its layout (a list of rings, each a list of
    (x, y) tuples)."""
    import shapely

    def lonlat(xy: np.ndarray) -> np.ndarray:
        x, y = to_lonlat.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    out = []
    for p in shapely.transform(np.asarray(polys, dtype=object), lonlat):
        rings = [p.exterior, *p.interiors]
        out.append({"type": "Polygon", "coordinates": [list(r.coords) for r in rings]})
    return out


def polygons_from_mask(mask: np.ndarray, prob: Optional[np.ndarray], slope_deg: Optional[np.ndarray],
                       transform: Affine, crs: CRS, min_area_ha: float = DEFAULT_MIN_AREA_HA,
                       value: int = LANDSLIDE,
                       extra: Optional[Callable[[np.ndarray, int], dict[str, Sequence[Any]]]] = None,
                       cancel: Optional[CancelToken] = None) -> list[dict[str, Any]]:
    """GeoJSON features (EPSG:4326) of the components of ``mask == value`` of at least ``min_area_ha``.

    Properties: id, area_ha, perimeter_m, slope_deg_mean, slope_deg_max, probability_mean,
    centroid_lon, centroid_lat (measured in the projected CRS, then converted).
    ``extra(labels, k)``: more properties per polygon, given the labels 1..k of the polygons
    (int32 (H, W)); returns name -> sequence of k values (label i at index i - 1).
    ``cancel``: checked between the steps.
    """
    import shapely
    from pyproj import Transformer
    from rasterio.features import shapes
    from shapely.geometry import shape

    if crs is None or not CRS.from_user_input(crs).is_projected:
        raise InputError("Polygons are measured on a projected grid, but the grid's CRS is "
                         f"{'missing' if crs is None else CRS.from_user_input(crs).to_string()}.",
                         "Use the scene's projected (UTM) grid.")
    crs = CRS.from_user_input(crs)
    labels, counts = _labels_at_least(np.asarray(mask) == value, transform, min_area_ha)
    k = len(counts)
    if k == 0:
        return []
    flat = labels.ravel()
    sel = np.flatnonzero(flat)  # only the landslide pixels are ever gathered (memory ~ their count)
    lab = flat[sel]

    def gathered(values: Optional[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        v = np.asarray(values).ravel()[sel].astype(np.float64)
        ok = np.isfinite(v)
        return v[ok], lab[ok]

    def per_label_mean(values: Optional[np.ndarray]) -> np.ndarray:
        if values is None:
            return np.full(k, np.nan)
        v, lb = gathered(values)
        s = np.bincount(lb, weights=v, minlength=k + 1)[1:]
        c = np.bincount(lb, minlength=k + 1)[1:]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(c > 0, s / np.maximum(c, 1), np.nan)

    def per_label_max(values: Optional[np.ndarray]) -> np.ndarray:
        out = np.full(k + 1, -np.inf)
        if values is not None:
            v, lb = gathered(values)
            np.maximum.at(out, lb, v)
        out = out[1:]
        out[~np.isfinite(out)] = np.nan
        return out

    check_cancel(cancel)
    more = extra(labels, k) if extra is not None else {}
    check_cancel(cancel)
    prob_mean = per_label_mean(prob)
    slope_mean = per_label_mean(slope_deg)
    slope_max = per_label_max(slope_deg)
    area_ha = counts * pixel_area_ha(transform)
    to_lonlat = Transformer.from_crs(crs, WGS84, always_xy=True)
    polys, ids = [], []
    for geom, lab in shapes(labels, mask=labels > 0, connectivity=4, transform=transform):
        polys.append(shape(geom))
        ids.append(int(lab) - 1)
    if not polys:
        return []
    check_cancel(cancel)
    # centroids, lengths and the reprojection of every polygon at once (the same numbers as one
    # by one, without a transformer per polygon)
    centroids = shapely.centroid(polys)
    lons, lats = to_lonlat.transform(shapely.get_x(centroids), shapely.get_y(centroids))
    lengths = shapely.length(polys)
    geometries = _polygons_lonlat(polys, to_lonlat)
    features: list[dict[str, Any]] = []
    for i, geometry, length, lon, lat in zip(ids, geometries, lengths.tolist(), lons.tolist(), lats.tolist()):
        features.append({
            "type": "Feature",
            "geometry": geometry,
            "properties": {
                "id": i + 1,
                "area_ha": round(float(area_ha[i]), 6),
                "perimeter_m": round(float(length), 3),
                "slope_deg_mean": _round_or_none(slope_mean[i], 3),
                "slope_deg_max": _round_or_none(slope_max[i], 3),
                "probability_mean": _round_or_none(prob_mean[i], 4),
                "centroid_lon": round(float(lon), 7),
                "centroid_lat": round(float(lat), 7),
                **{name: _jsonable(values[i]) for name, values in more.items()},
            },
        })
    features.sort(key=lambda f: f["properties"]["id"])
    return features


def _round_or_none(x: float, digits: int) -> Optional[float]:
    return None if not np.isfinite(x) else round(float(x), digits)


def _jsonable(v: Any) -> Any:
    if isinstance(v, (np.floating, float)):
        return _round_or_none(float(v), 4)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def mask_summary(mask: np.ndarray, transform: Affine, prob: Optional[np.ndarray] = None) -> dict[str, Any]:
    """Hectares of landslide / stable / not assessable in a (MMU-filtered) mask, and the landslide count."""
    ha = pixel_area_ha(transform)
    out = {
        "landslide_ha": round(float((mask == LANDSLIDE).sum() * ha), 4),
        "stable_ha": round(float((mask == STABLE).sum() * ha), 4),
        "not_assessable_ha": round(float((mask == NOT_ASSESSABLE).sum() * ha), 4),
        "landslide_count": count_components(mask),
    }
    if prob is not None:
        finite = np.isfinite(prob)
        out["probability_mean"] = round(float(prob[finite].mean()), 4) if finite.any() else None
    return out
