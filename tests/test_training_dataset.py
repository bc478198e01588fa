"""The Landslide4Sense dataset: layouts, checks with clear messages, splits, augmentation."""
from __future__ import annotations

import json
import logging

import h5py
import numpy as np
import pytest

from landslide_core.bands import BAND_SETS
from landslide_core.errors import InputError
from landslide_core.training.augment import augment_batch, dihedral
from landslide_core.training.dataset import BatchLoader, discover, load_patches, split_names
from landslide_core.training.toydata import write_toy_l4s


def _load(data, bands="l4s14", on_bad="stop", **kw):
    layout = discover(data)
    pairs = [p for ps in layout.subsets.values() for p in ps]
    return load_patches(data, pairs, bands, on_bad, **kw)


def test_reads_the_l4s_layout_in_l4s_units(tmp_path):
    data = write_toy_l4s(tmp_path / "d", 3)
    ps = _load(data)
    assert ps.x.shape == (3, 14, 128, 128) and ps.x.dtype == np.float32
    assert ps.y.shape == (3, 128, 128) and set(np.unique(ps.y)) <= {0, 1}
    with h5py.File(data / "img" / "image_2.h5") as f:
        img = f["img"][()]
    assert np.allclose(ps.x[1], np.moveaxis(img, -1, 0).astype(np.float32))
    assert ps.names == ["image_1", "image_2", "image_3"]


def test_band_subset_by_name(tmp_path):
    data = write_toy_l4s(tmp_path / "d", 2)
    ps = _load(data, "thesis6")
    assert ps.bands == BAND_SETS["thesis6"] and ps.x.shape[1] == 6
    with h5py.File(data / "img" / "image_1.h5") as f:
        img = f["img"][()]
    assert np.allclose(ps.x[0, 3], img[..., 7])  # B8 is the 8th band of the file


def test_non_finite_image_values_become_zero(tmp_path):
    data = write_toy_l4s(tmp_path / "d", 2)
    with h5py.File(data / "img" / "image_1.h5", "r+") as f:
        img = f["img"][()]
        img[5, 6, 2] = np.nan
        img[7, 8, 13] = np.inf
        f["img"][...] = img
    ps = _load(data)
    assert np.isfinite(ps.x).all() and ps.x[0, 2, 5, 6] == 0 and ps.x[0, 13, 7, 8] == 0


def test_official_folder_names_give_the_official_split(tmp_path):
    write_toy_l4s(tmp_path / "rel" / "TrainData", 4, seed=1)
    write_toy_l4s(tmp_path / "rel" / "ValidData", 2, seed=2)
    write_toy_l4s(tmp_path / "rel" / "TestData", 2, seed=3)
    layout = discover(tmp_path / "rel")
    assert set(layout.subsets) == {"train", "valid", "test"}
    pairs = [p for s, ps in layout.subsets.items() if s != "test" for p in ps]
    ps = load_patches(tmp_path / "rel", pairs)
    split = split_names(layout, ps.names)
    assert split.train == [f"TrainData/image_{i}" for i in range(1, 5)]
    assert split.val == ["ValidData/image_1", "ValidData/image_2"]


def test_split_is_deterministic_80_20_and_follows_split_files(tmp_path):
    data = write_toy_l4s(tmp_path / "d", 10)
    layout = discover(data)
    names = [p.name for p in layout.subsets["all"]]
    a, b, c = split_names(layout, names, 0.2, 3), split_names(layout, names, 0.2, 3), split_names(layout, names, 0.2, 4)
    assert a.train == b.train and a.val == b.val and len(a.val) == 2 and len(a.train) == 8
    assert not set(a.train) & set(a.val)
    assert (a.val != c.val) or (a.train != c.train)
    split_file = tmp_path / "split.json"
    split_file.write_text(json.dumps({"train": ["image_1", "image_2.h5", "3"], "val": ["image_4"]}))
    s = split_names(layout, names, split_file=split_file)
    assert s.train == ["image_1", "image_2", "image_3"] and s.val == ["image_4"]
    split_file.write_text(json.dumps({"train": ["image_1"], "val": ["image_99"]}))
    with pytest.raises(InputError, match="image_99"):
        split_names(layout, names, split_file=split_file)


# ---------------------------------------------------------------- bad input, each named


def test_missing_folder_and_empty_folder(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        discover(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="is empty"):
        discover(tmp_path / "empty")
    (tmp_path / "e2" / "img").mkdir(parents=True)
    (tmp_path / "e2" / "mask").mkdir()
    with pytest.raises(InputError, match="No image files"):
        discover(tmp_path / "e2")


def test_different_counts_of_images_and_masks_name_the_files(tmp_path):
    data = write_toy_l4s(tmp_path / "d", 4)
    (data / "mask" / "mask_3.h5").unlink()
    with pytest.raises(InputError) as err:
        discover(data)
    assert "4 images" in str(err.value) and "3 masks" in str(err.value) and "image_3.h5" in str(err.value)


def test_wrong_shapes_are_named(tmp_path):
    data = write_toy_l4s(tmp_path / "d", 4)
    with h5py.File(data / "img" / "image_2.h5", "w") as f:
        f.create_dataset("img", data=np.ones((64, 64, 14)))
    with h5py.File(data / "mask" / "mask_4.h5", "w") as f:
        f.create_dataset("mask", data=np.ones((100, 128), np.uint8))
    with pytest.raises(InputError) as err:
        _load(data)
    msg = str(err.value)
    assert "image_2.h5" in msg and "(64, 64, 14)" in msg and "mask_4.h5" in msg and "2 of 4 files" in msg


def test_wrong_band_count_is_named(tmp_path):
    data = write_toy_l4s(tmp_path / "d", 3)
    with h5py.File(data / "img" / "image_1.h5", "w") as f:
        f.create_dataset("img", data=np.ones((128, 128, 13)))
    with pytest.raises(InputError, match=r"image_1\.h5.*13 bands|image_1\.h5.*\(128, 128, 13\)"):
        _load(data)


def test_corrupt_h5_is_named_and_can_be_skipped(tmp_path, caplog):
    data = write_toy_l4s(tmp_path / "d", 4)
    (data / "img" / "image_3.h5").write_bytes(b"this is not hdf5")
    with pytest.raises(InputError, match=r"image_3\.h5: is not a readable HDF5 file"):
        _load(data)
    with caplog.at_level(logging.WARNING):
        ps = _load(data, on_bad="skip")
    assert ps.names == ["image_1", "image_2", "image_4"]
    assert "image_3.h5" in caplog.text and any("image_3.h5" in str(b) for b in ps.skipped)


def test_nan_in_a_mask_is_an_error_naming_the_file(tmp_path):
    data = write_toy_l4s(tmp_path / "d", 3, mask_dtype="float32")
    with h5py.File(data / "mask" / "mask_2.h5", "r+") as f:
        m = f["mask"][()]
        m[3, 3] = np.nan
        f["mask"][...] = m
    with pytest.raises(InputError, match=r"mask_2\.h5: the mask has 1 NaN"):
        _load(data)


def test_mask_values_other_than_0_1_are_refused(tmp_path):
    data = write_toy_l4s(tmp_path / "d", 2)
    with h5py.File(data / "mask" / "mask_1.h5", "w") as f:
        f.create_dataset("mask", data=np.full((128, 128), 255, np.uint8))
    with pytest.raises(InputError, match=r"mask_1\.h5.*values \[255\]"):
        _load(data)


def test_a_band_set_the_data_lacks(tmp_path):
    data = write_toy_l4s(tmp_path / "d", 2, n_bands=6)  # a 6-band (thesis6) dataset
    assert _load(data, "thesis6").x.shape[1] == 6
    with pytest.raises(InputError) as err:
        _load(data, "l4s14")
    assert "'l4s14'" in str(err.value) and "B1" in str(err.value) and "thesis6" in str(err.value)
    with pytest.raises(InputError, match="Unknown band set 'rgb'"):
        _load(data, "rgb")


# ---------------------------------------------------------------- memory, batches, augmentation


def test_memmap_cache_equals_memory(tmp_path):
    data = write_toy_l4s(tmp_path / "d", 3)
    a = _load(data)
    b = _load(data, cache_path=tmp_path / "cache" / "x.npy")
    assert isinstance(b.x, np.memmap) and np.array_equal(np.asarray(b.x), a.x)


def test_dihedral_group_and_masks_follow_images():
    a = np.arange(2 * 4 * 4).reshape(2, 4, 4)
    outs = {dihedral(a, k).tobytes() for k in range(8)}
    assert len(outs) == 8 and np.array_equal(dihedral(a, 0), a)
    x = np.random.default_rng(0).random((5, 3, 8, 8)).astype(np.float32)
    y = (x[:, 0] > 0.5).astype(np.uint8)
    xa, ya = augment_batch(x, y, np.random.default_rng(1))
    assert np.array_equal(ya, (xa[:, 0] > 0.5).astype(np.uint8))


def test_batches_are_deterministic_per_epoch_and_cover_the_set(tmp_path):
    data = write_toy_l4s(tmp_path / "d", 7)
    ps = _load(data)
    idx = np.arange(7)
    run = lambda epoch, workers: [b for b in BatchLoader(ps, idx, 3, True, True, seed=1, epoch=epoch, workers=workers)]  # noqa: E731
    a, b = run(0, 0), run(0, 2)
    assert [len(x.index) for x in a] == [3, 3, 1]
    assert sorted(np.concatenate([x.index for x in a]).tolist()) == list(range(7))
    for ba, bb in zip(a, b):
        assert np.array_equal(ba.index, bb.index) and bool((ba.x == bb.x).all())
    assert tuple(a[0].x.shape) == (3, 14, 128, 128) and tuple(a[0].y.shape) == (3, 1, 128, 128)


def test_prefetch_keeps_order_with_a_fast_consumer_and_passes_errors():
    from landslide_core.training.dataset import _prefetch

    for workers in (1, 2, 4):
        for _ in range(30):  # a consumer faster than the workers: no lost or reordered items
            assert list(_prefetch(lambda i: i * i, 25, workers)) == [i * i for i in range(25)]

    def bad(i):
        if i == 3:
            raise ValueError("broken batch 3")
        return i

    got = []
    with pytest.raises(ValueError, match="broken batch 3"):
        for v in _prefetch(bad, 10, 2):
            got.append(v)
    assert got == [0, 1, 2]
