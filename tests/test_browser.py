"""The dashboard in a real browser: Debian's Chromium driven by Playwright, fully offline.

Starts ``streamlit run app.py`` on 127.0.0.1 with the shipped default model (copied into a
temporary models folder) and temporary cache, results and runs folders. One browser session
runs the demo analysis and walks every page; a second session checks that it does not see
the first one's analysis; other sessions check the online-tile failure note and the live runs
table. Every request the first sessions make must stay on 127.0.0.1 (no CDN, no tiles).
Screenshots (desktop width and 820 px) go to ``test-artifacts/`` (git-ignored). The sessions
are English (browser locale en-US) except the one that walks the main flow in Spanish (es-PE);
every catalogue lookup is strict (a missing message is an error on the page).

Skipped when Chromium is not installed, unless env CI is set (then it fails).
"""
from __future__ import annotations

import json
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
DESKTOP = {"width": 1400, "height": 1000}
NARROW = {"width": 820, "height": 1000}


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
               LANDSLIDE_RESULTS_DIR=str(root / "results"), LANDSLIDE_RUNS_DIR=str(root / "runs"),
               LANDSLIDE_LOCK_DIR=str(root / "locks"), LANDSLIDE_BASEMAPS="0", OMP_NUM_THREADS="1",
               PYTHONPATH=str(ROOT), LANDSLIDE_DATA_DIR=str(root / "data"))
    env.pop("LANDSLIDE_DB_URL", None)  # the watchlist: SQLite in the temporary data folder
    env.pop("LANDSLIDE_LANG", None)  # the language follows each browser's
    env["LANDSLIDE_I18N_STRICT"] = "1"  # a message missing from the catalogue is an error, not a placeholder
    log = open(root / "streamlit.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield {"url": url, "root": root}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(root / "streamlit.log", ARTIFACTS / "streamlit.log")


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        yield b
        b.close()


def _screenshot(page, name: str) -> None:
    """The whole page: Streamlit scrolls inside its own container, so grow the viewport."""
    size = page.viewport_size
    height = page.evaluate("() => Math.max(...[...document.querySelectorAll('section, div')]"
                           ".map(e => e.scrollHeight))")
    page.set_viewport_size({"width": size["width"], "height": min(max(int(height) + 40, 1000), 6000)})
    page.wait_for_timeout(800)
    page.screenshot(path=str(ARTIFACTS / name))
    page.set_viewport_size(size)


def _map_frames(page):
    return page.frame_locator('iframe[title="streamlit_folium.st_folium"]')


def _nav(page, name: str) -> None:
    """Go to a page through the app's navigation (the same browser session)."""
    page.locator(f'a[data-testid="stTopNavLink"]:has-text("{name}")').first.click()


def _open_app(page, url: str) -> None:
    page.goto(url + "/", wait_until="domcontentloaded")
    from playwright.sync_api import expect

    expect(page.get_by_text("Your analyses")).to_be_visible(timeout=90_000)


def _offline_guard(page) -> tuple[list, list]:
    outside: list[str] = []
    failed: list[str] = []

    def on_request(req):
        host = urlparse(req.url).hostname
        if req.url.startswith(("http://", "https://", "ws://", "wss://")) and host not in ("127.0.0.1", "localhost"):
            outside.append(req.url)

    page.on("request", on_request)
    page.on("requestfailed", lambda req: failed.append(f"{req.url} {req.failure}"))
    return outside, failed


def _no_horizontal_overflow(page) -> list[str]:
    """Texts cut off in the page: metrics, buttons, tabs, whose content is wider than their box."""
    return page.evaluate("""() => {
        const bad = [];
        const sel = '[data-testid="stMetricLabel"] p, [data-testid="stMetricValue"] div, button p, '
                  + '[data-baseweb="tab"] p, [data-testid="stTopNavLink"] span';
        for (const el of document.querySelectorAll(sel)) {
            if (el.offsetParent === null) continue;
            if (el.scrollWidth > el.clientWidth + 1) bad.push(el.textContent.trim().slice(0, 40));
        }
        if (document.documentElement.scrollWidth > window.innerWidth + 1) bad.push('page wider than the window');
        return bad;
    }""")


def _box_clear_of_controls(frame) -> dict:
    """The area outline's box and the map controls' boxes, inside the map frame."""
    return frame.locator(".leaflet-container").evaluate("""(c) => {
        const r = (e) => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
        const aoi = [...c.querySelectorAll('path.leaflet-interactive')].find(p => p.getAttribute('stroke') === '#b5442c');
        return {map: r(c), aoi: aoi ? r(aoi) : null,
                controls: [...c.querySelectorAll('.leaflet-control-zoom, .leaflet-draw, .leaflet-control-layers')].map(r)};
    }""")


def _overlaps(a, b) -> bool:
    return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])


def test_demo_analysis_in_the_browser(server, browser):
    """Item 14-16 and 19 in a real browser: offline context, the run, Compare's maps, a new area
    clearing the old result, a rejected drawing, the 820 px layout."""
    from playwright.sync_api import expect

    url = server["url"]
    context = browser.new_context(viewport=DESKTOP, locale="en-US")
    page = context.new_page()
    outside, failed = _offline_guard(page)
    try:
        _open_app(page, url)
        expect(page.get_by_text("Demo (synthetic event, offline): ready")).to_be_visible(timeout=30_000)
        _screenshot(page, "0_home.png")
        _nav(page, "Monitor")
        run = page.get_by_role("button", name="Run analysis")
        expect(run).to_be_visible(timeout=90_000)
        # The drawing map renders from the app's own Leaflet files, with the draw tools.
        frame = _map_frames(page).first
        expect(frame.locator(".leaflet-container")).to_be_visible(timeout=60_000)
        expect(frame.locator(".leaflet-draw-draw-rectangle")).to_be_visible(timeout=30_000)
        expect(frame.locator("path[stroke='#b5442c']").first).to_be_visible(timeout=30_000)  # the AOI
        expect(page.get_by_text("Demo event", exact=False).first).to_be_visible()
        # Item 15: the area is fitted with room for the controls around it.
        boxes = _box_clear_of_controls(frame)
        assert boxes["aoi"], "the area's outline is not on the map"
        assert not any(_overlaps(boxes["aoi"], c) for c in boxes["controls"]), boxes
        m, a = boxes["map"], boxes["aoi"]
        assert a[0] - m[0] >= 30 and m[2] - a[2] >= 30 and a[1] - m[1] >= 30 and m[3] - a[3] >= 30, boxes
        # Item 15: offline, the map still has context: rivers, borders and town names around the area.
        for _ in range(3):
            frame.locator(".leaflet-control-zoom-out").click()
            page.wait_for_timeout(400)
        expect(frame.locator(".landslide-town").first).to_be_visible(timeout=10_000)
        assert frame.locator(".landslide-town").count() >= 5
        assert frame.locator("path[stroke='#6a9fd4']").count() >= 1  # rivers
        _screenshot(page, "1_monitor_offline_context.png")

        run.click()
        try:  # the progress panel, while it lasts (a short run may finish before this)
            expect(page.get_by_role("button", name="Cancel")).to_be_visible(timeout=20_000)
            page.screenshot(path=str(ARTIFACTS / "2a_monitor_running.png"), full_page=True)
        except AssertionError:
            pass
        expect(page.get_by_text("Analysis finished")).to_be_visible(timeout=420_000)
        # Item 15: once fetched, the scene itself is on the drawing map.
        expect(_map_frames(page).first.locator("img.leaflet-image-layer").first).to_be_attached(timeout=30_000)
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
        # Item 19: the maps' bottom edge (scale, attribution) is inside the frame, not cut off.
        clipped = dual.locator("body").evaluate("""() => [...document.querySelectorAll(
            '.leaflet-container, .leaflet-control-scale, .leaflet-control-attribution')]
            .filter(e => e.getBoundingClientRect().bottom > window.innerHeight + 0.5).length""")
        assert clipped == 0, "the Compare maps are cut off at the bottom"
        # The default model finds the demo event's new landslides.
        new_metric = page.get_by_test_id("stMetric").filter(has_text="New landslides").first
        new_count = int(new_metric.get_by_test_id("stMetricValue").inner_text().strip())
        assert new_count > 0, "the demo analysis found no new landslides"
        expect(page.get_by_text("Downloads")).to_be_visible()
        # Issue 12: the situation report downloads from Compare and says what the page says.
        text = _download_pdf_text(page, "Report (PDF)")
        assert "Landslide situation report" in text, text[:400]
        assert re.search(rf"New\s+landslides\s+{new_count}\n", text), text[:400]
        page.wait_for_timeout(1500)  # let the overlays paint
        _screenshot(page, "3_compare.png")

        # Item 19: at 820 px wide nothing is cut off or overflows (Compare, Monitor, Home).
        page.set_viewport_size(NARROW)
        page.wait_for_timeout(1500)
        assert _no_horizontal_overflow(page) == [], "Compare at 820 px"
        _screenshot(page, "3_compare_820px.png")
        _nav(page, "Home")
        expect(page.get_by_text("Your analyses")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("19.31 km² around").first).to_be_visible()  # which area (item 19)
        page.wait_for_timeout(1000)
        assert _no_horizontal_overflow(page) == [], "Home at 820 px"
        _screenshot(page, "0_home_820px.png")
        _nav(page, "Monitor")
        expect(run).to_be_visible(timeout=60_000)
        page.wait_for_timeout(1500)
        assert _no_horizontal_overflow(page) == [], "Monitor at 820 px"
        _screenshot(page, "1_monitor_820px.png")
        page.set_viewport_size(DESKTOP)

        # Back on the Monitor page the inputs are kept; the same request again comes from the cache.
        expect(page.get_by_text("Demo event").first).to_be_visible(timeout=30_000)
        run.click()
        expect(page.get_by_text("the result came from the cache")).to_be_visible(timeout=60_000)
        # Item 16: a rejected drawing leaves the map (here: far larger than the limit).
        frame = _map_frames(page).first
        container = frame.locator(".leaflet-container")
        expect(container).to_be_visible(timeout=60_000)
        for _ in range(5):
            frame.locator(".leaflet-control-zoom-out").click()
            page.wait_for_timeout(300)
        frame.locator(".leaflet-draw-draw-rectangle").click()
        box = container.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.8, steps=8)
        page.mouse.up()
        expect(page.get_by_text("The drawn shape was not used").first).to_be_visible(timeout=60_000)
        frame = _map_frames(page).first
        expect(frame.locator(".leaflet-container")).to_be_visible(timeout=60_000)
        page.wait_for_timeout(1500)
        assert frame.locator("path[stroke='#3388ff']").count() == 0, "the rejected drawing is still on the map"
        expect(page.get_by_text("the result came from the cache")).to_be_visible()  # same inputs: result kept
        # Item 16: a new area (drawn, accepted) clears the old result.
        container = frame.locator(".leaflet-container")
        frame.locator(".leaflet-draw-draw-rectangle").click()
        box = container.bounding_box()
        x0, y0 = box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.45
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x0 + 40, y0 + 30, steps=8)
        page.mouse.up()
        expect(page.get_by_text("Drawn on the map").first).to_be_visible(timeout=60_000)
        area = page.get_by_test_id("stMetric").filter(has_text="Area").first.inner_text()
        assert "19.3" not in area, f"the drawn rectangle did not replace the demo area: {area}"
        expect(page.get_by_text("the result came from the cache")).to_have_count(0)
        expect(page.get_by_test_id("stMetric").filter(has_text="New landslides")).to_have_count(0)
        expect(page.get_by_text("The inputs changed since the last analysis")).to_be_visible()
        _screenshot(page, "4_monitor_drawn.png")

        # Item 14: a second browser session sees none of this session's analyses.
        other = browser.new_context(viewport=DESKTOP, locale="en-US").new_page()
        other_outside, _ = _offline_guard(other)
        _open_app(other, url)
        expect(other.get_by_text("None in this session yet")).to_be_visible(timeout=30_000)
        expect(other.get_by_text("19.31 km² around")).not_to_be_visible()  # the history stays folded
        _nav(other, "Compare")
        expect(other.get_by_text("No analysis in this session yet")).to_be_visible(timeout=60_000)
        expect(other.get_by_test_id("stMetric")).to_have_count(0)
        _screenshot(other, "5_second_session_compare.png")
        other.context.close()
        outside += other_outside
        # ... while the first session still has its own.
        _nav(page, "Compare")
        expect(page.get_by_test_id("stMetricLabel").filter(has_text="New landslides").first).to_be_visible(
            timeout=60_000)
    except BaseException:
        page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
        raise
    finally:
        context.close()
    assert not outside, f"the page requested outside hosts (must work offline): {outside[:5]}"
    static_failures = [f for f in failed if "/app/static/" in f]
    assert not static_failures, static_failures


def test_online_tiles_that_fail_are_reported_on_the_map(server, browser):
    """Item 15: with online basemaps switched on and no internet, the map says so and shows the
    offline basemap (requests leaving the machine are refused here, as with no network)."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport=DESKTOP, locale="en-US")
    context.route(lambda u: urlparse(u).hostname not in ("127.0.0.1", "localhost"), lambda route: route.abort())
    page = context.new_page()
    try:
        _open_app(page, server["url"])
        _nav(page, "Monitor")
        toggle = page.get_by_test_id("stCheckbox").filter(has_text="Online basemaps")
        expect(toggle).to_be_visible(timeout=90_000)
        toggle.locator("label").click()
        frame = _map_frames(page).first
        expect(frame.locator(".landslide-tile-notice")).to_be_visible(timeout=60_000)
        expect(frame.locator(".landslide-tile-notice")).to_contain_text("could not be loaded")
        _screenshot(page, "6_monitor_tiles_failed.png")
    except BaseException:
        page.screenshot(path=str(ARTIFACTS / "failure_tiles.png"), full_page=True)
        raise
    finally:
        context.close()


def test_runs_table_follows_the_run_state(server, browser):
    """Item 18: the runs table says "running" once the run runs (no reload), not "queued"."""
    from playwright.sync_api import expect

    from landslide_core.training import TrainConfig

    run_dir = server["root"] / "runs" / "20260101-000000-unet_vanilla-l4s14"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(TrainConfig(data_dir="/nowhere", epochs=3).to_dict()))

    def status(state: str) -> None:
        (run_dir / "status.json").write_text(json.dumps({"state": state, "pid": os.getpid(), "heartbeat": time.time(),
                                                         "epoch": 0, "total_epochs": 3, "message": state}))

    status("queued")
    page = browser.new_context(viewport=DESKTOP, locale="en-US").new_page()
    try:
        _open_app(page, server["url"])
        _nav(page, "Training")
        grid = page.get_by_test_id("stDataFrame").first
        expect(grid).to_be_visible(timeout=60_000)
        cells = grid.locator('[role="gridcell"]')  # the grid's accessible table (it draws on a canvas)
        expect(cells.filter(has_text="queued").first).to_be_attached(timeout=30_000)
        status("running")
        expect(cells.filter(has_text="running").first).to_be_attached(timeout=15_000)
        expect(cells.filter(has_text="queued")).to_have_count(0)
        _screenshot(page, "7_training_running.png")
        status("stopped")
    except BaseException:
        page.screenshot(path=str(ARTIFACTS / "failure_runs.png"), full_page=True)
        raise
    finally:
        page.context.close()


def test_watchlist_in_the_browser(server, browser):
    """The demo area goes on the watchlist from the Monitor page, is checked with "Check now",
    and shows on the Watchlist page with its time line, whose point opens the check in Compare."""
    from playwright.sync_api import expect

    outside: list[str] = []
    page = browser.new_context(viewport=DESKTOP, locale="en-US").new_page()
    page.on("request", lambda req: outside.append(req.url) if req.url.startswith(("http://", "https://"))
            and urlparse(req.url).hostname not in ("127.0.0.1", "localhost") else None)
    try:
        page.goto(server["url"] + "/Monitor", wait_until="domcontentloaded")
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
        _screenshot(page, "8_watchlist.png")
        point.click(force=True)  # a point of the time line opens that check in Compare
        expect(page.get_by_text("Compare before and after").first).to_be_visible(timeout=60_000)
        new_metric = page.get_by_test_id("stMetric").filter(has_text="New landslides").first
        expect(new_metric).to_be_visible(timeout=120_000)
        shown = int(new_metric.get_by_test_id("stMetricValue").inner_text().strip())
        assert shown == found > 0, f"Compare shows {shown} new landslides, the check found {found}"
        _screenshot(page, "9_compare_from_watchlist.png")
    except BaseException:
        page.screenshot(path=str(ARTIFACTS / "failure_watchlist.png"), full_page=True)
        raise
    finally:
        page.context.close()
    assert not outside, f"the page requested outside hosts (must work offline): {outside[:5]}"


def _download_pdf_text(page, label: str) -> str:
    """Click a download button of the page and read the PDF it gives back (pypdf)."""
    from pypdf import PdfReader

    button = page.get_by_test_id("stDownloadButton").filter(has_text=label).locator("button")
    with page.expect_download(timeout=180_000) as info:
        button.click()
    path = info.value.path()
    assert info.value.suggested_filename.endswith("_report.pdf"), info.value.suggested_filename
    shutil.copy(path, ARTIFACTS / info.value.suggested_filename)
    reader = PdfReader(str(path))
    return "\n".join(p.extract_text() for p in reader.pages)


#: Words that are the same in both languages or are data, not English: formats, units, names.
NOT_ENGLISH = {"ndvi", "cog", "geojson", "csv", "zip", "pdf", "png", "qgis", "utc", "epsg", "sentinel", "earth",
               "engine", "geotiff", "geotiffs", "kml", "dem", "wce", "dice", "iou", "json", "adam", "url", "webhook",
               "stac", "cuda", "gpu", "cpu", "openstreetmap", "esri", "geopackage", "gpkg", "huanuco", "demo",
               "landslide4sense", "safetensors", "readme", "cron", "systemd", "bis", "unet", "vanilla", "dpi"}


#: English that does not come from the catalogue: Streamlit's and plotly's own words.
BUILT_IN_ENGLISH = {"choose", "option", "drag", "drop", "browse", "files", "press", "enter", "apply", "running",
                    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec", "skip"}


def _english_words(data_words: set) -> set:
    """Words of the catalogue's English that its Spanish never uses: their presence on a Spanish
    page means a text was left in English."""
    from landslide_core.i18n import catalogue

    en, es = set(), set()
    for texts in catalogue().values():
        en |= _words(texts["en"])
        es |= _words(texts["es"])
    return ((en - es) | BUILT_IN_ENGLISH) - NOT_ENGLISH - data_words


def _words(text: str) -> set:
    """Words of three letters or more, lower case, accents kept ('huánuco' is one word)."""
    return set(re.findall(r"[^\W\d_]{3,}", text.lower()))


def _visible_text(page) -> list[str]:
    """Every visible text of the page (not the maps' frames, not icon ligatures, not folded parts)."""
    return page.evaluate("""() => {
        const out = [];
        const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        while (walker.nextNode()) {
            const node = walker.currentNode, el = node.parentElement, text = node.textContent.trim();
            if (!el || !text) continue;
            if (el.closest('[data-testid="stIconMaterial"], script, style, noscript, title')) continue;
            const style = getComputedStyle(el);
            if (style.visibility === 'hidden' || style.display === 'none' || !el.getClientRects().length) continue;
            if (/material/i.test(style.fontFamily)) continue;  // an icon drawn from its ligature name
            const r = el.getBoundingClientRect();  // off-screen helpers (a skip link) are not seen
            if (r.width <= 1 || r.height <= 1 || r.bottom <= 0 || r.right <= 0) continue;
            const folded = el.closest('details:not([open])');  // a folded expander shows its title only
            if (folded && !el.closest('summary')) continue;
            let hidden = false;  // inside a box collapsed to nothing
            for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
                const b = a.getBoundingClientRect();
                if ((b.height <= 1 || b.width <= 1) && getComputedStyle(a).overflow !== 'visible') { hidden = true; break; }
            }
            if (hidden) continue;
            out.push(text);
        }
        for (const input of document.querySelectorAll('input[placeholder], textarea[placeholder]')) {
            if (input.placeholder && input.getClientRects().length && !input.value) out.push(input.placeholder);
        }
        return out;
    }""")


def _english_left(page, english: set) -> list[str]:
    """Visible texts of the page and of its maps (frames) that hold English words."""
    texts = _visible_text(page)
    for frame in page.frames[1:]:
        try:
            texts += _visible_text(frame)
        except Exception:  # noqa: BLE001 - a frame that went away while being read
            continue
    found = []
    for text in texts:
        words = _words(text) & english
        if words:
            found.append(f"{text[:80]!r}: {sorted(words)}")
    return found


def _nav_to(page, path: str) -> None:
    """Go to a page through the top navigation by its address (its title is translated)."""
    page.locator(f'a[data-testid="stTopNavLink"][href$="/{path}"]').first.click()


def test_main_flow_in_spanish_in_the_browser(server, browser):
    """Issue 12: a browser in Spanish (es-PE) gets the dashboard in Spanish: Monitor (the demo
    analysis) and Compare show no English word, every page renders with no catalogue entry
    missing, and the report downloads in Spanish."""
    from playwright.sync_api import expect

    from landslide_core.checkpoint import read_card

    card = read_card(default_model_path())
    data_words = _words(f"{card.name} {card.architecture} {card.band_set}")
    english = _english_words(data_words)
    url = server["url"]
    context = browser.new_context(viewport=DESKTOP, locale="es-PE")
    page = context.new_page()
    outside, _ = _offline_guard(page)

    def no_english(where: str) -> None:
        """The main flow (Monitor, Compare): no English word in any visible text."""
        page.wait_for_timeout(1500)  # let the last elements render
        left = _english_left(page, english)
        assert left == [], f"{where}: English left on the page: {left[:8]}"
        body = page.locator("body").inner_text()
        assert "⟦" not in body, f"{where}: a message is missing from the catalogue"
        expect(page.get_by_test_id("stException")).to_have_count(0)

    try:
        page.goto(url + "/", wait_until="domcontentloaded")
        expect(page.get_by_text("Sus análisis")).to_be_visible(timeout=90_000)
        expect(page.get_by_text("Demostración (evento sintético, sin conexión): lista")).to_be_visible(timeout=30_000)
        language = page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox")
        expect(language).to_contain_text("Idioma")
        assert "Español" in (language.inner_text() + language.locator("input").first.input_value()), \
            "the language choice does not show Español"
        # Home: the model cards' words stay as written; the rest is Spanish, Earth Engine's
        # "not signed in" included.
        home_text = page.locator("body").inner_text()
        assert "⟦" not in home_text and "not signed in" not in home_text
        expect(page.get_by_test_id("stException")).to_have_count(0)
        _screenshot(page, "es_0_home.png")

        _nav_to(page, "Monitor")
        run = page.get_by_role("button", name="Ejecutar análisis")
        expect(run).to_be_visible(timeout=90_000)
        expect(page.get_by_text("Escenas disponibles en cada periodo")).to_be_visible(timeout=60_000)
        expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=60_000)
        no_english("Monitoreo")
        run.click()
        done = page.get_by_text("Análisis terminado").or_(page.get_by_text("el resultado vino de la caché"))
        expect(done.first).to_be_visible(timeout=420_000)
        no_english("Monitoreo, terminado")
        _screenshot(page, "es_1_monitor_done.png")

        page.get_by_role("link", name="Comparar antes y después").click()
        new_metric = page.get_by_test_id("stMetric").filter(has_text="Deslizamientos nuevos").first
        expect(new_metric).to_be_visible(timeout=120_000)
        expect(page.get_by_text("Descargas")).to_be_visible(timeout=60_000)
        new_count = int(new_metric.get_by_test_id("stMetricValue").inner_text().strip())
        no_english("Comparar")
        _screenshot(page, "es_2_compare.png")
        text = _download_pdf_text(page, "Informe (PDF)")
        assert "Informe de situación de deslizamientos" in text, text[:400]
        assert re.search(rf"Deslizamientos\s+nuevos\s+{new_count}\n", text), text[:400]
        assert "Landslide situation report" not in text
        # Every other page renders in Spanish too, with no message missing.
        for path, title in (("Training", "Entrenar un modelo"), ("Models", "Modelos"), ("Watchlist", "Vigilancia"),
                            ("Datasets", "Construir un conjunto de datos"),
                            ("Experiments", "La cuadrícula de experimentos de la tesis")):
            _nav_to(page, path)
            expect(page.get_by_role("heading", name=title).first).to_be_visible(timeout=90_000)
            page.wait_for_timeout(1000)
            assert "⟦" not in page.locator("body").inner_text(), path
            expect(page.get_by_test_id("stException")).to_have_count(0)
            _screenshot(page, f"es_3_{path.lower()}.png")
    except BaseException:
        page.screenshot(path=str(ARTIFACTS / "failure_spanish.png"), full_page=True)
        raise
    finally:
        context.close()
    assert not outside, f"the page requested outside hosts (must work offline): {outside[:5]}"


def _settle(page, ms: int = 1500) -> None:
    """Let Streamlit finish the rerun a widget change started."""
    page.wait_for_timeout(ms)


def test_dataset_labelling_export_and_training_in_the_browser(server, browser):
    """Datasets page on the demo source: sample two ROIs, fetch them, accept the suggestion and edit
    it with a rectangle and a brush stroke, accept with the button, accept the next ROI with the A
    key, export, and start a training run on the export from the Training page."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport=DESKTOP, locale="en-US")
    page = context.new_page()
    outside, _failed = _offline_guard(page)
    try:
        page.goto(server["url"] + "/Datasets", wait_until="domcontentloaded")
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
        context.close()
    runs = [p for p in (server["root"] / "runs").iterdir() if (p / "best.json").is_file()]
    assert any(json.loads((p / "config.json").read_text())["data_dir"].endswith("Browser-set-export") for p in runs)
    assert not outside, f"the page requested outside hosts (must work offline): {outside[:5]}"


def _keyed_button(page, key: str):
    """The button of the widget with this key (Streamlit marks its container st-key-KEY)."""
    return page.locator(f".st-key-{key} button").first


def _demo_analysis_for(server, monkeypatch):
    """A 3 km demo analysis by the server's default model, in the server's results folder (the
    way a watchlist link opens one): objects to review."""
    from shapely.geometry import shape

    from landslide_core import analysis
    from landslide_core.detection import DetectionOptions
    from landslide_core.sources import get_source
    from landslide_core.sources.request import AnalysisRequest, DateWindow
    from landslide_core.synthetic import DEMO_EVENT

    root = server["root"]
    monkeypatch.setenv("LANDSLIDE_CACHE_DIR", str(root / "cache"))
    c, h = shape(DEMO_EVENT.aoi).centroid, 0.0135
    aoi = {"type": "Polygon", "coordinates": [[[c.x - h, c.y - h], [c.x + h, c.y - h], [c.x + h, c.y + h],
                                               [c.x - h, c.y + h], [c.x - h, c.y - h]]]}
    request = AnalysisRequest(aoi, DateWindow.parse(*DEMO_EVENT.pre_window), DateWindow.parse(*DEMO_EVENT.post_window))
    return analysis.run_analysis(request, get_source("demo"), root / "models" / "default.json", DetectionOptions(),
                                 root / "results")


def test_review_chips_and_fine_tuning_in_the_browser(server, browser, monkeypatch):
    """Issue 13 in a real browser: on Compare, confirm one detection, reject one, draw a missed
    landslide on the review map and add it, make chips, then fine-tune the default model on
    them from the Training page: the run shows there and finishes."""
    from playwright.sync_api import expect

    from landslide_core.review import ReviewStore
    from landslide_core.training.runs import current_status

    result = _demo_analysis_for(server, monkeypatch)
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    outside, _failed = _offline_guard(page)
    try:
        page.goto(f"{server['url']}/Compare?result={result.key}", wait_until="domcontentloaded")
        expect(page.get_by_text("Review the detections").first).to_be_visible(timeout=120_000)
        _settle(page)
        page.locator(".st-key-rv_open label").first.click()  # the review tools: closed until opened
        expect(_keyed_button(page, 'rv_confirm')).to_be_enabled(timeout=60_000)
        name = page.get_by_role("textbox", name="Your name (saved with each review)")
        name.fill("Browser")
        name.press("Enter")
        _settle(page)
        _keyed_button(page, 'rv_confirm').click()
        expect(page.get_by_text("confirmed as a landslide").first).to_be_visible(timeout=60_000)
        _settle(page)
        _keyed_button(page, 'rv_reject').click()
        expect(page.get_by_text("rejected: not a landslide").first).to_be_visible(timeout=60_000)
        _settle(page)
        # A missed landslide: a small rectangle in the middle of the review map (the last map).
        frame = _map_frames(page).last
        container = frame.locator(".leaflet-container")
        expect(frame.locator(".leaflet-draw-draw-rectangle")).to_be_visible(timeout=60_000)
        container.scroll_into_view_if_needed()
        frame.locator(".leaflet-draw-draw-rectangle").click()
        box = container.bounding_box()
        x0, y0 = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x0 + 30, y0 + 24, steps=8)
        page.mouse.up()
        add = _keyed_button(page, 'rv_add_drawn')
        expect(add).to_be_visible(timeout=60_000)
        add.click()
        expect(page.get_by_text(re.compile(r"The drawn landslide \(.* ha\) was added")).first).to_be_visible(timeout=60_000)
        verdicts = sorted((r.verdict, r.who) for r in ReviewStore.of(result).active())
        assert verdicts == [("confirmed", "Browser"), ("drawn", "Browser"), ("rejected", "Browser")], verdicts
        _screenshot(page, "8_compare_reviewed.png")
        # Chips, then the way to fine-tuning.
        _keyed_button(page, 'rv_make_chips').click()
        expect(page.get_by_text("new patches").first).to_be_visible(timeout=120_000)
        _keyed_button(page, 'rv_finetune').click()
        chips_box = page.get_by_role("textbox", name="Reviewed chips folder")
        expect(chips_box).to_be_visible(timeout=60_000)
        assert "review-chips" in chips_box.input_value()
        expect(page.get_by_text("held out for validation").first).to_be_visible(timeout=60_000)
        expect(_keyed_button(page, "ft_start")).to_be_enabled(timeout=60_000)
        _settle(page, 3000)  # the page's first run has ended: a change now reruns it, not interrupts it
        for key, value in (("ft_epochs", "1"), ("ft_mix", "0")):
            box_ = page.locator(f".st-key-{key} input").first
            box_.fill(value)
            box_.press("Enter")
            _settle(page, 2500)
            expect(box_).to_have_value(re.compile(rf"^{value}(\.0+)?$"))
        assert "review-chips" in chips_box.input_value()
        _keyed_button(page, 'ft_start').click()
        expect(page.get_by_text("Started fine-tuning run").first).to_be_visible(timeout=120_000)
        # The run is on the Training page: chosen in the run list, and it finishes there.
        expect(page.get_by_role("combobox", name="Run to show")).to_have_value(re.compile(r"finetune-default"),
                                                                              timeout=60_000)
        runs = [p for p in (server["root"] / "runs").iterdir() if "finetune-default" in p.name]
        assert len(runs) == 1, runs
        deadline = time.time() + 300
        while (status := current_status(runs[0])) is None or status.state in ("queued", "running"):
            assert time.time() < deadline, f"the fine-tuning run did not end: {status}"
            time.sleep(1)
        log = (runs[0] / "train.log").read_text() if (runs[0] / "train.log").is_file() else ""
        assert status.state == "finished", (status, log[-3000:])
        expect(page.get_by_text(re.compile(r"finished · epoch 1/1")).first).to_be_visible(timeout=60_000)
        expect(page.get_by_role("button", name="Promote the best checkpoint")).to_be_visible(timeout=60_000)
        _screenshot(page, "9_training_finetune.png")
    except BaseException:
        page.screenshot(path=str(ARTIFACTS / "failure_review.png"), full_page=True)
        raise
    finally:
        context.close()
    assert (runs[0] / "best.json").is_file()
    card = json.loads((runs[0] / "best.json").read_text())
    assert card["lineage"]["parent"]["name"] == "default"
    assert not outside, f"the page requested outside hosts (must work offline): {outside[:5]}"
