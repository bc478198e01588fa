"""How much a detection on real imagery moves when the same ground is seen through haze.

Each real sample of ``../shared/data/l4s_real_samples`` is detected as it is, then with added
haze (1 and 2 x the clear-sky path radiance, so most in the blue) and, in the second case, cirrus
in B10 (+120 DN). Nothing on the ground changed, so a detector that reads the ground and not
the air flags the same pixels: printed per sample are the flagged share and the IoU with the
clear-sky mask, then the pooled IoU (pixels of all samples together). Last line JSON.

    .venv/bin/python bench/real_haze.py [--model NAME|CARD]
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio

from real_common import HAZE_DN, bench_arguments, read_sample_raw, run_detect, write_raw_scene

#: (name, haze x clear-sky path radiance, B10 cirrus DN)
CASES = (("haze 1x", 1.0, 0.0), ("haze 2x + cirrus", 2.0, 120.0))


def hazy(raw: np.ndarray, haze: float, cirrus_dn: float) -> np.ndarray:
    out = raw.copy()
    out[:12] += (haze * HAZE_DN)[:, None, None]
    out[9] += cirrus_dn
    np.clip(out[:12], 0.0, 10000.0, out=out[:12])
    return out


def main() -> int:
    args, files = bench_arguments(__doc__)
    inter = {c[0]: 0 for c in CASES}
    union = {c[0]: 0 for c in CASES}
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for f in files:
            raw = read_sample_raw(f)
            masks = {}
            for name, haze, cirrus in (("clear", 0.0, 0.0),) + CASES:
                scene = write_raw_scene(hazy(raw, haze, cirrus), Path(tmp) / f"{f.stem}_{haze}.tif")
                out = Path(tmp) / f"{f.stem}_{haze}"
                run_detect(["--image", str(scene), "--out", str(out)] + (["--model", args.model] if args.model else []))
                with rasterio.open(out / "mask.tif") as ds:
                    masks[name] = ds.read(1) == 1
            clear = masks["clear"]
            row = {"clear_share": round(float(clear.mean()), 4)}
            text = [f"clear {clear.mean():6.2%}"]
            for name, _, _ in CASES:
                i, u = int((clear & masks[name]).sum()), int((clear | masks[name]).sum())
                inter[name] += i
                union[name] += u
                row[name] = {"share": round(float(masks[name].mean()), 4), "iou": round(i / u, 3) if u else None}
                text.append(f"{name} {masks[name].mean():6.2%} (IoU {i / u:.2f})" if u else f"{name} nothing")
            rows[f.name] = row
            print(f"{f.name}: " + "; ".join(text), flush=True)
    pooled = {name: round(inter[name] / union[name], 3) if union[name] else None for name in inter}
    print("pooled IoU with the clear-sky mask: " + ", ".join(f"{k} {v}" for k, v in pooled.items()))
    print(json.dumps({"model": args.model or "default", "pooled_iou": pooled, "samples": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
