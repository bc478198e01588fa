"""Regional batches without a cluster: zones and tiles, whole objects at tile borders, the
demo's one world per region, the job record."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio

from landslide_core.batch.borders import context_px, objects_whole
from landslide_core.batch.job import footprint_lonlat
from landslide_core.batch.tiling import FETCH_MARGIN_PX, BatchPlan, PixelWindow, make_plan, split_by_zone
from landslide_core.change import ChangeSettings
from landslide_core.errors import InputError
from landslide_core.objects import ObjectRules
from landslide_core.predictor import plan_axis
from landslide_core.sources import AnalysisRequest, DateWindow
from landslide_core.sources.cache import SceneCache
from landslide_core.sources.demo import DemoSource
from landslide_core.sources.regrid import lattice_offset


def box(w, s, e, n):
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


REGION = box(-75.41, -11.30, -75.35, -11.25)  # about 6.5 km x 5.5 km


def test_tiles_share_out_the_windows_of_one_run_over_the_zone():
    plan = make_plan(REGION, 2.0, 128, 16, 16)
    (zone,) = plan.zones
    rows, wy = plan_axis(zone.grid.height, 128, 16, 16)
    cols, wx = plan_axis(zone.grid.width, 128, 16, 16)
    assert (zone.rows, zone.wy, zone.cols, zone.wx) == (rows, wy, cols, wx)
    cover = np.zeros((zone.grid.height, zone.grid.width), int)
    windows = set()
    for t in plan.tiles:
        assert t.role == "region"
        cover[t.core.row0:t.core.row1, t.core.col0:t.core.col1] += 1
        a, b = t.win_rows
        c, d = t.win_cols
        windows |= {(i, j) for i in range(a, b) for j in range(c, d)}
        assert t.extent == PixelWindow(rows[a], rows[b - 1] + wy, cols[c], cols[d - 1] + wx)
        assert t.core.row0 == t.extent.row0 and t.core.row1 <= t.extent.row1  # the extent overhangs the next core
        f = t.fetch
        assert f.row0 == max(t.extent.row0 - FETCH_MARGIN_PX, 0) and f.col1 == min(t.extent.col1 + FETCH_MARGIN_PX,
                                                                                     zone.grid.width)
    assert (cover == 1).all()  # the cores partition the zone
    assert windows == {(i, j) for i in range(len(rows)) for j in range(len(cols))}  # each window in one tile
    assert 4 <= len(plan.tiles) <= 16
    again = BatchPlan.from_dict(plan.to_dict())
    assert again.to_dict() == plan.to_dict() and again.zones[0].grid == zone.grid


def test_zone_grid_is_the_grid_of_a_request_for_the_region():
    plan = make_plan(REGION, 10.0, 512, 32, 16)
    request = AnalysisRequest(REGION, DateWindow.parse("2021-01-01", "2021-01-31"),
                              DateWindow.parse("2021-04-01", "2021-04-30"))
    assert plan.zones[0].grid == request.grid()
    assert len(plan.tiles) == 1  # a region smaller than a tile: one tile, no borders


def test_a_region_across_utm_zones_is_split_by_zone():
    region = box(-78.05, -9.30, -77.95, -9.25)
    parts = split_by_zone(region)
    assert [epsg for epsg, _ in parts] == [32717, 32718]
    plan = make_plan(region, 2.0, 128, 16, 16)
    assert [z.id for z in plan.zones] == ["epsg32717", "epsg32718"]
    for zone in plan.zones:
        assert zone.grid.crs.to_epsg() == int(zone.id[4:])
        assert plan.tiles_of(zone.id) and all(t.zone == zone.id for t in plan.tiles_of(zone.id))
    total = sum(z.grid.area_km2 for z in plan.zones)
    assert plan.area_km2 < total < plan.area_km2 * 1.3


def test_an_irregular_region_keeps_a_ring_of_context_tiles():
    ell = {"type": "Polygon", "coordinates": [[[-75.41, -11.30], [-75.35, -11.30], [-75.35, -11.29],
                                               [-75.40, -11.29], [-75.40, -11.25], [-75.41, -11.25],
                                               [-75.41, -11.30]]]}
    plan = make_plan(ell, 1.0, 96, 16, 16)
    (zone,) = plan.zones
    region = {(t.i, t.j) for t in plan.tiles if t.role == "region"}
    context = {(t.i, t.j) for t in plan.tiles if t.role == "context"}
    assert region and context and not region & context
    assert zone.tile_rows * zone.tile_cols > len(plan.tiles)  # far tiles are not planned
    for i, j in context:
        assert any(abs(i - a) <= 1 and abs(j - b) <= 1 for a, b in region)
    # a region tile next to a context tile looks at most into that tile's core, short of its far seam
    for t in plan.region_tiles:
        cap = plan.change_margin_cap_px(t)
        assert 1 <= cap
        if any(n.role == "context" for n in plan.neighbours(t)):
            assert cap < min(min(n.core.height, n.core.width) for n in plan.neighbours(t)) - zone.overlap_px + 1


@pytest.mark.parametrize("region,tile_km,message", [
    (box(-75.41, -11.30, -75.35, -11.25), 0.1, "--tile-km 0.1"),
    ({"type": "Polygon", "coordinates": [[[-75.4, -11.3], [-75.38, -11.28], [-75.38, -11.3], [-75.4, -11.28],
                                          [-75.4, -11.3]]]}, 2.0, "crosses itself"),
    ({"type": "Polygon", "coordinates": [[[-75.4, -11.3], [-75.4, -11.3], [-75.4, -11.3], [-75.4, -11.3]]]}, 2.0,
     "at least three corners"),
    ({"type": "Polygon", "coordinates": [[[179.5, -17], [-179.5, -17], [-179.5, -16.5], [179.5, -16.5],
                                          [179.5, -17]]]}, 2.0, "antimeridian"),
])
def test_unusable_regions_and_tile_sizes_are_refused(region, tile_km, message):
    with pytest.raises(InputError, match=message):
        make_plan(region, tile_km, 128, 16, 16)


def test_objects_must_be_whole_in_the_view():
    rules, change = ObjectRules(), ChangeSettings()
    context = context_px(rules, change, 10.0)
    assert context == 32
    view = PixelWindow(100, 300, 100, 300)
    core = PixelWindow(180, 220, 180, 220)
    pre = np.zeros((200, 200), np.float32)
    post = np.zeros((200, 200), np.float32)
    post[90:110, 90:110] = 0.9  # an object in the core, far from the view's sides
    assert objects_whole(pre, post, 0.5, 0.6, view, core, 1000, 1000, context, change)
    post[100:110, 20:100] = 0.4  # it grows (hysteresis) towards the left side, into the band
    assert not objects_whole(pre, post, 0.5, 0.6, view, core, 1000, 1000, context, change)
    # the same object at the zone's own edge: nothing lies beyond, so it is whole
    at_edge = PixelWindow(100, 300, 0, 200)
    assert objects_whole(pre, post, 0.5, 0.6, at_edge, PixelWindow(180, 220, 80, 120), 1000, 1000, context, change)
    post[100:110, 20:100] = 0.2  # below the grow threshold: not part of the object
    assert objects_whole(pre, post, 0.5, 0.6, view, core, 1000, 1000, context, change)
    pre[100:105, 111:170] = 0.9  # an old landslide in its ring, itself reaching the band: it must be whole too
    pre[100:105, 170:200] = 0.9
    assert not objects_whole(pre, post, 0.5, 0.6, view, core, 1000, 1000, context, change)


def test_demo_world_tiles_are_cut_from_one_world(tmp_path):
    region = box(-75.41, -11.30, -75.39, -11.285)
    pre = DateWindow.parse("2021-01-01", "2021-01-31")
    post = DateWindow.parse("2021-04-01", "2021-04-30")
    request = AnalysisRequest(region, pre, post)
    cache = SceneCache(tmp_path / "cache")
    whole = DemoSource(cache=cache).fetch(request, post)
    world = DemoSource(cache=cache, world=region)
    assert world.fetch(request, post).path == whole.path  # the world's own request: the same scene
    plan = make_plan(region, 0.5, 64, 16, 16)
    tile = plan.tiles[-1]
    zone = plan.zones[0]
    tile_request = AnalysisRequest(footprint_lonlat(tile.fetch.grid(zone.grid)), pre, post).on_grid(
        tile.fetch.grid(zone.grid))
    assert world.pair_dates(tile_request) == world.pair_dates(request)
    cut = world.fetch(tile_request, post)
    assert not cut.from_cache and cut.provenance["grid"] == tile_request.grid().key()
    with rasterio.open(whole.path) as a, rasterio.open(cut.path) as b:
        assert lattice_offset(a.transform, a.crs, tile_request.grid()) == (tile.fetch.row0, tile.fetch.col0)
        f = tile.fetch
        np.testing.assert_array_equal(b.read(), a.read(window=((f.row0, f.row1), (f.col0, f.col1))))
        assert list(b.descriptions) == list(a.descriptions)
    # a request of its own (no world) is another synthetic event
    own = DemoSource(cache=cache).fetch(tile_request, post)
    with rasterio.open(own.path) as a, rasterio.open(cut.path) as b:
        assert not np.array_equal(a.read(1), b.read(1))
