"""Generator speed: seconds to generate a 1024 x 1024 pre/post pair on the CPU (limit 10 s).

    .venv/bin/python bench/generator_speed.py [--size 1024] [--repeats 2]

Prints each run (wall clock and CPU time: on a shared machine the wall clock includes
waiting for a core) and the best; the last line is JSON {"seconds_1024_pair": ..., ...}.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time


from landslide_core.grid import grid_centered  # noqa: E402
from landslide_core.synthetic import generate_event  # noqa: E402

LIMIT_S = 10.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    grid = grid_centered(-75.4, -11.3, args.size, args.size)
    times, cpu = [], []
    for k in range(max(1, args.repeats)):
        t0, c0 = time.perf_counter(), time.process_time()
        event = generate_event(grid, seed=args.seed + k, clouds=True)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        print(f"run {k + 1}: {args.size}x{args.size} pre/post pair in {times[-1]:.2f} s "
              f"({cpu[-1]:.2f} s of CPU; {int(event.new_landslides.sum())} new landslide px, clouds {event.post.provenance['cloud_percent']} %)")
    best = min(times)
    print(f"best {best:.2f} s, limit {LIMIT_S:.0f} s, ratio to limit {best / LIMIT_S:.2f}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(json.dumps({"seconds_1024_pair" if args.size == 1024 else f"seconds_{args.size}_pair": round(best, 3),
                      "runs_s": [round(t, 3) for t in times],
                      "cpu_s": [round(t, 3) for t in cpu], "limit_s": LIMIT_S, "within_limit": best <= LIMIT_S}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
