"""Change between a pre and a post date, decided per object, with spectral evidence.

Change classes (uint8): 0 stable, 1 new, 2 persisting, 3 vanished, 255 not assessable (not
assessable in either date).

Each date's landslides come from :func:`landslide_core.postprocess.landslide_mask`
(hysteresis, minimum mapping unit, terrain and shape rules). A post-date landslide, or the
part of one, is **new** only when

1. the pre date shows no landslide there: the pre probability stays below the grow threshold
   over it, with a tolerance of ``tolerance_px`` pixels for misregistration (thin slivers
   along the edge of an old landslide are not objects of their own), and
2. the ground changed the way a landslide changes it, relative to the object's surroundings
   (a ring ``ring_px`` wide around it), so that another haze, gain or season does not count:
   the NDVI dropped by at least ``min_ndvi_drop`` more than around it, and the visible
   brightness rose by at least ``min_brightness_rise`` (natural log of the ratio) more.

Otherwise it is **persisting**. Symmetrically, a pre-date landslide that the post date does
not show is **vanished** only when vegetation came back (the NDVI rose and the brightness fell
by the same margins); otherwise it is persisting (the model missed it on one date, the ground
did not change). :func:`summarise_pair` recomputes everything from the saved probabilities and
evidence rasters (no model), so a threshold or a rule change is cheap.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import numpy as np
from rasterio.crs import CRS
from rasterio.transform import Affine
from scipy import ndimage

from .errors import InputError
from .objects import ObjectRules, Terrain, measure_objects
from .postprocess import (DEFAULT_GROW_RATIO, DEFAULT_MIN_AREA_HA, LANDSLIDE, NOT_ASSESSABLE, STABLE,
                          _labels_at_least, check_grow_ratio, check_threshold, count_components, label_lookup,
                          landslide_mask, mask_summary, pixel_area_ha, pixel_area_m2, polygons_from_mask)
from .progress import CancelToken, check_cancel
from .settings import settings_from_dict

CHANGE_STABLE = 0
CHANGE_NEW = 1
CHANGE_PERSISTING = 2
CHANGE_VANISHED = 3
CHANGE_NOT_ASSESSABLE = 255
CHANGE_NAMES = {CHANGE_STABLE: "stable", CHANGE_NEW: "new", CHANGE_PERSISTING: "persisting",
                CHANGE_VANISHED: "vanished", CHANGE_NOT_ASSESSABLE: "not assessable"}
_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)


@dataclass
class ChangeSettings:
    """How a change is decided per object (see the module doc); ``None`` turns a test off."""

    #: Misregistration tolerance: the pre date "shows a landslide" within this many pixels.
    tolerance_px: int = 2
    #: A new landslide lost at least this much NDVI more than its surroundings.
    min_ndvi_drop: Optional[float] = 0.12
    #: ... and got at least this much brighter (visible bands, ln of the ratio) than them.
    min_brightness_rise: Optional[float] = 0.05
    #: Width of the ring of surroundings (pixels).
    ring_px: int = 8

    def validate(self) -> "ChangeSettings":
        for name, lo, hi in (("tolerance_px", 0, 10), ("ring_px", 2, 50)):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or not lo <= int(v) <= hi:
                raise InputError(f"The change setting {name} is {v!r}; it must be a whole number {lo}-{hi}.")
        for name in ("min_ndvi_drop", "min_brightness_rise"):
            v = getattr(self, name)
            if v is None:
                continue
            try:
                f = float(v)
            except (TypeError, ValueError):
                raise InputError(f"The change setting {name} must be a number, got {v!r}.") from None
            if not math.isfinite(f) or not 0.0 <= f <= 2.0:
                raise InputError(f"The change setting {name} is {v}; it must be 0-2.",
                                 "Leave it empty to switch the test off.")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> "ChangeSettings":
        return settings_from_dict(cls, data, "change setting(s)")


@dataclass
class SpectralPair:
    """NDVI and visible brightness (DN) of both dates on one grid; NaN where not valid."""

    ndvi_pre: np.ndarray
    ndvi_post: np.ndarray
    visible_pre: np.ndarray
    visible_post: np.ndarray

    @staticmethod
    def indices(b2: np.ndarray, b3: np.ndarray, b4: np.ndarray, b8: np.ndarray,
                valid: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
        """(NDVI, visible brightness) of one date from raw DNs; NaN where not valid."""
        b4 = np.asarray(b4, np.float32)
        b8 = np.asarray(b8, np.float32)
        with np.errstate(invalid="ignore", divide="ignore"):
            ndvi = (b8 - b4) / (b8 + b4)
            vis = (np.asarray(b2, np.float32) + np.asarray(b3, np.float32) + b4) / 3.0
        bad = ~(np.isfinite(ndvi) & np.isfinite(vis) & (vis > 0) & (b8 + b4 > 0))
        if valid is not None:
            bad |= ~np.asarray(valid, bool)
        ndvi[bad] = np.nan
        vis[bad] = np.nan
        return ndvi.astype(np.float32), vis.astype(np.float32)

    def differences(self) -> tuple[np.ndarray, np.ndarray]:
        """(post - pre NDVI, ln(post / pre) visible brightness), NaN where either is not valid."""
        with np.errstate(invalid="ignore", divide="ignore"):
            d_ndvi = self.ndvi_post - self.ndvi_pre
            d_bright = np.log(self.visible_post) - np.log(self.visible_pre)
        return d_ndvi.astype(np.float32), d_bright.astype(np.float32)

    def change(self) -> "SpectralChange":
        """The differences alone (what deciding change needs), computed once."""
        return SpectralChange(*self.differences())


@dataclass
class SpectralChange:
    """The spectral change of a pair (:meth:`SpectralPair.differences`), computed once: what
    :func:`object_change` needs of the spectra, in half the memory of the pair."""

    d_ndvi: np.ndarray
    d_bright: np.ndarray

    def differences(self) -> tuple[np.ndarray, np.ndarray]:
        return self.d_ndvi, self.d_bright


def change_classes(pre_mask: np.ndarray, post_mask: np.ndarray) -> np.ndarray:
    """Pixelwise change class of two masks (1 landslide, 0 stable, 255 not assessable).

    The naive rule, kept for comparison (``bench/real_nochange.py``): every pixel of jitter
    along an edge becomes "new" or "vanished". :func:`object_change` is what results use.
    """
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
class PieceEvidence:
    """Per candidate piece (index = label - 1): the other date's probability and spectral change."""

    other_probability_mean: np.ndarray
    ndvi_change: np.ndarray        # NDVI change of the piece minus that of its surroundings
    brightness_change: np.ndarray  # ln brightness ratio of the piece minus that of its surroundings
    accepted: np.ndarray           # bool
    #: bool per piece: its ring had too few clear stable pixels, so the scene's median change
    #: was the reference instead (a statistic of the whole raster, not of the piece's surroundings)
    scene_reference: Optional[np.ndarray] = None


def _support(prob: np.ndarray, mask: np.ndarray, grow_threshold: float, tolerance_px: int) -> np.ndarray:
    """Where a date shows a landslide (its mask, or probability at the grow threshold), widened."""
    with np.errstate(invalid="ignore"):
        shows = (mask == LANDSLIDE) | (np.nan_to_num(prob, nan=0.0) >= grow_threshold)
    if tolerance_px > 0 and shows.any():
        # = binary_dilation(shows, 3 x 3 square, iterations=tolerance_px), in one separable pass
        shows = ndimage.maximum_filter(shows.view(np.uint8), size=2 * int(tolerance_px) + 1, mode="constant",
                                       cval=0).view(bool)
    return shows


def _candidates(own_mask: np.ndarray, other_support: np.ndarray, not_assessable: np.ndarray,
                transform: Affine, min_area_ha: float) -> tuple[np.ndarray, int]:
    """Pieces of ``own_mask`` landslides where the other date shows none, numbered 1..k.

    A piece is kept when it reaches ``min_area_ha`` and holds a core of at least 3 x 3 pixels
    (it survives a 3 x 3 opening): thin slivers along the edge of an old landslide have none
    and are dropped. A kept piece keeps its thin parts (an opening by reconstruction): a narrow
    debris track or the tapering toe of a new landslide is part of it, not "persisting".
    """
    cand = (own_mask == LANDSLIDE) & ~other_support & ~not_assessable
    core = None
    if cand.any():
        # = binary_opening(cand, 3 x 3 square) (the outside counts as False), by separable filters
        eroded = ndimage.minimum_filter(cand.view(np.uint8), size=3, mode="constant", cval=0)
        core = ndimage.maximum_filter(eroded, size=3, mode="constant", cval=0).view(bool)
    labels, counts = _labels_at_least(cand, transform, min_area_ha, core)
    return labels, int(counts.size)


#: Offsets of the 5 x 5 diamond (two steps of the 4-neighbour cross) without its centre.
_DIAMOND2_OFFSETS = tuple((dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if 0 < abs(dy) + abs(dx) <= 2)


def _shifted(length: int, d: int) -> tuple[slice, slice]:
    """(target, source) slices moving an axis of ``length`` by ``d`` (nothing comes from outside)."""
    return (slice(d, length), slice(0, length - d)) if d >= 0 else (slice(0, length + d), slice(-d, length))


def _dilate_diamond2(mask: np.ndarray) -> np.ndarray:
    """``ndimage.binary_dilation(mask, _CROSS, iterations=2)``: two steps of the 4-neighbour cross
    (the outside counts as False), by shifted copies."""
    out = mask.copy()
    h, w = mask.shape
    for dy, dx in _DIAMOND2_OFFSETS:
        (ty, sy), (tx, sx) = _shifted(h, dy), _shifted(w, dx)
        out[ty, tx] |= mask[sy, sx]
    return out


def _dilate_square(mask: np.ndarray, r: int) -> np.ndarray:
    """``ndimage.binary_dilation(mask, np.ones((3, 3)), iterations=r)``: every pixel within ``r``
    rows and columns of a True one (the outside counts as False), by running sums per axis."""
    h, w = mask.shape
    c = np.zeros((h + 1, w), np.int32)
    np.cumsum(mask, axis=0, out=c[1:])
    i = np.arange(h)
    rows = (c[np.minimum(i + r + 1, h)] - c[np.maximum(i - r, 0)]) > 0
    c = np.zeros((h, w + 1), np.int32)
    np.cumsum(rows, axis=1, out=c[:, 1:])
    j = np.arange(w)
    return (c[:, np.minimum(j + r + 1, w)] - c[:, np.maximum(j - r, 0)]) > 0


class _SceneReference:
    """The median change of the stable ground of the whole scene: the reference of a piece
    whose own surroundings are too small, computed the first time one needs it."""

    def __init__(self, d_ndvi: np.ndarray, d_bright: np.ndarray, landslide_any: np.ndarray):
        self._inputs = (d_ndvi, d_bright, landslide_any)
        self._value: Optional[tuple[float, float]] = None

    def get(self) -> tuple[float, float]:
        if self._value is None:
            d_ndvi, d_bright, landslide_any = self._inputs
            stable = ~landslide_any & np.isfinite(d_ndvi) & np.isfinite(d_bright)
            self._value = ((float(np.median(d_ndvi[stable])), float(np.median(d_bright[stable])))
                           if stable.any() else (0.0, 0.0))
        return self._value


def _group_medians(values: np.ndarray, group: np.ndarray, k: int) -> np.ndarray:
    """Per group 0..k-1 the median of its values (float32 values, each group's as ``np.median``
    gives it: the middle value, or the float32 mean of the two middle ones); NaN for an empty group."""
    out = np.full(k, np.nan)
    if values.size == 0:
        return out
    order = np.argsort(values, kind="stable")
    order = order[np.argsort(group[order], kind="stable")]
    v, g = values[order], group[order]
    counts = np.bincount(g, minlength=k)
    starts = np.zeros(k, np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    has = counts > 0
    half = counts // 2
    upper = v[(starts + half)[has]]
    lower = v[(starts + np.maximum(half - 1, 0))[has]]
    even = (counts[has] % 2) == 0
    mean2 = (lower + upper) / 2  # float32, as np.mean of the two middle float32 values
    out[has] = np.where(even, mean2, upper)
    return out


#: Pieces (or objects) between two cancel checks in per-piece loops (a few milliseconds).
CANCEL_EVERY = 64


def _median(values: np.ndarray) -> float:
    """``float(np.median(values))`` of finite values, without its checks and wrappers: the middle
    value, or the mean of the two middle ones in the values' own type (as ``np.mean`` takes it)."""
    n = values.size
    half = n // 2
    if n % 2:
        return float(np.partition(values, half)[half])
    part = np.partition(values, (half - 1, half))
    return float((part[half - 1:half + 1].sum()) / 2)


def _piece_evidence(labels: np.ndarray, k: int, other_prob: np.ndarray, d_ndvi: Optional[np.ndarray],
                    d_bright: Optional[np.ndarray], landslide_any: np.ndarray, settings: ChangeSettings,
                    sign: float, scene: Optional[_SceneReference] = None,
                    cancel: Optional[CancelToken] = None) -> PieceEvidence:
    """Spectral change of each piece relative to its ring of surroundings.

    ``sign`` +1 for new pieces (NDVI must drop, brightness rise), -1 for vanished pieces.
    ``cancel`` is checked every :data:`CANCEL_EVERY` pieces.
    Each piece's pixels are gathered once (:class:`~landslide_core.label_groups.LabelGroups`);
    medians and means are those of the same values as a crop per piece would give.
    """
    from .label_groups import LabelGroups

    other_mean = np.full(k, np.nan)
    ndvi_change = np.full(k, np.nan)
    bright_change = np.full(k, np.nan)
    accepted = np.ones(k, bool)
    scene_reference = np.zeros(k, bool)
    if k == 0:
        return PieceEvidence(other_mean, ndvi_change, bright_change, accepted, scene_reference)
    have_spectra = d_ndvi is not None and d_bright is not None
    groups = LabelGroups.of(labels, k)
    accepted[groups.counts == 0] = False
    other_all = groups.values(other_prob)
    for i in range(k):
        op = other_all[groups.starts[i]:groups.starts[i + 1]]
        op = op[np.isfinite(op)]
        other_mean[i] = float(op.mean()) if op.size else np.nan
    if not have_spectra:
        return PieceEvidence(other_mean, ndvi_change, bright_change, accepted, scene_reference)
    if scene is None:
        scene = _SceneReference(d_ndvi, d_bright, landslide_any)
    # inside each piece: its clear pixels in both dates
    piece = groups.label_of_pixels()
    dn_in, db_in = groups.values(d_ndvi), groups.values(d_bright)
    clear = np.isfinite(dn_in) & np.isfinite(db_in)
    inside_n = np.bincount(piece[clear], minlength=k)
    seen = (inside_n >= np.maximum(3, 0.5 * groups.counts)) & (groups.counts > 0)
    accepted[~seen] = False  # the change cannot be seen: not enough clear pixels in both dates
    med_n_in = _group_medians(dn_in[clear], piece[clear], k)
    med_b_in = _group_medians(db_in[clear], piece[clear], k)
    # the ring of surroundings of each piece (clear, not a landslide), gathered piece by piece
    r = settings.ring_px
    h, w = labels.shape
    fine = ~landslide_any & np.isfinite(d_ndvi) & np.isfinite(d_bright)
    ring_n = np.zeros(k, np.int64)
    med_n_ring = np.full(k, np.nan)
    med_b_ring = np.full(k, np.nan)
    slices = ndimage.find_objects(labels, max_label=k)
    for j, i in enumerate(np.flatnonzero(seen)):
        if j % CANCEL_EVERY == 0:
            check_cancel(cancel)
        sl = slices[i]
        y0, y1 = max(sl[0].start - r - 2, 0), min(sl[0].stop + r + 2, h)
        x0, x1 = max(sl[1].start - r - 2, 0), min(sl[1].stop + r + 2, w)
        box = (slice(y0, y1), slice(x0, x1))
        near = _dilate_diamond2(labels[box] == i + 1)
        ring = _dilate_square(near, r)
        ring &= ~near
        ring &= fine[box]
        ring_n[i] = np.count_nonzero(ring)
        if ring_n[i] >= 8:
            med_n_ring[i] = _median(d_ndvi[box][ring])
            med_b_ring[i] = _median(d_bright[box][ring])
    for i in np.flatnonzero(seen):
        scene_reference[i] = ring_n[i] < 8
        if not scene_reference[i]:
            ref_n, ref_b = float(med_n_ring[i]), float(med_b_ring[i])
        else:
            ref_n, ref_b = scene.get()
        ndvi_change[i] = float(med_n_in[i]) - ref_n
        bright_change[i] = float(med_b_in[i]) - ref_b
        if settings.min_ndvi_drop is not None and sign * -ndvi_change[i] < float(settings.min_ndvi_drop):
            accepted[i] = False
        if settings.min_brightness_rise is not None and sign * bright_change[i] < float(settings.min_brightness_rise):
            accepted[i] = False
    return PieceEvidence(other_mean, ndvi_change, bright_change, accepted, scene_reference)


@dataclass
class ObjectChange:
    """The change raster and the new and vanished pieces with their evidence."""

    change: np.ndarray             # uint8 change classes
    new_labels: np.ndarray         # int32 (H, W): candidate new pieces 1..k
    new_evidence: PieceEvidence
    vanished_labels: np.ndarray
    vanished_evidence: PieceEvidence
    spectral: bool                 # whether spectral evidence was available

    @property
    def new_mask(self) -> np.ndarray:
        keep = np.concatenate([[False], self.new_evidence.accepted])
        return keep[self.new_labels] & (self.change == CHANGE_NEW)


def object_change(pre_mask: np.ndarray, post_mask: np.ndarray, pre_prob: np.ndarray, post_prob: np.ndarray,
                  grow_threshold: float, transform: Affine, min_area_ha: float = DEFAULT_MIN_AREA_HA,
                  settings: Optional[ChangeSettings] = None,
                  spectral: Optional[SpectralPair | SpectralChange] = None,
                  cancel: Optional[CancelToken] = None) -> ObjectChange:
    """Change classes decided per object (see the module doc); all inputs on one grid;
    ``cancel`` is checked between the steps."""
    settings = (settings or ChangeSettings()).validate()
    pre_mask, post_mask = np.asarray(pre_mask), np.asarray(post_mask)
    if not (pre_mask.shape == post_mask.shape == np.shape(pre_prob) == np.shape(post_prob)):
        raise InputError(f"The pre {pre_mask.shape} and post {post_mask.shape} layers differ in shape.",
                         "Put both dates on the same grid first.")
    na = (pre_mask == NOT_ASSESSABLE) | (post_mask == NOT_ASSESSABLE)
    pre1, post1 = pre_mask == LANDSLIDE, post_mask == LANDSLIDE
    pre_support = _support(pre_prob, pre_mask, grow_threshold, settings.tolerance_px)
    post_support = _support(post_prob, post_mask, grow_threshold, settings.tolerance_px)
    d_ndvi, d_bright = spectral.differences() if spectral is not None else (None, None)
    any1 = pre1 | post1
    scene = _SceneReference(d_ndvi, d_bright, any1) if spectral is not None else None
    check_cancel(cancel)
    new_labels, k_new = _candidates(post_mask, pre_support, na, transform, min_area_ha)
    new_ev = _piece_evidence(new_labels, k_new, pre_prob, d_ndvi, d_bright, any1, settings, +1.0, scene, cancel)
    check_cancel(cancel)
    van_labels, k_van = _candidates(pre_mask, post_support, na, transform, min_area_ha)
    van_ev = _piece_evidence(van_labels, k_van, post_prob, d_ndvi, d_bright, any1, settings, -1.0, scene, cancel)
    check_cancel(cancel)
    change = np.full(pre_mask.shape, CHANGE_STABLE, np.uint8)
    change[any1] = CHANGE_PERSISTING
    change[np.concatenate([[False], new_ev.accepted])[new_labels]] = CHANGE_NEW
    change[np.concatenate([[False], van_ev.accepted])[van_labels]] = CHANGE_VANISHED
    change[na] = CHANGE_NOT_ASSESSABLE
    return ObjectChange(change, new_labels, new_ev, van_labels, van_ev, spectral is not None)


@dataclass
class ChangeSummary:
    """Hectares per change class and the new landslides (after the minimum mapping unit)."""

    new_ha: float
    persisting_ha: float
    vanished_ha: float
    stable_ha: float
    not_assessable_ha: float
    new_count: int
    new_landslides_ha: float  # area of the new landslides counted (each at least min_area_ha)
    threshold: float
    min_area_ha: float
    vanished_count: int = 0
    #: Post-date pieces with no landslide before that lacked spectral evidence of change.
    new_candidates_without_evidence: int = 0
    spectral_evidence: bool = False
    grow_ratio: float = DEFAULT_GROW_RATIO

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarise_change(change: np.ndarray, transform: Affine, new_count: int, new_landslides_ha: float,
                     threshold: float, min_area_ha: float, **more: Any) -> ChangeSummary:
    ha = pixel_area_ha(transform)
    counts = np.bincount(change.ravel(), minlength=256)

    def area(c: int) -> float:
        return round(float(counts[c] * ha), 4)

    return ChangeSummary(area(CHANGE_NEW), area(CHANGE_PERSISTING), area(CHANGE_VANISHED), area(CHANGE_STABLE),
                         area(CHANGE_NOT_ASSESSABLE), int(new_count), round(float(new_landslides_ha), 4),
                         float(threshold), float(min_area_ha), **more)


@dataclass
class PairResult:
    """Everything of a pre/post pair at one threshold: masks, change, new landslides, summary."""

    pre_mask: np.ndarray  # uint8, hysteresis + MMU + object rules applied
    post_mask: np.ndarray  # uint8, hysteresis + MMU + object rules applied
    change: np.ndarray  # uint8 change classes
    new_features: list[dict[str, Any]]  # GeoJSON features (EPSG:4326) of new landslides
    change_summary: ChangeSummary
    summary: dict[str, Any]  # change_summary plus per-date figures, JSON-able
    object_change: Optional[ObjectChange] = field(default=None, repr=False)


def _why(p: dict[str, Any]) -> str:
    parts = []
    if p.get("pre_probability_mean") is not None:
        parts.append(f"no landslide before (pre probability {p['pre_probability_mean']:.2f})")
    if p.get("ndvi_drop") is not None:
        parts.append(f"vegetation lost (NDVI {-p['ndvi_drop']:+.2f} against its surroundings)")
    if p.get("brightness_rise") is not None:
        parts.append(f"ground brighter ({100 * (math.exp(p['brightness_rise']) - 1):+.0f} % against its surroundings)")
    if p.get("slope_deg_mean") is not None:
        parts.append(f"on a {p['slope_deg_mean']:.0f} deg slope")
    if p.get("height_above_valley_m") is not None:
        parts.append(f"{p['height_above_valley_m']:.0f} m above the valley floor")
    return "; ".join(parts)


def _new_feature_extras(oc: ObjectChange, slope_deg, elevation_m, transform: Affine, valley_radius_m: float,
                        terrain: Optional[Terrain] = None):
    """Per new polygon: the evidence that kept it and its terrain and shape measures."""
    pixel_m = math.sqrt(pixel_area_m2(transform))

    def extra(labels: np.ndarray, k: int) -> dict[str, list]:
        # each polygon is one accepted candidate piece: find which
        piece = label_lookup(oc.new_labels, labels, k) - 1
        ev = oc.new_evidence
        table = measure_objects(labels, slope_deg, elevation_m, pixel_m, valley_radius_m, terrain=terrain)
        out: dict[str, list] = {
            "pre_probability_mean": [ev.other_probability_mean[j] for j in piece],
            "ndvi_drop": [-ev.ndvi_change[j] for j in piece],
            "brightness_rise": [ev.brightness_change[j] for j in piece],
        }
        for name in ("height_above_valley_m", "relative_height", "compactness", "rectangularity", "elongation",
                     "downslope_alignment"):
            out[name] = list(table.measures[name])
        return out
    return extra


def summarise_pair(pre_prob: np.ndarray, post_prob: np.ndarray, slope_deg: Optional[np.ndarray], transform: Affine,
                   crs: CRS, threshold: float, min_area_ha: float = DEFAULT_MIN_AREA_HA, *,
                   elevation_m: Optional[np.ndarray] = None,
                   spectral: Optional[SpectralPair | SpectralChange] = None,
                   grow_ratio: float = DEFAULT_GROW_RATIO, rules: Optional[ObjectRules] = None,
                   settings: Optional[ChangeSettings] = None, terrain: Optional[Terrain] = None,
                   cancel: Optional[CancelToken] = None) -> PairResult:
    """Masks, change classes, new-landslide polygons and totals from two probability rasters on one grid.

    ``slope_deg`` and ``elevation_m`` (of the post date; the DEM is the same for both) feed the
    object rules; ``spectral`` gives the spectral evidence of change (without it, change is
    decided from the probabilities alone and the summary says so). ``terrain``: the
    :class:`~landslide_core.objects.Terrain` of ``elevation_m`` when the caller keeps one (it
    is the same at every threshold); computed here otherwise. ``cancel`` is checked between
    the steps (each well under a second at 400 km2).
    """
    threshold = check_threshold(threshold)
    grow_ratio = check_grow_ratio(grow_ratio)
    rules = ObjectRules.from_dict(rules)
    settings = ChangeSettings.from_dict(settings)
    if np.shape(pre_prob) != np.shape(post_prob):
        raise InputError(f"The pre {np.shape(pre_prob)} and post {np.shape(post_prob)} probabilities differ in shape.",
                         "Put both dates on the same grid first.")
    pixel_m = math.sqrt(pixel_area_m2(transform))
    if elevation_m is None:
        terrain = None
    elif terrain is None or not terrain.fits(np.shape(elevation_m), pixel_m, rules.valley_radius_m):
        terrain = Terrain.of(elevation_m, pixel_m, rules.valley_radius_m)
    common = dict(transform=transform, min_area_ha=min_area_ha, grow_ratio=grow_ratio, rules=rules,
                  slope_deg=slope_deg, elevation_m=elevation_m, terrain=terrain)
    check_cancel(cancel)
    pre_mask, pre_ruled = landslide_mask(pre_prob, threshold, **common, cancel=cancel)
    check_cancel(cancel)
    post_mask, post_ruled = landslide_mask(post_prob, threshold, **common, cancel=cancel)
    check_cancel(cancel)
    oc = object_change(pre_mask, post_mask, pre_prob, post_prob, threshold * grow_ratio, transform, min_area_ha,
                       settings, spectral, cancel)
    new_binary = np.where(oc.change == CHANGE_NEW, LANDSLIDE, STABLE).astype(np.uint8)
    new_features = polygons_from_mask(new_binary, post_prob, slope_deg, transform, crs, min_area_ha,
                                      extra=_new_feature_extras(oc, slope_deg, elevation_m, transform,
                                                                rules.valley_radius_m, terrain), cancel=cancel)
    check_cancel(cancel)
    for f in new_features:
        f["properties"]["why"] = _why(f["properties"])
    new_ha = sum(f["properties"]["area_ha"] for f in new_features)
    stats = summarise_change(
        oc.change, transform, len(new_features), new_ha, threshold, min_area_ha,
        vanished_count=count_components(np.where(oc.change == CHANGE_VANISHED, LANDSLIDE, STABLE)),
        new_candidates_without_evidence=int((~oc.new_evidence.accepted).sum()),
        spectral_evidence=oc.spectral, grow_ratio=grow_ratio)
    summary = stats.to_dict()
    summary["pre"] = {**mask_summary(pre_mask, transform, pre_prob), "rejected_by_rule": pre_ruled.rejected_counts()}
    summary["post"] = {**mask_summary(post_mask, transform, post_prob),
                       "rejected_by_rule": post_ruled.rejected_counts()}
    summary["rules"] = rules.to_dict()
    summary["change_settings"] = settings.to_dict()
    return PairResult(pre_mask, post_mask, oc.change, new_features, stats, summary, oc)


__all__ = ["change_classes", "ChangeSettings", "ChangeSummary", "ObjectChange", "PairResult", "SpectralPair",
           "SpectralChange",
           "object_change", "summarise_pair", "summarise_change", "CHANGE_NAMES", "count_components"]
