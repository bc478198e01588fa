"""An output folder filled all at once: outputs are written into a hidden working folder
inside it and moved into place only when everything succeeded.

- The input files are never overwritten: an input that sits where an output would go is
  refused before any work (and checked again before anything is moved).
- A failure, a cancel or a termination signal leaves the folder as it was (the working
  folder is removed); the caller's SIGTERM handler only has to raise.
- What was replaced is reported (``StagedOutput.replaced``), so nothing is overwritten
  silently.
- A folder that cannot be written is an InputError naming the folder, before any work.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Iterable, Optional

from .errors import InputError
from .fileio import ensure_writable_folder

WORK_PREFIX = ".detect-"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


class StagedOutput:
    """``with StagedOutput(out_dir, inputs, outputs) as stage:`` write into ``stage.folder``;
    on leaving the block without an error the files are moved into ``out_dir``."""

    def __init__(self, out_dir: str | Path, inputs: Iterable[str | Path] = (), outputs: Iterable[str] = (),
                 label: str = "--out"):
        self.out_dir = Path(out_dir)
        self.inputs = [Path(p) for p in inputs if p is not None]
        self.outputs = list(outputs)
        self.label = label
        self.folder: Optional[Path] = None
        self.replaced: list[str] = []
        self.written: list[str] = []

    # -- checks --------------------------------------------------------------------------------
    def _refuse_inputs(self, rel_paths: Iterable[str]) -> None:
        for rel in rel_paths:
            target = self.out_dir / rel
            for src in self.inputs:
                if _same_file(src, target):
                    raise InputError(
                        f"The input {src} is where the output {rel} would be written in {self.out_dir}: it "
                        "would be overwritten.",
                        f"Choose another output folder ({self.label}), or move the input out of it.")

    def _make(self) -> Path:
        ensure_writable_folder(self.out_dir, self.label)
        folder = self.out_dir / f"{WORK_PREFIX}{uuid.uuid4().hex[:12]}"
        try:
            folder.mkdir()
        except OSError as exc:
            raise InputError(f"Cannot write into the output folder {self.out_dir} ({exc.strerror}).",
                             f"Give a folder you can write to ({self.label}).") from None
        return folder

    # -- the block -----------------------------------------------------------------------------
    def __enter__(self) -> "StagedOutput":
        self._refuse_inputs(self.outputs)
        self.folder = self._make()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._commit()
        finally:
            if self.folder is not None:
                shutil.rmtree(self.folder, ignore_errors=True)

    def repoint(self, obj: Any) -> Any:
        """``obj`` (JSON-able) with paths in the working folder changed to the output folder."""
        if self.folder is None:
            return obj
        text = json.dumps(obj, default=str).replace(json.dumps(str(self.folder))[1:-1],
                                                    json.dumps(str(self.out_dir))[1:-1])
        return json.loads(text)

    def _commit(self) -> None:
        assert self.folder is not None
        files = sorted(p for p in self.folder.rglob("*") if p.is_file() and not p.name.startswith("."))
        rels = [p.relative_to(self.folder).as_posix() for p in files]
        self._refuse_inputs(rels)
        old, new = str(self.folder), str(self.out_dir)
        for p in files:
            if p.suffix in (".json", ".geojson"):
                text = p.read_text()
                if old in text:
                    p.write_text(text.replace(json.dumps(old)[1:-1], json.dumps(new)[1:-1]))
        for p, rel in zip(files, rels):
            target = self.out_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() or target.is_symlink():
                if target.is_dir() and not target.is_symlink():
                    raise InputError(f"The output {target} exists as a folder.",
                                     f"Remove it or choose another output folder ({self.label}).")
                self.replaced.append(rel)
            os.replace(p, target)
            self.written.append(rel)


__all__ = ["StagedOutput", "WORK_PREFIX"]
