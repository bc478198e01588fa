"""The analysis request: AOI parsing and every bad input with a clear message."""
from __future__ import annotations

import datetime
import json

import pytest

from landslide_core.errors import InputError
from landslide_core.grid import square_aoi_km as square_km  # also imported by the EE tests and benches
from landslide_core.sources.aoi import aoi_area_km2, check_aoi
from landslide_core.sources.request import MAX_AOI_KM2, AnalysisRequest, DateWindow, parse_aoi

D = datetime.date
SQUARE = {"type": "Polygon", "coordinates": [[[-75.30, -12.10], [-75.28, -12.10], [-75.28, -12.08],
                                               [-75.30, -12.08], [-75.30, -12.10]]]}
PRE = DateWindow(D(2023, 1, 1), D(2023, 2, 28))
POST = DateWindow(D(2023, 4, 1), D(2023, 5, 31))


def request(**kw) -> AnalysisRequest:
    args = dict(aoi=SQUARE, pre=PRE, post=POST, cloud_limit_pct=30.0)
    args.update(kw)
    return AnalysisRequest(**args)


def test_good_request_validates_and_has_a_utm_grid():
    r = request()
    r.validate()
    g = r.grid()
    assert g.crs.to_epsg() == 32718 and g.pixel_size_m == 10.0
    assert 200 <= g.width <= 230 and 215 <= g.height <= 230


def test_key_is_stable_and_normalised():
    reversed_ring = {"type": "Polygon", "coordinates": [SQUARE["coordinates"][0][::-1]]}
    assert request().key() == request(aoi=reversed_ring).key()
    assert request().key() != request(cloud_limit_pct=31).key()
    assert request().key() != request(composite="median").key()
    assert request() == request() and hash(request()) == hash(request())  # usable as a dict key


@pytest.mark.parametrize("text", [json.dumps(SQUARE), json.dumps({"type": "Feature", "geometry": SQUARE}),
                                  json.dumps({"type": "FeatureCollection",
                                              "features": [{"type": "Feature", "properties": {}, "geometry": SQUARE}]})])
def test_parse_geojson_forms(text):
    assert parse_aoi(text)["type"] == "Polygon"
    assert parse_aoi(text.encode())["coordinates"] == SQUARE["coordinates"]


def test_parse_kml_polygon_drops_altitude():
    kml = """<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><Polygon>
      <outerBoundaryIs><LinearRing><coordinates>-75.30,-12.10,0 -75.28,-12.10,0 -75.28,-12.08,0
      -75.30,-12.08,0 -75.30,-12.10,0</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark></kml>"""
    geom = parse_aoi(kml, filename="area.kml")
    assert geom == SQUARE


def test_parse_kml_without_polygon_is_refused():
    kml = '<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><Point><coordinates>1,2</coordinates></Point></Placemark></kml>'
    with pytest.raises(InputError, match="no polygon.*Point"):
        parse_aoi(kml, filename="pt.kml")


def test_parse_bad_json_and_many_features():
    with pytest.raises(InputError, match="not valid GeoJSON"):
        parse_aoi("{not json", filename="a.geojson")
    fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": SQUARE}] * 2}
    with pytest.raises(InputError, match="2 features"):
        parse_aoi(fc)


# --- each bad input ---------------------------------------------------------------------------
def test_aoi_self_intersecting():
    bowtie = {"type": "Polygon", "coordinates": [[[-75.30, -12.10], [-75.28, -12.08], [-75.28, -12.10],
                                                  [-75.30, -12.08], [-75.30, -12.10]]]}
    with pytest.raises(InputError, match="crosses itself.*self-intersection") as exc:
        request(aoi=bowtie).validate()
    assert "Redraw" in str(exc.value)


@pytest.mark.parametrize("geom, kind", [({"type": "Point", "coordinates": [-75.3, -12.1]}, "Point"),
                                        ({"type": "LineString", "coordinates": [[-75.3, -12.1], [-75.2, -12.0]]},
                                         "LineString")])
def test_aoi_not_a_polygon(geom, kind):
    with pytest.raises(InputError, match=f"is a {kind}, not a polygon"):
        request(aoi=geom).validate()
    with pytest.raises(InputError, match="not a polygon"):
        parse_aoi(geom)


def test_aoi_crossing_the_antimeridian():
    crossing = {"type": "Polygon", "coordinates": [[[179.9, -16.0], [-179.9, -16.0], [-179.9, -16.1],
                                                    [179.9, -16.1], [179.9, -16.0]]]}
    with pytest.raises(InputError, match="antimeridian") as exc:
        request(aoi=crossing).validate()
    assert "Split it" in str(exc.value)
    beyond = {"type": "Polygon", "coordinates": [[[179.9, -16.0], [180.1, -16.0], [180.1, -16.1],
                                                  [179.9, -16.1], [179.9, -16.0]]]}
    with pytest.raises(InputError, match="antimeridian"):
        check_aoi(beyond)


def test_aoi_larger_than_the_limit_states_area_and_limit():
    with pytest.raises(InputError) as exc:
        request(aoi=square_km(25.0)).validate()
    msg = str(exc.value)
    assert "625.0 km²" in msg and "limit of 400 km²" in msg and "smaller area" in msg
    request(aoi=square_km(20.0)).validate()  # exactly the limit passes
    assert aoi_area_km2(square_km(20.0)) == pytest.approx(MAX_AOI_KM2, rel=1e-6)
    with pytest.raises(InputError, match="limit of 100 km²"):
        request(aoi=square_km(11.0)).validate(max_area_km2=100)


@pytest.mark.parametrize("geom", [{"type": "Polygon", "coordinates": []},
                                  {"type": "FeatureCollection", "features": []}])
def test_aoi_empty(geom):
    with pytest.raises(InputError, match="empty"):
        request(aoi=geom).validate()
    with pytest.raises(InputError, match="empty"):
        parse_aoi("   ")


def test_aoi_without_extent_and_swapped_coordinates():
    line_like = {"type": "Polygon", "coordinates": [[[-75.3, -12.1], [-75.2, -12.1], [-75.1, -12.1], [-75.3, -12.1]]]}
    with pytest.raises(InputError):
        request(aoi=line_like).validate()
    swapped = {"type": "Polygon", "coordinates": [[[-12.1, -95.3], [-12.0, -95.3], [-12.0, -95.2], [-12.1, -95.3]]]}
    with pytest.raises(InputError, match="latitudes outside"):
        request(aoi=swapped).validate()


def test_date_window_empty():
    with pytest.raises(InputError, match="empty"):
        DateWindow.parse("", "", label="'before' window")
    with pytest.raises(InputError, match="start is empty"):
        DateWindow.parse("", "2023-01-01", label="'before' window")
    with pytest.raises(InputError, match="empty"):
        DateWindow(None, None).validate()  # type: ignore[arg-type]
    with pytest.raises(InputError, match="not a date"):
        DateWindow.parse("2023-02-30", "2023-03-01")


def test_date_window_reversed():
    with pytest.raises(InputError, match="reversed.*Swap"):
        request(pre=DateWindow(D(2023, 3, 1), D(2023, 1, 1))).validate()


def test_date_window_in_the_future():
    tomorrow = datetime.date.today() + datetime.timedelta(days=1)
    with pytest.raises(InputError, match="future") as exc:
        request(post=DateWindow(D(2023, 4, 1), tomorrow)).validate()
    assert "today or earlier" in str(exc.value)
    DateWindow(D(2023, 1, 1), datetime.date.today()).validate()


def test_post_window_ending_before_the_pre_window():
    with pytest.raises(InputError, match="'after' window ends 2023-01-15, not after the 'before' window"):
        request(post=DateWindow(D(2023, 1, 1), D(2023, 1, 15))).validate()


@pytest.mark.parametrize("cloud", [-1, 100.5, float("nan"), "lots"])
def test_cloud_limit_outside_0_100(cloud):
    with pytest.raises(InputError, match="outside 0-100"):
        request(cloud_limit_pct=cloud).validate()


def test_unknown_composite():
    with pytest.raises(InputError, match="least_cloudy, median"):
        request(composite="max").validate()


def test_overlapping_windows_are_refused():
    """Issue 15 item 17: a 'before' window reaching into the 'after' window is refused, with the overlap."""
    req = AnalysisRequest(SQUARE, DateWindow(datetime.date(2023, 1, 1), datetime.date(2023, 4, 10)),
                          DateWindow(datetime.date(2023, 4, 1), datetime.date(2023, 5, 31)))
    with pytest.raises(InputError, match="overlap from 2023-04-01 to 2023-04-10.*End the 'before' window"):
        req.validate(today=datetime.date(2024, 1, 1))
    AnalysisRequest(SQUARE, DateWindow(datetime.date(2023, 1, 1), datetime.date(2023, 3, 31)),
                    DateWindow(datetime.date(2023, 4, 1), datetime.date(2023, 5, 31))).validate(
        today=datetime.date(2024, 1, 1))
