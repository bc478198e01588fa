"""Offline maps: no CDN links in the rendered map HTML, and every local asset exists."""
from __future__ import annotations

import re
import time

import numpy as np
import pytest

from dashboard import maps, offline_assets

CDN_MARKERS = ("cdn.", "unpkg", "jsdelivr", "cdnjs", "code.jquery.com", "bootstrapcdn")
AOI = {"type": "Polygon", "coordinates": [[[-75.41, -11.31], [-75.39, -11.31], [-75.39, -11.29],
                                           [-75.41, -11.29], [-75.41, -11.31]]]}


def _asset_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


def _check_offline(html: str) -> list[str]:
    for marker in CDN_MARKERS:
        assert marker not in html, f"CDN link '{marker}' left in the map HTML"
    urls = [u for u in _asset_urls(html) if not u.startswith("data:")]
    assert urls, "no asset links at all: the map would not load Leaflet"
    for url in urls:
        path = offline_assets.url_to_file(url)
        assert path is not None, f"asset {url} is not served by the app"
        assert path.is_file() and path.stat().st_size > 100, f"{url} -> {path} missing or empty"
    return urls


def _tree_links(m) -> list[str]:
    """The JS/CSS links streamlit-folium collects from the map's elements."""
    links, stack = [], [m]
    while stack:
        el = stack.pop()
        links += [u for _, u in getattr(el, "default_js", [])] + [u for _, u in getattr(el, "default_css", [])]
        stack.extend(getattr(el, "_children", {}).values())
    return links


def test_aoi_map_with_draw_tools_has_only_local_assets():
    m = maps.aoi_map(AOI, (-11.3, -75.4), basemaps=True)
    html = maps.rendered_html(m)
    urls = _check_offline(html)
    names = " ".join(urls)
    assert "leaflet/leaflet.js" in names and "leaflet.draw/leaflet.draw.js" in names
    assert "leaflet.draw.css" in names
    # What st_folium sends to the browser comes from the same element lists.
    tree = _tree_links(m)
    assert tree and all(u.startswith(offline_assets.STATIC_URL + "/") for u in tree), tree
    # OpenStreetMap and satellite basemaps are offered as layers, next to the plain background.
    assert "tile.openstreetmap.org" in html and "World_Imagery" in html
    assert maps.PLAIN_NAME in html


def test_overlay_map_without_basemaps_requests_nothing_outside():
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 200
    from landslide_core.display import data_url, png_bytes

    overlay = {"name": "Change", "url": data_url(png_bytes(rgba)), "bounds": [[-11.31, -75.41], [-11.29, -75.39]],
               "opacity": 0.7, "show": True}
    highlight = {"type": "Polygon", "coordinates": [[[-75.401, -11.301], [-75.399, -11.301], [-75.399, -11.299],
                                                     [-75.401, -11.301]]]}
    m = maps.overlays_map([overlay], overlay["bounds"], basemaps=False, aoi=AOI, highlight=highlight)
    html = maps.rendered_html(m)
    _check_offline(html)
    assert "openstreetmap" not in html and "arcgisonline" not in html
    assert "data:image/png;base64," in html  # the overlay travels inside the page
    assert "Selected landslide" in html


def test_assets_written_once_and_fast_afterwards():
    offline_assets.ensure_assets()
    assert offline_assets.assets_ready()
    t0 = time.perf_counter()
    offline_assets.ensure_assets()
    assert time.perf_counter() - t0 < 0.2
    js = (offline_assets.VENDOR_DIR / "leaflet" / "leaflet.js").read_text()
    assert "Leaflet" in js and "1.9.3" in js
    draw = (offline_assets.VENDOR_DIR / "leaflet.draw" / "leaflet.draw.js").read_text()
    assert "L.Draw" in draw or "L.drawVersion" in draw
    # The generated folder never reaches git.
    assert (offline_assets.VENDOR_DIR / ".gitignore").read_text().strip() == "*"


@pytest.mark.parametrize("cdn", [offline_assets.LEAFLET_JS, offline_assets.DRAW_CSS, offline_assets.SIDE_BY_SIDE_JS])
def test_every_vendored_cdn_url_has_a_file(cdn):
    offline_assets.ensure_assets()
    path = offline_assets.url_to_file(offline_assets.local_url(cdn))
    assert path.is_file()


def test_side_by_side_maps_sync_from_a_local_file():
    rgba = np.zeros((4, 4, 4), np.uint8)
    from landslide_core.display import data_url, png_bytes

    ov = {"name": "x", "url": data_url(png_bytes(rgba)), "bounds": [[-11.31, -75.41], [-11.29, -75.39]]}
    dual = maps.dual_overlays_map([ov], [ov], ov["bounds"], basemaps=True, aoi=AOI)
    html = maps.rendered_html(dual)
    urls = _check_offline(html)
    assert any(u.endswith("leaflet.sync/L.Map.Sync.min.js") for u in urls)
    assert ".sync(" in html
    # Both maps have a scale bar, in metres only (no miles).
    assert html.count("L.control.scale({imperial: false") == 2 and "L.control.scale()" not in html


def test_single_maps_have_a_metric_scale_bar():
    for m in (maps.new_map((-11.3, -75.4), basemaps=False), maps.aoi_map(AOI, (-11.3, -75.4), basemaps=False)):
        html = maps.rendered_html(m)
        assert html.count("L.control.scale({imperial: false") == 1 and "L.control.scale()" not in html
