"""Benchmark: seed-style tiling vs our blended sliding windows vs MONAI's vs one whole-scene pass.

On one generated scene (default 2048 x 2048) and one model, in one run:
  (a) seed-style tiling: 128 px tiles, no overlap, batch 16;
  (b) our Predictor at its defaults (on the CPU: ONNX Runtime when installed, see
      landslide_core/onnx_backend.py), and (b') the same with PyTorch only;
  (d) MONAI's ``sliding_window_inference``: 512 px windows, overlap 0.25, gaussian blending,
      the same model (channels-last, as ours) and scene, probabilities blended as ours are;
  (c) the whole scene in one forward pass (the seam-free reference).
Prints the time of each (best of --repeats; wall and process CPU time), the ratios b/a and
b/d, the error of each against (c) (mean absolute probability difference on pixels within
8 px of each method's own interior window edges, over all pixels, and the largest), and the
peak memory. With --threads 1 the CPU-time ratios are immune to other processes sharing the
machine. The last line is one JSON object: time_ratio_vs_naive, time_ratio_vs_monai, the
errors, peak_rss_mb.

    .venv/bin/python bench/inference.py [--size 2048] [--model models/default.json] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

import landslide_core  # noqa: E402,F401  (sets the OpenMP wait policy before torch loads)
import numpy as np  # noqa: E402
import torch  # noqa: E402

from landslide_core.bands import ALL_BANDS, ELEVATION, SLOPE, slope_horn_deg, to_model_input  # noqa: E402
from landslide_core.checkpoint import ModelCard, default_model_path, load_checkpoint  # noqa: E402
from landslide_core.device import choose_device  # noqa: E402
from landslide_core.predictor import Predictor, PredictorConfig, plan_axis  # noqa: E402
from landslide_core.scene import pixel_size_m  # noqa: E402
from landslide_core.zoo import build_model  # noqa: E402

EDGE_PX = 8
RANDOM_NAME = "random-unet"
NAIVE_TILE_PX = 128
NAIVE_BATCH = 16
MONAI_ROI_PX = 512
MONAI_OVERLAP = 0.25


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def fallback_textured_scene(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """Used only when the synthetic world cannot be imported: smooth multi-scale texture per band."""
    from landslide_core.bands import L4S_SCALE

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    stack = np.empty((len(ALL_BANDS), size, size), np.float32)
    for k, s in enumerate(L4S_SCALE):
        f = rng.uniform(0.5, 2.0, 3)
        stack[k] = s * (1 + 0.3 * np.sin(xx / (9 * f[0])) * np.cos(yy / (13 * f[1]))
                        + 0.2 * np.sin((xx + yy) / (41 * f[2])) + 0.05 * rng.standard_normal((size, size)))
    return stack, np.ones((size, size), bool), "FALLBACK textured scene (synthetic world not importable)"


def generated_scene(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """A (14, size, size) raw stack in ALL_BANDS order from the synthetic world (post date, no clouds)."""
    from landslide_core.grid import grid_centered
    try:
        from landslide_core.synthetic import generate_event
    except ImportError:
        try:
            from landslide_core.synthetic.world import generate_event
        except ImportError:
            return fallback_textured_scene(size, seed)

    event = generate_event(grid_centered(-76.5, -11.9, size, size), seed=seed, clouds=False)
    scene = event.post
    px_w, px_h = pixel_size_m(scene.transform)
    stack = np.empty((len(ALL_BANDS), size, size), np.float32)
    for k, name in enumerate(ALL_BANDS):
        if name == SLOPE and SLOPE not in scene.band_names:
            stack[k] = slope_horn_deg(scene.band(ELEVATION), px_w, px_h)
        else:
            stack[k] = scene.band(name)
    return stack, np.asarray(scene.valid, bool), "landslide_core.synthetic.generate_event (post date, no clouds)"


def model_for(path: str | None, base_channels: int = 16):
    path = Path(path) if path else default_model_path()
    if path.exists():
        model, card = load_checkpoint(path)
        return model, card, f"{card.name} ({card.architecture}, {card.band_set}) from {path}"
    torch.manual_seed(0)
    kwargs = {"base_channels": base_channels}
    model = build_model("unet_vanilla", len(ALL_BANDS), **kwargs).eval()
    card = ModelCard(name=RANDOM_NAME, architecture="unet_vanilla", band_set="l4s14", bands=list(ALL_BANDS),
                     arch_kwargs=kwargs)
    return model, card, (f"NO trained model found: a RANDOMLY INITIALISED unet_vanilla (base_channels={base_channels}, l4s14) "
                         "stands in (BatchNorm statistics calibrated on the scene, no labels used); its "
                         "probabilities mean nothing, only timings and seams are measured")


def calibrate_batchnorm(model, card: ModelCard, stack: np.ndarray, device, crops: int = 8, crop_px: int = 256) -> None:
    """Set a random model's BatchNorm running statistics from the scene itself (no labels).

    Straight from initialisation (mean 0, variance 1) the activations drift, and the output is
    almost constant (std ~ 4e-4), which would make any seam comparison meaningless.
    """
    rng = np.random.default_rng(1)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(crops):
            r, c = (int(v) for v in rng.integers(0, np.array(stack.shape[1:]) - crop_px + 1))
            x, _ = to_model_input(stack[:, r:r + crop_px, c:c + crop_px], ALL_BANDS, card.bands)
            model(torch.from_numpy(x[None]).to(device))
    model.eval()


def naive_tiles(model, card: ModelCard, stack: np.ndarray, valid: np.ndarray, device,
                channels_last: bool = False) -> np.ndarray:
    """The seed's way: 128 px tiles without overlap, 16 per forward pass, pasted side by side."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    x, finite = to_model_input(stack, ALL_BANDS, card.bands)
    ok = valid & finite
    x[:, ~ok] = 0.0
    _, h, w = x.shape
    ph, pw = (-h) % NAIVE_TILE_PX, (-w) % NAIVE_TILE_PX
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, ph), (0, pw)))
    H, W = x.shape[1:]
    out = np.empty((H, W), np.float32)
    corners = [(r, c) for r in range(0, H, NAIVE_TILE_PX) for c in range(0, W, NAIVE_TILE_PX)]
    with torch.inference_mode():
        for i in range(0, len(corners), NAIVE_BATCH):
            chunk = corners[i:i + NAIVE_BATCH]
            batch = np.stack([x[:, r:r + NAIVE_TILE_PX, c:c + NAIVE_TILE_PX] for r, c in chunk])
            xb = torch.from_numpy(batch).to(device).contiguous(memory_format=fmt)
            prob = torch.sigmoid(model(xb).float())[:, 0].cpu().numpy()
            for (r, c), p in zip(chunk, prob):
                out[r:r + NAIVE_TILE_PX, c:c + NAIVE_TILE_PX] = p
    out = out[:h, :w]
    out[~ok] = np.nan
    return out


def monai_windows(model, card: ModelCard, stack: np.ndarray, valid: np.ndarray, device) -> np.ndarray:
    """MONAI's sliding window: 512 px, overlap 0.25, gaussian importance, probabilities blended."""
    from monai.inferers import sliding_window_inference

    model = model.to(memory_format=torch.channels_last)
    x, finite = to_model_input(stack, ALL_BANDS, card.bands)
    ok = valid & finite
    x[:, ~ok] = 0.0

    def predictor(batch: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(model(batch.contiguous(memory_format=torch.channels_last)).float())

    with torch.inference_mode():
        out = sliding_window_inference(torch.from_numpy(x[None]).to(device), roi_size=(MONAI_ROI_PX, MONAI_ROI_PX),
                                       sw_batch_size=1, predictor=predictor, overlap=MONAI_OVERLAP, mode="gaussian")
    prob = out[0, 0].float().cpu().numpy()
    prob[~ok] = np.nan
    return prob


def monai_edges(length: int) -> list[int]:
    """Window edges of MONAI's sliding window along one axis (its own scan: step roi*(1-overlap))."""
    if length <= MONAI_ROI_PX:
        return []
    step = int(MONAI_ROI_PX * (1 - MONAI_OVERLAP))
    starts = list(range(0, length - MONAI_ROI_PX + 1, step))
    if starts[-1] + MONAI_ROI_PX < length:
        starts.append(length - MONAI_ROI_PX)
    return sorted({s for s in starts} | {s + MONAI_ROI_PX for s in starts})


def near_edges(length: int, edges: list[int]) -> np.ndarray:
    """Pixels along an axis within EDGE_PX of any of the given interior edges (pixel boundaries)."""
    near = np.zeros(length, bool)
    for e in edges:
        if 0 < e < length:
            near[max(e - EDGE_PX, 0):min(e + EDGE_PX, length)] = True
    return near


def edge_mask(shape: tuple[int, int], edges_y: list[int], edges_x: list[int]) -> np.ndarray:
    return near_edges(shape[0], edges_y)[:, None] | near_edges(shape[1], edges_x)[None, :]


def window_edges(length: int, cfg: PredictorConfig, multiple: int) -> list[int]:
    starts, size = plan_axis(length, cfg.window_px, cfg.overlap_px, multiple)
    return sorted({s for s in starts} | {s + size for s in starts})


def errors(prob: np.ndarray, ref: np.ndarray, near: np.ndarray) -> tuple[float, float, float]:
    """(error near the edges, error over all pixels, largest error); without interior edges the
    first is the second."""
    ok = np.isfinite(prob) & np.isfinite(ref)
    diff = np.abs(prob - ref)
    overall = float(diff[ok].mean())
    return (float(diff[ok & near].mean()) if (ok & near).any() else overall), overall, float(diff[ok].max())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2048, help="scene side in pixels (at least 2048 for the acceptance)")
    ap.add_argument("--model", default=None, help="model card .json (default: models/default.json if present)")
    ap.add_argument("--base-channels", type=int, default=16,
                    help="width of the random stand-in U-Net when there is no trained model (default 16)")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs of each contender, alternated; the best counts")
    ap.add_argument("--device", default=None, choices=("cpu", "cuda"))
    ap.add_argument("--threads", type=int, default=None,
                    help="CPU threads (default: every core); with 1 thread the CPU-time ratio is immune "
                         "to other processes sharing the machine")
    args = ap.parse_args(argv)

    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # choose_device (and every Predictor) honours it
    device = choose_device(args.device)
    model, card, model_note = model_for(args.model, args.base_channels)
    model = model.to(device).eval()
    t = time.perf_counter()
    stack, valid, scene_note = generated_scene(args.size)
    print(f"scene: {args.size} x {args.size} px, 14 bands, {scene_note} ({time.perf_counter() - t:.1f} s)")
    if card.name == RANDOM_NAME:
        calibrate_batchnorm(model, card, stack, device)
    rss_scene = peak_rss_mb()
    print(f"model: {model_note}")
    print(f"device: {device} ({torch.get_num_threads()} threads)")

    ours = Predictor(model, card, PredictorConfig(device=args.device))
    torch_only = Predictor(model, card, PredictorConfig(device=args.device, backend="torch"))
    multiple = ours.multiple
    cfg = ours.config
    wsize = plan_axis(args.size, cfg.window_px, cfg.overlap_px, multiple)[1]
    print(f"ours: window {cfg.window_px} px max, overlap {cfg.overlap_px} px -> windows of {wsize} px, batch "
          f"{ours.batch_size_for(wsize ** 2)}; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")

    keys = ("a", "b", "b_torch", "d")
    cpu_s: dict[str, list[float]] = {k: [] for k in keys}
    wall_s: dict[str, list[float]] = {k: [] for k in keys}

    def timed(fn, key=None):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if key:
            cpu_s[key].append(time.process_time() - c0)
            wall_s[key].append(time.perf_counter() - t0)
        return out

    # warm-up (allocator, thread pools, the ONNX export) on a small crop, then alternate
    crop = (slice(None), slice(0, 256), slice(0, 256))
    naive_tiles(model, card, stack[crop], valid[crop[1:]], device)
    big = (slice(None), slice(0, 1024), slice(0, 1024))  # large enough for ONNX Runtime: its session is made here
    ours.predict_array(stack[big], valid[big[1:]])
    torch_only.predict_array(stack[crop], valid[crop[1:]])
    monai_windows(model, card, stack[crop], valid[crop[1:]], device)
    out: dict[str, np.ndarray] = {}
    for _ in range(max(args.repeats, 1)):
        out["a"] = timed(lambda: naive_tiles(model, card, stack, valid, device), "a")
        out["b"] = timed(lambda: ours.predict_array(stack, valid), "b")
        out["b_torch"] = timed(lambda: torch_only.predict_array(stack, valid), "b_torch")
        out["d"] = timed(lambda: monai_windows(model, card, stack, valid, device), "d")
    rss_ab = peak_rss_mb()
    one_pass = Predictor(model, card, PredictorConfig(window_px=max(stack.shape[1:]), overlap_px=0,
                                                      batch_size=1, device=args.device, backend="torch"))
    prob_c = timed(lambda: one_pass.predict_array(stack, valid))
    rss_all = peak_rss_mb()
    backend = "onnxruntime" if ours.onnx is not None else "torch"

    shape = prob_c.shape
    naive_edges = list(range(NAIVE_TILE_PX, max(shape), NAIVE_TILE_PX))
    near = {"a": edge_mask(shape, naive_edges, naive_edges),
            "b": edge_mask(shape, window_edges(shape[0], cfg, multiple), window_edges(shape[1], cfg, multiple)),
            "d": edge_mask(shape, monai_edges(shape[0]), monai_edges(shape[1]))}
    near["b_torch"] = near["b"]
    err = {k: errors(out[k], prob_c, near[k]) for k in keys}
    best = {k: min(wall_s[k]) for k in keys}
    best_cpu = {k: min(cpu_s[k]) for k in keys}
    names = {"a": "(a) seed tiling 128 px, no overlap, batch 16", "b": f"(b) ours at defaults [{backend}]",
             "b_torch": "(b') ours, PyTorch only", "d": "(d) MONAI sliding window 512, 0.25, gaussian"}
    for k in keys:
        print(f"{names[k]:46s} {best[k]:6.2f} s wall, {best_cpu[k]:6.2f} s CPU (runs: "
              f"{', '.join(f'{x:.2f}' for x in wall_s[k])}); error vs (c): near own edges {err[k][0]:.6f}, "
              f"all pixels {err[k][1]:.6f}, largest {err[k][2]:.5f}")
    ratio_monai = best_cpu["b"] / best_cpu["d"]
    print(f"ratio ours/MONAI: {ratio_monai:.3f} by CPU time ({best['b'] / best['d']:.3f} by wall time); "
          f"PyTorch-only ours/MONAI {best_cpu['b_torch'] / best_cpu['d']:.3f}; ours/seed tiling "
          f"{best_cpu['b'] / best_cpu['a']:.3f} (CPU); load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, "
          f"{torch.get_num_threads()} threads")
    print(f"ours vs MONAI error over all pixels: {err['b'][1]:.6f} vs {err['d'][1]:.6f} "
          f"({'equal or lower' if err['b'][1] <= err['d'][1] else 'HIGHER'})")
    print(f"reference probability: mean {np.nanmean(prob_c):.4f}, std {np.nanstd(prob_c):.4f}, "
          f"valid {np.isfinite(prob_c).mean() * 100:.1f}% of pixels; (b) vs (b') largest difference "
          f"{float(np.nanmax(np.abs(out['b'] - out['b_torch']))):.2e}")
    print(f"peak RSS: {rss_scene:.0f} MB after generating the scene; {rss_ab:.0f} MB after (a), (b), (d); "
          f"{rss_all:.0f} MB after (c) (whole-scene pass)")
    print(json.dumps({"time_ratio_vs_naive": round(best["b"] / best["a"], 4),
                      "time_ratio_vs_naive_cpu_time": round(best_cpu["b"] / best_cpu["a"], 4),
                      "time_ratio_vs_monai_cpu_time": round(ratio_monai, 4),
                      "time_ratio_vs_monai": round(best["b"] / best["d"], 4),
                      "time_ratio_torch_only_vs_monai_cpu_time": round(best_cpu["b_torch"] / best_cpu["d"], 4),
                      "error_ours": round(err["b"][1], 7), "error_monai": round(err["d"][1], 7),
                      "seam_error_ours": round(err["b"][0], 6), "seam_error_naive": round(err["a"][0], 6),
                      "seam_error_monai": round(err["d"][0], 6), "backend": backend,
                      "model": card.name, "peak_rss_mb": round(rss_all, 1), "threads": torch.get_num_threads(),
                      "load_average": round(os.getloadavg()[0], 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
