"""Progress reporting and cancellation shared by every long-running step.

A step receives ``progress(done, total, stage)`` and a :class:`CancelToken`; it calls
``token.raise_if_cancelled()`` between units of work. Both are optional everywhere.
"""
from __future__ import annotations

import threading
from typing import Callable, Optional

from .errors import Cancelled

ProgressFn = Callable[[int, int, str], None]


def no_progress(done: int, total: int, stage: str) -> None:  # noqa: ARG001 - the callback signature
    """A progress callback that does nothing."""


class CancelToken:
    """A thread-safe flag that long work checks between units of work."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise Cancelled()


class LinkedCancelToken(CancelToken):
    """A token cancelled on its own (:meth:`cancel`) or with its parent: stops one part of a
    job (a helper thread) without cancelling the whole."""

    def __init__(self, parent: Optional[CancelToken]) -> None:
        super().__init__()
        self._parent = parent

    @property
    def cancelled(self) -> bool:
        return self._event.is_set() or (self._parent is not None and self._parent.cancelled)


class HeldProgress:
    """The progress of a part that runs beside another, held back until :meth:`release`: the
    caller's stages then still come one after the other (the part's latest report is passed on
    at release, and every report after it as it comes). Thread-safe."""

    def __init__(self, progress: Optional[ProgressFn]) -> None:
        self._progress = progress
        self._lock = threading.Lock()
        self._held = True
        self._latest: Optional[tuple[int, int, str]] = None

    def __call__(self, done: int, total: int, stage: str) -> None:
        if self._progress is None:
            return
        with self._lock:
            if self._held:
                self._latest = (done, total, stage)
                return
        self._progress(done, total, stage)

    def release(self) -> None:
        with self._lock:
            self._held, latest = False, self._latest
        if latest is not None and self._progress is not None:
            self._progress(*latest)


def check_cancel(token: Optional[CancelToken]) -> None:
    if token is not None:
        token.raise_if_cancelled()
