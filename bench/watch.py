"""Watchlist benchmark: 50 small areas on the demo, one `watch run`.

Measures the run's wall time and splits it: fetch + inference (scene listing, the analysis
pipeline, loading the model) against store and bookkeeping (every database call: claims,
lease renewals, reads, the check records; and the runner's own work). Then the same 50
analyses are run by a plain loop of ``run_analysis`` with no watchlist at all (cold caches
of their own), and the two walls are compared: the watchlist's cost over the bare work.

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
sys.path.insert(0, str(ROOT))

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
    runner = WatchRunner(store, clock=Clock.at_date(NOW), results_root=tmp / "results")
    t0 = time.perf_counter()
    report = runner.run(due_only=True)
    wall = time.perf_counter() - t0
    timings = report.timings_s
    statuses = {s: report.count(s) for s in ("ok", "no_new_scene", "failed", "skipped")}
    checks = [o.check for o in report.outcomes if o.check is not None and o.check.status == "ok"]

    # the same analyses with no watchlist: a plain loop over the requests, cold caches of its own
    naive_cache = SceneCache(tmp / "naive-cache")
    model = load_model(default_model_path())
    t0 = time.perf_counter()
    for check in checks:
        area = store.get_area_by_id(check.area_id)
        day = check.scene_date
        request = AnalysisRequest(area.geometry, area.baseline, DateWindow(day, day), area.cloud_limit_pct)
        source = get_source("demo", cache=naive_cache, **area.source_options)
        run_analysis(request, source, area.model, DetectionOptions(), results_root=tmp / "naive-results",
                     loaded_model=model)
    naive_wall = time.perf_counter() - t0
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
        "naive_loop_wall_s": round(naive_wall, 3), "watch_vs_naive": round(wall / naive_wall, 3) if naive_wall else None,
        "target_bookkeeping_share": 0.05,
    }
    print(f"{args.areas} areas ({out['area_px']} px each) on the demo, one `watch run` ({out['db']}): "
          f"{wall:.2f} s, checks {statuses}")
    print(f"  fetch + inference {fetch_inference:.2f} s; store {store_s:.3f} s ({100 * store_s / wall:.2f} %); "
          f"store and bookkeeping together {bookkeeping:.3f} s ({100 * bookkeeping / wall:.2f} %, target < 5 %)")
    print(f"  the same {len(checks)} analyses in a plain loop, no watchlist: {naive_wall:.2f} s "
          f"(watch run / plain loop = {out['watch_vs_naive']})")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
