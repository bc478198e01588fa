"""Issue 15, items 1 and 3, and the concurrency acceptance test: exports and the result cache
under damage and under many simultaneous users (threads and processes)."""
from __future__ import annotations

import json
import random
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import rasterio

from landslide_core import analysis
from landslide_core.errors import InputError
from landslide_core.sources import get_source

from dashboard_testkit import save_tiny_model, tiny_demo_request
from hardening_kit import export_everything, run_in_processes

NAMES = list(analysis.EXPORT_FILES)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("hardening_results")
    mp = pytest.MonkeyPatch()
    mp.setenv("LANDSLIDE_CACHE_DIR", str(root / "cache"))
    model = save_tiny_model(root / "models")
    yield {"root": root, "model": model, "results": root / "results"}
    mp.undo()


def _run(env, cloud=30.0, results=None):
    return analysis.run_analysis(tiny_demo_request(cloud_limit_pct=cloud), get_source("demo"), env["model"], None,
                                 results or env["results"])


def _copy_result(result, folder):
    shutil.copytree(result.folder, folder)
    return analysis.load_result(folder)


def _different_result(result, folder):
    """A copy of ``result`` with other probabilities after the event (recorded as its own)."""
    import numpy as np

    shutil.copytree(result.folder, folder)
    path = folder / "post" / "probability.tif"
    with rasterio.open(path) as ds:
        profile, prob = ds.profile, ds.read(1)
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(np.where(np.isfinite(prob), np.flipud(np.nan_to_num(prob)) * 0.5 + 0.45, prob).astype(np.float32), 1)
    done = json.loads((folder / analysis.DONE_FILE).read_text())
    done.update(key="another", folder=str(folder), files=analysis.file_manifest(folder))
    (folder / analysis.DONE_FILE).write_text(json.dumps(done))
    return analysis.load_result(folder)


def _valid_export(path) -> None:
    if path.suffix == ".tif":
        from rio_cogeo.cogeo import cog_validate

        ok, errors, _ = cog_validate(str(path), quiet=True)
        assert ok, errors
        with rasterio.open(path) as ds:
            ds.read(1)
    elif path.suffix == ".geojson":
        assert json.loads(path.read_text())["type"] == "FeatureCollection"
    elif path.suffix == ".json":
        assert "model_card" in json.loads(path.read_text())
    else:
        assert path.read_text().splitlines()[0].startswith("id,")


# ---------------------------------------------------------------- item 1

def test_item1_a_damaged_export_is_written_again_not_served(env, tmp_path):
    result = _copy_result(_run(env), tmp_path / "r")
    first = {n: analysis.export_file(result, n, 0.4).read_bytes() for n in NAMES}
    for name in NAMES:
        path = analysis.export_file(result, name, 0.4)
        path.write_bytes(path.read_bytes()[: len(first[name]) // 2])  # a half-written or damaged file
        again = analysis.export_file(result, name, 0.4)
        assert again.read_bytes() == first[name], name
        _valid_export(again)
    leftovers = [p.name for p in result.folder.rglob("*") if ".tmp" in p.name or p.name.endswith(".partial")]
    assert leftovers == []


def test_item1_simultaneous_exports_of_one_file_share_no_temporary(env, tmp_path):
    """16 threads ask for the same new export at the same instant: one writes it (unique
    temporary, atomic rename, a lock per export), all get the same complete file."""
    result = _copy_result(_run(env), tmp_path / "r")
    reference = _copy_result(result, tmp_path / "ref")
    for name in ("probability_post.tif", "change.tif", "new_landslides.geojson", "new_landslides.csv"):
        expected = analysis.export_file(reference, name, 0.35).read_bytes()
        barrier = threading.Barrier(16)

        def one(_):
            barrier.wait()
            return analysis.export_file(result, name, 0.35)

        with ThreadPoolExecutor(16) as pool:
            paths = set(pool.map(one, range(16)))
        assert len(paths) == 1
        path = paths.pop()
        assert path.read_bytes() == expected, name
        _valid_export(path)


# ---------------------------------------------------------------- item 3

def test_item3_a_corrupt_done_json_is_replaced_when_run_again(env):
    first = _run(env, cloud=31.0)
    (first.folder / analysis.DONE_FILE).write_text("{broken")
    assert analysis.find_cached(env["results"], first.key) is None
    again = _run(env, cloud=31.0)
    assert again.folder == first.folder and again.from_cache is False
    loaded = analysis.load_result(first.folder)  # the damaged record was replaced
    assert loaded.summary == again.summary and loaded.files
    assert _run(env, cloud=31.0).from_cache is True


def test_item3_a_truncated_probability_is_not_a_cache_hit_and_is_redone(env):
    first = _run(env, cloud=32.0)
    prob = first.probability_tif("post")
    good = prob.read_bytes()
    prob.write_bytes(good[: len(good) // 3])
    with pytest.raises(InputError, match="damaged"):
        analysis.load_result(first.folder)
    assert analysis.find_cached(env["results"], first.key) is None
    again = _run(env, cloud=32.0)
    assert again.from_cache is False and prob.read_bytes() == good
    path = analysis.export_file(again, "change.tif", 0.5)
    _valid_export(path)


def test_item3_same_size_damage_is_caught_by_the_checksum(env):
    first = _run(env, cloud=33.0)
    prob = first.probability_tif("pre")
    data = bytearray(prob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    prob.write_bytes(bytes(data))
    assert analysis.find_cached(env["results"], first.key) is None
    assert _run(env, cloud=33.0).from_cache is False


def test_item3_exports_of_a_damaged_result_say_so_without_a_raw_error(env, tmp_path):
    result = _copy_result(_run(env), tmp_path / "r")
    prob = result.probability_tif("pre")
    prob.write_bytes(prob.read_bytes()[:200])
    with pytest.raises(InputError, match="damaged") as exc:
        analysis.export_file(result, "change.tif", 0.5)
    assert "Run the analysis again" in str(exc.value)


# ---------------------------------------------------------------- acceptance: concurrency

def test_16_threads_and_4_processes_exporting_and_rethresholding_give_identical_valid_files(env, tmp_path):
    """Two results (the same one for everybody, and a different one), all seven downloads, asked for by 16 threads and 4 processes at once: every caller gets the
    same path, every file is byte-identical to one written alone, and valid."""
    a = _copy_result(_run(env, cloud=30.0), tmp_path / "a")
    b = _different_result(a, tmp_path / "b")
    thresholds = [0.45]
    refs = {}
    for label, res in (("a", a), ("b", b)):
        ref = _copy_result(res, tmp_path / f"ref_{label}")
        refs[label] = export_everything(str(ref.folder), NAMES, thresholds)
        refs[label]["bytes"] = {k: open(p, "rb").read() for k, p in refs[label]["paths"].items()}

    jobs = []
    for i in range(20):
        names = NAMES[:]
        random.Random(i).shuffle(names)
        jobs.append((["a", "b"][i % 2], names))
    folders = {"a": str(a.folder), "b": str(b.folder)}
    with ThreadPoolExecutor(17) as threads:
        procs = threads.submit(run_in_processes, "export_everything",
                               [[folders[lab], names, thresholds] for lab, names in jobs[:4]])
        thread_futures = [threads.submit(export_everything, folders[lab], names, thresholds)
                          for lab, names in jobs[4:]]
        outs = [(jobs[k][0], out) for k, out in enumerate(procs.result(timeout=300))]
        outs += [(jobs[4 + k][0], f.result(timeout=300)) for k, f in enumerate(thread_futures)]
    seen_paths: dict[str, set] = {}
    for label, out in outs:
        assert out["new_counts"] == refs[label]["new_counts"]
        for key, path in out["paths"].items():
            seen_paths.setdefault(f"{label}:{key}", set()).add(path)
    for key, paths in seen_paths.items():
        assert len(paths) == 1, key
        label, name_t = key.split(":", 1)
        path = paths.pop()
        assert open(path, "rb").read() == refs[label]["bytes"][name_t], key
        _valid_export(__import__("pathlib").Path(path))
    for res in (a, b):
        left = [p.name for p in res.folder.rglob("*") if ".tmp" in p.name or p.name.endswith(".partial")]
        assert left == []
