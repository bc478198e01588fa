"""numpy's 2 MB pages, switched off for work that allocates many large fresh arrays.

numpy asks the kernel for 2 MB pages for its large arrays. Where the kernel compacts memory to
find them at the first touch (``transparent_hugepage/defrag`` "madvise", as on this project's
machines), every fresh array stalls: the 400 km2 demo world took 3.8-4.1 s to build in a new
process with them and 3.0-3.1 s without (0.9 s more system time). Elsewhere they pay:
``bench/inference.py``'s windows ran 5 % faster with them (and PyTorch's convolutions 15 %
slower), so they are switched off only inside :func:`small_pages`: around the synthetic
generator and a whole analysis (``analysis.run_analysis``: its cold run at 400 km2 took 11.8 s
with them off, 12.3 s with them off for the generator alone), not for the whole process. A value of ``NUMPY_MADVISE_HUGEPAGE`` the user set wins
(the setting is then left alone).
"""
from __future__ import annotations

import contextlib
import os
import threading
from typing import Iterator

_lock = threading.Lock()
_depth = 0
_before: bool = True


def _setter():
    import numpy

    return getattr(getattr(getattr(numpy, "_core", None), "multiarray", None), "_set_madvise_hugepage", None)


@contextlib.contextmanager
def small_pages() -> Iterator[None]:
    """numpy's new large arrays get the kernel's ordinary pages inside this block (process-wide:
    the setting is numpy's own; nested and concurrent blocks restore it when the last one ends)."""
    global _depth, _before
    setter = _setter()
    if setter is None or "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        yield
        return
    with _lock:
        if _depth == 0:
            _before = bool(setter(False))
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                setter(_before)


__all__ = ["small_pages"]
