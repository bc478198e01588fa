"""Page set-up and the small bridges between widgets and landslide_core."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import streamlit as st

from landslide_core.errors import InputError
from landslide_core.i18n import has, user_error
from landslide_core.i18n import t as i18n_t

from . import offline_assets, state
from .i18n import lang, t

APP_TITLE = "Landslide monitor"  # the English name (logs, tests); pages show t("ui.app_title")


def page_title(name: str) -> str:
    """A page's name in the session's language ("Monitor" -> "Monitoreo")."""
    return t(f"ui.nav.{name}") if has(f"ui.nav.{name}") else name


def page_setup(page_name: str) -> None:
    """Every page starts here: language, page config, offline map assets, session defaults."""
    st.set_page_config(page_title=f"{page_title(page_name)} - {t('ui.app_title')}", page_icon=favicon(),
                       layout="wide")
    logging.basicConfig(level=logging.INFO)
    _prefer_app_navigation()
    try:
        offline_assets.ensure_assets()
    except Exception as exc:  # maps would need internet; say so, keep going
        logging.getLogger("landslide.dashboard").exception("Offline map assets not written")
        st.warning(t("ui.offline_assets_failed", error=f"{type(exc).__name__}: {exc}"))
    state.init()


# --- sources ---

#: How long a source's self-test result is reused, and how long a page waits for one.
READINESS_TTL_S = 300.0
READINESS_WAIT_S = 8.0
#: name -> (when, Readiness): its text is put in the page's language when it is shown.
_readiness: dict[str, tuple[float, Any]] = {}
_readiness_threads: dict[str, threading.Thread] = {}
_readiness_lock = threading.Lock()


def _check_readiness(name: str) -> None:
    from landslide_core.errors import UserError
    from landslide_core.sources import get_source
    from landslide_core.sources.base import Readiness

    try:
        answer = get_source(name).readiness()
    except UserError as exc:  # written for people, secrets kept out
        answer = Readiness(False, str(exc))
    except Exception as exc:  # noqa: BLE001 - not ready; the text may quote a credential: type only
        logging.getLogger("landslide.dashboard").error("self-test of %s failed: %s", name, type(exc).__name__)
        params = {"source": name, "error": type(exc).__name__}
        answer = Readiness(False, i18n_t("ui.source.selftest_failed", "en", **params),
                           message_id="ui.source.selftest_failed", params=params)
    with _readiness_lock:
        _readiness[name] = (time.time(), answer)


def source_readiness(name: str, wait_s: float = READINESS_WAIT_S) -> tuple[bool, str]:
    """(ready, message) of a source; Earth Engine's is its self-test, which signs in over the
    network. Reused for 5 minutes. The test runs in a thread: with no answer within ``wait_s``
    (an offline room with credentials present), the page says so instead of hanging."""
    now = time.time()
    with _readiness_lock:
        cached = _readiness.get(name)
        if cached and now - cached[0] < READINESS_TTL_S:
            return _shown(cached[1])
        thread = _readiness_threads.get(name)
        if thread is None or not thread.is_alive():
            thread = threading.Thread(target=_check_readiness, args=(name,), daemon=True,
                                      name=f"readiness-{name}")
            _readiness_threads[name] = thread
            thread.start()
    thread.join(wait_s)
    with _readiness_lock:
        cached = _readiness.get(name)
    if cached and cached[0] >= now:
        return _shown(cached[1])
    return (False, t("ui.source.no_answer", source=state.source_label(name), seconds=f"{wait_s:.0f}"))


def _shown(readiness) -> tuple[bool, str]:
    """(ready, message) with the message in this session's language where the catalogue has it."""
    params = dict(readiness.params)
    if readiness.message_id == "ui.source.selftest_failed":  # the source's name, in the session's language
        params["source"] = state.source_label(params.get("source", ""))
    if readiness.message_id:
        return bool(readiness.ready), i18n_t(readiness.message_id, lang(), **params)
    return bool(readiness.ready), str(readiness.message)


def readiness_text(name: str, ready: bool, message: str) -> str:
    """A source's readiness in the session's language (the demo's in words of the catalogue;
    Earth Engine's "not signed in" through its message id, its other sign-in messages as the
    core writes them, in English)."""
    if name == "demo" and ready:
        return t("ui.source.demo_ready")
    if name == "local" and ready:
        return t("ui.source.local_ready")
    return message


def clear_readiness() -> None:
    """Forget the self-test results, so the next page load tests again."""
    with _readiness_lock:
        _readiness.clear()


source_readiness.clear = clear_readiness  # type: ignore[attr-defined]


@st.cache_resource(show_spinner=False, max_entries=4)
def loaded_model(card_path: str, weights_sha256: str):  # noqa: ARG001 - the hash is part of the key
    """A model held in memory per server (st.cache_resource), keyed by its card and weights hash,
    so a replaced model file is loaded anew. Raises ModelError for a broken model."""
    from landslide_core.detection import load_model

    return load_model(card_path)


@st.cache_resource(show_spinner=False)
def shared_source(name: str, cache_dir: Optional[str] = None):  # noqa: ARG001 - part of the key
    """One source object per server for the sources without per-user files (demo, Earth Engine):
    their sign-in and in-memory caches are reused across reruns and sessions. ``cache_dir``
    (env LANDSLIDE_CACHE_DIR) is part of the key, so another cache folder gets another source."""
    from landslide_core.sources import get_source

    return get_source(name)


def make_source(name: str, local_paths: Optional[dict[str, Optional[str]]] = None):
    from landslide_core.sources import get_source

    if name != "local":
        import os

        return shared_source(name, os.environ.get("LANDSLIDE_CACHE_DIR"))
    paths = local_paths or {}
    if not paths.get("pre_path") or not paths.get("post_path"):
        raise user_error(InputError, "errors.local_needs_both")
    return get_source("local", **{k: v for k, v in paths.items() if v})


# --- models ---

@dataclass
class ModelEntry:
    path: Path
    card: Any

    @property
    def label(self) -> str:
        from landslide_core.zoo import TRAINING_FREE

        c = self.card
        if c.architecture in TRAINING_FREE:
            return f"{c.name} (training-free spectral baseline)"
        return f"{c.name} ({c.architecture}, {c.band_set})"


def list_model_entries(models_dir: Optional[Path] = None) -> list[ModelEntry]:
    """Usable model cards in the models folder (default model first), and the shipped
    training-free baseline wherever the models folder is."""
    from landslide_core.checkpoint import DEFAULT_MODEL_NAME, MODELS_DIR, scan_models
    from landslide_core.zoo import TRAINING_FREE

    folder = Path(models_dir or state.models_dir())
    entries = [ModelEntry(m.path, m.card) for m in scan_models(folder) if m.usable]
    names = {e.path.stem for e in entries}
    if folder.resolve() != MODELS_DIR.resolve():
        entries += [ModelEntry(m.path, m.card) for m in scan_models(MODELS_DIR)
                    if m.usable and m.card.architecture in TRAINING_FREE and m.path.stem not in names]
    entries.sort(key=lambda e: (e.path.stem != DEFAULT_MODEL_NAME, e.card.architecture in TRAINING_FREE,
                                e.path.stem))
    return entries


def unusable_models(models_dir: Optional[Path] = None) -> list[tuple[Path, str]]:
    """(card path, reason) of each card in the models folder that cannot be used."""
    from landslide_core.checkpoint import scan_models

    return [(m.path, m.problem) for m in scan_models(models_dir or state.models_dir()) if not m.usable]


# --- AOI inputs ---

def aoi_from_upload(filename: str, data: bytes) -> dict:
    """An uploaded GeoJSON/KML file -> checked AOI geometry, or InputError."""
    from landslide_core.sources.aoi import check_aoi
    from landslide_core.sources.request import parse_aoi

    size = len(data)
    if size > state.MAX_AOI_FILE_BYTES:
        raise user_error(InputError, "errors.aoi_file_too_big", file=filename, size_mb=f"{size / 1e6:.1f}",
                         limit_mb=f"{state.MAX_AOI_FILE_BYTES / 1e6:.0f}")
    aoi = parse_aoi(data, filename=filename)
    check_aoi(aoi)
    return aoi


def aoi_from_bbox(west: float, south: float, east: float, north: float) -> dict:
    """A typed bounding box (degrees) -> checked AOI polygon, or InputError."""
    from landslide_core.sources.aoi import check_aoi

    if west >= east:
        raise user_error(InputError, "errors.bbox_west_east", west=west, east=east)
    if south >= north:
        raise user_error(InputError, "errors.bbox_south_north", south=south, north=north)
    aoi = {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north],
                                               [west, north], [west, south]]]}
    check_aoi(aoi)
    return aoi


def aoi_from_drawing(drawing: dict) -> dict:
    """A shape drawn on the map (GeoJSON Feature) -> checked AOI, or InputError."""
    from landslide_core.sources.aoi import check_aoi
    from landslide_core.sources.request import parse_aoi

    aoi = parse_aoi(drawing, filename=t("monitor.drawn_shape"))
    check_aoi(aoi)
    return aoi


def aoi_area_km2(aoi: dict) -> float:
    from landslide_core.sources.aoi import aoi_area_km2 as area

    return area(aoi)


def escape_markdown(text: str) -> str:
    """Text shown as itself inside a line of st.markdown: the characters that would format it
    (``*``, backticks, brackets, ``<>``, ``#``, ``|``, ``~``, ``$``, and ``_`` at a word's edge)
    escaped; an underscore inside a word (snake_case) never formats and is left alone."""
    import re

    text = re.sub(r"([\\`*\[\]<>#|~$])", r"\\\1", str(text))
    return re.sub(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])", r"\\_", text)


def page_link(page: str, label: str, icon: Optional[str] = None) -> None:
    """st.page_link to ``page`` (path relative to app.py); when the page is not known (a page
    file run on its own, as in tests), a plain hint instead of an error."""
    from streamlit.errors import StreamlitAPIException

    try:
        st.page_link(page, label=label, icon=icon)
    except StreamlitAPIException:
        st.caption(t("ui.open_from_navigation", page=label))


def navigation_pages(home_render) -> list:
    """Home plus every ``pages/N_Name.py`` (sorted), titled and addressed by its name.

    No page icons: a page's icon becomes the browser tab's favicon, and material icons as
    favicons are fetched from the internet; the favicon is :func:`favicon`, drawn here."""
    root = Path(__file__).resolve().parent.parent
    pages = [st.Page(home_render, title=page_title("Home"), url_path="home", default=True)]
    for path in sorted((root / "pages").glob("*.py")):
        name = path.stem.split("_", 1)[1] if "_" in path.stem and path.stem.split("_", 1)[0].isdigit() else path.stem
        pages.append(st.Page(f"pages/{path.name}", title=page_title(name).replace("_", " "), url_path=name))
    return pages


_FAVICON = None


def favicon():
    """A small mountain-and-slide icon drawn here (a material icon as favicon would be
    fetched from the internet)."""
    global _FAVICON
    if _FAVICON is None:
        from PIL import Image, ImageDraw

        img = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
        d = ImageDraw.Draw(img)
        d.polygon([(2, 60), (30, 8), (62, 60)], fill=(120, 96, 72, 255))
        d.polygon([(30, 8), (40, 26), (34, 44), (24, 60), (14, 60), (26, 36)], fill=(181, 68, 44, 255))
        _FAVICON = img
    return _FAVICON


def _prefer_app_navigation() -> None:
    """app.py registers the pages with st.navigation (Home, Monitor, ...). A first visit straight
    to a page URL on a fresh server runs that page alone (Streamlit's older pages/-folder mode,
    whose sidebar calls the home page 'app'); this switches the server to app.py's navigation
    from the next run on. Streamlit itself does the same when st.navigation is first called."""
    try:
        from streamlit.runtime.pages_manager import PagesManager

        PagesManager.uses_pages_directory = False
    except Exception:  # noqa: BLE001 - only cosmetic
        pass
