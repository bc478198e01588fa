"""The Datasets, Experiments and Training pages, driven with Streamlit's AppTest (the map itself
is exercised in the browser test)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from landslide_core.datasets import DatasetStore
from landslide_core.experiments.grid import GridSettings, plan_rows, write_tables
from landslide_core.training import runs

ROOT = Path(__file__).resolve().parent.parent
DATASETS_PAGE = str(ROOT / "pages" / "6_Datasets.py")
EXPERIMENTS_PAGE = str(ROOT / "pages" / "7_Experiments.py")
TRAINING_PAGE = str(ROOT / "pages" / "3_Training.py")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("LANDSLIDE_DATASETS_DIR", str(tmp_path / "datasets"))
    monkeypatch.setenv("LANDSLIDE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LANDSLIDE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LANDSLIDE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv(runs.RUNS_ENV, str(tmp_path / "runs"))
    monkeypatch.setenv(runs.LOCKS_ENV, str(tmp_path / "locks"))


def _page(path: str) -> AppTest:
    at = AppTest.from_file(path, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def _texts(elements) -> str:
    return " ".join(e.value for e in elements)


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_build_label_flag_and_export_a_demo_dataset(tmp_path):
    at = _page(DATASETS_PAGE)
    assert "No dataset yet" in _texts(at.info)
    at.button(key="ds_create").click().run()
    assert "has no name" in _texts(at.error)
    at.text_input(key="ds_new_name").set_value("Demo set")
    at.button(key="ds_create").click().run()
    assert not at.exception and "Created the dataset Demo set" in _texts(at.success)
    at.radio(key="ds_add_how").set_value("sample").run()
    at.number_input(key="ds_sample_count").set_value(3)
    at.button(key="ds_sample").click().run()
    assert "Added 3 ROIs" in _texts(at.success) and _metric(at, "ROIs") == "3"
    at.button(key="ds_fetch").click().run()
    assert not at.exception and "3 fetched" in _texts(at.success), _texts(at.error)
    assert _metric(at, "With imagery") == "3"
    # the first ROI opens with the training-free model's suggestion as its label
    store = DatasetStore(at.session_state["ds_dir"])
    first = at.session_state["ds_roi"]
    assert store.label(first).suggestion_model == "index" and store.label(first).features
    captions = [c for img in at.get("image") for c in img.captions]
    assert [c.split(" (")[0] for c in captions] == ["True colour", "False colour", "Slope", "Elevation",
                                                    "Before the event"]
    at.button(key="ds_accept").click().run()
    assert f"Accepted {first}" in _texts(at.success)
    second = at.session_state["ds_roi"]
    assert second != first and store.label(first).status == "labelled"
    # a quality flag on the second ROI leaves it out of the export, even when accepted
    at.checkbox(key=f"ds_flag_cloud_{second}").check().run()
    at.button(key="ds_accept").click().run()
    assert store.label(second).flags == ["cloud"]
    third = at.session_state["ds_roi"]
    at.button(key="ds_clear").click().run()
    at.button(key="ds_skip").click().run()
    assert store.label(third).status == "skipped" and store.label(third).features == []
    assert _metric(at, "Labelled") == "2" and _metric(at, "Flagged") == "1" and _metric(at, "To export") == "1"
    at.button(key="ds_export").click().run()
    assert not at.exception and "Exported 1 patches" in _texts(at.success), _texts(at.error)
    manifest = json.loads((Path(at.session_state["ds_export_dir"]) / "manifest.json").read_text())
    assert [p["roi"] for p in manifest["patches"]] == [first]
    assert {e["group"]: e["reason"] for e in manifest["excluded"]} == {second: "flagged: cloud", third: "skipped"}
    # exporting again into the same folder is refused unless replacing it
    at.button(key="ds_export").click().run()
    assert "already holds" in _texts(at.error)
    at.checkbox(key="ds_export_replace").check()
    at.button(key="ds_export").click().run()
    assert "Exported 1 patches" in _texts(at.success)


def test_opening_a_folder_that_is_not_a_dataset_shows_an_error(tmp_path):
    at = _page(DATASETS_PAGE)
    at.text_input(key="ds_open_path").set_value(str(tmp_path))
    at.button(key="ds_open").click().run()
    assert not at.exception and "is not a dataset" in _texts(at.error)


def test_experiments_page_shows_a_grid_beside_the_thesis(tmp_path):
    at = _page(EXPERIMENTS_PAGE)
    assert "No grid yet" in _texts(at.info)
    rows = plan_rows(GridSettings(data=str(tmp_path)))
    rows[0].state, rows[0].metrics = "finished", {"f1": 0.5, "precision": 0.6, "recall": 0.4, "iou": 0.33,
                                                  "dice_wce": 0.4, "wce": 0.3, "dice": 0.5}
    out = runs.runs_root() / "thesis-grid"
    out.mkdir(parents=True)
    write_tables(rows, out, GridSettings(data=str(tmp_path), epochs=3))
    at = _page(EXPERIMENTS_PAGE)
    [table] = at.dataframe
    df = table.value
    assert len(df) == 8 and list(df["Model"][:4]) == ["Unet (Vanilla)", "Resnet34", "MobilenetV2", "Segformer"]
    assert df["F1-score"][0] == 0.5 and df["F1-score (thesis)"][0] == 0.747
    assert df["F1-score Δ"][0] == pytest.approx(0.5 - 0.747, abs=1e-3)
    assert "not run" in _texts(at.warning)
    at.text_input(key="ex_folder").set_value(str(tmp_path / "nothing")).run()
    assert "holds no thesis grid" in _texts(at.error)


def test_training_page_offers_the_scaling_with_l4s_as_default():
    at = _page(TRAINING_PAGE)
    box = at.selectbox(key="tr_scaling")
    assert box.value == "l4s" and box.options[1].startswith("minmax")
