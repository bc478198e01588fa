"""What two processes get out of this machine at once: the ceiling of any 2-worker speed-up.

The same single-threaded work is timed in one process alone, then in two processes at once
(started together at a barrier): the throughput ratio ``2 x alone / together`` is what a second
worker can add at best. Two kinds of work, as a batch tile does them: the default model's forward
pass on a 512 px window (torch, one thread) and numpy's elementwise arithmetic on 2000 x 2000
float32 arrays. Printed beside the batch benchmark's speed-up (the machine may be shared, and a
lone process may run faster than each of two, e.g. on a boosted clock or a shared core).

    PYTHONPATH=. .venv/bin/python bench/machine_scaling.py
"""
from __future__ import annotations

import json
import multiprocessing as mp
import time

KINDS = ("model", "numpy")


def _work(kind: str, barrier, results) -> None:
    import numpy as np

    if kind == "model":
        import torch

        from landslide_core.detection import load_model

        torch.set_num_threads(1)
        model, card, _ = load_model(None)
        x = torch.rand(1, len(card.bands), 512, 512)

        def step() -> None:
            with torch.inference_mode():
                model(x)
        repeats = 10
    else:
        a = np.random.default_rng(0).random((2000, 2000), dtype=np.float32)
        out = np.empty_like(a)

        def step() -> None:
            for _ in range(20):
                np.multiply(a, np.float32(1.0001), out=out)
                np.add(out, np.float32(0.5), out=out)
        repeats = 60
    step()  # warm: imports, allocations, kernels chosen
    if barrier is not None:
        barrier.wait()
    t0 = time.perf_counter()
    for _ in range(repeats):
        step()
    results.put(time.perf_counter() - t0)


def _timed(kind: str, processes: int) -> float:
    ctx = mp.get_context("spawn")  # a clean interpreter each: no inherited threads
    barrier = ctx.Barrier(processes) if processes > 1 else None
    results = ctx.Queue()
    procs = [ctx.Process(target=_work, args=(kind, barrier, results)) for _ in range(processes)]
    for p in procs:
        p.start()
    times = [results.get(timeout=300) for _ in procs]
    for p in procs:
        p.join()
    return max(times)


def two_process_scaling() -> dict[str, dict[str, float]]:
    """Per kind: seconds alone (mean of a run before and one after), seconds each of two at once,
    and the throughput of two over one."""
    out = {}
    for kind in KINDS:
        alone_before = _timed(kind, 1)
        together = _timed(kind, 2)
        alone_after = _timed(kind, 1)
        alone = (alone_before + alone_after) / 2
        out[kind] = {"alone_s": round(alone, 3), "alone_range_s": [round(alone_before, 3), round(alone_after, 3)],
                     "two_at_once_s": round(together, 3), "throughput_x": round(2 * alone / together, 2)}
    return out


def describe(scaling: dict[str, dict[str, float]]) -> str:
    return "; ".join(f"{k}: alone {v['alone_s']:.2f} s, each of two at once {v['two_at_once_s']:.2f} s "
                     f"-> x{v['throughput_x']:.2f}" for k, v in scaling.items())


if __name__ == "__main__":
    s = two_process_scaling()
    print("two processes at once against one:", describe(s))
    print(json.dumps({"bench": "machine_scaling", **s}))
