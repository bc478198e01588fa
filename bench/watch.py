"""Watchlist benchmark: 50 small areas on the demo, one `watch run`.

Measures the run's wall time and splits it: fetch + inference (scene listing, the analysis
pipeline, loading the model) against store and bookkeeping (every database call: claims,
lease renewals, reads, the check records; and the runner's own work). The same 50 analyses
are also run by a plain loop of ``run_analysis`` with no watchlist at all (cold caches of
their own), once before and once after the run, and the walls are compared: the watchlist's
cost over the bare work (on a shared machine the split is the steadier figure: it is
measured inside one run).

    .venv/bin/python bench/watch.py [--areas 50] [--half-deg 0.003] [--db URL]

Target: store and bookkeeping under 5 % of the run. Ends with one JSON line.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

NOW = dt.date(2024, 3, 15)         # a clear pass after every area's event
BASELINE = (dt.date(2024, 1, 1), dt.date(2024, 1, 31))


def box(lon: float, lat: float, half: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[lon - half, lat - half], [lon + half, lat - half],
                                                [lon + half, lat + half], [lon - half, lat + half],
                                                [lon - half, lat - half]]]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--areas", type=int, default=50)
    parser.add_argument("--half-deg", type=float, default=0.003, help="half the side of each square area (deg)")
    parser.add_argument("--db", default=None, help="database URL (default: a SQLite file in a temporary folder)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
    from landslide_core.analysis import run_analysis
    from landslide_core.checkpoint import default_model_path
    from landslide_core.detection import DetectionOptions, load_model
    from landslide_core.sources import get_source
    from landslide_core.sources.cache import SceneCache
    from landslide_core.sources.request import AnalysisRequest, DateWindow
    from landslide_core.watch.areas import new_area
    from landslide_core.watch.planning import plan_check
    from landslide_core.watch.records import utc_now
    from landslide_core.watch.runner import Clock, WatchRunner
    from landslide_core.watch.store import WatchStore

    tmp = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    os.environ["LANDSLIDE_CACHE_DIR"] = str(tmp / "cache")
    url = args.db or f"sqlite:///{tmp / 'watch.sqlite'}"
    aois = [box(-75.9 + 0.05 * (i % 10), -12.9 + 0.05 * (i // 10), args.half_deg) for i in range(args.areas)]

    # warm up once (imports, the model's first forward pass) outside both measurements
    warm = AnalysisRequest(box(-70.0, -15.0, 0.002), DateWindow(*BASELINE), DateWindow(dt.date(2024, 3, 1), NOW))
    run_analysis(warm, get_source("demo", cache=SceneCache(tmp / "warm")), default_model_path(),
                 results_root=tmp / "warm-results", loaded_model=load_model(default_model_path()))

    store = WatchStore(url)
    for i, aoi in enumerate(aois):
        store.add_area(new_area(f"area {i:02d}", aoi, baseline=DateWindow(*BASELINE), today=NOW), utc_now())
    model = load_model(default_model_path())
    # what each first check will compare (the planner's request), for the plain loop
    requests = [plan_check(area, None, get_source("demo", **area.source_options), NOW).request
                for area in store.list_areas()]

    def plain_loop(tag: str) -> float:
        """The same analyses with no watchlist: a loop over the requests, cold caches of its own."""
        cache = SceneCache(tmp / f"plain-cache-{tag}")
        t0, c0 = time.perf_counter(), time.process_time()
        for area, request in zip(store.list_areas(), requests):
            source = get_source("demo", cache=cache, **area.source_options)
            run_analysis(request, source, area.model, DetectionOptions(), results_root=tmp / f"plain-{tag}",
                         loaded_model=model)
        return time.perf_counter() - t0, time.process_time() - c0

    # the plain loop runs before and after the watchlist (the machine's load drifts), its mean is compared
    plain_before = plain_loop("before")
    runner = WatchRunner(store, clock=Clock.at_date(NOW), results_root=tmp / "results")
    t0, c0 = time.perf_counter(), time.process_time()
    report = runner.run(due_only=True)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    plain_after = plain_loop("after")
    plain_wall = (plain_before[0] + plain_after[0]) / 2
    plain_cpu = (plain_before[1] + plain_after[1]) / 2
    timings = report.timings_s
    statuses = {s: report.count(s) for s in ("ok", "no_new_scene", "failed", "skipped")}
    checks = [o.check for o in report.outcomes if o.check is not None and o.check.status == "ok"]
    store.close()

    fetch_inference = timings.get("analysis", 0.0) + timings.get("listing", 0.0) + timings.get("model load", 0.0)
    store_s = timings.get("store", 0.0)
    bookkeeping = max(0.0, wall - fetch_inference)
    out = {
        "areas": args.areas, "area_px": f"~{int(round(args.half_deg * 2 * 111000 / 10))}^2",
        "db": url.split(":", 1)[0], "checks": statuses,
        "wall_s": round(wall, 3), "fetch_inference_s": round(fetch_inference, 3), "store_s": round(store_s, 3),
        "alerts_s": round(timings.get("alerts", 0.0), 4),
        "store_share": round(store_s / wall, 4), "bookkeeping_share": round(bookkeeping / wall, 4),
        "cpu_s": round(cpu, 3), "plain_loop_wall_s": [round(plain_before[0], 3), round(plain_after[0], 3)],
        "plain_loop_cpu_s": [round(plain_before[1], 3), round(plain_after[1], 3)],
        "watch_vs_plain_wall": round(wall / plain_wall, 3), "watch_vs_plain_cpu": round(cpu / plain_cpu, 3),
        "target_bookkeeping_share": 0.05,
    }
    print(f"{args.areas} areas ({out['area_px']} px each) on the demo, one `watch run` ({out['db']}): "
          f"{wall:.2f} s, checks {statuses}")
    print(f"  fetch + inference {fetch_inference:.2f} s; store {store_s:.3f} s ({100 * store_s / wall:.2f} %); "
          f"store and bookkeeping together {bookkeeping:.3f} s ({100 * bookkeeping / wall:.2f} %, target < 5 %)")
    print(f"  the same {len(checks)} analyses in a plain loop, no watchlist: {plain_before[0]:.2f} s before and "
          f"{plain_after[0]:.2f} s after the run; watch run / plain loop: wall {out['watch_vs_plain_wall']}, "
          f"CPU time {cpu:.2f} s / {plain_cpu:.2f} s = {out['watch_vs_plain_cpu']} (CPU time is the steadier "
          "figure on a shared machine)")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
