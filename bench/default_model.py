"""Scores of the shipped default model, measured now (not read from its card).

    .venv/bin/python bench/default_model.py [--test-patches 400] [--event-size 1024]

(1) F1 on held-out generated patches (seed 2, never trained on), (2) F1 of new landslides on
whole generated pre/post events of other seeds at another place, with clouds and confounders
(the same data as in the card). Prints the card's figures beside the measured ones; last line JSON.
Acceptance: patch F1 >= 0.80 and whole-event F1 >= 0.70.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from landslide_core import checkpoint  # noqa: E402
from landslide_core.event_scoring import score_events  # noqa: E402
from landslide_core.synthetic import write_l4s_dataset  # noqa: E402
from landslide_core.training.evaluate import evaluate, format_table  # noqa: E402

sys.path.insert(0, str(ROOT / "scripts"))
from train_default_model import EVENT_PLACE, EVENT_SEEDS  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(checkpoint.default_model_path()))
    p.add_argument("--test-patches", type=int, default=300)
    p.add_argument("--event-size", type=int, default=1024)
    args = p.parse_args()
    card = checkpoint.read_card(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        test_dir = write_l4s_dataset(Path(tmp) / "test", args.test_patches, seed=2, landslide_share=0.02)
        held_out = evaluate(args.model, test_dir)
    print(format_table([held_out]))
    events = score_events(args.model, EVENT_SEEDS, *EVENT_PLACE, size_px=args.event_size)
    card_patch = card.metrics.get("held_out_patches", {}).get("f1")
    card_event = card.metrics.get("whole_events_new_landslides", {}).get("f1")
    print(f"model: {args.model} ({card.architecture}, {card.band_set}); trained on: {card.trained_on}")
    print(f"held-out patches  F1 {held_out.f1:.3f}  P {held_out.precision:.3f}  R {held_out.recall:.3f}"
          f"   (card: {card_patch})   target >= 0.80")
    print(f"whole events, new F1 {events.counts.f1:.3f}  P {events.counts.precision:.3f}  R {events.counts.recall:.3f}"
          f"  not assessable {events.not_assessable_share:.1%}   (card: {card_event})   target >= 0.70")
    print(json.dumps({"patch_f1": round(held_out.f1, 4), "event_new_f1": round(events.counts.f1, 4),
                      "patch_ok": held_out.f1 >= 0.80, "event_ok": events.counts.f1 >= 0.70}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
