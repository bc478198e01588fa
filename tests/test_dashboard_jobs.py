"""The background analysis job, its Cancel button, and error display in a page."""
from __future__ import annotations

import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from dashboard import state
from dashboard.jobs import AnalysisJob
from landslide_core.errors import Cancelled, InputError

from dashboard_testkit import tiny_demo_aoi

ROOT = Path(__file__).resolve().parent.parent
MONITOR = str(ROOT / "pages" / "1_Monitor.py")


def _slow_work(progress=None, cancel=None, seconds=30.0):
    t0 = time.time()
    stages = ("fetch pre", "fetch post", "detect pre", "detect post", "change")
    while time.time() - t0 < seconds:
        i = min(int((time.time() - t0) / seconds * len(stages)), len(stages) - 1)
        progress(1, 10, stages[i])
        cancel.raise_if_cancelled()
        time.sleep(0.02)
    return "done"


def test_job_reports_progress_and_cancels():
    job = AnalysisJob(_slow_work).start()
    time.sleep(0.2)
    assert job.running and job.stage == "fetch pre" and 0.0 < job.fraction() < 0.2
    job.cancel()
    assert job.wait(5)
    assert isinstance(job.error, Cancelled) and job.result is None


def test_job_keeps_errors_for_the_page():
    def bad(progress=None, cancel=None):
        raise InputError("Bad thing.", "Do the other thing.")

    job = AnalysisJob(bad).start()
    assert job.wait(5)
    assert isinstance(job.error, InputError) and not job.running


def test_cancel_button_in_the_monitor_page(tmp_path, monkeypatch):
    from dashboard import widgets
    from dashboard_testkit import save_tiny_model

    save_tiny_model(tmp_path / "models")
    monkeypatch.setenv("LANDSLIDE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LANDSLIDE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LANDSLIDE_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setattr(widgets, "run_analysis_work",
                        lambda *a, progress=None, cancel=None, **kw: _slow_work(progress, cancel))
    at = AppTest.from_file(MONITOR, default_timeout=60)
    at.session_state[state.AOI] = tiny_demo_aoi()
    at.run()
    at.button(key="btn_run").click()
    at.run()
    job = at.session_state[state.JOB]
    assert job.running
    assert [b for b in at.button if b.label == "Cancel"]
    assert at.get("progress")  # the stage progress bar
    at.button(key="btn_cancel").click()
    at.run()
    assert job.wait(5) and isinstance(job.error, Cancelled)
    at.run()
    assert "Cancelled by the user" in "\n".join(w.value for w in at.warning)
    assert not at.exception


def test_unexpected_errors_show_a_short_message_not_a_traceback():
    at = AppTest.from_string(
        "from dashboard.errors import show_error\n"
        "from landslide_core.errors import InputError\n"
        "show_error(InputError('The area is empty.', 'Draw one.'))\n"
        "try:\n"
        "    {}['missing']\n"
        "except Exception as exc:\n"
        "    show_error(exc)\n")
    at.run()
    errors = [e.value for e in at.error]
    assert errors[0] == "The area is empty. Draw one."
    assert "Something went wrong inside the app (KeyError)" in errors[1]
    assert "Traceback" not in errors[1] and "missing" not in errors[1]
    assert not at.exception


def test_a_source_self_test_that_hangs_does_not_block_the_page(monkeypatch):
    import threading

    from dashboard import ui
    from landslide_core.sources.base import Readiness

    release = threading.Event()

    class Hanging:
        def readiness(self):
            release.wait(10)
            return Readiness(True, "Earth Engine: ready (late).")

    import landslide_core.sources as sources

    monkeypatch.setattr(sources, "get_source", lambda name, **kw: Hanging())
    ui.clear_readiness()
    t0 = time.time()
    ready, message = ui.source_readiness("earthengine", wait_s=0.3)
    assert time.time() - t0 < 2
    assert not ready and "no answer within" in message and "demo source" in message
    release.set()
    time.sleep(0.3)
    assert ui.source_readiness("earthengine", wait_s=2) == (True, "Earth Engine: ready (late).")
    ui.clear_readiness()
