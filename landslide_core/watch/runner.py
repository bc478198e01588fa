"""Checks that run by themselves: `watch run` and the dashboard's "Check now".

For each area a runner

1. claims it in the store (skipped when another runner holds it, when it was already
   checked since this run began, or, with ``due_only``, when it is not due);
2. plans the check (:mod:`.planning`): the newest clear scene since the last one used; none
   means "no new clear scene", recorded without any fetch or inference;
3. runs the dashboard's own pipeline, :func:`landslide_core.analysis.run_analysis`, with the
   same scene cache and results folder (a repeated analysis is read back, not redone);
4. records the check, its alerts and the area's next due time in one transaction, while it
   still holds the claim; a runner killed before that leaves no row, and its area is taken
   over at once by a runner on the same machine (the holder's process is gone) or by any
   runner once the lease runs out (the lease is renewed while a check runs);
5. sends the alerts that are due (:mod:`.alerts`).

Time: ``clock`` gives "now" (the date up to which scenes are looked for, and the schedule);
a fixed clock replays the past (`watch run --now DATE`). Leases always use the wall clock.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from ..errors import Cancelled, UserError
from ..progress import CancelToken, ProgressFn, check_cancel
from .alerts import SendReport, send_pending
from .channels import SmtpSettings, deliver
from .config import lease_seconds
from .leases import LeaseKeeper, holder_is_dead, runner_id
from .planning import Plan, plan_check
from .records import FAILED, NO_NEW_SCENE, OK, Area, Check, utc_now

log = logging.getLogger(__name__)

SKIPPED = "skipped"


class Clock:
    """Now, in naive UTC: the real time, or a fixed moment (a replay or a test)."""

    def __init__(self, fixed: Optional[dt.datetime] = None):
        self.fixed = fixed

    @classmethod
    def at_date(cls, day: dt.date) -> "Clock":
        """A clock fixed at noon UTC of ``day``."""
        return cls(dt.datetime.combine(day, dt.time(12, 0)))

    def now(self) -> dt.datetime:
        return self.fixed if self.fixed is not None else utc_now()

    def today(self) -> dt.date:
        return self.now().date()


@dataclass
class CheckOutcome:
    """What happened to one area in a run."""

    area: str
    status: str                      # ok | no_new_scene | failed | skipped
    check: Optional[Check] = None
    note: str = ""                   # why it was skipped, or the failure's reason
    exit_code: int = 0               # a failed check: 2 input, 3 model, 4 source, 1 unexpected

    def to_json(self) -> dict[str, Any]:
        return {"area": self.area, "status": self.status, "note": self.note,
                "check": self.check.to_json() if self.check else None}


@dataclass
class RunReport:
    runner: str
    started: dt.datetime
    outcomes: list[CheckOutcome] = field(default_factory=list)
    alerts: SendReport = field(default_factory=SendReport)
    timings_s: dict[str, float] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def exit_code(self) -> int:
        """0, or the exit code of the first failed check's kind of error (2 input, 3 model, 4 source)."""
        return next((o.exit_code or 1 for o in self.outcomes if o.status == FAILED), 0)

    def to_json(self) -> dict[str, Any]:
        return {"runner": self.runner, "started": self.started.isoformat(),
                "outcomes": [o.to_json() for o in self.outcomes],
                "alerts": {"sent": self.alerts.sent, "failed": self.alerts.failed}, "timings_s": self.timings_s}


class Timings:
    """Seconds spent per kind of work (store, listing, analysis, alerts), for the bench."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    @contextmanager
    def measure(self, kind: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:
                self.seconds[kind] += time.perf_counter() - t0


class _TimedStore:
    """The store with every call's time added to ``timings['store']``."""

    def __init__(self, store, timings: Timings):
        self._store, self._timings = store, timings

    def __getattr__(self, name: str):
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def timed(*args, **kwargs):
            with self._timings.measure("store"):
                return attr(*args, **kwargs)

        return timed


class WatchRunner:
    """Checks watched areas (see the module doc)."""

    def __init__(self, store, clock: Optional[Clock] = None, results_root: Optional[str | Path] = None,
                 lease_s: Optional[float] = None, smtp: Optional[SmtpSettings] = None,
                 deliver_fn: Callable[..., None] = deliver, cancel: Optional[CancelToken] = None,
                 progress: Optional[Callable[[str, str], None]] = None, source_factory=None,
                 analysis_progress: Optional[ProgressFn] = None):
        self.timings = Timings()
        self.store = _TimedStore(store, self.timings)
        self.clock = clock or Clock()
        self.results_root = results_root
        self.lease_s = float(lease_s) if lease_s else lease_seconds()
        self.smtp = smtp
        self.deliver_fn = deliver_fn
        self.cancel = cancel
        self.progress = progress or (lambda area, message: None)
        self.analysis_progress = analysis_progress
        self.id = runner_id()
        self._sources: dict[str, Any] = {}
        self._models: dict[str, Any] = {}
        self._source_factory = source_factory

    # --- runs -----------------------------------------------------------------------------
    def run(self, due_only: bool = False, names: Optional[list[str]] = None) -> RunReport:
        """Check every area once (``due_only``: every due area); then send the due alerts."""
        t0 = time.perf_counter()
        report = RunReport(self.id, self.clock.now())
        areas = self.store.list_areas()
        if names:
            wanted = set(names)
            areas = [a for a in areas if a.name in wanted]
        for area in areas:
            check_cancel(self.cancel)
            report.outcomes.append(self.check_area(area, due_only=due_only, run_started=report.started))
        report.alerts = self.send_alerts()
        self.timings.seconds["wall"] = time.perf_counter() - t0
        report.timings_s = {k: round(v, 4) for k, v in self.timings.seconds.items()}
        return report

    def check_now(self, name: str) -> CheckOutcome:
        """Check one area at once, due or not (the dashboard's "Check now"), then send alerts."""
        area = self.store.area(name)
        outcome = self.check_area(area, due_only=False, run_started=self.clock.now())
        self.send_alerts()
        return outcome

    def send_alerts(self) -> SendReport:
        with self.timings.measure("alerts"):
            return send_pending(self.store, self.id, self.smtp, self.deliver_fn)

    # --- one area -------------------------------------------------------------------------
    def _claim(self, area: Area, due_only: bool, run_started: dt.datetime) -> Optional[str]:
        """None when claimed, else why not."""
        wall = utc_now()
        until = wall + dt.timedelta(seconds=self.lease_s)
        now = self.clock.now()
        if self.store.claim_area(area.id, self.id, wall_now=wall, lease_until=until, run_started=run_started,
                                 now=now, due_only=due_only):
            return None
        fresh = self.store.get_area_by_id(area.id)
        if fresh is None:
            return "removed meanwhile"
        if fresh.last_checked_at is not None and fresh.last_checked_at >= run_started:
            return "already checked in this run"
        if due_only and not fresh.is_due(now):
            return f"not due until {fresh.next_due_at:%Y-%m-%d %H:%M} UTC"
        if fresh.claimed_by and holder_is_dead(fresh.claimed_by):
            if self.store.take_over(area.id, fresh.claimed_by, self.id, until):
                log.warning("took over area '%s' from %s (its process is gone)", area.name, fresh.claimed_by)
                return None
        return f"being checked by another runner ({fresh.claimed_by})"

    def check_area(self, area: Area, due_only: bool, run_started: dt.datetime) -> CheckOutcome:
        """Claim, check and record one area (see the module doc)."""
        why_not = self._claim(area, due_only, run_started)
        if why_not:
            self.progress(area.name, f"skipped: {why_not}")
            return CheckOutcome(area.name, SKIPPED, note=why_not)
        self.progress(area.name, "checking")
        t0 = time.perf_counter()
        try:
            with LeaseKeeper(self.store, area.id, self.id, self.lease_s) as keeper:
                check, exit_code = self._check(area)
        except BaseException:  # cancelled or interrupted: let the next run redo it
            self.store.release_claim(area.id, self.id)
            raise
        if keeper.lost:
            log.warning("lost the claim on area '%s' during its check; not recording it", area.name)
        next_due = check.finished_at + area.cadence if check.status != FAILED else None
        channels = area.channels if check.status == OK and area.rule.passes(check.new_count, check.new_ha) else []
        recorded = self.store.record_check(check, self.id, next_due, channels)
        if recorded is None:
            return CheckOutcome(area.name, SKIPPED, note="another runner took the area over during the check")
        self.progress(area.name, recorded.status_label)
        log.info("area '%s': %s in %.1f s", area.name, recorded.status_label, time.perf_counter() - t0)
        return CheckOutcome(area.name, recorded.status, recorded, recorded.reason or "", exit_code)

    def _check(self, area: Area) -> tuple[Check, int]:
        """The check of one area and, when it failed, the exit code of its kind of error."""
        started = self.clock.now()
        check = Check(area_id=area.id, started_at=started, finished_at=started, status=FAILED)
        exit_code = 0
        try:
            source = self._source(area)
            last = self.store.last_scene_check(area.id)
            with self.timings.measure("listing"):
                plan = plan_check(area, last, source, self.clock.today())
            check.scenes = {"plan": plan.to_json()}
            if plan.request is None:
                check.status, check.reason = NO_NEW_SCENE, plan.reason
                check.baseline_date = plan.since if plan.rolling else None
            else:
                self._analyse(area, plan, source, check)
        except Cancelled:
            raise
        except UserError as exc:
            check.status, check.reason, exit_code = FAILED, str(exc), exc.exit_code
        except Exception as exc:  # noqa: BLE001 - a bug: recorded and logged, the run goes on
            log.exception("the check of area '%s' failed unexpectedly", area.name)
            check.status, check.reason = FAILED, f"Unexpected error ({type(exc).__name__}: {exc}); see the log."
            exit_code = 1
        check.finished_at = self.clock.now()
        return check, exit_code

    def _analyse(self, area: Area, plan: Plan, source, check: Check) -> None:
        from ..analysis import run_analysis
        from ..detection import DetectionOptions

        fields = set(DetectionOptions.__dataclass_fields__)
        options = DetectionOptions(**{k: v for k, v in area.detection_options.items() if k in fields})
        model = self._model(area.model)
        check_cancel(self.cancel)
        t0 = time.perf_counter()
        with self.timings.measure("analysis"):
            result = run_analysis(plan.request, source, area.model, options, results_root=self.results_root,
                                  progress=self.analysis_progress, cancel=self.cancel, loaded_model=model)
        log.info("area '%s': analysis %s in %.1f s%s", area.name, result.key, time.perf_counter() - t0,
                 " (from the results cache)" if result.from_cache else "")
        change = (result.summary or {}).get("change", {})
        check.status = OK
        check.result_folder, check.result_key = str(result.folder), result.key
        check.new_count, check.new_ha = int(change.get("new_count", 0)), float(change.get("new_ha", 0.0))
        check.scenes.update({role: _scene_record(result.provenance.get(role) or {}) for role in ("pre", "post")})
        check.baseline_date = _first_date(result.provenance.get("pre")) or plan.baseline.end
        check.scene_date = _first_date(result.provenance.get("post")) or plan.new_scene.date
        check.reason = None

    # --- sources and models, one per runner -----------------------------------------------------
    def _source(self, area: Area):
        key = json.dumps([area.source, area.source_options], sort_keys=True, default=str)
        if key not in self._sources:
            if self._source_factory is not None:
                self._sources[key] = self._source_factory(area.source, area.source_options)
            else:
                from ..sources import get_source

                self._sources[key] = get_source(area.source, **area.source_options)
        return self._sources[key]

    def _model(self, path: str):
        if path not in self._models:
            from ..detection import load_model

            with self.timings.measure("model load"):
                self._models[path] = load_model(path)
        return self._models[path]


def _first_date(provenance: Optional[dict]) -> Optional[dt.date]:
    dates = (provenance or {}).get("dates") or []
    try:
        return dt.date.fromisoformat(str(dates[0])[:10]) if dates else None
    except ValueError:
        return None


def _scene_record(provenance: dict) -> dict[str, Any]:
    """The scenes used on one side: ids, dates, cloud inside the area."""
    scenes = provenance.get("scenes") or []
    return {"dates": list(provenance.get("dates") or []),
            "scene_ids": [s.get("scene_id") for s in scenes if isinstance(s, dict) and s.get("scene_id")],
            "aoi_cloud_pct": provenance.get("aoi_cloud_pct")}
