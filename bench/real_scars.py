"""Recall on real ground: fresh scars pasted into the six real samples in ../shared, found or not.

    .venv/bin/python bench/real_scars.py [--model MODEL] [--samples DIR]

The real samples have no masks, so their recall cannot be measured as such. Here each sample
gets one scar of known extent: an ellipse of 30 x 10 px (about 0.24 ha) placed where the
ground is steepest, its long axis along the fall line (as a landslide runs), in one of three
colours of fresh ground (Sentinel-2 L1C top-of-atmosphere values, x 10^4, with 5 % pixel
noise): white rock, grey-brown soil and red-brown soil. The same scar is also pasted across
the slope (along the contour: the shape of a road cut or a terrace, not of a landslide). Each
goes through ``python -m landslide_core detect --image`` as a user's scene would. Printed per
sample and colour: the share of the scar's pixels detected and the model's mean probability
inside it; pooled: the recall of the downslope scars and of the cross-slope ones. Last line
JSON: ``{"recall_downslope": ..., "recall_across": ..., "per_colour": {...}}``.

This is a physics check of what the model has learnt, not a score: the scars are pasted, with
sharp edges and no debris track, on ground that may already be bare.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import rasterio

from real_common import bench_arguments, read_sample_raw, run_detect, write_raw_scene

#: B1..B12 of fresh ground (top-of-atmosphere reflectance x 10^4)
COLOURS: dict[str, list[float]] = {
    "white rock": [2800, 3000, 3300, 3600, 3700, 3700, 3700, 3800, 3700, 30, 4200, 3600],
    "grey-brown soil": [1300, 1200, 1300, 1500, 1700, 1850, 1950, 2000, 2000, 20, 2700, 2300],
    "red-brown soil": [1100, 900, 1000, 1400, 1700, 1900, 2000, 2100, 2100, 20, 2900, 2400],
}
LENGTH_PX, WIDTH_PX = 30, 10


def scar_masks(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The downslope ellipse where the mean slope is highest, the same ellipse turned across
    the slope at that place, and that mean slope (degrees)."""
    h, w = raw.shape[1:]
    yy, xx = np.mgrid[0:h, 0:w]
    slope, elevation = raw[12], raw[13]
    gy, gx = np.gradient(elevation)
    half = LENGTH_PX // 2 + 2
    best = (-1.0, None, None)
    for cy in range(half, h - half, 8):
        for cx in range(half, w - half, 8):
            angle = np.arctan2(gy[cy - 3:cy + 4, cx - 3:cx + 4].mean(), gx[cy - 3:cy + 4, cx - 3:cx + 4].mean())
            along = (yy - cy) * np.sin(angle) + (xx - cx) * np.cos(angle)
            across = -(yy - cy) * np.cos(angle) + (xx - cx) * np.sin(angle)
            down = (along / (LENGTH_PX / 2)) ** 2 + (across / (WIDTH_PX / 2)) ** 2 <= 1
            mean = float(np.nanmean(slope[down]))
            if mean > best[0]:
                turned = (across / (LENGTH_PX / 2)) ** 2 + (along / (WIDTH_PX / 2)) ** 2 <= 1
                best = (mean, down, turned)
    return best[1], best[2], best[0]


def pasted(raw: np.ndarray, mask: np.ndarray, colour: list[float], seed: int) -> np.ndarray:
    out = raw.copy()
    rng = np.random.default_rng(seed)
    for b, value in enumerate(colour):
        out[b][mask] = value * (1.0 + 0.05 * rng.standard_normal(int(mask.sum())))
    return out


def found(scene: Path, out: Path, model: str | None, mask: np.ndarray) -> tuple[float, float]:
    """(share of the scar detected, mean probability inside it)."""
    run_detect(["--image", str(scene), "--out", str(out)] + (["--model", model] if model else []))
    with rasterio.open(out / "mask.tif") as ds:
        detected = ds.read(1) == 1
    with rasterio.open(out / "probability.tif") as ds:
        prob = ds.read(1)
    return float(detected[mask].mean()), float(np.nanmean(prob[mask]))


def main() -> int:
    args, files = bench_arguments(__doc__)
    hits = {"downslope": [], "across": []}
    per_colour: dict[str, list[float]] = {name: [] for name in COLOURS}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for f in files:
            raw = read_sample_raw(f)
            down, turned, slope = scar_masks(raw)
            row = []
            for k, (name, colour) in enumerate(COLOURS.items()):
                key = name.replace(" ", "_")
                recall, prob = found(write_raw_scene(pasted(raw, down, colour, k), tmp / f"{f.stem}_{key}_d.tif"),
                                     tmp / f"{f.stem}_{key}_d", args.model, down)
                across, _ = found(write_raw_scene(pasted(raw, turned, colour, k), tmp / f"{f.stem}_{key}_a.tif"),
                                  tmp / f"{f.stem}_{key}_a", args.model, turned)
                hits["downslope"].append(recall)
                hits["across"].append(across)
                per_colour[name].append(recall)
                row.append(f"{name} {recall:4.2f} (p {prob:4.2f}; across {across:4.2f})")
            print(f"{f.name} (scar on {slope:.0f} deg): " + " | ".join(row), flush=True)
    result = {"model": args.model or "default",
              "recall_downslope": round(float(np.mean(hits["downslope"])), 3),
              "recall_across": round(float(np.mean(hits["across"])), 3),
              "per_colour": {k: round(float(np.mean(v)), 3) for k, v in per_colour.items()}}
    print(f"pooled: downslope scars {result['recall_downslope']:.2f} of their pixels found, "
          f"the same scars across the slope {result['recall_across']:.2f}; per colour {result['per_colour']}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
