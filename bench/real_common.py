"""Shared by the real-imagery benches: the six real Landslide4Sense samples as scene GeoTIFFs.

The samples (../shared/data/l4s_real_samples, 128 x 128 x 14, L4S units, no masks) are written
as scene GeoTIFFs of the band contract on a 10 m UTM grid, so they go through the same
``detect`` command as users' scenes. ``another_date`` makes the same ground look like another
date of Sentinel-2 L1C: a per-band gain of a few per cent, haze that grows toward the blue,
slightly drier vegetation, sensor noise and a one-pixel shift of the optical bands (the
co-registration error of L1C); the DEM stays on the grid.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from rasterio.crs import CRS

ROOT = Path(__file__).resolve().parent.parent

from landslide_core.bands import ALL_BANDS, to_raw  # noqa: E402
from landslide_core.scene import RawScene, write_scene  # noqa: E402

SAMPLES = ROOT.parent / "shared" / "data" / "l4s_real_samples"
#: Where the samples are put on the ground (UTM 18S, central Peru); the place does not matter.
UTM18S = CRS.from_epsg(32718)
ORIGIN = (400000.0, 8750000.0)
#: Path radiance per band (DN) of a clear sky: haze scales it, so it grows toward the blue.
HAZE_DN = np.array([1000, 640, 420, 270, 240, 160, 130, 110, 60, 11.5, 30, 12], np.float32)


def sample_files(folder: Path = SAMPLES) -> list[Path]:
    return sorted(Path(folder).glob("*.h5"))


def bench_arguments(doc: str, **extra) -> tuple:
    """The common arguments (--model, --samples, and ``extra`` name -> (type, default, help)) and
    the sample files; exits with 2 and a message when the samples are missing."""
    import argparse

    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="model card or name (default: the default model)")
    p.add_argument("--samples", default=str(SAMPLES))
    for name, (kind, default, text) in extra.items():
        p.add_argument(f"--{name}", type=kind, default=default, help=text)
    args = p.parse_args()
    files = sample_files(Path(args.samples))
    if not files:
        print(f"error: no .h5 samples in {args.samples} (they live in ../shared/data, beside the project)",
              file=sys.stderr)
        raise SystemExit(2)
    return args, files


def read_sample_raw(path: Path) -> np.ndarray:
    """(14, 128, 128) float32 in raw units (DN, degrees, metres)."""
    import h5py

    with h5py.File(path, "r") as h:
        l4s = np.moveaxis(np.asarray(h["img"], dtype=np.float32), -1, 0)
    return to_raw(l4s, ALL_BANDS)


def write_raw_scene(raw: np.ndarray, path: Path, provenance: dict | None = None) -> Path:
    from rasterio.transform import from_origin

    transform = from_origin(ORIGIN[0], ORIGIN[1], 10.0, 10.0)
    valid = np.isfinite(raw).all(axis=0)
    return write_scene(path, RawScene(raw.astype(np.float32), ALL_BANDS, valid, transform, UTM18S,
                                      provenance or {"source": "real L4S sample"}))


def another_date(raw: np.ndarray, rng: np.random.Generator, shift_px: tuple[int, int] = (1, 0),
                 haze: float = 0.25, gain_sd: float = 0.03, drier: float = 0.06) -> np.ndarray:
    """The same ground as another date would show it (see the module doc)."""
    out = raw.copy()
    spec = out[:12]
    ndvi = np.clip((spec[7] - spec[3]) / np.maximum(spec[7] + spec[3], 1.0), 0.0, 1.0)
    veg = np.clip((ndvi - 0.3) / 0.4, 0.0, 1.0)  # how much of the pixel is green vegetation
    spec[7] *= 1.0 - drier * veg          # NIR down
    spec[[5, 6, 8]] *= 1.0 - 0.8 * drier * veg
    spec[3] *= 1.0 + 1.5 * drier * veg    # red up
    spec[[10, 11]] *= 1.0 + drier * veg   # SWIR up
    spec *= rng.normal(1.0, gain_sd, 12).astype(np.float32)[:, None, None]
    spec += (haze * HAZE_DN)[:, None, None]
    spec += rng.normal(0.0, 1.0, spec.shape).astype(np.float32) * (0.004 * spec + 2.0)
    dy, dx = shift_px
    spec[:] = np.roll(spec, (dy, dx), axis=(1, 2))
    # the rolled-in edge is not real ground: mark it missing (as an image edge would be)
    if dy:
        (spec[:, :dy] if dy > 0 else spec[:, dy:])[...] = np.nan
    if dx:
        (spec[:, :, :dx] if dx > 0 else spec[:, :, dx:])[...] = np.nan
    np.clip(spec, 0.0, 10000.0, out=spec)
    return out


def run_detect(args: list[str]) -> dict:
    """``python -m landslide_core detect ARGS``; returns its summary.json (raises on failure)."""
    out_i = args.index("--out") + 1
    proc = subprocess.run([sys.executable, "-m", "landslide_core", "detect", *args], cwd=ROOT,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"detect failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads((Path(args[out_i]) / "summary.json").read_text())
