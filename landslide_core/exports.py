"""Exports: Cloud-Optimized GeoTIFFs, GeoJSON and CSV, each carrying the model card and provenance.

Rasters (valid under ``rio_cogeo.cogeo.cog_validate``):
- probability: float32, nodata NaN (not assessable);
- mask: uint8, 1 landslide, 0 stable ground, 255 not assessable (nodata);
- change: uint8, 0 stable, 1 new, 2 persisting, 3 vanished, 255 not assessable (nodata).
Every raster has the GeoTIFF tags ``MODEL_CARD`` and ``PROVENANCE`` (JSON), a band description
and units; mask and change carry a colour table (GIS software shows their classes in colour). GeoJSON is in
EPSG:4326 with a top-level ``metadata`` member holding the same; CSV has a clean header row
and one row per polygon, its model card and provenance in a sidecar JSON.
"""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.transform import Affine

from .fileio import atomic_write_text, temp_path_for
from .postprocess import feature_columns

MODEL_CARD_TAG = "MODEL_CARD"
PROVENANCE_TAG = "PROVENANCE"


class RasterKind:
    """dtype, nodata, overview resampling, description, band name, units and colours of each
    exported raster."""

    SPECS = {
        "probability": ("float32", float("nan"), "average", "Landslide probability (0-1); NaN = not assessable"),
        "mask": ("uint8", 255, "nearest", "1 landslide, 0 stable ground, 255 not assessable"),
        "change": ("uint8", 255, "nearest", "0 stable, 1 new, 2 persisting, 3 vanished, 255 not assessable"),
    }
    #: Band description and units (GDAL's band metadata; QGIS shows both).
    BANDS = {
        "probability": ("landslide probability", "probability (0-1)"),
        "mask": ("landslide mask", "class"),
        "change": ("change class", "class"),
    }

    @classmethod
    def get(cls, kind: str) -> tuple[str, float, str, str]:
        if kind not in cls.SPECS:
            raise ValueError(f"kind must be one of {sorted(cls.SPECS)}, not {kind!r}")
        return cls.SPECS[kind]

    @classmethod
    def classes(cls, kind: str) -> dict[int, tuple[str, tuple[int, int, int, int]]]:
        """{value: (English name, RGBA)} of a class raster (mask, change); {} for probability."""
        from .display import CHANGE_CLASSES

        if kind == "change":
            return dict(CHANGE_CLASSES)
        if kind == "mask":
            return {0: ("stable ground", (0, 0, 0, 0)), 1: ("landslide", (228, 26, 28, 230)),
                    255: ("not assessable", (120, 120, 120, 150))}
        return {}

    @classmethod
    def colour_table(cls, kind: str) -> dict[int, tuple[int, int, int, int]]:
        """The GeoTIFF colour table of a class raster: its classes' colours, other values clear."""
        return {value: rgba for value, (_, rgba) in cls.classes(kind).items()}


def metadata_tags(model_card: Optional[dict] = None, provenance: Optional[dict] = None) -> dict[str, str]:
    """The GeoTIFF tags holding the model card and the inputs' provenance as JSON."""
    return {MODEL_CARD_TAG: json.dumps(model_card or {}, default=str),
            PROVENANCE_TAG: json.dumps(provenance or {}, default=str)}


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The model card and provenance stored in an exported GeoTIFF."""
    with rasterio.open(path) as ds:
        tags = ds.tags()
    return {"model_card": json.loads(tags.get(MODEL_CARD_TAG, "{}")),
            "provenance": json.loads(tags.get(PROVENANCE_TAG, "{}"))}


#: Rows per block copied when a GeoTIFF is staged for the COG driver.
_COPY_ROWS = 512


def _staged_source(path: Path, width: int, height: int, transform: Affine, crs: CRS, kind: str,
                   tags: dict[str, str]):
    """A tiled GeoTIFF of ``kind`` with its band description, units, colour table and tags; not
    compressed (the COG driver reads it once, right after: compressing it cost a third of the
    probability COG's time)."""
    dtype, nodata, _, _ = RasterKind.get(kind)
    ds = rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=1, dtype=dtype, crs=crs,
                       transform=transform, nodata=nodata, tiled=True, blockxsize=256, blockysize=256,
                       BIGTIFF="IF_SAFER")
    name, units = RasterKind.BANDS[kind]
    ds.set_band_description(1, name)
    ds.units = (units,)
    table = RasterKind.colour_table(kind)
    if table:
        ds.write_colormap(1, table)
    ds.update_tags(**tags)
    return ds


def _cog_copy(staged: Path, dst_path: Path, kind: str) -> Path:
    """GDAL's COG driver: ``staged`` -> ``dst_path`` (written under a temporary name of this
    call's own and renamed, so simultaneous writers of one file never share it)."""
    import rasterio.shutil

    dtype, _, resampling, _ = RasterKind.get(kind)
    options = {"COMPRESS": "DEFLATE", "BLOCKSIZE": 256, "OVERVIEW_RESAMPLING": resampling.upper(),
               "BIGTIFF": "IF_SAFER"}
    if dtype == "float32":
        # probabilities keep their full float32 precision, which DEFLATE hardly shrinks (a 400 km2
        # probability COG: 16.8 MB at the default level, 17.0 MB at level 1, 22 MB uncompressed):
        # its fastest level, at 0.6x the default's time
        options.update(PREDICTOR="YES", LEVEL=1)
    partial = temp_path_for(dst_path)
    try:
        rasterio.shutil.copy(str(staged), str(partial), driver="COG", **options)
        os.replace(partial, dst_path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return dst_path


def _tags(kind: str, model_card: Optional[dict], provenance: Optional[dict]) -> dict[str, str]:
    tags = metadata_tags(model_card, provenance)
    tags["DESCRIPTION"] = RasterKind.get(kind)[3]
    return tags


def cog_from_geotiff(src_path: str | Path, dst_path: str | Path, kind: str,
                     model_card: Optional[dict] = None, provenance: Optional[dict] = None) -> Path:
    """Translate a GeoTIFF into a Cloud-Optimized GeoTIFF of ``kind``: dtype and nodata of the
    kind, band description and units, the colour table of a class raster, metadata tags.
    Copied block row by block row (never the whole raster in memory)."""
    from rasterio.windows import Window

    dtype, nodata, _, _ = RasterKind.get(kind)
    dst_path = Path(dst_path)
    with tempfile.TemporaryDirectory(dir=dst_path.parent, prefix=".cog-") as tmp:
        staged = Path(tmp) / "src.tif"
        with rasterio.open(src_path) as src:
            src_nodata = src.nodata
            with _staged_source(staged, src.width, src.height, src.transform, src.crs, kind,
                                _tags(kind, model_card, provenance)) as dst:
                for y0 in range(0, src.height, _COPY_ROWS):
                    window = Window(0, y0, src.width, min(_COPY_ROWS, src.height - y0))
                    block = src.read(1, window=window)
                    if src_nodata is not None and not (isinstance(src_nodata, float) and np.isnan(src_nodata)) \
                            and src_nodata != nodata:
                        block = np.where(block == src_nodata, nodata, block)
                    dst.write(block.astype(dtype, copy=False), 1, window=window)
        return _cog_copy(staged, dst_path, kind)


def write_cog(array: np.ndarray, path: str | Path, transform: Affine, crs: CRS, kind: str,
              model_card: Optional[dict] = None, provenance: Optional[dict] = None) -> Path:
    """Write a 2-D array as a Cloud-Optimized GeoTIFF of ``kind`` (probability, mask or change)."""
    dtype, _, _, _ = RasterKind.get(kind)
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"write_cog needs a 2-D array, got shape {array.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".cog-") as tmp:
        staged = Path(tmp) / "src.tif"
        h, w = array.shape
        with _staged_source(staged, w, h, transform, crs, kind, _tags(kind, model_card, provenance)) as ds:
            ds.write(array.astype(dtype, copy=False), 1)
        return _cog_copy(staged, path, kind)


def write_geojson(features: list[dict[str, Any]], path: str | Path, model_card: Optional[dict] = None,
                  provenance: Optional[dict] = None, extra: Optional[dict] = None) -> Path:
    """A GeoJSON FeatureCollection (EPSG:4326) with the model card and provenance under ``metadata``."""
    path = Path(path)
    metadata = {"crs": "EPSG:4326", "model_card": model_card or {}, "provenance": provenance or {}}
    if extra:
        metadata.update(extra)
    doc = {"type": "FeatureCollection", "metadata": metadata, "features": features}
    return atomic_write_text(path, json.dumps(doc, default=str))


def csv_text(features: Iterable[dict[str, Any]], comment_lines: Iterable[str] = ()) -> str:
    """The CSV table (one row per polygon), after optional ``# ...`` comment lines."""
    features = list(features)
    columns = feature_columns(features)
    buf = io.StringIO(newline="")
    for line in comment_lines:
        buf.write(f"# {line}\n")
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for f in features:
        writer.writerow({k: ("" if f["properties"].get(k) is None else f["properties"][k]) for k in columns})
    return buf.getvalue()


def write_csv(features: Iterable[dict[str, Any]], path: str | Path, comment_lines: Iterable[str] = ()) -> Path:
    """One row per polygon with its properties (no geometry; centroid lon/lat included),
    written atomically; ``comment_lines`` go first as ``# ...`` lines (none by default: a clean
    header row, which GDAL, QGIS and spreadsheets need; put metadata in a sidecar,
    :func:`write_table_metadata`)."""
    return atomic_write_text(path, csv_text(features, comment_lines))


#: What each CSV column holds (the sidecar lists them, with units).
COLUMN_NOTES: dict[str, str] = {
    "id": "landslide number (as in the GeoJSON and GeoPackage)",
    "area_ha": "area, hectares",
    "perimeter_m": "perimeter, metres",
    "slope_deg_mean": "mean slope, degrees",
    "slope_deg_max": "steepest slope, degrees",
    "probability_mean": "mean landslide probability after the event (0-1)",
    "centroid_lon": "centre longitude, degrees (EPSG:4326)",
    "centroid_lat": "centre latitude, degrees (EPSG:4326)",
    "pre_probability_mean": "mean landslide probability before the event (0-1)",
    "ndvi_drop": "NDVI lost against the surroundings",
    "brightness_rise": "brightening against the surroundings (natural log of the ratio)",
    "height_above_valley_m": "height above the valley floor, metres",
    "relative_height": "position between valley floor (0) and ridge (1)",
    "compactness": "shape: 4 pi area / perimeter^2 (1 = a disc)",
    "rectangularity": "shape: area / area of its rotated bounding box",
    "width_m": "width, metres",
    "elongation": "length / width",
    "downslope_alignment": "how well its long axis follows the slope (0-1)",
    "why": "why it counts as new (the evidence, in words)",
}


def table_metadata(csv_name: str, model_card: Optional[dict], provenance: Optional[dict],
                   features: Iterable[dict[str, Any]] = (), summary: Optional[dict] = None) -> dict[str, Any]:
    """The sidecar of a CSV table: its columns (with units), the model card and provenance."""
    columns = feature_columns(list(features))
    return {"table": csv_name, "crs_of_coordinates": "EPSG:4326",
            "columns": {c: COLUMN_NOTES.get(c, "") for c in columns},
            "summary": summary or {}, "model_card": model_card or {}, "provenance": provenance or {}}


def write_table_metadata(path: str | Path, csv_name: str, model_card: Optional[dict], provenance: Optional[dict],
                         features: Iterable[dict[str, Any]] = (), summary: Optional[dict] = None) -> Path:
    """Write the sidecar JSON of a CSV table (see :func:`table_metadata`), atomically."""
    doc = table_metadata(csv_name, model_card, provenance, features, summary)
    return atomic_write_text(path, json.dumps(doc, indent=2, default=str))
