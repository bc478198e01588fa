"""Acceptance (issue 15): random and mutated GeoTIFF headers given to the scene reader give a
result or a UserError, never another exception, within bounded memory and time."""
from __future__ import annotations

import struct
import time
import tracemalloc
import warnings

import pytest
from conftest import make_raw_scene
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasterio.windows import Window

from landslide_core.errors import UserError
from landslide_core.scene import SceneReader, write_scene

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.function_scoped_fixture],
                derandomize=True, database=None)


@pytest.fixture(scope="module")
def good_tif(tmp_path_factory) -> bytes:
    path = write_scene(tmp_path_factory.mktemp("fuzz") / "s.tif", make_raw_scene(40, 48))
    return path.read_bytes()


def _header_span(data: bytes) -> int:
    """Where the first IFD (the header proper) ends, or the first 4 kB."""
    try:
        order = "<" if data[:2] == b"II" else ">"
        offset = struct.unpack(order + "I", data[4:8])[0]
        entries = struct.unpack(order + "H", data[offset:offset + 2])[0]
        return min(len(data), max(offset + 2 + 12 * entries + 4, 64))
    except (struct.error, IndexError):
        return min(len(data), 4096)


def _read_back(path) -> None:
    t0 = time.perf_counter()
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with SceneReader(path) as reader:
                w, h = min(reader.width, 64), min(reader.height, 64)
                stack, valid = reader.read(Window(0, 0, w, h))
                assert stack.shape == (14, h, w) and valid.shape == (h, w)
    except UserError:
        pass
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MB"
    assert time.perf_counter() - t0 < 5.0


@FUZZ
@given(data=st.data())
def test_fuzz_mutated_scene_headers_give_a_result_or_a_user_error(good_tif, tmp_path, data):
    buf = bytearray(good_tif)
    span = _header_span(good_tif)
    for _ in range(data.draw(st.integers(1, 8), label="edits")):
        i = data.draw(st.integers(0, span - 1), label="at")
        kind = data.draw(st.sampled_from(["byte", "max32", "zero32", "small"]), label="kind")
        if kind == "byte":
            buf[i] = data.draw(st.integers(0, 255))
        elif kind == "max32":
            buf[i:i + 4] = b"\xff\xff\xff\x7f"
        elif kind == "zero32":
            buf[i:i + 4] = b"\x00\x00\x00\x00"
        else:
            buf[i:i + 2] = struct.pack("<H", data.draw(st.integers(0, 20)))
    if data.draw(st.booleans(), label="truncate"):
        buf = buf[: data.draw(st.integers(8, len(buf)), label="length")]
    path = tmp_path / f"m{data.draw(st.integers(0, 10**9), label='name')}.tif"
    path.write_bytes(bytes(buf))
    _read_back(path)


@FUZZ
@given(head=st.sampled_from([b"II*\x00", b"MM\x00*", b"II+\x00", b""]), body=st.binary(max_size=2048))
def test_fuzz_random_bytes_as_a_scene_give_a_user_error(tmp_path, head, body):
    path = tmp_path / "random.tif"
    path.write_bytes(head + body)
    _read_back(path)
