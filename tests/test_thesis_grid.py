"""The thesis's grid in one command, on a tiny generated dataset with 1 epoch and tiny networks."""
from __future__ import annotations

import csv
import json
import time

import pytest

from landslide_core import cli
from landslide_core.experiments import thesis
from landslide_core.experiments.grid import GridSettings, plan_rows, read_grid
from landslide_core.training import runs
from landslide_core.training.toydata import write_toy_l4s

TINY = {"unet_vanilla": {"base_channels": 4},
        "unet_resnet34": {"encoder_depth": 3, "decoder_channels": [8, 8, 4]},
        "unet_mobilenet_v2": {"encoder_depth": 3, "decoder_channels": [8, 8, 4]},
        "unet_mit_b1": {"encoder_depth": 3, "decoder_channels": [8, 8, 4]}}


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv(runs.RUNS_ENV, str(tmp_path / "runs"))
    monkeypatch.setenv(runs.LOCKS_ENV, str(tmp_path / "locks"))


def _args(data, out, *extra):
    return ["experiment", "thesis-grid", "--data", str(data), "--epochs", "1", "--out", str(out), "--batch-size", "4",
            "--device", "cpu", "--workers", "0", "--arch-options", json.dumps(TINY), *extra]


def test_the_grid_trains_eight_runs_and_writes_the_table_beside_the_thesis(tmp_path, capsys):
    data = write_toy_l4s(tmp_path / "l4s", 5, seed=4, size=64)
    out = tmp_path / "grid"
    assert cli.main(_args(data, out)) == 0
    with open(out / "thesis_grid.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 8
    assert [(r["bands"], r["architecture"]) for r in rows] == [
        (b, a) for b in ("6 bands", "14 bands") for a in ("Unet (Vanilla)", "Resnet34", "MobilenetV2", "Segformer")]
    assert {r["zoo_arch"] for r in rows} == set(thesis.ARCHITECTURES.values())
    for r in rows:
        assert r["state"] == "finished" and r["epochs_done"] == "1" and r["scaling"] == "minmax"
        assert r["dataset"] == "L4S" and r["table"] == "Table 6"
        for m in thesis.METRICS:
            ours, theirs, diff = float(r[m]), float(r[f"thesis_{m}"]), float(r[f"diff_{m}"])
            assert theirs == thesis.THESIS_FIGURES["l4s"][(r["bands"], r["architecture"])][m]
            assert diff == pytest.approx(ours - theirs, abs=2e-6)
        run_dir = runs.runs_root() / f"grid-l4s-{r['band_set']}-{r['zoo_arch']}-minmax"
        assert r["run_dir"] == str(run_dir) and (run_dir / "best.json").is_file()
        config = runs.read_config(run_dir)
        assert config.scaling == "minmax" and config.beta == 5.0 and config.lr == 1e-3 and config.patience == 10
    unet14 = next(r for r in rows if r["bands"] == "14 bands" and r["architecture"] == "Unet (Vanilla)")
    assert float(unet14["thesis_f1"]) == 0.755
    md = (out / "thesis_grid.md").read_text()
    assert "## L4S (thesis Table 6); scaling minmax" in md
    table_rows = [line for line in md.splitlines() if any(f"| {a} |" in line for a in thesis.ARCHITECTURES)]
    assert len(table_rows) == 8 and table_rows[0].startswith("| 6 bands | Unet (Vanilla) |")
    assert table_rows[4].startswith("| 14 bands | Unet (Vanilla) |") and "| 0.755 |" in table_rows[4]
    assert len(table_rows[0].split("|")) - 2 == 2 + 3 * len(thesis.METRICS)  # bands, model, then ours, thesis, diff
    assert "## L4S (thesis Table 6)" in capsys.readouterr().out  # the table is printed too
    settings, grid_rows = read_grid(out)
    assert len(grid_rows) == 8 and settings["epochs"] == 1
    # started again with the same settings: every run is reused, nothing is trained
    t0 = time.perf_counter()
    assert cli.main(_args(data, out)) == 0
    assert time.perf_counter() - t0 < 20
    _, again = read_grid(out)
    assert all("reused" in r.message for r in again)
    # the same folder with other settings is refused clearly
    assert cli.main(_args(data, out)[:-2] + ["--arch-options", json.dumps({**TINY, "unet_vanilla": {
        "base_channels": 2}})]) == 2
    assert "other settings" in capsys.readouterr().err


def test_with_an_extra_dataset_the_grid_adds_table_7():
    rows = plan_rows(GridSettings(data="a", data_extra="b", scalings=("minmax", "l4s")))
    assert len(rows) == 32
    t7 = [r for r in rows if r.dataset == "l4s+l4spe" and r.scaling == "minmax"]
    assert len(t7) == 8 and t7[0].table == "Table 7" and t7[0].thesis["f1"] == 0.714


def test_bad_grid_input_is_a_clear_error(tmp_path, capsys):
    data = write_toy_l4s(tmp_path / "l4s", 2, size=64)
    assert cli.main(["experiment", "thesis-grid", "--data", str(tmp_path / "missing"), "--out",
                     str(tmp_path / "g")]) == 2
    assert cli.main(["experiment", "thesis-grid", "--data", str(data), "--arch-options", '{"vgg": {}}', "--out",
                     str(tmp_path / "g")]) == 2
    assert cli.main(["experiment", "thesis-grid", "--data", str(data), "--arch-options", "{oops", "--out",
                     str(tmp_path / "g")]) == 2
    assert cli.main(["experiment", "thesis-grid", "--data", str(data), "--arch-options",
                     '{"unet_vanilla": {"base_channels": 999}}', "--out", str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err
    assert "is not a folder" in err and "outside the grid" in err and "not valid JSON" in err
    assert "base_channels=999" in err
