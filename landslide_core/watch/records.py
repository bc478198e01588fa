"""The values the watchlist keeps: watched areas, their checks and the alerts sent for them.

Plain dataclasses, no SQL (that is :mod:`.store`'s alone). Times are naive UTC datetimes,
dates are acquisition dates.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from ..sources.request import DateWindow
from .cadence import format_cadence

# --- check statuses ---
OK = "ok"
NO_NEW_SCENE = "no_new_scene"
FAILED = "failed"
STATUS_LABELS = {OK: "ok", NO_NEW_SCENE: "no new clear scene", FAILED: "failed"}

# --- alert channels and states ---
WEBHOOK = "webhook"
EMAIL = "email"
CHANNEL_KINDS = (WEBHOOK, EMAIL)
PENDING, SENDING, SENT, ALERT_FAILED = "pending", "sending", "sent", "failed"


def utc_now() -> dt.datetime:
    """Now in UTC, naive (what the store keeps)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


@dataclass(frozen=True)
class Channel:
    """Where an area's alerts go: a webhook URL or an e-mail address."""

    kind: str
    target: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "target": self.target}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Channel":
        return cls(str(d["kind"]), str(d["target"]))

    def __str__(self) -> str:
        return f"{self.kind} {self.target}"


@dataclass(frozen=True)
class AlertRule:
    """Alert when a check finds at least ``min_ha`` hectares or ``min_count`` new landslides
    (either; a rule with neither never alerts)."""

    min_ha: Optional[float] = 1.0
    min_count: Optional[int] = None

    def passes(self, new_count: Optional[int], new_ha: Optional[float]) -> bool:
        if self.min_ha is not None and new_ha is not None and float(new_ha) >= self.min_ha:
            return True
        return self.min_count is not None and new_count is not None and int(new_count) >= self.min_count

    def describe(self) -> str:
        parts = []
        if self.min_ha is not None:
            parts.append(f">= {self.min_ha:g} ha")
        if self.min_count is not None:
            parts.append(f">= {self.min_count} landslides")
        return " or ".join(parts) if parts else "never"


@dataclass
class NewArea:
    """What `watch add` and "Watch this area" give: an area to watch, checked before it is stored."""

    name: str
    geometry: dict
    cadence_s: int
    cloud_limit_pct: float
    model: str
    source: str
    baseline: DateWindow
    rule: AlertRule = field(default_factory=AlertRule)
    channels: list[Channel] = field(default_factory=list)
    source_options: dict[str, Any] = field(default_factory=dict)
    detection_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Area:
    """A watched area as stored."""

    id: int
    name: str
    geometry: dict
    created_at: dt.datetime
    cadence_s: int
    cloud_limit_pct: float
    model: str
    source: str
    source_options: dict[str, Any]
    detection_options: dict[str, Any]
    baseline: DateWindow
    rule: AlertRule
    channels: list[Channel]
    next_due_at: Optional[dt.datetime] = None
    last_checked_at: Optional[dt.datetime] = None
    claimed_by: Optional[str] = None
    lease_until: Optional[dt.datetime] = None

    @property
    def cadence(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.cadence_s)

    @property
    def cadence_text(self) -> str:
        return format_cadence(self.cadence_s)

    def is_due(self, now: dt.datetime) -> bool:
        return self.next_due_at is None or self.next_due_at <= now

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "geometry": self.geometry, "created_at": _iso(self.created_at),
            "every": self.cadence_text, "cloud_limit_pct": self.cloud_limit_pct, "model": self.model,
            "source": self.source, "source_options": self.source_options,
            "detection_options": self.detection_options, "baseline": self.baseline.to_json(),
            "alert_rule": {"min_ha": self.rule.min_ha, "min_count": self.rule.min_count},
            "channels": [c.to_json() for c in self.channels], "next_due_at": _iso(self.next_due_at),
            "last_checked_at": _iso(self.last_checked_at),
        }


@dataclass
class Check:
    """One check of an area: when, which scenes, what it found, or why it found nothing."""

    area_id: int
    started_at: dt.datetime
    finished_at: dt.datetime
    status: str
    reason: Optional[str] = None
    baseline_date: Optional[dt.date] = None
    scene_date: Optional[dt.date] = None
    scenes: dict[str, Any] = field(default_factory=dict)
    result_folder: Optional[str] = None
    result_key: Optional[str] = None
    new_count: Optional[int] = None
    new_ha: Optional[float] = None
    runner: Optional[str] = None
    id: Optional[int] = None

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("started_at", "finished_at", "baseline_date", "scene_date"):
            d[k] = _iso(d[k])
        d["status_label"] = self.status_label
        return d


@dataclass
class Alert:
    """One alert of one check on one channel: at most one per check and channel."""

    id: int
    check_id: int
    channel: Channel
    status: str
    attempts: int
    created_at: dt.datetime
    sent_at: Optional[dt.datetime] = None
    error: Optional[str] = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "check_id": self.check_id, "channel": self.channel.kind,
                "target": self.channel.target, "status": self.status, "attempts": self.attempts,
                "created_at": _iso(self.created_at), "sent_at": _iso(self.sent_at), "error": self.error}


def _iso(value: Any) -> Optional[str]:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
