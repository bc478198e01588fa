"""Landslide4Sense (L4S) datasets: find, check, decode once into memory, split, batch.

Layouts: ``DIR/img/image_N.h5`` ('img', H x W x 14) with ``DIR/mask/mask_N.h5`` ('mask',
H x W, 0/1), or the official release's ``DIR/TrainData``, ``DIR/ValidData``,
``DIR/TestData``, each with ``img/`` and ``mask/``. Every file's shape and dtype is checked
when the dataset opens; bad files are named and either stop the run or are skipped with a
warning. Image values are in L4S units; non-finite values become 0 (the band contract,
:func:`landslide_core.bands.to_model_input`). NaN in a mask is an error naming the file.

Decoded patches are held as one float32 array (N, bands, H, W) in memory, or in a
memory-mapped ``.npy`` file for large sets, so a batch is a slice and loading never holds
training back.
"""
from __future__ import annotations

import json
import logging
import queue
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np

from ..bands import ALL_BANDS, BAND_SETS, BandScaling, band_set, missing_bands, to_model_input
from ..errors import InputError
from ..patches.split import SPLIT_FILE
from ..progress import CancelToken, ProgressFn, check_cancel
from .augment import augment_batch, radiometric_jitter

log = logging.getLogger(__name__)

#: Official Landslide4Sense folder names -> subset names.
OFFICIAL_SUBSETS = {"traindata": "train", "validdata": "valid", "testdata": "test"}
IMAGE_KEY = "img"
MASK_KEY = "mask"
H5_SUFFIXES = (".h5", ".hdf5")
#: Images whose band names are not stored in an attribute are read by their band count.
BANDS_BY_COUNT: dict[int, tuple[str, ...]] = {14: ALL_BANDS, 6: BAND_SETS["thesis6"]}


@dataclass(frozen=True)
class PatchFiles:
    """One labelled patch: its image and mask files and a name unique in the dataset."""

    name: str
    image: Path
    mask: Optional[Path]


@dataclass
class Layout:
    """The patches found under a data folder, by subset ("all" or train/valid/test)."""

    root: Path
    subsets: dict[str, list[PatchFiles]]

    def labelled(self, subset: str) -> list[PatchFiles]:
        return [p for p in self.subsets.get(subset, []) if p.mask is not None]

    @property
    def official(self) -> bool:
        return "all" not in self.subsets

    def describe(self) -> str:
        parts = [f"{k}: {len(v)} patches ({len(self.labelled(k))} labelled)" for k, v in self.subsets.items()]
        return f"{self.root} ({'; '.join(parts)})"


@dataclass
class BadFile:
    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class PatchSet:
    """Decoded patches: ``x`` float32 (N, bands, H, W) in L4S units, ``y`` uint8 (N, H, W)."""

    x: np.ndarray
    y: np.ndarray
    names: list[str]
    bands: tuple[str, ...]
    skipped: list[BadFile] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, names: Sequence[str]) -> np.ndarray:
        """Indices of ``names`` in this set."""
        pos = {n: i for i, n in enumerate(self.names)}
        return np.array([pos[n] for n in names], dtype=np.int64)


@dataclass
class Split:
    train: list[str]
    val: list[str]
    how: str

    def to_dict(self) -> dict:
        return {"train": self.train, "val": self.val, "how": self.how}


# ---------------------------------------------------------------- discovery


def _h5_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in H5_SUFFIXES)


def _key(stem: str, prefix: str) -> str:
    return re.sub(rf"^{prefix}[_-]?", "", stem, flags=re.IGNORECASE)


def _child(folder: Path, name: str) -> Optional[Path]:
    for p in folder.iterdir():
        if p.is_dir() and p.name.lower() == name:
            return p
    return None


def _pair_folder(folder: Path, prefix: str, require_masks: bool) -> list[PatchFiles]:
    img_dir, mask_dir = _child(folder, "img"), _child(folder, "mask")
    images = _h5_files(img_dir) if img_dir else []
    if not images:
        raise InputError(f"No image files (img/image_N.h5) in {img_dir or folder / 'img'}.",
                         "Give a Landslide4Sense folder: img/image_N.h5 and mask/mask_N.h5.")
    masks = _h5_files(mask_dir) if mask_dir else []
    if not masks:
        if require_masks:
            raise InputError(f"No mask files (mask/mask_N.h5) in {mask_dir or folder / 'mask'} "
                             f"for the {len(images)} images in {img_dir}.",
                             "Training and evaluation need a mask for every image.")
        return [PatchFiles(prefix + p.stem, p, None) for p in images]
    img_by_key = {_key(p.stem, "image"): p for p in images}
    mask_by_key = {_key(p.stem, "mask"): p for p in masks}
    no_mask = sorted(img_by_key[k].name for k in set(img_by_key) - set(mask_by_key))
    no_img = sorted(mask_by_key[k].name for k in set(mask_by_key) - set(img_by_key))
    if no_mask or no_img:
        detail = []
        if no_mask:
            detail.append(f"images without a mask: {', '.join(no_mask[:5])}" + (" ..." if len(no_mask) > 5 else ""))
        if no_img:
            detail.append(f"masks without an image: {', '.join(no_img[:5])}" + (" ..." if len(no_img) > 5 else ""))
        raise InputError(
            f"{img_dir} holds {len(images)} images but {mask_dir} holds {len(masks)} masks; "
            + "; ".join(detail) + ".",
            "Every img/image_N.h5 needs a mask/mask_N.h5 with the same N: add or remove the files named.",
        )
    return [PatchFiles(prefix + img_by_key[k].stem, img_by_key[k], mask_by_key[k])
            for k in sorted(img_by_key, key=_natural)]


def _natural(key: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", key)]


def discover(data_dir: str | Path, require_masks: bool = True) -> Layout:
    """Find the patches under ``data_dir`` (cheap: lists files, opens none)."""
    root = Path(data_dir).expanduser()
    if not root.exists():
        raise InputError(f"The data folder {root} does not exist.", "Check the path.")
    if not root.is_dir():
        raise InputError(f"{root} is not a folder.", "Give the folder that holds img/ and mask/.")
    official = {OFFICIAL_SUBSETS[p.name.lower()]: p for p in root.iterdir()
                if p.is_dir() and p.name.lower() in OFFICIAL_SUBSETS}
    if _child(root, "img") is not None:
        return Layout(root, {"all": _pair_folder(root, "", require_masks)})
    if official:
        subsets: dict[str, list[PatchFiles]] = {}
        for name in ("train", "valid", "test"):
            if name in official:
                # Official validation/test releases may come without masks: keep them unlabelled.
                subsets[name] = _pair_folder(official[name], f"{official[name].name}/", require_masks=False)
        if require_masks and not any(any(p.mask for p in v) for v in subsets.values()):
            raise InputError(f"None of {', '.join(p.name for p in official.values())} in {root} has masks.",
                             "Add the mask/ folders of the release.")
        return Layout(root, subsets)
    if not any(root.iterdir()):
        raise InputError(f"The data folder {root} is empty.",
                         "Put the Landslide4Sense files there: img/image_N.h5 and mask/mask_N.h5 "
                         "(or TrainData/, ValidData/, TestData/ with img/ and mask/).")
    raise InputError(f"The data folder {root} has no img/ folder and no TrainData/ValidData/TestData folders.",
                     "Give a Landslide4Sense folder: img/image_N.h5 and mask/mask_N.h5.")


# ---------------------------------------------------------------- checking


@dataclass
class _Header:
    shape: tuple[int, ...]
    bands: tuple[str, ...]


def _image_header(path: Path) -> _Header | BadFile:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if IMAGE_KEY not in f:
                return BadFile(path, f"has no '{IMAGE_KEY}' dataset (it has: {', '.join(f.keys()) or 'nothing'})")
            ds = f[IMAGE_KEY]
            shape, dtype = tuple(ds.shape), ds.dtype
            names = ds.attrs.get("bands")
    except (OSError, KeyError, ValueError) as exc:
        return BadFile(path, f"is not a readable HDF5 file ({str(exc).splitlines()[0][:120]})")
    if dtype.kind not in "fiu":
        return BadFile(path, f"'{IMAGE_KEY}' has dtype {dtype}; expected numbers (float or integer)")
    if len(shape) != 3:
        return BadFile(path, f"'{IMAGE_KEY}' has shape {shape}; expected (rows, cols, bands) such as (128, 128, 14)")
    if names is not None:
        bands = tuple(str(b.decode() if isinstance(b, bytes) else b) for b in np.atleast_1d(names))
        if len(bands) != shape[2] or missing_bands(bands, ALL_BANDS):
            return BadFile(path, f"its 'bands' attribute {list(bands)} does not name its {shape[2]} bands "
                                 f"with names from {', '.join(ALL_BANDS)}")
    elif shape[2] in BANDS_BY_COUNT:
        bands = BANDS_BY_COUNT[shape[2]]
    else:
        return BadFile(path, f"'{IMAGE_KEY}' has shape {shape}: {shape[2]} bands, expected 14 "
                             "(B1..B12, slope, elevation) or a 'bands' attribute naming them")
    return _Header(shape, bands)


def _mask_problem(path: Path, want_hw: tuple[int, int]) -> Optional[BadFile]:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if MASK_KEY not in f:
                return BadFile(path, f"has no '{MASK_KEY}' dataset (it has: {', '.join(f.keys()) or 'nothing'})")
            shape, dtype = tuple(f[MASK_KEY].shape), f[MASK_KEY].dtype
    except (OSError, KeyError, ValueError) as exc:
        return BadFile(path, f"is not a readable HDF5 file ({str(exc).splitlines()[0][:120]})")
    if dtype.kind not in "biuf":
        return BadFile(path, f"'{MASK_KEY}' has dtype {dtype}; expected 0/1 integers")
    if shape not in (want_hw, want_hw + (1,)):
        return BadFile(path, f"'{MASK_KEY}' has shape {shape}; expected {want_hw} like its image")
    return None


@dataclass
class CheckedFiles:
    good: list[PatchFiles]
    bad: list[BadFile]
    shape: tuple[int, int, int]
    bands: tuple[str, ...]


def check_files(pairs: Sequence[PatchFiles], on_bad: str = "stop", progress: Optional[ProgressFn] = None,
                cancel: Optional[CancelToken] = None) -> CheckedFiles:
    """Open every file's header; check key, dtype and shape (the common shape wins)."""
    if not pairs:
        raise InputError("The dataset has no patches.", "Give a folder with img/ and mask/ files.")
    headers: list[_Header | BadFile] = []
    for i, p in enumerate(pairs):
        check_cancel(cancel)
        headers.append(_image_header(p.image))
        if progress:
            progress(i + 1, len(pairs), "checking files")
    ok_headers = [h for h in headers if isinstance(h, _Header)]
    if not ok_headers:
        bad = [h for h in headers if isinstance(h, BadFile)]
        raise InputError(f"None of the {len(pairs)} image files is usable; first: {bad[0]}.",
                         "Check that they are Landslide4Sense h5 files ('img', 128 x 128 x 14).")
    common_shape = Counter(h.shape for h in ok_headers).most_common(1)[0][0]
    common_bands = Counter(h.bands for h in ok_headers).most_common(1)[0][0]
    good, bad = [], []
    for p, h in zip(pairs, headers):
        if isinstance(h, BadFile):
            bad.append(h)
        elif h.shape != common_shape:
            bad.append(BadFile(p.image, f"'{IMAGE_KEY}' has shape {h.shape}; the other images have {common_shape}"))
        elif h.bands != common_bands:
            bad.append(BadFile(p.image, f"its bands {list(h.bands)} differ from the others' {list(common_bands)}"))
        elif p.mask is not None and (problem := _mask_problem(p.mask, common_shape[:2])):
            bad.append(problem)
        else:
            good.append(p)
    _report_bad(bad, on_bad, len(pairs))
    if not good:
        raise InputError("No usable patches are left after skipping bad files.", "Fix the files named in the log.")
    return CheckedFiles(good, bad, common_shape, common_bands)


def _report_bad(bad: Sequence[BadFile], on_bad: str, total: int) -> None:
    if not bad:
        return
    listing = "; ".join(str(b) for b in bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
    if on_bad == "stop":
        raise InputError(f"{len(bad)} of {total} files are not usable: {listing}.",
                         "Fix or remove them, or skip bad files (on_bad='skip', --skip-bad).")
    for b in bad:
        log.warning("skipping %s", b)


# ---------------------------------------------------------------- decoding


def _read_mask(path: Path) -> np.ndarray | BadFile:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            m = np.asarray(f[MASK_KEY][()])
    except (OSError, KeyError, ValueError) as exc:
        return BadFile(path, f"could not be read ({str(exc).splitlines()[0][:120]})")
    m = m.reshape(m.shape[:2])
    if m.dtype.kind == "f":
        n_bad = int((~np.isfinite(m)).sum())
        if n_bad:
            return BadFile(path, f"the mask has {n_bad} NaN or infinite values; a mask must be 0 or 1 everywhere")
    values = np.unique(m)
    extra = [v for v in values.tolist() if v not in (0, 1)]
    if extra:
        return BadFile(path, f"the mask has values {extra[:5]}; a mask must be 0 (background) or 1 (landslide)")
    return m.astype(np.uint8)


def _read_image(path: Path, stack_bands: Sequence[str], bands: Sequence[str]) -> np.ndarray | BadFile:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            img = np.asarray(f[IMAGE_KEY][()], dtype=np.float32)
    except (OSError, KeyError, ValueError) as exc:
        return BadFile(path, f"could not be read ({str(exc).splitlines()[0][:120]})")
    x, _finite = to_model_input(np.moveaxis(img, -1, 0), stack_bands, bands, units="l4s")
    return x


def estimate_bytes(n: int, n_bands: int, shape_hw: tuple[int, int]) -> int:
    return n * (n_bands * 4 + 1) * shape_hw[0] * shape_hw[1]


def load_patches(
    data_dir: str | Path,
    pairs: Sequence[PatchFiles],
    bands: str | Sequence[str] = "l4s14",
    on_bad: str = "stop",
    cache_path: Optional[Path] = None,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelToken] = None,
) -> PatchSet:
    """Check and decode ``pairs`` into a :class:`PatchSet` of the named band set.

    With ``cache_path``, ``x`` is written to a memory-mapped ``.npy`` file there instead of
    being held in memory.
    """
    names = band_set(bands) if isinstance(bands, str) else tuple(bands)
    checked = check_files(pairs, on_bad, progress, cancel)
    lacking = missing_bands(names, checked.bands)
    if lacking:
        set_label = f"'{bands}' " if isinstance(bands, str) else ""
        fits = [k for k, v in BAND_SETS.items() if not missing_bands(v, checked.bands)]
        raise InputError(
            f"The band set {set_label}needs {', '.join(lacking)}, which the data in {data_dir} lacks "
            f"(it has {', '.join(checked.bands)}).",
            f"Choose a band set the data has: {', '.join(fits) or 'none of the named sets'}.",
        )
    h, w = checked.shape[:2]
    n = len(checked.good)
    if cache_path is not None:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        x = np.lib.format.open_memmap(cache_path, mode="w+", dtype=np.float32, shape=(n, len(names), h, w))
    else:
        x = np.empty((n, len(names), h, w), np.float32)
    y = np.empty((n, h, w), np.uint8)
    bad = list(checked.bad)
    keep = []
    for i, p in enumerate(checked.good):
        check_cancel(cancel)
        xi = _read_image(p.image, checked.bands, names)
        yi = _read_mask(p.mask) if p.mask is not None else np.zeros((h, w), np.uint8)
        problems = [r for r in (xi, yi) if isinstance(r, BadFile)]
        if problems:
            bad.extend(problems)
            if on_bad == "stop":
                _report_bad(problems, on_bad, len(pairs))
            for b in problems:
                log.warning("skipping %s", b)
            continue
        x[len(keep)] = xi
        y[len(keep)] = yi
        keep.append(p.name)
        if progress:
            progress(i + 1, n, "decoding patches")
    if not keep:
        raise InputError("No usable patches are left after skipping bad files.", "Fix the files named in the log.")
    if cache_path is not None:
        x.flush()
        del x
        x = np.load(cache_path, mmap_mode="r")
    x = x[: len(keep)]
    return PatchSet(x, y[: len(keep)], keep, tuple(names), bad)


# ---------------------------------------------------------------- splitting


#: A dataset's own train/validation split, beside img/ and mask/ (written by the patch exporter
#: and by merging): used when no split file is given.
DATASET_SPLIT_FILE = SPLIT_FILE


def split_names(layout: Layout, available: Sequence[str], val_share: float = 0.2, seed: int = 0,
                split_file: Optional[str | Path] = None) -> Split:
    """Train/validation names: from a split file, the dataset's own ``split.json``, the official
    Train/Valid folders, or 80/20 by seed."""
    avail = list(available)
    have = set(avail)
    own = not split_file and not layout.official and (layout.root / DATASET_SPLIT_FILE).is_file()
    if own:
        split_file = layout.root / DATASET_SPLIT_FILE
    if split_file:
        path = Path(split_file)
        try:
            data = json.loads(path.read_text())
            train, val = list(data["train"]), list(data["val"])
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputError(f"The split file {path} is not a JSON object with 'train' and 'val' lists ({exc}).",
                             'Write it as {"train": ["image_1", ...], "val": ["image_7", ...]}.') from None
        train = [_resolve_name(n, have) for n in train]
        val = [_resolve_name(n, have) for n in val]
        if own:  # the dataset's own split also lists patches skipped as bad
            train, val = [n for n in train if n in have], [n for n in val if n in have]
        unknown = [n for n in train + val if n not in have]
        if unknown:
            raise InputError(f"The split file {path} names patches that are not in the data: "
                             f"{', '.join(map(str, unknown[:5]))}.", "Use patch names such as image_12.")
        both = set(train) & set(val)
        if both:
            raise InputError(f"The split file {path} puts patches in both train and val: {', '.join(sorted(both)[:5])}.")
        if not train or not val:
            raise InputError(f"The split file {path} needs at least one train and one val patch.")
        return Split(train, val, f"the dataset's {DATASET_SPLIT_FILE}" if own else f"split file {path}")
    train_official = [p.name for p in layout.labelled("train") if p.name in have]
    val_official = [p.name for p in layout.labelled("valid") if p.name in have]
    if layout.official and train_official and val_official:
        return Split(train_official, val_official, "official TrainData / ValidData")
    pool = [p.name for s, ps in layout.subsets.items() if s != "test" for p in ps if p.name in have]
    if len(pool) < 2:
        raise InputError(f"Training needs at least 2 labelled patches; {layout.root} has {len(pool)}.",
                         "Add more patches.")
    order = np.random.default_rng(seed).permutation(len(pool))
    n_val = min(max(1, int(round(len(pool) * val_share))), len(pool) - 1)
    val = sorted((pool[i] for i in order[:n_val]), key=_natural)
    train = sorted((pool[i] for i in order[n_val:]), key=_natural)
    return Split(train, val, f"{round((1 - val_share) * 100)}/{round(val_share * 100)} split, seed {seed}")


def _resolve_name(name, have: set[str]) -> str:
    """Accept 'image_3', 'image_3.h5' or a bare number '3'."""
    s = Path(str(name)).stem if str(name).lower().endswith(H5_SUFFIXES) else str(name)
    if s in have:
        return s
    for candidate in (f"image_{s}",):
        if candidate in have:
            return candidate
    return s


# ---------------------------------------------------------------- batching


@dataclass
class Batch:
    x: "object"  # torch.Tensor (B, C, H, W) float32
    y: "object"  # torch.Tensor (B, 1, H, W) float32
    index: np.ndarray


class BatchLoader:
    """Batches of a :class:`PatchSet` as torch tensors, gathered (and augmented) ahead of use.

    ``scaling``: the model's input scaling (:class:`~landslide_core.bands.BandScaling`),
    applied to each batch after augmentation, exactly as the predictor applies it.

    ``workers`` background threads prepare the next batches while the model trains on the
    current one (numpy copies release the GIL). ``seed`` and ``epoch`` fix the order and the
    augmentation, so a resumed epoch repeats exactly.
    """

    def __init__(self, patches: PatchSet, indices: np.ndarray, batch_size: int, shuffle: bool,
                 augment: bool, seed: int = 0, epoch: int = 0, workers: int = 1, pin_memory: bool = False,
                 radiometric: float = 0.0, scaling: Optional[BandScaling] = None):
        self.patches = patches
        self.scaling = scaling
        self.radiometric = float(radiometric)
        self.indices = np.asarray(indices, dtype=np.int64)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.rng = np.random.default_rng([seed, epoch, 7])
        self.workers = workers
        self.pin_memory = pin_memory
        order = self.rng.permutation(self.indices) if shuffle else self.indices
        self.batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        # One augmentation seed per batch, drawn up front: the result does not depend on threads.
        self.batch_seeds = self.rng.integers(0, 2**63 - 1, size=len(self.batches))

    def __len__(self) -> int:
        return len(self.batches)

    def _make(self, i: int) -> Batch:
        import torch

        idx = self.batches[i]
        sorted_idx = np.sort(idx)
        x = np.asarray(self.patches.x[sorted_idx])
        y = np.asarray(self.patches.y[sorted_idx])
        if self.augment:
            rng = np.random.default_rng(int(self.batch_seeds[i]))
            x, y = augment_batch(x, y, rng)
            if self.radiometric > 0:
                x = radiometric_jitter(x, self.patches.bands, rng, self.radiometric)
        if self.scaling is not None:  # last, on L4S units, as at inference (bands.to_model_input)
            x = self.scaling.apply(x, self.patches.bands)
        xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        yt = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))[:, None]
        if self.pin_memory:
            xt, yt = xt.pin_memory(), yt.pin_memory()
        return Batch(xt, yt, sorted_idx)

    def __iter__(self) -> Iterator[Batch]:
        if self.workers <= 0:
            for i in range(len(self.batches)):
                yield self._make(i)
            return
        yield from _prefetch(self._make, len(self.batches), self.workers)


def _prefetch(make, n: int, workers: int, depth: int = 2) -> Iterator[Batch]:
    """Yield make(0..n-1) in order, computed by ``workers`` threads up to ``depth`` batches ahead."""
    slots: list[Optional[queue.Queue]] = [queue.Queue(maxsize=1) for _ in range(n)]
    ahead = threading.Semaphore(workers + depth)
    stop = threading.Event()
    counter = iter(range(n))
    counter_lock = threading.Lock()

    def run() -> None:
        while not stop.is_set():
            while not ahead.acquire(timeout=0.1):
                if stop.is_set():
                    return
            with counter_lock:
                i = next(counter, None)
            if i is None:
                ahead.release()
                return
            slot = slots[i]  # the consumer drops a slot only after taking its item
            try:
                item = (make(i), None)
            except BaseException as exc:  # handed to the consumer, raised there
                item = (None, exc)
            slot.put(item)

    threads = [threading.Thread(target=run, daemon=True, name=f"batch-loader-{k}") for k in range(workers)]
    for t in threads:
        t.start()
    try:
        for i in range(n):
            while True:
                try:
                    item, exc = slots[i].get(timeout=1.0)
                    break
                except queue.Empty:
                    if not any(t.is_alive() for t in threads):  # never expected: fail, do not hang
                        raise RuntimeError(f"The batch threads ended before batch {i} was made.") from None
            slots[i] = None
            ahead.release()
            if exc is not None:
                raise exc
            yield item
    finally:
        stop.set()
