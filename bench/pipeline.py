"""Benchmark: a cold 400 km2 demo analysis, time per stage, peak memory, and cancel latency per stage.

    PYTHONPATH=. .venv/bin/python bench/pipeline.py [--side-km 20] [--model models/default.json] [--runs 3]
        [--no-cancel]

1. Cold analysis (``--runs`` times, 3 by default, each in a fresh child process with an empty
   scene cache and results folder; the median run is shown, with the range: the machine is
   shared and one run varies by a second): the demo
   source over a --side-km square (20 km: 400 km2, the AOI limit; 2000 x 2000 px), the model,
   the change and the display images, exactly as the dashboard's "Run analysis" does
   (``analysis.run_analysis``). Printed: wall and CPU time of each pipeline stage as the
   pipeline reports them (fetch pre, fetch post, detect pre, detect post, change) and of the
   steps inside (generating the demo world, writing scenes, aligning the dates, the model,
   objects and polygons, change, exports, display images), and the child's peak RSS. Steps run
   side by side (the post date beside the alignment and the pre date, the display beside the
   detection), so their times overlap.
2. Cancel latency (another child): for each step, a fresh analysis is cancelled
   ``CANCEL_AFTER_S`` after the step starts; printed: the time from ``CancelToken.cancel()``
   to ``run_analysis`` raising ``Cancelled`` (target 1 s), and that nothing was published.

The machine may be shared: every figure comes with the process CPU time and the load average.
The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

import landslide_core  # noqa: E402,F401  (sets the OpenMP wait policy before torch loads)
from machine_load import load  # noqa: E402

TARGET_TOTAL_S = 12.0
TARGET_CANCEL_S = 1.0
CANCEL_AFTER_S = 0.3
#: step name -> (module, attribute) wrapped to time it (and to cancel inside it)
STEPS: dict[str, tuple[str, str]] = {
    "generate demo world": ("landslide_core.synthetic", "generate_event"),
    "write scene": ("landslide_core.sources.cache", "write_scene"),
    "align dates": ("landslide_core.detection", "align_pair"),
    "model (sliding windows)": ("landslide_core.predictor", "Predictor.predict_file"),
    "read terrain and spectra": ("landslide_core.detection", "read_terrain"),
    "objects (per date)": ("landslide_core.detection", "landslide_mask"),
    "polygons (per date)": ("landslide_core.detection", "polygons_from_mask"),
    "change (summarise_pair)": ("landslide_core.detection", "summarise_pair"),
    "exports (COG, evidence)": ("landslide_core.exports", "write_cog"),
    "display images": ("landslide_core.display", "build_display"),
}
EXTRA_TIMED = {"read terrain and spectra": [("landslide_core.detection", "read_spectral_pair")],
               "exports (COG, evidence)": [("landslide_core.exports", "cog_from_geotiff"),
                                           ("landslide_core.detection", "write_evidence")]}


def request_for(side_km: float):
    from landslide_core.grid import square_aoi_km
    from landslide_core.sources.request import AnalysisRequest, DateWindow

    d = dt.date
    return AnalysisRequest(square_aoi_km(side_km), DateWindow(d(2022, 1, 1), d(2022, 2, 28)),
                           DateWindow(d(2022, 4, 1), d(2022, 5, 31)), cloud_limit_pct=30.0)


class Hooks:
    """Wraps each step's function: times it (wall, CPU) and signals when it starts."""

    def __init__(self):
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.started: dict[str, threading.Event] = {}
        self._depth = threading.local()

    def install(self) -> None:
        import importlib

        for step, targets in ((s, [t] + EXTRA_TIMED.get(s, [])) for s, t in STEPS.items()):
            self.started[step] = threading.Event()
            for module_name, attr in targets:
                module = importlib.import_module(module_name)
                owner, name = module, attr
                if "." in attr:
                    cls, name = attr.split(".")
                    owner = getattr(module, cls)
                setattr(owner, name, self._wrap(step, getattr(owner, name)))

    def _wrap(self, step: str, fn):
        hooks = self

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            hooks.started[step].set()
            outer = not getattr(hooks._depth, step, 0)
            setattr(hooks._depth, step, getattr(hooks._depth, step, 0) + 1)
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                setattr(hooks._depth, step, getattr(hooks._depth, step) - 1)
                if outer:
                    hooks.wall[step] = hooks.wall.get(step, 0.0) + time.perf_counter() - t0
                    hooks.cpu[step] = hooks.cpu.get(step, 0.0) + time.process_time() - c0
        return timed


def child_cold(args) -> dict:
    """One cold analysis with stage and step timings (run in its own process)."""
    from landslide_core.analysis import run_analysis
    from landslide_core.sources.cache import SceneCache
    from landslide_core.sources.demo import DemoSource

    hooks = Hooks()
    hooks.install()
    work = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    stages: dict[str, list[float]] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    marks: list[tuple[str, float, float]] = []

    def progress(done, total, stage):
        if stage not in stages:
            stages[stage] = []
            marks.append((stage, time.perf_counter() - t0, time.process_time() - c0))

    result = run_analysis(request_for(args.side_km), DemoSource(cache=SceneCache(work / "scenes")), args.model,
                          results_root=work / "results", progress=progress)
    total_wall, total_cpu = time.perf_counter() - t0, time.process_time() - c0
    marks.append(("end", total_wall, total_cpu))
    stage_rows = [{"stage": s, "wall_s": round(marks[i + 1][1] - w, 3), "cpu_s": round(marks[i + 1][2] - c, 3)}
                  for i, (s, w, c) in enumerate(marks[:-1])]
    with __import__("rasterio").open(result.probability_tif("post")) as ds:
        grid = [ds.width, ds.height]
    published = result.folder.is_dir()
    __import__("shutil").rmtree(work, ignore_errors=True)
    return {"total_wall_s": round(total_wall, 3), "total_cpu_s": round(total_cpu, 3), "stages": stage_rows,
            "steps": {k: {"wall_s": round(v, 3), "cpu_s": round(hooks.cpu[k], 3)} for k, v in hooks.wall.items()},
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), "grid": grid,
            "load": load(), "published": published}


def child_cancel(args) -> dict:
    """Cancel a fresh analysis inside each step; the time until it stops."""
    from landslide_core.analysis import run_analysis
    from landslide_core.errors import Cancelled
    from landslide_core.progress import CancelToken
    from landslide_core.sources.cache import SceneCache
    from landslide_core.sources.demo import DemoSource

    hooks = Hooks()
    hooks.install()
    work = Path(tempfile.mkdtemp(prefix="bench-cancel-"))
    shared = SceneCache(work / "scenes")  # filled by the first run that gets past the fetch
    rows = []
    for i, step in enumerate(STEPS):
        for ev in hooks.started.values():
            ev.clear()
        fresh = step in ("generate demo world", "write scene")
        cache = SceneCache(work / f"scenes-{i}") if fresh else shared
        token = CancelToken()
        outcome: dict = {}

        def work_fn():
            try:
                run_analysis(request_for(args.side_km), DemoSource(cache=cache), args.model,
                             results_root=work / f"results-{i}", cancel=token)
                outcome["end"] = "finished"
            except Cancelled:
                outcome["end"] = "cancelled"
            except Exception as exc:  # noqa: BLE001
                outcome["end"] = f"error: {exc}"
            outcome["t"] = time.perf_counter()

        runner = threading.Thread(target=work_fn, daemon=True)
        runner.start()
        if not hooks.started[step].wait(600):
            rows.append({"step": step, "latency_s": None, "end": "step never started"})
            continue
        time.sleep(CANCEL_AFTER_S)
        t_cancel = time.perf_counter()
        token.cancel()
        runner.join(120)
        latency = outcome.get("t", time.perf_counter()) - t_cancel
        published = any((work / f"results-{i}").glob("*/done.json"))
        rows.append({"step": step, "latency_s": round(latency, 3), "end": outcome.get("end", "still running"),
                     "published": published, "load": load()})
        print(f"  {step:28s} cancelled after {CANCEL_AFTER_S:g} s: stopped {latency:5.2f} s later "
              f"({rows[-1]['end']}; anything published: {published}); load {load():.1f}", file=sys.stderr)
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    return {"cancel": rows}


def run_child(kind: str, args) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--side-km", str(args.side_km), "--model", str(args.model)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    sys.stderr.write(out.stderr[-4000:] if out.returncode else out.stderr)
    if out.returncode:
        raise SystemExit(f"the {kind} run failed ({out.returncode})")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side-km", type=float, default=20.0)
    ap.add_argument("--model", default=None, help="model card .json (default: models/default.json)")
    ap.add_argument("--no-cancel", action="store_true", help="skip the cancel latencies")
    ap.add_argument("--runs", type=int, default=3, help="cold runs, each in a fresh process (the median is shown)")
    ap.add_argument("--child", choices=("cold", "cancel"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.model is None:
        from landslide_core.checkpoint import default_model_path

        args.model = str(default_model_path())
    if args.child:
        import logging
        import warnings

        warnings.filterwarnings("ignore")
        logging.disable(logging.WARNING)
        print(json.dumps(child_cold(args) if args.child == "cold" else child_cancel(args)))
        return 0

    print(f"cold analysis of a {args.side_km:g} km square (demo source, model {args.model}); load {load():.1f} "
          f"on {os.cpu_count()} CPUs")
    colds = []
    for i in range(args.runs):
        colds.append(run_child("cold", args))
        print(f"  cold run {i + 1}: {colds[-1]['total_wall_s']:.2f} s wall, {colds[-1]['total_cpu_s']:.2f} s CPU, "
              f"peak RSS {colds[-1]['peak_rss_mb']:.0f} MB, load {colds[-1]['load']:.1f}")
    cold = sorted(colds, key=lambda c: c["total_wall_s"])[len(colds) // 2]  # the median run
    walls = [c["total_wall_s"] for c in colds]
    print(f"grid {cold['grid'][0]} x {cold['grid'][1]} px; total {cold['total_wall_s']:.2f} s wall (the median of "
          f"{len(colds)} cold runs, {min(walls):.2f}-{max(walls):.2f} s), {cold['total_cpu_s']:.2f} s CPU "
          f"(target {TARGET_TOTAL_S:g} s); peak RSS {max(c['peak_rss_mb'] for c in colds):.0f} MB (the highest); "
          f"load {cold['load']:.1f}")
    for row in cold["stages"]:
        print(f"  stage {row['stage']:22s} {row['wall_s']:6.2f} s wall {row['cpu_s']:6.2f} s CPU")
    print("  (the post date is detected beside the alignment and the pre date; its stage is reported "
          "once the pre date's is done)")
    for step, row in sorted(cold["steps"].items(), key=lambda kv: -kv[1]["wall_s"]):
        print(f"  step  {step:28s} {row['wall_s']:6.2f} s wall {row['cpu_s']:6.2f} s CPU")
    print("  (steps run side by side: a step's times are summed over its runs and include what ran "
          "beside it, so they add up to more than the total)")
    cancel = {"cancel": []}
    if not args.no_cancel:
        print(f"cancel latency (cancelled {CANCEL_AFTER_S:g} s into each step):")
        cancel = run_child("cancel", args)
    lat = [r["latency_s"] for r in cancel["cancel"] if r.get("latency_s") is not None]
    worst = max(lat) if lat else None
    if lat:
        print(f"worst cancel latency {worst:.2f} s (target {TARGET_CANCEL_S:g} s) over {len(lat)} steps; "
              f"load {load():.1f}")
    print(json.dumps({"total_s": cold["total_wall_s"], "total_cpu_s": cold["total_cpu_s"], "target_s": TARGET_TOTAL_S,
                      "runs_total_s": walls, "stages": cold["stages"], "steps": cold["steps"],
                      "peak_rss_mb": max(c["peak_rss_mb"] for c in colds),
                      "cancel": cancel["cancel"], "worst_cancel_s": worst, "target_cancel_s": TARGET_CANCEL_S,
                      "load_average": load(), "cpus": os.cpu_count()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
