"""The thesis loss and the landslide metrics against hand computations."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from landslide_core.training.losses import LossSums, WceDiceLoss, dice_loss, wce_loss
from landslide_core.training.metrics import PixelCounts, pixel_counts


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_wce_weights_positive_pixels_only():
    # two pixels: a landslide predicted 0.8 and a background predicted 0.3
    logits = torch.tensor([_logit(0.8), _logit(0.3)])
    target = torch.tensor([1.0, 0.0])
    hand = -(5 * math.log(0.8) + math.log(1 - 0.3)) / 2
    assert float(wce_loss(logits, target, beta=5.0)) == pytest.approx(hand, rel=1e-6)
    # beta scales only the positive term: background-only input does not change with beta
    bg = torch.tensor([0.0, 0.0])
    assert float(wce_loss(logits, bg, beta=5.0)) == pytest.approx(float(wce_loss(logits, bg, beta=1.0)))
    # and a landslide-only input scales exactly by beta
    fg = torch.tensor([1.0, 1.0])
    assert float(wce_loss(logits, fg, beta=5.0)) == pytest.approx(5 * float(wce_loss(logits, fg, beta=1.0)))


def test_dice_is_soft_on_probabilities():
    logits = torch.tensor([_logit(0.8), _logit(0.3), _logit(0.6)])
    target = torch.tensor([1.0, 0.0, 1.0])
    inter = 0.8 + 0.6
    hand = 1 - 2 * inter / ((0.8 + 0.3 + 0.6) + 2)
    assert float(dice_loss(logits, target)) == pytest.approx(hand, abs=1e-5)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 0.25, 1.0])
def test_alpha_mixes_as_written(alpha):
    torch.manual_seed(0)
    logits = torch.randn(2, 1, 8, 8)
    target = (torch.rand(2, 1, 8, 8) > 0.7).float()
    parts = WceDiceLoss(alpha=alpha, beta=5.0).parts(logits, target)
    assert float(parts.total) == pytest.approx((1 - alpha) * float(parts.wce) + alpha * float(parts.dice), rel=1e-6)
    assert float(parts.wce) == pytest.approx(float(wce_loss(logits, target, 5.0)))


def test_extreme_logits_stay_finite_and_gradients_flow():
    logits = torch.tensor([[[[100.0, -100.0]]]], requires_grad=True)
    target = torch.tensor([[[[0.0, 1.0]]]])
    loss = WceDiceLoss(0.5, 5.0)(logits, target)
    loss.backward()
    assert math.isfinite(float(loss.detach())) and torch.isfinite(logits.grad).all()
    # WCE of two totally wrong pixels is about (100 + 5 * 100) / 2
    assert float(wce_loss(logits.detach(), target, 5.0)) == pytest.approx(300.0, rel=1e-3)


def test_sums_over_batches_equal_the_loss_of_the_whole_set():
    torch.manual_seed(1)
    logits = torch.randn(6, 1, 8, 8)
    target = (torch.rand(6, 1, 8, 8) > 0.6).float()
    fn = WceDiceLoss(0.5, 5.0)
    sums = LossSums()
    for i in range(0, 6, 4):
        sums.add(fn.sums(logits[i:i + 4], target[i:i + 4]))
    total, wce, dice = sums.parts(0.5)
    whole = fn.parts(logits, target)
    assert wce == pytest.approx(float(whole.wce), rel=1e-5)
    assert dice == pytest.approx(float(whole.dice), rel=1e-5)
    assert total == pytest.approx(float(whole.total), rel=1e-5)


def test_pixel_counts_and_scores():
    prob = np.array([0.9, 0.6, 0.4, 0.2, 0.7, 0.1])
    truth = np.array([1, 0, 1, 0, 1, 0])
    logits = torch.tensor(np.log(prob / (1 - prob)))
    c = pixel_counts(logits, torch.tensor(truth, dtype=torch.float32))
    assert (c.tp, c.fp, c.fn, c.tn) == (2, 1, 1, 2)
    assert c.precision == pytest.approx(2 / 3)
    assert c.recall == pytest.approx(2 / 3)
    assert c.f1 == pytest.approx(2 / 3)
    assert c.iou == pytest.approx(0.5)


def test_counts_are_summed_not_averaged():
    a, b = PixelCounts(tp=1, fp=0, fn=0, tn=10), PixelCounts(tp=0, fp=9, fn=10, tn=0)
    a.add(b)
    assert a.f1 == pytest.approx(2 / (2 + 9 + 10))  # the per-batch mean would be (1 + 0) / 2
    assert PixelCounts().f1 == 0.0


def test_radiometric_jitter_changes_spectra_not_terrain_and_is_reproducible():
    import numpy as np

    from landslide_core.bands import ALL_BANDS
    from landslide_core.training.augment import radiometric_jitter

    x = np.ones((4, len(ALL_BANDS), 8, 8), np.float32)
    a = radiometric_jitter(x, ALL_BANDS, np.random.default_rng(1))
    b = radiometric_jitter(x, ALL_BANDS, np.random.default_rng(1))
    assert np.array_equal(a, b) and not np.array_equal(a, x)
    terrain = [ALL_BANDS.index("slope"), ALL_BANDS.index("elevation")]
    assert np.array_equal(a[:, terrain], x[:, terrain])
    # on black ground only the haze shows: it lifts the blue more than the near infrared (in DN)
    from landslide_core.bands import scale_vector

    dark = radiometric_jitter(np.zeros_like(x), ALL_BANDS, np.random.default_rng(2))
    dn = dark * scale_vector(ALL_BANDS)[None, :, None, None]
    assert (dn[:, ALL_BANDS.index("B2")] >= 5.8 * dn[:, ALL_BANDS.index("B8")]).all()
    assert np.array_equal(radiometric_jitter(x, ALL_BANDS, np.random.default_rng(1), 0.0), x)
