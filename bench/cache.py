"""Cache benchmark: time of a cache hit vs a fetch for a ~1024x1024 scene.

The fetch goes through the real Earth Engine source code path and the real earthengine-api
client (listing, selection, chunked download, scene GeoTIFF writing, checksummed atomic put)
with the offline service of the tests at the HTTP transport, so it is a lower bound of a real
fetch (no network time). The hit is
``SceneCache.get`` (size + checksum validation) plus reading the provenance, as in ``fetch``.
Ends with one JSON line.

It uses the tests' offline Earth Engine service: run it from the repository root as
``PYTHONPATH=tests python bench/cache.py`` (the project itself installed, or importable from there).
"""
from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
from pathlib import Path


from test_sources_request import square_km  # noqa: E402  (a square AOI in its UTM zone)


def noisy_pixels(bands, grid: dict):
    """Realistic-entropy pixels (integer DNs with noise), so compression and checksums cost what
    they cost on real scenes."""
    import numpy as np

    dims = grid["dimensions"]
    h, w = dims["height"], dims["width"]
    rng = np.random.default_rng(int(abs(grid["affineTransform"]["translateX"]) + abs(grid["affineTransform"]["translateY"])))
    out = np.empty((h, w), dtype=[(b, np.dtype(t)) for b, t in bands])
    yy, xx = np.mgrid[0:h, 0:w]
    base = 1500 + 800 * np.sin(xx / 37.0) * np.cos(yy / 23.0)
    for b, _ in bands:
        out[b] = np.round(base + rng.normal(0, 120, (h, w)))
    out["flags"] = np.where(rng.random((h, w)) > 0.1, 3, 2)
    return out


def main() -> int:
    import datetime

    from ee_service import add_granules, key_config, reset_ee, scene, signed_up_service

    from landslide_core.sources.cache import SceneCache
    from landslide_core.sources.earthengine import EarthEngineSource
    from landslide_core.sources.request import AnalysisRequest, DateWindow
    from landslide_core.sources.retry import RetryPolicy

    reset_ee()
    service, key = signed_up_service(pixel_fn=noisy_pixels)
    add_granules(service, [scene("S2_A", "2023-01-20", 5.0, clear=0.98)])
    D = datetime.date
    request = AnalysisRequest(square_km(10.24), DateWindow(D(2023, 1, 1), D(2023, 2, 28)),
                              DateWindow(D(2023, 4, 1), D(2023, 5, 31)))
    grid = request.grid()
    with tempfile.TemporaryDirectory() as tmp:
        cache = SceneCache(Path(tmp), 10**10)
        src = EarthEngineSource(cache=cache, auth_config=key_config(key), http_transport=service,
                                retry_policy=RetryPolicy(sleep=lambda s: None, rng=random.Random(0)))
        t0 = time.perf_counter()
        fetched = src.fetch(request, request.pre)
        fetch_s = time.perf_counter() - t0
        assert not fetched.from_cache
        hits = []
        for _ in range(5):
            t0 = time.perf_counter()
            hit = src.fetch(request, request.pre)
            hits.append(time.perf_counter() - t0)
            assert hit.from_cache
        key = src.cache_key(request, request.pre)
        t0 = time.perf_counter()
        cache.get(key)
        get_s = time.perf_counter() - t0
        size_mb = fetched.path.stat().st_size / 1e6
    hit_s = statistics.median(hits)
    print(f"scene {grid.width}x{grid.height} px, 13 bands + valid, file {size_mb:.1f} MB")
    print(f"fetch (offline service, real client and code path): {fetch_s:.3f} s")
    print(f"cache hit via source.fetch: median {hit_s:.4f} s, max {max(hits):.4f} s "
          f"(SceneCache.get alone {get_s:.4f} s)")
    print(f"hit / fetch = {hit_s / fetch_s:.3f}  (a hit is {fetch_s / hit_s:.0f}x faster)")
    print(json.dumps({"cache_hit_s": round(hit_s, 4), "cache_hit_max_s": round(max(hits), 4),
                      "fetch_s": round(fetch_s, 3), "hit_over_fetch": round(hit_s / fetch_s, 4),
                      "width": grid.width, "height": grid.height, "file_mb": round(size_mb, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
