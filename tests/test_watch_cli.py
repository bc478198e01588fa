"""`watch add/list/remove/history`: bad input exits 2 with a clear message and writes nothing."""
from __future__ import annotations

import json

import pytest
from watch_testkit import EVENT_AOI, db_url, postgres_url, watch_env  # noqa: F401 - fixtures

from landslide_core.cli import main
from landslide_core.watch.store import WatchStore


@pytest.fixture
def aoi_file(tmp_path):
    path = tmp_path / "area.geojson"
    path.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": EVENT_AOI}))
    return path


def _areas(env) -> list[str]:
    with WatchStore(env["LANDSLIDE_DB_URL"]) as store:
        return [a.name for a in store.list_areas()]


def _add(aoi, *extra) -> list[str]:
    return ["watch", "add", "--name", "Rio slopes", "--aoi", str(aoi), "--baseline", "2024-01-01", "2024-01-31", *extra]


def test_watch_add_list_history_remove(watch_env, aoi_file, capsys):  # noqa: F811
    assert main(_add(aoi_file, "--every", "2w", "--cloud-limit", "25", "--alert-ha", "0.5", "--alert-count", "2",
                     "--webhook", "http://127.0.0.1:8080/hook", "--email", "ops@example.org")) == 0
    out = capsys.readouterr()
    assert "watching 'Rio slopes': every 2w, cloud limit 25%" in out.out
    assert "no SMTP server is configured" in out.err  # said at once, not only when an alert fails
    assert main(["watch", "list"]) == 0
    table = capsys.readouterr().out
    assert "Rio slopes" in table and "never checked" in table and "now" in table
    assert main(["watch", "list", "--json"]) == 0
    (area,) = json.loads(capsys.readouterr().out)
    assert area["every"] == "2w" and area["cloud_limit_pct"] == 25.0 and area["baseline"] == ["2024-01-01", "2024-01-31"]
    assert area["alert_rule"] == {"min_ha": 0.5, "min_count": 2} and area["source"] == "demo"
    assert area["channels"] == [{"kind": "webhook", "target": "http://127.0.0.1:8080/hook"},
                                {"kind": "email", "target": "ops@example.org"}]
    assert area["source_options"] == {"timeline": True, "event_date": "2024-02-01"}
    assert main(["watch", "history", "Rio slopes"]) == 0
    assert "has not been checked yet" in capsys.readouterr().out
    assert main(["watch", "history", "Rio slopes", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["checks"] == []
    assert main(["watch", "remove", "Rio slopes"]) == 0
    assert _areas(watch_env) == []
    assert main(["watch", "remove", "Rio slopes"]) == 2
    assert "No watched area is called 'Rio slopes'" in capsys.readouterr().err


BAD_AOI = {"line.geojson": {"type": "LineString", "coordinates": [[-72.3, -13.4], [-72.2, -13.3]]},
           "huge.geojson": {"type": "Polygon", "coordinates": [[[-76, -12], [-75, -12], [-75, -11], [-76, -11], [-76, -12]]]},
           "broken.geojson": "{\"type\": \"Polygon\", "}


@pytest.mark.parametrize("options, message", [
    ({"--name": "  "}, "The area has no name"),
    ({"--every": "5x"}, "The cadence '5x' is not understood"),
    ({"--every": "0d"}, "outside 1h to 366d"),
    ({"--webhook": "ftp://example.org/hook"}, "is not an http(s) URL"),
    ({"--webhook": "not a url"}, "is not an http(s) URL"),
    ({"--email": "nobody"}, "is not an e-mail address"),
    ({"--cloud-limit": "150"}, "outside 0-100"),
    ({"--alert-ha": "-1"}, "is negative"),
    ({"--source": "local"}, "cannot be watched"),
    ({"--source": "nowhere"}, "Unknown imagery source"),
    ({"--aoi": "missing.geojson"}, "does not exist"),
    ({"--aoi": "line.geojson"}, "not a polygon"),
    ({"--aoi": "huge.geojson"}, "km"),
    ({"--aoi": "broken.geojson"}, "not valid GeoJSON"),
    ({"--baseline": ["2024-02-01", "2024-01-01"]}, "reversed"),
])
def test_watch_add_bad_input_exits_2_and_writes_nothing(watch_env, aoi_file, tmp_path, capsys, options, message):  # noqa: F811
    for name, content in BAD_AOI.items():
        (tmp_path / name).write_text(content if isinstance(content, str) else json.dumps(content))
    values = {"--name": "Rio slopes", "--aoi": str(aoi_file), "--baseline": ["2024-01-01", "2024-01-31"]}
    values.update({k: str(tmp_path / v) if k == "--aoi" else v for k, v in options.items()})
    argv = ["watch", "add"]
    for k, v in values.items():
        argv += [k, *(v if isinstance(v, list) else [v])]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert _areas(watch_env) == []


def test_watch_add_without_a_name_or_with_a_taken_name_exits_2(watch_env, aoi_file, capsys):  # noqa: F811
    with pytest.raises(SystemExit) as exc:
        main(["watch", "add", "--aoi", str(aoi_file)])
    assert exc.value.code == 2 and "--name" in capsys.readouterr().err
    assert _areas(watch_env) == []
    assert main(_add(aoi_file)) == 0
    capsys.readouterr()
    assert main(_add(aoi_file, "--every", "1d")) == 2
    assert "An area called 'Rio slopes' is already watched" in capsys.readouterr().err
    with WatchStore(watch_env["LANDSLIDE_DB_URL"]) as store:
        assert store.area("Rio slopes").cadence_text == "5d"  # the first one, unchanged


def test_watch_run_rejects_a_future_now(watch_env, capsys):  # noqa: F811
    assert main(["watch", "run", "--now", "2999-01-01"]) == 2
    assert "in the future" in capsys.readouterr().err
    assert main(["watch", "run", "--now", "yesterday"]) == 2
    assert main(["watch", "run"]) == 0
    assert "checked 0 area(s)" in capsys.readouterr().out
