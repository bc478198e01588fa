"""Map rendering: the shortcut of dashboard.folium_render writes the same page as branca, and a
fitted map answers its view as its bounds."""
from __future__ import annotations

import itertools

import folium
import pytest
from streamlit_folium import _get_map_string

from dashboard import folium_render, maps

AOI = {"type": "Polygon", "coordinates": [[[-75.41, -11.31], [-75.39, -11.31], [-75.39, -11.29],
                                           [-75.41, -11.29], [-75.41, -11.31]]]}
BOUNDS = [[-11.31, -75.41], [-11.29, -75.39]]
PIXEL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def _compare_like_map():
    """A map with what the Compare page puts on one: image overlays, the area, outlines with
    tooltips (one with a trailing newline, one with single braces and signs), offline context."""
    overlays = [{"name": "after", "url": PIXEL, "bounds": BOUNDS, "opacity": 1.0, "show": True},
                {"name": "change", "url": PIXEL, "bounds": BOUNDS, "opacity": 0.6, "show": True}]
    m = maps.overlays_map(overlays, BOUNDS, basemaps=False, aoi=AOI)
    outlines = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": AOI, "properties": {"id": i, "why": text}}
        for i, text in enumerate(["slope 31 deg", "a {brace} # and % {}", "ends\n"])]}
    folium.GeoJson(outlines, name="outlines", tooltip=folium.GeoJsonTooltip(["id", "why"])).add_to(m)
    return m


def _rendered(monkeypatch, patched: bool) -> str:
    counter = itertools.count()
    monkeypatch.setattr("branca.element.urandom", lambda n: next(counter).to_bytes(n, "big"))
    (folium_render.install if patched else folium_render.uninstall)()
    try:
        m = _compare_like_map()
        return _get_map_string(m) + m.get_root().render()
    finally:
        folium_render.install()


def test_rendering_without_template_passes_writes_the_same_page(monkeypatch):
    assert folium_render.install(), "the installed branca is not one the shortcut was checked against"
    plain = _rendered(monkeypatch, patched=False)
    fast = _rendered(monkeypatch, patched=True)
    assert "a {brace} # and % {}" in fast
    assert fast == plain


def test_rendered_text_keeps_what_jinja_would():
    assert folium_render.RenderedText("var a = 1;\n").render() == "var a = 1;"
    assert folium_render.RenderedText("x\n\n").render() == "x\n"
    assert folium_render._text_element("a {{ b }}").__class__.__name__ == "Element"


def test_a_fitted_map_answers_its_view_without_walking_its_layers(monkeypatch):
    m = _compare_like_map()
    assert m.get_bounds() == [[-11.31, -75.41], [-11.29, -75.39]]
    monkeypatch.setattr(folium.Map, "get_bounds", lambda self: pytest.fail("walked the layers"))
    assert m.get_bounds() == BOUNDS
    plain = maps.new_map([-11.3, -75.4], basemaps=False)  # not fitted: folium's own answer
    monkeypatch.undo()
    assert plain.view_bounds is None and plain.get_bounds() is not None


def test_rounded_geometries_keep_every_nesting_and_round_every_point():
    from dashboard import maps

    multi = {"type": "MultiPolygon", "coordinates": [
        [[(1.12345678, 2.0), (3.0, 4.98765432), (1.12345678, 2.0)]],
        [[(5.0, 6.0), (7.0, 8.0), (5.0, 6.0)], [(5.5, 6.5), (7.5, 8.5), (5.5, 6.5)]]]}
    line = {"type": "LineString", "coordinates": [(0.1234567891, 1.0), (2.0, 3.0)]}
    point = {"type": "Point", "coordinates": [1.23456789, 2.0]}
    got = maps.rounded_geometries([multi, None, line, point])
    assert got[0] == {"type": "MultiPolygon", "coordinates": [
        [[[1.123457, 2.0], [3.0, 4.987654], [1.123457, 2.0]]],
        [[[5.0, 6.0], [7.0, 8.0], [5.0, 6.0]], [[5.5, 6.5], [7.5, 8.5], [5.5, 6.5]]]]}
    assert got[1] is None and got[2]["coordinates"] == [[0.123457, 1.0], [2.0, 3.0]]
    assert got[3]["coordinates"] == [1.234568, 2.0]
    assert maps.rounded_geometry(multi) == got[0] and multi["coordinates"][0][0][0] == (1.12345678, 2.0)
