"""The two dates of a pair detected side by side: stages still in order, errors named, nothing
left running or half-written; and the faster pieces under the cold analysis (noise drawn now,
made later; the display's block mean; float32 slope) give what they replaced."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.transform import from_origin

from conftest import make_raw_scene
from dashboard_testkit import save_tiny_model
from landslide_core import detection
from landslide_core.bands import slope_horn_deg
from landslide_core.errors import Cancelled, InputError
from landslide_core.progress import CancelToken, HeldProgress
from landslide_core.scene import write_scene


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model"))


def _pair_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("landslide-pair")]


# -- HeldProgress ---------------------------------------------------------------------------
def test_held_progress_passes_on_the_latest_report_at_release_then_every_report():
    seen = []
    held = HeldProgress(lambda d, t, s: seen.append((s, d, t)))
    held(0, 4, "detect post")
    held(3, 4, "detect post")
    assert seen == []
    held.release()
    assert seen == [("detect post", 3, 4)]
    held(4, 4, "detect post")
    assert seen[-1] == ("detect post", 4, 4)
    HeldProgress(None)(1, 1, "x")  # no callback: nothing to do
    quiet = HeldProgress(lambda *a: seen.append(a))
    quiet.release()  # nothing held: nothing passed on
    assert len(seen) == 2


# -- pairs ----------------------------------------------------------------------------------
def test_pair_stages_stay_in_order_while_the_post_date_runs_beside(tmp_path, model_path, monkeypatch):
    pre = write_scene(tmp_path / "pre.tif", make_raw_scene(96, 112, seed=1))
    after = make_raw_scene(96, 112, seed=1)
    after.data[:12, 40:60, 50:70] *= 1.5  # a patch that changed
    post = write_scene(tmp_path / "post.tif", after)
    where = {}
    real = detection._detect_one

    def spy(scene_path, *args, **kwargs):
        where[args[-1]] = threading.current_thread().name  # the date's label: "pre" or "post"
        return real(scene_path, *args, **kwargs)

    monkeypatch.setattr(detection, "_detect_one", spy)
    seen = []
    summary = detection.detect_pair(pre, post, tmp_path / "out", model_path=model_path,
                                    progress=lambda d, t, s: seen.append(s))
    assert where["post"].startswith("landslide-pair") and where["pre"] == threading.current_thread().name
    stages = [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s]
    assert stages == ["detect pre", "detect post", "change"]
    for date in ("pre", "post"):  # every output written, the export timed, before detect_pair returned
        own = json.loads((tmp_path / "out" / date / "summary.json").read_text())
        assert set(own["timings_s"]) == {"predict", "postprocess", "export", "total"}
        for name in own["outputs"].values():
            assert (tmp_path / "out" / date / name).is_file(), (date, name)
        assert not (tmp_path / "out" / date / ".probability.raw.tif").exists()
    assert summary["post"]["timings_s"]["export"] >= 0 and (tmp_path / "out" / "evidence.tif").is_file()
    assert _pair_threads() == []


def test_an_all_cloud_post_date_is_named_and_the_output_folder_left_as_it_was(tmp_path, model_path):
    raw = make_raw_scene(64, 80, seed=3)
    raw.valid[:] = False
    post = write_scene(tmp_path / "post.tif", raw)
    pre = write_scene(tmp_path / "pre.tif", make_raw_scene(64, 80, seed=3))
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match=f"post scene {post} has no valid pixel"):
        detection.detect_pair(pre, post, out, model_path=model_path)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert _pair_threads() == []


def test_a_failing_pre_date_stops_the_post_date_and_names_the_pre_scene(tmp_path, model_path, monkeypatch):
    raw = make_raw_scene(64, 80, seed=5)
    raw.valid[:] = False
    pre = write_scene(tmp_path / "pre.tif", raw)
    post = write_scene(tmp_path / "post.tif", make_raw_scene(64, 80, seed=5))
    with pytest.raises(InputError, match=f"pre scene {pre} has no valid pixel"):
        detection.detect_pair(pre, post, tmp_path / "out", model_path=model_path)
    assert list((tmp_path / "out").iterdir()) == []  # nothing half-written
    assert _pair_threads() == []


def test_cancel_stops_both_dates(tmp_path, model_path, monkeypatch):
    pre = write_scene(tmp_path / "pre.tif", make_raw_scene(64, 80, seed=7))
    post = write_scene(tmp_path / "post.tif", make_raw_scene(64, 80, seed=7))
    token = CancelToken()
    real = detection.align_pair

    def align_then_cancel(*args, **kwargs):
        out = real(*args, **kwargs)
        token.cancel()
        return out

    monkeypatch.setattr(detection, "align_pair", align_then_cancel)
    with pytest.raises(Cancelled):
        detection.detect_pair(pre, post, tmp_path / "out", model_path=model_path, cancel=token)
    assert list((tmp_path / "out").iterdir()) == []  # nothing half-written
    assert _pair_threads() == []


# -- the pieces under the cold analysis --------------------------------------------------------
def test_noise_drawn_now_and_made_later_is_the_same_field_and_stream():
    from landslide_core.synthetic.noise import draw_noise, field_later, spectral_noise

    for args in [((120, 90), 2.5, 3.0, None), ((150, 130), 2.5, 8.0, 150.0), ((70, 64), 3.0, 40.0, None)]:
        a_rng, b_rng, c_rng = (np.random.default_rng(9) for _ in range(3))
        want = spectral_noise(a_rng, *args)
        assert draw_noise(b_rng, *args).field().tobytes() == want.tobytes()
        with ThreadPoolExecutor(1) as pool:
            later = field_later(draw_noise(c_rng, *args), pool)
            after = c_rng.random()  # the stream goes on at once, as if the field had been made
            assert later().tobytes() == want.tobytes()
        assert a_rng.random() == after and b_rng.random() == after


def test_terrain_made_with_a_helper_thread_is_the_same_terrain():
    from landslide_core.synthetic.terrain import make_terrain

    plain = make_terrain(np.random.default_rng(3), 160, 140, 10.0)
    with ThreadPoolExecutor(1) as pool:
        helped = make_terrain(np.random.default_rng(3), 160, 140, 10.0, pool=pool)
    assert plain.elevation_m.tobytes() == helped.elevation_m.tobytes()
    assert plain.slope_deg.tobytes() == helped.slope_deg.tobytes()


def test_block_mean_averages_whole_and_partial_blocks():
    from landslide_core.display import _block_mean

    a = np.arange(2 * 7 * 5, dtype=np.float32).reshape(2, 7, 5)
    a[1, 0, 0] = np.nan
    r = _block_mean(a, 2)
    assert r.shape == (2, 4, 3)
    assert r[0, 0, 0] == pytest.approx(a[0, :2, :2].mean())
    assert r[0, 3, 2] == pytest.approx(a[0, 6, 4])  # the corner block: one pixel
    assert r[0, 3, 0] == pytest.approx(a[0, 6, :2].mean()) and r[0, 1, 2] == pytest.approx(a[0, 2:4, 4].mean())
    assert np.isnan(r[1, 0, 0]) and np.isfinite(r[1, 0, 1])


def test_a_reduced_display_keeps_its_bounds_and_values():
    from landslide_core.display import to_lonlat

    transform, crs = from_origin(500000, 8800000, 10, 10), CRS.from_epsg(32718)
    ramp = np.tile(np.linspace(0, 1, 400, dtype=np.float32), (3, 380, 1))
    small, bounds = to_lonlat(ramp, transform, crs, Resampling.bilinear, max_px=190)
    _, nearest_bounds = to_lonlat(ramp[0], transform, crs, Resampling.nearest, max_px=190)
    assert bounds == nearest_bounds and max(small.shape[1:]) == 190
    inner = small[:, 5:-5, 5:-5]
    assert np.isfinite(inner).all() and np.all(np.diff(inner[0], axis=1) >= -1e-6)  # still the ramp
    assert inner.min() > 0 and inner.max() < 1


def test_float32_slope_matches_float64_horn_on_high_ground():
    rng = np.random.default_rng(0)
    z = (4200.0 + np.cumsum(rng.normal(0, 3, (90, 80)), axis=0) + np.cumsum(rng.normal(0, 3, (90, 80)), axis=1))
    z = z.astype(np.float32).astype(np.float64)  # the same elevations as the float32 input
    zp = np.pad(z, 1, mode="edge")
    a, b, c, d, f = zp[:-2, :-2], zp[:-2, 1:-1], zp[:-2, 2:], zp[1:-1, :-2], zp[1:-1, 2:]
    g, h, i = zp[2:, :-2], zp[2:, 1:-1], zp[2:, 2:]
    dx = ((c + 2 * f + i) - (a + 2 * d + g)) / 80.0
    dy = ((g + 2 * h + i) - (a + 2 * b + c)) / 80.0
    want = np.degrees(np.arctan(np.hypot(dx, dy)))
    got = slope_horn_deg(z.astype(np.float32), 10.0, 10.0)
    assert got.dtype == np.float32 and np.abs(got - want).max() < 1e-4


@pytest.mark.parametrize("env_value, expected", [(None, "True False True"), ("1", "True True True")])
def test_numpy_small_pages_only_inside_the_generator_unless_the_user_chose(env_value, expected):
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if env_value is not None:
        env["NUMPY_MADVISE_HUGEPAGE"] = env_value
    code = ("import numpy; from landslide_core.memory_pages import small_pages; "
            "get = numpy._core.multiarray._get_madvise_hugepage; seen = [get()]\n"
            "with small_pages():\n"
            "    with small_pages():\n"
            "        pass\n"
            "    seen.append(get())\n"
            "seen.append(get()); print(*seen)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == expected


def test_a_predictor_beside_another_takes_turns_on_a_gpu_only(model_path):
    from landslide_core.predictor import Predictor

    model, card, _ = detection.load_model(model_path)
    cpu = Predictor(model, card)
    twin = cpu.beside()
    assert twin is not cpu and twin.model is cpu.model and cpu.device_lock is None and twin.device_lock is None
    gpu = Predictor(model, card)
    gpu.on_cuda = True  # what a CUDA device sets; only the lock is looked at here
    other = gpu.beside()
    assert gpu.device_lock is not None and other.device_lock is gpu.device_lock
    # with a shared lock, two predictors never run the model at once
    running, most = [0], [0]
    guard = threading.Lock()
    real = Predictor._forward_now

    def counted(self, batch):
        with guard:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            threading.Event().wait(0.01)
            return real(self, batch)
        finally:
            with guard:
                running[0] -= 1

    a, b = Predictor(model, card), Predictor(model, card)
    a.device_lock = b.device_lock = threading.Lock()
    stack = np.random.default_rng(9).uniform(0, 3000, (14, 64, 80)).astype(np.float32)
    try:
        Predictor._forward_now = counted
        with ThreadPoolExecutor(2) as pool:
            jobs = [pool.submit(p.predict_array, stack) for p in (a, b, a, b)]
            results = [j.result() for j in jobs]
    finally:
        Predictor._forward_now = real
    assert most[0] == 1 and np.allclose(results[0], results[1], equal_nan=True)
