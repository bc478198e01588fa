"""Min-max input scaling (the thesis's normalisation): statistics of the training split only, kept in
the model card, and applied identically by training, evaluation and inference, in any process."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from landslide_core.bands import ALL_BANDS, BandScaling, minmax_scaling, to_model_input
from landslide_core.checkpoint import ModelCard, load_checkpoint, read_card, write_card
from landslide_core.errors import InputError, ModelError
from landslide_core.predictor import Predictor, PredictorConfig
from landslide_core.training import TrainConfig, train
from landslide_core.training.dataset import BatchLoader, discover, load_patches
from landslide_core.training.toydata import write_toy_l4s

from conftest import make_raw_scene

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def minmax_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("minmax")
    data = write_toy_l4s(tmp / "data", 6, seed=3, size=64)
    config = TrainConfig(data_dir=str(data), epochs=1, batch_size=3, arch_kwargs={"base_channels": 4},
                         device="cpu", workers=0, scaling="minmax")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LANDSLIDE_LOCK_DIR", str(tmp / "locks"))
        summary = train(config, tmp / "run")
    return data, summary


def test_the_card_holds_the_training_splits_min_and_max(minmax_run):
    data, summary = minmax_run
    card = read_card(summary.best_checkpoint)
    assert card.scaling == "minmax" and "min and max of the training split" in card.normalisation
    split = json.loads((summary.run_dir / "split.json").read_text())
    train_imgs = []
    for name in split["train"]:
        with h5py.File(data / "img" / f"{name}.h5") as f:
            train_imgs.append(np.asarray(f["img"][()], np.float32))
    stack = np.stack(train_imgs)  # (n, H, W, 14), L4S units
    assert card.scaling_stats["bands"] == list(ALL_BANDS)
    np.testing.assert_allclose(card.scaling_stats["min"], stack.min(axis=(0, 1, 2)), rtol=1e-6)
    np.testing.assert_allclose(card.scaling_stats["max"], stack.max(axis=(0, 1, 2)), rtol=1e-6)
    # validation patches did not enter the statistics
    with h5py.File(data / "img" / f"{split['val'][0]}.h5") as f:
        val = np.asarray(f["img"][()], np.float32)
    assert not np.allclose(val.min(axis=(0, 1)), stack.min(axis=(0, 1, 2)))
    # the card round-trips: the same numbers come back
    again = ModelCard.from_dict(json.loads(json.dumps(card.to_dict())))
    assert again.input_scaling() == card.input_scaling()


def test_training_batches_and_inference_scale_alike(minmax_run):
    data, summary = minmax_run
    _, card = load_checkpoint(summary.best_checkpoint)
    scaling = card.input_scaling()
    layout = discover(data)
    patches = load_patches(data, layout.subsets["all"], "l4s14")
    batch = next(iter(BatchLoader(patches, np.arange(2), 2, shuffle=False, augment=False, workers=0,
                                  scaling=scaling)))
    from landslide_core.bands import to_raw

    for i in range(2):
        raw_i = to_raw(np.asarray(patches.x[i]), ALL_BANDS)
        x, _ = to_model_input(raw_i, ALL_BANDS, ALL_BANDS, scaling=scaling)
        np.testing.assert_allclose(batch.x[i].numpy(), x, rtol=1e-5, atol=1e-5)
    # the training split spans 0..1 per band
    split = json.loads((summary.run_dir / "split.json").read_text())
    x_train = scaling.apply(np.asarray(patches.x[patches.subset(split["train"])]), patches.bands)
    np.testing.assert_allclose(x_train.min(axis=(0, 2, 3)), 0.0, atol=1e-6)
    np.testing.assert_allclose(x_train.max(axis=(0, 2, 3)), 1.0, atol=1e-5)


_FRESH = """
import sys, numpy as np
from landslide_core.checkpoint import load_checkpoint
from landslide_core.predictor import Predictor, PredictorConfig
model, card = load_checkpoint(sys.argv[1])
stack, valid = np.load(sys.argv[2]), np.load(sys.argv[3])
prob = Predictor(model, card, PredictorConfig(window_px=64, overlap_px=8, device="cpu")).predict_array(stack, valid)
np.save(sys.argv[4], prob)
"""


def test_inference_in_a_fresh_process_is_identical(minmax_run, tmp_path):
    _, summary = minmax_run
    scene = make_raw_scene(72, 90, seed=5, with_slope=True)
    valid = scene.valid.copy()
    valid[:4, :6] = False
    np.save(tmp_path / "stack.npy", scene.data)
    np.save(tmp_path / "valid.npy", valid)
    model, card = load_checkpoint(summary.best_checkpoint)
    here = Predictor(model, card, PredictorConfig(window_px=64, overlap_px=8, device="cpu")).predict_array(
        scene.data, valid)
    env = {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", _FRESH, str(summary.best_checkpoint), str(tmp_path / "stack.npy"),
                    str(tmp_path / "valid.npy"), str(tmp_path / "fresh.npy")], check=True, env=env, timeout=300)
    fresh = np.load(tmp_path / "fresh.npy")
    np.testing.assert_array_equal(np.isnan(here), np.isnan(fresh))
    np.testing.assert_array_equal(here[np.isfinite(here)], fresh[np.isfinite(fresh)])
    # the scaling is really applied: the same weights read as "l4s" predict otherwise
    plain = ModelCard.from_dict({**card.to_dict(), "scaling": "l4s", "scaling_stats": {}})
    other = Predictor(model, plain, PredictorConfig(window_px=64, overlap_px=8, device="cpu")).predict_array(
        scene.data, valid)
    assert not np.allclose(np.nan_to_num(other), np.nan_to_num(here))


@pytest.mark.parametrize("stats, message", [
    ({}, "scaling_stats.min is not a list of 14"),
    ({"min": [0.0] * 14, "max": [1.0] * 13}, "scaling_stats.max is not a list of 14"),
    ({"min": [0.0] * 14, "max": [0.0] * 14}, "max is not above its min"),
    ({"min": [0.0] * 14, "max": [float("inf")] * 14}, "not finite"),
    ("nope", "not a JSON object"),
])
def test_cards_with_unusable_minmax_statistics_are_refused(tmp_path, stats, message):
    card = ModelCard("m", "unet_vanilla", "l4s14", list(ALL_BANDS), scaling="minmax", scaling_stats=stats)
    path = write_card(card, tmp_path / "m.json")
    with pytest.raises(ModelError, match=message):
        read_card(path)
    with pytest.raises(ModelError, match="unknown scaling"):
        ModelCard.from_dict({**card.to_dict(), "scaling": "zscore", "scaling_stats": {}})


def test_scaling_settings_are_checked():
    with pytest.raises(InputError, match="Unknown scaling"):
        TrainConfig(data_dir="x", scaling="zscore").validate()
    with pytest.raises(InputError, match="band ratios"):
        TrainConfig(data_dir="x", arch="unet_vanilla_indices", scaling="minmax").validate()
    assert TrainConfig().scaling == "l4s"  # the default stays Landslide4Sense units
    x = np.stack([np.full((2, 3, 3), 5.0, np.float32), np.arange(18, dtype=np.float32).reshape(2, 3, 3)], axis=1)
    s = minmax_scaling(x, ("B2", "B3"))
    assert s.minimum == (5.0, 0.0) and s.maximum == (6.0, 17.0)  # a constant band gets a span of 1
    with pytest.raises(InputError, match="not B3, B2"):
        s.apply(x[0], ("B3", "B2"))
    assert BandScaling().apply(x, ("B2", "B3")) is x
