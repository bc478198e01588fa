"""Issue 15, items 5 and 9, and the AOI fuzz test: every malformed area is an InputError with
a message (never another exception, in bounded time), and the grid, not just the polygon's
area, is bounded."""
from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from landslide_core.cli import main
from landslide_core.errors import InputError, UserError
from landslide_core.sources.aoi import check_aoi, parse_aoi
from landslide_core.sources.request import AnalysisRequest, DateWindow

from dashboard_testkit import tiny_demo_aoi

MALFORMED = {
    "a Feature whose geometry is a string": {"type": "Feature", "geometry": "POLYGON ((0 0, 1 0, 1 1, 0 0))"},
    "features that is a string": {"type": "FeatureCollection", "features": "a polygon"},
    "features that is an object": {"type": "FeatureCollection", "features": {"0": {"type": "Polygon"}}},
    "a GeometryCollection of non-objects": {"type": "GeometryCollection", "geometries": [1, "x", None]},
    "a NaN coordinate": {"type": "Polygon",
                         "coordinates": [[[-75.4, -11.3], [-75.39, float("nan")], [-75.39, -11.29], [-75.4, -11.3]]]},
    "an infinite coordinate": {"type": "Polygon",
                               "coordinates": [[[-75.4, -11.3], [float("inf"), -11.3], [-75.39, -11.29], [-75.4, -11.3]]]},
    "a ring of one point": {"type": "Polygon", "coordinates": [[[-75.4, -11.3]]]},
    "a ring of two points": {"type": "Polygon", "coordinates": [[[-75.4, -11.3], [-75.39, -11.29]]]},
    "coordinates as strings": {"type": "Polygon", "coordinates": [[["-75.4", "-11.3"], ["-75.39", "-11.3"],
                                                                   ["-75.39", "-11.29"], ["-75.4", "-11.3"]]]},
    "a ring that is a number": {"type": "Polygon", "coordinates": [5]},
    "a type that is a list": {"type": ["Polygon"], "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
}
ROOT = Path(__file__).resolve().parent.parent
NESTED = "[" * 200_000 + "]" * 200_000


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_item9_malformed_areas_are_input_errors(case):
    with pytest.raises(InputError) as exc:
        check_aoi(parse_aoi(MALFORMED[case]))
    assert exc.value.fix  # says what to do


def test_item9_nested_brackets_infinite_values_and_a_wide_box():
    with pytest.raises(InputError, match="nests brackets too deeply"):
        parse_aoi(NESTED, filename="deep.geojson")
    with pytest.raises(InputError, match="nests brackets too deeply"):
        parse_aoi('{"type": "Polygon", "coordinates": ' + NESTED + "}")
    with pytest.raises(InputError, match="not a finite number") as exc:
        parse_aoi('{"type": "Polygon", "coordinates": [[[0, 0], [Infinity, 0], [1, 1], [0, 0]]]}')
    assert "antimeridian" not in str(exc.value)
    box = {"type": "Polygon", "coordinates": [[[-179, -10], [179, -10], [179, -9.9], [-179, -9.9], [-179, -10]]]}
    with pytest.raises(InputError) as exc:
        check_aoi(box)
    assert "spans 358.0 degrees of longitude" in str(exc.value) and "limit of 400 km2" in str(exc.value)


def test_item9_swapped_coordinates_are_pointed_out():
    from landslide_core.sources.aoi import aoi_warnings

    c = tiny_demo_aoi()["coordinates"][0]
    swapped = {"type": "Polygon", "coordinates": [[[lat, lon] for lon, lat in c]]}  # Peru as [lat, lon]
    check_aoi(swapped)  # a valid place (off Antarctica), so it is used...
    warnings = aoi_warnings(swapped)
    assert warnings and "[latitude, longitude]" in warnings[0] and "-75.4" in warnings[0]
    assert aoi_warnings(tiny_demo_aoi()) == []
    far = {"type": "Polygon", "coordinates": [[[-11.3, -95.4], [-11.29, -95.4], [-11.29, -95.39], [-11.3, -95.4]]]}
    with pytest.raises(InputError, match="latitude, longitude"):  # out of range: refused, with the hint
        check_aoi(far)


def test_item9_the_cli_reports_malformed_area_files(tmp_path, capsys):
    for i, case in enumerate(sorted(MALFORMED)):
        path = tmp_path / f"a{i}.geojson"
        path.write_text(json.dumps(MALFORMED[case]))
        rc = main(["sources", "scenes", "--aoi", str(path), "--pre", "2023-01-01", "2023-02-01",
                   "--post", "2023-03-01", "2023-04-01"])
        err = capsys.readouterr().err
        assert rc == 2 and "Traceback" not in err and err.startswith("error: "), case


def test_item9_malformed_uploads_do_not_kill_the_monitor_page(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from dashboard import state

    from dashboard_testkit import save_tiny_model

    save_tiny_model(tmp_path / "models")
    for name, value in (("LANDSLIDE_MODELS_DIR", tmp_path / "models"), ("LANDSLIDE_CACHE_DIR", tmp_path / "cache"),
                        ("LANDSLIDE_RESULTS_DIR", tmp_path / "results"), ("LANDSLIDE_BASEMAPS", "0"),
                        ("HOME", tmp_path / "home")):
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("EE_SERVICE_ACCOUNT_KEY", raising=False)
    at = AppTest.from_file(str(ROOT / "pages" / "1_Monitor.py"), default_timeout=120)
    at.session_state[state.AOI] = tiny_demo_aoi()
    at.run()
    cases = ["a Feature whose geometry is a string", "features that is a string",
             "a GeometryCollection of non-objects", "a ring of two points", "nested"]
    for i, case in enumerate(cases):
        data = NESTED.encode() if case == "nested" else json.dumps(MALFORMED[case]).encode()
        at.file_uploader(key="w_aoi_file").upload(f"bad{i}.geojson", data, "application/geo+json")
        at.run()
        assert not at.exception, (case, [e.value for e in at.exception])
        assert f"bad{i}.geojson" in "\n".join(e.value for e in at.error), case
        assert at.session_state[state.AOI] == tiny_demo_aoi()  # the area is kept


# ---------------------------------------------------------------- item 5

def _square(lon, lat, half=0.005):
    return [[[lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half],
             [lon - half, lat + half], [lon - half, lat - half]]]


def test_item5_two_tiny_squares_far_apart_make_a_grid_over_the_limit():
    aoi = {"type": "MultiPolygon", "coordinates": [_square(-75.4, -11.3), _square(-74.4, -10.3)]}
    assert check_aoi({"type": "Polygon", "coordinates": _square(-75.4, -11.3)}) < 2  # each part is tiny
    with pytest.raises(InputError) as exc:
        check_aoi(aoi)
    msg = str(exc.value)
    assert "grid limit of 1,000 km2" in msg and "pixels at 10 m" in msg and "each part" in msg
    request = AnalysisRequest(aoi, DateWindow.parse("2023-01-01", "2023-02-01"),
                              DateWindow.parse("2023-03-01", "2023-04-01"))
    with pytest.raises(InputError, match="grid limit"):
        request.validate()


def test_item5_a_small_multipart_file_cannot_ask_for_a_continent_sized_grid():
    parts = [_square(-75.4 + 10 * i, -11.3 + 5 * i, 0.001) for i in range(3)]
    text = json.dumps({"type": "MultiPolygon", "coordinates": parts})
    assert len(text) < 1000
    t0 = time.perf_counter()
    with pytest.raises(InputError, match="grid limit"):
        check_aoi(parse_aoi(text))
    assert time.perf_counter() - t0 < 2.0


def test_item5_a_compact_area_at_the_limit_still_passes():
    half = 0.0897  # ~19.6 km square at 11 S, under 400 km2, rotated 45 degrees: bbox ~ 2x area
    lon, lat = -75.4, -11.3
    diamond = [[[lon, lat - half * 1.41], [lon + half * 1.41, lat], [lon, lat + half * 1.41],
                [lon - half * 1.41, lat], [lon, lat - half * 1.41]]]
    assert check_aoi({"type": "Polygon", "coordinates": diamond}) <= 400.05


# ---------------------------------------------------------------- acceptance: fuzz

_coord = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6),
                   st.text(max_size=3), st.none(), st.booleans())
_point = st.lists(_coord, min_size=0, max_size=4)
_ring = st.lists(_point, min_size=0, max_size=8)
_json_leaf = st.one_of(st.none(), st.booleans(), st.floats(), st.integers(), st.text(max_size=8))
_json = st.recursive(_json_leaf, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                        st.dictionaries(st.text(max_size=10), kids, max_size=4)),
                     max_leaves=20)
_type = st.sampled_from(["Polygon", "MultiPolygon", "Feature", "FeatureCollection", "GeometryCollection", "Point",
                         "LineString", "", None, 5, ["Polygon"]])
_geometry = st.fixed_dictionaries({"type": _type}, optional={
    "coordinates": st.one_of(st.lists(_ring, max_size=3), st.lists(st.lists(_ring, max_size=2), max_size=2), _json),
    "geometry": _json, "features": st.one_of(_json, st.lists(_json, max_size=2)), "geometries": _json})


def _mutations(draw_text: str, data) -> str:
    """Random byte-level edits of a good GeoJSON or KML text."""
    chars = list(draw_text)
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(0, max(len(chars) - 1, 0)))
        op = data.draw(st.sampled_from(["delete", "insert", "replace", "duplicate"]))
        ch = data.draw(st.sampled_from(list('[]{},:"0123456789.-eE<>/ aNI')))
        if op == "delete" and chars:
            del chars[i]
        elif op == "insert":
            chars.insert(i, ch)
        elif op == "replace" and chars:
            chars[i] = ch
        elif chars:
            j = data.draw(st.integers(i, min(len(chars), i + 40)))
            chars[i:i] = chars[i:j]
    return "".join(chars)


GOOD_GEOJSON = json.dumps({"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": _square(-75.4, -11.3)}}]})
GOOD_KML = ("<kml xmlns='http://www.opengis.net/kml/2.2'><Placemark><Polygon><outerBoundaryIs><LinearRing>"
            "<coordinates>-75.405,-11.305,0 -75.395,-11.305,0 -75.395,-11.295,0 -75.405,-11.305,0</coordinates>"
            "</LinearRing></outerBoundaryIs></Polygon></Placemark></kml>")


def _parse_and_check(obj, filename=None):
    t0 = time.perf_counter()
    tracemalloc.start()
    try:
        check_aoi(parse_aoi(obj, filename=filename))
    except UserError:
        pass
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MB"
    assert time.perf_counter() - t0 < 5.0


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                derandomize=True, database=None)


@FUZZ
@given(_geometry)
def test_fuzz_random_geojson_objects_give_a_result_or_a_user_error(obj):
    _parse_and_check(obj)
    _parse_and_check(json.dumps(obj, allow_nan=True))


@FUZZ
@given(st.data(), st.sampled_from([("a.geojson", GOOD_GEOJSON), ("a.kml", GOOD_KML)]))
def test_fuzz_mutated_geojson_and_kml_give_a_result_or_a_user_error(data, sample):
    filename, text = sample
    mutated = _mutations(text, data)
    _parse_and_check(mutated, filename)
    _parse_and_check(mutated.encode("utf-8", "surrogatepass"), filename)
