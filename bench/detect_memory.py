"""Benchmark: peak memory of `detect` on a 4096 x 4096, 14-band scene read from disk.

Writes the scene into a temporary folder strip by strip (so this script stays small), runs
``python -m landslide_core detect --image SCENE --out DIR --model MODEL`` in a subprocess,
and reports the child's peak resident memory (acceptance: below 1.5 GB). The last line is
one JSON object: {"peak_rss_mb": ..., ...}.

    .venv/bin/python bench/detect_memory.py [--size 4096] [--model models/default.json]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from landslide_core.bands import ALL_BANDS, L4S_SCALE, slope_horn_deg  # noqa: E402
from landslide_core.grid import grid_centered  # noqa: E402
from landslide_core.scene import scene_profile  # noqa: E402

STRIP = 256
LIMIT_MB = 1500.0
#: Runs `python -m landslide_core ARGS` and reports its own peak RSS (VmHWM: since exec, so
#: this script's memory, which getrusage(RUSAGE_CHILDREN) would inherit through fork, is
#: not counted).
CHILD = """
import runpy, sys
sys.argv = ["landslide_core"] + sys.argv[1:]
try:
    runpy.run_module("landslide_core", run_name="__main__", alter_sys=True)
finally:
    with open("/proc/self/status") as fh:
        sys.stderr.write("\\n" + "".join(line for line in fh if line.startswith("VmHWM")))
"""


def child_peak_mb(stderr: str) -> float:
    for line in stderr.splitlines()[::-1]:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("the child did not report its peak memory:\n" + stderr[-2000:])


def elevation_m(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """A closed-form relief (m) so any strip can be made on its own: ridges, valleys, a trend."""
    y, x = rows[:, None].astype(np.float64), cols[None, :].astype(np.float64)
    return (2500 + 400 * np.sin(x / 180.0) * np.cos(y / 230.0) + 120 * np.sin((x + 2 * y) / 47.0)
            + 30 * np.cos((3 * x - y) / 13.0) + 0.2 * y)


def write_textured_scene(path: Path, size: int, px_m: float = 10.0) -> None:
    """A 14-band scene GeoTIFF (B1..B12, slope, elevation, valid) written strip by strip, with a cloud."""
    import rasterio
    from rasterio.windows import Window

    grid = grid_centered(-76.5, -11.9, size, size, px_m)
    profile = scene_profile(size, size, len(ALL_BANDS) + 1, grid.transform, grid.crs)
    cols = np.arange(size)
    rng = np.random.default_rng(0)
    with rasterio.open(path, "w", **profile) as ds:
        for y0 in range(0, size, STRIP):
            h = min(STRIP, size - y0)
            halo = np.arange(max(y0 - 1, 0), min(y0 + h + 1, size))
            dem_halo = elevation_m(halo, cols)
            slope = slope_horn_deg(dem_halo, px_m, px_m)[(1 if y0 > 0 else 0):][:h]
            dem = dem_halo[(1 if y0 > 0 else 0):][:h]
            yy = np.arange(y0, y0 + h)[:, None]
            tex = np.sin(cols[None, :] / 9.0) * np.cos(yy / 7.0) + 0.3 * np.sin((cols[None, :] + yy) / 31.0)
            for k, name in enumerate(ALL_BANDS):
                if name == "slope":
                    band = slope
                elif name == "elevation":
                    band = dem
                else:
                    band = L4S_SCALE[k] * (1 + 0.25 * tex + 0.05 * rng.standard_normal((h, size)))
                ds.write(band.astype(np.float32), k + 1, window=Window(0, y0, size, h))
            cloud = ((cols[None, :] - size * 0.3) ** 2 + (yy - size * 0.6) ** 2) < (size * 0.08) ** 2
            ds.write((~cloud).astype(np.float32), len(ALL_BANDS) + 1, window=Window(0, y0, size, h))
        for k, name in enumerate(list(ALL_BANDS) + ["valid"]):
            ds.set_band_description(k + 1, name)


def random_checkpoint(folder: Path) -> Path:
    import torch

    from landslide_core.checkpoint import ModelCard, save_checkpoint
    from landslide_core.zoo import build_model

    torch.manual_seed(0)
    model = build_model("unet_vanilla", len(ALL_BANDS), base_channels=16)
    card = ModelCard(name="random-unet16", architecture="unet_vanilla", band_set="l4s14", bands=list(ALL_BANDS),
                     arch_kwargs={"base_channels": 16}, notes="randomly initialised, for benchmarks only")
    return save_checkpoint(model, card, folder / "random-unet16")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--model", default=None, help="model card .json (default: models/default.json if present)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="detect-memory-"))
    try:
        t0 = time.perf_counter()
        scene = tmp / "scene.tif"
        write_textured_scene(scene, args.size)
        print(f"scene: {args.size} x {args.size} px, 14 bands + valid, {scene.stat().st_size / 1e6:.0f} MB on disk "
              f"(written in {time.perf_counter() - t0:.1f} s)")
        model = Path(args.model) if args.model else ROOT / "models" / "default.json"
        if not model.exists():
            model = random_checkpoint(tmp)
            print("model: NO trained default model: a RANDOMLY INITIALISED unet_vanilla (base_channels=16, "
                  "l4s14) stands in")
        else:
            print(f"model: {model}")
        argv = ["detect", "--image", str(scene), "--out", str(tmp / "out"), "--model", str(model)]
        print("running: python -m landslide_core", " ".join(argv))
        t1 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", CHILD, *argv], cwd=ROOT, capture_output=True, text=True,
                              env=dict(os.environ))
        seconds = time.perf_counter() - t1
        peak_mb = child_peak_mb(proc.stderr)
        print(proc.stdout.strip())
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
        print(f"detect exit code {proc.returncode}, {seconds:.1f} s, peak RSS {peak_mb:.0f} MB "
              f"(limit {LIMIT_MB:.0f} MB): {'OK' if peak_mb < LIMIT_MB and proc.returncode == 0 else 'FAIL'}")
        print(json.dumps({"peak_rss_mb": round(peak_mb, 1), "seconds": round(seconds, 1), "size_px": args.size,
                          "exit_code": proc.returncode}))
        return 0 if proc.returncode == 0 else 1
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
