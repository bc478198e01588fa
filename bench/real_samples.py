"""What the default model says on the real Landslide4Sense samples in ../shared (no masks).

    .venv/bin/python bench/real_samples.py [--model models/default.json]

The samples have no labels, so this is not a score: it prints, per patch, the share of pixels
the model calls landslide and its mean probability, to show the gap between the synthetic
training world and real imagery (the samples show forest, rivers, gravel bars, farmland,
villages and a few small bare scars). Last line JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from landslide_core.bands import ALL_BANDS, to_raw  # noqa: E402
from landslide_core.checkpoint import default_model_path, load_checkpoint  # noqa: E402
from landslide_core.predictor import Predictor, PredictorConfig  # noqa: E402

SAMPLES = ROOT.parent / "shared" / "data" / "l4s_real_samples"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(default_model_path()))
    p.add_argument("--samples", default=str(SAMPLES))
    args = p.parse_args()
    files = sorted(Path(args.samples).glob("*.h5"))
    if not files:
        print(f"error: no .h5 samples in {args.samples} (they live in ../shared/data, beside the project)",
              file=sys.stderr)
        return 2
    model, card = load_checkpoint(args.model)
    predictor = Predictor(model, card, PredictorConfig())
    rows = {}
    for f in files:
        with h5py.File(f, "r") as h:
            l4s = np.moveaxis(np.asarray(h["img"], dtype=np.float32), -1, 0)
        raw = to_raw(l4s, ALL_BANDS)  # the predictor takes raw units, as a scene GeoTIFF would
        prob = predictor.predict_array(raw, np.isfinite(raw).all(axis=0))
        share = float((prob >= card.threshold).mean())
        rows[f.name] = {"landslide_share": round(share, 4), "mean_probability": round(float(np.nanmean(prob)), 4)}
        print(f"{f.name}: {share:6.1%} of pixels called landslide, mean probability {np.nanmean(prob):.3f}")
    print(json.dumps({"model": card.name, "patches": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
