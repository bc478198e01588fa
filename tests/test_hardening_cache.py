"""Issue 15, item 4: the scene cache shared by many processes and a tiny cap."""
from __future__ import annotations

import json
import threading
import time

import pytest
from conftest import make_raw_scene

from landslide_core import analysis
from landslide_core.cli import main
from landslide_core.errors import InputError
from landslide_core.scene import write_scene
from landslide_core.sources import get_source
from landslide_core.sources.cache import SceneCache

from dashboard_testkit import save_tiny_model, tiny_demo_request
from hardening_kit import run_in_processes


def _scene_file(path, seed=0, size=32):
    return write_scene(path, make_raw_scene(size, size, seed=seed))


def test_item4_a_cap_smaller_than_one_pair_keeps_the_before_scene_while_the_after_is_fetched(tmp_path, monkeypatch):
    monkeypatch.setenv("LANDSLIDE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LANDSLIDE_CACHE_MAX_GB", "0.000001")  # 1 kB: smaller than any scene
    model = save_tiny_model(tmp_path / "models")
    result = analysis.run_analysis(tiny_demo_request(), get_source("demo"), model, None, tmp_path / "results")
    assert (result.folder / "change.tif").is_file() and result.summary["change"]
    # once the analysis no longer uses them, the cap applies again
    cache = SceneCache()
    cache.evict()
    assert cache.size_bytes() == 0


def test_item4_readers_never_remove_an_entry_that_another_process_is_replacing(tmp_path):
    """A writer keeps replacing one key with different (valid) scenes while readers check it:
    every read finds the entry intact; none removes it as 'damaged'."""
    cache = SceneCache(tmp_path / "cache", 10**9)
    key = "k" * 40
    sources = [_scene_file(tmp_path / f"s{i}.tif", seed=i) for i in range(2)]

    def put(i):
        tmp = cache.temp_path()
        tmp.write_bytes(sources[i % 2].read_bytes())
        cache.put(key, tmp)

    put(0)
    stop = threading.Event()
    misses = []

    def writer():
        i = 1
        while not stop.is_set():
            put(i)
            i += 1

    def reader():
        other = SceneCache(tmp_path / "cache", 10**9)  # another user of the same folder
        while not stop.is_set():
            if other.get(key) is None:
                misses.append(time.time())

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    stop.set()
    for t in threads:
        t.join()
    assert misses == []
    assert cache.get(key) is not None


def test_item4_six_simultaneous_fetches_of_one_key_download_it_once(tmp_path):
    scene_file = _scene_file(tmp_path / "scene.tif")
    log = tmp_path / "produced.log"
    log.write_text("")
    ready = tmp_path / "ready"
    ready.mkdir()
    # all six start fetching within milliseconds of each other
    outs = run_in_processes("produce_with_count",
                            [[str(tmp_path / "cache"), "s" * 40, str(log), str(scene_file), str(ready), 6]] * 6)
    assert log.read_text().count("produced") == 1
    assert sorted(o["hit"] for o in outs) == [False] + [True] * 5
    assert len({o["path"] for o in outs}) == 1


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "abc", "-1", "1e400"])
def test_item4_bad_cache_size_setting_is_refused_with_a_message(tmp_path, monkeypatch, capsys, value):
    monkeypatch.setenv("LANDSLIDE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LANDSLIDE_CACHE_MAX_GB", value)
    with pytest.raises(InputError, match="LANDSLIDE_CACHE_MAX_GB") as exc:
        SceneCache()
    assert "number of gigabytes" in str(exc.value) and "unset it" in str(exc.value)
    aoi = tmp_path / "a.geojson"
    aoi.write_text(json.dumps(tiny_demo_request().aoi))
    rc = main(["sources", "scenes", "--aoi", str(aoi), "--pre", "2023-01-01", "2023-02-01",
               "--post", "2023-03-01", "2023-04-01"])
    err = capsys.readouterr().err
    assert rc == 2 and "LANDSLIDE_CACHE_MAX_GB" in err and "Traceback" not in err


def test_item4_good_cache_sizes_are_accepted(monkeypatch, tmp_path):
    monkeypatch.setenv("LANDSLIDE_CACHE_DIR", str(tmp_path))
    for value, expected in (("2.5", 2_500_000_000), ("0", 0), (" 10 ", 10_000_000_000)):
        monkeypatch.setenv("LANDSLIDE_CACHE_MAX_GB", value)
        assert SceneCache().max_bytes == expected
