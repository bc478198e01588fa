"""Issue 15, items 2, 10, 11 and 12 (the pair overlap): the CLI never overwrites its input,
never hangs on a pipe or a device, never prints a traceback, and says what really went wrong."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import make_raw_scene
from rasterio.transform import from_origin

from landslide_core.bands import ALL_BANDS
from landslide_core.checkpoint import ModelCard, save_checkpoint
from landslide_core.cli import main
from landslide_core.scene import write_scene
from landslide_core.zoo import build_model

ROOT = Path(__file__).resolve().parent.parent
OUTPUTS = {"probability.tif", "mask.tif", "landslides.geojson", "landslides.csv", "summary.json"}


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("unet_vanilla", 14, base_channels=4)
    card = ModelCard(name="tiny", architecture="unet_vanilla", band_set="l4s14", bands=list(ALL_BANDS),
                     arch_kwargs={"base_channels": 4}, threshold=0.5, trained_on="nothing (test)")
    return save_checkpoint(model, card, tmp_path_factory.mktemp("model") / "tiny")


def cli(capsys, *argv):
    rc = main([*map(str, argv)])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    return rc, out, err


def scene(path, h=40, w=50, seed=0, **changes):
    raw = make_raw_scene(h, w, seed=seed)
    for k, v in changes.items():
        setattr(raw, k, v)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_scene(path, raw)


@contextlib.contextmanager
def deadline(seconds: float, unblock: Path | None = None):
    """Fail (TimeoutError) instead of hanging; ``unblock``: a named pipe to open for writing
    when time is up, so that a reader stuck opening it returns."""
    def on_alarm(signum, frame):  # noqa: ARG001
        if unblock is not None:
            with contextlib.suppress(OSError):
                os.close(os.open(unblock, os.O_WRONLY | os.O_NONBLOCK))
        raise TimeoutError(f"still running after {seconds} s: it hangs")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ---------------------------------------------------------------- item 2

def test_item2_detect_refuses_to_overwrite_its_input_in_out(tmp_path, model_path, capsys):
    out = tmp_path / "out"
    image = scene(out / "probability.tif")  # the input lives in --out under an output name
    before = image.read_bytes()
    rc, _, err = cli(capsys, "detect", "--image", image, "--out", out, "--model", model_path)
    assert rc == 2 and "would be overwritten" in err and str(image) in err
    assert image.read_bytes() == before
    post = scene(out / "post" / "mask.tif", seed=2)
    pre = scene(tmp_path / "pre.tif", seed=1)
    rc, _, err = cli(capsys, "detect", "--pre", pre, "--post", post, "--out", out, "--model", model_path)
    assert rc == 2 and "would be overwritten" in err
    assert sorted(p.name for p in out.iterdir()) == ["post", "probability.tif"]  # nothing else written


def test_item2_replaced_outputs_are_reported_and_nothing_half_done_is_left(tmp_path, model_path, capsys):
    image = scene(tmp_path / "s.tif")
    out = tmp_path / "out"
    rc, stdout, _ = cli(capsys, "detect", "--image", image, "--out", out, "--model", model_path)
    assert rc == 0 and "existing file(s)" not in stdout
    outputs = {p.name for p in out.iterdir()}
    assert OUTPUTS <= outputs
    (out / "mine.txt").write_text("keep me")
    rc, stdout, _ = cli(capsys, "detect", "--image", image, "--out", out, "--model", model_path)
    assert rc == 0
    assert f"replaced {len(outputs)} existing file(s)" in stdout and "probability.tif" in stdout
    assert {p.name for p in out.iterdir()} == outputs | {"mine.txt"}  # no working folder left
    assert json.loads((out / "summary.json").read_text())["prediction"]["path"] == str(out / "probability.tif")


SLOW_DETECT = """
import sys, time
from landslide_core import predictor
forward = predictor.Predictor._forward
def slow(self, batch):
    time.sleep(0.15)  # a big scene takes a while
    return forward(self, batch)
predictor.Predictor._forward = slow
from landslide_core.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_item2_sigterm_leaves_no_working_files_and_keeps_out_as_it_was(tmp_path, model_path):
    image = scene(tmp_path / "s.tif", h=160, w=160)
    out = tmp_path / "out"
    out.mkdir()
    (out / "probability.tif").write_bytes(b"an older result")
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-c", SLOW_DETECT, "detect", "--image", str(image), "--out", str(out),
                             "--model", str(model_path), "--window", "32", "--overlap", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    try:
        t0 = time.time()
        while not any(".probability.raw" in p.name for p in out.rglob("*")):
            assert proc.poll() is None, proc.communicate()
            assert time.time() - t0 < 60, "prediction never started"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert b"Traceback" not in err and b"SIGTERM" in err
    assert [p.name for p in out.rglob("*")] == ["probability.tif"]
    assert (out / "probability.tif").read_bytes() == b"an older result"


# ---------------------------------------------------------------- item 10

def test_item10_a_named_pipe_as_the_scene_is_refused_at_once(tmp_path, model_path, capsys):
    fifo = tmp_path / "scene.tif"
    os.mkfifo(fifo)
    with deadline(20, unblock=fifo):
        rc, _, err = cli(capsys, "detect", "--image", fifo, "--out", tmp_path / "o", "--model", model_path)
    assert rc == 2 and "named pipe" in err and "regular file" in err


@pytest.mark.parametrize("kind", ["fifo", "dev_zero"])
def test_item10_a_pipe_or_dev_zero_as_the_weights_is_refused_at_once(tmp_path, model_path, capsys, kind):
    image = scene(tmp_path / "s.tif")
    card = json.loads(Path(model_path).read_text())
    assert card["weights_sha256"]  # so the weights are hashed before anything else
    (tmp_path / "m.json").write_text(json.dumps(card))
    weights = tmp_path / "m.safetensors"
    if kind == "fifo":
        os.mkfifo(weights)
    else:
        weights.symlink_to("/dev/zero")
    with deadline(20, unblock=weights if kind == "fifo" else None):
        rc, _, err = cli(capsys, "detect", "--image", image, "--out", tmp_path / "o", "--model", tmp_path / "m.json")
    assert rc == 3 and "not a regular file" in err
    assert ("named pipe" if kind == "fifo" else "character device") in err


def test_item10_a_named_pipe_as_the_area_file_is_refused(tmp_path, capsys):
    fifo = tmp_path / "area.geojson"
    os.mkfifo(fifo)
    with deadline(20, unblock=fifo):
        rc, _, err = cli(capsys, "sources", "scenes", "--aoi", fifo, "--pre", "2023-01-01", "2023-02-01",
                         "--post", "2023-03-01", "2023-04-01")
    assert rc == 2 and "named pipe" in err


# ---------------------------------------------------------------- item 11

def _unwritable_folder(tmp_path) -> Path:
    """A folder that exists but cannot be written, for root too when possible."""
    if os.geteuid() != 0:
        folder = tmp_path / "readonly"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    for candidate in (Path("/sys/fs"), Path("/proc/sys")):
        try:
            (candidate / ".landslide-write-test").write_bytes(b"")
        except OSError:
            if candidate.is_dir():
                return candidate
        else:  # pragma: no cover - writable after all
            (candidate / ".landslide-write-test").unlink()
    pytest.skip("no unwritable folder on this machine")


def test_item11_an_unwritable_out_is_named_not_blamed_on_the_input(tmp_path, model_path, capsys):
    image = scene(tmp_path / "s.tif")
    folder = _unwritable_folder(tmp_path)
    rc, _, err = cli(capsys, "detect", "--image", image, "--out", folder, "--model", model_path)
    assert rc == 2 and f"Cannot write into the output folder {folder}" in err
    assert "Cannot read" not in err and "complete GeoTIFF" not in err


def test_item11_generate_out_as_a_file(tmp_path, capsys):
    target = tmp_path / "a_file"
    target.write_text("x")
    for what in (["event", "--size", "32"], ["l4s", "--patches", "1"]):
        rc, _, err = cli(capsys, "generate", *what, "--out", target)
        assert rc == 2 and "exists and is not a folder" in err
    assert target.read_text() == "x"


def test_item11_evaluate_checks_out_before_the_work(tmp_path, monkeypatch, capsys):
    import importlib

    evaluate_module = importlib.import_module("landslide_core.training.evaluate")
    monkeypatch.setattr(evaluate_module, "evaluate", lambda *a, **k: pytest.fail("evaluated before checking --out"))
    folder = _unwritable_folder(tmp_path)
    rc, _, err = cli(capsys, "evaluate", "--model", "whatever", "--data", tmp_path, "--out", folder / "table.json",
                     "--device", "cpu")
    assert rc == 2 and "Cannot write into the output folder" in err
    rc, _, err = cli(capsys, "evaluate", "--model", "whatever", "--data", tmp_path, "--out", tmp_path, "--device", "cpu")
    assert rc == 2 and "is a folder" in err


def test_item11_sources_scenes_with_a_missing_area_file(tmp_path, capsys):
    rc, _, err = cli(capsys, "sources", "scenes", "--aoi", tmp_path / "missing.geojson", "--pre", "2023-01-01",
                     "2023-02-01", "--post", "2023-03-01", "2023-04-01")
    assert rc == 2 and "does not exist" in err and "missing.geojson" in err


# ---------------------------------------------------------------- item 12 (pair overlap)

def test_item12_a_one_pixel_overlap_is_reported_as_such(tmp_path, model_path, capsys):
    post = scene(tmp_path / "post.tif", seed=2)  # 50 columns of 10 m from x=400000
    pre = scene(tmp_path / "pre.tif", seed=1, transform=from_origin(400490.0, 8750000.0, 10.0, 10.0))
    rc, _, err = cli(capsys, "detect", "--pre", pre, "--post", post, "--out", tmp_path / "o", "--model", model_path,
                     "--window", 32)
    assert rc == 2 and "overlap on only 1 x 40 pixels" in err
    assert "no valid pixel" not in err
