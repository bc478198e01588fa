"""The landslides as one GeoPackage (QGIS's default vector format), written with GDAL
through pyogrio: layers ``new_landslides``, ``pre_landslides``, ``post_landslides`` and
``aoi`` (the area analysed, else the analysis extent), in EPSG:4326 like the GeoJSON, each
with the same attribute columns as the CSV and a default QGIS style (``layer_styles``).
"""
from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..i18n import t
from ..postprocess import feature_columns

LAYERS = ("new_landslides", "pre_landslides", "post_landslides", "aoi")
#: Outline colour of each layer's default QGIS style.
LAYER_COLOURS = {"new_landslides": "215,25,28", "pre_landslides": "255,212,0", "post_landslides": "255,0,255",
                 "aoi": "17,17,17"}


def _column(values: list[Any]) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """An attribute column: float64 for numbers, int64 for whole numbers, text otherwise;
    with a null mask where values are missing."""
    missing = np.array([v is None for v in values], dtype=bool)
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        arr = np.array([bool(v) if v is not None else False for v in values], dtype=bool)
    elif present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        arr = np.array([int(v) if v is not None else 0 for v in values], dtype=np.int64)
    elif present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        arr = np.array([float(v) if v is not None else np.nan for v in values], dtype=np.float64)
    else:
        arr = np.array(["" if v is None else str(v) for v in values], dtype=object)
    return arr, (missing if missing.any() else None)


def _write_layer(path: Path, layer: str, features: list[dict[str, Any]], description: str) -> None:
    import shapely
    from pyogrio.raw import write
    from shapely.geometry import shape

    if layer == "aoi":
        columns = list(features[0].get("properties", {})) if features else ["what"]
    else:
        columns = feature_columns(features)
    geoms = [shapely.to_wkb(shapely.geometry.MultiPolygon([shape(f["geometry"])])
                            if f["geometry"]["type"] == "Polygon" else shape(f["geometry"])) for f in features]
    data, masks = [], []
    for c in columns:
        arr, mask = _column([f.get("properties", {}).get(c) for f in features]) if features else (
            np.array([], dtype=np.int64 if c == "id" else np.float64), None)  # an empty layer keeps its columns
        data.append(arr)
        masks.append(mask if mask is not None else np.zeros(len(arr), dtype=bool))
    write(str(path), np.array(geoms, dtype=object), data, columns, field_mask=masks, layer=layer, driver="GPKG",
          geometry_type="MultiPolygon", crs="EPSG:4326",
          layer_options={"DESCRIPTION": description})


def _aoi_feature(facts) -> dict[str, Any]:
    if facts.aoi:
        return {"type": "Feature", "geometry": facts.aoi, "properties": {"what": "area of interest"}}
    w, s, e, n = facts.bounds_lonlat
    return {"type": "Feature", "properties": {"what": "analysis extent"},
            "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}}


def layer_qml(layer: str) -> str:
    """A simple QGIS vector style: the layer's outline colour over a light fill (none for the area)."""
    colour = LAYER_COLOURS[layer]
    fill = "no" if layer == "aoi" else "solid"
    return ("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
            '<qgis version="3.28.0" styleCategories="Symbology">\n'
            '  <renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" forceraster="0">\n'
            '    <symbols>\n'
            f'      <symbol type="fill" name="0" alpha="1" clip_to_extent="1" force_rhr="0">\n'
            '        <layer class="SimpleFill" enabled="1" pass="0" locked="0">\n'
            '          <Option type="Map">\n'
            f'            <Option name="color" type="QString" value="{colour},70"/>\n'
            f'            <Option name="style" type="QString" value="{fill}"/>\n'
            f'            <Option name="outline_color" type="QString" value="{colour},255"/>\n'
            '            <Option name="outline_style" type="QString" value="'
            f'{"dash" if layer == "aoi" else "solid"}"/>\n'
            '            <Option name="outline_width" type="QString" value="0.6"/>\n'
            '            <Option name="outline_width_unit" type="QString" value="MM"/>\n'
            '          </Option>\n        </layer>\n      </symbol>\n    </symbols>\n  </renderer-v2>\n'
            "  <layerGeometryType>2</layerGeometryType>\n</qgis>\n")


def _add_styles(path: Path, lang: str, layers: tuple[str, ...] = LAYERS) -> None:
    """QGIS's ``layer_styles`` table: each layer opens styled in QGIS (GDAL ignores it)."""
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with sqlite3.connect(path) as db:
        db.execute("""CREATE TABLE IF NOT EXISTS layer_styles (
            id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256), f_table_schema TEXT(256),
            f_table_name TEXT(256), f_geometry_column TEXT(256), styleName TEXT(30), styleQML TEXT,
            styleSLD TEXT, useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30),
            update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))""")
        for layer in layers:
            db.execute("INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, "
                       "styleName, styleQML, styleSLD, useAsDefault, description, owner, ui, update_time) "
                       "VALUES ('', '', ?, 'geom', ?, ?, '', 1, ?, '', '', ?)",
                       (layer, layer, layer_qml(layer), t(f"gis.layer.{layer}", lang), now))
        db.execute("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, "
                   "last_change) VALUES ('layer_styles', 'attributes', 'layer_styles', '', ?)", (now,))


def write_gpkg(facts, path: str | Path, lang: str) -> Path:
    """Write the GeoPackage of ``facts`` (report.facts.ReportFacts) to ``path`` (replaced)."""
    layers = {"new_landslides": facts.new_features, "pre_landslides": facts.date_features("pre"),
              "post_landslides": facts.date_features("post"), "aoi": [_aoi_feature(facts)]}
    return write_layers(layers, path, lang)


def write_layers(layers: dict[str, list[dict[str, Any]]], path: str | Path, lang: str) -> Path:
    """A GeoPackage at ``path`` (replaced) of ``layers`` (names from :data:`LAYERS`, lon/lat
    GeoJSON features), each with its default QGIS style."""
    path = Path(path)
    path.unlink(missing_ok=True)
    for layer, features in layers.items():  # each write adds a layer to the file
        _write_layer(path, layer, features, t(f"gis.layer.{layer}", lang))
    _add_styles(path, lang, tuple(layers))
    return path


__all__ = ["write_gpkg", "write_layers", "LAYERS"]
