"""Leaflet and its plugins served locally, so maps render with no internet.

folium links Leaflet, leaflet.draw and friends from CDNs. Here the same files are taken from
PyPI packages installed with the app and written under ``static/vendor/`` (git-ignored,
written at start-up, idempotent), which Streamlit serves at ``/app/static/vendor/...``
(``enableStaticServing``). :func:`localize` then points every folium element's JS/CSS links
at those local URLs.

Sources of the files:
- Leaflet 1.9.3 (JS, CSS, marker and layer images): ``xstatic-leaflet``.
- leaflet.draw 1.0.2, leaflet-side-by-side 2.0.0, Leaflet.Sync, jQuery: ``folium-offline``,
  which embeds folium's CDN files keyed by their URL.

Links that folium adds but the maps do not use (Bootstrap, Font Awesome, awesome-markers,
glyphicons) are dropped rather than served.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Callable, Iterable

log = logging.getLogger(__name__)

APP_ROOT = Path(__file__).resolve().parent.parent
#: Streamlit serves ``APP_ROOT/static`` at ``/app/static``.
STATIC_DIR = APP_ROOT / "static"
VENDOR_DIR = STATIC_DIR / "vendor"
STATIC_URL = "/app/static"
VENDOR_URL = f"{STATIC_URL}/vendor"
_MARKER = ".assets.json"

LEAFLET_JS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"
LEAFLET_CSS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css"
DRAW_JS = "https://cdnjs.cloudflare.com/ajax/libs/leaflet.draw/1.0.2/leaflet.draw.js"
DRAW_CSS = "https://cdnjs.cloudflare.com/ajax/libs/leaflet.draw/1.0.2/leaflet.draw.css"
SIDE_BY_SIDE_JS = "https://cdn.jsdelivr.net/gh/digidem/leaflet-side-by-side@2.0.0/leaflet-side-by-side.min.js"
SYNC_JS = "https://cdn.jsdelivr.net/gh/jieter/Leaflet.Sync/L.Map.Sync.min.js"
JQUERY_JS = "https://code.jquery.com/jquery-3.7.1.min.js"

#: CDN URL -> path under VENDOR_DIR.
LOCAL_PATHS: dict[str, str] = {
    LEAFLET_JS: "leaflet/leaflet.js",
    LEAFLET_CSS: "leaflet/leaflet.css",
    DRAW_JS: "leaflet.draw/leaflet.draw.js",
    DRAW_CSS: "leaflet.draw/leaflet.draw.css",
    SIDE_BY_SIDE_JS: "leaflet-side-by-side/leaflet-side-by-side.min.js",
    SYNC_JS: "leaflet.sync/L.Map.Sync.min.js",
    JQUERY_JS: "jquery/jquery-3.7.1.min.js",
}

#: Links folium adds that these maps never use: dropped (no file, no CDN request).
UNUSED_MARKERS = ("bootstrap", "fontawesome", "font-awesome", "awesome-markers", "awesome_markers",
                  "leaflet.awesome", "glyphicons")


def _leaflet_dir() -> Path:
    import xstatic.pkg.leaflet as xleaflet

    return Path(xleaflet.BASE_DIR)


def _folium_offline_files() -> dict[str, str]:
    from offlinefolium.elements import _res  # URL -> file text, as folium-offline embeds them

    return _res


def _asset_contents() -> Iterable[tuple[str, Callable[[], bytes]]]:
    """(relative path, reader) for every file to write."""
    leaflet = _leaflet_dir()
    yield "leaflet/leaflet.js", (leaflet / "leaflet.js").read_bytes
    yield "leaflet/leaflet.css", (leaflet / "leaflet.css").read_bytes
    for image in sorted((leaflet / "images").glob("*.png")):
        yield f"leaflet/images/{image.name}", image.read_bytes
    embedded = None
    for url, rel in LOCAL_PATHS.items():
        if rel.startswith("leaflet/"):
            continue
        if embedded is None:
            embedded = _folium_offline_files()
        text = embedded[url]
        yield rel, (lambda t=text: t.encode("utf-8"))


def _signature() -> str:
    import offlinefolium
    import xstatic.pkg.leaflet as xleaflet

    data = {"paths": LOCAL_PATHS, "leaflet": xleaflet.VERSION,
            "folium_offline": getattr(offlinefolium, "__version__", "?")}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def assets_ready() -> bool:
    marker = VENDOR_DIR / _MARKER
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return info.get("signature") == _signature() and all(
        (VENDOR_DIR / rel).is_file() for rel in info.get("files", []))


def ensure_assets() -> Path:
    """Write the vendored files under ``static/vendor`` unless already there. Fast when done."""
    if assets_ready():
        return VENDOR_DIR
    VENDOR_DIR.mkdir(parents=True, exist_ok=True)
    # The folder is generated: keep it out of git whatever the repository's .gitignore says.
    (VENDOR_DIR / ".gitignore").write_text("*\n")
    written = []
    for rel, read in _asset_contents():
        target = VENDOR_DIR / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.partial")
        tmp.write_bytes(read())
        tmp.replace(target)
        written.append(rel)
    tmp = VENDOR_DIR / f"{_MARKER}.{os.getpid()}.partial"
    tmp.write_text(json.dumps({"signature": _signature(), "files": written}))
    tmp.replace(VENDOR_DIR / _MARKER)
    log.info("Offline map assets written to %s (%d files)", VENDOR_DIR, len(written))
    return VENDOR_DIR


def local_url(cdn_url: str) -> str | None:
    """The local URL serving a CDN file, or None when the file is not vendored."""
    rel = LOCAL_PATHS.get(cdn_url)
    return f"{VENDOR_URL}/{rel}" if rel else None


def url_to_file(url: str) -> Path | None:
    """The file on disk behind a local static URL, or None when the URL is not local."""
    if not url.startswith(STATIC_URL + "/"):
        return None
    return STATIC_DIR / url[len(STATIC_URL) + 1:]


def _is_unused(url: str) -> bool:
    low = url.lower()
    return any(m in low for m in UNUSED_MARKERS)


def _localize_links(links: list[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    for name, url in links:
        local = local_url(url)
        if local:
            out.append((name, local))
        elif _is_unused(url) or url.startswith(STATIC_URL):
            if url.startswith(STATIC_URL):
                out.append((name, url))
        else:
            # Unknown asset: keep it (tests catch it) and say so in the log.
            log.warning("No offline copy of %s; the map needs internet for it.", url)
            out.append((name, url))
    return out


def localize(element) -> None:
    """Point the JS/CSS links of ``element`` and all its children at the local copies.

    Works on the element instances (their ``default_js``/``default_css`` become instance
    attributes), so both folium's HTML and streamlit-folium's link lists use them.
    """
    ensure_assets()
    seen = set()
    stack = [element]
    while stack:
        el = stack.pop()
        if id(el) in seen:
            continue
        seen.add(id(el))
        for attr in ("default_js", "default_css"):
            links = getattr(el, attr, None)
            if links:
                setattr(el, attr, _localize_links(list(links)))
        for sub in ("m1", "m2"):  # DualMap
            if hasattr(el, sub):
                stack.append(getattr(el, sub))
        stack.extend(getattr(el, "_children", {}).values())
