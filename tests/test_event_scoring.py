"""Scoring change maps against generated ground truth, and the default model finding new landslides."""
from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio

from landslide_core.checkpoint import default_model_path, read_card
from landslide_core.cli import main
from landslide_core.event_scoring import score_change
from landslide_core.grid import grid_centered
from landslide_core.synthetic import generate_event, write_event


def test_score_change_counts_new_class_on_assessable_pixels_only():
    change = np.array([[1, 1, 0, 255, 2, 3]], np.uint8)
    truth = np.array([[1, 0, 1, 1, 1, 0]], bool)
    score = score_change(change, truth)
    # NEW where truth: 1 tp; NEW where not: 1 fp; truth but not NEW (stable, persisting): 2 fn;
    # the pixel not assessable counts nowhere.
    assert (score.counts.tp, score.counts.fp, score.counts.fn) == (1, 1, 2)
    assert score.not_assessable_share == pytest.approx(1 / 6)
    assert score.counts.f1 == pytest.approx(2 / (2 + 1 + 2))
    both = score.add(score)
    assert both.counts.tp == 2 and both.events == 2


def test_default_model_card_says_synthetic_and_gives_metrics():
    card = read_card(default_model_path())
    assert "synthetic" in card.trained_on.lower()
    assert card.metrics["held_out_patches"]["f1"] > 0
    assert card.metrics["whole_events_new_landslides"]["f1"] > 0
    assert card.notes  # why this architecture


def test_cli_detect_pair_finds_the_new_landslides_of_a_generated_event(tmp_path, capsys):
    """Another place and seed than the training data; no clouds so every pixel counts."""
    grid = grid_centered(-76.1, -10.2, 384, 384)
    event = generate_event(grid, seed=4242, clouds=False, n_new_landslides=8)
    paths = write_event(event, tmp_path / "event")
    out = tmp_path / "result"
    rc = main(["detect", "--pre", str(paths["pre"]), "--post", str(paths["post"]), "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    with rasterio.open(out / "change.tif") as ds:
        change = ds.read(1)
    score = score_change(change, event.new_landslides)
    assert event.new_landslides.sum() > 0
    assert score.counts.f1 > 0.5, score.to_dict()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["change"]["new_count"] >= 1
    features = json.loads((out / "change.geojson").read_text())["features"]
    assert len(features) == summary["change"]["new_count"]
