"""Exports: Cloud-Optimized GeoTIFFs, GeoJSON and CSV, each carrying the model card and provenance.

Rasters (valid under ``rio_cogeo.cogeo.cog_validate``):
- probability: float32, nodata NaN (not assessable);
- mask: uint8, 1 landslide, 0 stable ground, 255 not assessable (nodata);
- change: uint8, 0 stable, 1 new, 2 persisting, 3 vanished, 255 not assessable (nodata).
Every raster has the GeoTIFF tags ``MODEL_CARD`` and ``PROVENANCE`` (JSON). GeoJSON is in
EPSG:4326 with a top-level ``metadata`` member holding the same; CSV has one row per polygon.
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
    """dtype, nodata and overview resampling of each exported raster."""

    SPECS = {
        "probability": ("float32", float("nan"), "average", "Landslide probability (0-1); NaN = not assessable"),
        "mask": ("uint8", 255, "nearest", "1 landslide, 0 stable ground, 255 not assessable"),
        "change": ("uint8", 255, "nearest", "0 stable, 1 new, 2 persisting, 3 vanished, 255 not assessable"),
    }

    @classmethod
    def get(cls, kind: str) -> tuple[str, float, str, str]:
        if kind not in cls.SPECS:
            raise ValueError(f"kind must be one of {sorted(cls.SPECS)}, not {kind!r}")
        return cls.SPECS[kind]


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


def cog_from_geotiff(src_path: str | Path, dst_path: str | Path, kind: str,
                     model_card: Optional[dict] = None, provenance: Optional[dict] = None) -> Path:
    """Translate a (tiled) GeoTIFF into a Cloud-Optimized GeoTIFF of ``kind``, with metadata tags."""
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    dtype, nodata, resampling, description = RasterKind.get(kind)
    dst_path = Path(dst_path)
    profile = cog_profiles.get("deflate")
    profile.update(blockxsize=256, blockysize=256)
    if dtype == "float32":
        profile["predictor"] = 3
    tags = metadata_tags(model_card, provenance)
    tags["DESCRIPTION"] = description
    # A temporary name of this call's own: simultaneous writers of one file never share it.
    partial = temp_path_for(dst_path)
    try:
        with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
            cog_translate(str(src_path), str(partial), profile, nodata=nodata, dtype=dtype,
                          overview_resampling=resampling, additional_cog_metadata=tags, quiet=True)
        os.replace(partial, dst_path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return dst_path


def write_cog(array: np.ndarray, path: str | Path, transform: Affine, crs: CRS, kind: str,
              model_card: Optional[dict] = None, provenance: Optional[dict] = None) -> Path:
    """Write a 2-D array as a Cloud-Optimized GeoTIFF of ``kind`` (probability, mask or change)."""
    dtype, nodata, _, _ = RasterKind.get(kind)
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"write_cog needs a 2-D array, got shape {array.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".cog-") as tmp:
        src = Path(tmp) / "src.tif"
        h, w = array.shape
        with rasterio.open(src, "w", driver="GTiff", width=w, height=h, count=1, dtype=dtype, crs=crs,
                           transform=transform, nodata=nodata, tiled=True, blockxsize=256, blockysize=256,
                           compress="deflate") as ds:
            ds.write(array.astype(dtype, copy=False), 1)
        return cog_from_geotiff(src, path, kind, model_card, provenance)


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
    written atomically; ``comment_lines`` go first as ``# ...`` lines."""
    return atomic_write_text(path, csv_text(features, comment_lines))
