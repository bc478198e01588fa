"""bench/gpu_check.py runs anywhere: without CUDA it says so and exits 0 (the lead runs it on a lent GPU)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: the script would run the real check")
def test_gpu_check_without_cuda_says_so_and_exits_0():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the checkout itself, installed or not
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py")], capture_output=True, text=True,
                         timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert "no CUDA" in out.stdout
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"cuda": False, "torch": torch.__version__}
