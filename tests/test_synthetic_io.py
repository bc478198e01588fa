"""Synthetic data on disk: event GeoTIFFs, the Landslide4Sense writer, the generate CLI."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import rasterio

from landslide_core.bands import ALL_BANDS, L4S_SCALE
from landslide_core.cli import main
from landslide_core.errors import InputError
from landslide_core.grid import grid_centered
from landslide_core.scene import read_scene
from landslide_core.synthetic import generate_event, write_event, write_l4s_dataset


@pytest.fixture(scope="module")
def l4s_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("l4s") / "set"
    return write_l4s_dataset(out, 12, seed=3, landslide_share=0.03, scene_px=256)


def test_write_event_round_trip(tmp_path):
    ev = generate_event(grid_centered(-75.4, -11.3, 96, 96), seed=5)
    paths = write_event(ev, tmp_path / "ev")
    assert set(paths) == {"pre", "post", "truth"} and all(p.exists() for p in paths.values())
    for name, scene in (("pre", ev.pre), ("post", ev.post)):
        back = read_scene(paths[name])
        assert back.crs == scene.crs and back.transform == scene.transform
        for b in scene.band_names:
            assert np.array_equal(back.band(b), scene.band(b))
        assert np.array_equal(back.valid, scene.valid)
        assert back.provenance["source"] == "synthetic" and back.provenance["seed"] == 5
    with rasterio.open(paths["truth"]) as ds:
        truth = ds.read(1)
        assert ds.dtypes[0] == "uint8" and ds.crs == ev.post.crs
    assert np.array_equal(truth == 1, ev.new_landslides) and np.array_equal(truth == 2, ev.old_scars)


def test_l4s_files_shapes_dtypes_and_share(l4s_dir):
    imgs = sorted((l4s_dir / "img").glob("*.h5"))
    masks = sorted((l4s_dir / "mask").glob("*.h5"))
    assert len(imgs) == len(masks) == 12
    assert {p.name for p in imgs} == {f"image_{i}.h5" for i in range(1, 13)}
    assert {p.name for p in masks} == {f"mask_{i}.h5" for i in range(1, 13)}
    total = 0
    for i in range(1, 13):
        with h5py.File(l4s_dir / "img" / f"image_{i}.h5") as f:
            x = f["img"][()]
        with h5py.File(l4s_dir / "mask" / f"mask_{i}.h5") as f:
            y = f["mask"][()]
        assert x.shape == (128, 128, 14) and x.dtype.kind == "f" and np.isfinite(x).all()
        assert y.shape == (128, 128) and y.dtype == np.uint8 and set(np.unique(y)) <= {0, 1}
        raw = x * L4S_SCALE
        assert 0 <= raw[..., :12].min() and raw[..., :12].max() <= 10000
        assert 0 <= raw[..., 12].min() and raw[..., 12].max() < 80  # slope, degrees
        total += int(y.sum())
    share = total / (12 * 128 * 128)
    meta = json.loads((l4s_dir / "synthetic_l4s.json").read_text())
    assert abs(meta["landslide_share"] - share) < 1e-4
    assert 0.015 < share < 0.06  # near the requested 3 %


def test_l4s_masked_pixels_look_like_bare_ground(l4s_dir):
    xs, ys = [], []
    for i in range(1, 13):
        with h5py.File(l4s_dir / "img" / f"image_{i}.h5") as f:
            xs.append(f["img"][()] * L4S_SCALE)
        with h5py.File(l4s_dir / "mask" / f"mask_{i}.h5") as f:
            ys.append(f["mask"][()].astype(bool))
    x, y = np.stack(xs), np.stack(ys)
    ndvi = (x[..., 7] - x[..., 3]) / np.maximum(x[..., 7] + x[..., 3], 1)
    assert y.any() and np.median(ndvi[y]) < 0.35 < np.median(ndvi[~y])


def test_l4s_read_back_by_the_training_dataset(l4s_dir):
    from landslide_core.training.dataset import discover, load_patches

    layout = discover(l4s_dir)
    patches = load_patches(l4s_dir, layout.labelled("all"), bands="l4s14")
    assert len(patches) == 12 and patches.x.shape == (12, 14, 128, 128)
    assert patches.bands == ALL_BANDS and patches.y.sum() > 0


def test_l4s_is_deterministic(tmp_path):
    a = write_l4s_dataset(tmp_path / "a", 3, seed=9, scene_px=128)
    b = write_l4s_dataset(tmp_path / "b", 3, seed=9, scene_px=128)
    for sub, key in (("img/image_{}.h5", "img"), ("mask/mask_{}.h5", "mask")):
        for i in (1, 2, 3):
            with h5py.File(a / sub.format(i)) as fa, h5py.File(b / sub.format(i)) as fb:
                assert fa[key][()].tobytes() == fb[key][()].tobytes()


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_patches=0), "positive"),
    (dict(n_patches=2, landslide_share=0.9), "share"),
    (dict(n_patches=2, scene_px=200), "multiple"),
])
def test_l4s_bad_inputs(tmp_path, kwargs, match):
    with pytest.raises(InputError, match=match):
        write_l4s_dataset(tmp_path / "x", **kwargs)


def test_l4s_refuses_a_folder_with_patches(l4s_dir):
    with pytest.raises(InputError, match="already holds"):
        write_l4s_dataset(l4s_dir, 2)


def test_cli_generate_event(tmp_path, capsys):
    rc = main(["generate", "event", "--out", str(tmp_path / "ev"), "--size", "64", "--seed", "2", "--no-clouds"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["pre_cloud_percent"] == 0.0
    for name in ("pre.tif", "post.tif", "truth.tif"):
        assert (tmp_path / "ev" / name).exists()
    assert read_scene(tmp_path / "ev" / "post.tif").provenance["seed"] == 2


def test_cli_generate_l4s(tmp_path, capsys):
    rc = main(["generate", "l4s", "--out", str(tmp_path / "l4s"), "--patches", "2", "--seed", "1"])
    assert rc == 0
    assert len(list((tmp_path / "l4s" / "img").glob("image_*.h5"))) == 2


@pytest.mark.parametrize("argv, message", [
    (["generate", "event", "--out", "X", "--lon", "5"], "both --lon and --lat"),
    (["generate", "event", "--out", "X", "--lon", "500", "--lat", "0"], "outside"),
    (["generate", "event", "--out", "X", "--size", "4"], "px"),
    (["generate", "l4s", "--out", "X", "--patches", "0"], "positive"),
])
def test_cli_bad_inputs_exit_2(tmp_path, capsys, argv, message):
    argv = [str(tmp_path / a) if a == "X" else a for a in argv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def _bench(name):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_realism_bench_exits_2_without_real_samples(tmp_path, capsys):
    realism = _bench("realism")
    assert realism.main(["--real", str(tmp_path / "missing"), "--out", str(tmp_path / "out")]) == 2
    assert "missing" in capsys.readouterr().err
    raw = np.ones((2, 4, 4, 14)) * 100.0
    raw[..., 7], raw[..., 3] = 300.0, 100.0
    s = realism.stats(raw)
    assert s["B1"] == (100.0, 100.0, 100.0) and abs(s["NDVI"][0] - 0.5) < 1e-9
