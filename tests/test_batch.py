"""Regional batches on a Dask LocalCluster (loopback), on a small demo region.

The reference ("a single-process run of the same area") is the CLI's own pipeline over the
whole region in this process: ``fetch_pair`` of the region request from the demo source, then
``detect_pair`` on the two scenes with the same model and settings. The batch must equal it:
probabilities within 1e-6, change classes exactly, the same new-landslide polygons, including
one that crosses a tile border (one object, not two).
"""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import rasterio

from landslide_core.batch import BatchSettings, run_batch
from landslide_core.batch.tiling import boundaries_px, make_plan
from landslide_core.cli import main
from landslide_core.detection import DetectionOptions, detect_pair
from landslide_core.errors import InputError
from landslide_core.postprocess import _labels_at_least
from landslide_core.sources import AnalysisRequest, DateWindow
from landslide_core.sources.demo import DemoSource
from landslide_core.sources.pair import fetch_pair


def box(w: float, s: float, e: float, n: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


REGION = box(-75.41, -11.30, -75.3825, -11.278)  # about 3.0 km x 2.4 km
PRE = DateWindow.parse("2021-01-01", "2021-01-31")
POST = DateWindow.parse("2021-04-01", "2021-04-30")
#: batch_size=1: a forward pass of one window gives the same numbers whatever else is batched
#: with it (oneDNN picks kernels per batch size), so tiles and the whole run compare to float rounding
OPTIONS = DetectionOptions(window_px=96, overlap_px=16, batch_size=1)
TILE_KM_CANDIDATES = (1.4, 1.0, 0.7)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch")
    old = os.environ.get("LANDSLIDE_CACHE_DIR")
    os.environ["LANDSLIDE_CACHE_DIR"] = str(root / "cache")  # the workers inherit it
    yield root
    if old is None:
        os.environ.pop("LANDSLIDE_CACHE_DIR", None)
    else:
        os.environ["LANDSLIDE_CACHE_DIR"] = old


@pytest.fixture(scope="module")
def cluster(workdir):
    """One LocalCluster (2 workers, loopback) shared by the tests, reached with --scheduler."""
    from landslide_core.batch.cluster import quiet_dask_logs, start_local_cluster

    quiet_dask_logs()
    lc, client = start_local_cluster(2)
    yield lc, client
    client.close()
    lc.close()


@pytest.fixture(scope="module")
def reference(workdir):
    """The same pipeline over the whole region in this process."""
    ref = workdir / "reference"
    request = AnalysisRequest(REGION, PRE, POST)
    fetch_pair(request, DemoSource(), ref / "scenes")
    detect_pair(ref / "scenes" / "pre.tif", ref / "scenes" / "post.tif", ref / "result", "default", OPTIONS)
    return ref / "result"


def new_landslide_labels(result: Path) -> np.ndarray:
    with rasterio.open(result / "change.tif") as ds:
        change, transform = ds.read(1), ds.transform
    return _labels_at_least(change == 1, transform, OPTIONS.min_area_ha)[0]


def crossing(labels: np.ndarray, tile_km: float) -> set[int]:
    """Reference new landslides with pixels on both sides of a tile border."""
    plan = make_plan(REGION, tile_km, OPTIONS.window_px, OPTIONS.overlap_px, 16)
    rows, cols = boundaries_px(plan, plan.zones[0].id)
    out: set[int] = set()
    for r in rows:
        a, b = labels[r - 1], labels[r]
        out |= {int(x) for x in np.unique(a[(a == b) & (a > 0)])}
    for c in cols:
        a, b = labels[:, c - 1], labels[:, c]
        out |= {int(x) for x in np.unique(a[(a == b) & (a > 0)])}
    return out


@pytest.fixture(scope="module")
def tile_km(reference):
    """The largest tile size whose borders cut a new landslide of the reference."""
    labels = new_landslide_labels(reference)
    for km in TILE_KM_CANDIDATES:
        if crossing(labels, km):
            return km
    pytest.fail(f"No new landslide of the demo region crosses a tile border for tiles of {TILE_KM_CANDIDATES} km: "
                "pick another region so that the test covers a landslide across tiles.")


def settings(out: Path, tile_km: float, cluster, **kw) -> BatchSettings:
    lc, _ = cluster
    base = dict(region=REGION, pre=PRE, post=POST, out=out, model="default", options=OPTIONS, tile_km=tile_km,
                scheduler=lc.scheduler_address)
    base.update(kw)
    return BatchSettings(**base)


@pytest.fixture(scope="module")
def batch(workdir, cluster, tile_km, reference):
    out = workdir / "batch"
    summary = run_batch(settings(out, tile_km, cluster))
    return out, summary


def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


def assert_same_result(out: Path, reference: Path) -> None:
    with rasterio.open(out / "probability_post.tif") as got, rasterio.open(reference / "post" / "probability.tif") as ref:
        assert got.crs == ref.crs and got.transform == ref.transform and got.shape == ref.shape
        a, b = got.read(1), ref.read(1)
    assert np.array_equal(np.isnan(a), np.isnan(b))
    assert np.nanmax(np.abs(a - b)) <= 1e-6
    np.testing.assert_array_equal(read(out / "change.tif"), read(reference / "change.tif"))
    got = json.loads((out / "new_landslides.geojson").read_text())["features"]
    ref = json.loads((reference / "change.geojson").read_text())["features"]
    assert [f["properties"] for f in got] == [f["properties"] for f in ref]
    assert [f["geometry"] for f in got] == [f["geometry"] for f in ref]
    from pyogrio import read_info

    assert read_info(out / "new_landslides.gpkg", layer="new_landslides")["features"] == len(ref)


def test_batch_equals_one_run_over_the_region_including_a_landslide_across_tiles(batch, reference, tile_km):
    out, summary = batch
    assert summary["tiles"]["failed"] == 0 and summary["tiles"]["ok"] == summary["tiles"]["total"] >= 4
    assert_same_result(out, reference)
    labels = new_landslide_labels(reference)
    across = crossing(labels, tile_km)
    assert across, "the test region must have a new landslide across a tile border"
    ref_features = json.loads((reference / "change.geojson").read_text())["features"]
    ref_summary = json.loads((reference / "summary.json").read_text())["change"]
    assert summary["totals"]["new_count"] == ref_summary["new_count"] == len(ref_features)
    for key in ("new_ha", "persisting_ha", "vanished_ha", "stable_ha", "not_assessable_ha"):
        assert summary["totals"][key] == pytest.approx(ref_summary[key], abs=1e-3)
    assert summary["totals"]["judged_against_view_median"] == 0
    # the outputs: COGs with the model card, and the summary's stages
    from rio_cogeo.cogeo import cog_validate

    for name in ("change.tif", "probability_post.tif"):
        assert cog_validate(str(out / name))[0]
    assert set(summary["timings_s"]) >= {"fetch", "shift", "predict", "change", "merge", "total"}
    assert summary["outputs"]["gpkg"] == "new_landslides.gpkg"
    assert summary["outputs"]["rasters"] == {"epsg32718": {"change": "change.tif",
                                                           "probability_post": "probability_post.tif"}}


def test_rerun_reuses_every_finished_tile_and_refuses_other_inputs(batch, cluster, reference, tile_km):
    out, first = batch
    again = run_batch(settings(out, tile_km, cluster))
    n = first["tiles"]["total"]
    assert again["tiles"]["computed"] == {"fetch": 0, "predict": 0, "change": 0}
    assert again["tiles"]["reused"] == {"fetch": n, "predict": n, "change": n}
    assert again["totals"] == first["totals"]
    assert_same_result(out, reference)
    with pytest.raises(InputError, match="holds a batch of other inputs"):
        run_batch(settings(out, tile_km, cluster, cloud_limit_pct=20.0))


def test_killing_a_worker_mid_run_loses_nothing(workdir, cluster, reference, tile_km):
    lc, client = cluster
    killed: list[int] = []

    def kill_a_busy_worker(event: dict) -> None:
        if killed or event["stage"] != "predict":
            return
        busy = [addr for addr, keys in client.processing().items() if keys]
        if busy:
            pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    out = workdir / "killed"
    summary = run_batch(settings(out, tile_km, cluster), on_event=kill_a_busy_worker)
    assert killed, "no worker was busy when the first tile finished"
    assert summary["tiles"]["failed"] == 0 and summary["tiles"]["ok"] == summary["tiles"]["total"]
    assert_same_result(out, reference)
    with pytest.raises(ProcessLookupError):
        os.kill(killed[0], 0)  # that worker is gone; another one finished its tile
    client.wait_for_workers(2, timeout=60)  # the nanny restarted it for the next tests


def test_failed_tile_is_reported_with_its_reason_then_retried(workdir, cluster, tile_km):
    out = workdir / "failing"
    plan = make_plan(REGION, tile_km, OPTIONS.window_px, OPTIONS.overlap_px, 16)
    victim = plan.tiles[-1]
    blocker = out / "work" / victim.zone / "tiles" / victim.id / "scenes"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a folder")  # the tile's scenes cannot be written
    first = run_batch(settings(out, tile_km, cluster, retries=1))
    assert first["tiles"]["failed"] == 1 and first["tiles"]["ok"] == first["tiles"]["total"] - 1
    failure = first["tiles"]["failed_tiles"][0]
    assert failure["tile"] == victim.id and failure["stage"] == "fetch" and "not a folder" in failure["reason"]
    assert (out / "change.tif").exists()  # the others are mapped
    blocker.unlink()
    second = run_batch(settings(out, tile_km, cluster))
    assert second["tiles"]["failed"] == 0 and second["tiles"]["ok"] == second["tiles"]["total"]
    assert second["tiles"]["computed"]["fetch"] == 1 and second["tiles"]["computed"]["predict"] == 1


def test_cli_splits_a_region_across_utm_zones(workdir, tmp_path, capsys):
    region = box(-78.012, -9.300, -77.988, -9.286)  # across 78 W, the border of zones 17S and 18S
    path = tmp_path / "region.geojson"
    path.write_text(json.dumps(region))
    out = tmp_path / "out"
    code = main(["batch", "--region", str(path), "--pre-start", "2021-01-01", "--pre-end", "2021-01-31",
                 "--post-start", "2021-04-01", "--post-end", "2021-04-30", "--source", "demo", "--model", "index",
                 "--out", str(out), "--workers", "2", "--tile-km", "2", "--window", "128"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads((out / "summary.json").read_text())
    assert [z["id"] for z in summary["zones"]] == ["epsg32717", "epsg32718"]
    for zone in ("epsg32717", "epsg32718"):
        for name in (f"change_{zone}.tif", f"probability_post_{zone}.tif"):
            with rasterio.open(out / name) as ds:
                assert ds.crs.to_epsg() == int(zone[4:])
    assert not (out / "change.tif").exists()
    assert json.loads((out / "new_landslides.geojson").read_text())["type"] == "FeatureCollection"
    from pyogrio import list_layers

    assert {"new_landslides", "aoi"} <= {name for name, _ in list_layers(out / "new_landslides.gpkg")}
    assert "dashboard http://127.0.0.1:" in captured.err and "tiles: " in captured.out


@pytest.mark.parametrize("geometry,message", [
    ({"type": "Polygon", "coordinates": []}, "empty"),
    ({"type": "Polygon", "coordinates": [[[-75.4, -11.3], [-75.38, -11.28], [-75.38, -11.3], [-75.4, -11.28],
                                          [-75.4, -11.3]]]}, "crosses itself"),
    ({"type": "Point", "coordinates": [-75.4, -11.3]}, "polygon"),
])
def test_cli_refuses_an_unusable_region(tmp_path, capsys, geometry, message):
    path = tmp_path / "region.geojson"
    path.write_text(json.dumps(geometry))
    code = main(["batch", "--region", str(path), "--pre-start", "2021-01-01", "--pre-end", "2021-01-31",
                 "--post-start", "2021-04-01", "--post-end", "2021-04-30", "--out", str(tmp_path / "out"),
                 "--model", "index"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_cli_refuses_bad_batch_options(tmp_path, capsys):
    path = tmp_path / "region.geojson"
    path.write_text(json.dumps(REGION))
    common = ["batch", "--region", str(path), "--pre-start", "2021-01-01", "--pre-end", "2021-01-31",
              "--post-start", "2021-04-01", "--post-end", "2021-04-30", "--out", str(tmp_path / "out"),
              "--model", "index"]
    for extra, message in ((["--tile-km", "100"], "--tile-km 100"), (["--workers", "0"], "--workers 0"),
                           (["--scheduler", "tcp://127.0.0.1:9", "--workers", "2"], "--workers sizes"),
                           (["--source", "nowhere"], "Unknown imagery source")):
        assert main(common + extra) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / "work").exists()


#: A little taller than REGION: 4 co-registration samples of 256 px (a reliable estimate needs 3)
LOCAL_REGION = box(-75.41, -11.30, -75.3825, -11.2745)


def shifted_pair(root: Path) -> tuple[Path, Path]:
    """A 'before' and 'after' GeoTIFF of the region, the 'before' one misregistered by a pixel or so."""
    from scipy import ndimage

    from landslide_core.scene import read_scene, write_scene

    request = AnalysisRequest(LOCAL_REGION, PRE, POST)
    fetch_pair(request, DemoSource(clouds=False), root / "demo")
    pre = read_scene(root / "demo" / "pre.tif")
    keep = [i for i, b in enumerate(pre.band_names) if b != "slope"]
    data = np.stack([ndimage.shift(pre.data[i], (1.3, -0.8), order=1, mode="nearest") for i in keep])
    moved = type(pre)(data, tuple(pre.band_names[i] for i in keep), pre.valid, pre.transform, pre.crs,
                      pre.provenance)
    write_scene(root / "pre.tif", moved)
    return root / "pre.tif", root / "demo" / "post.tif"


def test_local_files_with_misregistered_dates_are_coregistered_once_per_zone(workdir, cluster):
    from landslide_core.sources.local import LocalFilesSource

    pre, post = shifted_pair(workdir / "local")
    request = AnalysisRequest(LOCAL_REGION, PRE, POST)
    ref = workdir / "local" / "reference"
    source = LocalFilesSource(pre_path=pre, post_path=post, grid_from="request")
    fetch_pair(request, source, ref / "scenes")
    options = DetectionOptions(window_px=96, overlap_px=16, batch_size=1)
    summary = detect_pair(ref / "scenes" / "pre.tif", ref / "scenes" / "post.tif", ref / "result", "index", options)
    assert summary["coregistration"]["applied"], summary["coregistration"]
    out = workdir / "local" / "batch"
    got = run_batch(settings(out, 1.4, cluster, region=LOCAL_REGION, source="local", model="index",
                             source_options={"pre_path": str(pre), "post_path": str(post)}))
    assert got["tiles"]["total"] >= 4
    assert got["tiles"]["failed"] == 0
    (zone,) = got["zones"]
    for key in ("rows_px", "cols_px", "applied"):
        assert zone["coregistration"][key] == summary["coregistration"][key]
    assert_same_result(out, ref / "result")


def test_cancelled_batch_stops_and_a_rerun_resumes(workdir, cluster, tile_km, reference):
    from landslide_core.errors import Cancelled
    from landslide_core.progress import CancelToken

    token = CancelToken()

    def cancel_after_first_tile(event: dict) -> None:
        if event["stage"] == "predict":
            token.cancel()

    out = workdir / "cancelled"
    with pytest.raises(Cancelled):
        run_batch(settings(out, tile_km, cluster), on_event=cancel_after_first_tile, cancel=token)
    assert not (out / "summary.json").exists()
    done = [p for p in (out / "work").rglob("predict.done")]
    assert 1 <= len(done) < len(make_plan(REGION, tile_km, OPTIONS.window_px, OPTIONS.overlap_px, 16).tiles)
    summary = run_batch(settings(out, tile_km, cluster))
    assert summary["tiles"]["failed"] == 0 and summary["tiles"]["reused"]["predict"] >= len(done)
    assert_same_result(out, reference)


def test_cli_runs_on_an_existing_scheduler(cluster, tmp_path, capsys):
    lc, _ = cluster
    path = tmp_path / "region.geojson"
    path.write_text(json.dumps(box(-75.40, -11.29, -75.391, -11.282)))  # about 1 km2: one tile
    out = tmp_path / "out"
    code = main(["batch", "--region", str(path), "--pre-start", "2021-01-01", "--pre-end", "2021-01-31",
                 "--post-start", "2021-04-01", "--post-end", "2021-04-30", "--model", "index", "--out", str(out),
                 "--scheduler", lc.scheduler_address])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["workers"]["scheduler"] == lc.scheduler_address and summary["tiles"]["ok"] == 1
    assert (out / "change.tif").exists() and f"workers at {lc.scheduler_address}" in captured.err


def test_local_cluster_workers_see_the_environment_of_their_start(monkeypatch):
    """Workers are forked from a forkserver started once per process: each cluster's workers
    still get the environment of the moment it starts (e.g. another scene cache)."""
    from landslide_core.batch.cluster import start_local_cluster

    def workers_see() -> list:
        lc, client = start_local_cluster(1)
        try:
            seen = client.run(lambda: (os.environ.get("LANDSLIDE_BATCH_TEST_MARK"), os.environ.get("OMP_NUM_THREADS")))
        finally:
            client.close()
            lc.close()
        return list(seen.values())

    monkeypatch.delenv("LANDSLIDE_BATCH_TEST_MARK", raising=False)
    assert workers_see() == [(None, "1")]  # the forkserver runs from here on (if not already)
    monkeypatch.setenv("LANDSLIDE_BATCH_TEST_MARK", "second cluster")
    assert workers_see() == [("second cluster", "1")]
