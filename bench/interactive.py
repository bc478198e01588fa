"""Benchmark: the Compare page of a 400 km2 analysis, driven by Streamlit's AppTest.

    PYTHONPATH=. .venv/bin/python bench/interactive.py [--side-km 20] [--model models/default.json] [--work DIR]

(``PYTHONPATH=.``: the dashboard's helpers, ``dashboard/``, are imported from the checkout.)

1. A demo analysis of a --side-km square (20 km: 400 km2, the AOI limit; 2000 x 2000 px) is
   run once and kept under --work (default: ``bench-interactive`` in the scene cache folder),
   so a second run of the benchmark starts at step 2.
2. The Compare page is opened on it (AppTest: the page's script, its caches and its map
   component's arguments, without a browser), then the threshold is changed three times to
   thresholds never computed before ("cold": masks, change, new landslides, overlays, table
   and charts all made anew), once by one slider step (its result made in the background
   while the page was read: "prefetched"), and back to the first one ("kept"). Before each
   change the benchmark waits until the background prefetch is idle, as a reader would. The
   page opens with its review tools closed (dashboard/review.py); three more cold changes are
   timed with them open, as someone reviewing the detections works.
3. For the same changes, the compute alone: :func:`analysis.rethreshold` with the result's
   inputs kept in memory (ours) and read and derived again at every change (naive, as
   re-thresholding worked before), on the same thresholds, in one run: the ratio.
4. What the page sends to the map component: its script with the true colour as lossy WebP
   (ours) and as the lossless PNG (naive).

Every timing is printed with the process CPU time and the load average beside it (the
machine is shared: wall time includes waiting for a core). The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

import landslide_core  # noqa: E402,F401  (sets the OpenMP wait policy before torch loads)
from machine_load import load  # noqa: E402

TARGET_S = 1.0


def demo_result(side_km: float, model: Path, work: Path):
    from landslide_core import analysis
    from landslide_core.sources.cache import SceneCache
    from landslide_core.sources.demo import DemoSource
    from landslide_core.grid import square_aoi_km
    from landslide_core.sources.request import AnalysisRequest, DateWindow

    d = dt.date
    request = AnalysisRequest(square_aoi_km(side_km), DateWindow(d(2023, 1, 1), d(2023, 2, 28)),
                              DateWindow(d(2023, 4, 1), d(2023, 5, 31)), cloud_limit_pct=30.0)
    t0, c0 = time.perf_counter(), time.process_time()
    result = analysis.run_analysis(request, DemoSource(cache=SceneCache(work / "scenes")), model,
                                   results_root=work / "results")
    how = "reused" if result.from_cache else "made"
    print(f"analysis {how}: {result.folder} in {time.perf_counter() - t0:.1f} s "
          f"(CPU {time.process_time() - c0:.1f} s, load {load()})")
    return result


def map_script_bytes(at) -> int:
    comps = [c for c in at.get("component_instance") if "st_folium" in c.proto.component_name]
    return sum(len(json.loads(c.proto.json_args)["script"]) for c in comps)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side-km", type=float, default=20.0, help="side of the square AOI (20 km = 400 km2)")
    ap.add_argument("--model", default=None, help="model card .json (default: models/default.json)")
    ap.add_argument("--work", default=None, help="folder for the kept analysis and its scenes")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)

    from streamlit.testing.v1 import AppTest

    try:
        from dashboard import state
    except ImportError:
        raise SystemExit("The dashboard's helpers (dashboard/) are not importable: run this from the checkout "
                         "with PYTHONPATH=. (PYTHONPATH=. .venv/bin/python bench/interactive.py).") from None
    from landslide_core import analysis, display, rethreshold_cache
    from landslide_core.checkpoint import default_model_path
    from landslide_core.sources.cache import default_cache_root

    work = Path(args.work) if args.work else default_cache_root() / "bench-interactive"
    model = Path(args.model) if args.model else default_model_path()
    result = demo_result(args.side_km, model, work)
    with __import__("rasterio").open(result.probability_tif("post")) as ds:
        print(f"grid: {ds.width} x {ds.height} px ({ds.width * ds.height / 1e4:.0f} km2 at 10 m); model {model}")
    t_run = analysis.default_threshold(result)
    cold = [round(t_run - 0.13, 2), round(t_run + 0.11, 2), round(t_run - 0.05, 2)]
    step = round(cold[-1] + 0.01, 2)

    os.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "pages" / "2_Compare.py"), default_timeout=600)
    at.session_state[state.RESULT_FOLDER] = str(result.folder)
    rethreshold_cache.clear()

    def run(label: str, threshold=None) -> dict:
        rethreshold_cache.prefetch_idle(60)  # a reader looks at the page before the next change
        if threshold is not None:
            at.slider(key=state.CMP_THRESHOLD).set_value(threshold)
        t0, c0 = time.perf_counter(), time.process_time()
        at.run()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if at.exception or at.error:
            raise SystemExit(f"the page failed: {[e.value for e in at.exception] or [e.value for e in at.error]}")
        new = {m.label: m.value for m in at.metric}.get("New landslides")
        row = {"what": label, "threshold": threshold, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
               "load": load(), "new_landslides": new}
        print(f"{label:34s} threshold {threshold if threshold is not None else t_run:<5}: {wall:6.2f} s wall, "
              f"{cpu:5.2f} s CPU, load {row['load']:.1f}, {new} new landslides")
        return row

    print("Compare page (AppTest):")
    rows = [run("open (reads the result, cold)")]
    payload_ours = map_script_bytes(at)
    changes = [run(f"change {i + 1}: cold threshold", t) for i, t in enumerate(cold)]
    prefetched = run("change 4: one step (prefetched)", step)
    kept = run("change 5: back to change 1 (kept)", cold[0])
    rows += changes + [prefetched, kept]
    # the same kind of changes with the review tools open (they follow every threshold change)
    from dashboard import review

    at.toggle(key=review.OPEN).set_value(True)
    rows.append(run("open the review tools"))
    review_cold = [round(t + 0.02, 2) for t in cold]
    with_review = [run(f"review open, change {i + 1}: cold", t) for i, t in enumerate(review_cold)]
    rows += with_review

    # the compute alone: kept inputs (ours) vs read and derived at every change (naive)
    print("compute alone (analysis.rethreshold), same thresholds:")
    ours, naive = [], []
    for t in cold:
        t2 = round(t + 0.005, 3)  # thresholds the page has not computed
        rethreshold_cache.stop_prefetch()
        rethreshold_cache.prefetch_idle(60)
        c0, w0 = time.process_time(), time.perf_counter()
        analysis.rethreshold(result, t2)
        ours.append((time.perf_counter() - w0, time.process_time() - c0))
        rethreshold_cache.clear()
        c0, w0 = time.process_time(), time.perf_counter()
        analysis.rethreshold(result, round(t2 + 0.001, 3))
        naive.append((time.perf_counter() - w0, time.process_time() - c0))
        print(f"  threshold {t2}: ours {ours[-1][0]:.2f} s wall ({ours[-1][1]:.2f} CPU), naive (read + derive "
              f"again) {naive[-1][0]:.2f} s wall ({naive[-1][1]:.2f} CPU), load {load():.1f}")
    ratio_cpu = min(c for _, c in ours) / min(c for _, c in naive)

    # the map payload: compact true colour vs lossless PNG
    png = sum(len(display.read_png_url(result.folder, result.display.get(f"{d}_rgb")) or "") for d in ("pre", "post"))
    webp = sum(len(display.compact_image_url(result.folder, result.display.get(f"{d}_rgb")) or "")
               for d in ("pre", "post"))
    payload_naive = payload_ours - webp + png
    print(f"map component script: {payload_ours / 1e6:.2f} MB (true colour as WebP) vs {payload_naive / 1e6:.2f} MB "
          f"with the lossless PNG ({payload_ours / payload_naive:.2f}x)")
    per_change = [r["wall_s"] for r in changes]
    per_review = [r["wall_s"] for r in with_review]
    print(f"time per cold change: {', '.join(f'{x:.2f}' for x in per_change)} s (target {TARGET_S:g} s); "
          f"prefetched step {prefetched['wall_s']:.2f} s; kept {kept['wall_s']:.2f} s; with the review tools open "
          f"{', '.join(f'{x:.2f}' for x in per_review)} s; load {load():.1f} on {os.cpu_count()} CPUs")
    print(json.dumps({
        "seconds_per_cold_change": per_change, "cpu_seconds_per_cold_change": [r["cpu_s"] for r in changes],
        "seconds_prefetched_step": prefetched["wall_s"], "seconds_kept": kept["wall_s"],
        "seconds_open": rows[0]["wall_s"], "target_s": TARGET_S,
        "seconds_per_cold_change_review_open": per_review,
        "within_target_cold": all(x <= TARGET_S for x in per_change),
        "rethreshold_cpu_ratio_vs_naive": round(ratio_cpu, 3),
        "map_payload_mb": round(payload_ours / 1e6, 3), "map_payload_ratio_vs_png": round(payload_ours / payload_naive, 3),
        "load_average": load(), "cpus": os.cpu_count(), "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
