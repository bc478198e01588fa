"""Helpers of the hardening tests (issue 15) that also run in child processes (started with
:func:`run_in_processes`, which imports this module by name in a fresh interpreter)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def run_in_processes(function: str, arg_lists: list[list], timeout_s: float = 300) -> list:
    """Run ``hardening_kit.<function>(*args)`` in one fresh Python process per argument list,
    all at once; return their results (JSON). Plain subprocesses, not multiprocessing: a
    test runner whose ``__main__`` is a Streamlit page (after AppTest) would make every
    multiprocessing child re-run that page."""
    code = ("import json, sys; import hardening_kit as k; "
            f"print(json.dumps(k.{function}(*json.loads(sys.argv[1]))))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), str(ROOT)]), OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, "-c", code, json.dumps(args)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT) for args in arg_lists]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=timeout_s)
        if p.returncode != 0:
            raise AssertionError(f"child failed ({p.returncode}):\n{stderr[-3000:]}")
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def export_everything(folder: str, names: list[str], thresholds: list[float]) -> dict:
    """Load a finished result and export every (name, threshold), re-thresholding too; returns
    {"paths": {name@t: path}, "new_counts": {t: count}} (run in threads and processes)."""
    from landslide_core.result_views import export_file, rethreshold
    from landslide_core.results import load_result

    result = load_result(folder)
    paths, counts = {}, {}
    for t in thresholds:
        counts[str(t)] = rethreshold(result, t).change_summary.new_count
        for name in names:
            paths[f"{name}@{t}"] = str(export_file(result, name, t))
    return {"paths": paths, "new_counts": counts}


def produce_with_count(cache_root: str, key: str, log_path: str, scene_file: str, ready_dir: str, n: int) -> dict:
    """One of ``n`` processes fetching the same cache key at once: waits until all ``n`` are
    ready (a file each in ``ready_dir``), then get_or_create; the producer appends a line to
    ``log_path`` and takes a while."""
    import shutil

    from landslide_core.sources.cache import SceneCache

    cache = SceneCache(Path(cache_root), 10**9)
    Path(ready_dir, f"{os.getpid()}").write_text("ready")
    deadline = time.time() + 120
    while len(os.listdir(ready_dir)) < n and time.time() < deadline:
        time.sleep(0.002)

    def produce(tmp: Path) -> None:
        with open(log_path, "a") as fh:
            fh.write("produced\n")
        time.sleep(0.5)  # a download takes a while: the others must wait, not download too
        shutil.copyfile(scene_file, tmp)

    path, hit = cache.get_or_create(key, produce)
    return {"path": str(path), "hit": hit}
