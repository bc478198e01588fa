"""The Training and Models pages, driven with Streamlit's AppTest."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from landslide_core import checkpoint
from landslide_core.training import TrainConfig, runs, train
from landslide_core.training.toydata import write_toy_l4s

ROOT = Path(__file__).resolve().parent.parent
TRAINING_PAGE = str(ROOT / "pages" / "3_Training.py")
MODELS_PAGE = str(ROOT / "pages" / "4_Models.py")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv(runs.RUNS_ENV, str(tmp_path / "runs"))
    monkeypatch.setenv(runs.LOCKS_ENV, str(tmp_path / "locks"))
    monkeypatch.setenv("LANDSLIDE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setattr(checkpoint, "MODELS_DIR", tmp_path / "models")


def _page(path: str) -> AppTest:
    at = AppTest.from_file(path, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def _errors(at: AppTest) -> str:
    return " ".join(e.value for e in at.error)


def test_training_page_renders_its_widgets_with_no_runs():
    at = _page(TRAINING_PAGE)
    assert at.text_input(key="tr_data") is not None
    assert "l4s14" in at.selectbox(key="tr_bands").options[0]
    assert "unet_vanilla" in at.selectbox(key="tr_arch").options
    assert at.slider(key="tr_alpha").value == 0.5
    assert at.number_input(key="tr_beta").value == 5.0
    assert at.number_input(key="tr_batch").value == 16
    assert at.number_input(key="tr_lr").value == pytest.approx(1e-3)
    assert any("No runs yet" in i.value for i in at.info)


def test_launching_with_a_bad_folder_shows_an_error_not_a_traceback(tmp_path):
    at = _page(TRAINING_PAGE)
    at.text_input(key="tr_data").set_value(str(tmp_path / "missing"))
    at.button(key="tr_launch").click().run()
    assert not at.exception
    assert "does not exist" in _errors(at)
    (tmp_path / "empty").mkdir()
    at.text_input(key="tr_data").set_value(str(tmp_path / "empty"))
    at.button(key="tr_launch").click().run()
    assert "is empty" in _errors(at)
    assert runs.list_runs() == []  # nothing was started


def test_bad_architecture_options_show_an_error(tmp_path):
    data = write_toy_l4s(tmp_path / "d", 4)
    at = _page(TRAINING_PAGE)
    at.text_input(key="tr_data").set_value(str(data))
    at.text_input(key="tr_arch_kwargs").set_value("{base: 4")
    at.button(key="tr_launch").click().run()
    assert "not valid JSON" in _errors(at)
    at.text_input(key="tr_arch_kwargs").set_value('{"no_such_option": 4}')
    at.button(key="tr_launch").click().run()
    assert "does not accept the options" in _errors(at)


def test_a_run_launched_from_the_page_trains_shows_charts_and_is_promoted(tmp_path):
    data = write_toy_l4s(tmp_path / "d", 6)
    at = _page(TRAINING_PAGE)
    at.text_input(key="tr_data").set_value(str(data))
    at.number_input(key="tr_epochs").set_value(2)
    at.number_input(key="tr_batch").set_value(4)
    at.selectbox(key="tr_device").set_value("cpu")
    at.text_input(key="tr_arch_kwargs").set_value('{"base_channels": 4}')
    at.button(key="tr_launch").click().run()
    assert not at.error, _errors(at)
    assert any("Started run" in s.value for s in at.success)
    run_id = at.selectbox(key="tr_run_select").value
    run_dir = tmp_path / "runs" / run_id
    deadline = time.time() + 120
    while (s := runs.current_status(run_dir)) is None or s.state in ("queued", "running"):
        assert time.time() < deadline, (run_dir / "train.log").read_text()
        time.sleep(0.2)
    assert s.state == "finished", (run_dir / "train.log").read_text()

    at.run()
    assert not at.exception and not at.error, _errors(at)
    assert len(at.get("plotly_chart")) == 2
    assert len(at.get("image")) >= 3  # image, mask and prediction side by side
    assert run_id in at.dataframe[0].value["run"].tolist()
    at.button(key="tr_promote").click().run()
    assert not at.error, _errors(at)
    assert (tmp_path / "models" / f"{run_id}.safetensors").exists()
    model, card = checkpoint.load_checkpoint(tmp_path / "models" / f"{run_id}.json")
    assert card.run_id == run_id and "f1" in card.metrics

    models = _page(MODELS_PAGE)
    assert run_id in models.dataframe[0].value["model"].tolist()
    assert any(run_id in e.label for e in models.expander)


def test_a_finished_run_made_in_process_is_listed_and_promoting_twice_is_refused(tmp_path):
    data = write_toy_l4s(tmp_path / "d", 6)
    train(TrainConfig(data_dir=str(data), epochs=1, batch_size=4, arch_kwargs={"base_channels": 4}, device="cpu"),
          tmp_path / "runs" / "tiny")
    at = _page(TRAINING_PAGE)
    assert at.selectbox(key="tr_run_select").value == "tiny"
    assert len(at.get("plotly_chart")) == 2
    at.text_input(key="tr_promote_name_tiny").set_value("my model")
    at.button(key="tr_promote").click().run()
    assert "not usable" in _errors(at)
    at.text_input(key="tr_promote_name_tiny").set_value("tiny-v1")
    at.button(key="tr_promote").click().run()
    assert not at.error and (tmp_path / "models" / "tiny-v1.json").exists()
    at.button(key="tr_promote").click().run()
    assert "already exists" in _errors(at)


def test_models_page_lists_cards_and_names_unreadable_ones(tmp_path):
    empty = _page(MODELS_PAGE)
    assert any("No model" in i.value for i in empty.info)
    (tmp_path / "models").mkdir(exist_ok=True)
    (tmp_path / "models" / "broken.json").write_text("{not json")
    at = _page(MODELS_PAGE)
    assert "broken.json" in _errors(at)


def test_a_queued_run_shows_live_and_stops_from_the_page(tmp_path):
    data = write_toy_l4s(tmp_path / "d", 4)
    holder = runs.DeviceLock("cpu", tmp_path / "someone-else")
    assert holder.acquire()
    try:
        launched = runs.launch_detached(TrainConfig(data_dir=str(data), epochs=1, batch_size=4, device="cpu",
                                                    arch_kwargs={"base_channels": 4}))
        deadline = time.time() + 60
        while "queued:" not in (runs.read_status(launched.run_dir).message or ""):
            assert time.time() < deadline, (launched.run_dir / "train.log").read_text()
            time.sleep(0.1)
        at = _page(TRAINING_PAGE)
        assert any("**queued**" in m.value for m in at.markdown)
        at.button(key="tr_stop").click().run()
        assert any("Stop requested" in i.value for i in at.info)
        launched.process.wait(timeout=60)
        assert runs.current_status(launched.run_dir).state == "stopped"
    finally:
        holder.release()


def test_models_page_shows_the_shipped_default_card_with_its_scores(tmp_path, monkeypatch):
    """The shipped default model's card: flat validation metrics and the further scores."""
    import shutil

    models = tmp_path / "shipped"
    models.mkdir()
    for path in checkpoint.card_and_weights_paths(ROOT / "models" / "default"):
        shutil.copy(path, models / path.name)
    monkeypatch.setenv("LANDSLIDE_MODELS_DIR", str(models))
    at = _page(MODELS_PAGE)
    f1 = next(m for m in at.metric if m.label == "F1")
    assert f1.value != "-"
    text = " ".join(m.value for m in at.markdown)
    assert "held out patches" in text and "whole events new landslides" in text
    assert "SYNTHETIC" in text
