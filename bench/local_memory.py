"""Benchmark: peak memory of the local-files source on a tiny sparse GeoTIFF of 1 m pixels.

Issue 15, item 6: an 18 kB sparse GeoTIFF of 1 m pixels over 100 km2 made the local source
allocate gigabytes at once (every band read whole, on the file's own 1 m grid). The source now
reprojects onto the 10 m analysis grid strip by strip. Both ways run here on the same file,
each in a child process of its own, and the children's peak resident memory is compared:

- ours: ``LocalFilesSource.fetch`` (windowed, onto the 10 m grid);
- naive: what the source did before: each band read whole and reprojected in one call onto
  the file's own grid, the 13-band stack held in memory.

The last line is one JSON object: {"ours_peak_mb", "naive_peak_mb", "ratio", ...}.

    .venv/bin/python bench/local_memory.py [--km 4]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

OURS = """
import datetime, sys
from pathlib import Path
from landslide_core.sources.cache import SceneCache
from landslide_core.sources.local import LocalFilesSource
from landslide_core.sources.request import AnalysisRequest, DateWindow
path, cache = Path(sys.argv[1]), Path(sys.argv[2])
aoi = {"type": "Polygon", "coordinates": [[[-75.92, -11.3], [-75.91, -11.3], [-75.91, -11.29], [-75.92, -11.3]]]}
req = AnalysisRequest(aoi, DateWindow(datetime.date(2023, 1, 1), datetime.date(2023, 2, 1)),
                      DateWindow(datetime.date(2023, 3, 1), datetime.date(2023, 4, 1)))
LocalFilesSource(path, path, cache=SceneCache(cache, 10**12), max_area_km2=10**6).fetch(req, req.pre)
"""

NAIVE = """
import sys
import numpy as np, rasterio
from rasterio.enums import Resampling
from rasterio.warp import reproject
with rasterio.open(sys.argv[1]) as ds:
    data = np.empty((ds.count, ds.height, ds.width), np.float32)
    for k in range(ds.count):
        src = ds.read(k + 1, out_dtype=np.float32)
        dst = np.full((ds.height, ds.width), np.nan, np.float32)
        reproject(src, dst, src_transform=ds.transform, src_crs=ds.crs, dst_transform=ds.transform,
                  dst_crs=ds.crs, resampling=Resampling.nearest)
        data[k] = dst
"""

PEAK = """
with open("/proc/self/status") as fh:
    sys.stderr.write("\\n" + "".join(line for line in fh if line.startswith("VmHWM")))
"""


def peak_mb(code: str, *args: str) -> float:
    proc = subprocess.run([sys.executable, "-c", code + PEAK, *args], capture_output=True, text=True,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    line = [x for x in proc.stderr.splitlines() if x.startswith("VmHWM:")][-1]
    return int(line.split()[1]) / 1024.0


def write_sparse(path: Path, km: float) -> None:
    import numpy as np
    import rasterio
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    size = int(km * 1000)
    names = [f"B{i}" for i in range(1, 13)] + ["elevation"]
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=len(names), dtype="float32",
                       crs=CRS.from_epsg(32718), transform=from_origin(400000.0, 8750000.0, 1.0, 1.0), tiled=True,
                       blockxsize=256, blockysize=256, compress="deflate", sparse_ok=True, nodata=float("nan")) as ds:
        for i, n in enumerate(names):
            ds.set_band_description(i + 1, n)
        ds.write(np.full((len(names), 256, 256), 1000.0, np.float32), window=((0, 256), (0, 256)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--km", type=float, default=4.0, help="side of the square file in km (1 m pixels)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-local-") as tmp:
        path = Path(tmp) / "sparse_1m.tif"
        write_sparse(path, args.km)
        file_kb = path.stat().st_size / 1000
        ours = peak_mb(OURS, str(path), str(Path(tmp) / "cache"))
        naive = peak_mb(NAIVE, str(path))
    result = {"file_kb": round(file_kb, 1), "area_km2": args.km ** 2, "pixels_1m": int(args.km * 1000) ** 2,
              "ours_peak_mb": round(ours, 1), "naive_peak_mb": round(naive, 1), "ratio": round(naive / ours, 2)}
    print(f"sparse GeoTIFF of {file_kb:.0f} kB, {args.km ** 2:g} km2 of 1 m pixels: peak memory "
          f"{ours:.0f} MB windowed onto the 10 m grid vs {naive:.0f} MB read whole ({naive / ours:.1f}x)")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
