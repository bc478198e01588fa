"""The result store: one folder per finished analysis, checked before it is reused.

Each analysis lives in ``<results root>/<key>/`` (the key is a hash of everything that decides
its pixels; see ``analysis.analysis_key``). ``done.json`` is written last and records, besides
what the analysis found, the size and BLAKE2b checksum of every file the analysis wrote, so a
folder is *finished* when ``done.json`` is readable and *intact* when every file still matches.

- :func:`find_cached` returns a finished, intact result, or None: a damaged one (unreadable
  ``done.json``, a truncated or changed raster) counts as missing, and the analysis is run
  again.
- :func:`publish` renames a new result folder into place under a lock per key: when another
  session finished the same analysis first, its intact result is kept; a damaged folder in
  the way is replaced.
- :func:`load_result` reads a result for viewing (sizes checked; ``verify="full"`` also checks
  the checksums); :func:`list_results` lists the intact ones, newest first.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .errors import InputError
from .fileio import atomic_write_text, exclusive_lock, file_checksum

log = logging.getLogger(__name__)

DONE_FILE = "done.json"
RESULT_VERSION = 2  # 2: per-object change with evidence.tif (co-registration, spectra, rules)
#: Sub-folders and files of a result folder that are not part of the analysis itself.
EXPORTS_DIR = "exports"
LOCKS_DIR = ".locks"


def default_results_root() -> Path:
    """env ``LANDSLIDE_RESULTS_DIR``, else ``analyses/`` in the scene cache folder."""
    env = os.environ.get("LANDSLIDE_RESULTS_DIR")
    if env:
        return Path(env).expanduser()
    from .sources.cache import default_cache_root

    return default_cache_root() / "analyses"


@dataclass
class AnalysisResult:
    """A finished analysis: where its files are, what it found and where its data came from."""

    folder: Path
    key: str
    request: dict[str, Any]
    source: dict[str, Any]
    model: dict[str, Any]
    options: dict[str, Any]
    summary: dict[str, Any]
    provenance: dict[str, Any]
    scenes: dict[str, str]
    finished: str
    elapsed_s: float
    from_cache: bool = False
    display: dict[str, Any] = field(default_factory=dict)
    #: relative path -> {"size_bytes", "blake2b"} of every file the analysis wrote.
    files: dict[str, Any] = field(default_factory=dict)

    # Paths of the standard outputs (written by detection.detect_pair).
    def path(self, *parts: str) -> Path:
        return self.folder.joinpath(*parts)

    @property
    def change_tif(self) -> Path:
        return self.path("change.tif")

    @property
    def change_geojson(self) -> Path:
        return self.path("change.geojson")

    def probability_tif(self, date: str) -> Path:
        return self.path(date, "probability.tif")

    def mask_tif(self, date: str) -> Path:
        return self.path(date, "mask.tif")

    @property
    def slope_tif(self) -> Path:
        return self.path("slope_deg.tif")

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["folder"] = str(self.folder)
        d.pop("from_cache")
        return d


# ---------------------------------------------------------------- checking a folder

def _result_files(folder: Path) -> list[Path]:
    """The files an analysis wrote: everything but done.json, exports/ and hidden names."""
    out = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or rel.parts[0] == EXPORTS_DIR:
            continue
        if p.is_file() and rel.as_posix() != DONE_FILE:
            out.append(p)
    return out


def file_manifest(folder: Path) -> dict[str, Any]:
    """{relative path: {"size_bytes", "blake2b"}} of the files of a result folder."""
    return {p.relative_to(folder).as_posix(): {"size_bytes": p.stat().st_size, "blake2b": file_checksum(p)}
            for p in _result_files(folder)}


#: Files every finished analysis has (checked when a result predates the file manifest).
ESSENTIAL_FILES = ("pre/probability.tif", "post/probability.tif", "change.tif", "summary.json")


def _legacy_problem(folder: Path) -> Optional[str]:
    """A result without a manifest: its essential files exist and its rasters decode."""
    import rasterio
    from rasterio.errors import RasterioError

    for rel in ESSENTIAL_FILES:
        if not (folder / rel).is_file():
            return f"{rel} is missing"
    for p in _result_files(folder):
        if p.suffix.lower() != ".tif":
            continue
        try:
            with rasterio.open(p) as ds:
                ds.read(1)
        except (RasterioError, OSError, ValueError) as exc:
            return f"{p.relative_to(folder).as_posix()} is unreadable ({exc})"
    return None


def result_problem(result: AnalysisResult, verify: str = "full") -> Optional[str]:
    """What is wrong with a result's files (None: intact).

    ``verify``: "full" (sizes and checksums), "size" (sizes only, for listings) or "none".
    """
    if verify == "none":
        return None
    folder = Path(result.folder)
    if not result.files:
        return _legacy_problem(folder) if verify == "full" else None
    for rel, meta in result.files.items():
        p = folder / rel
        try:
            size = p.stat().st_size
        except OSError:
            return f"{rel} is missing"
        if not isinstance(meta, dict) or size != meta.get("size_bytes"):
            return f"{rel} is {size} bytes, expected {meta.get('size_bytes') if isinstance(meta, dict) else '?'}"
        if verify == "full" and file_checksum(p) != meta.get("blake2b"):
            return f"{rel} has changed since the analysis wrote it (checksum differs)"
    return None


# ---------------------------------------------------------------- reading

def _read_done(folder: Path) -> dict[str, Any]:
    done = folder / DONE_FILE
    try:
        data = json.loads(done.read_text())
    except FileNotFoundError:
        raise InputError(f"No finished analysis in {folder}.",
                         "Run the analysis on the Monitor page first.") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"The analysis record {done} is unreadable ({exc}).",
                         "Run the analysis again: the damaged folder is then replaced.") from None
    if not isinstance(data, dict):
        raise InputError(f"The analysis record {done} is not a JSON object.",
                         "Run the analysis again: the damaged folder is then replaced.")
    return data


def load_result(folder: str | Path, from_cache: bool = True, verify: str = "size") -> AnalysisResult:
    """Read a finished analysis from its folder; InputError when it is missing or damaged."""
    folder = Path(folder)
    data = _read_done(folder)
    data["folder"] = folder
    names = {f.name for f in dataclasses.fields(AnalysisResult)}
    data = {k: v for k, v in data.items() if k in names}
    data["from_cache"] = from_cache
    try:
        result = AnalysisResult(**data)
    except TypeError as exc:
        raise InputError(f"The analysis record {folder / DONE_FILE} is incomplete ({exc}).",
                         "Run the analysis again: the damaged folder is then replaced.") from None
    problem = result_problem(result, verify)
    if problem:
        raise InputError(f"The analysis in {folder} is damaged: {problem}.",
                         "Run the analysis again: the damaged folder is then replaced.")
    return result


def find_cached(results_root: str | Path, key: str) -> Optional[AnalysisResult]:
    """The finished, intact result of ``key`` (checksums checked), or None."""
    folder = Path(results_root) / key
    if not (folder / DONE_FILE).exists():
        return None
    try:
        return load_result(folder, from_cache=True, verify="full")
    except InputError as exc:
        log.warning("cached analysis %s not reused: %s", key, exc.what)
        return None


def list_results(results_root: Optional[str | Path] = None, limit: int = 20) -> list[AnalysisResult]:
    """Finished analyses, newest first (damaged ones left out)."""
    root = Path(results_root) if results_root else default_results_root()
    if not root.is_dir():
        return []

    def mtime(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except OSError:
            return 0.0

    done_files = sorted((p for p in root.glob(f"*/{DONE_FILE}") if not p.parent.name.startswith(".")),
                        key=mtime, reverse=True)
    out = []
    for done in done_files:
        if len(out) >= limit:
            break
        try:
            out.append(load_result(done.parent))
        except InputError:
            continue
    return out


# ---------------------------------------------------------------- writing

def new_work_folder(results_root: Path, key: str) -> Path:
    """A folder of this run's own, renamed into place by :func:`publish` when finished: a crash,
    a cancel or a second session running the same request never sees or breaks half a result."""
    remove_stale_partials(results_root)
    folder = results_root / f".{key}.partial-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def remove_stale_partials(results_root: Path, older_than_s: float = 24 * 3600) -> None:
    now = time.time()
    for p in list(results_root.glob(".*.partial-*")) + list(results_root.glob(".*.damaged-*")):
        try:
            if now - p.stat().st_mtime > older_than_s:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            continue


def repoint_paths(folder: Path, final: Path) -> None:
    """Summaries written during the run name the working folder; make them name the final one."""
    for path in folder.rglob("*.json"):
        text = path.read_text()
        if str(folder) in text:
            atomic_write_text(path, text.replace(str(folder), str(final)))


def publish(folder: Path, result: AnalysisResult) -> AnalysisResult:
    """Finish ``folder`` (the working folder of ``result``) and rename it to ``result.folder``.

    Under a lock per key: an intact result already there (another session was faster) is
    returned and ``folder`` discarded; a damaged one is replaced.
    """
    final = Path(result.folder)
    repoint_paths(folder, final)
    result.files = file_manifest(folder)
    atomic_write_text(folder / DONE_FILE, json.dumps(result.to_json(), indent=2, default=str))
    with exclusive_lock(final.parent / LOCKS_DIR / f"{result.key}.lock"):
        if final.exists():
            try:
                return load_result(final, from_cache=True, verify="full")
            except InputError as exc:
                log.warning("replacing the damaged analysis folder %s (%s)", final, exc.what)
            aside = final.parent / f".{final.name}.damaged-{uuid.uuid4().hex[:8]}"
            final.rename(aside)
            shutil.rmtree(aside, ignore_errors=True)
        folder.rename(final)  # the finished folder appears at once, done.json inside
    return result


__all__ = ["AnalysisResult", "DONE_FILE", "RESULT_VERSION", "default_results_root", "load_result", "find_cached",
           "list_results", "result_problem", "file_manifest", "publish", "new_work_folder"]
