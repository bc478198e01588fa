"""Delivering one alert: an HTTP webhook (JSON) or an e-mail through SMTP.

A delivery either returns or raises :class:`DeliveryError` with what went wrong in words
(recorded on the alert, which is retried on the next run). Each message carries an id
(``Idempotency-Key`` header, ``alert_id`` in the JSON, the e-mail's ``Message-ID``) so a
receiver can drop a repeat after a runner died between sending and recording.

SMTP settings, environment first, then the ``[smtp]`` table of ``.streamlit/secrets.toml``:

| environment | secrets ``[smtp]`` | default |
|---|---|---|
| ``LANDSLIDE_SMTP_HOST`` | ``host`` | none: e-mail alerts fail until set |
| ``LANDSLIDE_SMTP_PORT`` | ``port`` | 465 with SSL, 587 with STARTTLS, else 25 |
| ``LANDSLIDE_SMTP_USER`` / ``LANDSLIDE_SMTP_PASSWORD`` | ``user`` / ``password`` | no login |
| ``LANDSLIDE_SMTP_FROM`` | ``from`` | ``landslide-monitor@<host name>`` |
| ``LANDSLIDE_SMTP_STARTTLS`` / ``LANDSLIDE_SMTP_SSL`` | ``starttls`` / ``ssl`` | off |
"""
from __future__ import annotations

import json
import os
import smtplib
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Mapping, Optional

WEBHOOK_TIMEOUT_S = 15.0
SMTP_TIMEOUT_S = 20.0
SMTP_ENV_PREFIX = "LANDSLIDE_SMTP_"
SMTP_SECRETS_TABLE = "smtp"


class DeliveryError(Exception):
    """An alert could not be delivered; the message says why."""


@dataclass
class AlertMessage:
    """One alert, ready for any channel."""

    message_id: str
    subject: str
    text: str
    payload: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- webhook
def send_webhook(url: str, message: AlertMessage, timeout_s: float = WEBHOOK_TIMEOUT_S) -> None:
    """POST the message's JSON payload to ``url``; any 2xx answer is a delivery."""
    body = json.dumps(message.payload, default=str).encode("utf-8")
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "landslide-monitor",
        "Idempotency-Key": message.message_id})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            status = resp.status
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"The webhook {url} answered HTTP {exc.code} {exc.reason}.") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"The webhook {url} could not be reached ({reason}).") from None
    if not 200 <= status < 300:
        raise DeliveryError(f"The webhook {url} answered HTTP {status}.")


# ----------------------------------------------------------------------------- e-mail
@dataclass
class SmtpSettings:
    host: Optional[str] = None
    port: Optional[int] = None
    user: Optional[str] = None
    password: Optional[str] = None
    sender: Optional[str] = None
    starttls: bool = False
    ssl: bool = False
    origin: str = "not configured"

    @property
    def effective_port(self) -> int:
        return int(self.port) if self.port else (465 if self.ssl else 587 if self.starttls else 25)

    @property
    def effective_sender(self) -> str:
        return self.sender or f"landslide-monitor@{socket.gethostname() or 'localhost'}"


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on") if value is not None else False


def smtp_settings(env: Optional[Mapping[str, str]] = None,
                  secrets_paths: Optional[list[Path]] = None) -> SmtpSettings:
    """The SMTP settings from the environment, else the secrets file (see the module doc)."""
    from ..sources.ee_auth import read_secrets

    env = os.environ if env is None else env
    secrets, secrets_file, _ = read_secrets(secrets_paths)
    table = secrets.get(SMTP_SECRETS_TABLE) if isinstance(secrets.get(SMTP_SECRETS_TABLE), dict) else {}

    def get(key: str, secret_key: str) -> Any:
        value = env.get(SMTP_ENV_PREFIX + key)
        return value if value not in (None, "") else table.get(secret_key)

    host = get("HOST", "host")
    origin = ("environment" if env.get(SMTP_ENV_PREFIX + "HOST") else
              f"[{SMTP_SECRETS_TABLE}] in {secrets_file}" if host else "not configured")
    port = get("PORT", "port")
    try:
        port = int(port) if port not in (None, "") else None
    except (TypeError, ValueError):
        port = None
    return SmtpSettings(host=str(host) if host else None, port=port, user=get("USER", "user"),
                        password=get("PASSWORD", "password"), sender=get("FROM", "from"),
                        starttls=_truthy(get("STARTTLS", "starttls")), ssl=_truthy(get("SSL", "ssl")),
                        origin=origin)


def send_email(address: str, message: AlertMessage, settings: Optional[SmtpSettings] = None) -> None:
    """Send the message as a plain-text e-mail with its JSON attached."""
    settings = settings or smtp_settings()
    if not settings.host:
        raise DeliveryError(
            f"No SMTP server is configured, so the e-mail to {address} was not sent. Set "
            f"{SMTP_ENV_PREFIX}HOST (and _PORT, _USER, _PASSWORD, _FROM) in the environment, or an "
            f"[{SMTP_SECRETS_TABLE}] table in .streamlit/secrets.toml.")
    msg = EmailMessage()
    msg["Subject"] = message.subject
    msg["From"] = settings.effective_sender
    msg["To"] = address
    domain = settings.effective_sender.rsplit("@", 1)[-1]
    msg["Message-ID"] = f"<{message.message_id}@{domain}>"
    msg.set_content(message.text)
    msg.add_attachment(json.dumps(message.payload, indent=2, default=str).encode("utf-8"),
                       maintype="application", subtype="json", filename="alert.json")
    where = f"{settings.host}:{settings.effective_port}"
    try:
        cls = smtplib.SMTP_SSL if settings.ssl else smtplib.SMTP
        with cls(settings.host, settings.effective_port, timeout=SMTP_TIMEOUT_S) as smtp:
            if settings.starttls and not settings.ssl:
                smtp.starttls()
            if settings.user:
                smtp.login(str(settings.user), str(settings.password or ""))
            smtp.send_message(msg)
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"The SMTP server {where} refused the login ({exc.smtp_code}); check "
                            f"{SMTP_ENV_PREFIX}USER and _PASSWORD.") from None
    except smtplib.SMTPRecipientsRefused:
        raise DeliveryError(f"The SMTP server {where} refused the address {address}.") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"The e-mail to {address} could not be sent through {where} "
                            f"({type(exc).__name__}: {exc}).") from None


def deliver(kind: str, target: str, message: AlertMessage, smtp: Optional[SmtpSettings] = None) -> None:
    """Send ``message`` on one channel (``webhook`` URL or ``email`` address)."""
    from .records import EMAIL, WEBHOOK

    if kind == WEBHOOK:
        send_webhook(target, message)
    elif kind == EMAIL:
        send_email(target, message, smtp)
    else:
        raise DeliveryError(f"Unknown alert channel '{kind}'.")
