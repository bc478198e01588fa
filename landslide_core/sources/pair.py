"""Fetch a request's 'before' and 'after' scenes into a folder: ``pre.tif``, ``post.tif`` and
``provenance.json``, through the source's cache (the same cache the dashboard uses).

The scene files are the contract's scene GeoTIFFs (B1..B12 digital numbers, elevation,
valid), so ``detect --pre DIR/pre.tif --post DIR/post.tif`` reads them as they are.
``provenance.json`` says, per window: the scenes (ids, dates, cloud inside the AOI), whether it
came from the cache, and the requests made and bytes downloaded for it in this run (zero for a
cache hit), with the totals. Files are written to temporary names and renamed into place.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Optional

from ..errors import InputError
from ..progress import CancelToken, ProgressFn, check_cancel
from .base import FetchedScene, ImagerySource
from .request import AnalysisRequest

PAIR_FILES = {"pre": "pre.tif", "post": "post.tif"}
PROVENANCE_FILE = "provenance.json"


def window_record(fetched: FetchedScene, file_name: str) -> dict[str, Any]:
    """What provenance.json says about one window."""
    prov = dict(fetched.provenance or {})
    download = prov.get("download") or {}
    scenes = prov.get("scenes") or []
    now = not fetched.from_cache
    return {
        "file": file_name,
        "from_cache": bool(fetched.from_cache),
        "scene_ids": [s.get("scene_id") for s in scenes if isinstance(s, dict)],
        "dates": prov.get("dates") or sorted({s.get("date") for s in scenes if isinstance(s, dict) and s.get("date")}),
        "aoi_cloud_pct": prov.get("aoi_cloud_pct"),
        "requests": int(download.get("requests", 0)) + int(download.get("listing_requests", 0)) if now else 0,
        "bytes_downloaded": int(download.get("bytes", 0)) if now else 0,
        "source_provenance": prov,
    }


def _write_atomically(path: Path, write) -> bool:
    """Write through a unique temporary name in the same folder; True if a file was replaced."""
    existed = path.exists()
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return existed


def fetch_pair(request: AnalysisRequest, source: ImagerySource, out_dir: str | Path,
               progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> dict[str, Any]:
    """Fetch both windows through ``source`` (and its cache) into ``out_dir``; the provenance
    record written to ``out_dir/provenance.json`` is returned (with ``replaced``: the files that
    were there before)."""
    request.validate()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a folder.", "Give a folder for the two scenes.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"The folder {out} cannot be created ({exc.strerror}).",
                         "Choose a folder you can write to.") from None
    if not os.access(out, os.W_OK):
        raise InputError(f"The folder {out} is not writable.", "Choose a folder you can write to.")
    record: dict[str, Any] = {"source": getattr(source, "name", "?"), "request": request.normalised(),
                              "grid": request.grid().key()}
    replaced = []
    for role, window in (("pre", request.pre), ("post", request.post)):
        check_cancel(cancel)
        stage = f"fetch {role}"
        fetched = source.fetch(request, window,
                               progress=(lambda d, t, _s, stage=stage: progress(d, t, stage)) if progress else None,
                               cancel=cancel)
        check_cancel(cancel)
        target = out / PAIR_FILES[role]
        if _write_atomically(target, lambda tmp, src=fetched.path: shutil.copyfile(src, tmp)):
            replaced.append(target.name)
        record[role] = window_record(fetched, target.name)
    record["totals"] = {"requests": record["pre"]["requests"] + record["post"]["requests"],
                        "bytes_downloaded": record["pre"]["bytes_downloaded"] + record["post"]["bytes_downloaded"]}
    text = json.dumps(record, indent=2, default=str)
    if _write_atomically(out / PROVENANCE_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8")):
        replaced.append(PROVENANCE_FILE)
    record["replaced"] = replaced
    return record
