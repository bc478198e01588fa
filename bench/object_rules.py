"""How each terrain and shape rule's value was chosen: a sweep on generated patches with truth.

    .venv/bin/python bench/object_rules.py [--model default] [--patches 400] [--seed 3]

Generated Landslide4Sense-layout patches (landslide_core.synthetic: landslide scars, and the
confounders real scenes have: fields, floodplains, gravel rivers, roads, clear-cuts,
settlements) go through a model and the single-date detection with every rule off. Each
detected object is a landslide when most of it is a true scar, else a confounder. For each rule
and each value tried, with the other rules at their defaults, the sweep prints the share of
landslide area and of confounder area it rejects, and the pixel F1 of what is kept. The default
of each rule is the value that maximises F1 with the default model (the one users run),
rounded to a physically sensible number and checked on the real samples (a looser compactness
keeps a real braided river: ``bench/real_samples.py``); the table shows how flat F1 is around
it. The training-free ``index`` model prefers stricter rules (it cannot tell a field from a
scar by itself): ``--model index`` shows it. Last line JSON.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from landslide_core.detection import DetectionOptions  # noqa: E402
from landslide_core.event_scoring import patch_probabilities  # noqa: E402
from landslide_core.objects import ObjectRules, apply_object_rules  # noqa: E402
from landslide_core.postprocess import apply_min_mapping_unit, hysteresis_mask  # noqa: E402
from landslide_core.synthetic import write_l4s_dataset  # noqa: E402

SWEEPS = {
    "min_slope_deg": [None, 5, 8, 10, 12, 15, 18, 20, 25],
    "min_height_above_valley_m": [None, 2, 5, 8, 12, 20],
    "min_relative_height": [None, 0.05, 0.1, 0.15, 0.2, 0.3],
    "max_rectangularity": [None, 0.95, 0.9, 0.85, 0.82, 0.78, 0.72],
    "min_downslope_alignment": [None, 0.2, 0.35, 0.5, 0.7],
    "min_compactness": [None, 0.05, 0.1, 0.15, 0.2, 0.3],
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="default", help="model card or name (default: the default model)")
    p.add_argument("--patches", type=int, default=400)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--threshold", type=float, default=None)
    args = p.parse_args()
    t0 = time.perf_counter()
    from rasterio.transform import from_origin

    transform = from_origin(400000.0, 8750000.0, 10.0, 10.0)
    with tempfile.TemporaryDirectory() as tmp:
        data = write_l4s_dataset(Path(tmp) / "l4s", args.patches, seed=args.seed, landslide_share=0.03)
        probs = patch_probabilities(args.model, data, DetectionOptions(rules=ObjectRules.off()))
    from landslide_core.checkpoint import read_card, resolve_model_path

    threshold = args.threshold if args.threshold is not None else read_card(resolve_model_path(args.model)).threshold
    # the objects before any rule, once
    candidates = [apply_min_mapping_unit(hysteresis_mask(pr, threshold), transform, 0.1) == 1 for pr in probs.prob]
    truth_px = int(sum(t.sum() for t in probs.truth))
    print(f"{len(candidates)} generated patches (seed {args.seed}), model {args.model}, threshold {threshold:.2f}; "
          f"{truth_px} landslide pixels; prepared in {time.perf_counter() - t0:.0f} s")

    def evaluate(rules: ObjectRules) -> dict:
        kept_ls = kept_conf = rej_ls = rej_conf = tp = fp = 0
        for cand, slope, z, truth in zip(candidates, probs.slope_deg, probs.elevation_m, probs.truth):
            ruled = apply_object_rules(cand, slope, z, 10.0, rules)
            lab = ruled.table.labels
            for i, verdict in enumerate(ruled.verdicts):
                obj = lab == i + 1
                area = int(obj.sum())
                is_ls = (obj & truth).sum() >= 0.5 * area
                if verdict is None:
                    kept_ls += area * is_ls
                    kept_conf += area * (not is_ls)
                else:
                    rej_ls += area * is_ls
                    rej_conf += area * (not is_ls)
            kept = ruled.kept
            tp += int((kept & truth).sum())
            fp += int((kept & ~truth).sum())
        fn = truth_px - tp
        f1 = 2 * tp / max(2 * tp + fp + fn, 1)
        return {"f1": round(f1, 4), "landslide_area_rejected": round(rej_ls / max(rej_ls + kept_ls, 1), 4),
                "confounder_area_rejected": round(rej_conf / max(rej_conf + kept_conf, 1), 4)}

    defaults = ObjectRules()
    base = evaluate(defaults)
    off = evaluate(ObjectRules.off())
    print(f"all rules at their defaults: F1 {base['f1']:.3f} (rejects {base['confounder_area_rejected']:.0%} of "
          f"confounder area, {base['landslide_area_rejected']:.0%} of landslide area); all off: F1 {off['f1']:.3f}")
    table = {}
    for name, values in SWEEPS.items():
        print(f"\n{name} (default {getattr(defaults, name)}):")
        print(f"  {'value':>8} | {'F1':>6} | {'confounders rejected':>20} | {'landslides rejected':>19}")
        rows = []
        for v in values:
            r = evaluate(dataclasses.replace(defaults, **{name: v}))
            rows.append({"value": v, **r})
            mark = "  <- default" if v == getattr(defaults, name) else ""
            print(f"  {str(v):>8} | {r['f1']:6.3f} | {r['confounder_area_rejected']:20.1%} | "
                  f"{r['landslide_area_rejected']:19.1%}{mark}")
        best = max(rows, key=lambda r: r["f1"])
        print(f"  best F1 at {best['value']}")
        table[name] = rows
    print(json.dumps({"model": args.model, "patches": len(candidates), "defaults": defaults.to_dict(),
                      "f1_defaults": base["f1"], "f1_rules_off": off["f1"], "sweeps": table}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
