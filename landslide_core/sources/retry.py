"""Retries with exponential backoff and jitter for calls to a remote service.

:func:`classify` sorts an exception into ``retry`` (rate limit 429, server errors 5xx,
network timeouts, "Computation timed out"), ``split`` ("User memory limit exceeded": ask for
less at once) or ``fatal`` (anything else). :func:`call_with_retry` retries ``retry`` errors
and raises a :class:`SourceError` naming the cause after the last try. The sleep function and
random source are injectable so tests do not wait.
"""
from __future__ import annotations

import logging
import random
import re
import socket
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, TypeVar

from ..errors import Cancelled, SourceError, UserError
from ..progress import CancelToken, check_cancel

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY, SPLIT, FATAL = "retry", "split", "fatal"

_PATTERNS: list[tuple[str, str, str]] = [
    (SPLIT, r"user memory limit exceeded|memory limit", "Earth Engine ran out of memory (\"User memory limit exceeded\")"),
    (RETRY, r"computation timed out", "Earth Engine computation timed out"),
    (RETRY, r"too many concurrent|rate limit|quota exceeded|too many requests|resource_exhausted|\b429\b",
     "rate limit (HTTP 429: too many requests)"),
    (RETRY, r"\b50[0-4]\b|service unavailable|internal error|backend error|bad gateway|server error",
     "server error (HTTP 5xx)"),
    (RETRY, r"timed out|timeout|deadline exceeded", "network timeout"),
    (RETRY, r"connection (reset|aborted|refused)|remote end closed|temporarily unavailable",
     "network connection dropped"),
]


@dataclass
class RetryPolicy:
    """How often and how long to wait: delay = min(max, base * 2**attempt), jittered to 50-100 %."""

    max_attempts: int = 5
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def delay_s(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (0-based)."""
        d = min(self.max_delay_s, self.base_delay_s * (2 ** attempt))
        return d * (0.5 + 0.5 * self.rng.random())


def _status(exc: BaseException) -> Optional[int]:
    for attr in ("status_code", "code", "status"):
        v = getattr(exc, attr, None)
        if isinstance(v, int) and 100 <= v < 600:
            return v
    resp = getattr(exc, "resp", None)
    v = getattr(resp, "status", None)
    try:
        return int(v) if v is not None else None
    except (TypeError, ValueError):
        return None


def classify(exc: BaseException) -> tuple[str, str]:
    """``(kind, cause)`` for an exception from a remote call."""
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return RETRY, "network timeout"
    if isinstance(exc, ConnectionError):
        return RETRY, "network connection dropped"
    status = _status(exc)
    if status == 429:
        return RETRY, "rate limit (HTTP 429: too many requests)"
    if status is not None and 500 <= status < 600:
        return RETRY, f"server error (HTTP {status})"
    text = str(exc)
    for kind, pattern, cause in _PATTERNS:
        if re.search(pattern, text, flags=re.IGNORECASE):
            return kind, cause
    return FATAL, text or type(exc).__name__


class NeedsSplit(Exception):
    """The request asked for too much at once; the caller should ask for smaller pieces."""

    def __init__(self, cause: str):
        super().__init__(cause)
        self.cause = cause


@dataclass
class RetryStats:
    retries: int = 0
    calls: int = 0
    causes: list[str] = field(default_factory=list)


def _sleep(policy: RetryPolicy, delay_s: float, cancel: Optional[CancelToken]) -> None:
    """Wait before a retry; with the real clock, wake up early when cancelled."""
    if cancel is None or policy.sleep is not time.sleep:
        policy.sleep(delay_s)
        return
    end = time.monotonic() + delay_s
    while (left := end - time.monotonic()) > 0:
        check_cancel(cancel)
        time.sleep(min(0.2, left))
    check_cancel(cancel)


def call_with_retry(fn: Callable[[], T], policy: RetryPolicy, what: str = "the request",
                    stats: Optional[RetryStats] = None, cancel: Optional[CancelToken] = None) -> T:
    """``fn()`` with retries; NeedsSplit on memory errors; SourceError after the last try."""
    stats = stats if stats is not None else RetryStats()
    last_cause, last_text = "", ""
    for attempt in range(policy.max_attempts):
        check_cancel(cancel)
        stats.calls += 1
        try:
            return fn()
        except (UserError, Cancelled):
            raise
        except Exception as exc:  # noqa: BLE001 - every remote failure is classified below
            kind, cause = classify(exc)
            if kind == SPLIT:
                raise NeedsSplit(cause) from exc
            if kind == FATAL:
                raise SourceError(f"{what} failed: {cause}.",
                                  "Check the request; if it looks right, try again later.") from exc
            last_cause, last_text = cause, str(exc)[:200]
            stats.causes.append(cause)
            if attempt + 1 < policy.max_attempts:
                stats.retries += 1
                delay = policy.delay_s(attempt)
                log.info("%s: %s; retry %d in %.1f s", what, cause, attempt + 1, delay)
                _sleep(policy, delay, cancel)
    raise SourceError(
        f"{what} failed {policy.max_attempts} times: {last_cause} ({last_text}).",
        "Earth Engine is busy or unreachable: wait a few minutes and try again, or choose a "
        "smaller area.")
