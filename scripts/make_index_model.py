"""Write the training-free spectral-index detector as a model (models/index.*) and score it.

    .venv/bin/python scripts/make_index_model.py [--event-size 1024] [--test-patches 300] [--no-scores]

The detector (landslide_core.spectral_index) has nothing to learn: its "weights" are its
thresholds, saved as safetensors so it loads like any model. Its card says what it is and
what it scored, measured here on the same generated data as the default model
(bench/default_model.py): held-out patches (pixel threshold, and through detection with
objects and rules) and whole generated events with the nuisances of real pairs.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from landslide_core import checkpoint  # noqa: E402
from landslide_core.bands import ALL_BANDS  # noqa: E402
from landslide_core.spectral_index import DEFAULTS  # noqa: E402
from landslide_core.zoo import build_model  # noqa: E402

NOTES = ("Training-free reference detector, in the manner of HazMapper: a pixel is landslide-like when it is "
         "bare (NDVI below ndvi_max), brighter than vegetation in the red (B4 above red_min_dn), on a slope "
         "(above slope_min_deg), not water (NDWI below ndwi_max, or a bright near infrared) and not thick cloud "
         "(B1 below aerosol_max_dn); "
         "the logit is the weakest of these margins. Objects then pass the same terrain and shape rules as any "
         "model, and a pair's change needs the relative NDVI drop against the surroundings. It is the "
         "baseline the trained model must beat, and a fallback where no trained model fits a region. It "
         "also flags bare ground that is not a landslide (fresh road cuts, quarries, bare fields on slopes).")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models-dir", default=str(checkpoint.MODELS_DIR))
    p.add_argument("--event-size", type=int, default=1024)
    p.add_argument("--test-patches", type=int, default=300)
    p.add_argument("--no-scores", action="store_true", help="write the model without measuring it")
    args = p.parse_args()
    model = build_model("spectral_index", len(ALL_BANDS))
    card = checkpoint.ModelCard(
        name="index", architecture="spectral_index", band_set="l4s14", bands=list(ALL_BANDS), threshold=0.5,
        arch_kwargs={}, trained_on="Nothing: a fixed spectral rule (no training). Thresholds: "
        + ", ".join(f"{k} {v:g}" for k, v in DEFAULTS.items()) + ".",
        notes=NOTES)
    out = checkpoint.save_checkpoint(model, card, Path(args.models_dir) / "index")
    if not args.no_scores:
        from landslide_core.event_scoring import generated_scores

        with tempfile.TemporaryDirectory() as tmp:
            card.metrics = generated_scores(out, tmp, args.test_patches, args.event_size)
        checkpoint.write_card(card, out)
        for name, m in card.metrics.items():
            print(name, {k: v for k, v in m.items() if k != "data"}, flush=True)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
