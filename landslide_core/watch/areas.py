"""A new watched area from what a person typed: every input checked before anything is stored.

:func:`new_area` turns a name, an AOI, a cadence, a cloud limit, an alert rule, channels, a
source, a model and a baseline window into a :class:`~.records.NewArea`, or raises an
:class:`~landslide_core.errors.InputError` (:class:`ModelError` for a model) that says what
was wrong and what to do.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, Iterable, Optional
from urllib.parse import urlparse

from ..errors import InputError
from ..sources.request import DateWindow
from .cadence import DEFAULT_CADENCE, parse_cadence
from .records import EMAIL, WEBHOOK, AlertRule, Channel, NewArea

MAX_NAME_CHARS = 120
#: The baseline window when none is given: the days before the area is added.
DEFAULT_BASELINE_DAYS = 30
_EMAIL_RE = re.compile(r"^[^@\s<>(),;:\"]+@[^@\s<>(),;:\"]+\.[^@\s<>(),;:\"]+$")
#: Sources whose scenes do not change over time cannot be watched.
UNWATCHABLE_SOURCES = {"local": "Local files are two fixed scenes: they do not change over time."}


def check_name(name: Optional[str]) -> str:
    text = (name or "").strip()
    if not text:
        raise InputError("The area has no name.", "Give it a short name, e.g. --name \"Rio Huallaga slopes\".")
    if len(text) > MAX_NAME_CHARS:
        raise InputError(f"The name is {len(text)} characters long; the limit is {MAX_NAME_CHARS}.",
                         "Give a shorter name.")
    if any(ord(ch) < 32 for ch in text):
        raise InputError("The name holds control characters (a line break or a tab).", "Type it on one line.")
    return text


def check_webhook(url: str) -> Channel:
    text = (url or "").strip()
    parsed = urlparse(text)
    if parsed.scheme not in ("http", "https") or not parsed.hostname or any(ch.isspace() for ch in text):
        raise InputError(f"The webhook '{url}' is not an http(s) URL.",
                         "Give the full address the alert is POSTed to, e.g. https://hooks.example.org/landslides.")
    try:
        parsed.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise InputError(f"The webhook '{url}' has a bad port number.", "Use a port between 1 and 65535.") from None
    return Channel(WEBHOOK, text)


def check_email(address: str) -> Channel:
    text = (address or "").strip()
    if not _EMAIL_RE.match(text):
        raise InputError(f"'{address}' is not an e-mail address.", "Give one address like name@example.org.")
    return Channel(EMAIL, text)


def check_rule(alert_ha: Optional[float], alert_count: Optional[int]) -> AlertRule:
    if alert_ha is not None and not (float(alert_ha) >= 0.0):
        raise InputError(f"--alert-ha {alert_ha} is negative.", "Give hectares of new landslides, e.g. --alert-ha 1.0.")
    if alert_count is not None and int(alert_count) < 1:
        raise InputError(f"--alert-count {alert_count} is below 1.", "Give a number of new landslides, e.g. --alert-count 3.")
    return AlertRule(None if alert_ha is None else float(alert_ha), None if alert_count is None else int(alert_count))


def check_cloud_limit(value: Any) -> float:
    try:
        cloud = float(value)
    except (TypeError, ValueError):
        cloud = float("nan")
    if not 0.0 <= cloud <= 100.0:
        raise InputError(f"The cloud limit {value} is outside 0-100 %.", "Pick a cloud limit between 0 and 100 (30 is a good start).")
    return cloud


def check_source(name: str):
    from ..sources import source_class

    cls = source_class(name)
    if cls.name in UNWATCHABLE_SOURCES:
        raise InputError(f"The '{cls.name}' source cannot be watched. {UNWATCHABLE_SOURCES[cls.name]}",
                         "Watch the area with the demo or Earth Engine source.")
    return cls


def check_model(model: Optional[str | Path]) -> str:
    """The model card's path (absolute); ModelError when it is missing or unreadable."""
    from ..checkpoint import default_model_path, read_card

    path = Path(model).expanduser() if model else default_model_path()
    read_card(path)
    return str(path.resolve())


def check_baseline(baseline: Optional[DateWindow], today: dt.date) -> DateWindow:
    if baseline is None:
        baseline = DateWindow(today - dt.timedelta(days=DEFAULT_BASELINE_DAYS), today - dt.timedelta(days=1))
    baseline.validate("baseline window", today)
    return baseline


def check_detection_options(options: Optional[dict[str, Any]]) -> dict[str, Any]:
    out = {k: v for k, v in dict(options or {}).items() if v is not None and k not in ("device", "batch_size")}
    t = out.get("threshold")
    if t is not None and not 0.0 <= float(t) <= 1.0:
        raise InputError(f"The threshold {t} is outside 0-1.", "Give a probability, e.g. 0.5.")
    return out


def new_area(name: Optional[str], aoi: Any, every: str = DEFAULT_CADENCE, cloud_limit_pct: Any = 30.0,
             alert_ha: Optional[float] = 1.0, alert_count: Optional[int] = None, webhooks: Iterable[str] = (),
             emails: Iterable[str] = (), source: str = "demo", model: Optional[str | Path] = None,
             baseline: Optional[DateWindow] = None, detection_options: Optional[dict[str, Any]] = None,
             aoi_label: Optional[str] = None, today: Optional[dt.date] = None) -> NewArea:
    """A checked :class:`NewArea` (see the module doc). ``aoi``: a GeoJSON dict, or GeoJSON/KML
    text or bytes (``aoi_label`` names it in messages)."""
    from ..sources.aoi import check_aoi, parse_aoi

    today = today or dt.date.today()
    name = check_name(name)
    geometry = parse_aoi(aoi, filename=aoi_label)
    check_aoi(geometry)
    cadence = parse_cadence(every)
    cloud = check_cloud_limit(cloud_limit_pct)
    rule = check_rule(alert_ha, alert_count)
    channels: list[Channel] = []
    for ch in [check_webhook(u) for u in webhooks or ()] + [check_email(e) for e in emails or ()]:
        if ch not in channels:
            channels.append(ch)
    source_cls = check_source(source)
    baseline = check_baseline(baseline, today)
    detection = check_detection_options(detection_options)
    model_path = check_model(model)
    options_for = getattr(source_cls, "watch_options", None)
    source_options = dict(options_for(geometry, baseline)) if callable(options_for) else {}
    return NewArea(name=name, geometry=geometry, cadence_s=int(cadence.total_seconds()), cloud_limit_pct=cloud,
                   model=model_path, source=source_cls.name, baseline=baseline, rule=rule, channels=channels,
                   source_options=source_options, detection_options=detection)
