"""The synthetic world: determinism, value ranges, landslides, truth vs image, clouds."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from landslide_core.bands import slope_horn_deg
from landslide_core.errors import InputError
from landslide_core.grid import grid_centered
from landslide_core.scene import CONTRACT_WITHOUT_SLOPE
from landslide_core.synthetic import DEMO_EVENT, LAND_COVER, WorldOptions, build_world, generate_event
from landslide_core.synthetic.event import MIN_SOURCE_SLOPE_DEG, make_landslides
from landslide_core.synthetic.land_cover import FOREST, NEW_LANDSLIDE, OLD_SCAR, RIVERBED, ROCK, WATER
from landslide_core.synthetic.noise import spectral_noise

GRID = grid_centered(-75.4, -11.3, 160, 160)


@pytest.fixture(scope="module")
def clear_event():
    """No clouds, light haze and no misregistration: truth and both dates on one frame."""
    return generate_event(GRID, seed=7, clouds=False, n_new_landslides=25,
                          options=WorldOptions(old_scars_per_km2=(3.0, 3.0), misregistration_px=0.0,
                                               haze_aod=(0.0, 0.1)))


def _ndvi(data):
    nir, red = data[7].astype(np.float64), data[3].astype(np.float64)
    return (nir - red) / np.maximum(nir + red, 1.0)


def test_same_seed_same_bytes_and_other_seed_differs():
    a = generate_event(GRID, seed=3)
    b = generate_event(GRID, seed=3)
    for x, y in ((a.pre.data, b.pre.data), (a.post.data, b.post.data), (a.pre.valid, b.pre.valid),
                 (a.post.valid, b.post.valid), (a.new_landslides, b.new_landslides),
                 (a.old_scars, b.old_scars), (a.land_cover, b.land_cover)):
        assert x.tobytes() == y.tobytes()
    assert a.pre.provenance == b.pre.provenance
    c = generate_event(GRID, seed=4)
    assert not np.array_equal(a.post.data, c.post.data)
    assert not np.array_equal(a.pre.band("elevation"), c.pre.band("elevation"))


def test_scene_contract_and_value_ranges(clear_event):
    ev = clear_event
    for scene, day in ((ev.pre, "2020-01-20"), (ev.post, "2020-04-18")):
        assert scene.band_names == CONTRACT_WITHOUT_SLOPE
        assert scene.data.dtype == np.float32 and scene.data.shape == (13, 160, 160)
        assert scene.crs == GRID.crs and scene.transform == GRID.transform
        spectral = scene.data[:12]
        assert spectral.min() >= 0 and spectral.max() <= 10000
        assert np.array_equal(spectral, np.rint(spectral))  # L1C digital numbers
        assert np.median(scene.band("B10")) < 40  # cirrus band near zero without cirrus
        assert scene.provenance["source"] == "synthetic" and scene.provenance["seed"] == 7
        assert scene.provenance["date"] == day and scene.provenance["cloud_percent"] == 0.0
    elev = ev.pre.band("elevation")
    assert np.array_equal(elev, ev.post.band("elevation"))
    assert 100 <= elev.min() and elev.max() <= 4800
    # the delivered DEM is the true terrain degraded as a real elevation model: close, not equal
    assert not np.array_equal(elev, ev.terrain.elevation_m)
    assert np.median(np.abs(elev - ev.terrain.elevation_m)) < 10
    slope = slope_horn_deg(elev, 10.0, 10.0)
    assert abs(np.median(slope) - np.median(ev.terrain.slope_deg)) < 4
    assert 15 < np.median(slope) < 40 and slope.max() < 75 and np.percentile(slope, 95) > 30


def test_elevations_span_the_andes_range():
    lows = [build_world(grid_centered(-75.4, -11.3, 64, 64), seed=s).terrain.elevation_m.min() for s in range(4)]
    high = build_world(grid_centered(-75.4, -11.3, 64, 64), seed=1,
                       options=WorldOptions(base_elevation_m=(4000.0, 4000.0))).terrain.elevation_m
    assert min(lows) >= 500 and high.max() <= 4800 and high.min() >= 4000


def test_new_landslides_only_on_fresh_ground_from_steep_sources(clear_event):
    ev = clear_event
    assert ev.new_landslides.sum() > 100 and ev.old_scars.sum() > 0
    assert not (ev.new_landslides & ev.old_scars).any()
    assert np.all(ev.land_cover[ev.new_landslides] == NEW_LANDSLIDE)
    assert np.all(ev.land_cover_pre[ev.new_landslides] != OLD_SCAR)
    assert not np.isin(ev.land_cover_pre[ev.new_landslides], (WATER, RIVERBED, ROCK)).any()
    rng = np.random.default_rng(0)
    allowed = ev.land_cover_pre == FOREST
    slides = make_landslides(rng, ev.terrain, 15, allowed)
    src_slope = ev.terrain.slope_deg[slides.source_rows, slides.source_cols]
    assert len(src_slope) == 15 and np.all(src_slope >= MIN_SOURCE_SLOPE_DEG)
    assert np.all(slides.mask[slides.source_rows, slides.source_cols])
    assert not (slides.mask & ~allowed).any()
    # runout goes downhill: the lowest pixel of each scar is below its source
    elev = ev.terrain.elevation_m
    for k in range(1, 16):
        px = slides.label == k
        if px.sum() > 5:
            assert elev[px].min() < elev[slides.source_rows[k - 1], slides.source_cols[k - 1]] - 2


def test_no_steep_ground_gives_no_landslides(clear_event):
    none = make_landslides(np.random.default_rng(0), clear_event.terrain, 10, np.zeros((160, 160), bool))
    assert not none.mask.any() and none.source_rows.size == 0


def test_truth_is_consistent_with_the_images(clear_event):
    ev = clear_event
    post, pre = ev.post.data, ev.pre.data
    scar = ev.new_landslides
    forest = (ev.land_cover == FOREST) & (ev.land_cover_pre == FOREST)
    ndvi_post, ndvi_pre = _ndvi(post), _ndvi(pre)
    assert np.median(ndvi_post[scar]) < 0.3 < 0.6 < np.median(ndvi_post[forest])
    assert np.median(ndvi_pre[scar]) > 0.45  # vegetated before the event
    assert np.median(post[10][scar]) > 1.3 * np.median(post[10][forest])  # SWIR B11 brighter
    assert np.median(post[3][scar]) > 1.8 * np.median(post[3][forest])  # red brighter
    old = ev.old_scars
    assert np.median(ndvi_post[old]) < 0.5 and np.median(ndvi_pre[old]) < 0.5


def test_dates_differ_in_season_and_sun_not_only_in_landslides(clear_event):
    ev = clear_event
    same = (ev.land_cover == FOREST) & (ev.land_cover_pre == FOREST)
    diff = np.abs(ev.post.data[:12] - ev.pre.data[:12])[:, same]
    assert np.median(diff[7]) > 20  # NIR differs on unchanged forest (phenology, sun)
    assert ev.pre.provenance["sun_elevation_deg"] != ev.post.provenance["sun_elevation_deg"]
    assert abs(np.median(_ndvi(ev.post.data)[same]) - np.median(_ndvi(ev.pre.data)[same])) < 0.1


def test_clouds_are_bright_and_marked_invalid():
    opts = WorldOptions(cloud_cover=(0.3, 0.3), clear_sky_chance=0.0, haze_aod=(0.0, 0.05))
    ev = generate_event(GRID, seed=11, options=opts)
    for scene in (ev.pre, ev.post):
        invalid = ~scene.valid
        assert 0.2 < invalid.mean() < 0.8
        assert 5 < scene.provenance["cloud_percent"] < 80
        cloudy = scene.band("B2") > 5000  # white fresh scars reach 3000-4500; thick clouds more
        assert cloudy.any() and not (cloudy & scene.valid).any()
    assert np.median(ev.post.band("B2")[ev.post.valid]) < 1200


def test_land_cover_codes_and_confounders():
    ev = generate_event(grid_centered(-75.4, -11.3, 256, 256), seed=2, clouds=False,
                        options=WorldOptions(farm_share=(0.3, 0.3), settlement_share=(0.02, 0.02)))
    codes = set(np.unique(ev.land_cover).tolist())
    assert codes <= set(LAND_COVER)
    assert FOREST in codes and len(codes) >= 7  # forest plus several confounders


def test_spectral_noise_is_deterministic_and_normalised():
    a = spectral_noise(np.random.default_rng(1), (50, 70), 3.0, 4.0)
    b = spectral_noise(np.random.default_rng(1), (50, 70), 3.0, 4.0)
    assert a.shape == (50, 70) and a.dtype == np.float32 and np.array_equal(a, b)
    assert abs(float(a.mean())) < 1e-3 and abs(float(a.std()) - 1) < 1e-3


@pytest.mark.parametrize("kwargs, match", [
    (dict(pre_date="2020-05-01", post_date="2020-04-01"), "not after"),
    (dict(pre_date="20-01-2020"), "ISO date"),
    (dict(seed=-1), "seed"),
    (dict(n_new_landslides=-3), "n_new_landslides"),
])
def test_bad_inputs_are_user_errors(kwargs, match):
    with pytest.raises(InputError, match=match):
        generate_event(GRID, **kwargs)


def test_too_small_grid_is_a_user_error():
    with pytest.raises(InputError, match="px"):
        generate_event(grid_centered(-75.4, -11.3, 8, 8))


def test_demo_event_is_near_huanuco_and_ordered():
    d = DEMO_EVENT
    ring = np.array(d.aoi["coordinates"][0])
    assert d.aoi["type"] == "Polygon" and np.array_equal(ring[0], ring[-1])
    assert abs(ring[:, 0].mean() + 75.4) < 0.2 and abs(ring[:, 1].mean() + 11.3) < 0.2
    width_km = np.ptp(ring[:, 0]) * 111 * np.cos(np.radians(11.3))
    assert 1 < width_km < 10
    assert d.pre_window[0] <= d.pre_window[1] < d.event_date < d.post_window[0] <= d.post_window[1]
    assert "demo" in d.name.lower() and isinstance(d.seed, int)
    with pytest.raises(Exception):
        d.seed = 3  # frozen
    assert replace(d, seed=5).seed == 5
