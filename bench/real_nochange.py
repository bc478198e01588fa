"""New landslides on real pairs with no change: each real sample against itself on "another date".

    .venv/bin/python bench/real_nochange.py [--model MODEL] [--samples DIR] [--seed 0]

Each of the six real Landslide4Sense samples (../shared/data/l4s_real_samples) is the post
date; the pre date is the same imagery with another date's radiometry (per-band gain of a few
per cent, haze growing toward the blue, slightly drier vegetation, sensor noise) and a
one-pixel shift of the optical bands (bench/real_common.py). Nothing changed on the ground, so
every "new landslide" is a false alarm. Both go through ``python -m landslide_core detect
--pre --post``. Printed per sample and pooled: the new-landslide area as a share of the post
date's landslide area, and the number of new objects; beside it, the naive pixelwise
difference of the two masks (what change was before per-object decisions). Last line JSON:
``{"new_share": ..., "new_objects": ...}``. Target: new_share <= 0.02 pooled.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio

from real_common import another_date, bench_arguments, read_sample_raw, run_detect, write_raw_scene

from landslide_core.change import CHANGE_NEW, change_classes  # noqa: E402
from landslide_core.postprocess import pixel_area_ha  # noqa: E402


def main() -> int:
    args, files = bench_arguments(__doc__, seed=(int, 0, "seed of the other date's radiometry"))
    rng = np.random.default_rng(args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, f in enumerate(files):
            raw = read_sample_raw(f)
            shift = [(1, 0), (0, 1), (-1, 0), (0, -1), (1, 1), (-1, 1)][k % 6]
            post = write_raw_scene(raw, Path(tmp) / f"{f.stem}_post.tif")
            pre = write_raw_scene(another_date(raw, rng, shift), Path(tmp) / f"{f.stem}_pre.tif")
            out = Path(tmp) / f"{f.stem}_result"
            cmd = ["--pre", str(pre), "--post", str(post), "--out", str(out)]
            if args.model:
                cmd += ["--model", args.model]
            s = run_detect(cmd)
            with rasterio.open(out / "pre" / "mask.tif") as a, rasterio.open(out / "post" / "mask.tif") as b:
                naive = change_classes(a.read(1), b.read(1))
                naive_new_ha = float((naive == CHANGE_NEW).sum() * pixel_area_ha(b.transform))
            c = s["change"]
            row = {"sample": f.name, "post_landslide_ha": s["post"]["landslide_ha"], "new_ha": c["new_ha"],
                   "new_objects": c["new_count"], "naive_new_ha": round(naive_new_ha, 3),
                   "shift_px": s.get("coregistration") and [s["coregistration"]["rows_px"],
                                                            s["coregistration"]["cols_px"]],
                   "shift_applied": bool(s.get("coregistration") and s["coregistration"]["applied"]),
                   "true_shift_px": list(shift)}
            rows.append(row)
            share = row["new_ha"] / row["post_landslide_ha"] if row["post_landslide_ha"] else 0.0
            naive_share = naive_new_ha / row["post_landslide_ha"] if row["post_landslide_ha"] else 0.0
            print(f"{f.name}: post landslides {row['post_landslide_ha']:.2f} ha; new {row['new_ha']:.2f} ha "
                  f"({share:.1%}) in {row['new_objects']} objects; naive pixelwise new {naive_new_ha:.2f} ha "
                  f"({naive_share:.1%}); shift estimated {row['shift_px']} (true {shift}, applied "
                  f"{row['shift_applied']})", flush=True)
    post_ha = sum(r["post_landslide_ha"] for r in rows)
    new_ha = sum(r["new_ha"] for r in rows)
    naive_ha = sum(r["naive_new_ha"] for r in rows)
    new_share = new_ha / post_ha if post_ha else 0.0
    naive_share = naive_ha / post_ha if post_ha else 0.0
    new_objects = sum(r["new_objects"] for r in rows)
    print(f"pooled: post landslides {post_ha:.2f} ha, new {new_ha:.2f} ha = {new_share:.2%} of it "
          f"({new_objects} objects); naive pixelwise {naive_ha:.2f} ha = {naive_share:.2%}; target <= 2 %")
    print(json.dumps({"new_share": round(new_share, 4), "new_objects": new_objects,
                      "naive_new_share": round(naive_share, 4), "post_landslide_ha": round(post_ha, 3),
                      "samples": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
