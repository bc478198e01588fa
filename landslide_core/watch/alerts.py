"""Alerts: what a check's alert says, and sending the alerts that are due.

A check whose finding passes its area's rule gets one alert row per channel, written in the
same transaction as the check (so an alert is never lost and never doubled: the store keeps
one per check and channel). :func:`send_pending` then sends every alert not yet sent: new
ones, those that failed before (retried on every run, up to :data:`MAX_ATTEMPTS`), and those
whose sender died. Each is claimed first, so two runners never send the same one.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Callable, Optional

from .channels import AlertMessage, DeliveryError, SmtpSettings, deliver
from .config import dashboard_url
from .records import Alert, Area, Check, utc_now

log = logging.getLogger(__name__)

#: An alert that failed this many times is left as failed (see `watch history`).
MAX_ATTEMPTS = 10
#: How long a runner may take to send one alert before another may try.
SEND_LEASE_S = 120.0


def result_link(check: Check, base_url: Optional[str] = None) -> Optional[str]:
    """The dashboard address that opens the check's result on the Compare page."""
    base = base_url if base_url is not None else dashboard_url()
    if not base or not check.result_key:
        return None
    return f"{base.rstrip('/')}/Compare?result={check.result_key}"


def build_message(alert: Alert, check: Check, area: Area, base_url: Optional[str] = None) -> AlertMessage:
    """The alert's subject, text and JSON: area, dates, new count and hectares, a link."""
    link = result_link(check, base_url)
    count, ha = int(check.new_count or 0), float(check.new_ha or 0.0)
    before = check.baseline_date.isoformat() if check.baseline_date else None
    after = check.scene_date.isoformat() if check.scene_date else None
    payload = {
        "alert_id": f"landslide-monitor-alert-{alert.id}",
        "area": area.name,
        "check_id": check.id,
        "checked_at": check.finished_at.isoformat() if check.finished_at else None,
        "dates": {"before": before, "after": after},
        "new_count": count,
        "new_ha": round(ha, 4),
        "rule": area.rule.describe(),
        "result": {"url": link, "folder": check.result_folder, "key": check.result_key},
        "scenes": check.scenes,
        "geometry": area.geometry,
    }
    subject = f"Landslide monitor: {count} new landslide(s), {ha:.2f} ha, in {area.name}"
    lines = [
        f"The landslide monitor found {count} new landslide(s) covering {ha:.2f} ha in the watched "
        f"area '{area.name}'.",
        "",
        f"Scenes compared: {before} (before) and {after} (after).",
        f"Alert rule: {area.rule.describe()}.",
        f"Result: {link}" if link else f"Result folder: {check.result_folder}",
        "",
        "The JSON of this alert is attached.",
    ]
    return AlertMessage(payload["alert_id"], subject, "\n".join(lines), payload)


@dataclass
class SendReport:
    sent: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)


def send_pending(store, runner: str, smtp: Optional[SmtpSettings] = None,
                 deliver_fn: Callable[..., None] = deliver,
                 wall_clock: Callable[[], dt.datetime] = utc_now) -> SendReport:
    """Send every alert that is due; record each outcome on the alert."""
    report = SendReport()
    ids = store.alerts_to_send(wall_clock(), MAX_ATTEMPTS)
    for alert_id in ids:
        wall = wall_clock()
        if not store.claim_alert(alert_id, runner, wall, wall + dt.timedelta(seconds=SEND_LEASE_S), MAX_ATTEMPTS):
            continue  # another runner is sending it, or sent it meanwhile
        alert, check, area = store.alert_context(alert_id)
        try:
            deliver_fn(alert.channel.kind, alert.channel.target, build_message(alert, check, area), smtp)
        except DeliveryError as exc:
            log.warning("alert %s on %s failed: %s", alert_id, alert.channel, exc)
            store.finish_alert(alert_id, runner, False, wall_clock(), str(exc))
            report.failed[alert_id] = str(exc)
            continue
        except Exception as exc:  # noqa: BLE001 - a bug in a channel must not stop the run
            log.exception("alert %s on %s failed unexpectedly", alert_id, alert.channel)
            store.finish_alert(alert_id, runner, False, wall_clock(), f"unexpected error: {type(exc).__name__}: {exc}")
            report.failed[alert_id] = str(exc)
            continue
        store.finish_alert(alert_id, runner, True, wall_clock())
        report.sent.append(alert_id)
    return report
