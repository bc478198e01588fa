"""Run folders: config, status and heartbeat, the one-run-per-device lock and its queue,
detached launch, stop requests and listing.

A run folder holds ``config.json``, ``metrics.csv`` (one row per epoch), ``train.log``,
``status.json``, ``last.safetensors/.json`` and ``best.safetensors/.json`` (checkpoints with
model cards), ``train_state.safetensors/.json`` (weights, optimizer, scheduler and epoch
state for resuming) and ``split.json``.

One run at a time per device: a run holds a lock file (with its pid) in the locks folder
(env ``LANDSLIDE_LOCK_DIR``, else ``<runs root>/.locks``). A second run does not fail: it
is **queued** (state "queued") and starts by itself, in launch order, when the device is free.
A ``STOP`` file in the run folder asks the run to stop; it is checked between batches.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from ..errors import InputError, UserError
from .config import TrainConfig, check_architecture

RUNS_ENV = "LANDSLIDE_RUNS_DIR"
LOCKS_ENV = "LANDSLIDE_LOCK_DIR"
CONFIG_FILE = "config.json"
STATUS_FILE = "status.json"
METRICS_FILE = "metrics.csv"
LOG_FILE = "train.log"
STOP_FILE = "STOP"
SPLIT_FILE = "split.json"
LAUNCH_FILE = "launch.json"
#: A fine-tuning run's parent model scored on the run's validation patches before training.
PARENT_SCORES_FILE = "parent_scores.json"
BEST = "best"
LAST = "last"
STATE = "train_state"
STATES = ("queued", "running", "finished", "failed", "stopped", "unknown")
#: A run whose heartbeat is older than this, or whose process is gone, is not alive.
STALE_AFTER_S = 90.0
HEARTBEAT_EVERY_S = 5.0
#: Files a run writes; a folder holding anything else is not taken for a run.
RUN_FILES = {CONFIG_FILE, STATUS_FILE, METRICS_FILE, LOG_FILE, STOP_FILE, SPLIT_FILE, LAUNCH_FILE,
             PARENT_SCORES_FILE, "data_cache"} | {f"{n}{s}" for n in (BEST, LAST, STATE) for s in (".json", ".safetensors")}


def runs_root() -> Path:
    """Where runs go: env LANDSLIDE_RUNS_DIR, else ./runs."""
    return Path(os.environ.get(RUNS_ENV) or "runs").expanduser()


def locks_dir() -> Path:
    return Path(os.environ.get(LOCKS_ENV) or runs_root() / ".locks").expanduser()


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def new_run_dir(config: TrainConfig, root: Optional[Path] = None) -> Path:
    """A fresh folder name under the runs root: UTC time, architecture and band set."""
    root = Path(root) if root else runs_root()
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{config.arch}-{config.bands}"
    path, k = root / base, 1
    while path.exists():
        k += 1
        path = root / f"{base}-{k}"
    return path


# ---------------------------------------------------------------- status


@dataclass
class RunStatus:
    """What ``status.json`` says about a run. ``heartbeat`` is a UNIX time (seconds)."""

    state: str = "queued"
    pid: Optional[int] = None
    heartbeat: float = 0.0
    heartbeat_utc: str = ""
    epoch: int = 0
    total_epochs: int = 0
    batch: int = 0
    total_batches: int = 0
    eta_s: Optional[float] = None
    error: str = ""
    message: str = ""
    started_utc: str = ""
    ended_utc: str = ""
    device: str = ""
    best_epoch: Optional[int] = None
    best_val_loss: Optional[float] = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunStatus":
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


def _write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def read_status(run_dir: str | Path) -> Optional[RunStatus]:
    """The run's status; None when it has no ``status.json``. A damaged one gives a status of
    its own (state "unknown", or "running" while the run's process is alive) whose ``error``
    says so: the folder is still a run, with its checkpoints and metrics."""
    path = Path(run_dir) / STATUS_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        return _damaged_status(run_dir, str(exc))
    try:
        status = RunStatus.from_dict(json.loads(text))
    except (ValueError, TypeError, AttributeError, RecursionError) as exc:
        return _damaged_status(run_dir, f"{type(exc).__name__}: {str(exc)[:80]}")
    if status.state not in STATES or not isinstance(status.heartbeat, (int, float)):
        return _damaged_status(run_dir, f"unexpected state {str(status.state)[:40]!r}")
    return status


def _damaged_status(run_dir: str | Path, reason: str) -> RunStatus:
    pid = _launch_pid(run_dir)
    alive = pid_alive(pid)
    return RunStatus(
        state="running" if alive else "unknown", pid=pid, heartbeat=time.time() if alive else 0.0,
        error=(f"The run's {STATUS_FILE} is damaged ({reason}); "
               + ("the run's process is alive and rewrites it within seconds." if alive else
                  "its checkpoints and metrics are unaffected: it can be promoted, resumed (--resume) or "
                  "listed as usual.")))


def write_status(run_dir: str | Path, status: RunStatus) -> None:
    status.heartbeat = time.time()
    status.heartbeat_utc = now_iso()
    _write_json_atomic(Path(run_dir) / STATUS_FILE, asdict(status))


def pid_alive(pid: Optional[int]) -> bool:
    """True if a process with ``pid`` exists and is not a zombie."""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{int(pid)}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def current_status(run_dir: str | Path) -> Optional[RunStatus]:
    """The status, with a queued/running run whose process is gone reported as failed."""
    _reap_children()
    status = read_status(run_dir)
    if status is None or status.state not in ("queued", "running"):
        return status
    pid = status.pid or _launch_pid(run_dir)
    fresh = time.time() - status.heartbeat < STALE_AFTER_S
    if pid_alive(pid) and (fresh or status.state == "queued"):
        return status
    if pid is None and fresh:
        return status  # just launched: the process has not written its pid yet
    status.state = "failed"
    status.error = (f"The training process (pid {pid}) ended without finishing (killed, out of memory "
                    f"or the machine restarted). Resume it: python -m landslide_core train --resume {run_dir}")
    return status


class StatusWriter:
    """Thread-safe status updates plus a heartbeat thread that rewrites the status regularly."""

    def __init__(self, run_dir: Path, status: RunStatus, every_s: float = HEARTBEAT_EVERY_S):
        self.run_dir = run_dir
        self.status = status
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._every = every_s
        self._thread: Optional[threading.Thread] = None

    def update(self, **changes: Any) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(self.status, k, v)
            write_status(self.run_dir, self.status)

    def start_heartbeat(self) -> None:
        def beat() -> None:
            while not self._stop.wait(self._every):
                try:
                    self.update()
                except OSError:
                    pass
        self._thread = threading.Thread(target=beat, daemon=True, name="run-heartbeat")
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)


# ---------------------------------------------------------------- folder


def read_config(run_dir: str | Path) -> Optional[TrainConfig]:
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        return None
    return TrainConfig.from_file(path)


def prepare_run_dir(run_dir: str | Path, config: TrainConfig) -> bool:
    """Create the folder and write config.json, or check an existing run's config.

    Returns True when the folder already held this same run (a resume). Refuses a folder
    that holds a different run or other files.
    """
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise InputError(f"The run folder {run_dir} is a file.", "Give a folder path for the run.")
    existing = read_config(run_dir) if run_dir.exists() else None
    if existing is not None:
        diffs = existing.differences(config)
        if diffs:
            raise InputError(
                f"The run folder {run_dir} already holds another run with different settings "
                f"({'; '.join(diffs[:4])}).",
                "Choose a new run folder (or none: one is made under the runs folder), "
                "or resume that run with the same settings (--resume).",
            )
        return True
    if run_dir.exists():
        others = sorted(p.name for p in run_dir.iterdir() if p.name not in RUN_FILES and not p.name.startswith("."))
        if others:
            raise InputError(f"The run folder {run_dir} is not empty and is not a training run "
                             f"(it holds {', '.join(others[:5])}).", "Choose an empty or new folder.")
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_json_atomic(run_dir / CONFIG_FILE, config.to_dict())
    return False


def stop_requested(run_dir: str | Path) -> bool:
    return (Path(run_dir) / STOP_FILE).exists()


def request_stop(run_dir: str | Path) -> RunStatus:
    """Ask a run to stop (it stops between batches, keeping its last checkpoint)."""
    run_dir = Path(run_dir)
    status = current_status(run_dir)
    if status is None:
        raise InputError(f"{run_dir} is not a training run (no {STATUS_FILE}).", "Choose a run folder.")
    if status.state not in ("queued", "running"):
        return status
    (run_dir / STOP_FILE).write_text(now_iso())
    return status


# ---------------------------------------------------------------- device lock and queue


def _lock_name(device: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", device)


@dataclass
class DeviceLock:
    """One run per device: an exclusive lock file holding the owner's pid and run folder.

    Waiting runs leave a ticket in ``<locks>/<device>.queue/``; the oldest live ticket goes
    first, so queued runs start in launch order.
    """

    device: str
    run_dir: Path
    folder: Path = field(default_factory=locks_dir)
    held: bool = False

    @property
    def path(self) -> Path:
        return self.folder / f"{_lock_name(self.device)}.lock"

    @property
    def queue_dir(self) -> Path:
        return self.folder / f"{_lock_name(self.device)}.queue"

    def owner(self) -> Optional[dict]:
        """The live holder's record, or None when the lock is free or its holder died."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError):
            try:  # being written right now by its new holder: held; left unreadable for long: stale
                young = time.time() - self.path.stat().st_mtime < 10.0
            except OSError:
                return None
            return {"pid": None, "run_dir": "another run"} if young else None
        return data if pid_alive(data.get("pid")) else None

    def _try(self) -> bool:
        self.folder.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({"pid": os.getpid(), "run_dir": str(self.run_dir), "since": now_iso()})
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if self.owner() is not None:
                    return False
                try:  # the owner died: remove its stale lock and try again
                    self.path.unlink()
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(payload)
            self.held = True
            return True
        return False

    def _first_in_queue(self, ticket: Path) -> bool:
        for t in sorted(self.queue_dir.glob("*.ticket")):
            if t == ticket:
                return True
            try:
                pid = int(t.stem.split("-")[-1])
            except ValueError:
                pid = None
            if pid_alive(pid):
                return False
            t.unlink(missing_ok=True)  # a dead waiter's ticket
        return True

    def acquire(self, on_wait: Optional[Callable[[dict], None]] = None,
                should_stop: Callable[[], bool] = lambda: False, poll_s: float = 1.0) -> bool:
        """Take the lock, waiting in the queue while another run holds it.

        ``on_wait(owner)`` is called once when the run has to wait. Returns False if
        ``should_stop()`` became true while waiting.
        """
        if self._try():
            return True
        self.queue_dir.mkdir(parents=True, exist_ok=True)
        ticket = self.queue_dir / f"{time.time_ns():020d}-{os.getpid()}.ticket"
        ticket.write_text(str(self.run_dir))
        told = False
        try:
            while True:
                if should_stop():
                    return False
                if self._first_in_queue(ticket) and self._try():
                    return True
                if not told and on_wait is not None:
                    on_wait(self.owner() or {})
                    told = True
                time.sleep(poll_s)
        finally:
            ticket.unlink(missing_ok=True)

    def release(self) -> None:
        if self.held:
            try:
                data = json.loads(self.path.read_text())
                if data.get("pid") == os.getpid():
                    self.path.unlink()
            except (OSError, json.JSONDecodeError):
                pass
            self.held = False


# ---------------------------------------------------------------- detached launch

_children: list[subprocess.Popen] = []


def _reap_children() -> None:
    for p in list(_children):
        if p.poll() is not None:
            _children.remove(p)


def _launch_pid(run_dir: str | Path) -> Optional[int]:
    try:
        return int(json.loads((Path(run_dir) / LAUNCH_FILE).read_text())["pid"])
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        return None


@dataclass
class Launched:
    run_dir: Path
    pid: int
    process: subprocess.Popen


def launch_detached(config: TrainConfig, run_dir: Optional[str | Path] = None) -> Launched:
    """Check the settings and the data folder, then start the run in its own process.

    The process outlives the caller (a new session), writes its output to ``train.log``
    and, if another run holds the device, waits in the queue. Returns at once.
    """
    from .dataset import discover

    config.data_dir = str(Path(config.data_dir).expanduser().resolve()) if config.data_dir else ""
    config.validate()
    check_architecture(config)
    discover(config.data_dir)  # a bad folder is reported now, not in the log
    run_dir = Path(run_dir) if run_dir else new_run_dir(config)
    resuming = prepare_run_dir(run_dir, config)
    old = current_status(run_dir) if resuming else None
    if old is not None and old.state in ("queued", "running"):
        raise InputError(f"The run in {run_dir} is still {old.state} (pid {old.pid}).",
                         "Wait for it or stop it first.")
    (run_dir / STOP_FILE).unlink(missing_ok=True)
    write_status(run_dir, RunStatus(state="queued", total_epochs=config.epochs,
                                    epoch=old.epoch if old else 0, message="starting"))
    env = dict(os.environ)
    project_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = project_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, "-m", "landslide_core", "train", "--foreground", "--run-dir", str(run_dir),
           "--config", str(run_dir / CONFIG_FILE), "--quiet"]
    with open(run_dir / LOG_FILE, "ab") as log_fh:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log_fh, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env, close_fds=True)
    _children.append(proc)
    _write_json_atomic(run_dir / LAUNCH_FILE, {"pid": proc.pid, "cmd": cmd, "launched_utc": now_iso()})
    return Launched(run_dir, proc.pid, proc)


# ---------------------------------------------------------------- reading runs


def read_metrics(run_dir: str | Path) -> list[dict[str, float]]:
    """The rows of ``metrics.csv`` as dicts of floats (empty if none yet)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return []
    rows = []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            try:
                rows.append({k: float(v) for k, v in row.items() if v not in (None, "")})
            except ValueError:
                continue
    return rows


@dataclass
class RunInfo:
    """One run for listings: folder, settings, status and best epoch's metrics."""

    run_dir: Path
    run_id: str
    config: Optional[TrainConfig]
    status: Optional[RunStatus]
    best: dict[str, float]
    epochs_done: int

    def row(self) -> dict[str, Any]:
        c, s = self.config, self.status
        return {
            "run": self.run_id,
            "state": s.state if s else "unknown",
            "arch": c.arch if c else "",
            "bands": c.bands if c else "",
            "epochs": f"{self.epochs_done}/{c.epochs if c else '?'}",
            "alpha": c.alpha if c else None,
            "beta": c.beta if c else None,
            "lr": c.lr if c else None,
            "best_epoch": int(self.best["epoch"]) if "epoch" in self.best else None,
            "val_loss": self.best.get("val_loss"),
            "f1": self.best.get("val_f1"),
            "precision": self.best.get("val_precision"),
            "recall": self.best.get("val_recall"),
            "iou": self.best.get("val_iou"),
        }


def run_info(run_dir: str | Path) -> RunInfo:
    run_dir = Path(run_dir)
    try:
        config = read_config(run_dir)
    except UserError:
        config = None
    rows = read_metrics(run_dir)
    best = min(rows, key=lambda r: r.get("val_loss", float("inf"))) if rows else {}
    return RunInfo(run_dir, run_dir.name, config, current_status(run_dir), best, len(rows))


def list_runs(root: Optional[str | Path] = None) -> list[RunInfo]:
    """Every run folder under ``root`` (default: the runs root), newest first."""
    root = Path(root) if root else runs_root()
    if not root.is_dir():
        return []
    dirs = [p for p in root.iterdir() if p.is_dir() and (p / CONFIG_FILE).exists()]
    return [run_info(p) for p in sorted(dirs, key=lambda p: p.name, reverse=True)]
