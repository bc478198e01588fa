"""The disk cache of fetched scenes: one scene GeoTIFF per key, written atomically.

Each entry is ``<key>.tif`` plus ``<key>.json`` (its size and BLAKE2b checksum). ``get``
checks both, so a truncated or corrupt file is removed and reported as a miss (and then
fetched again). ``put`` renames a finished temporary file into place, so readers never see
half a file. Least recently used entries are evicted above a size cap; each hit stamps the
file's access time explicitly (mount options often stop the kernel from doing it).

Default folder: env ``LANDSLIDE_CACHE_DIR`` or ``~/.cache/landslide-monitor``; default cap:
env ``LANDSLIDE_CACHE_MAX_GB`` or 10 GB.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Optional

from ..errors import SourceError
from ..scene import RawScene, SceneReader, write_scene
from .base import FetchedScene
from .request import stable_hash

log = logging.getLogger(__name__)

DEFAULT_MAX_GB = 10.0
_KEY_RE = re.compile(r"^[A-Za-z0-9_.-]{8,128}$")
_CHUNK = 8 * 1024 * 1024


def default_cache_root() -> Path:
    env = os.environ.get("LANDSLIDE_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "landslide-monitor"


def default_max_bytes() -> int:
    try:
        gb = float(os.environ.get("LANDSLIDE_CACHE_MAX_GB", DEFAULT_MAX_GB))
    except ValueError:
        gb = DEFAULT_MAX_GB
    return int(gb * 1e9)


def file_checksum(path: Path) -> str:
    """BLAKE2b of the file's bytes (hex)."""
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb", buffering=0) as fh:
        buf = bytearray(_CHUNK)
        view = memoryview(buf)
        while True:
            n = fh.readinto(buf)
            if not n:
                break
            h.update(view[:n])
    return h.hexdigest()


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
        if not _KEY_RE.match(key):
            raise ValueError(f"bad cache key {key!r}")
        return key

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
        """The entry's path if present and intact; a damaged entry is removed (None)."""
        path, manifest = self.path_for(key), self._manifest(key)
        if not path.exists():
            if manifest.exists():
                manifest.unlink(missing_ok=True)
            return None
        problem = self._problem(path, manifest)
        if problem:
            log.warning("cache entry %s is damaged (%s); fetching it again", path.name, problem)
            self.remove(key)
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
        tmp_path = Path(tmp_path)
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
        self.evict(keep=key)
        return path

    def get_or_create(self, key: str, produce: Callable[[Path], Any]) -> tuple[Path, bool]:
        """``(path, from_cache)``: a hit, or ``produce(tmp_path)`` writes the file and it is cached."""
        hit = self.get(key)
        if hit is not None:
            return hit, True
        tmp = self.temp_path()
        try:
            produce(tmp)
            if not tmp.exists():
                raise SourceError("The source produced no file.", "This is a bug: please report it.")
            return self.put(key, tmp), False
        finally:
            tmp.unlink(missing_ok=True)
            for partial in self.root.glob(tmp.name + "*"):
                partial.unlink(missing_ok=True)

    def fetch_scene(self, key: str, make_scene: Callable[[], RawScene]) -> FetchedScene:
        """A cached scene GeoTIFF with its provenance: a hit (provenance read from the file), or
        ``make_scene()`` is called and its scene written, cached and returned."""
        made: dict[str, Any] = {}

        def produce(tmp_path: Path) -> None:
            scene = make_scene()
            made.update(scene.provenance)
            write_scene(tmp_path, scene)

        path, hit = self.get_or_create(key, produce)
        if hit:
            with SceneReader(path) as reader:
                return FetchedScene(path, dict(reader.provenance), True)
        return FetchedScene(path, made, False)

    def remove(self, key: str) -> None:
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
        """Remove least recently used entries until the total is under the cap."""
        entries = sorted(self.entries(), key=lambda e: e[2])
        total = sum(e[1] for e in entries)
        removed = []
        for key, size, _ in entries:
            if total <= self.max_bytes:
                break
            if key == keep:
                continue
            self.remove(key)
            total -= size
            removed.append(key)
        return removed

    def clear(self) -> None:
        for key, _, _ in self.entries():
            self.remove(key)


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
