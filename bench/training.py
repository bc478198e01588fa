"""Benchmark: training throughput and the share of step time spent waiting for data.

Ours (patches decoded once into a float32 array, batches gathered and augmented by a
background thread) against a seed-style loader (a torch Dataset that opens and converts
each h5 file per item, in float64, through a DataLoader), with the same model, batch size
and number of steps, in one run, on generated L4S-layout files in a temporary folder
(or --data DIR).

    python bench/training.py [--patches 96] [--steps 12] [--batch-size 16] [--base-channels 16]

The last line is JSON: samples_per_s, samples_per_s_seed_style, data_wait_share (ours), and more.
Acceptance: data_wait_share <= 0.10.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


from landslide_core.training.dataset import BatchLoader, discover, load_patches  # noqa: E402
from landslide_core.training.losses import WceDiceLoss  # noqa: E402
from landslide_core.training.toydata import write_toy_l4s  # noqa: E402
from landslide_core.zoo import build_model  # noqa: E402


class SeedStyleDataset(torch.utils.data.Dataset):
    """The seed's way: open both h5 files per item, float64, per-band normalisation, flips."""

    def __init__(self, pairs, mean: np.ndarray, std: np.ndarray, seed: int = 0):
        self.pairs = list(pairs)
        self.mean, self.std = mean, std
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i):
        import h5py

        p = self.pairs[i]
        with h5py.File(p.image, "r") as f:
            image = np.asarray(f["img"][()], dtype=np.float64)
        with h5py.File(p.mask, "r") as f:
            label = np.asarray(f["mask"][()], dtype=np.float64)
        image = image.transpose((2, 0, 1))
        for b in range(image.shape[0]):
            image[b] = (image[b] - self.mean[b]) / self.std[b]
        image[~np.isfinite(image)] = 0.0
        if self.rng.uniform() < 0.5:
            image, label = image[:, :, ::-1], label[:, ::-1]
        if self.rng.uniform() < 0.5:
            image, label = image[:, ::-1, :], label[::-1, :]
        return image.copy(), label.copy()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Runner:
    """One loader with its own model and optimizer; times the wait for each batch and the compute."""

    def __init__(self, batches, model, optimizer, loss_fn, device):
        self.batches, self.model, self.optimizer, self.loss_fn, self.device = batches, model, optimizer, loss_fn, device
        self.it = iter(batches)
        self.wait = self.compute = 0.0
        self.samples = 0

    def _next(self):
        try:
            return next(self.it)
        except StopIteration:
            self.it = iter(self.batches)
            return next(self.it)

    def run(self, steps: int, record: bool = True) -> None:
        for _ in range(steps):
            t0 = time.perf_counter()
            x, y = self._next()
            t1 = time.perf_counter()
            x = x.to(self.device, dtype=torch.float32, non_blocking=True)
            y = y.to(self.device, dtype=torch.float32, non_blocking=True)
            if y.ndim == 3:
                y = y[:, None]
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.model(x), y)
            loss.backward()
            self.optimizer.step()
            _sync(self.device)
            t2 = time.perf_counter()
            if record:
                self.wait += t1 - t0
                self.compute += t2 - t1
                self.samples += len(x)

    def result(self) -> dict:
        total = self.wait + self.compute
        return {"samples_per_s": self.samples / total, "data_wait_share": self.wait / total, "wait_s": self.wait,
                "compute_s": self.compute, "samples": self.samples}


class OurBatches:
    """Epoch after epoch of our BatchLoader, as (x, y) pairs."""

    def __init__(self, patches, batch_size: int, workers: int, pin: bool):
        self.patches, self.batch_size, self.workers, self.pin = patches, batch_size, workers, pin
        self.epoch = 0

    def __iter__(self):
        loader = BatchLoader(self.patches, np.arange(len(self.patches)), self.batch_size, shuffle=True,
                             augment=True, seed=0, epoch=self.epoch, workers=self.workers, pin_memory=self.pin)
        self.epoch += 1
        for b in loader:
            yield b.x, b.y


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="an L4S folder to use instead of generated files")
    ap.add_argument("--patches", type=int, default=96, help="generated patches (default 96)")
    ap.add_argument("--steps", type=int, default=12, help="timed steps per loader (default 12)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=4, help="alternating rounds of the two loaders (default 4)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--base-channels", type=int, default=None,
                    help="U-Net width (default 64 on a GPU as in the thesis, 16 on a CPU)")
    ap.add_argument("--workers", type=int, default=2, help="our batch threads (default 2, as in training)")
    ap.add_argument("--seed-workers", type=int, default=0, help="DataLoader workers of the seed style (default 0)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if (args.device == "auto" and torch.cuda.is_available()) else
                          ("cpu" if args.device == "auto" else args.device))
    base = args.base_channels or (64 if device.type == "cuda" else 16)
    with tempfile.TemporaryDirectory(prefix="bench_training_") as tmp:
        data = Path(args.data) if args.data else write_toy_l4s(Path(tmp) / "l4s", args.patches, seed=0)
        layout = discover(data)
        pairs = [p for ps in layout.subsets.values() for p in ps if p.mask is not None]
        t0 = time.perf_counter()
        patches = load_patches(data, pairs, "l4s14")
        decode_s = time.perf_counter() - t0
        mean = patches.x.mean(axis=(0, 2, 3)).astype(np.float64)
        std = patches.x.std(axis=(0, 2, 3)).astype(np.float64) + 1e-6

        loss_fn = WceDiceLoss(0.5, 5.0)
        runners = {}
        for name in ("seed_style", "ours"):
            torch.manual_seed(0)
            model = build_model("unet_vanilla", 14, base_channels=base).to(device).train()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            if name == "ours":
                batches = OurBatches(patches, args.batch_size, args.workers, device.type == "cuda")
            else:
                batches = torch.utils.data.DataLoader(SeedStyleDataset(pairs, mean, std), batch_size=args.batch_size,
                                                      shuffle=True, num_workers=args.seed_workers)
            runners[name] = Runner(batches, model, optimizer, loss_fn, device)
            runners[name].run(args.warmup, record=False)
        # Alternate in rounds so that a busy machine slows both loaders alike.
        rounds = max(1, min(args.rounds, args.steps))
        per_round = [args.steps // rounds + (1 if r < args.steps % rounds else 0) for r in range(rounds)]
        for r, n in enumerate(per_round):
            for name in (("seed_style", "ours") if r % 2 == 0 else ("ours", "seed_style")):
                runners[name].run(n)
        results = {name: runner.result() for name, runner in runners.items()}
        # The loaders alone (no model): the most samples/s each could feed to a fast GPU.
        loader_only = {}
        for name, runner in runners.items():
            it, n, t0 = iter(runner.batches), 0, time.perf_counter()
            for _ in range(args.steps):
                try:
                    x, _y = next(it)
                except StopIteration:
                    it = iter(runner.batches)
                    x, _y = next(it)
                n += len(x)
            loader_only[name] = n / (time.perf_counter() - t0)
        for name, res in results.items():
            print(f"{name:>10}: {res['samples_per_s']:8.2f} samples/s, data wait {res['data_wait_share']:.1%} of "
                  f"step time ({res['wait_s']:.2f} s wait, {res['compute_s']:.2f} s compute, {res['samples']} samples)")
    ours, seed = results["ours"], results["seed_style"]
    out = {
        "samples_per_s": round(ours["samples_per_s"], 2),
        "samples_per_s_seed_style": round(seed["samples_per_s"], 2),
        "data_wait_share": round(ours["data_wait_share"], 4),
        "data_wait_share_seed_style": round(seed["data_wait_share"], 4),
        "speedup_vs_seed_style": round(ours["samples_per_s"] / seed["samples_per_s"], 3),
        "data_wait_ratio_seed_over_ours": round(seed["wait_s"] / max(ours["wait_s"], 1e-9), 1),
        "wait_ms_per_batch": round(1000 * ours["wait_s"] * args.batch_size / ours["samples"], 2),
        "wait_ms_per_batch_seed_style": round(1000 * seed["wait_s"] * args.batch_size / seed["samples"], 2),
        "loader_only_samples_per_s": round(loader_only["ours"], 1),
        "loader_only_samples_per_s_seed_style": round(loader_only["seed_style"], 1),
        "decode_once_s": round(decode_s, 2),
        "patches": len(pairs), "steps": args.steps, "batch_size": args.batch_size, "base_channels": base,
        "device": str(device), "torch_threads": torch.get_num_threads(),
        "accept_data_wait_le_10pct": ours["data_wait_share"] <= 0.10,
    }
    print(f"loaders alone (no model): ours {out['loader_only_samples_per_s']:.0f} samples/s, seed style "
          f"{out['loader_only_samples_per_s_seed_style']:.0f} samples/s")
    print(f"ours vs seed style: {out['speedup_vs_seed_style']:.2f}x samples/s; data wait "
          f"{out['data_wait_share']:.1%} vs {out['data_wait_share_seed_style']:.1%} of step time "
          f"(acceptance <= 10 %: {'met' if out['accept_data_wait_le_10pct'] else 'NOT met'})")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
