"""Merging Landslide4Sense-layout datasets into one (L4S + L4S-PE), keeping each one's split.

The merged folder numbers the patches afresh (``img/image_N.h5``, ``mask/mask_N.h5``; files
are hard-linked where the file system allows, else copied) and records in ``manifest.json``
where each came from. Each source keeps its own train/validation split: its ``split.json``,
else its official TrainData/ValidData folders, else the 80/20 split by seed that training
would make on it alone, so a model validated on the merged set is validated on exactly the
union of the sources' validation patches.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Optional, Sequence

from ..errors import InputError
from ..fileio import atomic_write_text, ensure_writable_folder
from ..progress import CancelToken, ProgressFn, check_cancel
from .split import SPLIT_FILE, check_val_share, natural_key, now_iso


def _place(src: Path, dst: Path) -> str:
    """Hard-link ``src`` at ``dst`` (a copy where links are impossible); how it was placed."""
    tmp = dst.with_name(f".{dst.name}.partial")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src.resolve(), tmp)
        how = "linked"
    except OSError:
        shutil.copyfile(src, tmp)
        how = "copied"
    os.replace(tmp, dst)
    return how


def merge_datasets(sources: Sequence[str | Path], out_dir: str | Path, names: Optional[Sequence[str]] = None,
                   val_share: float = 0.2, seed: int = 0, progress: Optional[ProgressFn] = None,
                   cancel: Optional[CancelToken] = None) -> dict[str, Any]:
    """Merge the labelled patches of ``sources`` (test folders left out) into ``out_dir``;
    return the manifest. ``names``: one label per source (default: the folder names)."""
    from ..training.dataset import discover, split_names
    from .export import FORMAT, MANIFEST_FILE, read_manifest

    share = check_val_share(val_share)
    if len(sources) < 1:
        raise InputError("Nothing to merge.", "Give at least one dataset folder.")
    labels = list(names) if names else [Path(s).expanduser().resolve().name for s in sources]
    if len(labels) != len(sources) or len(set(labels)) != len(labels):
        raise InputError(f"The dataset names {labels} are not one distinct name per source.",
                         "Give each source its own name.")
    out = Path(out_dir).expanduser()
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out} is not empty.", "Merge into a new or empty folder.")
    resolved = [Path(s).expanduser().resolve() for s in sources]
    if out.resolve() in resolved:
        raise InputError("The merged folder is one of the sources.", "Merge into a new folder.")
    plans = []
    for label, src in zip(labels, resolved):
        layout = discover(src)
        pairs = [p for s, ps in layout.subsets.items() if s != "test" for p in ps if p.mask is not None]
        split = split_names(layout, [p.name for p in pairs], share, seed)
        side = {n: "train" for n in split.train} | {n: "val" for n in split.val}
        src_manifest = {r.get("name"): r for r in read_manifest(src).get("patches") or []
                        if isinstance(r, dict)} if (src / MANIFEST_FILE).is_file() else {}
        plans.append((label, src, pairs, side, split.how, src_manifest))
    ensure_writable_folder(out, "the merged folder")
    (out / "img").mkdir()
    (out / "mask").mkdir()
    total = sum(len(p[2]) for p in plans)
    records, sources_info, n = [], [], 0
    how_placed = set()
    for label, src, pairs, side, how, src_manifest in plans:
        kept = 0
        for p in sorted(pairs, key=lambda p: natural_key(p.name)):
            if p.name not in side:  # left out of its source's split (a bad file skipped there)
                continue
            check_cancel(cancel)
            n += 1
            how_placed.add(_place(p.image, out / "img" / f"image_{n}.h5"))
            how_placed.add(_place(p.mask, out / "mask" / f"mask_{n}.h5"))
            origin = src_manifest.get(p.name, {})
            group = f"{label}/{origin.get('group', p.name)}"
            records.append({**{k: v for k, v in origin.items() if k not in ("name", "image", "mask", "group",
                                                                            "split")},
                            "name": f"image_{n}", "image": f"img/image_{n}.h5", "mask": f"mask/mask_{n}.h5",
                            "group": group, "split": side[p.name], "source": label, "source_patch": p.name})
            kept += 1
            if progress:
                progress(n, total, "merging")
        sources_info.append({"name": label, "folder": str(src), "patches": kept, "split": how})
    split = {"train": [r["name"] for r in records if r["split"] == "train"],
             "val": [r["name"] for r in records if r["split"] == "val"],
             "how": "each source's own split (" + "; ".join(f"{s['name']}: {s['split']}" for s in sources_info) + ")"}
    atomic_write_text(out / SPLIT_FILE, json.dumps(split, indent=1))
    manifest = {"format": FORMAT, "merged_from": sources_info, "files": " and ".join(sorted(how_placed)),
                "split": {"val_share": share, "seed": int(seed), "file": SPLIT_FILE, "train": len(split["train"]),
                          "val": len(split["val"])},
                "patches": records, "excluded": [], "written_utc": now_iso()}
    atomic_write_text(out / MANIFEST_FILE, json.dumps(manifest, indent=1, default=str))
    return manifest
