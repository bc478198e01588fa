"""Local GeoTIFFs: bands by description or mapping, optional DEM, one grid, clear refusals."""
from __future__ import annotations

import datetime

import numpy as np
import pytest
import rasterio
from conftest import UTM18S, make_raw_scene
from rasterio.transform import from_origin

from landslide_core.errors import InputError
from landslide_core.scene import read_scene, write_scene
from landslide_core.sources import get_source
from landslide_core.sources.cache import SceneCache
from landslide_core.sources.local import LocalFilesSource, contract_name
from landslide_core.sources.request import AnalysisRequest, DateWindow

D = datetime.date
PRE = DateWindow(D(2023, 1, 1), D(2023, 2, 28))
POST = DateWindow(D(2023, 4, 1), D(2023, 5, 31))


def aoi_of(transform, width, height) -> dict:
    from pyproj import Transformer

    t = Transformer.from_crs(UTM18S, "EPSG:4326", always_xy=True)
    x0, y0 = transform.c, transform.f
    x1, y1 = x0 + width * transform.a, y0 + height * transform.e
    ring = [list(t.transform(x, y)) for x, y in [(x0, y1), (x1, y1), (x1, y0), (x0, y0), (x0, y1)]]
    return {"type": "Polygon", "coordinates": [ring]}


def write_bands(path, data, names, transform=None, crs=UTM18S, nodata=None):
    transform = transform or from_origin(400000.0, 8750000.0, 10.0, 10.0)
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1],
                       count=data.shape[0], dtype="float32", crs=crs, transform=transform, nodata=nodata) as ds:
        ds.write(data.astype(np.float32))
        for i, n in enumerate(names):
            if n:
                ds.set_band_description(i + 1, n)
    return path


def request_for(scene) -> AnalysisRequest:
    return AnalysisRequest(aoi_of(scene.transform, scene.width, scene.height), PRE, POST)


def test_contract_names_from_descriptions():
    assert [contract_name(d) for d in ("B01", "b2", "B8A", "B12", "DEM", "Elevation", "valid", "red")] == \
        ["B1", "B2", None, "B12", "elevation", "elevation", "valid", None]


def test_scene_files_are_reprojected_to_the_post_grid(tmp_path):
    post = make_raw_scene(40, 50, seed=1)
    pre = make_raw_scene(15, 15, seed=2)
    pre.transform = from_origin(400000.0, 8750000.0, 20.0, 20.0)  # 20 m, 300 m x 300 m: part of the post extent
    pre_path = write_scene(tmp_path / "pre_20230115.tif", pre)
    post_path = write_scene(tmp_path / "post_20230420.tif", post)
    src = LocalFilesSource(pre_path, post_path, cache=SceneCache(tmp_path / "cache", 10**9))
    req = request_for(post)
    a, b = src.fetch(req, req.pre), src.fetch(req, req.post)
    sa, sb = read_scene(a.path), read_scene(b.path)
    assert sa.data.shape == sb.data.shape == (14, 40, 50) and sa.transform == post.transform
    # nearest resampling from 20 m: pixel (2r, 2c) at 10 m comes from pre pixel (r, c)
    assert sa.band("B4")[4, 6] == pre.band("B4")[2, 3]
    assert np.array_equal(sb.band("B2"), post.band("B2"))
    assert not sa.valid[30:, :].any() and sa.valid[:28, :28].all()  # outside the pre file: not valid
    assert a.provenance["dates"] == ["2023-01-15"] and src.list_scenes(req, req.post)[0].date == D(2023, 4, 20)
    assert src.fetch(req, req.pre).from_cache


def test_explicit_band_map_and_dem_file(tmp_path):
    scene = make_raw_scene(20, 20)
    order = [11, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]  # B12 first, no names
    data = scene.data[order]
    band_map = {f"B{k + 1}": i + 1 for i, k in enumerate(order)}
    path = write_bands(tmp_path / "img.tif", data, [None] * 12)
    dem = write_bands(tmp_path / "dem.tif", scene.data[12:13] + 5.0, [None])
    src = LocalFilesSource(path, path, dem_path=dem, band_map=band_map, cache=SceneCache(tmp_path / "c", 10**9))
    out = read_scene(src.fetch(request_for(scene), PRE).path)
    assert np.array_equal(out.band("B1"), scene.band("B1")) and np.array_equal(out.band("B12"), scene.band("B12"))
    assert np.allclose(out.band("elevation")[2:-2, 2:-2], scene.band("elevation")[2:-2, 2:-2] + 5.0)


def test_missing_bands_are_refused_by_name(tmp_path):
    scene = make_raw_scene(10, 10)
    path = write_bands(tmp_path / "rgbn.tif", scene.data[[1, 2, 3, 7]], ["B2", "B3", "B4", "B8"])
    src = LocalFilesSource(path, path, cache=SceneCache(tmp_path / "c", 10**9))
    with pytest.raises(InputError) as exc:
        src.fetch(request_for(scene), PRE)
    msg = str(exc.value)
    assert "lacks the bands the model needs: B1, B5, B6, B7, B9, B10, B11, B12, elevation" in msg
    assert "DEM GeoTIFF" in msg and "band_map" in msg
    r = src.readiness()
    assert not r.ready and "B10" in r.message


def test_bad_band_map_and_missing_file(tmp_path):
    scene = make_raw_scene(10, 10)
    path = write_bands(tmp_path / "x.tif", scene.data[:12], [None] * 12)
    with pytest.raises(InputError, match="outside x.tif's 12 bands"):
        LocalFilesSource(path, path, band_map={"B1": 13}).file_bands(path)
    with pytest.raises(InputError, match="unknown bands: red"):
        LocalFilesSource(path, path, band_map={"red": 1}).file_bands(path)
    r = LocalFilesSource(tmp_path / "nope.tif", path).readiness()
    assert not r.ready and "does not exist" in r.message


def test_geographic_file_goes_to_its_utm_zone_and_request_grid_option(tmp_path):
    scene = make_raw_scene(20, 20)
    geo = from_origin(-75.30, -12.08, 0.0001, 0.0001)
    path = write_bands(tmp_path / "geo.tif", scene.data, [f"B{i}" for i in range(1, 13)] + ["elevation"],
                       transform=geo, crs="EPSG:4326")
    src = LocalFilesSource(path, path, cache=SceneCache(tmp_path / "c", 10**9))
    req = AnalysisRequest({"type": "Polygon", "coordinates": [[[-75.30, -12.082], [-75.298, -12.082],
                                                               [-75.298, -12.08], [-75.30, -12.08], [-75.30, -12.082]]]},
                          PRE, POST)
    out = read_scene(src.fetch(req, PRE).path)
    assert out.crs.to_epsg() == 32718 and out.transform.a == 10.0
    by_request = LocalFilesSource(path, path, grid_from="request", cache=SceneCache(tmp_path / "c", 10**9))
    g = req.grid()
    assert read_scene(by_request.fetch(req, PRE).path).data.shape[1:] == (g.height, g.width)


def test_readiness_without_files_and_registry():
    r = get_source("local").readiness()
    assert r.ready and "needs your files" in r.message
    with pytest.raises(InputError, match="No local files"):
        get_source("local").fetch(AnalysisRequest({"type": "Polygon", "coordinates": [[[0, 0], [0.01, 0], [0.01, 0.01], [0, 0]]]},
                                                  PRE, POST), PRE)
