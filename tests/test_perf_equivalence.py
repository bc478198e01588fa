"""The fast object measures and change evidence equal, bit for bit, the per-object loops they replaced.

The reference functions below are the loops as they were before they were vectorised
(issue 16): a crop, a comparison and scipy morphology per object. Random scenes of many
objects of every shape (single pixels, lines, rectangles at exact 3:1, blobs touching the
raster edge, clouds) must give exactly the same numbers.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from landslide_core.change import ChangeSettings, _candidates, _piece_evidence, _support
from landslide_core.label_groups import LabelGroups, outside_edges, per_label_mean
from landslide_core.objects import Terrain, measure_objects
from landslide_core.postprocess import label_components
from landslide_core.shape_measures import shape_measures

_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)


def reference_shape_measures(labels, n, down_row, down_col):
    from shapely import MultiPoint, oriented_envelope

    compact, rect, width, elong, align = (np.full(n, np.nan) for _ in range(5))
    mean_dr = per_label_mean(labels, n, down_row)
    mean_dc = per_label_mean(labels, n, down_col)
    corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float64)
    for i, sl in enumerate(ndimage.find_objects(labels, max_label=n)):
        if sl is None:
            continue
        own = labels[sl] == i + 1
        rr, cc = np.nonzero(own)
        area = float(rr.size)
        padded = np.pad(own, 1)
        edges = (np.count_nonzero(padded[1:, :] != padded[:-1, :])
                 + np.count_nonzero(padded[:, 1:] != padded[:, :-1]))
        perimeter = edges * math.pi / 4.0
        compact[i] = min(1.0, 4.0 * math.pi * area / max(perimeter * perimeter, 1e-9))
        y = rr - rr.mean()
        x = cc - cc.mean()
        cyy, cxx, cxy = (y * y).mean() + 1 / 12, (x * x).mean() + 1 / 12, (x * y).mean()
        tr, det = cyy + cxx, cyy * cxx - cxy * cxy
        disc = math.sqrt(max(tr * tr / 4 - det, 0.0))
        l1, l2 = tr / 2 + disc, max(tr / 2 - disc, 1e-9)
        elong[i] = math.sqrt(l1 / l2)
        if abs(cxy) > 1e-12:
            ar, ac = l1 - cxx, cxy
        else:
            ar, ac = (1.0, 0.0) if cyy >= cxx else (0.0, 1.0)
        norm_a = math.hypot(ar, ac)
        dr, dc = mean_dr[i], mean_dc[i]
        norm_d = math.hypot(dr, dc) if np.isfinite(dr) and np.isfinite(dc) else 0.0
        if norm_a > 0 and norm_d > 1e-6:
            align[i] = abs(ar * dr + ac * dc) / (norm_a * norm_d)
        if area >= 3:
            pts = (np.stack([rr, cc], 1)[:, None, :] + corners[None]).reshape(-1, 2)
            env = oriented_envelope(MultiPoint(pts))
            rect[i] = min(1.0, area / max(env.area, 1e-9))
            ring = np.asarray(env.exterior.coords)
            sides = np.hypot(*np.diff(ring[:3], axis=0).T)
            width[i] = float(sides.min()) if sides.size else 1.0
        else:
            rect[i], width[i] = 1.0, 1.0
    return {"compactness": compact, "rectangularity": rect, "width_px": width, "elongation": elong,
            "downslope_alignment": align}


def reference_piece_evidence(labels, k, other_prob, d_ndvi, d_bright, landslide_any, settings, sign):
    other_mean, ndvi_change, bright_change = (np.full(k, np.nan) for _ in range(3))
    accepted = np.ones(k, bool)
    stable = ~landslide_any & np.isfinite(d_ndvi) & np.isfinite(d_bright)
    scene_ndvi = float(np.median(d_ndvi[stable])) if stable.any() else 0.0
    scene_bright = float(np.median(d_bright[stable])) if stable.any() else 0.0
    r = settings.ring_px
    h, w = labels.shape
    for i, sl in enumerate(ndimage.find_objects(labels, max_label=k)):
        if sl is None:
            accepted[i] = False
            continue
        y0, y1 = max(sl[0].start - r - 2, 0), min(sl[0].stop + r + 2, h)
        x0, x1 = max(sl[1].start - r - 2, 0), min(sl[1].stop + r + 2, w)
        box = (slice(y0, y1), slice(x0, x1))
        obj = labels[box] == i + 1
        op = other_prob[box][obj]
        op = op[np.isfinite(op)]
        other_mean[i] = float(op.mean()) if op.size else np.nan
        near = ndimage.binary_dilation(obj, structure=_CROSS, iterations=2)
        ring = ndimage.binary_dilation(near, structure=np.ones((3, 3), bool), iterations=r) & ~near
        dn, db = d_ndvi[box], d_bright[box]
        ring &= ~landslide_any[box] & np.isfinite(dn) & np.isfinite(db)
        inside = obj & np.isfinite(dn) & np.isfinite(db)
        if inside.sum() < max(3, 0.5 * obj.sum()):
            accepted[i] = False
            continue
        ref_n = float(np.median(dn[ring])) if ring.sum() >= 8 else scene_ndvi
        ref_b = float(np.median(db[ring])) if ring.sum() >= 8 else scene_bright
        ndvi_change[i] = float(np.median(dn[inside])) - ref_n
        bright_change[i] = float(np.median(db[inside])) - ref_b
        if settings.min_ndvi_drop is not None and sign * -ndvi_change[i] < float(settings.min_ndvi_drop):
            accepted[i] = False
        if settings.min_brightness_rise is not None and sign * bright_change[i] < float(settings.min_brightness_rise):
            accepted[i] = False
    return other_mean, ndvi_change, bright_change, accepted


def random_objects(seed: int, shape=(140, 170)) -> np.ndarray:
    """Many objects: blobs (some cut by the raster edge), lines, single pixels, exact rectangles."""
    rng = np.random.default_rng(seed)
    h, w = shape
    field = ndimage.gaussian_filter(rng.standard_normal(shape), 2.5)
    binary = field > np.quantile(field, 0.8)
    binary |= rng.random(shape) > 0.995  # single pixels
    binary[5, 20:40] = True  # a straight line
    binary[60:62, 10:16] = True  # a 2 x 6 rectangle: elongation exactly 3 in exact arithmetic
    binary[100:109, 150:153] = True  # 9 x 3
    binary[:4, -6:] = True  # touching two edges
    binary[h - 1, :12] = True
    return binary


@pytest.mark.parametrize("seed", range(6))
def test_shape_measures_equal_the_per_object_loop(seed):
    labels, n = label_components(random_objects(seed))
    rng = np.random.default_rng(100 + seed)
    z = np.cumsum(rng.standard_normal(labels.shape), axis=0).astype(np.float32) * 3 + 500
    down_row, down_col = (np.gradient(-z)[0]).astype(np.float32), (np.gradient(-z)[1]).astype(np.float32)
    if seed % 3 == 0:
        down_row[rng.random(z.shape) > 0.9] = np.nan  # unknown downslope in places
    fast = shape_measures(labels, n, down_row, down_col)
    ref = reference_shape_measures(labels, n, down_row, down_col)
    assert n > 50
    for name in ref:
        assert np.array_equal(fast[name], ref[name], equal_nan=True), name


def test_groups_edges_and_means_on_gapped_labels():
    labels = np.zeros((6, 7), np.int32)
    labels[0, 0:3] = 1
    labels[2:5, 2:4] = 3  # label 2 has no pixel
    labels[5, 6] = 4
    groups = LabelGroups.of(labels, 4)
    assert groups.counts.tolist() == [3, 0, 6, 1]
    assert outside_edges(labels, 4).tolist() == [8, 0, 10, 4]
    values = np.arange(42, dtype=np.float32).reshape(6, 7)
    assert np.array_equal(per_label_mean(labels, 4, values, groups), per_label_mean(labels, 4, values),
                          equal_nan=True)
    fast = shape_measures(labels, 4, None, None)
    ref = reference_shape_measures(labels, 4, None, None)
    for name in ref:
        assert np.array_equal(fast[name], ref[name], equal_nan=True), name


@pytest.mark.parametrize("seed", range(4))
def test_piece_evidence_equals_the_per_piece_loop(seed):
    rng = np.random.default_rng(seed)
    post_mask = random_objects(seed + 10).astype(np.uint8)
    old = random_objects(seed + 20) & (rng.random(post_mask.shape) > 0.3)
    pre_prob = np.where(old, 0.8, 0.1).astype(np.float32) + rng.uniform(0, 0.1, post_mask.shape).astype(np.float32)
    pre_prob[rng.random(pre_prob.shape) > 0.97] = np.nan
    pre_mask = (np.nan_to_num(pre_prob) > 0.7).astype(np.uint8)
    d_ndvi = (rng.standard_normal(post_mask.shape) * 0.1 - 0.25 * post_mask).astype(np.float32)
    d_bright = (rng.standard_normal(post_mask.shape) * 0.05 + 0.2 * post_mask).astype(np.float32)
    clouds = ndimage.gaussian_filter(rng.random(post_mask.shape), 4) > 0.52
    d_ndvi[clouds] = np.nan
    d_bright[clouds & (rng.random(clouds.shape) > 0.5)] = np.nan
    settings = ChangeSettings(ring_px=int(rng.integers(2, 10)))
    transform = __import__("rasterio").transform.from_origin(0, 0, 10, 10)
    support = _support(pre_prob, pre_mask, 0.5, settings.tolerance_px)
    labels, k = _candidates(post_mask, support, np.zeros(post_mask.shape, bool), transform, 0.0)
    any1 = (post_mask == 1) | (pre_mask == 1)
    assert k > 10
    fast = _piece_evidence(labels, k, pre_prob, d_ndvi, d_bright, any1, settings, +1.0)
    ref = reference_piece_evidence(labels, k, pre_prob, d_ndvi, d_bright, any1, settings, +1.0)
    for got, want in zip((fast.other_probability_mean, fast.ndvi_change, fast.brightness_change, fast.accepted), ref):
        assert np.array_equal(got, want, equal_nan=True)


def test_support_and_candidates_equal_scipy_morphology():
    rng = np.random.default_rng(3)
    mask = random_objects(3).astype(np.uint8)
    prob = rng.random(mask.shape).astype(np.float32)
    prob[rng.random(mask.shape) > 0.9] = np.nan
    for tol in (0, 1, 2, 3):
        shows = (mask == 1) | (np.nan_to_num(prob, nan=0.0) >= 0.9)
        want = ndimage.binary_dilation(shows, structure=np.ones((3, 3), bool), iterations=tol) if tol else shows
        assert np.array_equal(_support(prob, mask, 0.9, tol), want)
    transform = __import__("rasterio").transform.from_origin(0, 0, 10, 10)
    other = rng.random(mask.shape) > 0.8
    labels, _ = _candidates(mask, other, np.zeros(mask.shape, bool), transform, 0.0)
    # an opening by reconstruction: the 4-connected pieces that survive a 3 x 3 opening, whole
    raw = (mask == 1) & ~other
    core = ndimage.binary_opening(raw, structure=np.ones((3, 3), bool))
    cand = ndimage.binary_propagation(core, structure=ndimage.generate_binary_structure(2, 1), mask=raw)
    assert np.array_equal(labels > 0, cand) and (cand & ~core).any()


def test_terrain_gives_the_measures_computed_from_the_elevation():
    labels, n = label_components(random_objects(7))
    rng = np.random.default_rng(7)
    z = (np.cumsum(rng.standard_normal(labels.shape), axis=1) * 4 + 800).astype(np.float32)
    slope = rng.uniform(0, 40, labels.shape).astype(np.float32)
    plain = measure_objects(labels, slope, z, 10.0, 300.0)
    cached = measure_objects(labels, slope, z, 10.0, 300.0, terrain=Terrain.of(z, 10.0, 300.0))
    for name in plain.measures:
        assert np.array_equal(plain.measures[name], cached.measures[name], equal_nan=True), name
    other_radius = Terrain.of(z, 10.0, 100.0)  # does not fit: computed from the elevation instead
    again = measure_objects(labels, slope, z, 10.0, 300.0, terrain=other_radius)
    assert np.array_equal(plain.measures["relative_height"], again.measures["relative_height"], equal_nan=True)
