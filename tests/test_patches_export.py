"""The patch exporter: a labelled ROI's patches are the band contract applied to its scene and the
drawn polygons rasterised; flagged ROIs stay out; the split is deterministic; merging keeps splits;
training reads the export as it is."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from pyproj import Transformer

from landslide_core.bands import ALL_BANDS, L4S_SCALE
from landslide_core.datasets import DatasetSpec, DatasetStore, RoiLabel, roi_at
from landslide_core.datasets.export import export_dataset
from landslide_core.errors import InputError
from landslide_core.patches import PatchExporter, assign_split, merge_datasets, patch_windows
from landslide_core.scene import RawScene, write_scene
from landslide_core.training.dataset import discover, load_patches, split_names
from landslide_core.training.toydata import write_toy_l4s

from conftest import make_raw_scene


def _store(tmp_path, n_rois=3):
    store = DatasetStore.create(tmp_path / "ds", DatasetSpec("test set", window=("2020-04-01", "2020-04-30")))
    rois = [roi_at(-75.40 + 0.05 * k, -11.30, 1500, "test") for k in range(n_rois)]
    store.add_rois(rois)
    return store, rois


def _write_roi_scene(store, roi, seed=0):
    """A 14-band scene (slope included) on the ROI's grid; one NaN pixel and one cloudy pixel."""
    g = roi.grid()
    s = make_raw_scene(g.height, g.width, seed=seed, with_slope=True)
    data = s.data.copy()
    data[3, 60, 70] = np.nan          # not finite: 0 in the patch
    valid = np.ones((g.height, g.width), bool)
    valid[80, 90] = False             # cloud: keeps its values, as in real Landslide4Sense patches
    scene = RawScene(data, s.band_names, valid, g.transform, g.crs, {"source": "test", "scenes": []})
    path = store.scene_path(roi.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_scene(path, scene)
    store.write_fetch_record(roi.id, {"roi": roi.id, "source": "test",
                                      "scenes": {"post": {"scene_ids": [f"S2_{seed}"], "dates": ["2020-04-10"]}}})
    return data


def _pixel_box_lonlat(roi, row0, col0, rows, cols):
    """A polygon (lon/lat) whose edges are the pixel edges of rows row0.., cols col0.. of the ROI grid."""
    g = roi.grid()
    t = g.transform
    to_ll = Transformer.from_crs(g.crs, "EPSG:4326", always_xy=True)
    corners = [(col0, row0), (col0 + cols, row0), (col0 + cols, row0 + rows), (col0, row0 + rows), (col0, row0)]
    ring = [list(to_ll.transform(*(t * c))) for c in corners]
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}, "properties": {}}


def test_exported_patch_is_the_band_contract_of_the_scene_and_the_drawn_polygons(tmp_path):
    store, rois = _store(tmp_path, 1)
    roi = rois[0]
    raw = _write_roi_scene(store, roi)
    store.save_label(RoiLabel(roi.id, "labelled", [_pixel_box_lonlat(roi, 30, 20, 20, 20),
                                                   _pixel_box_lonlat(roi, 100, 100, 5, 12)], labeller="ana"))
    manifest = export_dataset(store, tmp_path / "out")
    [rec] = manifest["patches"]
    assert rec["roi"] == roi.id and rec["labeller"] == "ana" and rec["scene_ids"] == ["S2_0"]
    assert rec["window"] == {"row": 11, "col": 11, "height": 128, "width": 128}  # the centre of 150 px
    with h5py.File(tmp_path / "out" / rec["image"]) as f:
        img = f["img"][()]
        assert [b.decode() for b in f["img"].attrs["bands"]] == list(ALL_BANDS)
    with h5py.File(tmp_path / "out" / rec["mask"]) as f:
        mask = f["mask"][()]
    assert img.shape == (128, 128, 14) and img.dtype == np.float32
    expected = np.moveaxis(raw[:, 11:139, 11:139], 0, -1) / L4S_SCALE.astype(np.float32)
    expected = np.where(np.isfinite(expected), expected, 0.0)
    np.testing.assert_allclose(img, expected, rtol=1e-6)
    assert img[60 - 11, 70 - 11, 3] == 0.0                                   # NaN -> 0
    assert img[80 - 11, 90 - 11, 0] == pytest.approx(raw[0, 80, 90] / L4S_SCALE[0])  # cloud kept
    want = np.zeros((150, 150), np.uint8)
    want[30:50, 20:40] = 1
    want[100:105, 100:112] = 1
    np.testing.assert_array_equal(mask, want[11:139, 11:139])
    assert rec["landslide_px"] == int(want[11:139, 11:139].sum()) and rec["invalid_px"] == 2
    # training reads the export as it is, with the dataset's own split
    layout = discover(tmp_path / "out")
    patches = load_patches(tmp_path / "out", layout.subsets["all"], "l4s14")
    np.testing.assert_allclose(patches.x[0], np.moveaxis(expected, -1, 0), rtol=1e-6)


def test_flagged_skipped_and_unlabelled_rois_stay_out(tmp_path):
    store, rois = _store(tmp_path, 4)
    for k, roi in enumerate(rois):
        _write_roi_scene(store, roi, seed=k)
    box = _pixel_box_lonlat(rois[0], 40, 40, 10, 10)
    store.save_label(RoiLabel(rois[0].id, "labelled", [box]))
    store.save_label(RoiLabel(rois[1].id, "labelled", [box], flags=["cloud"]))
    store.save_label(RoiLabel(rois[2].id, "skipped"))
    manifest = export_dataset(store, tmp_path / "out")
    assert [r["roi"] for r in manifest["patches"]] == [rois[0].id]
    reasons = {e["group"]: e["reason"] for e in manifest["excluded"]}
    assert reasons == {rois[1].id: "flagged: cloud", rois[2].id: "skipped", rois[3].id: "not labelled yet"}
    assert sorted(p.name for p in (tmp_path / "out" / "img").iterdir()) == ["image_1.h5"]
    # a single group all goes to train; the summary counts the exportable one
    assert store.summary()["exportable"] == 1 and store.summary()["flagged"] == 1
    with pytest.raises(InputError, match="already holds"):
        export_dataset(store, tmp_path / "out")


def test_the_split_is_by_group_deterministic_and_stable_when_groups_are_added():
    groups = [f"roi-{k}" for k in range(40)]
    a = assign_split(groups, 0.2, seed=1)
    assert a == assign_split(list(reversed(groups)), 0.2, seed=1)
    more = assign_split(groups + [f"new-{k}" for k in range(20)], 0.2, seed=1)
    assert all(more[g] == a[g] for g in groups)
    share = sum(v == "val" for v in more.values()) / len(more)
    assert 0.08 < share < 0.35
    assert set(assign_split(["a", "b"], 0.2).values()) == {"train", "val"}  # both sides, even with two


def test_append_keeps_numbering_and_earlier_splits(tmp_path):
    store, rois = _store(tmp_path, 3)
    for k, roi in enumerate(rois):
        _write_roi_scene(store, roi, seed=k)
        store.save_label(RoiLabel(roi.id, "labelled" if k < 2 else "todo"))
    first = export_dataset(store, tmp_path / "out")
    sides = {r["roi"]: (r["name"], r["split"]) for r in first["patches"]}
    store.save_label(RoiLabel(rois[2].id, "labelled"))
    second = export_dataset(store, tmp_path / "out", append=True)
    after = {r["roi"]: (r["name"], r["split"]) for r in second["patches"]}
    assert {k: after[k] for k in sides} == sides
    assert after[rois[2].id][0] == "image_3"
    split = json.loads((tmp_path / "out" / "split.json").read_text())
    assert sorted(split["train"] + split["val"]) == ["image_1", "image_2", "image_3"]


def test_windows_around_polygons_on_a_large_scene(tmp_path):
    """The review of detections on a whole scene: one patch around each reviewed polygon."""
    from landslide_core.patches import windows_around

    roi = roi_at(-75.4, -11.3, 4000)  # a 400 px scene
    g = roi.grid()
    polys = [_pixel_box_lonlat(roi, 200, 200, 10, 10), _pixel_box_lonlat(roi, 203, 205, 4, 4),
             _pixel_box_lonlat(roi, 2, 390, 5, 5)]
    wins = windows_around(polys, g.transform, g.crs, g.height, g.width)
    assert [(int(w.row_off), int(w.col_off)) for w in wins] == [(141, 141), (141, 143), (0, 272)]
    s = make_raw_scene(g.height, g.width, seed=1, with_slope=True)
    path = write_scene(tmp_path / "scene.tif", RawScene(s.data, s.band_names, s.valid, g.transform, g.crs, {}))
    exporter = PatchExporter(tmp_path / "review")
    recs = exporter.add(path, polys, "scene-1", {"review": "accepted"}, windows=wins)
    manifest = exporter.finish()
    assert [r["landslide_px"] for r in recs] == [100, 100, 25]  # the small box lies inside the big one and manifest["patches"][0]["review"] == "accepted"


def test_patch_windows_and_bad_windows(tmp_path):
    assert [(int(w.row_off), int(w.col_off)) for w in patch_windows(150, 150)] == [(11, 11)]
    assert len(patch_windows(300, 280)) == 4
    with pytest.raises(InputError, match="smaller than one"):
        patch_windows(100, 150)
    store, rois = _store(tmp_path, 1)
    _write_roi_scene(store, rois[0])
    from rasterio.windows import Window

    exporter = PatchExporter(tmp_path / "p")
    with pytest.raises(InputError, match="outside the scene"):
        exporter.add(store.scene_path(rois[0].id), [], "g", windows=[Window(100, 100, 128, 128)])
    with pytest.raises(InputError, match="not a polygon"):
        exporter.add(store.scene_path(rois[0].id), [{"type": "Point", "coordinates": [0, 0]}], "g")
    with pytest.raises(InputError, match="No patch was exported"):
        exporter.finish()


def test_merge_keeps_each_sources_split_and_training_uses_it(tmp_path):
    store, rois = _store(tmp_path, 3)
    for k, roi in enumerate(rois):
        _write_roi_scene(store, roi, seed=k)
        store.save_label(RoiLabel(roi.id, "labelled"))
    export_dataset(store, tmp_path / "pe")
    pe_split = json.loads((tmp_path / "pe" / "split.json").read_text())
    with pytest.raises(InputError, match="distinct"):
        merge_datasets([tmp_path / "pe", tmp_path / "pe"], tmp_path / "bad", names=["A", "A"])
    l4s128 = write_toy_l4s(tmp_path / "l4s128", 10, seed=1)
    manifest = merge_datasets([l4s128, tmp_path / "pe"], tmp_path / "merged", names=["L4S", "L4S-PE"], seed=0)
    assert len(manifest["patches"]) == 13
    own = split_names(discover(l4s128), [f"image_{k}" for k in range(1, 11)], 0.2, 0)
    by_source = {(r["source"], r["source_patch"]): r["split"] for r in manifest["patches"]}
    assert {n for (s, n), side in by_source.items() if s == "L4S" and side == "val"} == set(own.val)
    assert {n for (s, n), side in by_source.items() if s == "L4S-PE" and side == "val"} == set(pe_split["val"])
    assert all(r.get("roi") for r in manifest["patches"] if r["source"] == "L4S-PE")  # provenance carried
    layout = discover(tmp_path / "merged")
    names = [p.name for p in layout.subsets["all"]]
    split = split_names(layout, names)
    assert "split.json" in split.how and len(split.val) == len(own.val) + len(pe_split["val"])
    with pytest.raises(InputError, match="not empty"):
        merge_datasets([l4s128], tmp_path / "merged")
