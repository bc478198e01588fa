"""What a model says on the six real Landslide4Sense samples in ../shared (no masks).

    .venv/bin/python bench/real_samples.py [--model MODEL] [--samples DIR]

Each sample is written as a scene GeoTIFF and goes through ``python -m landslide_core detect
--image`` (probability, hysteresis, minimum mapping unit, terrain and shape rules), as a user's
scene would. The samples have no labels, so this is not a score: per sample it prints the
share of pixels flagged as landslide, how much of that lies on ground flatter than 8 degrees
(real landslides rarely do: mostly fields, floodplains, riverbeds), the objects the rules
turned down, and the share the model's probability alone (threshold, no objects, no rules)
would flag. Last line JSON.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio

from real_common import bench_arguments, read_sample_raw, run_detect, write_raw_scene

FLAT_DEG = 8.0
DEFAULT_PICTURE = Path(__file__).resolve().parent / "out" / "real_samples.png"


def save_picture(path: Path, shown: list) -> None:
    """True colour and B11/B8/B4 of each sample with the kept (red) and rejected (cyan) objects."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(2, len(shown), figsize=(3.2 * len(shown), 6.6), squeeze=False)
    for j, (name, raw, mask, rejected) in enumerate(shown):
        rgb = np.clip((raw[[3, 2, 1]].transpose(1, 2, 0) - 250.0) / 1100.0, 0, 1) ** 0.9
        fc = np.clip(raw[[10, 7, 3]].transpose(1, 2, 0) / np.array([3000.0, 4000.0, 1500.0]), 0, 1)
        for a, img in ((ax[0, j], rgb), (ax[1, j], fc)):
            a.imshow(img)
            if mask.any():
                a.contour(mask, [0.5], colors="red", linewidths=0.8)
            if rejected.any():
                a.contour(rejected, [0.5], colors="cyan", linewidths=0.8)
            a.set_xticks([])
            a.set_yticks([])
        ax[0, j].set_title(f"{name}: red kept, cyan rejected", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    ignore = path.parent / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# pictures of the benches: not part of the project\n*\n")
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main() -> int:
    args, files = bench_arguments(__doc__, picture=(str, str(DEFAULT_PICTURE), "where to save the picture"))
    rows, shown = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for f in files:
            raw = read_sample_raw(f)
            scene = write_raw_scene(raw, Path(tmp) / f"{f.stem}.tif")
            out = Path(tmp) / f.stem
            cmd = ["--image", str(scene), "--out", str(out)] + (["--model", args.model] if args.model else [])
            s = run_detect(cmd)
            with rasterio.open(out / "mask.tif") as ds:
                mask = ds.read(1) == 1
            with rasterio.open(out / "probability.tif") as ds:
                prob = ds.read(1)
            rejected = np.zeros(mask.shape, bool)
            rej_doc = json.loads((out / "rejected.geojson").read_text())
            if rej_doc["features"]:
                from rasterio.features import rasterize
                from rasterio.warp import transform_geom

                with rasterio.open(out / "mask.tif") as ds:
                    geoms = [transform_geom("EPSG:4326", ds.crs, f["geometry"]) for f in rej_doc["features"]]
                    rejected = rasterize(geoms, out_shape=mask.shape, transform=ds.transform).astype(bool)
            shown.append((f.stem, raw, mask, rejected))
            slope = raw[12]
            flagged = float(mask.mean())
            flat = float((mask & (slope < FLAT_DEG)).sum() / max(mask.sum(), 1))
            raw_share = float(np.nanmean(prob >= s["threshold"]))
            rows[f.name] = {"flagged_share": round(flagged, 4), "flat_share_of_flagged": round(flat, 4),
                            "objects": s["landslide_count"], "rejected_by_rule": s["rejected_by_rule"],
                            "probability_only_share": round(raw_share, 4)}
            rej = ", ".join(f"{k} {v}" for k, v in s["rejected_by_rule"].items() if v) or "none"
            print(f"{f.name}: {flagged:6.1%} flagged in {s['landslide_count']} objects, {flat:5.1%} of it on ground "
                  f"< {FLAT_DEG:g} deg; rejected: {rej}; probability alone {raw_share:6.1%}", flush=True)
    save_picture(Path(args.picture), shown)
    print(f"picture: {args.picture}")
    pooled = float(np.mean([r["flagged_share"] for r in rows.values()]))
    print(f"mean flagged share {pooled:.2%} (the real Landslide4Sense set averages about 2 % landslide pixels)")
    print(json.dumps({"model": args.model or "default", "mean_flagged_share": round(pooled, 4), "patches": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
