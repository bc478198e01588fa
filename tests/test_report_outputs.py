"""Issue 12: the situation report and the GIS outputs, read back with real readers (pypdf,
GDAL through rasterio and pyogrio, pandas, sqlite3, pystac, zipfile), from a dashboard demo
result and from a `detect --pre --post` folder."""
from __future__ import annotations

import json
import sqlite3
import zipfile
from xml.etree import ElementTree

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from landslide_core import analysis
from landslide_core.checkpoint import default_model_path
from landslide_core.cli import main
from landslide_core.report import bundle as bundles
from landslide_core.report import gather, open_result, write_report
from landslide_core.sources import get_source

from dashboard_testkit import tiny_demo_request


def pdf_text(path) -> tuple[str, int]:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    return "\n".join(page.extract_text() for page in reader.pages), len(reader.pages)


@pytest.fixture(scope="module")
def demo_result(tmp_path_factory):
    """The dashboard's pipeline on the demo source, with the shipped default model."""
    root = tmp_path_factory.mktemp("report_demo")
    mp = pytest.MonkeyPatch()
    mp.setenv("LANDSLIDE_CACHE_DIR", str(root / "cache"))
    result = analysis.run_analysis(tiny_demo_request(), get_source("demo"), default_model_path(), None,
                                   root / "results")
    yield result
    mp.undo()


@pytest.fixture(scope="module")
def cli_result(tmp_path_factory):
    """`generate event` + `detect --pre --post` with the default model: a folder with new landslides."""
    root = tmp_path_factory.mktemp("report_cli")
    assert main(["generate", "event", "--out", str(root / "ev"), "--size", "256", "--seed", "7"]) == 0
    assert main(["detect", "--pre", str(root / "ev" / "pre.tif"), "--post", str(root / "ev" / "post.tif"),
                 "--out", str(root / "result")]) == 0
    return root / "result"


def _ha(v) -> str:
    return f"{float(v):,.2f} ha"


def test_report_pdf_of_a_demo_result_says_what_summary_json_says(demo_result, tmp_path):
    summary = json.loads((demo_result.folder / "summary.json").read_text())
    change = summary["change"]
    out = write_report(demo_result.folder, tmp_path / "report.pdf", "en")
    text, pages = pdf_text(out)
    assert pages == 2
    assert "Landslide situation report" in text
    assert f"New landslides\n{change['new_count']}" in text or f"{change['new_count']} new landslide" in text
    flat = " ".join(text.split())
    if change["new_count"] == 0:  # said in words, not "0 new landslides covering 0.00 ha"; the chart says why it is empty
        assert "no new landslide appeared" in flat and "Largest new landslides" in flat
        assert "The 0 largest" not in flat and "0 new landslides covering" not in flat
    else:
        assert f"{change['new_count']} new landslide" in flat
    for key in ("new_ha", "persisting_ha", "vanished_ha", "not_assessable_ha"):
        assert _ha(change[key]) in text, key
    for role in ("pre", "post"):
        for date in demo_result.provenance[role]["dates"]:
            assert date in text, (role, date)
    assert summary["model"]["name"] == "default" and "\ndefault\n" in f"\n{text}\n".replace(" ", "\n")
    assert "synthetic" in text.lower()  # the demo's and the model's caveats
    assert out.stat().st_size < 1_000_000  # small enough to send by e-mail (the map is a JPEG)


def test_report_in_spanish_renders_accents(demo_result, tmp_path):
    out = write_report(demo_result.folder, tmp_path / "informe.pdf", "es")
    text, pages = pdf_text(out)
    assert pages == 2
    for words in ("Informe de situación de deslizamientos", "Después del evento", "Área", "Cómo se hizo"):
        assert words in text, words
    assert "Landslide situation report" not in text


def test_report_of_a_cli_result_lists_the_largest_new_landslides(cli_result, tmp_path):
    summary = json.loads((cli_result / "summary.json").read_text())
    features = json.loads((cli_result / "change.geojson").read_text())["features"]
    assert summary["change"]["new_count"] == len(features) > 0
    rc = main(["report", str(cli_result), "--out", str(tmp_path / "r.pdf")])
    assert rc == 0
    text, _ = pdf_text(tmp_path / "r.pdf")
    assert _ha(summary["change"]["new_ha"]) in text and _ha(summary["change"]["persisting_ha"]) in text
    for f in sorted(features, key=lambda f: -f["properties"]["area_ha"])[:10]:
        assert f"{f['properties']['area_ha']:,.2f}" in text
        assert f"{abs(f['properties']['centroid_lat']):.5f}° S" in text
    assert "2020-01-20" in text and "2020-04-18" in text  # the generated scenes' dates
    html = tmp_path / "r.html"
    assert main(["report", str(cli_result), "--out", str(html), "--lang", "es"]) == 0
    doc = html.read_text(encoding="utf-8")
    assert doc.startswith("<!DOCTYPE html>") and 'lang="es"' in doc and "data:image/png;base64," in doc
    assert "http://" not in doc and "https://" not in doc  # self-contained
    assert _ha(summary["change"]["new_ha"]) in doc
    assert "página 2" not in doc and "más abajo" in doc  # one web page: the table is below, not on page 2


def test_report_at_another_threshold_is_recomputed_without_the_model(cli_result, monkeypatch):
    import landslide_core.detection as detection

    monkeypatch.setattr(detection, "detect_pair", lambda *a, **k: pytest.fail("the model ran"))
    result = open_result(cli_result)
    at_run, lower = gather(result), gather(result, threshold=0.2)
    assert at_run.at_run and not lower.at_run
    assert at_run.change["new_count"] == json.loads((cli_result / "summary.json").read_text())["change"]["new_count"]
    assert (lower.masks["post"] == 1).sum() >= (at_run.masks["post"] == 1).sum()


def test_export_bundle_every_file_named_in_its_readme_and_readable(cli_result, tmp_path):
    import pandas as pd
    import pyogrio
    import pyogrio.raw

    out = tmp_path / "gis"
    assert main(["export", str(cli_result), "--out", str(out), "--lang", "es"]) == 0
    zips = list(out.glob("*_outputs.zip"))
    assert len(zips) == 1
    stem = zips[0].name[: -len("_outputs.zip")]
    assert stem.endswith("_2020-04-18")  # <area>_<post date>
    with zipfile.ZipFile(zips[0]) as zf:
        members = zf.namelist()
        readme = zf.read("README.txt").decode("utf-8")
    named = [line.split()[0] for line in readme.splitlines() if line.startswith((stem, "README.txt"))]
    assert sorted(named) == sorted(members)
    assert {f"{stem}_change.tif", f"{stem}_landslides.gpkg", f"{stem}_report.pdf", f"{stem}_stac_item.json",
            f"{stem}_new_landslides.csv", f"{stem}_quicklook_change.png"} <= set(members)
    summary = json.loads((cli_result / "summary.json").read_text())
    # Rasters: valid COGs with band descriptions and units; class rasters carry their colour table
    # and a QGIS style beside them.
    for name in (m for m in members if m.endswith(".tif")):
        ok, errors, _ = cog_validate(str(out / name), quiet=True)
        assert ok, (name, errors)
        with rasterio.open(out / name) as ds:
            assert ds.descriptions[0] and ds.units[0]
            if "_change" in name or "_mask_" in name:
                assert ds.colorinterp[0].name == "palette"
                assert ds.colormap(1)[1][:3] == ((228, 26, 28) if "_change" in name else (228, 26, 28))
        style = ElementTree.parse(out / name.replace(".tif", ".qml")).getroot()
        assert style.tag == "qgis" and style.find(".//rasterrenderer") is not None
    labels = [e.get("label") for e in ElementTree.parse(out / f"{stem}_change.qml").iter("paletteEntry")]
    assert "deslizamiento nuevo" in labels
    # CSV: a clean header (pandas and GDAL), the sidecar with the model card.
    features = json.loads((cli_result / "change.geojson").read_text())["features"]
    df = pd.read_csv(out / f"{stem}_new_landslides.csv")
    assert list(df.columns[:3]) == ["id", "area_ha", "perimeter_m"] and len(df) == len(features)
    meta, _, _, columns = pyogrio.raw.read(out / f"{stem}_new_landslides.csv")  # GDAL's CSV driver
    assert list(meta["fields"][:2]) == ["id", "area_ha"] and len(columns[0]) == len(features)
    side = json.loads((out / f"{stem}_new_landslides.metadata.json").read_text())
    assert side["table"] == f"{stem}_new_landslides.csv" and side["model_card"]["name"] == "default"
    # GeoPackage through GDAL: the layers and feature counts of the result.
    gpkg = out / f"{stem}_landslides.gpkg"
    counts = {str(name): pyogrio.read_info(gpkg, layer=str(name))["features"]
              for name, _ in pyogrio.list_layers(gpkg) if name != "layer_styles"}
    assert counts == {"new_landslides": summary["change"]["new_count"],
                      "pre_landslides": summary["pre"]["landslide_count"],
                      "post_landslides": summary["post"]["landslide_count"], "aoi": 1}
    assert pyogrio.read_info(gpkg, layer="new_landslides")["crs"] == "EPSG:4326"
    with sqlite3.connect(gpkg) as db:
        assert db.execute("select count(*) from layer_styles where useAsDefault").fetchone()[0] == 4
    # STAC Item: a real reader; every asset is a file of the bundle.
    import pystac

    item = pystac.Item.from_dict(json.loads((out / f"{stem}_stac_item.json").read_text()))
    assert item.properties["start_datetime"].startswith("2020-01-20")
    assert item.properties["end_datetime"].startswith("2020-04-18")
    assert item.properties["landslide:new_count"] == summary["change"]["new_count"]
    assert item.properties["proj:code"] == "EPSG:32718" and len(item.bbox) == 4
    assert {a.href[2:] for a in item.assets.values()} <= set(members)
    from PIL import Image

    for what in ("before", "after", "change"):
        with Image.open(out / f"{stem}_quicklook_{what}.png") as img:
            assert img.size[0] > 200 and np.asarray(img).std() > 5


def test_dashboard_downloads_are_written_once_and_reused(demo_result):
    path, name = bundles.zip_file(demo_result, 0.4, "en")
    again, name2 = bundles.zip_file(demo_result, 0.4, "en")
    assert again == path and name == name2 and name.endswith("_outputs.zip")
    mtime = path.stat().st_mtime_ns
    assert bundles.zip_file(demo_result, 0.4, "en")[0].stat().st_mtime_ns == mtime
    report = bundles.report_file(demo_result, 0.4, "es")
    assert report.read_bytes().startswith(b"%PDF") and "0.40" in pdf_text(report)[0]
    report.write_bytes(b"damaged")  # a damaged export is written again, not served
    assert bundles.report_file(demo_result, 0.4, "es").read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize("lang,says", [("en", "holds no finished analysis"), ("es", "no contiene un análisis")])
def test_report_bad_inputs_say_what_and_what_to_do(tmp_path, capsys, monkeypatch, cli_result, lang, says):
    monkeypatch.setenv("LANDSLIDE_LANG", lang)
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "r.pdf")]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    assert main(["report", str(tmp_path / "missing"), "--out", str(tmp_path / "r.pdf")]) == 2
    assert str(tmp_path / "missing") in capsys.readouterr().err
    assert main(["report", str(cli_result), "--out", str(tmp_path / "r.docx")]) == 2
    assert ".pdf" in capsys.readouterr().err
    assert main(["export", str(cli_result), "--out", str(tmp_path / "g"), "--threshold", "2"]) == 2
    assert "0-1" in capsys.readouterr().err
    single = tmp_path / "single"
    single.mkdir()
    (single / "summary.json").write_text(json.dumps({"kind": "scene"}))
    assert main(["report", str(single), "--out", str(tmp_path / "r.pdf")]) == 2
    assert ("single-date" if lang == "en" else "una sola fecha") in capsys.readouterr().err
    assert not (tmp_path / "r.pdf").exists()
