"""The review loop in the pages (AppTest): Compare's review section (confirm, reject, undo, a drawn
landslide, a refused drawing, chips), the Training page's fine-tuning, the Models page's comparison."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from shapely.geometry import shape
from streamlit.testing.v1 import AppTest

from landslide_core import analysis, checkpoint
from landslide_core.bands import ALL_BANDS
from landslide_core.checkpoint import ModelCard, save_checkpoint
from landslide_core.detection import DetectionOptions
from landslide_core.review import ReviewStore
from landslide_core.sources import get_source
from landslide_core.sources.request import AnalysisRequest, DateWindow
from landslide_core.training import runs
from landslide_core.zoo import build_model

from dashboard import review, state
from dashboard_testkit import demo_event, demo_windows, save_tiny_model

ROOT = Path(__file__).resolve().parent.parent
COMPARE = str(ROOT / "pages" / "2_Compare.py")
TRAINING = str(ROOT / "pages" / "3_Training.py")
MODELS = str(ROOT / "pages" / "4_Models.py")
TIMEOUT_S = 120


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory):
    """A 2 km demo analysis by the spectral rule (a model made here): objects to review."""
    root = tmp_path_factory.mktemp("pages_review")
    mp = pytest.MonkeyPatch()
    mp.setenv("LANDSLIDE_CACHE_DIR", str(root / "cache"))
    rule = save_checkpoint(build_model("spectral_index", len(ALL_BANDS), list(ALL_BANDS)),
                           ModelCard(name="rule", architecture="spectral_index", band_set="l4s14",
                                     bands=list(ALL_BANDS)), root / "models" / "rule")
    save_tiny_model(root / "models", "tiny")
    c, h = shape(demo_event().aoi).centroid, 0.0135
    aoi = {"type": "Polygon", "coordinates": [[[c.x - h, c.y - h], [c.x + h, c.y - h], [c.x + h, c.y + h],
                                               [c.x - h, c.y + h], [c.x - h, c.y - h]]]}
    pre, post = demo_windows()
    result = analysis.run_analysis(AnalysisRequest(aoi, DateWindow(*pre), DateWindow(*post)), get_source("demo"),
                                   rule, DetectionOptions(), root / "results")
    yield {"root": root, "result": result}
    mp.undo()


@pytest.fixture(autouse=True)
def _env(reviewed, tmp_path, monkeypatch):
    root = reviewed["root"]
    monkeypatch.setenv("LANDSLIDE_CACHE_DIR", str(root / "cache"))
    monkeypatch.setenv("LANDSLIDE_RESULTS_DIR", str(root / "results"))
    monkeypatch.setenv("LANDSLIDE_MODELS_DIR", str(root / "models"))
    monkeypatch.setattr(checkpoint, "MODELS_DIR", root / "models")
    monkeypatch.setenv("LANDSLIDE_BASEMAPS", "0")
    monkeypatch.setenv("LANDSLIDE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv(runs.RUNS_ENV, str(tmp_path / "runs"))
    monkeypatch.setenv(runs.LOCKS_ENV, str(tmp_path / "locks"))


def _run(at: AppTest) -> AppTest:
    at.run(timeout=TIMEOUT_S)
    assert not at.exception, [getattr(e, "message", e) for e in at.exception]
    return at


def _click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click()
    return _run(at)


def _text(elements) -> str:
    return " ".join(str(e.value) for e in elements)


def _compare(result, review_open: bool = True) -> AppTest:
    """The Compare page of ``result``, with its review tools opened (or left closed)."""
    at = AppTest.from_file(COMPARE, default_timeout=TIMEOUT_S)
    at.session_state[state.RESULT_FOLDER] = str(result.folder)
    _run(at)
    if review_open:
        at.toggle(key=review.OPEN).set_value(True)
        _run(at)
    return at


def test_review_on_compare_confirm_reject_undo_draw_and_chips(reviewed, tmp_path):
    result = reviewed["result"]
    store = ReviewStore.of(result)
    for r in store.all():
        store.undo(r.review_id)
    at = _compare(result, review_open=False)
    assert any("Review the detections" in s.value for s in at.subheader)
    # the tools are closed at first (they would follow every threshold change): nothing to select
    assert not [w for w in at.selectbox if w.key == review.SELECTED]
    assert "open the review tools" in " ".join(c.value for c in at.caption)
    at.toggle(key=review.OPEN).set_value(True)
    _run(at)
    first = at.selectbox(key=review.SELECTED).value
    at.text_input(key=review.REVIEWER).set_value("Ana")
    at.text_input(key=review.WHY).set_value("fresh scar")
    _click(at, "rv_confirm")
    assert f"{first} confirmed" in _text(at.success)
    second = at.selectbox(key=review.SELECTED).value
    assert second != first  # moved on to the next detection not reviewed yet
    assert at.text_input(key=review.WHY).value == ""  # the note went with its review
    _click(at, "rv_reject")
    active = ReviewStore.of(result).active()
    assert [(r.verdict, r.object_id, r.who) for r in active] == [("confirmed", first, "Ana"),
                                                                  ("rejected", second, "Ana")]
    assert active[0].why == "fresh scar" and active[1].why == ""
    _click(at, "rv_undo_last")
    assert [r.object_id for r in ReviewStore.of(result).active()] == [first]
    # Reload (a new session): the review is still there and shown in the table.
    at = _compare(result)
    frames = [d.value for d in at.dataframe if "review" in d.value.columns]
    assert frames and frames[0].set_index("object").loc[first, "review"] == "confirmed"

    # A drawing outside the area is refused with a message; one inside is added.
    at.session_state[review.PENDING] = {"type": "Polygon", "coordinates": [[[0, 0], [0, 0.001], [0.001, 0.001],
                                                                           [0.001, 0], [0, 0]]]}
    _run(at)
    _click(at, "rv_add_drawn")
    assert "was not added" in _text(at.error) and "outside the area" in _text(at.error)
    c = shape(result.request["aoi"]).centroid
    d = 0.0004
    at.session_state[review.PENDING] = {"type": "Polygon", "coordinates": [[[c.x, c.y], [c.x + d, c.y],
                                                                           [c.x + d, c.y + d], [c.x, c.y + d],
                                                                           [c.x, c.y]]]}
    _run(at)
    _click(at, "rv_add_drawn")
    assert "drawn landslide" in _text(at.success)
    assert [r.verdict for r in ReviewStore.of(result).active()] == ["confirmed", "drawn"]

    # Chips, in the background with progress; then the way to fine-tuning.
    chips = tmp_path / "chips"
    at.text_input(key=review.CHIPS_DIR).set_value(str(chips))
    _click(at, "rv_make_chips")
    deadline = time.time() + 60
    while at.session_state[review.CHIPS_JOB].running:
        assert time.time() < deadline
        time.sleep(0.3)
    _run(at)
    assert "new patches" in _text(at.success), _text(at.error)
    assert at.button(key="rv_finetune") is not None
    manifest = json.loads((chips / "manifest.json").read_text())
    assert {r["analysis"] for r in manifest["patches"]} == {result.key}


def _make_chips(result, out: Path) -> Path:
    from landslide_core.review.candidates import review_candidates
    from landslide_core.review.chips import make_chips

    store = ReviewStore.of(result)
    for r in store.all():
        store.undo(r.review_id)
    for i, f in enumerate(c for c in review_candidates(result, 0.5) if c["properties"]["date"] == "post"):
        store.review(f, "confirmed" if i % 2 == 0 else "rejected", "test")
    make_chips(result.folder, out, background_per_object=0)
    return out


def test_training_page_fine_tunes_a_model_on_reviewed_chips(reviewed, tmp_path):
    chips = _make_chips(reviewed["result"], tmp_path / "chips")
    at = AppTest.from_file(TRAINING, default_timeout=TIMEOUT_S)
    at.session_state["ft_chips_pending"] = str(chips)
    _run(at)
    assert at.text_input(key="ft_chips").value == str(chips)
    assert "held out for validation" in _text(at.caption)
    parents = at.selectbox(key="ft_parent").options
    assert len(parents) == 1 and parents[0].startswith("tiny")  # the fixed rule has nothing to learn
    at.number_input(key="ft_epochs").set_value(1)
    at.number_input(key="ft_mix").set_value(0.0)
    _click(at, "ft_start")
    deadline = time.time() + 60
    while at.session_state["ft_job"].running:
        assert time.time() < deadline
        time.sleep(0.3)
    _run(at)
    _run(at)
    assert "Started fine-tuning run" in _text(at.success), _text(at.error)
    run_id = at.selectbox(key="tr_run_select").value
    assert "finetune-tiny" in run_id and run_id in at.dataframe[0].value["run"].tolist()
    run_dir = tmp_path / "runs" / run_id
    assert runs.read_config(run_dir).init_from.endswith("tiny.json")
    deadline = time.time() + 120
    while (s := runs.current_status(run_dir)) is None or s.state in ("queued", "running"):
        assert time.time() < deadline, (run_dir / "train.log").read_text()
        time.sleep(0.3)
    assert s.state == "finished", (run_dir / "train.log").read_text()
    card = checkpoint.read_card(run_dir / "best.json")
    assert card.lineage["parent"]["name"] == "tiny" and card.lineage["data"]["finetune"]["chips"]["folder"] == str(chips)


def test_fine_tuning_without_held_out_chips_says_what_to_do(reviewed, tmp_path):
    at = AppTest.from_file(TRAINING, default_timeout=TIMEOUT_S)
    at.session_state["ft_chips_pending"] = str(tmp_path / "nothing")
    _run(at)
    assert "holds no chips" in _text(at.error)
    assert at.button(key="ft_start").disabled


def test_models_page_compares_models_on_the_held_out_chips(reviewed, tmp_path):
    chips = _make_chips(reviewed["result"], tmp_path / "chips")
    at = AppTest.from_file(MODELS, default_timeout=TIMEOUT_S)
    _run(at)
    at.text_input(key="md_chips").set_value(str(chips))
    _click(at, "md_score")
    table = next(d.value for d in at.dataframe if "held-out chips" in d.value.columns)
    assert set(table["model"]) == {"rule", "tiny"}
    assert table["F1"].between(0, 1).all() and (table["held-out chips"] >= 1).all()
    from landslide_core.review.finetune import held_out_scores

    direct = {r["model"]: round(r["f1"], 3) for r in held_out_scores(chips, [reviewed["root"] / "models" / "rule.json",
                                                                             reviewed["root"] / "models" / "tiny.json"])}
    assert table.set_index("model")["F1"].to_dict() == direct
    assert (chips / ".scores.json").is_file()  # kept: a repeat is instant
