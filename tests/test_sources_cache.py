"""The scene cache: atomic puts, damaged entries detected, LRU eviction, keys."""
from __future__ import annotations

import os
import time

import pytest
from conftest import make_raw_scene

from landslide_core.errors import SourceError
from landslide_core.scene import read_scene, write_scene
from landslide_core.sources.cache import SceneCache, default_cache_root, scene_key


def put_scene(cache: SceneCache, key: str, seed: int = 0, size: int = 32):
    tmp = cache.temp_path()
    write_scene(tmp, make_raw_scene(size, size, seed=seed))
    return cache.put(key, tmp)


def test_put_then_get_returns_an_intact_scene(tmp_path):
    cache = SceneCache(tmp_path, 10**9)
    key = "a" * 40
    assert cache.get(key) is None
    path = put_scene(cache, key)
    assert cache.get(key) == path and read_scene(path).data.shape == (14, 32, 32)
    assert not list(tmp_path.glob(".tmp-*"))


def test_truncated_file_is_detected_removed_and_reported_as_a_miss(tmp_path):
    cache = SceneCache(tmp_path, 10**9)
    key = "b" * 40
    path = put_scene(cache, key)
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    assert cache.get(key) is None and not path.exists()


def test_corrupt_file_of_the_same_size_is_detected(tmp_path):
    cache = SceneCache(tmp_path, 10**9)
    key = "c" * 40
    path = put_scene(cache, key)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert cache.get(key) is None


def test_entry_without_manifest_is_not_trusted(tmp_path):
    cache = SceneCache(tmp_path, 10**9)
    key = "d" * 40
    path = put_scene(cache, key)
    (tmp_path / f"{key}.json").unlink()
    assert cache.get(key) is None and not path.exists()


def test_get_or_create_refetches_after_damage_and_failed_produce_leaves_nothing(tmp_path):
    cache = SceneCache(tmp_path, 10**9)
    key = "e" * 40
    calls = []

    def produce(tmp):
        calls.append(tmp)
        write_scene(tmp, make_raw_scene(16, 16))

    p1, hit1 = cache.get_or_create(key, produce)
    p2, hit2 = cache.get_or_create(key, produce)
    assert (hit1, hit2) == (False, True) and len(calls) == 1
    p1.write_bytes(p1.read_bytes()[:500])
    p3, hit3 = cache.get_or_create(key, produce)
    assert not hit3 and len(calls) == 2 and read_scene(p3).width == 16

    def broken(tmp):
        tmp.write_bytes(b"half a file")
        raise SourceError("network went away")

    with pytest.raises(SourceError):
        cache.get_or_create("f" * 40, broken)
    assert cache.get("f" * 40) is None and not list(tmp_path.glob(".tmp-*"))


def test_put_refuses_an_unreadable_file(tmp_path):
    cache = SceneCache(tmp_path, 10**9)
    tmp = cache.temp_path()
    tmp.write_bytes(b"II*\x00garbage")
    with pytest.raises(SourceError, match="could not be read back"):
        cache.put("g" * 40, tmp)
    assert cache.get("g" * 40) is None


def test_lru_eviction_keeps_the_recently_used(tmp_path):
    cache = SceneCache(tmp_path, 10**9)
    keys = ["1" * 40, "2" * 40, "3" * 40]
    for i, k in enumerate(keys):
        put_scene(cache, k)  # same content: same size
        t = time.time() - 100 + i
        os.utime(cache.path_for(k), (t, t))
    cache.get(keys[0])  # used now: the newest
    one = max(size for _, size, _ in cache.entries())
    cache.max_bytes = int(one * 3.5)
    put_scene(cache, "4" * 40)
    left = {k for k, _, _ in cache.entries()}
    assert left == {keys[0], keys[2], "4" * 40}
    assert cache.size_bytes() <= cache.max_bytes


def test_scene_key_changes_with_each_input():
    base = dict(source_name="demo", source_version="1", fields={"a": 1}, window=["2023-01-01", "2023-01-31"],
                grid_key={"crs": "EPSG:32718"})
    k = scene_key(**base)
    assert k == scene_key(**base) and len(k) == 40
    for change in (dict(source_version="2"), dict(fields={"a": 2}), dict(window=["2023-01-02", "2023-01-31"]),
                   dict(grid_key={"crs": "EPSG:32717"}), dict(extra={"dem": "aw3d30"})):
        assert scene_key(**{**base, **change}) != k


def test_default_root_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("LANDSLIDE_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_root() == tmp_path / "c"
    monkeypatch.delenv("LANDSLIDE_CACHE_DIR")
    assert default_cache_root().name == "landslide-monitor"


def test_put_from_outside_the_cache_folder(tmp_path):
    cache = SceneCache(tmp_path / "cache", 10**9)
    outside = write_scene(tmp_path / "elsewhere.tif", make_raw_scene(8, 8))
    path = cache.put("h" * 40, outside)
    assert path.parent == tmp_path / "cache" and not outside.exists() and cache.get("h" * 40) == path
