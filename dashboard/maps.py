"""Folium maps for the pages: AOI drawing and result overlays, all working offline.

Every map is passed through :func:`dashboard.offline_assets.localize`, so its Leaflet and
plugin files come from this app, not from a CDN. Basemap tiles are optional layers: with no
internet the tiles stay blank and the overlays (compact PNG image overlays) still show on
the map's plain background.
"""
from __future__ import annotations

import os
from typing import Any, Iterable, Optional, Sequence

import folium
from folium import plugins

from . import offline_assets

OSM_NAME = "OpenStreetMap"
SATELLITE_NAME = "Satellite (Esri World Imagery)"
SATELLITE_TILES = "https://server.arcgisonline.com/ArcGIS/rest/services/World_Imagery/MapServer/tile/{z}/{y}/{x}"
SATELLITE_ATTR = "Esri, Maxar, Earthstar Geographics"
PLAIN_NAME = "Plain background (offline)"
#: 1x1 transparent PNG: the tile of the plain background layer (no request leaves the app).
_BLANK_TILE = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNk"
               "YAAAAAYAAjCB0C8AAAAASUVORK5CYII=")

AOI_STYLE = {"color": "#b5442c", "weight": 3, "fill": True, "fillOpacity": 0.05}
HIGHLIGHT_STYLE = {"color": "#00e5ff", "weight": 4, "fill": False}


def basemaps_default() -> bool:
    """Whether basemap tiles are offered by default (env LANDSLIDE_BASEMAPS=0 turns them off)."""
    return os.environ.get("LANDSLIDE_BASEMAPS", "1").strip().lower() not in ("0", "false", "no", "off")


def new_map(center_latlon: Sequence[float], zoom: int = 13, basemaps: bool = True) -> folium.Map:
    """A map with no CDN tiles by default: a plain background, plus OSM and satellite layers
    when ``basemaps`` (they need internet; without it they stay blank)."""
    m = folium.Map(location=list(center_latlon), zoom_start=zoom, tiles=None, control_scale=True,
                   prefer_canvas=False)
    add_basemaps(m, basemaps)
    return m


def add_basemaps(m: folium.Map, basemaps: bool) -> None:
    """The plain background layer, plus OpenStreetMap and satellite when ``basemaps``."""
    folium.TileLayer(tiles=_BLANK_TILE, attr="no basemap", name=PLAIN_NAME, overlay=False,
                     control=True, show=not basemaps).add_to(m)
    if basemaps:
        folium.TileLayer("OpenStreetMap", name=OSM_NAME, overlay=False, control=True,
                         show=True).add_to(m)
        folium.TileLayer(tiles=SATELLITE_TILES, attr=SATELLITE_ATTR, name=SATELLITE_NAME,
                         overlay=False, control=True, show=False, max_zoom=19).add_to(m)


def geometry_bounds_latlon(geometry: dict) -> list[list[float]]:
    """[[south, west], [north, east]] of a GeoJSON geometry (lon/lat)."""
    from shapely.geometry import shape

    west, south, east, north = shape(geometry).bounds
    return [[south, west], [north, east]]


def add_aoi(m: folium.Map, aoi: dict, name: str = "Area of interest") -> None:
    folium.GeoJson({"type": "Feature", "geometry": aoi, "properties": {}}, name=name,
                   style_function=lambda _f: AOI_STYLE, control=True).add_to(m)


def aoi_map(aoi: Optional[dict], fallback_center_latlon: Sequence[float], basemaps: bool,
            draw: bool = True) -> folium.Map:
    """The Monitor page's map: the current AOI and tools to draw a polygon or rectangle."""
    if aoi:
        bounds = geometry_bounds_latlon(aoi)
        center = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]
    else:
        center = list(fallback_center_latlon)
    m = new_map(center, zoom=13, basemaps=basemaps)
    if aoi:
        add_aoi(m, aoi)
        m.fit_bounds(bounds)
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
    m = new_map(center, zoom=14, basemaps=basemaps)
    _add_overlays(m, overlays, aoi, highlight)
    m.fit_bounds(_view_bounds(bounds_latlon, highlight))
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
                       name="Selected landslide", style_function=lambda _f: HIGHLIGHT_STYLE).add_to(m)


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
    dual = plugins.DualMap(location=center, tiles=None, zoom_start=14, control_scale=True)
    for side, overlays in ((dual.m1, left), (dual.m2, right)):
        add_basemaps(side, basemaps)
        _add_overlays(side, overlays, aoi, highlight)
        folium.LayerControl(collapsed=True).add_to(side)
    dual.fit_bounds(_view_bounds(bounds_latlon, highlight))
    offline_assets.localize(dual)
    offline_assets.localize(dual.get_root())
    return dual


def rendered_html(m: folium.Map) -> str:
    """The standalone HTML of a map (what folium would save), for checks and downloads."""
    return m.get_root().render()
