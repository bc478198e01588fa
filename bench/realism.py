"""Realism check: generated Landslide4Sense patches against real ones, band by band and in structure.

Prints, per band (14 bands and NDVI), the median and the 5-95 percentile range of the
generated patches and of the real samples (../shared/data/l4s_real_samples, read its
README), in raw units (DN, degrees, metres), with the ratio of the medians. Then measures of
structure, generated against real, over cloud-free patches (see :func:`structure`):

- the radially averaged power spectrum of B8, of NDVI and of the slope band (how blocky and
  rough the terrain is): its log-log slope between
  wavelengths of 2.5 and 40 px, and the standard deviation carried by wavelengths of
  2-4 px (20-40 m), 4-16 px and 16-64 px;
- the correlation of brightness (mean of B2, B3, B4, B8) with the hillshade of the patch's
  own elevation band, best over sun azimuths and elevations (the real sun is unknown: the
  same search for both), median over patches, and the brightness modulation it explains
  (correlation x coefficient of variation, % of the mean brightness): how strong the shading is;
- the share of pixels in small bright objects (visible brightness above 1.4 x the patch
  median, in connected objects of at most 64 px = 0.64 ha).

Saves a picture (true colour, false colour, slope, mask) of generated and real patches side
by side; ends with one JSON line. Exit 2 when the real samples are missing.

    .venv/bin/python bench/realism.py [--real DIR] [--patches 48] [--seed 0] [--out bench/out]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from scipy import ndimage  # noqa: E402

from landslide_core.bands import ALL_BANDS, L4S_SCALE  # noqa: E402
from landslide_core.synthetic import write_l4s_dataset  # noqa: E402

DEFAULT_REAL = ROOT.parent / "shared" / "data" / "l4s_real_samples"
DEFAULT_OUT = ROOT / "bench" / "out"
LOW, HIGH = 0.7, 1.43


def read_patches(folder: Path, pattern: str, key: str) -> tuple[list[str], np.ndarray]:
    import h5py

    files = sorted(folder.glob(pattern), key=lambda p: int("".join(c for c in p.stem if c.isdigit()) or 0))
    arrays = []
    for f in files:
        with h5py.File(f, "r") as h:
            arrays.append(np.asarray(h[key][()], dtype=np.float64))
    return [f.name for f in files], (np.stack(arrays) if arrays else np.zeros((0,)))


def stats(raw: np.ndarray) -> dict[str, tuple[float, float, float]]:
    """Per band and NDVI: (median, p5, p95) over all pixels; raw is (N, H, W, 14) raw units."""
    out = {}
    for i, b in enumerate(ALL_BANDS):
        v = raw[..., i].ravel()
        out[b] = (float(np.median(v)), float(np.percentile(v, 5)), float(np.percentile(v, 95)))
    nir, red = raw[..., 7], raw[..., 3]
    ndvi = ((nir - red) / np.maximum(nir + red, 1e-6)).ravel()
    out["NDVI"] = (float(np.median(ndvi)), float(np.percentile(ndvi, 5)), float(np.percentile(ndvi, 95)))
    return out


#: Wavelength bands (px) of the power spectrum measures.
SPECTRUM_BANDS_PX = ((2.0, 4.0), (4.0, 16.0), (16.0, 64.0))
#: Sun directions searched for the hillshade correlation.
SUN_AZIMUTHS_DEG = np.arange(0, 360, 15)
SUN_ELEVATIONS_DEG = np.arange(10, 81, 10)


def ndvi(raw: np.ndarray) -> np.ndarray:
    nir, red = raw[..., 7], raw[..., 3]
    return (nir - red) / np.maximum(nir + red, 1e-6)


def cloud_free(raw: np.ndarray, limit: float = 0.01) -> np.ndarray:
    """Patches with under ``limit`` of their pixels cloudy (B2 > 2500 or B10 > 150 DN)."""
    cloudy = (raw[..., 1] > 2500) | (raw[..., 9] > 150)
    return cloudy.reshape(len(raw), -1).mean(axis=1) < limit


def power_spectrum(imgs: np.ndarray) -> dict[str, float]:
    """Radially averaged power spectrum of (N, n, n) images (Hann window, mean removed), summarised."""
    n = imgs.shape[-1]
    win = np.hanning(n)[:, None] * np.hanning(n)[None, :]
    x = (imgs - imgs.mean(axis=(-2, -1), keepdims=True)) * win
    power = (np.abs(np.fft.fft2(x)) ** 2 / (win ** 2).sum()).mean(axis=0)
    f = np.sqrt(np.fft.fftfreq(n)[:, None] ** 2 + np.fft.fftfreq(n)[None, :] ** 2)
    edges = np.arange(1, n // 2 + 1) / n
    idx = np.digitize(f.ravel(), edges)
    counts = np.bincount(idx, minlength=len(edges) + 1)[1:len(edges)]
    radial = np.bincount(idx, power.ravel(), minlength=len(edges) + 1)[1:len(edges)] / np.maximum(counts, 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    sel = (centres >= 1 / 40) & (centres <= 1 / 2.5) & (radial > 0)
    out = {"loglog_slope": float(np.polyfit(np.log(centres[sel]), np.log(radial[sel]), 1)[0])}
    for lo, hi in SPECTRUM_BANDS_PX:
        m = (f >= 1 / hi) & (f < 1 / lo)
        out[f"std_{lo:g}-{hi:g}px"] = float(np.sqrt(power[m].sum() / f.size))
    return out


def best_hillshade_correlation(elevation_m: np.ndarray, brightness: np.ndarray, pixel_size_m: float = 10.0,
                               with_modulation: bool = False):
    """Best Pearson correlation of ``brightness`` with the hillshade of ``elevation_m`` over sun directions.

    ``with_modulation``: also return how much of the brightness that hillshade explains, as a
    share of the mean brightness (the correlation times the coefficient of variation).
    """
    gy, gx = np.gradient(elevation_m.astype(np.float64), pixel_size_m)
    norm = np.sqrt(gx ** 2 + gy ** 2 + 1.0)
    a, b, c = (-gx / norm).ravel(), (gy / norm).ravel(), (1.0 / norm).ravel()  # east, north, up normals
    zen = np.radians(90.0 - SUN_ELEVATIONS_DEG)[:, None]
    az = np.radians(SUN_AZIMUTHS_DEG)[None, :]
    sx, sy = (np.sin(zen) * np.sin(az)).ravel(), (np.sin(zen) * np.cos(az)).ravel()
    su = np.broadcast_to(np.cos(zen), (len(SUN_ELEVATIONS_DEG), len(SUN_AZIMUTHS_DEG))).ravel()
    shade = np.clip(sx[:, None] * a + sy[:, None] * b + su[:, None] * c, 0.0, None)
    shade -= shade.mean(axis=1, keepdims=True)
    y = brightness.ravel() - brightness.mean()
    r = shade @ y / np.maximum(np.sqrt((shade ** 2).sum(axis=1) * (y ** 2).sum()), 1e-12)
    best = float(r.max())
    if with_modulation:
        return best, best * float(brightness.std() / max(float(brightness.mean()), 1e-9))
    return best


def small_bright_share(raw: np.ndarray, factor: float = 1.4, max_px: int = 64) -> np.ndarray:
    """Per patch: share of pixels in bright (visible > factor x median) objects of at most ``max_px``."""
    out = []
    for vis in raw[..., 1:4].mean(axis=-1):
        lab, n = ndimage.label(vis > factor * np.median(vis), structure=np.ones((3, 3)))
        sizes = np.bincount(lab.ravel())
        small = sizes <= max_px
        small[0] = False
        out.append(float(small[lab].mean()) if n else 0.0)
    return np.asarray(out)


def structure(raw: np.ndarray) -> dict[str, float]:
    """Structure measures over the cloud-free patches of ``raw`` ((N, H, W, 14), raw units)."""
    clear = raw[cloud_free(raw)]
    out: dict[str, float] = {"cloud_free_patches": int(len(clear))}
    if not len(clear):
        return out
    for name, imgs in (("B8", clear[..., 7]), ("NDVI", ndvi(clear)), ("slope", clear[..., 12])):
        for k, v in power_spectrum(imgs).items():
            out[f"{name} {k}"] = v
    bright = clear[..., [1, 2, 3, 7]].mean(axis=-1)
    fits = np.array([best_hillshade_correlation(p[..., 13], b, with_modulation=True) for p, b in zip(clear, bright)])
    out["hillshade_corr_median"] = float(np.median(fits[:, 0]))
    out["hillshade_modulation_pct"] = float(100.0 * np.median(fits[:, 1]))
    out["small_bright_share_pct"] = float(100.0 * small_bright_share(clear).mean())
    return out


def true_colour(raw: np.ndarray) -> np.ndarray:
    rgb = raw[..., [3, 2, 1]]
    return np.clip((rgb - 250.0) / 1100.0, 0, 1) ** 0.9


def false_colour(raw: np.ndarray) -> np.ndarray:
    return np.clip(raw[..., [10, 7, 3]] / np.array([3000.0, 4000.0, 1500.0]), 0, 1)


def save_picture(path: Path, gen: np.ndarray, masks: np.ndarray, real: np.ndarray, real_names: list[str]) -> None:
    """Rows: generated true colour (mask in red), false colour, slope; real true colour, false colour, slope."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(len(gen), 6)
    fig, ax = plt.subplots(6, n, figsize=(3 * n, 18), squeeze=False)
    for j in range(n):
        g = gen[j]
        ax[0, j].imshow(true_colour(g))
        if masks[j].any():
            ax[0, j].contour(masks[j], [0.5], colors="red", linewidths=0.7)
        ax[0, j].set_title(f"generated {j + 1}: true colour, mask {masks[j].mean() * 100:.1f} %", fontsize=8)
        ax[1, j].imshow(false_colour(g))
        ax[1, j].set_title("generated: B11/B8/B4", fontsize=8)
        ax[2, j].imshow(g[..., 12], cmap="gray", vmin=0, vmax=50)
        ax[2, j].set_title("generated: slope 0-50 deg", fontsize=8)
        if j < len(real):
            r = real[j]
            ax[3, j].imshow(true_colour(r))
            ax[3, j].set_title(f"real {real_names[j]}: true colour", fontsize=8)
            ax[4, j].imshow(false_colour(r))
            ax[4, j].set_title("real: B11/B8/B4 (no mask)", fontsize=8)
            ax[5, j].imshow(r[..., 12], cmap="gray", vmin=0, vmax=50)
            ax[5, j].set_title("real: slope 0-50 deg", fontsize=8)
    for a in ax.ravel():
        a.set_xticks([])
        a.set_yticks([])
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    ignore = path.parent / ".gitignore"
    if path.parent == DEFAULT_OUT and not ignore.exists():
        ignore.write_text("# pictures of bench/realism.py: not part of the project\n*\n")
    fig.savefig(path, dpi=80)
    plt.close(fig)


def pick_for_picture(masks: np.ndarray, imgs: np.ndarray) -> list[int]:
    """Two patches with the most landslide, two clear ones with confounders, one cloudy, one more."""
    n = len(masks)
    frac = masks.reshape(n, -1).mean(axis=1)
    cloud = (imgs[..., 1] > 3000).reshape(n, -1).mean(axis=1)
    bright = ((imgs[..., 3] > 900) & (imgs[..., 1] <= 3000)).reshape(n, -1).mean(axis=1)
    groups = [(np.argsort(-frac), 2), (np.argsort(-(bright * (frac == 0) * (cloud < 0.02))), 2),
              (np.argsort(-((cloud > 0.05) & (cloud < 0.5)).astype(float)), 1), (np.arange(n), 1)]
    chosen: list[int] = []
    for order, k in groups:
        taken = 0
        for i in order:
            if int(i) not in chosen:
                chosen.append(int(i))
                taken += 1
                if taken == k:
                    break
    return chosen[:6]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", type=Path, default=DEFAULT_REAL, help="folder of real L4S image_N.h5 files")
    ap.add_argument("--patches", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--share", type=float, default=0.02)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the picture (default bench/out)")
    args = ap.parse_args(argv)
    if not args.real.is_dir() or not list(args.real.glob("*.h5")):
        print(f"error: the real Landslide4Sense samples are missing: no .h5 files in {args.real}. "
              "Give their folder with --real (see ../shared/data/l4s_real_samples/README.md).", file=sys.stderr)
        return 2
    real_names, real = read_patches(args.real, "*.h5", "img")
    real = real * L4S_SCALE
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_l4s_dataset(Path(tmp) / "l4s", args.patches, seed=args.seed, landslide_share=args.share)
        _, gen = read_patches(folder / "img", "image_*.h5", "img")
        _, masks = read_patches(folder / "mask", "mask_*.h5", "mask")
        meta = json.loads((folder / "synthetic_l4s.json").read_text())
    seconds = time.perf_counter() - t0
    gen = gen * L4S_SCALE
    s_real, s_gen = stats(real), stats(gen)
    print(f"{len(gen)} generated patches (seed {args.seed}, {seconds:.1f} s, landslide share "
          f"{meta['landslide_share'] * 100:.2f} %) vs {len(real)} real patches ({args.real})")
    print(f"{'band':>9} | {'real median':>11} {'real p5-p95':>17} | {'gen median':>10} {'gen p5-p95':>17} | ratio")
    ratios = {}
    for name in list(ALL_BANDS) + ["NDVI"]:
        (rm, r5, r95), (gm, g5, g95) = s_real[name], s_gen[name]
        ratio = gm / rm if rm else float("nan")
        ratios[name] = round(ratio, 3)
        flag = "" if LOW <= ratio <= HIGH else "  <-- outside 0.7-1.43"
        fmt = "{:.2f}" if name == "NDVI" else "{:.0f}"
        print(f"{name:>9} | {fmt.format(rm):>11} {fmt.format(r5) + '-' + fmt.format(r95):>17} | "
              f"{fmt.format(gm):>10} {fmt.format(g5) + '-' + fmt.format(g95):>17} | {ratio:5.2f}{flag}")
    st_real, st_gen = structure(real), structure(gen)
    print(f"structure over cloud-free patches ({st_gen.get('cloud_free_patches', 0)} generated, "
          f"{st_real.get('cloud_free_patches', 0)} real)")
    print(f"{'measure':>28} | {'real':>9} | {'generated':>9} | ratio")
    structure_rows = {}
    for key in st_real:
        if key == "cloud_free_patches" or key not in st_gen:
            continue
        rv, gv = st_real[key], st_gen[key]
        ratio = gv / rv if rv else float("nan")
        structure_rows[key] = {"real": round(rv, 4), "generated": round(gv, 4), "ratio": round(ratio, 3)}
        print(f"{key:>28} | {rv:9.3f} | {gv:9.3f} | {ratio:5.2f}")
    picture = args.out / "realism.png"
    idx = pick_for_picture(masks, gen)
    save_picture(picture, gen[idx], masks[idx], real, real_names)
    all_within = all(LOW <= r <= HIGH for r in ratios.values())
    print(f"picture: {picture}")
    print(json.dumps({"median_ratio": ratios, "all_within": all_within, "range": [LOW, HIGH],
                      "structure": structure_rows, "cloud_free_patches": st_gen.get("cloud_free_patches", 0),
                      "patches": len(gen), "landslide_share": meta["landslide_share"], "picture": str(picture)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
