"""A long analysis in a background thread: progress the page can poll, and a Cancel button.

The thread never touches Streamlit; it only updates this object. The page shows the
progress in a fragment that reruns every half second, and ``cancel()`` sets the
:class:`CancelToken` that the pipeline checks between units of work.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional

from landslide_core.analysis import STAGES
from landslide_core.progress import CancelToken


class AnalysisJob:
    """Runs ``work(progress, cancel)`` in a daemon thread and records what happens."""

    def __init__(self, work: Callable[..., Any], description: str = "analysis"):
        self.description = description
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
        self._work = work
        self._thread = threading.Thread(target=self._run, name="landslide-analysis", daemon=True)

    def start(self) -> "AnalysisJob":
        self._thread.start()
        return self

    def _progress(self, done: int, total: int, stage: str) -> None:
        with self._lock:
            if stage != self.stage and self.stage in STAGES and self.stage not in self.stages_done:
                self.stages_done.append(self.stage)
            self.stage, self.done, self.total = stage, int(done), max(int(total), 1)
            if done >= total and stage not in self.stages_done:
                self.stages_done.append(stage)

    def _run(self) -> None:
        try:
            self.result = self._work(progress=self._progress, cancel=self.token)
        except BaseException as exc:  # reported in the page, never raised in the thread
            self.error = exc
        finally:
            self.finished = time.time()

    def cancel(self) -> None:
        self.token.cancel()

    @property
    def running(self) -> bool:
        return self.finished is None

    @property
    def elapsed_s(self) -> float:
        return (self.finished or time.time()) - self.started

    def fraction(self) -> float:
        """Overall progress 0-1 over the pipeline stages."""
        with self._lock:
            if self.stage not in STAGES:
                return 0.0
            index = STAGES.index(self.stage)
            return min(1.0, (index + min(self.done / self.total, 1.0)) / len(STAGES))

    def wait(self, timeout_s: float) -> bool:
        self._thread.join(timeout_s)
        return not self._thread.is_alive()
