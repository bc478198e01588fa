"""Training runs: the run folder, resume, stop, the device queue, the CLI, evaluation, promotion."""
from __future__ import annotations

import csv
import json
import os
import signal
import threading
import time

import numpy as np
import pytest

from landslide_core import checkpoint
from landslide_core.cli import main as cli_main
from landslide_core.errors import InputError, UserError
from landslide_core.progress import CancelToken
from landslide_core.training import TrainConfig, evaluate, promote, train
from landslide_core.training import runs
from landslide_core.training.toydata import write_toy_l4s

TINY = {"base_channels": 4}


@pytest.fixture(autouse=True)
def _isolated_runs(tmp_path, monkeypatch):
    monkeypatch.setenv(runs.RUNS_ENV, str(tmp_path / "runs"))
    monkeypatch.setenv(runs.LOCKS_ENV, str(tmp_path / "locks"))
    monkeypatch.setattr(checkpoint, "MODELS_DIR", tmp_path / "models")
    monkeypatch.delenv("LANDSLIDE_MODELS_DIR", raising=False)


@pytest.fixture
def data(tmp_path):
    return write_toy_l4s(tmp_path / "data", 10, seed=0)


def _config(data, **kw) -> TrainConfig:
    base = dict(data_dir=str(data), epochs=2, batch_size=4, arch_kwargs=TINY, device="cpu", workers=1)
    base.update(kw)
    return TrainConfig(**base)


def _metric_epochs(run_dir):
    with open(run_dir / runs.METRICS_FILE) as fh:
        return [int(r["epoch"]) for r in csv.DictReader(fh)]


def test_train_writes_the_run_folder(data, tmp_path):
    run_dir = tmp_path / "runs" / "r1"
    seen = []
    summary = train(_config(data), run_dir, progress=lambda d, t, s: seen.append((d, t, s)))
    assert summary.state == "finished" and summary.epochs_done == 2
    for name in ("config.json", "metrics.csv", "train.log", "status.json", "last.safetensors", "last.json",
                 "best.safetensors", "best.json", "train_state.safetensors", "train_state.json", "split.json"):
        assert (run_dir / name).exists(), name
    status = runs.read_status(run_dir)
    assert status.state == "finished" and status.epoch == 2 and status.pid == os.getpid()
    rows = runs.read_metrics(run_dir)
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    for key in ("train_loss", "train_wce", "train_dice", "val_loss", "val_wce", "val_dice",
                "val_precision", "val_recall", "val_f1", "val_iou"):
        assert np.isfinite(rows[-1][key]), key
    assert rows[0]["val_loss"] == pytest.approx((1 - 0.5) * rows[0]["val_wce"] + 0.5 * rows[0]["val_dice"])
    model, card = checkpoint.load_checkpoint(summary.best_checkpoint)
    assert card.band_set == "l4s14" and len(card.bands) == 14 and card.run_id == "r1"
    assert str(data) in card.trained_on and "8 training / 2 validation" in card.trained_on
    assert card.metrics["epoch"] == summary.best_epoch and card.training_config["beta"] == 5.0
    assert seen[-1][0] == seen[-1][1] == 4 and "epoch 2/2" in seen[-1][2]
    assert "epoch 2/2" in (run_dir / "train.log").read_text()


def test_a_tiny_model_learns_the_toy_task(tmp_path):
    data = write_toy_l4s(tmp_path / "d", 12, seed=3)
    summary = train(_config(data, epochs=6, batch_size=2, arch_kwargs={"base_channels": 8}, lr=3e-3),
                    tmp_path / "runs" / "learn")
    rows = runs.read_metrics(summary.run_dir)
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert summary.best_metrics["f1"] > 0.3


def test_cancel_mid_epoch_then_resume_reaches_the_same_final_epoch(data, tmp_path):
    run_dir = tmp_path / "runs" / "resume"
    token = CancelToken()
    batches = []

    def progress(done, total, stage):
        if not stage.startswith("epoch"):
            return  # loading the data reports progress too
        batches.append(done)
        if done == 4:  # the second batch of epoch 2 (2 batches per epoch)
            token.cancel()

    config = _config(data, epochs=3, batch_size=4)
    first = train(config, run_dir, progress=progress, cancel=token)
    assert first.state == "stopped" and runs.read_status(run_dir).state == "stopped"
    assert json.loads((run_dir / "train_state.json").read_text())["epoch"] == 1
    second = train(_config(data, epochs=3, batch_size=4), run_dir)
    assert second.state == "finished" and second.epochs_done == 3
    assert _metric_epochs(run_dir) == [1, 2, 3]
    # the uninterrupted run gives the same numbers
    straight = train(_config(data, epochs=3, batch_size=4), tmp_path / "runs" / "straight")
    a, b = runs.read_metrics(run_dir), runs.read_metrics(straight.run_dir)
    assert [r["val_loss"] for r in a] == pytest.approx([r["val_loss"] for r in b], rel=1e-4)


def test_a_detached_run_killed_with_sigkill_resumes(data, tmp_path, capsys):
    run_dir = tmp_path / "runs" / "killed"
    assert cli_main(["train", "--data", str(data), "--epochs", "4", "--batch-size", "2", "--device", "cpu",
                     "--arch-kwargs", '{"base_channels": 4}', "--run-dir", str(run_dir)]) == 0
    assert capsys.readouterr().out.strip() == str(run_dir)  # detached: prints the run folder at once
    pid = json.loads((run_dir / runs.LAUNCH_FILE).read_text())["pid"]
    state = run_dir / "train_state.json"
    deadline = time.time() + 120
    while not state.exists():
        assert runs.pid_alive(pid) or state.exists(), (run_dir / "train.log").read_text()
        assert time.time() < deadline, "no checkpoint in time"
        time.sleep(0.05)
    time.sleep(0.1)  # into the next epoch
    os.kill(pid, signal.SIGKILL)
    while runs.pid_alive(pid):
        runs.current_status(run_dir)  # reaps the child
        assert time.time() < deadline
        time.sleep(0.05)
    status = runs.current_status(run_dir)
    assert status.state == "failed" and "ended without finishing" in status.error and "--resume" in status.error
    done_before = json.loads(state.read_text())["epoch"]
    assert 1 <= done_before < 4
    assert cli_main(["train", "--resume", str(run_dir), "--foreground"]) == 0
    assert runs.read_status(run_dir).state == "finished"
    assert _metric_epochs(run_dir) == [1, 2, 3, 4]


def test_an_unexpected_error_fails_the_run_with_its_message(data, tmp_path, monkeypatch):
    from landslide_core.training import trainer

    def boom(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(trainer, "build_model", boom)
    run_dir = tmp_path / "runs" / "crash"
    with pytest.raises(RuntimeError):
        train(_config(data), run_dir)
    status = runs.read_status(run_dir)
    assert status.state == "failed" and "RuntimeError: boom" in status.error and "train.log" in status.error
    assert "Traceback" in (run_dir / "train.log").read_text()


def test_memmap_cache_and_max_train_patches(data, tmp_path):
    summary = train(_config(data, epochs=1, cache="memmap", max_train_patches=3), tmp_path / "runs" / "mm")
    assert (summary.run_dir / "data_cache" / "x.npy").exists()
    split = json.loads((summary.run_dir / "split.json").read_text())
    assert len(split["train"]) == 3 and len(split["val"]) == 2


def test_sigterm_stops_a_detached_run_gracefully(data, tmp_path):
    run_dir = tmp_path / "runs" / "term"
    launched = runs.launch_detached(_config(data, epochs=50, batch_size=2), run_dir)
    deadline = time.time() + 120
    while not (run_dir / "train_state.json").exists():
        assert launched.process.poll() is None, (run_dir / "train.log").read_text()
        assert time.time() < deadline
        time.sleep(0.05)
    os.kill(launched.pid, signal.SIGTERM)
    assert launched.process.wait(timeout=60) == 130
    status = runs.current_status(run_dir)
    assert status.state == "stopped" and status.epoch >= 1 and "Stopped on request" in status.message
    assert (run_dir / "last.safetensors").exists()


def test_stop_file_stops_between_batches(data, tmp_path):
    run_dir = tmp_path / "runs" / "stopme"

    def progress(done, total, stage):
        if done == 1 and stage.startswith("epoch"):
            (run_dir / runs.STOP_FILE).write_text("now")

    summary = train(_config(data), run_dir, progress=progress, clear_stop=True)
    assert summary.state == "stopped" and summary.epochs_done == 0
    assert "Stopped on request" in runs.read_status(run_dir).message


def test_request_stop_on_a_finished_run_changes_nothing(data, tmp_path):
    run_dir = tmp_path / "runs" / "done"
    train(_config(data, epochs=1), run_dir)
    assert runs.request_stop(run_dir).state == "finished"
    assert not (run_dir / runs.STOP_FILE).exists()


def test_second_run_on_the_same_device_waits_in_the_queue(data, tmp_path):
    holder = runs.DeviceLock("cpu", tmp_path / "other")
    assert holder.acquire()
    run_dir = tmp_path / "runs" / "queued"
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("s", train(_config(data, epochs=1), run_dir)))
    t.start()
    deadline = time.time() + 30
    while True:
        s = runs.read_status(run_dir)
        if s is not None and s.state == "queued" and "queued" in s.message:
            break
        assert time.time() < deadline
        time.sleep(0.05)
    assert str(tmp_path / "other") in s.message
    time.sleep(0.3)
    assert runs.read_status(run_dir).state == "queued"
    holder.release()
    t.join(timeout=60)
    assert result["s"].state == "finished"
    assert not (tmp_path / "locks" / "cpu.lock").exists()


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    lock_dir = tmp_path / "locks"
    lock_dir.mkdir()
    (lock_dir / "cpu.lock").write_text(json.dumps({"pid": 2**22 + 12345, "run_dir": "x"}))
    lock = runs.DeviceLock("cpu", tmp_path / "r")
    assert lock.acquire(poll_s=0.01)
    lock.release()


def test_a_run_folder_holding_another_run_is_refused(data, tmp_path):
    run_dir = tmp_path / "runs" / "taken"
    train(_config(data, epochs=1), run_dir)
    with pytest.raises(InputError) as err:
        train(_config(data, epochs=1, lr=0.01), run_dir)
    assert "already holds another run" in str(err.value) and "lr: 0.001 != 0.01" in str(err.value)
    other = tmp_path / "stuff"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty and is not a training run"):
        train(_config(data, epochs=1), other)


def test_unknown_architecture_and_bad_settings(data, tmp_path):
    with pytest.raises(InputError, match="Unknown architecture 'unet_nope'"):
        train(_config(data, arch="unet_nope"), tmp_path / "runs" / "x")
    with pytest.raises(InputError, match="alpha=1.5"):
        train(_config(data, alpha=1.5), tmp_path / "runs" / "y")
    assert not (tmp_path / "runs" / "x").exists()


def test_bad_data_fails_the_run_with_its_message_in_the_status(tmp_path):
    data = write_toy_l4s(tmp_path / "d", 4)
    (data / "img" / "image_2.h5").write_bytes(b"garbage")
    run_dir = tmp_path / "runs" / "bad"
    with pytest.raises(UserError, match=r"image_2\.h5"):
        train(_config(data), run_dir)
    status = runs.read_status(run_dir)
    assert status.state == "failed" and "image_2.h5" in status.error
    skipped = train(_config(data, epochs=1, on_bad="skip"), tmp_path / "runs" / "skipping")
    assert skipped.state == "finished"
    assert "image_2.h5" in (skipped.run_dir / "train.log").read_text()
    assert any("image_2.h5" in s for s in json.loads((skipped.run_dir / "split.json").read_text())["skipped"])


# ---------------------------------------------------------------- CLI, evaluate, promote


def test_cli_train_foreground_evaluate_promote_runs(data, tmp_path, capsys):
    run_dir = tmp_path / "runs" / "cli"
    assert cli_main(["train", "--data", str(data), "--epochs", "2", "--batch-size", "4", "--device", "cpu",
                     "--arch-kwargs", '{"base_channels": 4}', "--alpha", "0.3", "--beta", "4",
                     "--run-dir", str(run_dir), "--foreground"]) == 0
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["alpha"] == 0.3 and cfg["beta"] == 4 and cfg["arch_kwargs"] == TINY
    capsys.readouterr()

    out_file = tmp_path / "table.csv"
    assert cli_main(["evaluate", "--model", str(run_dir / "best.json"), "--data", str(data),
                     "--out", str(out_file), "--device", "cpu"]) == 0
    table = capsys.readouterr().out
    for col in ("F1-score", "Precision", "Recall", "IoU", "Dice-WCE", "WCE", "Dice"):
        assert col in table
    with open(out_file) as fh:
        row = next(csv.DictReader(fh))
    assert float(row["Dice-WCE"]) == pytest.approx(0.7 * float(row["WCE"]) + 0.3 * float(row["Dice"]), rel=1e-5)

    models_dir = tmp_path / "models"
    assert cli_main(["promote", str(run_dir), "--name", "tiny"]) == 0
    assert (models_dir / "tiny.safetensors").exists()
    model, card = checkpoint.load_checkpoint(models_dir / "tiny.json")
    assert card.name == "tiny" and card.run_id == "cli" and card.metrics["f1"] >= 0
    assert card.training_config["alpha"] == 0.3 and str(data) in card.trained_on
    assert [c.name for c in checkpoint.list_models(models_dir)] == ["tiny"]
    assert cli_main(["promote", str(run_dir), "--name", "tiny"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert cli_main(["evaluate", "--model", "tiny", "--data", str(data), "--device", "cpu"]) == 0  # by name
    assert "F1-score" in capsys.readouterr().out

    assert cli_main(["runs", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["run"] == "cli" and listed[0]["state"] == "finished" and listed[0]["epochs"] == "2/2"


def test_cli_errors_are_clear(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert cli_main(["train", "--data", str(tmp_path / "empty"), "--foreground"]) == 2
    assert "is empty" in capsys.readouterr().err
    assert cli_main(["train", "--data", str(tmp_path / "empty")]) == 2  # detached: checked before starting
    assert "is empty" in capsys.readouterr().err
    assert cli_main(["train", "--data", str(tmp_path), "--arch", "nope"]) == 2
    assert "Unknown architecture 'nope'" in capsys.readouterr().err
    assert cli_main(["train"]) == 2
    assert "No data folder" in capsys.readouterr().err
    assert cli_main(["promote", str(tmp_path)]) == 2
    assert "not a training run" in capsys.readouterr().err
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"epochs": 3, "learning_rate": 0.1}))
    assert cli_main(["train", "--config", str(cfg), "--data", str(tmp_path)]) == 2
    assert "unknown settings: learning_rate" in capsys.readouterr().err
    assert cli_main(["train", "--data", str(tmp_path), "--arch-kwargs", "[4]"]) == 2
    assert "not a JSON object" in capsys.readouterr().err


def test_cli_config_file_with_overrides(data, tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"data_dir": str(data), "epochs": 5, "batch_size": 4, "lr": 0.01,
                               "arch_kwargs": TINY, "device": "cpu"}))
    run_dir = tmp_path / "runs" / "cfg"
    assert cli_main(["train", "--config", str(cfg), "--epochs", "1", "--run-dir", str(run_dir), "--foreground"]) == 0
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["epochs"] == 1 and saved["lr"] == 0.01 and saved["batch_size"] == 4


def test_promote_refuses_a_run_without_a_best_checkpoint(data, tmp_path):
    run_dir = tmp_path / "runs" / "early"

    def progress(done, total, stage):
        if stage.startswith("epoch"):
            (run_dir / runs.STOP_FILE).write_text("now")

    train(_config(data), run_dir, progress=progress)
    with pytest.raises(InputError, match="no best checkpoint"):
        promote(run_dir, "x", tmp_path / "m")
    with pytest.raises(InputError, match="not usable"):
        train(_config(data, epochs=1), tmp_path / "runs" / "ok")
        promote(tmp_path / "runs" / "ok", "bad name/..", tmp_path / "m")


def test_evaluate_uses_test_data_of_an_official_release(tmp_path):
    write_toy_l4s(tmp_path / "rel" / "TrainData", 6, seed=1)
    write_toy_l4s(tmp_path / "rel" / "TestData", 3, seed=2)
    summary = train(_config(tmp_path / "rel", epochs=1), tmp_path / "runs" / "off")
    result = evaluate(summary.best_checkpoint, tmp_path / "rel")
    assert result.patches == 3 and "TestData" in result.data
    assert result.tp + result.fp + result.fn + result.tn == 3 * 128 * 128


def test_trains_on_the_realistic_synthetic_generator(tmp_path):
    from landslide_core.synthetic import write_l4s_dataset

    data = write_l4s_dataset(tmp_path / "syn", 6, seed=0, landslide_share=0.05, scene_px=256)
    summary = train(_config(data, epochs=1, batch_size=3), tmp_path / "runs" / "syn")
    assert summary.state == "finished" and summary.best_checkpoint is not None
    row = runs.read_metrics(summary.run_dir)[0]
    assert np.isfinite(row["val_loss"]) and 0.0 <= row["val_f1"] <= 1.0
    result = evaluate(summary.best_checkpoint, data)
    assert result.patches == 6


def test_cli_runs_stop_on_a_finished_run(data, tmp_path, capsys):
    run_dir = tmp_path / "runs" / "fin"
    train(_config(data, epochs=1), run_dir)
    capsys.readouterr()
    assert cli_main(["runs", "--stop", str(run_dir)]) == 0
    assert "nothing to stop" in capsys.readouterr().out
    assert cli_main(["runs"]) == 0
    assert "fin" in capsys.readouterr().out


def test_early_stopping_best_checkpoint_and_step_lr(data, tmp_path, monkeypatch):
    from landslide_core.training import trainer
    from landslide_core.training.losses import LossSums
    from landslide_core.training.metrics import PixelCounts

    val_losses = iter([0.5, 0.4, 0.45, 0.41, 0.3, 0.2])  # best at epoch 2, then 2 epochs without a better one

    def fake_score(*args, **kwargs):
        v = next(val_losses)
        return LossSums(wce_sum=v, pixels=1, intersection=0.5, prob_sum=0.5, target_sum=0.5), PixelCounts(1, 0, 0, 1)

    monkeypatch.setattr(trainer, "score_patches", fake_score)
    config = _config(data, epochs=10, patience=2, step_size=1, gamma=0.5, alpha=0.0)
    summary = train(config, tmp_path / "runs" / "early")
    assert summary.stopped_early and summary.epochs_done == 4 and summary.best_epoch == 2
    assert summary.best_val_loss == pytest.approx(0.4)
    assert "stopped early" in runs.read_status(summary.run_dir).message
    rows = runs.read_metrics(summary.run_dir)
    assert [r["lr"] for r in rows] == pytest.approx([1e-3, 5e-4, 2.5e-4, 1.25e-4])
    _, best = checkpoint.load_checkpoint(summary.best_checkpoint)
    _, last = checkpoint.load_checkpoint(summary.last_checkpoint)
    assert best.metrics["epoch"] == 2 and last.metrics["epoch"] == 4
    # a finished run started again does no more epochs
    again = train(_config(data, epochs=10, patience=2, step_size=1, gamma=0.5, alpha=0.0), summary.run_dir)
    assert again.state == "finished" and again.epochs_done == 4


def test_fine_tuning_starts_from_the_parent_weights_and_refuses_a_mismatch(data, tmp_path):
    import torch

    from landslide_core.checkpoint import load_checkpoint
    from landslide_core.errors import UserError
    from landslide_core.training.config import TrainConfig
    from landslide_core.training.trainer import train

    base = dict(data_dir=str(data), arch="unet_vanilla", arch_kwargs={"base_channels": 4}, epochs=1,
                batch_size=8, workers=0, device="cpu")
    parent = train(TrainConfig(**base), tmp_path / "parent").best_checkpoint
    # a vanishing learning rate: one epoch of fine-tuning leaves the weights as the parent's
    child = train(TrainConfig(**base, lr=1e-12, init_from=str(parent)), tmp_path / "child").best_checkpoint
    fresh = train(TrainConfig(**base, lr=1e-12, seed=5), tmp_path / "fresh").best_checkpoint
    a, b, c = (load_checkpoint(p)[0].state_dict() for p in (parent, child, fresh))
    weights = [k for k, v in a.items() if v.is_floating_point() and "running" not in k]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in weights)
    assert not all(torch.allclose(a[k], c[k], atol=1e-6) for k in weights)  # random weights differ
    with pytest.raises(UserError, match="options differ"):
        train(TrainConfig(**{**base, "arch_kwargs": {"base_channels": 8}}, init_from=str(parent)), tmp_path / "bad")
