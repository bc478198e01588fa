"""Issue 15, item 12 (training): a damaged status.json or resume state is reported for what it
is and does not cost a finished run; a model name is used whole."""
from __future__ import annotations

import json

import pytest

from landslide_core import checkpoint
from landslide_core.cli import main as cli_main
from landslide_core.errors import InputError
from landslide_core.training import TrainConfig, promote, runs, train
from landslide_core.training.toydata import write_toy_l4s


@pytest.fixture(autouse=True)
def _isolated_runs(tmp_path, monkeypatch):
    monkeypatch.setenv(runs.RUNS_ENV, str(tmp_path / "runs"))
    monkeypatch.setenv(runs.LOCKS_ENV, str(tmp_path / "locks"))
    monkeypatch.setattr(checkpoint, "MODELS_DIR", tmp_path / "models")
    monkeypatch.delenv("LANDSLIDE_MODELS_DIR", raising=False)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished 2-epoch run (trained once; each test works on a copy)."""
    root = tmp_path_factory.mktemp("finished")
    data = write_toy_l4s(root / "data", 8, seed=0)
    config = TrainConfig(data_dir=str(data), epochs=2, batch_size=4, arch_kwargs={"base_channels": 4}, device="cpu",
                         workers=0)
    mp = pytest.MonkeyPatch()
    mp.setenv(runs.LOCKS_ENV, str(root / "locks"))
    summary = train(config, root / "run")
    mp.undo()
    assert summary.state == "finished"
    return root / "run", config


def _copy(finished_run, tmp_path):
    import shutil

    run_dir, config = finished_run
    dst = tmp_path / "runs" / "copy"
    shutil.copytree(run_dir, dst)
    return dst, config


def test_item12_a_damaged_status_json_is_not_called_not_a_training_run(finished_run, tmp_path, capsys):
    run_dir, _ = _copy(finished_run, tmp_path)
    (run_dir / runs.STATUS_FILE).write_text("{half a status")
    status = runs.current_status(run_dir)
    assert status.state == "unknown" and "damaged" in status.error
    card = promote(run_dir, "rescued", tmp_path / "models")  # checkpoints are fine: it can be promoted
    assert card.exists() and checkpoint.read_card(card).name == "rescued"
    assert cli_main(["runs", "--root", str(run_dir.parent)]) == 0
    assert "unknown" in capsys.readouterr().out
    assert cli_main(["runs", "--stop", str(run_dir)]) == 0
    assert "not a training run" not in capsys.readouterr().err


def test_item12_a_damaged_resume_state_keeps_a_finished_run_finished(finished_run, tmp_path):
    run_dir, config = _copy(finished_run, tmp_path)
    metrics_before = (run_dir / runs.METRICS_FILE).read_text()
    (run_dir / f"{runs.STATE}.json").write_text("{not json")
    summary = train(config, run_dir)
    assert summary.state == "finished" and summary.epochs_done == 2
    status = runs.read_status(run_dir)
    assert status.state == "finished" and not status.error
    assert (run_dir / runs.METRICS_FILE).read_text().splitlines()[1:] == metrics_before.splitlines()[1:]
    assert "last checkpoint" in (run_dir / runs.LOG_FILE).read_text()


def test_item12_a_damaged_resume_state_of_an_unfinished_run_continues_from_the_last_checkpoint(finished_run, tmp_path):
    run_dir, config = _copy(finished_run, tmp_path)
    (run_dir / f"{runs.STATE}.safetensors").write_bytes(b"garbage")
    longer = TrainConfig(**{**config.to_dict(), "epochs": 3})
    config_json = json.loads((run_dir / runs.CONFIG_FILE).read_text())
    (run_dir / runs.CONFIG_FILE).write_text(json.dumps({**config_json, "epochs": 3}))
    summary = train(longer, run_dir)
    assert summary.state == "finished" and summary.epochs_done == 3
    assert [int(r["epoch"]) for r in runs.read_metrics(run_dir)] == [1, 2, 3]


def test_item12_promote_uses_the_whole_name(finished_run, tmp_path):
    run_dir, _ = _copy(finished_run, tmp_path)
    for bad in ("evil\n", "evil\nx", "../evil", "evil.", ""):
        if not bad:
            continue
        with pytest.raises(InputError, match="model name") as exc:
            promote(run_dir, bad, tmp_path / "models")
        assert "not usable" in str(exc.value)
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())
    assert promote(run_dir, "fine-name_1.0", tmp_path / "models").name == "fine-name_1.0.json"
