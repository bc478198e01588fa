"""The disk cache of fetched scenes: one scene GeoTIFF per key, written atomically.

Each entry is ``<key>.tif`` plus ``<key>.json`` (its size and BLAKE2b checksum). ``get``
checks both, so a truncated or corrupt file is removed and reported as a miss (and then
fetched again). ``put`` renames a finished temporary file into place, so readers never see
half a file. Least recently used entries are evicted above a size cap; each hit stamps the
file's access time explicitly (mount options often stop the kernel from doing it).

Several processes share one cache folder:
- a lock per key (``.locks/<key>.lock``) makes fetching single-flight: of many simultaneous
  fetches of one key, one produces the file and the others wait for it and get a hit;
- ``put`` swaps the file and its manifest under that lock, and a reader that finds an entry
  inconsistent checks again under the lock before removing it, so an entry being replaced is
  never taken for a damaged one;
- :func:`pin_scene` marks an entry as in use (a shared lock on ``.pins/<key>.lock``) and
  eviction skips pinned entries: an analysis keeps its "before" scene while it fetches the
  "after" one, whatever the cap.

Default folder: env ``LANDSLIDE_CACHE_DIR`` or ``~/.cache/landslide-monitor``; default cap:
env ``LANDSLIDE_CACHE_MAX_GB`` (a number of gigabytes >= 0) or 10 GB.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import math
import os
import re
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from ..errors import InputError, SourceError
from ..fileio import exclusive_lock, file_checksum
from ..progress import CancelToken
from ..scene import RawScene, SceneReader, write_scene
from .base import FetchedScene
from .request import stable_hash

log = logging.getLogger(__name__)

DEFAULT_MAX_GB = 10.0
MAX_GB_ENV = "LANDSLIDE_CACHE_MAX_GB"
_KEY_RE = re.compile(r"[A-Za-z0-9_.-]{8,128}")
LOCKS_DIR = ".locks"
PINS_DIR = ".pins"


def default_cache_root() -> Path:
    env = os.environ.get("LANDSLIDE_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "landslide-monitor"


def default_max_bytes() -> int:
    """The cap from env ``LANDSLIDE_CACHE_MAX_GB`` (default 10); anything but a finite number
    >= 0 is refused with a message (not silently replaced by the default)."""
    text = os.environ.get(MAX_GB_ENV)
    if text is None or not text.strip():
        return int(DEFAULT_MAX_GB * 1e9)
    try:
        gb = float(text.strip())
    except ValueError:
        gb = float("nan")
    if not math.isfinite(gb) or gb < 0 or gb > 1e6:
        raise InputError(f"{MAX_GB_ENV}={text!r} is not a usable scene cache size: it must be a number of "
                         "gigabytes from 0 to 1000000.",
                         f"Set it to e.g. {MAX_GB_ENV}=10, or unset it for the default of {DEFAULT_MAX_GB:g} GB.")
    return int(gb * 1e9)


def scene_key(source_name: str, source_version: str, fields: dict[str, Any], window: Any,
              grid_key: dict[str, Any], extra: Optional[dict[str, Any]] = None) -> str:
    """Cache key: hash of the pixel-affecting request fields, window, source and grid."""
    return stable_hash({"source": source_name, "version": source_version, "request": fields,
                        "window": window, "grid": grid_key, "extra": extra or {}})[:40]


class SceneCache:
    """A size-capped LRU folder of scene GeoTIFFs."""

    def __init__(self, root: Optional[Path] = None, max_bytes: Optional[int] = None):
        self.root = Path(root) if root is not None else default_cache_root()
        self.max_bytes = int(max_bytes) if max_bytes is not None else default_max_bytes()

    # --- paths -----------------------------------------------------------------------------
    def _check_key(self, key: str) -> str:
        if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
            raise ValueError(f"bad cache key {key!r}")
        return key

    def _key_lock(self, key: str, cancel: Optional[CancelToken] = None):
        """The lock of one key: held while its entry is produced, replaced or removed."""
        return exclusive_lock(self.root / LOCKS_DIR / f"{self._check_key(key)}.lock", cancel=cancel)

    def path_for(self, key: str) -> Path:
        return self.root / f"{self._check_key(key)}.tif"

    def _manifest(self, key: str) -> Path:
        return self.root / f"{self._check_key(key)}.json"

    def temp_path(self, suffix: str = ".tif") -> Path:
        """A fresh temporary path inside the cache folder (same disk, so rename is atomic)."""
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root / f".tmp-{uuid.uuid4().hex}{suffix}"

    # --- get / put -------------------------------------------------------------------------
    def get(self, key: str) -> Optional[Path]:
        """The entry's path if present and intact; a damaged entry is removed (None).

        An entry that looks inconsistent is checked again under the key's lock before it is
        removed: another process may be replacing it right now (file and manifest are two
        renames), and then the second look sees it whole."""
        path, manifest = self.path_for(key), self._manifest(key)
        if not path.exists() and not manifest.exists():
            return None
        if self._problem(path, manifest) is not None:
            with self._key_lock(key):
                if not path.exists():
                    manifest.unlink(missing_ok=True)
                    return None
                problem = self._problem(path, manifest)
                if problem:
                    log.warning("cache entry %s is damaged (%s); fetching it again", path.name, problem)
                    self._remove_unlocked(key)
                    return None
        now = time.time()
        try:
            os.utime(path, (now, path.stat().st_mtime))
        except OSError:
            pass
        return path

    def _problem(self, path: Path, manifest: Path) -> Optional[str]:
        try:
            meta = json.loads(manifest.read_text())
        except (OSError, json.JSONDecodeError):
            return "no readable manifest"
        if not isinstance(meta, dict):
            return "no readable manifest"
        try:
            size = path.stat().st_size
        except OSError as exc:
            return str(exc)
        if size != meta.get("size_bytes"):
            return f"size {size} bytes, expected {meta.get('size_bytes')} (truncated?)"
        if file_checksum(path) != meta.get("blake2b"):
            return "checksum mismatch (corrupt)"
        return None

    def put(self, key: str, tmp_path: Path) -> Path:
        """Move a finished file into the cache under ``key`` (atomic rename); evict if needed."""
        with self._key_lock(key):
            path = self._put_locked(key, Path(tmp_path))
        self.evict(keep=key)
        return path

    def _put_locked(self, key: str, tmp_path: Path) -> Path:
        path, manifest = self.path_for(key), self._manifest(key)
        self.root.mkdir(parents=True, exist_ok=True)
        _check_geotiff(tmp_path)
        meta = {"key": key, "size_bytes": tmp_path.stat().st_size, "blake2b": file_checksum(tmp_path),
                "created": time.time()}
        fd, tmp_manifest = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(meta, fh)
        if tmp_path.parent.resolve() != self.root.resolve():
            staged = self.temp_path()
            if _same_device(tmp_path, self.root):
                os.replace(tmp_path, staged)
            else:
                _copy(tmp_path, staged)
            tmp_path = staged
        os.replace(tmp_manifest, manifest)
        os.replace(tmp_path, path)
        return path

    def get_or_create(self, key: str, produce: Callable[[Path], Any],
                      cancel: Optional[CancelToken] = None) -> tuple[Path, bool]:
        """``(path, from_cache)``: a hit, or ``produce(tmp_path)`` writes the file and it is cached.

        Single-flight across processes: while one caller produces a key, the others wait for
        its lock (checking ``cancel``) and then get the file it made."""
        hit = self.get(key)
        if hit is not None:
            return hit, True
        with self._key_lock(key, cancel=cancel):
            hit = self._get_unlocked(key)
            if hit is not None:
                return hit, True
            tmp = self.temp_path()
            try:
                produce(tmp)
                if not tmp.exists():
                    raise SourceError("The source produced no file.", "This is a bug: please report it.")
                path = self._put_locked(key, tmp)
            finally:
                tmp.unlink(missing_ok=True)
                for partial in self.root.glob(tmp.name + "*"):
                    partial.unlink(missing_ok=True)
        self.evict(keep=key)
        return path, False

    def _get_unlocked(self, key: str) -> Optional[Path]:
        """``get`` for a caller that holds the key's lock."""
        path, manifest = self.path_for(key), self._manifest(key)
        if not path.exists():
            manifest.unlink(missing_ok=True)
            return None
        problem = self._problem(path, manifest)
        if problem:
            log.warning("cache entry %s is damaged (%s); fetching it again", path.name, problem)
            self._remove_unlocked(key)
            return None
        return path

    def fetch_scene(self, key: str, make_scene: Callable[[], RawScene],
                    cancel: Optional[CancelToken] = None) -> FetchedScene:
        """A cached scene GeoTIFF with its provenance: a hit (provenance read from the file), or
        ``make_scene()`` is called and its scene written, cached and returned."""
        made: dict[str, Any] = {}

        def produce(tmp_path: Path) -> None:
            scene = make_scene()
            made.update(scene.provenance)
            write_scene(tmp_path, scene, cancel)

        for _ in range(3):  # a hit evicted by another process before it is opened: fetch again
            path, hit = self.get_or_create(key, produce, cancel=cancel)
            if not hit:
                return FetchedScene(path, made, False)
            provenance = _provenance_of(path)
            if provenance is not None:
                return FetchedScene(path, provenance, True)
        raise SourceError(f"The cached scene {key} keeps disappearing right after it is fetched.",
                          "The scene cache is too small for the analyses running now: raise LANDSLIDE_CACHE_MAX_GB.")

    def fetch_file(self, key: str, write_scene_file: Callable[[Path], Any],
                   cancel: Optional[CancelToken] = None) -> FetchedScene:
        """Like :meth:`fetch_scene` for sources that write the scene GeoTIFF themselves (by
        windows, so memory stays bounded); the provenance is read from the file."""
        for _ in range(3):  # a hit evicted by another process before it is opened: fetch again
            path, hit = self.get_or_create(key, write_scene_file, cancel=cancel)
            provenance = _provenance_of(path)
            if provenance is not None:
                return FetchedScene(path, provenance, hit)
        raise SourceError(f"The cached scene {key} keeps disappearing right after it is fetched.",
                          "The scene cache is too small for the analyses running now: raise LANDSLIDE_CACHE_MAX_GB.")

    def remove(self, key: str) -> None:
        with self._key_lock(key):
            self._remove_unlocked(key)

    def _remove_unlocked(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)
        self._manifest(key).unlink(missing_ok=True)

    # --- size ------------------------------------------------------------------------------
    def entries(self) -> list[tuple[str, int, float]]:
        """(key, bytes, last access time) of each entry."""
        out = []
        if not self.root.exists():
            return out
        for p in self.root.glob("*.tif"):
            if p.name.startswith(".tmp-"):
                continue
            try:
                st = p.stat()
            except OSError:
                continue
            out.append((p.stem, st.st_size, max(st.st_atime, st.st_mtime)))
        return out

    def size_bytes(self) -> int:
        return sum(size for _, size, _ in self.entries())

    def evict(self, keep: Optional[str] = None) -> list[str]:
        """Remove least recently used entries until the total is under the cap. Entries in use
        (pinned by :func:`pin_scene`, or being written) are kept, even above the cap."""
        entries = sorted(self.entries(), key=lambda e: e[2])
        total = sum(e[1] for e in entries)
        removed = []
        for key, size, _ in entries:
            if total <= self.max_bytes:
                break
            if key == keep or not _KEY_RE.fullmatch(key):
                continue
            if self._evict_one(key):
                total -= size
                removed.append(key)
        return removed

    def _evict_one(self, key: str) -> bool:
        """Remove one entry unless it is pinned or locked by another user; True if removed."""
        with _try_flock(self.root / LOCKS_DIR / f"{key}.lock") as got_key:
            if not got_key:
                return False
            with _try_flock(self.root / PINS_DIR / f"{key}.lock") as got_pin:
                if not got_pin:
                    return False
                self._remove_unlocked(key)
                return True

    def clear(self) -> None:
        for key, _, _ in self.entries():
            if _KEY_RE.fullmatch(key):
                self.remove(key)


@contextlib.contextmanager
def _try_flock(lock_path: Path, shared: bool = False) -> Iterator[bool]:
    """Try to take a lock without waiting; yields whether it was taken."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            got = True
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            got = False
        yield got
    finally:
        os.close(fd)


@contextlib.contextmanager
def pin_scene(path: str | Path) -> Iterator[None]:
    """Keep a cached scene from being evicted for the ``with`` block (a shared lock on its pin
    file, across processes). A path that is not a cache entry is left alone."""
    path = Path(path)
    if path.suffix != ".tif" or not _KEY_RE.fullmatch(path.stem) or not path.with_suffix(".json").exists():
        yield
        return
    lock_path = path.parent / PINS_DIR / f"{path.stem}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # waits only while an eviction of this entry is under way
        yield
    finally:
        os.close(fd)


def _provenance_of(path: Path) -> Optional[dict]:
    """The provenance stored in a cached scene, or None when the file is gone (evicted)."""
    if not path.exists():
        return None
    try:
        with SceneReader(path) as reader:
            return dict(reader.provenance)
    except InputError:
        if not path.exists():
            return None
        raise


def _check_geotiff(path: Path) -> None:
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path) as ds:
            ds.read(1, window=((ds.height - 1, ds.height), (0, ds.width)))
    except (RasterioIOError, OSError) as exc:
        raise SourceError(f"The fetched scene could not be read back ({exc}).",
                          "Try again; if it repeats, clear the cache folder.") from None


def _same_device(a: Path, b: Path) -> bool:
    try:
        return a.stat().st_dev == b.stat().st_dev
    except OSError:
        return False


def _copy(src: Path, dst: Path) -> None:
    import shutil

    shutil.copyfile(src, dst)
    src.unlink(missing_ok=True)
