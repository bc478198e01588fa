"""The dashboard in a real browser: Debian's Chromium driven by Playwright, fully offline.

Starts ``streamlit run app.py`` on 127.0.0.1 with the shipped default model (copied into a
temporary models folder) and temporary cache folders,
opens the Monitor page (the demo event is preselected), presses "Run analysis", waits for the
result, goes to the Compare page and checks that the maps (``.leaflet-container``) and the
statistics render. Every request the browser makes must stay on 127.0.0.1 (no CDN, no tiles).
Screenshots go to ``test-artifacts/`` (git-ignored).

Skipped when Chromium is not installed, unless env CI is set (then it fails).
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from landslide_core.checkpoint import card_and_weights_paths, default_model_path

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed (CI must install Debian's 'chromium' package).")
        pytest.skip("Chromium is not installed: apt-get install chromium to run the browser test.")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 90) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout_s:
        if proc.poll() is not None:
            raise AssertionError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("streamlit did not become healthy in time")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _chromium()
    pytest.importorskip("playwright.sync_api")
    root = tmp_path_factory.mktemp("browser")
    (root / "models").mkdir()
    for path in card_and_weights_paths(default_model_path()):
        shutil.copy(path, root / "models" / path.name)
    port = _free_port()
    env = dict(os.environ, LANDSLIDE_MODELS_DIR=str(root / "models"), LANDSLIDE_CACHE_DIR=str(root / "cache"),
               LANDSLIDE_RESULTS_DIR=str(root / "results"), LANDSLIDE_BASEMAPS="0", OMP_NUM_THREADS="1",
               PYTHONPATH=str(ROOT), LANDSLIDE_DATA_DIR=str(root / "data"), LANDSLIDE_RUNS_DIR=str(root / "runs"))
    env.pop("LANDSLIDE_DB_URL", None)  # the watchlist: SQLite in the temporary data folder
    log = open(root / "streamlit.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(root / "streamlit.log", ARTIFACTS / "streamlit.log")


def _screenshot(page, name: str) -> None:
    """The whole page: Streamlit scrolls inside its own container, so grow the viewport."""
    height = page.evaluate("() => Math.max(...[...document.querySelectorAll('section, div')]"
                           ".map(e => e.scrollHeight))")
    page.set_viewport_size({"width": 1400, "height": min(max(int(height) + 40, 1000), 6000)})
    page.wait_for_timeout(800)
    page.screenshot(path=str(ARTIFACTS / name))
    page.set_viewport_size({"width": 1400, "height": 1000})


def _map_frames(page):
    return page.frame_locator('iframe[title="streamlit_folium.st_folium"]')


def test_demo_analysis_in_the_browser(server):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    outside: list[str] = []
    failed: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})

        def on_request(req):
            host = urlparse(req.url).hostname
            if req.url.startswith(("http://", "https://", "ws://", "wss://")) and host not in ("127.0.0.1", "localhost"):
                outside.append(req.url)

        page.on("request", on_request)
        page.on("requestfailed", lambda req: failed.append(f"{req.url} {req.failure}"))
        try:
            page.goto(server + "/", wait_until="domcontentloaded")
            expect(page.get_by_text("Recent analyses")).to_be_visible(timeout=90_000)
            expect(page.get_by_text("Demo: ready")).to_be_visible(timeout=30_000)
            _screenshot(page, "0_home.png")
            page.goto(server + "/Monitor", wait_until="domcontentloaded")
            run = page.get_by_role("button", name="Run analysis")
            expect(run).to_be_visible(timeout=90_000)
            # The drawing map renders from the app's own Leaflet files, with the draw tools.
            frame = _map_frames(page).first
            expect(frame.locator(".leaflet-container")).to_be_visible(timeout=60_000)
            expect(frame.locator(".leaflet-draw-draw-rectangle")).to_be_visible(timeout=30_000)
            expect(frame.locator("path.leaflet-interactive").first).to_be_visible(timeout=30_000)  # the AOI
            expect(page.get_by_text("Demo event", exact=False).first).to_be_visible()
            _screenshot(page, "1_monitor.png")

            run.click()
            try:  # the progress panel, while it lasts (a short run may finish before this)
                expect(page.get_by_role("button", name="Cancel")).to_be_visible(timeout=20_000)
                page.screenshot(path=str(ARTIFACTS / "2a_monitor_running.png"), full_page=True)
            except AssertionError:
                pass
            expect(page.get_by_text("Analysis finished")).to_be_visible(timeout=420_000)
            _screenshot(page, "2_monitor_done.png")

            page.get_by_role("link", name="Compare before and after").click()
            expect(page.get_by_text("Compare before and after").first).to_be_visible(timeout=60_000)
            expect(page.get_by_test_id("stMetricLabel").filter(has_text="New landslides").first).to_be_visible(
                timeout=120_000)
            # Before and after side by side: two Leaflet maps in one component, moving together.
            dual = _map_frames(page).first
            expect(dual.locator(".leaflet-container").nth(0)).to_be_visible(timeout=60_000)
            expect(dual.locator(".leaflet-container").nth(1)).to_be_visible(timeout=60_000)
            expect(dual.locator("img.leaflet-image-layer").first).to_be_attached(timeout=30_000)
            synced = [f for f in page.frames if f.url and "streamlit_folium" in f.url]
            assert synced and any(f.evaluate("() => typeof L !== 'undefined' && typeof L.Map.prototype.sync")
                                  == "function" for f in synced), "Leaflet.Sync did not load"
            # The default model finds the demo event's new landslides.
            new_metric = page.get_by_test_id("stMetric").filter(has_text="New landslides").first
            new_count = int(new_metric.get_by_test_id("stMetricValue").inner_text().strip())
            assert new_count > 0, "the demo analysis found no new landslides"
            expect(page.get_by_text("Downloads")).to_be_visible()
            page.wait_for_timeout(1500)  # let the overlays paint
            _screenshot(page, "3_compare.png")

            # Back on the Monitor page the inputs are kept; then draw a rectangle as the new area.
            page.get_by_test_id("stSidebarNav").get_by_text("Monitor").click()
            expect(run).to_be_visible(timeout=60_000)
            expect(page.get_by_text("Demo event").first).to_be_visible(timeout=30_000)
            # The same request again comes from the cache.
            run.click()
            expect(page.get_by_text("the result came from the cache")).to_be_visible(timeout=60_000)
            frame = _map_frames(page).first
            container = frame.locator(".leaflet-container")
            expect(container).to_be_visible(timeout=60_000)
            frame.locator(".leaflet-draw-draw-rectangle").click()
            box = container.bounding_box()
            x0, y0 = box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.45
            page.mouse.move(x0, y0)
            page.mouse.down()
            page.mouse.move(x0 + 40, y0 + 30, steps=8)
            page.mouse.up()
            expect(page.get_by_text("Drawn on the map").first).to_be_visible(timeout=60_000)
            area = page.get_by_test_id("stMetric").filter(has_text="Area").first.inner_text()
            _screenshot(page, "4_monitor_drawn.png")
            assert "19.3" not in area, f"the drawn rectangle did not replace the demo area: {area}"
        except BaseException:
            page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert not outside, f"the page requested outside hosts (must work offline): {outside[:5]}"
    static_failures = [f for f in failed if "/app/static/" in f]
    assert not static_failures, static_failures


def test_watchlist_in_the_browser(server):
    """The demo area goes on the watchlist from the Monitor page, is checked with "Check now",
    and shows on the Watchlist page with its time line, whose point opens the check in Compare."""
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    outside: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("request", lambda req: outside.append(req.url) if req.url.startswith(("http://", "https://"))
                and urlparse(req.url).hostname not in ("127.0.0.1", "localhost") else None)
        try:
            page.goto(server + "/Monitor", wait_until="domcontentloaded")
            expect(page.get_by_role("button", name="Run analysis")).to_be_visible(timeout=90_000)
            page.get_by_text("Watch this area over time").click()
            page.get_by_label("Name").fill("Demo valley")
            page.get_by_label("Name").press("Enter")
            page.get_by_role("button", name="Watch this area").click()
            expect(page.get_by_text("Watching 'Demo valley'")).to_be_visible(timeout=60_000)

            page.get_by_role("link", name="Open the watchlist").click()
            expect(page.get_by_text("Watchlist").first).to_be_visible(timeout=60_000)
            expect(_map_frames(page).first.locator("path.leaflet-interactive").first).to_be_visible(timeout=60_000)
            page.get_by_role("button", name="Check now").click()
            finished = page.get_by_text("Check finished")
            expect(finished).to_be_visible(timeout=300_000)
            found = int(re.search(r"Check finished: (\d+) new", finished.inner_text()).group(1))
            plot = page.locator(".js-plotly-plot").first
            expect(plot).to_be_visible(timeout=60_000)
            point = plot.locator(".scatterlayer .trace .points path").first
            expect(point).to_be_attached(timeout=30_000)
            page.wait_for_timeout(800)
            _screenshot(page, "5_watchlist.png")
            point.click(force=True)  # a point of the time line opens that check in Compare
            expect(page.get_by_text("Compare before and after").first).to_be_visible(timeout=60_000)
            new_metric = page.get_by_test_id("stMetric").filter(has_text="New landslides").first
            expect(new_metric).to_be_visible(timeout=120_000)
            shown = int(new_metric.get_by_test_id("stMetricValue").inner_text().strip())
            assert shown == found > 0, f"Compare shows {shown} new landslides, the check found {found}"
            _screenshot(page, "6_compare_from_watchlist.png")
        except BaseException:
            page.screenshot(path=str(ARTIFACTS / "failure_watchlist.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert not outside, f"the page requested outside hosts (must work offline): {outside[:5]}"


def _settle(page, ms: int = 1500) -> None:
    """Let Streamlit finish the rerun a widget change started."""
    page.wait_for_timeout(ms)


def test_dataset_labelling_export_and_training_in_the_browser(server):
    """Datasets page on the demo source: sample two ROIs, fetch them, accept the suggestion and edit
    it with a rectangle and a brush stroke, accept with the button, accept the next ROI with the A
    key, export, and start a training run on the export from the Training page."""
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    outside: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("request", lambda req: outside.append(req.url) if req.url.startswith(("http://", "https://"))
                and urlparse(req.url).hostname not in ("127.0.0.1", "localhost") else None)
        try:
            page.goto(server + "/Datasets", wait_until="domcontentloaded")
            expect(page.get_by_text("Build a dataset").first).to_be_visible(timeout=90_000)
            page.get_by_label("Name").fill("Browser set")
            page.get_by_role("button", name="Create dataset").click()
            expect(page.get_by_text("Created the dataset")).to_be_visible(timeout=60_000)
            page.get_by_text("Sampled over an area").click()
            _settle(page)
            page.get_by_label("How many ROIs").fill("2")
            page.get_by_label("How many ROIs").press("Enter")
            _settle(page, 2500)
            page.get_by_role("button", name="Sample over").click()
            expect(page.get_by_text("Added 2 ROIs")).to_be_visible(timeout=60_000)
            page.get_by_role("button", name="Fetch imagery for 2 ROIs").click()
            expect(page.get_by_text("Imagery: 2 fetched")).to_be_visible(timeout=180_000)
            # The first ROI opens with the training-free model's suggestion as its label.
            tools = page.get_by_text("tool actions").last
            expect(tools).to_contain_text("started from index", timeout=120_000)
            _settle(page, 3000)
            suggested = int(re.match(r"(\d+) polygons", tools.inner_text()).group(1))
            page.get_by_role("button", name="Use suggestion").click()
            expect(tools).to_contain_text("1 tool actions", timeout=60_000)
            for view in ("True colour", "False colour", "Slope", "Elevation", "Before the event"):
                expect(page.get_by_test_id("stImage").filter(has_text=view).first).to_be_visible()
            # Edit: a rectangle where the suggestion has nothing, then a brush stroke.
            frame = page.frame_locator('iframe[title="streamlit_folium.st_folium"]').last
            container = frame.locator(".leaflet-container")
            expect(frame.locator(".leaflet-draw-draw-rectangle")).to_be_visible(timeout=60_000)
            _settle(page)
            frame.locator(".leaflet-draw-draw-rectangle").click()
            box = container.bounding_box()
            x0, y0 = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5
            page.mouse.move(x0, y0)
            page.mouse.down()
            page.mouse.move(x0 + 40, y0 + 30, steps=8)
            page.mouse.up()
            expect(tools).to_contain_text("2 tool actions", timeout=60_000)
            frame = page.frame_locator('iframe[title="streamlit_folium.st_folium"]').last
            container = frame.locator(".leaflet-container")
            expect(frame.locator("a.landslide-brush")).to_be_visible(timeout=60_000)
            _settle(page)
            frame.locator("a.landslide-brush").click()
            box = container.bounding_box()
            x0, y0 = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.75
            page.mouse.move(x0, y0)
            page.mouse.down()
            page.mouse.move(x0 + 70, y0 + 5, steps=12)
            page.mouse.up()
            expect(tools).to_contain_text("3 tool actions", timeout=60_000)
            edited = int(re.match(r"(\d+) polygons", tools.inner_text()).group(1))
            assert edited >= suggested, (suggested, edited)
            _screenshot(page, "5_datasets_labelling.png")
            page.get_by_role("button", name="Accept").click()
            expect(page.get_by_text("Accepted").first).to_be_visible(timeout=60_000)
            expect(page.get_by_text("ROI 2 of 2")).to_be_visible(timeout=60_000)
            expect(page.get_by_text("tool actions").last).to_contain_text("started from index", timeout=120_000)
            _settle(page, 3000)
            # The second ROI: accepted with the keyboard shortcut A.
            page.get_by_text("Build a dataset").first.click()
            page.keyboard.press("a")
            expect(page.get_by_test_id("stMetric").filter(has_text="Labelled").get_by_test_id("stMetricValue").last
                   ).to_have_text("2", timeout=60_000)
            page.get_by_role("button", name="Export dataset (2 ROIs)").click()
            expect(page.get_by_text("Exported 2 patches (1 train, 1 validation)")).to_be_visible(timeout=60_000)
            _screenshot(page, "6_datasets_exported.png")
            # Train on the export: the Training page opens with the data folder filled in.
            page.get_by_role("button", name="Train a model on this export").click()
            data_box = page.get_by_role("textbox", name="Data folder")
            expect(data_box).to_be_visible(timeout=60_000)
            assert data_box.input_value().endswith("Browser-set-export")
            epochs = page.get_by_role("spinbutton", name="Epochs (at most; early stopping may end sooner)")
            epochs.fill("1")
            epochs.press("Enter")
            _settle(page)
            page.get_by_text("More settings").click()
            options = page.get_by_role("textbox", name="Architecture options (JSON)")
            options.fill('{"base_channels": 4}')
            options.press("Enter")
            _settle(page)
            page.get_by_role("button", name="Launch training").click()
            expect(page.get_by_text("Started run")).to_be_visible(timeout=60_000)
            expect(page.get_by_role("button", name="Promote the best checkpoint")).to_be_visible(timeout=300_000)
            _screenshot(page, "7_training_on_export.png")
        except BaseException:
            page.screenshot(path=str(ARTIFACTS / "failure_datasets.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert not outside, f"the page requested outside hosts (must work offline): {outside[:5]}"
