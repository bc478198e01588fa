"""Earth Engine requests for a 100 km2 AOI: float32 optical bands (before) vs uint16 (after).

Both runs go through the real ``EarthEngineSource`` and the real earthengine-api client, with
the tests' offline service (tests/ee_service.py) at the HTTP transport. The service enforces
the real request limit (50,331,648 bytes, counted as each band's bytes plus one mask byte a
pixel) and simulates the network: each computation answer waits ``--latency`` seconds
(server compute and round trip) and pixel answers share one link of ``--bandwidth`` MB/s.
Per run: tiles, requests (listing + pixels), bytes received, the download's wall time and the
whole fetch's wall time (listing, download, scene GeoTIFF written to the cache). Measured in
one run; ends with one JSON line.

    PYTHONPATH=tests python bench/ee_requests.py [--side-km 10] [--latency 1.5] [--bandwidth 25] [--workers 4]

(``PYTHONPATH=tests``: the tests' offline service; the project itself installed, or run from
the repository root.)
"""
from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path


from test_sources_request import POST, PRE, square_km  # noqa: E402  (a square AOI in its UTM zone)


def run_once(optical_dtype: str, side_km: float, latency_s: float, bandwidth_mb_s: float, workers: int) -> dict:
    from ee_service import add_granules, key_config, reset_ee, scene, signed_up_service

    from landslide_core.sources.aoi import aoi_area_km2
    from landslide_core.sources.cache import SceneCache
    from landslide_core.sources.earthengine import EarthEngineSource
    from landslide_core.sources.request import AnalysisRequest
    from landslide_core.sources.retry import RetryPolicy

    reset_ee()
    service, key = signed_up_service(latency_s=latency_s, bandwidth_bytes_s=bandwidth_mb_s * 1e6)
    add_granules(service, [scene("20230120T150000_20230120T150000_T18LTM", "2023-01-20", 5.0, clear=0.97)])
    request = AnalysisRequest(square_km(side_km), PRE, POST)
    with tempfile.TemporaryDirectory() as tmp:
        src = EarthEngineSource(cache=SceneCache(Path(tmp), 10**10), auth_config=key_config(key),
                                http_transport=service, optical_dtype=optical_dtype, max_workers=workers,
                                retry_policy=RetryPolicy(sleep=lambda s: None, rng=random.Random(0)))
        src.readiness()  # sign in first: the same for both runs, not part of the figures
        n_signin = len(service.exchanges)
        t0 = time.perf_counter()
        fetched = src.fetch(request, request.pre)
        fetch_s = time.perf_counter() - t0
    pixels = service.calls("computePixels")
    listing = service.calls("compute")
    grid = request.grid()
    assert all(c.status == 200 for c in pixels), "a request was refused"
    return {
        "optical_dtype": optical_dtype, "aoi_km2": round(aoi_area_km2(request.aoi), 1),
        "grid": [grid.width, grid.height], "tiles": fetched.provenance["download"]["tiles"],
        "requests": len(pixels) + len(listing), "pixel_requests": len(pixels), "listing_requests": len(listing),
        "signin_requests": n_signin,
        "bytes": service.bytes_sent("computePixels") + service.bytes_sent("compute"),
        "max_request_size": max(c.detail["request_size"] for c in pixels),
        "download_s": round(max(c.ended for c in pixels) - min(c.started for c in pixels), 2),
        "fetch_s": round(fetch_s, 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side-km", type=float, default=10.0, help="side of the square AOI (default 10: 100 km2)")
    ap.add_argument("--latency", type=float, default=1.5, help="seconds per computation answer (default 1.5)")
    ap.add_argument("--bandwidth", type=float, default=25.0, help="MB/s for pixel answers (default 25)")
    ap.add_argument("--workers", type=int, default=4, help="parallel downloads (default 4, as the source)")
    args = ap.parse_args()
    runs = {d: run_once(d, args.side_km, args.latency, args.bandwidth, args.workers) for d in ("float32", "uint16")}
    before, after = runs["float32"], runs["uint16"]
    print(f"AOI {before['aoi_km2']} km2, grid {before['grid'][0]}x{before['grid'][1]} px, simulated "
          f"{args.latency} s per answer and {args.bandwidth} MB/s, {args.workers} parallel downloads")
    print(f"{'':10}{'tiles':>7}{'requests':>10}{'MB':>9}{'largest request MB':>20}{'download s':>12}{'fetch s':>9}")
    for r in (before, after):
        print(f"{r['optical_dtype']:10}{r['tiles']:>7}{r['requests']:>10}{r['bytes'] / 1e6:>9.1f}"
              f"{r['max_request_size'] / 1e6:>20.1f}{r['download_s']:>12.2f}{r['fetch_s']:>9.2f}")
    ratio = {"bytes": round(after["bytes"] / before["bytes"], 3),
             "download_s": round(after["download_s"] / before["download_s"], 3),
             "fetch_s": round(after["fetch_s"] / before["fetch_s"], 3)}
    print(f"uint16 / float32: bytes {ratio['bytes']}, download time {ratio['download_s']}, "
          f"fetch time {ratio['fetch_s']}")
    print(json.dumps({"latency_s": args.latency, "bandwidth_mb_s": args.bandwidth, "workers": args.workers,
                      "float32": before, "uint16": after, "uint16_over_float32": ratio}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
