"""Scores of the shipped default model and of the training-free baseline, measured now on the same data.

    .venv/bin/python bench/default_model.py [--model default] [--baseline index] [--test-patches 300]
                                            [--event-size 1024]

Both go through the same generated data (landslide_core.event_scoring.generated_scores):
(1) held-out patches (seed 2, never trained on): F1 at the pixel threshold and through the
single-date detection (hysteresis, minimum mapping unit, terrain and shape rules);
(2) new landslides on whole generated pre/post events at another place (Ancash) WITH the
nuisances of real pairs (sub-pixel misregistration up to 1.5 px, per-band gain and offset,
another sun, haze and cirrus, crops greening, harvested or ploughed between the dates), clouds
and confounders; (3) pairs with no new landslide: the new-landslide area as a share of the post
date's landslide area. Prints the card's figures beside the measured ones; last line JSON.
Acceptance (issue 9): held-out patch F1 >= 0.85 and whole-event new-landslide F1 >= 0.85, and the
trained model beats the baseline.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from landslide_core.checkpoint import read_card, resolve_model_path  # noqa: E402
from landslide_core.event_scoring import generated_scores  # noqa: E402

ROWS = (("held-out patches, pixel threshold", "held_out_patches"),
        ("held-out patches, through detection", "held_out_patches_detected"),
        ("whole events, new landslides", "whole_events_new_landslides"))


def _fmt(v) -> str:
    return f"{v:.3f}" if isinstance(v, (int, float)) else "n/a"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="default")
    p.add_argument("--baseline", default="index")
    p.add_argument("--test-patches", type=int, default=300)
    p.add_argument("--event-size", type=int, default=1024)
    args = p.parse_args()
    results = {}
    for name in (args.model, args.baseline):
        path = resolve_model_path(name)
        with tempfile.TemporaryDirectory() as tmp:
            results[name] = generated_scores(path, tmp, args.test_patches, args.event_size)
        card = read_card(path)
        print(f"\n{name}: {card.architecture} ({card.band_set}), threshold {card.threshold}")
        for label, key in ROWS:
            m, c = results[name][key], card.metrics.get(key, {})
            print(f"  {label:38s} F1 {m['f1']:.3f}  P {m['precision']:.3f}  R {m['recall']:.3f}   "
                  f"(card: {_fmt(c.get('f1'))})")
        q = results[name]["no_change_events"]
        print(f"  {'pairs with no new landslide':38s} new {q['new_ha']:.2f} ha = {q['new_share']:.1%} of "
              f"{q['post_landslide_ha']:.1f} ha of landslides ({q['new_objects']} objects)")
    m, b = results[args.model], results[args.baseline]
    patch_f1 = m["held_out_patches"]["f1"]
    event_f1 = m["whole_events_new_landslides"]["f1"]
    beats = (m["held_out_patches_detected"]["f1"] > b["held_out_patches_detected"]["f1"]
             and event_f1 > b["whole_events_new_landslides"]["f1"])
    print(f"\ntargets: patch F1 {patch_f1:.3f} >= 0.85: {patch_f1 >= 0.85}; whole-event new F1 {event_f1:.3f} >= 0.85: "
          f"{event_f1 >= 0.85}; beats the baseline through detection and on events: {beats}")
    print(json.dumps({"patch_f1": round(patch_f1, 4), "patch_detected_f1": round(m["held_out_patches_detected"]["f1"], 4),
                      "event_new_f1": round(event_f1, 4), "no_change_new_share": m["no_change_events"]["new_share"],
                      "baseline": {"patch_f1": round(b["held_out_patches"]["f1"], 4),
                                   "patch_detected_f1": round(b["held_out_patches_detected"]["f1"], 4),
                                   "event_new_f1": round(b["whole_events_new_landslides"]["f1"], 4),
                                   "no_change_new_share": b["no_change_events"]["new_share"]},
                      "patch_ok": patch_f1 >= 0.85, "event_ok": event_f1 >= 0.85, "beats_baseline": beats}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
