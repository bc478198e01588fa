"""Exports: COG validity, dtypes and nodata, metadata tags, GeoJSON and CSV."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import rasterio
from conftest import UTM18S
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_validate

from landslide_core.exports import (MODEL_CARD_TAG, PROVENANCE_TAG, cog_from_geotiff, read_metadata, write_cog,
                                    write_csv, write_geojson)
from landslide_core.postprocess import FEATURE_PROPERTIES, polygons_from_mask

T = from_origin(400000.0, 8750000.0, 10.0, 10.0)
CARD = {"name": "tiny", "architecture": "unet_vanilla", "band_set": "l4s14", "threshold": 0.5}
PROV = {"pre": {"scene_id": "S2A_X", "date": "2020-01-20", "cloud_pct": 3.5}}


@pytest.mark.parametrize("kind,dtype,nodata", [("probability", "float32", None), ("mask", "uint8", 255),
                                               ("change", "uint8", 255)])
@pytest.mark.parametrize("shape", [(1, 1), (37, 61), (600, 700)])
def test_cog_is_valid_with_dtype_nodata_and_metadata(tmp_path, kind, dtype, nodata, shape):
    rng = np.random.default_rng(0)
    if kind == "probability":
        arr = rng.random(shape).astype(np.float32)
        arr.flat[0] = np.nan
    else:
        arr = rng.choice(np.array([0, 1, 2, 3, 255], np.uint8), shape)
    path = write_cog(arr, tmp_path / f"{kind}.tif", T, UTM18S, kind, CARD, PROV)
    valid, errors, _ = cog_validate(str(path))
    assert valid, errors
    with rasterio.open(path) as ds:
        assert ds.dtypes[0] == dtype and ds.crs == UTM18S and ds.transform == T
        assert (np.isnan(ds.nodata) if nodata is None else ds.nodata == nodata)
        back = ds.read(1)
        tags = ds.tags()
    np.testing.assert_array_equal(back, arr)
    assert json.loads(tags[MODEL_CARD_TAG]) == CARD and json.loads(tags[PROVENANCE_TAG]) == PROV
    assert read_metadata(path) == {"model_card": CARD, "provenance": PROV}
    assert not list(tmp_path.glob("*.partial")) and not list(tmp_path.glob(".cog-*"))


def test_cog_from_a_tiled_geotiff(tmp_path):
    src = tmp_path / "src.tif"
    arr = np.linspace(0, 1, 300 * 400, dtype=np.float32).reshape(300, 400)
    with rasterio.open(src, "w", driver="GTiff", width=400, height=300, count=1, dtype="float32", crs=UTM18S,
                       transform=T, nodata=float("nan"), tiled=True, blockxsize=256, blockysize=256) as ds:
        ds.write(arr, 1)
    out = cog_from_geotiff(src, tmp_path / "p.tif", "probability", CARD, PROV)
    assert cog_validate(str(out))[0]
    with rasterio.open(out) as ds:
        np.testing.assert_array_equal(ds.read(1), arr)


def test_geojson_and_csv(tmp_path):
    mask = np.zeros((30, 30), np.uint8)
    mask[2:12, 2:12] = 1
    mask[20:25, 20:24] = 1
    feats = polygons_from_mask(mask, np.full(mask.shape, 0.7, np.float32), np.full(mask.shape, 25.0, np.float32),
                               T, UTM18S, 0.1)
    gj = write_geojson(feats, tmp_path / "l.geojson", CARD, PROV, {"threshold": 0.5})
    doc = json.loads(gj.read_text())
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == 2
    assert doc["metadata"]["model_card"] == CARD and doc["metadata"]["provenance"] == PROV
    assert doc["metadata"]["crs"] == "EPSG:4326" and doc["metadata"]["threshold"] == 0.5
    lon, lat = doc["features"][0]["geometry"]["coordinates"][0][0]
    assert -180 <= lon <= 180 and -90 <= lat <= 90
    rows = list(csv.DictReader(open(write_csv(feats, tmp_path / "l.csv"))))
    assert list(rows[0]) == list(FEATURE_PROPERTIES)
    assert sorted(float(r["area_ha"]) for r in rows) == pytest.approx([0.2, 1.0])
    assert all(float(r["slope_deg_mean"]) == pytest.approx(25.0) for r in rows)
    # no polygons: still a valid, empty collection and a CSV with its header
    doc = json.loads(write_geojson([], tmp_path / "e.geojson").read_text())
    assert doc["features"] == []
    assert open(write_csv([], tmp_path / "e.csv")).read().strip() == ",".join(FEATURE_PROPERTIES)
