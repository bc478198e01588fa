"""Checkpoints: safetensors + JSON card round trip, and every refusal with a clear message."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from landslide_core.bands import ALL_BANDS, BAND_SETS
from landslide_core.checkpoint import (ModelCard, card_and_weights_paths, check_bands, list_models,
                                       load_checkpoint, read_card, save_checkpoint)
from landslide_core.errors import ModelError
from landslide_core.zoo import build_model


def _saved(tmp_path, band_set="l4s14", name="tiny"):
    torch.manual_seed(0)
    bands = list(BAND_SETS[band_set])
    model = build_model("unet_vanilla", len(bands), base_channels=4).eval()
    card = ModelCard(name=name, architecture="unet_vanilla", band_set=band_set, bands=bands,
                     arch_kwargs={"base_channels": 4}, threshold=0.42, trained_on="unit test",
                     metrics={"f1": 0.5})
    path = save_checkpoint(model, card, tmp_path / name)
    return model, path


def test_round_trip_gives_the_same_model_and_card(tmp_path):
    model, path = _saved(tmp_path)
    assert path.suffix == ".json" and path.with_suffix(".safetensors").exists()
    loaded, card = load_checkpoint(path)
    assert card.threshold == 0.42 and card.band_set == "l4s14" and card.bands == list(ALL_BANDS)
    assert card.trained_on == "unit test" and card.metrics == {"f1": 0.5}
    assert len(card.weights_sha256) == 64
    x = torch.randn(1, 14, 32, 32)
    with torch.inference_mode():
        np.testing.assert_array_equal(model(x).numpy(), loaded(x).numpy())
    assert not loaded.training
    # either file's path, or the stem, finds the checkpoint
    for p in (path.with_suffix(".safetensors"), path.with_suffix("")):
        assert load_checkpoint(p)[1].name == "tiny"
    assert [c.name for c in list_models(tmp_path)] == ["tiny"]


def test_weights_file_is_not_a_pickle(tmp_path):
    _, path = _saved(tmp_path)
    head = path.with_suffix(".safetensors").read_bytes()[:16]
    assert not head.startswith(b"\x80")  # pickle protocol marker
    n = int.from_bytes(head[:8], "little")
    json.loads(path.with_suffix(".safetensors").read_bytes()[8:8 + n])  # safetensors JSON header


def test_missing_bands_are_named(tmp_path):
    _, path = _saved(tmp_path)
    card = read_card(path)
    with pytest.raises(ModelError) as err:
        check_bands(card, BAND_SETS["thesis6"])
    for band in ("B1", "B5", "B6", "B7", "B9", "B10", "B11", "B12"):
        assert band in str(err.value)
    check_bands(card, ALL_BANDS)  # complete input passes
    _, path6 = _saved(tmp_path, "thesis6", "six")
    check_bands(read_card(path6), BAND_SETS["thesis6"])


def test_missing_model_refused(tmp_path):
    with pytest.raises(ModelError, match="No model card"):
        load_checkpoint(tmp_path / "nothing.json")


def test_missing_weights_refused(tmp_path):
    _, path = _saved(tmp_path)
    path.with_suffix(".safetensors").unlink()
    with pytest.raises(ModelError, match="missing"):
        load_checkpoint(path)


def test_garbage_card_refused(tmp_path):
    _, path = _saved(tmp_path)
    path.write_bytes(b"\x00\x01 not json at all")
    with pytest.raises(ModelError, match="not readable JSON"):
        load_checkpoint(path)
    path.write_text(json.dumps({"name": "x"}))
    with pytest.raises(ModelError, match="lacks"):
        load_checkpoint(path)
    path.write_text(json.dumps({"name": "x", "architecture": "transformer9000", "band_set": "l4s14",
                                "bands": list(ALL_BANDS)}))
    with pytest.raises(ModelError, match="unknown architecture"):
        load_checkpoint(path)


def test_garbage_weights_refused_even_with_a_matching_hash(tmp_path):
    from landslide_core.checkpoint import sha256_file

    _, path = _saved(tmp_path)
    card_path, weights = card_and_weights_paths(path)
    weights.write_bytes(b"garbage" * 100)
    card = json.loads(card_path.read_text())
    card["weights_sha256"] = sha256_file(weights)
    card_path.write_text(json.dumps(card))
    with pytest.raises(ModelError, match="not a valid safetensors"):
        load_checkpoint(path)


def test_tampered_weights_refused(tmp_path):
    _, path = _saved(tmp_path)
    weights = path.with_suffix(".safetensors")
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0xFF  # flip bits inside a tensor
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="SHA-256"):
        load_checkpoint(path)


def test_weights_of_another_architecture_refused(tmp_path):
    _, path = _saved(tmp_path)
    card = json.loads(path.read_text())
    card["arch_kwargs"] = {"base_channels": 8}  # the weights were saved for 4
    path.write_text(json.dumps(card))
    with pytest.raises(ModelError, match="do not fit"):
        load_checkpoint(path)
