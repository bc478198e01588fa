"""Careful file handling shared by the result store, the exports and the scene cache.

- Inputs are read only from regular files with a size bound: a named pipe, ``/dev/zero`` or a
  socket given as a scene, a model or an area file is refused at once instead of hanging.
- Writes go to a temporary file with a unique name beside the target and are renamed into
  place, so readers never see half a file and simultaneous writers never share a temporary.
- :func:`exclusive_lock` is a lock per name across processes and threads (``fcntl.flock`` on
  a lock file: each acquisition opens its own descriptor, so two threads exclude each other
  as two processes do). The lock files are tiny and kept (deleting them would race).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import stat
import time
import uuid
from pathlib import Path
from typing import Iterator, Optional

from .errors import InputError
from .progress import CancelToken, check_cancel

_CHUNK = 8 * 1024 * 1024


def _describe_mode(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def _size_text(n: float) -> str:
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= div:
            return f"{n / div:,.1f} {unit}"
    return f"{int(n)} bytes"


def check_regular_file(path: str | Path, what: str = "The file", max_bytes: Optional[int] = None,
                       error: type = InputError) -> int:
    """The size of ``path`` in bytes, or ``error`` (what was wrong, what to do) when it is
    missing, not a regular file (a pipe, a device, a folder) or larger than ``max_bytes``."""
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise error(f"{what} {p} does not exist.", "Check the path.") from None
    except OSError as exc:
        raise error(f"{what} {p} cannot be read ({exc.strerror}).", "Check the path and its permissions.") from None
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{what} {p} is {_describe_mode(st.st_mode)}, not a regular file.",
                    "Give the path of an ordinary file saved on disk.")
    if max_bytes is not None and st.st_size > max_bytes:
        raise error(f"{what} {p} is {_size_text(st.st_size)}, more than the limit of {_size_text(max_bytes)}.",
                    "Check that this is the right file.")
    return int(st.st_size)


def read_bytes_bounded(path: str | Path, what: str = "The file", max_bytes: int = 10_000_000,
                       error: type = InputError) -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` (checked again while reading, in
    case the file grows)."""
    check_regular_file(path, what, max_bytes, error)
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"{what} {path} cannot be read ({exc.strerror}).", "Check the file and its permissions.") from None
    if len(data) > max_bytes:
        raise error(f"{what} {path} is more than the limit of {_size_text(max_bytes)}.",
                    "Check that this is the right file.")
    return data


def file_checksum(path: str | Path) -> str:
    """BLAKE2b (20 bytes, hex) of a file's bytes."""
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb", buffering=0) as fh:
        buf = bytearray(min(_CHUNK, 1 << 20))
        view = memoryview(buf)
        while True:
            n = fh.readinto(buf)
            if not n:
                break
            h.update(view[:n])
    return h.hexdigest()


def temp_path_for(path: str | Path, suffix: str = "") -> Path:
    """A unique temporary name beside ``path`` (same folder, so a rename is atomic); hidden,
    and ending like ``path`` (plus ``suffix``) so drivers that look at the extension agree."""
    p = Path(path)
    return p.with_name(f".{p.stem}.{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp{p.suffix}{suffix}")


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a unique temporary file and a rename."""
    path = Path(path)
    tmp = temp_path_for(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def ensure_writable_folder(path: str | Path, label: str = "--out") -> Path:
    """Create the folder ``path`` if needed and check that files can be written in it, or raise
    InputError naming it (``label``: how the user gave it, e.g. the option)."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InputError(f"The output path {folder} exists and is not a folder.", f"Give a folder for {label}.") from None
    except OSError as exc:
        raise InputError(f"Cannot create the output folder {folder} ({exc.strerror}).",
                         f"Give a folder you can write to ({label}).") from None
    if not folder.is_dir():
        raise InputError(f"The output path {folder} exists and is not a folder.", f"Give a folder for {label}.")
    probe = folder / f".write-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        probe.write_bytes(b"")
    except OSError as exc:
        raise InputError(f"Cannot write into the output folder {folder} ({exc.strerror}).",
                         f"Give a folder you can write to ({label}).") from None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass
    return folder


def ensure_writable_file(path: str | Path, label: str = "--out") -> Path:
    """Check before any work that ``path`` can be written as a file: its folder is writable
    and it is not a folder itself."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"The output file {p} is a folder.", f"Give a file name for {label}, e.g. results.json.")
    ensure_writable_folder(p.parent if str(p.parent) else Path("."), label)
    return p


@contextlib.contextmanager
def exclusive_lock(lock_path: str | Path, cancel: Optional[CancelToken] = None,
                   poll_s: float = 0.05, timeout_s: Optional[float] = None) -> Iterator[Path]:
    """Hold an exclusive lock named by ``lock_path`` (created if needed) for the ``with`` block.

    Waits for the holder (another process or thread); while waiting checks ``cancel`` and
    gives up with ``TimeoutError`` after ``timeout_s`` (None: no limit).
    """
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        started = time.monotonic()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
            check_cancel(cancel)
            if timeout_s is not None and time.monotonic() - started > timeout_s:
                raise TimeoutError(f"waited more than {timeout_s:.0f} s for {lock_path}")
            time.sleep(poll_s)
        yield lock_path
    finally:
        os.close(fd)  # closing the descriptor releases the lock


__all__ = ["ensure_writable_folder", "ensure_writable_file", "check_regular_file", "read_bytes_bounded", "file_checksum", "temp_path_for", "atomic_write_bytes",
           "atomic_write_text", "exclusive_lock"]
