"""Regional batch on Dask: one demo region with 1 worker and with 2 workers (one torch thread each).

Measured in one run, on the same region, model and settings:

- ``single``: the CLI's own pipeline over the whole region in this process (``fetch_pair`` +
  ``detect_pair``, torch on one thread): what one worker would do without tiles;
- ``batch_1w`` / ``batch_2w``: ``run_batch`` on a LocalCluster of 1 and of 2 workers.

Printed: wall times, the speed-up of 2 workers over 1, peak memory per worker (RSS of each
worker process), the share of the tile stages' worker time spent in scheduling and waiting
(workers x stage wall - task seconds), the share of the wall time spent merging, the start-up
of the cluster, and the machine's load average before and after each run (the machine is
shared: a speed-up measured under load is lower than on an idle machine). First, what two
processes get out of this machine at once (``machine_scaling.py``: the model's forward pass and
numpy's elementwise arithmetic, alone and two at once): the ceiling of any 2-worker speed-up. The demo world is
rendered and cached first; each run starts from a cache holding only that world (hard links),
so every run cuts its own tiles. Each batch runs in a fresh Python process (as the command
would), so each pays for its own cluster start (the workers' forkserver and its imports): the
second run does not inherit the first one's. Ends with one JSON line.

    .venv/bin/python bench/batch.py [--km 8x6] [--tile-km 2.5] [--window 256] [--model default]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from machine_load import load

os.environ.setdefault("OMP_NUM_THREADS", "1")

PRE = ("2021-01-01", "2021-01-31")
POST = ("2021-04-01", "2021-04-30")
TILE_STAGES = ("fetch", "shift", "predict", "change")


def region_box(km_w: float, km_h: float, lon: float = -75.42, lat: float = -11.32) -> dict:
    """A lon/lat box of about ``km_w`` x ``km_h`` km with its south-west corner at (lon, lat)."""
    import math

    dlat = km_h / 110.574
    dlon = km_w / (111.320 * math.cos(math.radians(lat + dlat / 2)))
    ring = [[lon, lat], [lon + dlon, lat], [lon + dlon, lat + dlat], [lon, lat + dlat], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def fresh_cache(world_cache: Path, cache: Path) -> None:
    """A scene cache holding only the rendered world (hard links, instant), for one run."""
    import shutil

    shutil.copytree(world_cache, cache, copy_function=os.link, dirs_exist_ok=False,
                    ignore=shutil.ignore_patterns(".locks", ".pins", ".tmp-*"))
    os.environ["LANDSLIDE_CACHE_DIR"] = str(cache)


def run_single(region: dict, out: Path, model: str, options) -> dict:
    import torch

    from landslide_core.detection import detect_pair
    from landslide_core.sources import AnalysisRequest, DateWindow
    from landslide_core.sources.demo import DemoSource
    from landslide_core.sources.pair import fetch_pair

    torch.set_num_threads(1)
    before = load()
    t0 = time.perf_counter()
    request = AnalysisRequest(region, DateWindow.parse(*PRE), DateWindow.parse(*POST))
    fetch_pair(request, DemoSource(), out / "scenes")
    summary = detect_pair(out / "scenes" / "pre.tif", out / "scenes" / "post.tif", out / "result", model, options)
    wall = time.perf_counter() - t0
    return {"wall_s": round(wall, 2), "load_before": before, "load_after": load(),
            "new_count": summary["change"]["new_count"]}


def run_batch_with(region: dict, out: Path, model: str, options, tile_km: float, workers: int) -> dict:
    from landslide_core.batch import BatchSettings, run_batch
    from landslide_core.batch.cluster import quiet_dask_logs
    from landslide_core.sources import DateWindow

    quiet_dask_logs()
    before = load()
    t0 = time.perf_counter()
    s = run_batch(BatchSettings(region, DateWindow.parse(*PRE), DateWindow.parse(*POST), out, model=model,
                                options=options, tile_km=tile_km, workers=workers))
    wall = time.perf_counter() - t0
    t = s["timings_s"]
    tile_wall = sum(t.get(k, 0.0) for k in TILE_STAGES)
    task = sum(s["task_seconds"].get(k, 0.0) for k in TILE_STAGES)
    per_worker = sorted((w["peak_rss_mb"] for w in s["workers"]["per_process"].values()), reverse=True)
    work_bytes = sum(f.stat().st_size for f in (out / "work").rglob("*") if f.is_file())
    return {"wall_s": round(wall, 2), "load_before": before, "load_after": load(),
            "tiles": s["tiles"]["total"], "failed": s["tiles"]["failed"], "new_count": s["totals"]["new_count"],
            "stages_s": {k: t.get(k) for k in ("cluster_start", "prepare", *TILE_STAGES, "merge")},
            "tile_stages_wall_s": round(tile_wall, 2), "task_seconds": round(task, 2),
            "scheduling_share": round(max(workers * tile_wall - task, 0.0) / max(workers * tile_wall, 1e-9), 3),
            "merge_share": round(t.get("merge", 0.0) / wall, 3),
            "cluster_share": round(t.get("cluster_start", 0.0) / wall, 3),
            "model_share": round(s["task_seconds"].get("model", 0.0) / max(task, 1e-9), 3),
            "task_seconds_per_stage": {k: s["task_seconds"].get(k, 0.0) for k in (*TILE_STAGES, "model")},
            "work_dir_mb": round(work_bytes / 1e6, 1), "peak_rss_mb_per_worker": per_worker}


def run_batch_in_child(region: dict, out: Path, model: str, window: int, tile_km: float, workers: int,
                       cache: Path) -> dict:
    """:func:`run_batch_with` in a fresh Python process (its own cluster, forkserver and imports)."""
    import subprocess

    spec = json.dumps({"region": region, "out": str(out), "model": model, "window": window, "tile_km": tile_km,
                       "workers": workers})
    import landslide_core  # the child imports the same copy of the project as this process

    project = str(Path(landslide_core.__file__).resolve().parent.parent)
    env = dict(os.environ, LANDSLIDE_CACHE_DIR=str(cache),
               PYTHONPATH=os.pathsep.join(p for p in (project, os.environ.get("PYTHONPATH", "")) if p))
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", spec], env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the batch with {workers} worker(s) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def child(spec: str) -> int:
    from landslide_core.detection import DetectionOptions

    a = json.loads(spec)
    options = DetectionOptions(window_px=a["window"], overlap_px=32, batch_size=1)
    print(json.dumps(run_batch_with(a["region"], Path(a["out"]), a["model"], options, a["tile_km"], a["workers"])))
    return 0


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        return child(sys.argv[2])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--km", default="8x6", help="region size in km, WxH (default 8x6)")
    ap.add_argument("--tile-km", type=float, default=2.5)
    ap.add_argument("--window", type=int, default=256)
    ap.add_argument("--model", default="default")
    ap.add_argument("--keep", action="store_true", help="keep the output folders")
    args = ap.parse_args()
    from landslide_core.detection import DetectionOptions

    km_w, km_h = (float(v) for v in args.km.lower().split("x"))
    region = region_box(km_w, km_h)
    options = DetectionOptions(window_px=args.window, overlap_px=32, batch_size=1)
    root = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    os.environ["LANDSLIDE_CACHE_DIR"] = str(root / "world_cache")
    from landslide_core.sources import AnalysisRequest, DateWindow
    from landslide_core.sources.demo import DemoSource

    t0 = time.perf_counter()
    DemoSource(world=region).prepare(AnalysisRequest(region, DateWindow.parse(*PRE), DateWindow.parse(*POST)))
    world_s = time.perf_counter() - t0
    grid = AnalysisRequest(region, DateWindow.parse(*PRE), DateWindow.parse(*POST)).grid()
    print(f"region {km_w:g} x {km_h:g} km ({grid.width} x {grid.height} px), tiles {args.tile_km:g} km, "
          f"window {args.window} px, model {args.model}; demo world rendered and cached in {world_s:.1f} s; "
          f"{os.cpu_count()} CPUs")
    from machine_scaling import describe, two_process_scaling

    ceiling = two_process_scaling()
    print(f"this machine now, two processes at once against one (the ceiling of any 2-worker speed-up): "
          f"{describe(ceiling)}")
    fresh_cache(root / "world_cache", root / "cache_single")
    single = run_single(region, root / "single", args.model, options)
    print(f"single process       : {single['wall_s']:7.1f} s  (load {single['load_before']} -> {single['load_after']})")
    fresh_cache(root / "world_cache", root / "cache_1")
    one = run_batch_in_child(region, root / "b1", args.model, args.window, args.tile_km, 1, root / "cache_1")
    print(f"batch, 1 worker      : {one['wall_s']:7.1f} s  (load {one['load_before']} -> {one['load_after']})  "
          f"{one['tiles']} tiles, peak RSS {one['peak_rss_mb_per_worker']} MB")
    fresh_cache(root / "world_cache", root / "cache_2")
    two = run_batch_in_child(region, root / "b2", args.model, args.window, args.tile_km, 2, root / "cache_2")
    print(f"batch, 2 workers     : {two['wall_s']:7.1f} s  (load {two['load_before']} -> {two['load_after']})  "
          f"peak RSS per worker {two['peak_rss_mb_per_worker']} MB")
    speedup = one["wall_s"] / two["wall_s"]
    tile_speedup = one["tile_stages_wall_s"] / max(two["tile_stages_wall_s"], 1e-9)
    print(f"speed-up 2 workers / 1 worker: {speedup:.2f} (whole run), {tile_speedup:.2f} (tile stages); "
          f"2 workers / single process: {single['wall_s'] / two['wall_s']:.2f}")
    for name, r in (("1 worker", one), ("2 workers", two)):
        print(f"{name:>9}: stages {r['stages_s']}; scheduling+waiting {100 * r['scheduling_share']:.1f} % of "
              f"worker time in tile stages; merging {100 * r['merge_share']:.1f} %, cluster start "
              f"{100 * r['cluster_share']:.1f} % of the wall time; the model {100 * r['model_share']:.0f} % of the "
              f"task seconds; work folder {r['work_dir_mb']} MB")
    km2 = km_w * km_h
    print(f"per km2 (1 worker): {one['task_seconds'] / km2:.3f} worker-seconds in tile stages, "
          f"work folder {one['work_dir_mb'] / km2:.2f} MB")
    same = one["new_count"] == two["new_count"] == single["new_count"]
    print(f"new landslides: single {single['new_count']}, 1 worker {one['new_count']}, 2 workers {two['new_count']}"
          f" ({'the same' if same else 'DIFFERENT'})")
    if not args.keep:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps({"bench": "batch", "region_km": [km_w, km_h], "px": [grid.width, grid.height],
                      "tile_km": args.tile_km, "window_px": args.window, "model": args.model,
                      "world_render_s": round(world_s, 2), "single": single, "batch_1_worker": one,
                      "batch_2_workers": two, "speedup_2_over_1": round(speedup, 3),
                      "speedup_tile_stages": round(tile_speedup, 3),
                      "speedup_2_over_single": round(single["wall_s"] / two["wall_s"], 3), "same_result": same,
                      "machine_two_process_scaling": ceiling}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
