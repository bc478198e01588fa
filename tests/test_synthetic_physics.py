"""The synthetic world's confounders and nuisances: fields, scars, misregistration, DEM, haze, light, cancel."""
from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pytest

from landslide_core.bands import slope_horn_deg
from landslide_core.errors import Cancelled
from landslide_core.grid import grid_centered
from landslide_core.progress import CancelToken
from landslide_core.synthetic import WorldOptions, build_world, generate_event, render_scene
from landslide_core.synthetic.dem import deliver_dem
from landslide_core.synthetic.illumination import Sun, cast_shadow
from landslide_core.synthetic.land_cover import (BARE_FIELD, CLEAR_CUT, CROP, RIVERBED, ROAD, SETTLEMENT, WATER)
from landslide_core.synthetic.sensor import shift_labels

NOT_LANDSLIDE = (CROP, BARE_FIELD, CLEAR_CUT, RIVERBED, WATER, ROAD, SETTLEMENT)
DAY = date(2020, 4, 18)


def _grid(size: int = 192, lon: float = -75.4):
    return grid_centered(lon, -11.3, size, size)


def _ndvi(data: np.ndarray) -> np.ndarray:
    nir, red = data[7].astype(np.float64), data[3].astype(np.float64)
    return (nir - red) / np.maximum(nir + red, 1.0)


@pytest.fixture(scope="module")
def farm_world():
    """A farmed district with a wide valley floor, villages and clear-cuts."""
    opts = WorldOptions(farm_share=(0.45, 0.45), settlement_share=(0.02, 0.02), clearcut_share=(0.08, 0.08),
                        floodplain_m_per_sqrt_km2=(20.0, 20.0), inflow_chance=1.0, inflow_km2=(800.0, 800.0),
                        new_landslides_per_km2=(6.0, 6.0), old_scars_per_km2=(3.0, 3.0))
    return build_world(_grid(256), seed=4, options=opts)


def test_fields_lie_on_flat_or_gentle_ground_and_are_never_landslides(farm_world):
    w = farm_world
    cover = w.surfaces
    fields = np.isin(cover.code_post, (CROP, BARE_FIELD)) & (w.surfaces.obj_post > 0)
    assert fields.sum() > 500
    slope = w.terrain.slope_deg
    assert np.median(slope[fields]) < 20 and np.percentile(slope[fields], 95) < 32  # terraces included
    # the truth (what a Landslide4Sense mask marks) never covers fields, cuts, rivers, roads, villages
    truth = w.new_landslides | w.old_scars
    assert truth.any()
    assert not (truth & np.isin(cover.code_post, NOT_LANDSLIDE)).any()
    assert not (w.old_scars & np.isin(cover.code_pre, NOT_LANDSLIDE)).any()
    assert not (w.new_landslides & np.isin(cover.code_pre, (RIVERBED, WATER, SETTLEMENT))).any()


def test_crops_change_between_the_dates_as_phenology(farm_world):
    w = farm_world
    pre, post = w.code_pre, w.code_post
    field_px = np.isin(pre, (CROP, BARE_FIELD)) & np.isin(post, (CROP, BARE_FIELD))
    ploughed = field_px & (pre == CROP) & (post == BARE_FIELD)
    greened = field_px & (pre == BARE_FIELD) & (post == CROP)
    assert ploughed.sum() > 20 and greened.sum() > 20
    a = render_scene(w, "pre", date(2020, 1, 20), clouds=False).data
    b = render_scene(w, "post", DAY, clouds=False).data
    assert np.median(_ndvi(b)[ploughed] - _ndvi(a)[ploughed]) < -0.2  # green crop -> bare soil
    assert np.median(_ndvi(b)[greened] - _ndvi(a)[greened]) > 0.2


def test_flat_mosaic_fields_sit_on_flat_ground():
    opts = WorldOptions(farm_share=(0.5, 0.5), floodplain_m_per_sqrt_km2=(25.0, 25.0), inflow_chance=1.0,
                        inflow_km2=(2000.0, 2000.0), plateau_chance=1.0)
    w = build_world(_grid(256, -75.3), seed=8, options=opts)
    obj = w.surfaces.obj_post
    n_fields = w.surfaces.field_state_post.size  # objects 1..n_fields are the field parcels
    assert n_fields > 10
    fields = (obj > 0) & (obj <= n_fields)
    mosaic = fields & w.terrain.valley_floor
    assert mosaic.sum() > 200
    assert np.median(w.terrain.slope_deg[mosaic]) < 8


def test_clear_cuts_are_blocky_patches_on_slopes(farm_world):
    w = farm_world
    cut = (w.code_pre == CLEAR_CUT) | (w.code_post == CLEAR_CUT)
    assert cut.sum() > 100
    assert np.median(w.terrain.slope_deg[cut]) > 8
    assert not (cut & (w.new_landslides | w.old_scars) & (w.code_post == CLEAR_CUT)).any()


def test_fresh_scars_range_from_white_to_dark_and_bright_ones_are_labelled():
    opts = WorldOptions(new_landslides_per_km2=(12.0, 12.0), old_scars_per_km2=(0.0, 0.0), haze_aod=(0.0, 0.01),
                        misregistration_px=0.0)
    ev = generate_event(_grid(256, -75.2), seed=21, clouds=False, options=opts)
    scar = ev.new_landslides
    assert scar.sum() > 500
    vis = ev.post.data[1:4].mean(axis=0)
    per_scar_px = vis[scar]
    assert np.percentile(per_scar_px, 95) > 2500  # white fresh rock
    assert np.percentile(per_scar_px, 10) < 1400  # darker, wet or red-brown soil
    bright = vis > 2500
    assert (bright & scar).sum() > 50  # bright scars are landslides in the truth


def test_post_date_misregistration_is_within_the_bound_and_truth_follows():
    grid = _grid(160, -75.35)
    opts = WorldOptions(misregistration_px=1.5)
    shifts = []
    for seed in range(6):
        ev = generate_event(grid, seed=seed, clouds=False, options=opts, n_new_landslides=6)
        dy, dx = ev.post_shift_px
        assert np.hypot(dy, dx) <= 1.5 + 1e-9
        assert ev.post.provenance["misregistration_px"] == [round(dy, 3), round(dx, 3)]
        assert ev.pre.provenance["misregistration_px"] == [0.0, 0.0]
        assert np.array_equal(ev.pre.band("elevation"), ev.post.band("elevation"))  # the DEM stays on the grid
        shifts.append((dy, dx))
    assert max(np.hypot(*s) for s in shifts) > 0.5  # shifts are drawn, not all zero
    # the post image is the unshifted rendering moved by the shift; the truth moves with it
    world = build_world(grid, seed=3, options=opts, n_new_landslides=6)
    dy, dx = 1.0, -1.0
    still = render_scene(world, "post", DAY, clouds=False)
    moved = render_scene(world, "post", DAY, clouds=False, shift_px=(dy, dx))
    b8s, b8m = still.band("B8"), moved.band("B8")
    assert np.abs(b8m[5:-5, 5:-5] - b8s[4:-6, 6:-4]).mean() < 0.2 * np.abs(b8m[5:-5, 5:-5] - b8s[5:-5, 5:-5]).mean()
    ev = generate_event(grid, seed=3, clouds=False, options=opts, n_new_landslides=6)
    assert np.array_equal(ev.new_landslides, shift_labels(world.new_landslides, ev.post_shift_px))
    none = generate_event(grid, seed=3, clouds=False, options=replace(opts, misregistration_px=0.0),
                          n_new_landslides=6)
    assert none.post_shift_px == (0.0, 0.0)


@pytest.mark.parametrize("resampling", ["nearest", "bilinear"])
def test_delivered_dem_is_blocky_at_its_resolution(resampling):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:120, 0:120].astype(np.float32)
    true = 800 + 300 * np.sin(xx / 17.0) * np.cos(yy / 23.0) + 3 * rng.standard_normal((120, 120)).astype(np.float32)
    dem = deliver_dem(rng, true, 10.0, resolution_m=(30.0, 30.0), error_m=(0.5, 0.5), whole_metre_share=0.0,
                      nearest_share=1.0 if resampling == "nearest" else 0.0)
    assert dem.resampling == resampling and dem.resolution_m == pytest.approx(30.0)
    z = dem.elevation_m
    assert np.median(np.abs(z - true)) < 15 and not np.allclose(z, true)
    if resampling == "nearest":  # runs of three equal values along rows and columns
        assert (np.diff(z, axis=1) == 0).mean() > 0.6 and (np.diff(z, axis=0) == 0).mean() > 0.6
    else:  # piecewise linear: second differences vanish inside the 30 m cells
        d2 = np.abs(np.diff(z, 2, axis=1))
        assert (d2 < 1e-3).mean() > 0.3
    smooth = slope_horn_deg(true, 10.0, 10.0)
    blocky = dem.slope_l4s_deg(10.0)
    assert np.array_equal(blocky, np.rint(blocky))  # whole degrees, as Landslide4Sense
    assert (np.diff(blocky, axis=1) == 0).mean() > 0.5
    assert abs(np.median(blocky) - np.median(smooth)) < 5


def test_thin_cirrus_raises_b10_and_keeps_pixels_valid_thick_does_not():
    grid = _grid(128, -75.25)
    base = WorldOptions(clear_sky_chance=1.0, haze_aod=(0.0, 0.01))
    world = build_world(grid, seed=5, options=replace(base, cirrus_chance=0.0))
    clear = render_scene(world, "post", DAY)
    thin = render_scene(replace(world, options=replace(base, cirrus_chance=1.0, cirrus_dn=(90.0, 90.0))), "post", DAY)
    thick = render_scene(replace(world, options=replace(base, cirrus_chance=1.0, cirrus_dn=(900.0, 900.0))),
                         "post", DAY)
    assert clear.valid.all() and thin.valid.all()
    veil = thin.band("B10") - clear.band("B10")
    assert veil.max() > 40 and np.median(clear.band("B10")) < 25
    lifted = veil > 20
    assert np.median(thin.band("B2")[lifted] - clear.band("B2")[lifted]) > 30  # visible bands lifted too
    assert (~thick.valid).any() and not (~thick.valid & (thick.band("B10") < 100)).all()
    assert thin.provenance["cirrus_max_dn"] > 40 and clear.provenance["cirrus_max_dn"] == 0.0


def test_haze_lifts_the_blue_most_and_lowers_contrast():
    grid = _grid(128, -75.15)
    base = WorldOptions(clear_sky_chance=1.0, cirrus_chance=0.0, gain_sd=0.0, offset_sd_dn=0.0)
    world = build_world(grid, seed=6, options=replace(base, haze_aod=(0.0, 0.0)))
    clear = render_scene(world, "post", DAY)
    hazy = render_scene(replace(world, options=replace(base, haze_aod=(0.4, 0.4))), "post", DAY)
    assert hazy.valid.all()
    lift = [np.median(hazy.band(b) - clear.band(b)) for b in ("B2", "B4", "B8")]
    assert lift[0] > lift[1] > lift[2] and lift[0] > 100
    assert hazy.band("B8").std() < clear.band("B8").std()


def test_terrain_light_follows_the_dem_for_the_sun_of_the_date():
    grid = _grid(160, -75.45)
    opts = WorldOptions(farm_share=(0.0, 0.0), clearcut_share=(0.0, 0.0), settlement_share=(0.0, 0.0),
                        new_landslides_per_km2=(0.0, 0.0), old_scars_per_km2=(0.0, 0.0), haze_aod=(0.0, 0.0),
                        clear_sky_chance=1.0, cirrus_chance=0.0, sun_elevation_deg=(30.0, 30.0))
    world = build_world(grid, seed=9, options=opts)
    scene = render_scene(world, "post", DAY)
    sun = Sun(scene.provenance["sun_elevation_deg"], scene.provenance["sun_azimuth_deg"])
    assert sun.elevation_deg == pytest.approx(30.0)
    t = world.terrain
    e, n, u = (np.sin(sun.zenith_rad) * np.sin(np.radians(sun.azimuth_deg)),
               np.sin(sun.zenith_rad) * np.cos(np.radians(sun.azimuth_deg)), np.cos(sun.zenith_rad))
    shade = (-t.dz_dx * e - t.dz_dy * n + u) / np.sqrt(t.dz_dx ** 2 + t.dz_dy ** 2 + 1)
    assert np.corrcoef(shade.ravel(), scene.band("B8").ravel())[0, 1] > 0.6
    other = render_scene(world, "pre", date(2020, 1, 20))
    assert other.provenance["sun_azimuth_deg"] != scene.provenance["sun_azimuth_deg"]


def test_cast_shadows_fall_away_from_the_sun():
    z = np.zeros((61, 61), np.float32)
    z[30, 30] = 100.0
    for az, (dr, dc) in ((0.0, (1, 0)), (90.0, (0, -1)), (180.0, (-1, 0)), (270.0, (0, 1))):
        rows, cols = np.nonzero(cast_shadow(z, 10.0, Sun(45.0, az)))
        assert rows.size >= 5
        assert np.sign(np.mean(rows) - 30) == dr and np.sign(np.mean(cols) - 30) == dc


def test_progress_reaches_the_end_and_cancel_stops_the_generator():
    grid = _grid(96, -75.05)
    seen = []
    generate_event(grid, seed=1, progress=lambda done, total, stage: seen.append((done, total, stage)))
    assert seen[-1][0] == seen[-1][1] and [d for d, _, _ in seen] == sorted(d for d, _, _ in seen)
    assert {"terrain", "land cover", "light", "sensor"} <= {s for _, _, s in seen}
    token = CancelToken()

    def cancel_at_land_cover(done, total, stage):
        if stage == "land cover":
            token.cancel()

    with pytest.raises(Cancelled):
        generate_event(grid, seed=1, progress=cancel_at_land_cover, cancel=token)
    world = build_world(grid, seed=1)
    with pytest.raises(Cancelled):
        render_scene(world, "post", DAY, cancel=token)
