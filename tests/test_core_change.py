"""Change decided per object on constructed pairs: jitter is not new, a real scar is, a ploughed field is not."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import UTM18S
from rasterio.transform import from_origin
from scipy import ndimage

from landslide_core.change import (CHANGE_NEW, CHANGE_NOT_ASSESSABLE, CHANGE_PERSISTING, CHANGE_VANISHED,
                                   ChangeSettings, SpectralPair, summarise_pair)
from landslide_core.errors import InputError
from landslide_core.objects import ObjectRules

T10 = from_origin(400000.0, 8750000.0, 10.0, 10.0)
H, W = 120, 120


def hillside(deg: float = 30.0):
    rows = np.arange(H, dtype=np.float32)[:, None] + np.zeros((1, W), np.float32)
    z = (2000.0 - np.tan(np.radians(deg)) * 10.0 * rows).astype(np.float32)
    return np.full((H, W), deg, np.float32), z


def tongue(cy, cx):
    yy, xx = np.mgrid[0:H, 0:W]

    def ell(y, x, ry, rx):
        return ((yy - y) / ry) ** 2 + ((xx - x) / rx) ** 2 <= 1

    return ell(cy - 10, cx, 6, 5) | ell(cy, cx, 12, 3) | ell(cy + 10, cx + 1, 5, 6)


def prob_of(mask, inside=0.9, outside=0.05):
    p = np.full((H, W), outside, np.float32)
    p[mask] = inside
    return ndimage.gaussian_filter(p, 0.7)


def spectra(scar_pre=None, scar_post=None, gain=1.0, haze=0.0, drier=0.0):
    """Forest (NDVI 0.8, visible 500 DN) with bare scars (NDVI 0.15, visible 1300 DN) where given;
    the post date may have another gain, haze and a drier season everywhere."""
    ndvi_pre = np.full((H, W), 0.8, np.float32)
    vis_pre = np.full((H, W), 500.0, np.float32)
    ndvi_post, vis_post = ndvi_pre.copy(), vis_pre.copy()
    if scar_pre is not None:
        ndvi_pre[scar_pre], vis_pre[scar_pre] = 0.15, 1300.0
    if scar_post is not None:
        ndvi_post[scar_post], vis_post[scar_post] = 0.15, 1300.0
    rng = np.random.default_rng(0)
    ndvi_post = ndvi_post - drier + rng.normal(0, 0.02, (H, W)).astype(np.float32)
    vis_post = vis_post * gain + haze + rng.normal(0, 10, (H, W)).astype(np.float32)
    return SpectralPair(ndvi_pre, ndvi_post.astype(np.float32), vis_pre, vis_post.astype(np.float32))


def pair(pre_prob, post_prob, spec, slope_deg=30.0, **kw):
    slope, z = hillside(slope_deg)
    return summarise_pair(pre_prob, post_prob, slope, T10, UTM18S, 0.5, 0.1, elevation_m=z, spectral=spec, **kw)


def test_one_pixel_shift_with_other_radiometry_gives_no_new_object():
    scar = tongue(60, 60)
    shifted = np.roll(scar, (1, 1), axis=(0, 1))
    res = pair(prob_of(scar), prob_of(shifted), spectra(scar, shifted, gain=1.06, haze=40, drier=0.05))
    assert res.change_summary.new_count == 0 and res.change_summary.new_ha == 0
    assert res.change_summary.vanished_ha == 0
    assert (res.change == CHANGE_PERSISTING).sum() >= scar.sum()
    # the naive pixelwise rule would have called the jitter new
    from landslide_core.change import change_classes

    assert (change_classes(res.pre_mask, res.post_mask) == CHANGE_NEW).sum() > 10


def test_a_genuinely_new_landslide_is_found_and_says_why():
    old, new = tongue(40, 30), tongue(60, 85)
    res = pair(prob_of(old), prob_of(old | new), spectra(old, old | new, gain=0.97, haze=30, drier=0.03))
    s = res.change_summary
    assert s.new_count == 1 and s.spectral_evidence
    assert s.new_ha == pytest.approx(new.sum() * 0.01, rel=0.15)
    (f,) = res.new_features
    p = f["properties"]
    assert p["pre_probability_mean"] < 0.1 and p["ndvi_drop"] > 0.5 and p["brightness_rise"] > 0.5
    assert p["slope_deg_mean"] == pytest.approx(30.0) and p["height_above_valley_m"] > 20
    assert "no landslide before" in p["why"] and "vegetation lost" in p["why"]
    assert (res.change[old] == CHANGE_PERSISTING).all()


def test_a_post_detection_without_spectral_change_is_not_new():
    """The model missed an old scar on the pre date; the ground did not change: persisting."""
    scar = tongue(60, 60)
    res = pair(prob_of(scar, inside=0.1), prob_of(scar), spectra(scar, scar))
    assert res.change_summary.new_count == 0
    assert res.change_summary.new_candidates_without_evidence == 1
    assert (res.change[scar & (res.post_mask == 1)] == CHANGE_PERSISTING).all()


def test_a_field_turning_bare_on_flat_ground_is_rejected_by_the_rules():
    field = np.zeros((H, W), bool)
    field[40:62, 30:60] = True  # 6.6 ha, rectangular, ploughed between the dates
    res = pair(prob_of(np.zeros((H, W), bool)), prob_of(field), spectra(None, field), slope_deg=2.0)
    assert res.change_summary.new_count == 0
    assert res.summary["post"]["rejected_by_rule"]["min_slope_deg"] == 1
    # the same field on a slope is still rejected, for its shape
    res = pair(prob_of(np.zeros((H, W), bool)), prob_of(field), spectra(None, field), slope_deg=25.0)
    assert res.change_summary.new_count == 0
    assert res.summary["post"]["rejected_by_rule"]["max_rectangularity"] == 1
    # without the rules, it would have been a "new landslide"
    res = pair(prob_of(np.zeros((H, W), bool)), prob_of(field), spectra(None, field), slope_deg=2.0,
               rules=ObjectRules.off())
    assert res.change_summary.new_count == 1


def test_growth_of_an_old_scar_counts_only_the_new_part():
    old = tongue(50, 60)
    grown = old | np.roll(old, 18, axis=0)
    res = pair(prob_of(old), prob_of(grown), spectra(old, grown))
    assert res.change_summary.new_count == 1
    new = res.change == CHANGE_NEW
    assert not (new & old).any() and new.sum() > 0.5 * (grown & ~old).sum()


def test_a_new_landslide_keeps_its_thin_debris_track_and_lone_slivers_are_dropped():
    """A new scar with a 2 px wide runout track: the track is new with it, not "persisting";
    a 2 px wide sliver on its own (no 3 x 3 core) is not an object of its own."""
    scar = tongue(40, 60)
    track = np.zeros((H, W), bool)
    track[52:90, 60:62] = True  # 38 px long, 2 px wide, attached below the scar
    sliver = np.zeros((H, W), bool)
    sliver[30:70, 100:102] = True  # 0.8 ha but 2 px wide
    post = scar | track | sliver
    res = pair(prob_of(np.zeros((H, W), bool), outside=0.02), prob_of(post, outside=0.02), spectra(None, post))
    new = res.change == CHANGE_NEW
    on_track = track & ~scar & (res.post_mask == 1)
    assert on_track.sum() > 40 and new[on_track].all()
    assert not new[sliver].any()


def test_vanished_needs_regrowth_and_clouds_are_not_assessable():
    scar = tongue(60, 60)
    regrown = summarise_pair(prob_of(scar), prob_of(np.zeros((H, W), bool)), *hillside(30)[:1], T10, UTM18S, 0.5,
                             0.1, elevation_m=hillside(30)[1], spectral=spectra(scar, None))
    assert regrown.change_summary.vanished_count == 1 and (regrown.change == CHANGE_VANISHED).any()
    missed = pair(prob_of(scar), prob_of(np.zeros((H, W), bool)), spectra(scar, scar))
    assert missed.change_summary.vanished_count == 0 and (missed.change[scar] == CHANGE_PERSISTING).all()
    cloudy = prob_of(scar)
    cloudy[:, :50] = np.nan
    res = pair(np.full((H, W), 0.05, np.float32), cloudy, spectra(None, scar))
    assert (res.change[:, :50] == CHANGE_NOT_ASSESSABLE).all()


def test_hysteresis_grows_objects_from_strong_seeds():
    scar = tongue(60, 60)
    post = prob_of(scar, inside=0.4)
    post[58:62, 59:62] = 0.9  # a strong core in a weaker scar
    res = pair(prob_of(np.zeros((H, W), bool)), post, spectra(None, scar))
    assert res.change_summary.new_count == 1 and res.change_summary.new_ha > 0.7 * scar.sum() * 0.01
    no_grow = pair(prob_of(np.zeros((H, W), bool)), post, spectra(None, scar), grow_ratio=1.0)
    assert no_grow.change_summary.new_ha < 0.2 * scar.sum() * 0.01


def test_bad_change_settings_are_refused():
    for bad in ({"tolerance_px": -1}, {"min_ndvi_drop": "x"}, {"ring_px": 1}, {"nope": 1}):
        with pytest.raises(InputError):
            ChangeSettings.from_dict(bad)
    with pytest.raises(InputError):
        pair(prob_of(tongue(60, 60)), prob_of(tongue(60, 60)), None, grow_ratio=0.0)
