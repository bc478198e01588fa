"""The review loop: reviews saved, reloaded and undone; drawn polygons checked; chips cut from the
analysis's own scene with the exact mask of the reviews; chips twice add nothing; fine-tuning on
reviewed demo chips improves held-out F1 over the parent and the card records the lineage."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest
from pyproj import Transformer
from rasterio.windows import Window
from shapely.geometry import Point, shape

from landslide_core import analysis
from landslide_core.bands import ALL_BANDS, L4S_SCALE
from landslide_core.cli import main
from landslide_core.detection import DetectionOptions
from landslide_core.errors import InputError, SourceError
from landslide_core.review import ReviewStore
from landslide_core.review.chips import make_chips
from landslide_core.scene import SceneReader, write_scene
from landslide_core.sources.local import LocalFilesSource
from landslide_core.sources.request import AnalysisRequest, DateWindow

from conftest import make_raw_scene
from dashboard_testkit import save_tiny_model

SIZE = 300  # px of the constructed scenes: tiles at rows/columns 0, 128 and 172 (flush)


def _lonlat_box(transform, crs, row0, col0, rows, cols):
    """A polygon (lon/lat) whose corners are the pixel corners of rows row0.., cols col0.."""
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    corners = [(col0, row0), (col0 + cols, row0), (col0 + cols, row0 + rows), (col0, row0 + rows), (col0, row0)]
    return {"type": "Polygon", "coordinates": [[list(to_ll.transform(*(transform * c))) for c in corners]]}


def _pixel_centres_inside(geometry, transform, crs, r0, c0, n=128):
    """Independent of rasterio's rasterising: 1 where a pixel centre lies inside the lon/lat polygon."""
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    poly = shape(geometry)
    out = np.zeros((n, n), np.uint8)
    for r in range(n):
        for c in range(n):
            x, y = transform * (c0 + c + 0.5, r0 + r + 0.5)
            out[r, c] = poly.contains(Point(*to_ll.transform(x, y)))
    return out


@pytest.fixture(scope="module")
def constructed(tmp_path_factory):
    """An analysis of two constructed scenes (local files) with a tiny model at a threshold so high
    that nothing is detected: every tile is clean background."""
    root = tmp_path_factory.mktemp("review")
    mp = pytest.MonkeyPatch()
    mp.setenv("LANDSLIDE_CACHE_DIR", str(root / "cache"))
    scenes = {}
    for name, seed in (("pre_20200110.tif", 1), ("post_20200415.tif", 2)):
        raw = make_raw_scene(SIZE, SIZE, seed=seed)
        scenes[name] = raw
        write_scene(root / name, raw)
    post = scenes["post_20200415.tif"]
    to_ll = Transformer.from_crs(post.crs, "EPSG:4326", always_xy=True)
    (w, n), (e, s) = to_ll.transform(*(post.transform * (-2, -2))), to_ll.transform(*(post.transform * (SIZE + 2, SIZE + 2)))
    aoi = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
    request = AnalysisRequest(aoi, DateWindow.parse("2020-01-01", "2020-01-31"),
                              DateWindow.parse("2020-04-01", "2020-04-30"))
    source = LocalFilesSource(root / "pre_20200110.tif", root / "post_20200415.tif")
    model = save_tiny_model(root / "models")
    result = analysis.run_analysis(request, source, model, DetectionOptions(threshold=0.999, coregister=False),
                                   root / "results")
    yield {"root": root, "result": result, "post": post, "aoi": aoi}
    mp.undo()


def _candidate(geometry, object_id="N1", kind="new", date="post"):
    return {"type": "Feature", "geometry": geometry,
            "properties": {"object_id": object_id, "kind": kind, "date": date, "area_ha": 0.1}}


# ---------------------------------------------------------------- reviews

def test_reviews_round_trip_save_reload_undo(constructed, tmp_path):
    result, post = constructed["result"], constructed["post"]
    folder = tmp_path / "analysis"
    folder.mkdir()
    store = ReviewStore(folder, result.key, result.model, constructed["aoi"])
    a = _lonlat_box(post.transform, post.crs, 20, 30, 20, 25)
    b = _lonlat_box(post.transform, post.crs, 150, 150, 10, 10)
    first = store.review(_candidate(a), "confirmed", "Ana", "fresh scar", threshold=0.5)
    second = store.review(_candidate(b, "P1", "persisting"), "rejected", "", "ploughed field")
    drawn = store.draw(_lonlat_box(post.transform, post.crs, 200, 40, 12, 12), "Ana", "missed one")

    again = ReviewStore(folder)  # a reload: a new store on the same folder
    assert [r.review_id for r in again.active()] == [first.review_id, second.review_id, drawn.review_id]
    r = again.active()[0]
    assert (r.verdict, r.kind, r.date, r.who, r.why, r.threshold) == ("confirmed", "new", "post", "Ana", "fresh scar", 0.5)
    assert r.model == result.model["name"] and r.model_sha256 == result.model["weights_sha256"]
    assert r.analysis == result.key and r.when.endswith("+00:00")
    assert again.active()[1].who == "anonymous" and drawn.verdict == "drawn" and drawn.area_ha > 0
    doc = json.loads((folder / "reviews.geojson").read_text())
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == 3

    # A later review of the same object supersedes the earlier one; undoing it brings the earlier back.
    changed = store.review(_candidate(a, "N7"), "rejected", "Ben")
    assert [x.verdict for x in ReviewStore(folder).active() if x.review_id in (first.review_id, changed.review_id)] \
        == ["rejected"]
    store.undo(changed.review_id, "Ben")
    assert ReviewStore(folder).active()[0].review_id == first.review_id
    store.undo(drawn.review_id, "Ana")
    assert drawn.review_id not in [x.review_id for x in ReviewStore(folder).active()]
    undone = ReviewStore(folder).undone()
    assert {u["properties"]["review_id"] for u in undone} == {changed.review_id, drawn.review_id}
    assert undone[-1]["properties"]["undone_by"] == "Ana"
    with pytest.raises(InputError, match="not in force"):
        store.undo(drawn.review_id)


def test_a_drawn_polygon_outside_the_area_or_self_intersecting_is_refused(constructed, tmp_path):
    post = constructed["post"]
    store = ReviewStore(tmp_path, "k", {}, constructed["aoi"])
    t, crs = post.transform, post.crs
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)

    def ll(r, c):
        return list(to_ll.transform(*(t * (c, r))))

    bowtie = {"type": "Polygon", "coordinates": [[ll(10, 10), ll(40, 40), ll(10, 40), ll(40, 10), ll(10, 10)]]}
    with pytest.raises(InputError, match="crosses itself"):
        store.draw(bowtie)
    outside = {"type": "Polygon", "coordinates": [[ll(-50, -50), ll(-50, -20), ll(-20, -20), ll(-20, -50),
                                                    ll(-50, -50)]]}
    with pytest.raises(InputError, match="entirely outside the area"):
        store.draw(outside)
    across = _lonlat_box(t, crs, 250, 250, 100, 100)
    with pytest.raises(InputError, match=r"\d+ % outside the area"):
        store.draw(across)
    tiny = _lonlat_box(t, crs, 50, 50, 0.5, 0.5)
    with pytest.raises(InputError, match="less than one 10 m pixel"):
        store.draw(tiny)
    with pytest.raises(InputError, match="not a polygon"):
        store.draw({"type": "LineString", "coordinates": [ll(1, 1), ll(5, 5)]})
    assert not (tmp_path / "reviews.geojson").exists()  # nothing refused was saved


def test_two_sessions_reviewing_at_once_keep_every_review(constructed, tmp_path):
    post = constructed["post"]
    box = _lonlat_box(post.transform, post.crs, 20, 30, 20, 25)

    def session(k: int) -> None:
        store = ReviewStore(tmp_path, "k", {}, constructed["aoi"])
        for i in range(15):
            store.review(_candidate(box, f"N{i}"), "confirmed", f"session {k}")

    threads = [threading.Thread(target=session, args=(k,)) for k in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(ReviewStore(tmp_path).all()) == 45


def test_a_damaged_reviews_file_is_reported_and_never_overwritten(tmp_path):
    (tmp_path / "reviews.geojson").write_text("{not json")
    store = ReviewStore(tmp_path, "k")
    with pytest.raises(InputError, match="is damaged"):
        store.active()
    with pytest.raises(InputError, match="is damaged"):
        store.draw({"type": "Polygon", "coordinates": [[[0, 0], [0, 1], [1, 1], [0, 0]]]})
    assert (tmp_path / "reviews.geojson").read_text() == "{not json"


# ---------------------------------------------------------------- chips

def _read_patch(folder: Path, record: dict) -> tuple[np.ndarray, np.ndarray]:
    with h5py.File(folder / record["image"]) as f:
        img = f["img"][()]
    with h5py.File(folder / record["mask"]) as f:
        mask = f["mask"][()]
    return img, mask


def test_chips_have_the_exact_mask_of_the_reviews_and_the_band_values_of_the_scene(constructed, tmp_path):
    result, post = constructed["result"], constructed["post"]
    store = ReviewStore.of(result)
    for r in store.all():
        store.undo(r.review_id)
    confirmed_geom = _lonlat_box(post.transform, post.crs, 20, 30, 20, 25)
    rejected_geom = _lonlat_box(post.transform, post.crs, 60, 70, 10, 30)
    store.review(_candidate(confirmed_geom), "confirmed", "Ana")
    store.review(_candidate(rejected_geom, "P2", "persisting"), "rejected", "Ana")
    drawn = store.draw(_lonlat_box(post.transform, post.crs, 140, 200, 16, 9), "Ana")

    out = tmp_path / "chips"
    report = make_chips(result.folder, out, background_per_object=1.0)
    manifest = json.loads((out / "manifest.json").read_text())
    objects = [r for r in manifest["patches"] if r["kind"] == "object"]
    background = [r for r in manifest["patches"] if r["kind"] == "background"]
    assert {(r["window"]["row"], r["window"]["col"]) for r in objects} == {(0, 0), (128, 128), (128, 172)}
    assert report.patches_added == len(manifest["patches"]) == len(objects) + len(background)
    assert background and report.background == len(background)

    first = next(r for r in objects if (r["window"]["row"], r["window"]["col"]) == (0, 0))
    img, mask = _read_patch(out, first)
    expected = _pixel_centres_inside(confirmed_geom, post.transform, post.crs, 0, 0)
    assert expected.sum() == 20 * 25 and np.array_equal(mask, expected)  # the rejected object stays 0
    assert first["negative_px"] == 10 * 30 and first["landslide_px"] == 500
    assert img.shape == (128, 128, 14) and img.dtype == np.float32
    for band in ALL_BANDS:
        if band == "slope":
            continue
        k = ALL_BANDS.index(band)
        raw = post.data[post.band_names.index(band), :128, :128]
        np.testing.assert_allclose(img[..., k], raw / L4S_SCALE[k], rtol=1e-5)
    with SceneReader(result.scenes["post"]) as reader:
        slope = reader.read_slope_deg(Window(0, 0, 128, 128))
    np.testing.assert_allclose(img[..., ALL_BANDS.index("slope")], slope / L4S_SCALE[12], rtol=1e-5)
    # The drawn landslide straddles the flush last column: both overlapping patches carry it, in one group.
    drawn_patches = [r for r in objects if r["window"]["row"] == 128]
    assert len({r["group"] for r in drawn_patches}) == 1
    for r in drawn_patches:
        _, m = _read_patch(out, r)
        want = _pixel_centres_inside(drawn.geometry, post.transform, post.crs, 128, r["window"]["col"])
        assert np.array_equal(m, want) and m.sum() > 0
    for r in background:
        _, m = _read_patch(out, r)
        assert m.sum() == 0 and r["reviews"] == [] and r["unreviewed_px"] == 0
    # Where each patch came from.
    assert first["analysis"] == result.key and first["scene_dates"] == ["2020-04-15"]
    assert {x["verdict"] for x in first["reviews"]} == {"confirmed", "rejected"}
    assert len(first["bounds_lonlat"]) == 4 and first["scene_uid"]
    split = json.loads((out / "split.json").read_text())
    assert sorted(split["train"] + split["val"]) == sorted(r["name"] for r in manifest["patches"])


def test_chips_twice_add_nothing_and_undone_reviews_leave(constructed, tmp_path):
    result, post = constructed["result"], constructed["post"]
    store = ReviewStore.of(result)
    for r in store.all():
        store.undo(r.review_id)
    keep = store.review(_candidate(_lonlat_box(post.transform, post.crs, 20, 30, 20, 25)), "confirmed")
    gone = store.draw(_lonlat_box(post.transform, post.crs, 140, 20, 16, 9))
    out = tmp_path / "chips"
    first = make_chips(result.folder, out, background_per_object=0)
    files = {p: p.stat().st_mtime_ns for p in out.rglob("*.h5")}
    manifest = (out / "manifest.json").read_text()
    second = make_chips(result.folder, out, background_per_object=0)
    assert first.patches_added == 2 and not second.changed and second.patches_unchanged == 2
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.h5")} == files
    assert (out / "manifest.json").read_text() == manifest
    # Running the CLI on it once more: still nothing new.
    assert main(["chips", "--result", str(result.folder), "--out", str(out), "--background-per-object", "0"]) == 0
    assert (out / "manifest.json").read_text() == manifest

    store.undo(gone.review_id)
    third = make_chips(result.folder, out, background_per_object=0)
    assert third.patches_removed == 1 and third.total_patches == 1
    recs = json.loads((out / "manifest.json").read_text())["patches"]
    assert [r["reviews"][0]["review_id"] for r in recs] == [keep.review_id]
    assert len(list((out / "img").glob("*.h5"))) == len(list((out / "mask").glob("*.h5"))) == 1


def test_chips_refuse_what_cannot_be_done(constructed, tmp_path, capsys):
    result = constructed["result"]
    store = ReviewStore.of(result)
    for r in store.all():
        store.undo(r.review_id)
    with pytest.raises(InputError, match="no reviews yet"):
        make_chips(result.folder, tmp_path / "c")
    assert main(["chips", "--result", str(tmp_path / "nowhere"), "--out", str(tmp_path / "c")]) == 2
    assert "No finished analysis" in capsys.readouterr().err
    post = constructed["post"]
    store.draw(_lonlat_box(post.transform, post.crs, 20, 30, 20, 25))
    with pytest.raises(InputError, match="inside the analysis folder"):
        make_chips(result.folder, result.folder / "chips")
    # The scene left the cache and a local-files analysis cannot fetch it again: say what to do.
    scene = Path(result.scenes["post"])
    aside = tmp_path / "aside.tif"
    scene.rename(aside)
    try:
        with pytest.raises(SourceError, match="Run the same analysis again"):
            make_chips(result.folder, tmp_path / "c2")
    finally:
        aside.rename(scene)


def test_train_init_from_a_missing_model_is_a_model_error(tmp_path, capsys):
    from landslide_core.training.toydata import write_toy_l4s

    data = write_toy_l4s(tmp_path / "toy", 4)
    assert main(["train", "--data", str(data), "--init-from", str(tmp_path / "nope.json"), "--foreground"]) == 3
    assert "does not exist" in capsys.readouterr().err


# ---------------------------------------------------------------- fine-tuning on demo chips

def test_fine_tuning_on_reviewed_demo_chips_improves_held_out_f1_and_records_lineage(tmp_path, monkeypatch):
    """A demo event reviewed from its truth (confirm what is a landslide, reject the rest), chips,
    a fine-tune from an untrained parent: F1 on the held-out chips, measured for both models,
    goes up, and the card says from what, on what, and by how much."""
    from rasterio.features import rasterize
    from rasterio.warp import transform_geom

    from landslide_core.bands import ALL_BANDS as BANDS
    from landslide_core.checkpoint import ModelCard, read_card, save_checkpoint
    from landslide_core.result_views import grid_of
    from landslide_core.review.candidates import review_candidates
    from landslide_core.review.finetune import held_out_scores, start_finetune
    from landslide_core.sources import get_source
    from landslide_core.zoo import build_model

    import torch

    from dashboard_testkit import demo_event, demo_windows

    monkeypatch.setenv("LANDSLIDE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LANDSLIDE_RUNS_DIR", str(tmp_path / "runs"))
    detector = save_checkpoint(build_model("spectral_index", len(BANDS), list(BANDS)),
                               ModelCard(name="rule", architecture="spectral_index", band_set="l4s14",
                                         bands=list(BANDS)), tmp_path / "models" / "rule")
    c, h = shape(demo_event().aoi).centroid, 0.016
    aoi = {"type": "Polygon", "coordinates": [[[c.x - h, c.y - h], [c.x + h, c.y - h], [c.x + h, c.y + h],
                                               [c.x - h, c.y + h], [c.x - h, c.y - h]]]}
    request = AnalysisRequest(aoi, DateWindow(*demo_windows()[0]), DateWindow(*demo_windows()[1]))
    source = get_source("demo")
    result = analysis.run_analysis(request, source, detector, DetectionOptions(), tmp_path / "results")
    event = source.event(request)
    truth = event.new_landslides | event.old_scars
    transform, crs = grid_of(result)
    store = ReviewStore.of(result)
    for f in review_candidates(result, 0.5):
        if f["properties"]["date"] != "post":
            continue
        m = rasterize([(transform_geom("EPSG:4326", crs, f["geometry"]), 1)], out_shape=truth.shape,
                      transform=transform) > 0
        store.review(f, "confirmed" if (truth & m).sum() > 0.3 * m.sum() else "rejected", "truth")
    report = make_chips(result.folder, tmp_path / "chips", background_per_object=0)
    assert report.val >= 1 and report.train >= 4

    torch.manual_seed(0)
    parent = save_checkpoint(build_model("unet_vanilla", 14, base_channels=4),
                             ModelCard(name="untrained", architecture="unet_vanilla", band_set="l4s14",
                                       bands=list(BANDS), arch_kwargs={"base_channels": 4},
                                       training_config={"alpha": 1.0, "beta": 5.0}),  # a Dice-trained parent
                             tmp_path / "models" / "untrained")
    summary = start_finetune(parent, tmp_path / "chips", epochs=8, lr=0.01, generated_per_chip=0.3, batch_size=2,
                             device="cpu", foreground=True)
    assert summary.state == "finished"
    before, after = held_out_scores(tmp_path / "chips", [parent, summary.best_checkpoint])
    assert after["f1"] > before["f1"], (before, after)
    everything = held_out_scores(tmp_path / "chips", [parent], held_out_only=False)[0]
    assert everything["patches"] == report.total_patches > before["patches"] == report.val

    card = read_card(summary.best_checkpoint)
    lineage = card.lineage
    assert lineage["parent"]["name"] == "untrained" and lineage["parent"]["weights_sha256"]
    assert lineage["before"]["f1"] == pytest.approx(before["f1"]) and lineage["after"]["f1"] == pytest.approx(after["f1"])
    chips = lineage["data"]["finetune"]["chips"]
    assert chips["folder"] == str(tmp_path / "chips") and chips["analyses"] == [result.key]
    assert lineage["data"]["finetune"]["generated"]["patches"] >= 1
    assert lineage["before"]["patches"] == report.val == lineage["data"]["val_patches"]
    assert "fine-tuned from untrained" in card.notes
