"""The labelling map of the Datasets page: the ROI's views as layers, the suggestion, and the
label as editable polygons with polygon, rectangle, stroke and freehand-brush tools.

What is on the map's editable layer *is* the label: :func:`apply_drawings` turns what the map
returns after a drawing, an edit or a deletion into the new label. Shapes drawn in "add" mode
are joined to the label, in "erase" mode cut out of it; lines (Leaflet.draw's polyline and
the freehand brush, :class:`BrushControl`) are widened to the brush width. Everything is
served offline (:mod:`dashboard.offline_assets`).
"""
from __future__ import annotations

from typing import Any, Optional

import folium
from branca.element import MacroElement
from folium import plugins
from jinja2 import Template

from landslide_core.datasets.labels import DEFAULT_BRUSH_M, edit_features, normalise_features

from . import maps, offline_assets
from .i18n import t

LABEL_STYLE = {"color": "#ffe600", "weight": 2, "fillColor": "#ffe600", "fillOpacity": 0.25}
SUGGESTION_STYLE = {"color": "#00e5ff", "weight": 2, "dashArray": "5 4", "fill": False}
ROI_STYLE = {"color": "#ffffff", "weight": 1, "fill": False}
PATCH_STYLE = {"color": "#e61e1e", "weight": 2, "dashArray": "6 6", "fill": False}


class BrushControl(MacroElement):
    """A freehand brush: while it is on, dragging on the map paints a stroke (the map does not
    pan); releasing hands the stroke to the map as a drawn line (Leaflet.draw's "draw:created"
    event), which the page widens to the brush width and adds to (or erases from) the label."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function() {
            var map = {{ this._parent.get_name() }};
            var on = false, drawing = false, pts = [], preview = null;
            var width_m = {{ this.width_m }};
            function px() {
                var mpp = 40075016.686 * Math.cos(map.getCenter().lat * Math.PI / 180) /
                          Math.pow(2, map.getZoom() + 8);
                return Math.max(2, width_m / mpp);
            }
            var Brush = L.Control.extend({
                options: {position: 'topleft'},
                onAdd: function() {
                    var box = L.DomUtil.create('div', 'leaflet-bar leaflet-control');
                    var a = L.DomUtil.create('a', 'landslide-brush', box);
                    a.href = '#'; a.title = 'Brush (' + width_m + ' m): drag on the map to paint';
                    a.innerHTML = '&#9998;'; a.style.fontSize = '18px'; a.style.fontWeight = 'bold';
                    a.setAttribute('role', 'button'); a.setAttribute('aria-label', 'Brush');
                    L.DomEvent.on(a, 'click', function(e) {
                        L.DomEvent.stop(e);
                        on = !on;
                        a.style.background = on ? '#ffe600' : '';
                        map.getContainer().style.cursor = on ? 'crosshair' : '';
                        if (on) { map.dragging.disable(); } else { map.dragging.enable(); }
                    });
                    L.DomEvent.disableClickPropagation(box);
                    return box;
                }
            });
            map.addControl(new Brush());
            map.on('mousedown', function(e) {
                if (!on) return;
                drawing = true; pts = [e.latlng];
                preview = L.polyline(pts, {color: '#ffe600', weight: px(), opacity: 0.6,
                                           lineCap: 'round', lineJoin: 'round'}).addTo(map);
            });
            map.on('mousemove', function(e) {
                if (!drawing) return;
                pts.push(e.latlng); preview.setLatLngs(pts);
            });
            function finish() {
                if (!drawing) return;
                drawing = false;
                if (preview) { map.removeLayer(preview); preview = null; }
                if (pts.length === 1) { pts.push(pts[0]); }
                map.fire('draw:created', {layer: L.polyline(pts), layerType: 'polyline'});
            }
            map.on('mouseup', finish);
            map.getContainer().addEventListener('mouseleave', finish);
        })();
        {% endmacro %}
    """)

    def __init__(self, width_m: float = DEFAULT_BRUSH_M):
        super().__init__()
        self._name = "BrushControl"
        self.width_m = float(width_m)


def _rings_latlon(geometry: dict) -> list[list[list[list[float]]]]:
    """Polygons of a (Multi)Polygon as lists of [lat, lon] rings (outer first, then holes)."""
    polys = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    return [[[[pt[1], pt[0]] for pt in ring] for ring in poly] for poly in polys]


def label_map(overlay_url: Optional[str], bounds: list[list[float]], roi_footprint: dict,
              patch_footprints: list[dict], label: list[dict], suggestion: Optional[list[dict]],
              brush_m: float = DEFAULT_BRUSH_M, basemaps: bool = False) -> tuple[folium.Map, int]:
    """The labelling map and the number of editable polygons put on it (see :func:`apply_drawings`)."""
    centre = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]
    m = maps.new_map(centre, zoom=15, basemaps=basemaps)
    m.options["zoom_snap"] = 0.25  # fit the ROI closely, not to the nearest whole zoom level
    if overlay_url:
        folium.raster_layers.ImageOverlay(image=overlay_url, bounds=bounds, name="ROI view", opacity=1.0,
                                          pixelated=True, interactive=False).add_to(m)
    folium.GeoJson({"type": "Feature", "geometry": roi_footprint, "properties": {}}, name=t("datasets.roi"),
                   style_function=lambda _f: ROI_STYLE, interactive=False).add_to(m)
    for fp in patch_footprints:
        folium.GeoJson({"type": "Feature", "geometry": fp, "properties": {}}, name=t("datasets.layer.patch"),
                       style_function=lambda _f: PATCH_STYLE, interactive=False).add_to(m)
    if suggestion:
        folium.GeoJson({"type": "FeatureCollection", "features": suggestion}, name=t("datasets.layer.suggestion"),
                       style_function=lambda _f: SUGGESTION_STYLE, interactive=False).add_to(m)
    group = folium.FeatureGroup(name=t("datasets.layer.label"), control=False)
    n = 0
    for f in label:
        for rings in _rings_latlon(f["geometry"]):
            folium.Polygon(rings, **LABEL_STYLE).add_to(group)
            n += 1
    group.add_to(m)
    plugins.Draw(
        export=False, position="topleft", feature_group=group, show_geometry_on_click=False,
        draw_options={"polyline": {"shapeOptions": {"color": "#ffe600"}}, "circle": False, "marker": False,
                      "circlemarker": False, "polygon": {"allowIntersection": False, "shapeOptions": LABEL_STYLE},
                      "rectangle": {"shapeOptions": LABEL_STYLE}},
        edit_options={"edit": True, "remove": True},
    ).add_to(m)
    BrushControl(brush_m).add_to(m)
    m.fit_bounds(bounds)
    folium.LayerControl(collapsed=True).add_to(m)
    offline_assets.localize(m)
    return m, n


def apply_drawings(drawings: Optional[list[dict[str, Any]]], rendered: int, label: list[dict[str, Any]],
                   crs, mode: str = "add", brush_m: float = DEFAULT_BRUSH_M) -> Optional[list[dict[str, Any]]]:
    """The label after a map event, or None when the map reported nothing new.

    ``drawings``: every shape on the editable layer (streamlit-folium's ``all_drawings``), the
    ``rendered`` label polygons first (edited or not), then shapes drawn since. Fewer than
    ``rendered``: polygons were deleted; the shapes left are the label."""
    if drawings is None:
        return None
    feats = [d for d in drawings if isinstance(d, dict) and isinstance(d.get("geometry"), dict)]
    kept, new = feats[:rendered], feats[rendered:]
    base = normalise_features(kept, crs)
    if not new:
        return base
    return edit_features(base, new, crs, mode, brush_m)
