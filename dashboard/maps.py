"""Folium maps for the pages: AOI drawing and result overlays, all working offline.

Every map is passed through :func:`dashboard.offline_assets.localize`, so its Leaflet and
plugin files come from this app, not from a CDN. Context with no internet: a light basemap of
borders, rivers and towns drawn from installed data (:mod:`dashboard.basemap_data`), and once
scenes are fetched their own true colour and hillshade. Online tiles (OpenStreetMap,
satellite) are optional layers; when they fail to load the map says so and falls back to the
offline basemap.
"""
from __future__ import annotations

import html
import json
import os
from typing import Any, Iterable, Optional, Sequence

import folium
import streamlit as st
from branca.element import Element, MacroElement
from folium import plugins
from jinja2 import Template

from . import folium_render, offline_assets
from .i18n import t

folium_render.install()

OSM_NAME = "OpenStreetMap"
SATELLITE_NAME = "Satellite (Esri World Imagery)"
SATELLITE_TILES = "https://server.arcgisonline.com/ArcGIS/rest/services/World_Imagery/MapServer/tile/{z}/{y}/{x}"
SATELLITE_ATTR = "Esri, Maxar, Earthstar Geographics"
PLAIN_NAME = "Plain background (offline)"
OFFLINE_NAME = "Borders, rivers and towns (offline)"
TILE_FAILURE_TEXT = ("Online map tiles could not be loaded (no internet?). Showing the offline map of "
                     "borders, rivers and towns instead; the analysis layers are not affected.")
#: Keep the area clear of the map's controls (zoom and draw tools, layers, scale): pixels.
FIT_PADDING_PX = (56, 56)
#: Do not zoom closer than this when fitting a small area (Leaflet zoom level).
FIT_MAX_ZOOM = 16
#: 1x1 transparent PNG: the tile of the plain background layer (no request leaves the app).
_BLANK_TILE = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNk"
               "YAAAAAYAAjCB0C8AAAAASUVORK5CYII=")

AOI_STYLE = {"color": "#b5442c", "weight": 3, "fill": True, "fillOpacity": 0.05}
HIGHLIGHT_STYLE = {"color": "#00e5ff", "weight": 4, "fill": False}
RIVER_STYLE = {"color": "#6a9fd4", "weight": 1.6, "opacity": 0.9}
REGION_STYLE = {"color": "#8c7f99", "weight": 1.0, "opacity": 0.8, "dashArray": "4 4"}
COUNTRY_STYLE = {"color": "#5b4a6b", "weight": 2.2, "opacity": 0.9}
#: The look of the maps: no page margin (the component's frame is exactly the map's height, so a
#: margin would cut off the map's bottom edge), a light land colour behind everything, quiet town
#: labels, the tile-failure note.
MAP_CSS = """<style>
html, body { margin: 0; padding: 0; overflow: hidden; }
.leaflet-container { background: #f3f0e8; }
.leaflet-tooltip.landslide-town { background: transparent; border: none; box-shadow: none; padding: 0 2px;
  color: #3b3b3b; font: 11px/1.2 sans-serif; text-shadow: 0 0 2px #fff, 0 0 2px #fff, 0 0 3px #fff; }
.leaflet-tooltip-right.landslide-town:before { display: none; }
.landslide-tile-notice { background: #fff8e1; border: 1px solid #e0b000; border-radius: 4px; padding: 4px 8px;
  max-width: 260px; font: 12px/1.35 sans-serif; color: #5a4500; }
</style>"""


class MetricScale(MacroElement):
    """The map's scale bar in metres and kilometres only (folium's ``control_scale`` adds miles
    and feet too, which say nothing to a reader in Peru)."""

    _template = Template("""
{% macro script(this, kwargs) %}
L.control.scale({imperial: false, metric: true}).addTo({{ this._parent.get_name() }});
{% endmacro %}
""")

    def __init__(self):
        super().__init__()
        self._name = "MetricScale"


class TownMarkers(MacroElement):
    """Towns as small circles, the larger ones labelled, in one element (one template for all of
    them: a marker and a tooltip per town made folium compile two templates per town and map on
    every page run). Background only: never in the way of clicks and drawing."""

    _template = Template("""
{% macro script(this, kwargs) %}
{{ this.towns_json }}.forEach(function (t) {
    var m = L.circleMarker([t.lat, t.lon], {radius: t.label ? 3 : 2, color: '#444', weight: 1, fill: true,
                                            fillColor: '#fff', fillOpacity: 1.0, interactive: false});
    if (t.label) {
        m.bindTooltip(t.label, {permanent: true, direction: 'right', offset: [4, 0], className: 'landslide-town'});
    }
    m.addTo({{ this._parent.get_name() }});
});
{% endmacro %}
""")

    def __init__(self, towns: list[dict[str, Any]]):
        super().__init__()
        self._name = "TownMarkers"
        # names as they are (not \\u escapes), safe inside a <script>
        self.towns_json = (json.dumps(towns, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
                           .replace("&", "\\u0026"))


class TileFailureNotice(MacroElement):
    """When online tiles fail to load: a note on the map, the offline basemap switched on, and
    (when no tile of that layer ever loaded) the plain background instead of the blank layer."""

    _template = Template("""
{% macro script(this, kwargs) %}
(function () {
    var map = {{ this._parent.get_name() }};
    var plain = {{ this.plain.get_name() }};
    var fallback = {{ this.fallback.get_name() if this.fallback else 'null' }};
    var told = false;
    function watch(layer) {
        var loaded = 0, failed = 0;
        layer.on('tileload', function () { loaded += 1; });
        layer.on('tileerror', function () {
            failed += 1;
            if (!told) {
                told = true;
                var note = L.control({position: 'bottomleft'});
                note.onAdd = function () {
                    var div = L.DomUtil.create('div', 'landslide-tile-notice');
                    div.setAttribute('role', 'status');
                    div.textContent = {{ this.message|tojson }};
                    return div;
                };
                note.addTo(map);
            }
            if (fallback && !map.hasLayer(fallback)) { fallback.addTo(map); }
            if (loaded === 0 && failed >= 2 && map.hasLayer(layer)) {
                map.removeLayer(layer);
                plain.addTo(map);
            }
        });
    }
    {% for layer in this.layers %}watch({{ layer.get_name() }});
    {% endfor %}
})();
{% endmacro %}
""")

    def __init__(self, layers, plain, fallback=None, message: Optional[str] = None):
        super().__init__()
        self._name = "TileFailureNotice"
        self.layers = list(layers)
        self.plain = plain
        self.fallback = fallback
        self.message = message or t("maps.tile_failure")


def basemaps_default() -> bool:
    """Whether basemap tiles are offered by default (env LANDSLIDE_BASEMAPS=0 turns them off)."""
    return os.environ.get("LANDSLIDE_BASEMAPS", "1").strip().lower() not in ("0", "false", "no", "off")


class ViewMap(folium.Map):
    """A folium map that knows the view it was fitted to (:func:`fit`): streamlit-folium asks a
    map for its bounds on every run (the value it returns before the browser reports one), and
    folium's own answer walks every coordinate of every layer in Python (0.1 s per run on a
    400 km2 Compare page, mostly the offline basemap's rivers and borders)."""

    view_bounds: Optional[list[list[float]]] = None

    def get_bounds(self):
        return self.view_bounds if self.view_bounds is not None else super().get_bounds()


def new_map(center_latlon: Sequence[float], zoom: int = 13, basemaps: bool = True,
            context_bounds: Optional[list[list[float]]] = None) -> folium.Map:
    """A map with no CDN tiles by default: a plain background and the offline basemap around
    ``context_bounds`` ([[s, w], [n, e]], default: around the centre), plus OSM and satellite
    layers when ``basemaps`` (they need internet; when they fail the map says so)."""
    m = ViewMap(location=list(center_latlon), zoom_start=zoom, tiles=None, control_scale=False,
                prefer_canvas=False)
    MetricScale().add_to(m)
    add_basemaps(m, basemaps, context_bounds or [list(center_latlon), list(center_latlon)])
    return m


def add_basemaps(m: folium.Map, basemaps: bool, context_bounds: Optional[list[list[float]]] = None) -> None:
    """The plain background layer and the offline basemap (borders, rivers, towns) around
    ``context_bounds``, plus OpenStreetMap and satellite when ``basemaps``."""
    plain = folium.TileLayer(tiles=_BLANK_TILE, attr=t("maps.no_basemap"), name=t("maps.plain"), overlay=False,
                             control=True, show=not basemaps)
    plain.add_to(m)
    online = []
    if basemaps:
        online.append(folium.TileLayer("OpenStreetMap", name=OSM_NAME, overlay=False, control=True, show=True))
        online.append(folium.TileLayer(tiles=SATELLITE_TILES, attr=SATELLITE_ATTR, name=t("maps.satellite"),
                                       overlay=False, control=True, show=False, max_zoom=19))
        for layer in online:
            layer.add_to(m)
    offline = offline_basemap(context_bounds, show=not basemaps) if context_bounds else None
    if offline is not None:
        offline.add_to(m)
    if online:
        TileFailureNotice(online, plain, offline).add_to(m)
    m.get_root().header.add_child(Element(MAP_CSS), name="landslide_map_css")


def offline_basemap(bounds_latlon: list[list[float]], show: bool = True) -> Optional[folium.FeatureGroup]:
    """Borders, rivers and towns around ``bounds_latlon`` as one layer, or None without the data."""
    from .basemap_data import ContextLayers, context_layers

    (south, west), (north, east) = bounds_latlon
    ctx = context_layers(west, south, east, north)
    if ctx is None or ctx.empty:
        return None
    group = folium.FeatureGroup(name=t("maps.offline"), overlay=True, control=True, show=show)
    for lines, style, name in ((ctx.rivers, RIVER_STYLE, "rivers"), (ctx.regions, REGION_STYLE, "regions"),
                               (ctx.countries, COUNTRY_STYLE, "countries")):
        if lines:
            folium.GeoJson(ContextLayers.lines_geojson(lines), name=name, control=False, interactive=False,
                           style_function=lambda _f, st=style: st).add_to(group)
    towns = [{"lat": float(town["lat"]), "lon": float(town["lon"]),
              "label": html.escape(town["name"]).replace("`", "'") if town["label"] else None}
             for town in ctx.towns]
    if towns:
        TownMarkers(towns).add_to(group)
    return group


def fit(m, bounds_latlon: list[list[float]]) -> None:
    """Fit the view to ``bounds_latlon`` with room for the controls, not closer than FIT_MAX_ZOOM."""
    m.fit_bounds(bounds_latlon, padding=FIT_PADDING_PX, max_zoom=FIT_MAX_ZOOM)
    if isinstance(m, ViewMap):
        m.view_bounds = [list(map(float, bounds_latlon[0])), list(map(float, bounds_latlon[1]))]


def geometry_bounds_latlon(geometry: dict) -> list[list[float]]:
    """[[south, west], [north, east]] of a GeoJSON geometry (lon/lat)."""
    from shapely.geometry import shape

    west, south, east, north = shape(geometry).bounds
    return [[south, west], [north, east]]


@st.cache_data(max_entries=16, show_spinner=False)
def compact_image_url(folder: str, rel: Optional[str], mtime: float) -> Optional[str]:  # noqa: ARG001 - cache key
    """A display image of a result (``rel`` in its folder) as the compact data URL maps get
    (:func:`landslide_core.display.compact_image_url`), made once per result (``mtime`` of its
    done file) for every map and page that shows it."""
    from landslide_core import display

    return display.compact_image_url(folder, rel)


def simplified_geometry(geometry: Optional[dict]) -> Optional[dict]:
    """A landslide's outline (lon/lat) with the pixel staircase simplified (a quarter pixel): what
    a map needs, in a fraction of the vertices (and of the page's time to draw it)."""
    if not geometry:
        return geometry
    from shapely.geometry import mapping, shape

    return mapping(shape(geometry).simplify(2.5e-5, preserve_topology=True))  # ~2.5 m in degrees


def rounded_geometry(geometry: Optional[dict], decimals: int = 6) -> Optional[dict]:
    """A GeoJSON geometry (lon/lat) with its coordinates rounded (6 decimals: ~0.1 m): the same
    outline on a map in about 40 % fewer characters than Python's 17 digits."""
    return rounded_geometries([geometry], decimals)[0]


def rounded_geometries(geometries: list, decimals: int = 6) -> list:
    """:func:`rounded_geometry` of each of ``geometries``, all their points rounded by one numpy
    call (a layer of 800 outlines: 0.02 s instead of 0.2 s ring by ring)."""
    import numpy as np

    rings: list = []

    def collect(c):  # the coordinates' nesting, with each ring replaced by its number
        if isinstance(c[0][0], (list, tuple)):
            return [collect(x) for x in c]
        rings.append(c)
        return len(rings) - 1

    shapes = []
    for g in geometries:
        if not g or g.get("type") == "Point" or not g.get("coordinates"):
            shapes.append(None)
        else:
            shapes.append(collect(g["coordinates"]))
    if not rings:
        flat = []
    else:
        flat = np.round(np.asarray([p for r in rings for p in r], dtype=np.float64), decimals).tolist()
    starts = np.cumsum([0] + [len(r) for r in rings]).tolist()

    def rebuild(t):
        if isinstance(t, int):
            return flat[starts[t]:starts[t + 1]]
        return [rebuild(x) for x in t]

    out = []
    for g, shape in zip(geometries, shapes):
        if shape is not None:
            out.append({**g, "coordinates": rebuild(shape)})
        elif g and g.get("type") == "Point":
            out.append({**g, "coordinates": [round(float(v), decimals) for v in g["coordinates"]]})
        else:
            out.append(g)
    return out


def add_aoi(m: folium.Map, aoi: dict, name: Optional[str] = None) -> None:
    folium.GeoJson({"type": "Feature", "geometry": aoi, "properties": {}}, name=name or t("monitor.aoi"),
                   style_function=lambda _f: AOI_STYLE, control=True).add_to(m)


def aoi_map(aoi: Optional[dict], fallback_center_latlon: Sequence[float], basemaps: bool,
            draw: bool = True, scene_overlays: Iterable[dict[str, Any]] = ()) -> folium.Map:
    """The Monitor page's map: the current AOI and tools to draw a polygon or rectangle.

    ``scene_overlays``: image overlays of scenes already fetched for this area (true colour,
    hillshade), drawn under the AOI outline (same form as in :func:`overlays_map`)."""
    if aoi:
        bounds = geometry_bounds_latlon(aoi)
        center = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]
    else:
        center = list(fallback_center_latlon)
        bounds = [center, center]
    m = new_map(center, zoom=13, basemaps=basemaps, context_bounds=bounds)
    _add_overlays(m, scene_overlays, None, None)
    if aoi:
        add_aoi(m, aoi)
        fit(m, bounds)
    if draw:
        plugins.Draw(
            export=False, position="topleft", show_geometry_on_click=False,
            draw_options={"polyline": False, "circle": False, "marker": False,
                          "circlemarker": False,
                          "polygon": {"allowIntersection": False, "showArea": True},
                          "rectangle": {"showArea": True}},
            edit_options={"edit": False},
        ).add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)
    offline_assets.localize(m)
    return m


def overlays_map(overlays: Iterable[dict[str, Any]], bounds_latlon: list[list[float]],
                 basemaps: bool, aoi: Optional[dict] = None,
                 highlight: Optional[dict] = None) -> folium.Map:
    """A map of PNG image overlays.

    Each overlay: ``{"name", "url" (data URL of a PNG), "bounds" [[s, w], [n, e]],
    "opacity" (0-1), "show" (bool)}``. ``highlight`` is a GeoJSON geometry drawn on top
    (a located landslide); the map is then centred on it.
    """
    center = [(bounds_latlon[0][0] + bounds_latlon[1][0]) / 2,
              (bounds_latlon[0][1] + bounds_latlon[1][1]) / 2]
    m = new_map(center, zoom=14, basemaps=basemaps, context_bounds=bounds_latlon)
    _add_overlays(m, overlays, aoi, highlight)
    fit(m, _view_bounds(bounds_latlon, highlight))
    folium.LayerControl(collapsed=True).add_to(m)
    offline_assets.localize(m)
    return m


def _add_overlays(m: folium.Map, overlays: Iterable[dict[str, Any]], aoi: Optional[dict],
                  highlight: Optional[dict]) -> None:
    for ov in overlays:
        folium.raster_layers.ImageOverlay(
            image=ov["url"], bounds=ov["bounds"], opacity=float(ov.get("opacity", 1.0)),
            name=ov["name"], show=bool(ov.get("show", True)), pixelated=True, interactive=False,
        ).add_to(m)
    if aoi:
        add_aoi(m, aoi)
    if highlight:
        folium.GeoJson({"type": "Feature", "geometry": highlight, "properties": {}},
                       name=t("maps.selected"), style_function=lambda _f: HIGHLIGHT_STYLE).add_to(m)


def _view_bounds(bounds_latlon: list[list[float]], highlight: Optional[dict]) -> list[list[float]]:
    if not highlight:
        return bounds_latlon
    hb = geometry_bounds_latlon(highlight)
    pad = 0.002
    return [[hb[0][0] - pad, hb[0][1] - pad], [hb[1][0] + pad, hb[1][1] + pad]]


def dual_overlays_map(left: Iterable[dict[str, Any]], right: Iterable[dict[str, Any]],
                      bounds_latlon: list[list[float]], basemaps: bool, aoi: Optional[dict] = None,
                      highlight: Optional[dict] = None) -> plugins.DualMap:
    """Two maps side by side that pan and zoom together (Leaflet.Sync, served locally)."""
    center = [(bounds_latlon[0][0] + bounds_latlon[1][0]) / 2,
              (bounds_latlon[0][1] + bounds_latlon[1][1]) / 2]
    dual = plugins.DualMap(location=center, tiles=None, zoom_start=14, control_scale=False)
    for side, overlays in ((dual.m1, left), (dual.m2, right)):
        MetricScale().add_to(side)
        add_basemaps(side, basemaps, bounds_latlon)
        _add_overlays(side, overlays, aoi, highlight)
        folium.LayerControl(collapsed=True).add_to(side)
    view = _view_bounds(bounds_latlon, highlight)
    for side in (dual.m1, dual.m2):
        fit(side, view)
    offline_assets.localize(dual)
    offline_assets.localize(dual.get_root())
    return dual


def rendered_html(m: folium.Map) -> str:
    """The standalone HTML of a map (what folium would save), for checks and downloads."""
    return m.get_root().render()
