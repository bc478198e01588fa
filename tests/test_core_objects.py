"""Terrain and shape rules on constructed objects: each rule rejects its confounder and keeps a landslide."""
from __future__ import annotations

import numpy as np
import pytest

from landslide_core.errors import InputError
from landslide_core.objects import ObjectRules, apply_object_rules, height_above_valley_m, measure_objects

PX = 10.0
H, W = 120, 120


def slope_plane(deg: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    """A hillside falling toward the south (rows grow southward): (slope_deg, elevation_m)."""
    rows = np.arange(H, dtype=np.float32)[:, None] + np.zeros((1, W), np.float32)
    z = 2000.0 - np.tan(np.radians(deg)) * PX * rows
    return np.full((H, W), deg, np.float32), z.astype(np.float32)


def ellipse(cy: float, cx: float, ry: float, rx: float, angle_deg: float = 0.0) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    a = np.radians(angle_deg)
    y, x = yy - cy, xx - cx
    u = y * np.cos(a) + x * np.sin(a)
    v = -y * np.sin(a) + x * np.cos(a)
    return (u / ry) ** 2 + (v / rx) ** 2 <= 1.0


def tongue(cy: float = 60, cx: float = 60) -> np.ndarray:
    """A landslide-like object: long downslope (rows), wide head, narrow track, a deposit fan."""
    m = ellipse(cy - 14, cx, 8, 6) | ellipse(cy, cx, 16, 3.5) | ellipse(cy + 14, cx + 1, 6, 7)
    return m


def rect(r0: int, c0: int, h: int, w: int, angle_deg: float = 0.0) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    cy, cx = r0 + h / 2, c0 + w / 2
    a = np.radians(angle_deg)
    u = (yy - cy) * np.cos(a) + (xx - cx) * np.sin(a)
    v = -(yy - cy) * np.sin(a) + (xx - cx) * np.cos(a)
    return (np.abs(u) <= h / 2) & (np.abs(v) <= w / 2)


def verdict(binary, slope, z, rules=None):
    ruled = apply_object_rules(binary, slope, z, PX, rules)
    assert ruled.table.n == 1
    return ruled.verdicts[0], ruled.table.row(0)


def test_landslide_on_a_slope_passes_every_rule():
    slope, z = slope_plane(30)
    v, m = verdict(tongue(), slope, z)
    assert v is None, m
    assert m["downslope_alignment"] > 0.9 and m["elongation"] > 2
    assert m["rectangularity"] < 0.82 and m["height_above_valley_m"] > 50


def test_min_slope_rejects_flat_ground():
    slope, z = slope_plane(3)
    assert verdict(tongue(), slope, z)[0] == "min_slope_deg"
    assert verdict(tongue(), slope, z, ObjectRules(min_slope_deg=2.0))[0] is None


def test_height_above_valley_rejects_the_valley_floor():
    # a V valley across the columns with a flat floor 20 px wide in the middle; the object is on the floor
    cols = np.abs(np.arange(W, dtype=np.float32) - W / 2)
    z = np.broadcast_to(np.where(cols < 10, 500.0, 500.0 + (cols - 10) * PX * 0.6), (H, W)).astype(np.float32)
    slope = np.full((H, W), 25.0, np.float32)  # (a slope band that says steep: only the height rule can tell)
    obj = rect(40, 55, 30, 8, angle_deg=10)
    rules = ObjectRules(max_rectangularity=None)
    assert verdict(obj, slope, z, rules)[0] == "min_height_above_valley_m"
    hav = height_above_valley_m(z, PX, 300.0)
    assert float(hav[:, 60].max()) == pytest.approx(0.0) and float(hav[:, 5].min()) > 100
    # a landslide up the valley side (long across the columns, i.e. down that side) is kept
    assert verdict(rect(40, 8, 8, 30, angle_deg=10), slope, z, rules)[0] is None


@pytest.mark.parametrize("angle", [0.0, 30.0])
def test_rectangularity_rejects_blocky_fields_and_clear_cuts(angle):
    slope, z = slope_plane(25)
    field = rect(40, 40, 24, 18, angle_deg=angle)  # 4.3 ha, on a slope (a clear-cut)
    v, m = verdict(field, slope, z)
    assert v == "max_rectangularity", m
    assert m["rectangularity"] > 0.85
    # small blocks are not judged by shape (a 2 x 3 px landslide is a rectangle too)
    assert verdict(rect(40, 40, 3, 4), slope, z)[0] is None


def test_contour_rule_rejects_long_objects_along_the_contour_not_along_the_slope():
    slope, z = slope_plane(30)
    road = ellipse(60, 60, 2.5, 30)    # long across the columns: along the contour
    gully = ellipse(60, 60, 30, 2.5)   # long down the rows: along the slope
    v, m = verdict(road, slope, z, ObjectRules(max_rectangularity=None))
    assert v == "min_downslope_alignment" and m["downslope_alignment"] < 0.1
    assert verdict(gully, slope, z, ObjectRules(max_rectangularity=None))[0] is None


def test_compactness_rule_rejects_threads_but_not_debris_tracks():
    slope, z = slope_plane(30)
    thread = ellipse(60, 60, 30, 1.6)  # a debris track: thin, so never judged "blocky" either
    assert verdict(thread, slope, z)[0] is None
    assert verdict(thread, slope, z, ObjectRules(min_compactness=0.5))[0] == "min_compactness"


def test_unknown_measures_never_reject_and_rules_off_keep_everything():
    field = rect(40, 40, 24, 18)
    ruled = apply_object_rules(field, None, None, PX, ObjectRules(max_rectangularity=None))
    assert ruled.verdicts == [None]
    slope, z = slope_plane(2)
    assert apply_object_rules(field, slope, z, PX, ObjectRules.off()).verdicts == [None]


def test_measures_of_several_objects_and_bad_settings():
    slope, z = slope_plane(30)
    labels = np.zeros((H, W), np.int32)
    labels[tongue(60, 30)] = 1
    labels[rect(10, 80, 20, 20)] = 2
    table = measure_objects(labels, slope, z, PX)
    assert table.n == 2 and table.area_px[1] == 21 * 21
    assert table.measures["rectangularity"][1] == pytest.approx(1.0)
    for bad in ({"min_slope_deg": -1}, {"max_rectangularity": 1.5}, {"min_slope_deg": "steep"},
                {"valley_radius_m": 5}, {"nonsense": 1}):
        with pytest.raises(InputError):
            ObjectRules.from_dict(bad)
    assert ObjectRules.from_dict(ObjectRules().to_dict()) == ObjectRules()


def test_relative_height_rejects_a_river_that_descends_its_valley():
    # a V valley across the columns whose floor falls 0.5 m per pixel (5 %) down the rows (a mountain river);
    # the river runs metres above the lowest point around it, but stays at the bottom of its valley
    cols = np.abs(np.arange(W, dtype=np.float32) - W / 2)
    rows = np.arange(H, dtype=np.float32)[:, None]
    z = (900.0 - 0.5 * rows + np.where(cols < 3, 0.0, (cols - 3) * PX * 0.7)[None, :]).astype(np.float32)
    slope = np.full((H, W), 25.0, np.float32)
    river = rect(20, 57, 80, 6)
    rules = ObjectRules(max_rectangularity=None, min_downslope_alignment=None)
    v, m = verdict(river, slope, z, rules)
    assert m["height_above_valley_m"] > 5.0 and m["relative_height"] < 0.15
    assert v == "min_relative_height"
    assert verdict(rect(40, 20, 8, 25), slope, z, rules)[0] is None  # up the valley side
