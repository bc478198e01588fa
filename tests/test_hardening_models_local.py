"""Issue 15, items 6, 7 and 8: memory bounded by the analysis grid for local files; bounded
architecture options checked without building; malformed model cards listed as unusable."""
from __future__ import annotations

import datetime
import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

from landslide_core.cli import main
from landslide_core.errors import InputError, ModelError
from landslide_core.scene import read_scene
from landslide_core.sources.cache import SceneCache
from landslide_core.sources.local import LocalFilesSource
from landslide_core.sources.request import AnalysisRequest, DateWindow

from dashboard_testkit import save_tiny_model

ROOT = Path(__file__).resolve().parent.parent
UTM18S = CRS.from_epsg(32718)
NAMES = [f"B{i}" for i in range(1, 13)] + ["elevation"]


# ---------------------------------------------------------------- item 6

def _sparse_tif(path: Path, size_px: int, pixel_m: float) -> Path:
    """A tiled GeoTIFF of size_px x size_px pixels with (almost) no data blocks written: a few kB
    on disk, size_px**2 * 13 * 4 bytes once decoded."""
    with rasterio.open(path, "w", driver="GTiff", width=size_px, height=size_px, count=len(NAMES), dtype="float32",
                       crs=UTM18S, transform=from_origin(400000.0, 8750000.0, pixel_m, pixel_m), tiled=True,
                       blockxsize=256, blockysize=256, compress="deflate", sparse_ok=True, nodata=float("nan")) as ds:
        for i, n in enumerate(NAMES):
            ds.set_band_description(i + 1, n)
        ds.write(np.full((len(NAMES), 256, 256), 1000.0, np.float32), window=((0, 256), (0, 256)))
    return path


def test_item6_a_tiny_sparse_file_of_fine_pixels_does_not_blow_up_memory(tmp_path):
    """2000 x 2000 pixels of 1 m (4 km2) in a file of a few kB: read onto the 10 m analysis
    grid (200 x 200) by windows, with memory bounded by the grid, not by the file's pixels."""
    path = _sparse_tif(tmp_path / "fine_20230115.tif", 2000, 1.0)
    assert path.stat().st_size < 100_000
    aoi = {"type": "Polygon", "coordinates": [[[-75.92, -11.3], [-75.91, -11.3], [-75.91, -11.29], [-75.92, -11.29],
                                               [-75.92, -11.3]]]}
    request = AnalysisRequest(aoi, DateWindow(datetime.date(2023, 1, 1), datetime.date(2023, 2, 1)),
                              DateWindow(datetime.date(2023, 3, 1), datetime.date(2023, 4, 1)))
    source = LocalFilesSource(path, path, cache=SceneCache(tmp_path / "cache", 10**9))
    tracemalloc.start()
    try:
        fetched = source.fetch(request, request.pre)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    scene = read_scene(fetched.path)
    assert scene.data.shape == (14, 200, 200) and scene.transform.a == 10.0
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.0f} MB"  # the whole file decoded would be 208 MB
    assert scene.valid[:25, :25].all() and not scene.valid[30:, 30:].any()  # sparse blocks are nodata


def test_item6_a_local_grid_over_the_limit_is_refused_before_reading(tmp_path):
    path = _sparse_tif(tmp_path / "big.tif", 4000, 10.0)  # 1,600 km2 at 10 m
    source = LocalFilesSource(path, path, cache=SceneCache(tmp_path / "cache", 10**9), max_area_km2=1000)
    request = AnalysisRequest({"type": "Polygon", "coordinates": [[[-75.92, -11.3], [-75.91, -11.3],
                                                                    [-75.91, -11.29], [-75.92, -11.3]]]},
                              DateWindow(datetime.date(2023, 1, 1), datetime.date(2023, 2, 1)),
                              DateWindow(datetime.date(2023, 3, 1), datetime.date(2023, 4, 1)))
    with pytest.raises(InputError, match="larger than the limit of 1,000 km2"):
        source.fetch(request, request.pre)


# ---------------------------------------------------------------- item 7

def test_item7_huge_architecture_options_are_refused_without_building_anything(monkeypatch):
    from landslide_core import zoo
    from landslide_core.training import TrainConfig
    from landslide_core.training.config import check_architecture

    def built(*_a, **_k):
        raise AssertionError("the network was built in this process")

    monkeypatch.setattr(zoo.VanillaUNet, "__init__", built)
    for kwargs in ({"base_channels": 800}, {"base_channels": 400}, {"base_channels": 10**9}):
        with pytest.raises(InputError) as exc:
            check_architecture(TrainConfig(data_dir="x", arch_kwargs=kwargs))
        assert "from 1 to 128" in str(exc.value)
    for kwargs in ({"base_channels": "64"}, {"base_channels": True}, {"decoder_channels": [10**6] * 5}):
        with pytest.raises(InputError):
            check_architecture(TrainConfig(data_dir="x", arch_kwargs=kwargs))
    with pytest.raises(InputError, match="decoder_channels"):
        check_architecture(TrainConfig(data_dir="x", arch="unet_resnet34", arch_kwargs={"decoder_channels": [10**6] * 5}))
    assert check_architecture(TrainConfig(data_dir="x", arch_kwargs={"base_channels": 64})) == 31_043_969


def test_item7_the_parameter_arithmetic_matches_the_network():
    from landslide_core.zoo import build_model, vanilla_unet_parameters

    for bands, base in ((6, 4), (14, 8)):
        model = build_model("unet_vanilla", bands, base_channels=base)
        assert sum(p.numel() for p in model.parameters()) == vanilla_unet_parameters(bands, base)


# ---------------------------------------------------------------- item 8

BAD_CARDS = {
    "threshold_abc": {"threshold": "abc"},
    "threshold_nan": {"threshold": float("nan")},
    "huge": {"arch_kwargs": {"base_channels": 100000}},
    "bogus": {"arch_kwargs": {"no_such_option": 1}},
    "kwargs_list": {"arch_kwargs": [1, 2]},
    "bands_string": {"bands": "B2,B3"},
    "name_number": {"name": 5},
    "created_number": {"created": 20240101},
    "metrics_string": {"metrics": "great"},
}


@pytest.fixture()
def models_dir(tmp_path):
    folder = tmp_path / "models"
    good = save_tiny_model(folder, "good")
    card = json.loads(good.read_text())
    for name, change in BAD_CARDS.items():
        (folder / f"{name}.json").write_text(json.dumps({**card, "name": name, **change}))
        (folder / f"{name}.safetensors").write_bytes((folder / "good.safetensors").read_bytes())
    (folder / "not_json.json").write_text("{oops")
    return folder


def test_item8_malformed_cards_are_listed_as_unusable_with_their_reason(models_dir):
    from landslide_core.checkpoint import list_models, read_card, scan_models

    listing = {m.path.stem: m for m in scan_models(models_dir)}
    assert listing["good"].usable and [c.name for c in list_models(models_dir)] == ["good"]
    for name in list(BAD_CARDS) + ["not_json"]:
        assert not listing[name].usable, name
        assert listing[name].problem.startswith("The model card"), name
        with pytest.raises(ModelError):
            read_card(models_dir / f"{name}.json")
    assert "threshold is \"abc\"" in listing["threshold_abc"].problem
    assert "base_channels" in listing["huge"].problem and "from 1 to 128" in listing["huge"].problem


def test_item8_detect_with_a_malformed_card_is_a_model_error(models_dir, tmp_path, capsys, scene_path):
    for name in ("threshold_abc", "huge", "bogus"):
        rc = main(["detect", "--image", str(scene_path), "--out", str(tmp_path / "o"),
                   "--model", str(models_dir / f"{name}.json")])
        err = capsys.readouterr().err
        assert rc == 3 and "Traceback" not in err and "unusable" in err, name


@pytest.mark.parametrize("page", ["app.py", "pages/1_Monitor.py", "pages/4_Models.py"])
def test_item8_home_monitor_and_models_pages_survive_malformed_cards(models_dir, tmp_path, monkeypatch, page):
    from streamlit.testing.v1 import AppTest

    for name, value in (("LANDSLIDE_MODELS_DIR", models_dir), ("LANDSLIDE_CACHE_DIR", tmp_path / "cache"),
                        ("LANDSLIDE_RESULTS_DIR", tmp_path / "results"), ("LANDSLIDE_BASEMAPS", "0"),
                        ("HOME", tmp_path / "home")):
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("EE_SERVICE_ACCOUNT_KEY", raising=False)
    at = AppTest.from_file(str(ROOT / page), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    if page != "pages/1_Monitor.py":
        shown = "\n".join(str(e.value) for e in list(at.error) + list(at.warning))
        assert "threshold_abc.json" in shown and "huge.json" in shown and "base_channels" in shown
