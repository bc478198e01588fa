"""Who holds a claim, whether that runner still lives, and keeping a claim alive.

A runner is named ``host:pid:token``. A claim on an area lasts a lease
(``LANDSLIDE_WATCH_LEASE_S``) that :class:`LeaseKeeper` renews every third of it while a check
runs, so only a runner that stopped loses it. When the holder ran on this machine and its
process is gone (killed, crashed), :func:`holder_is_dead` says so and the area is taken over
at once instead of waiting for the lease to run out.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from pathlib import Path
from typing import Optional

from .records import utc_now

log = logging.getLogger(__name__)


def runner_id() -> str:
    """``host:pid:token``: who holds a claim, and whether its process still lives."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_is_dead(holder: Optional[str]) -> bool:
    """True when ``holder`` ran on this machine and its process is gone."""
    if not holder:
        return False
    parts = holder.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname():
        return False
    try:
        pid = int(parts[1])
    except ValueError:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a killed child not yet reaped by its parent is a zombie: dead too
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state == "Z"
    except (OSError, IndexError):
        return False


class LeaseKeeper:
    """Renews a claim every third of the lease while a check runs."""

    def __init__(self, store, area_id: int, runner: str, lease_s: float):
        self.store, self.area_id, self.runner, self.lease_s = store, area_id, runner, lease_s
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"lease-{area_id}")

    def _loop(self) -> None:
        while not self._stop.wait(self.lease_s / 3.0):
            try:
                if not self.store.renew_claim(self.area_id, self.runner,
                                              utc_now() + dt.timedelta(seconds=self.lease_s)):
                    self.lost = True
                    return
            except Exception:  # noqa: BLE001 - a hiccup of the database: try again next time
                log.warning("could not renew the claim on area %s", self.area_id, exc_info=True)

    def __enter__(self) -> "LeaseKeeper":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
