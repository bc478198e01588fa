"""`python -m landslide_core sources`: readiness in plain words, and scene listing."""
from __future__ import annotations

import json

from test_sources_demo import TINY, fake_synthetic  # noqa: F401

from landslide_core.cli import main


def no_credentials(monkeypatch, tmp_path):
    for var in ("EE_SERVICE_ACCOUNT_KEY", "EE_PROJECT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LANDSLIDE_CACHE_DIR", str(tmp_path / "cache"))


def test_sources_reports_each_source_in_plain_words(monkeypatch, tmp_path, capsys, fake_synthetic):
    no_credentials(monkeypatch, tmp_path)
    assert main(["sources"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert any(line.split()[:2] == ["earthengine", "NOT"] for line in lines)
    assert any(line.split()[:2] == ["demo", "ready"] for line in lines)
    assert any(line.split()[:2] == ["local", "ready"] for line in lines)
    flat = " ".join(out.split())
    assert "not signed in" in flat and "EE_SERVICE_ACCOUNT_KEY" in flat and "earthengine authenticate" in flat
    assert "EE_PROJECT" in flat and "needs your files" in flat


def test_sources_json(monkeypatch, tmp_path, capsys, fake_synthetic):
    no_credentials(monkeypatch, tmp_path)
    assert main(["sources", "--json", "--offline"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["earthengine"]["ready"] is False and data["demo"]["ready"] is True


def test_sources_scenes_lists_demo_dates(monkeypatch, tmp_path, capsys, fake_synthetic):
    no_credentials(monkeypatch, tmp_path)
    aoi = tmp_path / "area.geojson"
    aoi.write_text(json.dumps(TINY))
    assert main(["sources", "scenes", "--aoi", str(aoi), "--pre", "2023-01-01", "2023-01-31",
                 "--post", "2023-04-01", "2023-04-30", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["pre"]) >= 6 and data["post"][0]["date"].startswith("2023-04")


def test_sources_scenes_bad_input_exit_code(monkeypatch, tmp_path, capsys):
    no_credentials(monkeypatch, tmp_path)
    aoi = tmp_path / "area.geojson"
    aoi.write_text(json.dumps(TINY))
    code = main(["sources", "scenes", "--aoi", str(aoi), "--pre", "2023-03-01", "2023-01-01",
                 "--post", "2023-04-01", "2023-04-30"])
    assert code == 2 and "reversed" in capsys.readouterr().err
