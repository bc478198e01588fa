"""ROIs of a dataset: from points, polygons and CSV; sizes; each on its own UTM zone's grid."""
from __future__ import annotations

import json

import pytest
from pyproj import Transformer

from landslide_core.datasets.rois import (Roi, roi_at, rois_covering, rois_from_bytes, rois_from_csv, rois_from_file,
                                          rois_from_geojson, sample_rois)
from landslide_core.errors import InputError


def _point(lon, lat, **props):
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": props}


def _square_lonlat(lon, lat, half_deg):
    return {"type": "Polygon", "coordinates": [[[lon - half_deg, lat - half_deg], [lon + half_deg, lat - half_deg],
                                                [lon + half_deg, lat + half_deg], [lon - half_deg, lat + half_deg],
                                                [lon - half_deg, lat - half_deg]]]}


def test_rois_from_a_point_file_are_squares_of_the_set_size_on_their_utm_grid(tmp_path):
    fc = {"type": "FeatureCollection", "features": [_point(-75.40, -11.30, name="a"), _point(-75.30, -11.25)]}
    path = tmp_path / "inventory.geojson"
    path.write_text(json.dumps(fc))
    rois = rois_from_file(path)
    assert len(rois) == 2
    for roi in rois:
        g = roi.grid()
        assert (g.width, g.height) == (150, 150)  # 1500 m at 10 m: the thesis's ROI
        assert g.pixel_size_m == 10.0 and g.crs.to_epsg() == 32718  # UTM 18S (central Peru)
        left, bottom, right, top = g.bounds
        assert right - left == pytest.approx(1500.0) and top - bottom == pytest.approx(1500.0)
        # centred on the point (within a pixel)
        x, y = Transformer.from_crs("EPSG:4326", g.crs, always_xy=True).transform(roi.lon, roi.lat)
        assert abs((left + right) / 2 - x) <= 10 and abs((bottom + top) / 2 - y) <= 10
    assert rois[0].properties == {"name": "a"}
    assert rois[0].id.startswith("18S-")
    # another size
    small = rois_from_geojson(fc, size_m=1280)
    assert small[0].grid().width == 128


def test_rois_across_a_zone_border_each_use_their_own_zone():
    # the border between UTM zones 17 and 18 is at 78 deg W
    west, east = roi_at(-78.0005, -9.5), roi_at(-77.9995, -9.5)
    assert west.grid().crs.to_epsg() == 32717 and east.grid().crs.to_epsg() == 32718
    for roi in (west, east):
        g = roi.grid()
        assert (g.width, g.height) == (150, 150)
        assert g.transform.a == 10.0 and g.transform.e == -10.0 and g.transform.b == 0 == g.transform.d
    assert west.id.startswith("17S-") and east.id.startswith("18S-") and west.id != east.id
    # an ROI straddling the border is a square in its centre's zone, and its footprint spans the border
    lons = [c[0] for c in west.footprint()["coordinates"][0]]
    assert min(lons) < -78.0 < max(lons)


def test_rois_from_polygons_are_centred_on_each_polygon():
    poly = _square_lonlat(-75.4, -11.3, 0.001)
    multi = {"type": "MultiPolygon", "coordinates": [_square_lonlat(-75.2, -11.1, 0.001)["coordinates"],
                                                     _square_lonlat(-75.1, -11.0, 0.001)["coordinates"]]}
    fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": poly, "properties": {"id": 7}},
                                                    {"type": "Feature", "geometry": multi, "properties": {}}]}
    rois = rois_from_geojson(fc, size_m=2000)
    assert len(rois) == 3
    assert rois[0].lon == pytest.approx(-75.4) and rois[0].lat == pytest.approx(-11.3)
    assert rois[0].properties == {"id": 7}
    assert all(r.grid().width == 200 for r in rois)
    assert "polygon centre" in rois[0].origin


def test_rois_from_csv_and_duplicates_are_one_roi():
    rois = rois_from_csv("name,Longitude,Latitude\nx,-75.4,-11.3\ny,-75.4,-11.3\nz,-75.3,-11.2\n")
    assert len(rois) == 2 and rois[0].properties == {"name": "x"}
    assert rois_from_bytes(b"lon,lat\n-75.4,-11.3\n", "inv.csv")[0].id == rois[0].id


@pytest.mark.parametrize("raw, name, message", [
    (b"a,b\n1,2\n", "inv.csv", "no longitude and latitude columns"),
    (b"lon,lat\n", "inv.csv", "no rows"),
    (b"lon,lat\n200,10\n", "inv.csv", "not a longitude/latitude"),
    (b'{"type": "FeatureCollection", "features": []}', "inv.geojson", "no points or polygons"),
    (b'{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {"type": "LineString", '
     b'"coordinates": [[0, 0], [1, 1]]}}]}', "inv.geojson", "LineString"),
    (b"{not json", "inv.geojson", "not valid JSON"),
    (b"\xff\xfe\x00", "inv.geojson", "not text"),
])
def test_bad_inventories_are_clear_errors(raw, name, message):
    with pytest.raises(InputError, match=message):
        rois_from_bytes(raw, name)


def test_bad_roi_sizes_are_refused():
    for size in (100, 20_000, float("nan"), "big"):
        with pytest.raises(InputError, match="ROI size"):
            roi_at(-75.4, -11.3, size)


def test_sampling_is_reproducible_and_non_overlapping():
    area = _square_lonlat(-75.4, -11.3, 0.03)  # ~6.6 km square
    a = sample_rois(area, 5, seed=3)
    b = sample_rois(area, 5, seed=3)
    c = sample_rois(area, 5, seed=4)
    assert [r.id for r in a] == [r.id for r in b] and [r.id for r in a] != [r.id for r in c]
    for i, r in enumerate(a):
        for s in a[i + 1:]:
            gr, gs = r.grid().bounds, s.grid().bounds
            overlap_x = min(gr[2], gs[2]) - max(gr[0], gs[0])
            overlap_y = min(gr[3], gs[3]) - max(gr[1], gs[1])
            assert overlap_x <= 10 or overlap_y <= 10  # at most the snapping of one pixel
    with pytest.raises(InputError, match="fewer than"):
        sample_rois(area, 500)
    with pytest.raises(InputError, match="whole number"):
        sample_rois(area, 0)


def test_a_drawn_point_or_area_gives_its_rois():
    one = rois_covering({"type": "Feature", "geometry": {"type": "Point", "coordinates": [-75.4, -11.3]}})
    assert len(one) == 1 and one[0].lon == pytest.approx(-75.4)
    tiles = rois_covering(_square_lonlat(-75.4, -11.3, 0.01))  # ~2.2 km: 2 x 2 or 3 x 3 tiles
    assert 4 <= len(tiles) <= 9
    assert len({r.id for r in tiles}) == len(tiles)
    small = rois_covering(_square_lonlat(-75.4, -11.3, 0.001))
    assert len(small) == 1


def test_roi_json_round_trip():
    r = roi_at(-75.4, -11.3, 1500, "here", {"k": 1})
    back = Roi.from_json(json.loads(json.dumps(r.to_json())))
    assert back.id == r.id and back.properties == {"k": 1} and back.origin == "here"
