"""Long work in a background thread: progress the page can poll, and a Cancel that is instant.

The thread never touches Streamlit; it only updates this object. The page shows the
progress in a fragment that reruns every half second. ``cancel()`` sets the
:class:`CancelToken` that the work checks between units of work **and** marks the job as
cancelled at once: the page says "Cancelled" within a refresh and can start new work, while
the thread stops at its next check (a step without checks, such as generating a synthetic
scene, finishes in the background and its result is dropped; what it wrote to a cache is
kept for the next run).
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional, Sequence

from landslide_core.analysis import STAGES
from landslide_core.errors import Cancelled
from landslide_core.progress import CancelToken


class Job:
    """Runs ``work(progress=..., cancel=...)`` in a daemon thread and records what happens.

    ``stages``: the stage names ``work`` reports, in order (for the overall fraction).
    ``inputs_key``: what the job was started for (the page compares it with its inputs).
    """

    def __init__(self, work: Callable[..., Any], description: str = "work",
                 stages: Sequence[str] = (), inputs_key: Optional[str] = None):
        self.description = description
        self.stages = tuple(stages)
        self.inputs_key = inputs_key
        self.token = CancelToken()
        self._lock = threading.Lock()
        self.stage: str = "starting"
        self.done = 0
        self.total = 1
        self.stages_done: list[str] = []
        self.result: Any = None
        self.error: Optional[BaseException] = None
        self.started = time.time()
        self.finished: Optional[float] = None
        self.abandoned = False  # cancelled while the thread still ran
        self.shown = False
        self._work = work
        self._thread = threading.Thread(target=self._run, name=f"landslide-{description[:20]}", daemon=True)

    def start(self) -> "Job":
        self._thread.start()
        return self

    def _progress(self, done: int, total: int, stage: str) -> None:
        with self._lock:
            if self.abandoned:
                return
            if stage != self.stage and self.stage in self.stages and self.stage not in self.stages_done:
                self.stages_done.append(self.stage)
            self.stage, self.done, self.total = stage, int(done), max(int(total), 1)
            if done >= total and stage not in self.stages_done:
                self.stages_done.append(stage)

    def _run(self) -> None:
        result, error = None, None
        try:
            result = self._work(progress=self._progress, cancel=self.token)
        except BaseException as exc:  # reported in the page, never raised in the thread
            error = exc
        with self._lock:
            if self.abandoned:  # the page already shows "cancelled": drop what came late
                return
            self.result, self.error = result, error
            self.finished = time.time()

    def cancel(self) -> None:
        """Stop now from the user's view; the thread stops at its next cancel check."""
        self.token.cancel()
        with self._lock:
            if self.finished is None:
                self.abandoned = True
                self.error = Cancelled()
                self.finished = time.time()

    @property
    def running(self) -> bool:
        return self.finished is None

    @property
    def thread_alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def elapsed_s(self) -> float:
        return (self.finished or time.time()) - self.started

    def fraction(self) -> float:
        """Overall progress 0-1 over the stages."""
        with self._lock:
            if self.stage not in self.stages:
                return 0.0
            index = self.stages.index(self.stage)
            return min(1.0, (index + min(self.done / self.total, 1.0)) / len(self.stages))

    def wait(self, timeout_s: float) -> bool:
        """Wait for the thread itself to end (True when it has)."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()


class AnalysisJob(Job):
    """A job over the analysis pipeline's stages (fetch, detect, change)."""

    def __init__(self, work: Callable[..., Any], description: str = "analysis",
                 inputs_key: Optional[str] = None):
        super().__init__(work, description, STAGES, inputs_key)
