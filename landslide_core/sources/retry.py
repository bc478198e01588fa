"""Retries with exponential backoff and jitter for calls to Earth Engine: the one retry layer.

The client library (``ee.data``) turns every HTTP error into ``EEException(message)``: the
status code is not in it, only in the ``HttpError`` it was raised from (its ``__context__``).
:func:`classify` therefore reads both, and knows the service's own messages:

* ``split`` (ask for less at once): "Total request size (N bytes) must be less than or equal
  to 50331648 bytes.", "Pixel grid dimensions (WxH) must be less than or equal to 32768.",
  "User memory limit exceeded.";
* ``retry``: HTTP 429 and 5xx, "The service is currently unavailable." (503 UNAVAILABLE),
  "Deadline expired before operation could complete." / "Deadline exceeded" (504),
  "Too many concurrent aggregations.", "Quota exceeded for quota metric ...", "Computation
  timed out.", "Earth Engine capacity exceeded.", "Internal error", network timeouts and
  dropped connections;
* ``fatal``: anything else (a bad request: retrying cannot help).

The library's own retries (``googleapiclient``: five for 429/5xx, with sleeps nothing can
interrupt) are switched off at sign-in (``ee.data.setMaxRetries(0)``), so :func:`call_with_retry`
is the only layer, counts every HTTP attempt, and wakes from a backoff wait within 0.1 s of a
cancel. The sleep function and random source are injectable so tests do not wait.
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

#: (kind, pattern, cause) in order; the first match wins. SPLIT comes first: "Total request
#: size" is an HTTP 400 that must never be read as a server error.
_PATTERNS: list[tuple[str, str, str]] = [
    (SPLIT, r"total request size", "the tile is over Earth Engine's request size limit (\"Total request size\")"),
    (SPLIT, r"pixel grid dimensions", "the tile is over Earth Engine's 32768 px side limit"),
    (SPLIT, r"user memory limit exceeded", "Earth Engine ran out of memory (\"User memory limit exceeded\")"),
    (RETRY, r"computation timed out", "Earth Engine computation timed out"),
    (RETRY, r"too many concurrent aggregations", "too many concurrent requests (\"Too many concurrent aggregations\")"),
    (RETRY, r"quota exceeded|rate limit|too many requests|resource_exhausted|<httperror 429",
     "rate limit (HTTP 429: too many requests)"),
    (RETRY, r"service is currently unavailable|\bunavailable\b|<httperror 5\d\d",
     "Earth Engine is unavailable (HTTP 503)"),
    (RETRY, r"deadline (exceeded|expired)", "Earth Engine deadline exceeded (HTTP 504)"),
    (RETRY, r"capacity exceeded|internal error|backend error|bad gateway|server error",
     "Earth Engine server error (HTTP 5xx)"),
    (RETRY, r"timed out|timeout", "network timeout"),
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


def _own_status(exc: BaseException) -> Optional[int]:
    for attr in ("status_code", "code", "status"):
        v = getattr(exc, attr, None)
        if isinstance(v, int) and not isinstance(v, bool) and 100 <= v < 600:
            return v
    resp = getattr(exc, "resp", None)
    v = getattr(resp, "status", None)
    try:
        return int(v) if v is not None else None
    except (TypeError, ValueError):
        return None


def http_status(exc: BaseException) -> Optional[int]:
    """The HTTP status behind an exception: its own, or that of the error it was raised from
    (``ee.data`` raises ``EEException(message)`` while handling the ``HttpError``)."""
    seen = 0
    while exc is not None and seen < 6:
        status = _own_status(exc)
        if status is not None:
            return status
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def is_credential_error(exc: BaseException) -> bool:
    """An exception from google-auth (renewing a token...): its text is never shown."""
    return type(exc).__module__.startswith("google.auth")


def classify(exc: BaseException) -> tuple[str, str]:
    """``(kind, cause)`` for an exception from a remote call (see the module docstring)."""
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return RETRY, "network timeout"
    if isinstance(exc, ConnectionError):
        return RETRY, "network connection dropped"
    if is_credential_error(exc):
        if type(exc).__name__ == "TransportError":
            return RETRY, "network connection dropped (renewing the sign-in)"
        return FATAL, ("Google refused to renew the sign-in (the key was deleted or the sign-in revoked "
                       "meanwhile); sign in again")
    text = str(exc)
    for kind, pattern, cause in _PATTERNS:
        if kind == SPLIT and re.search(pattern, text, flags=re.IGNORECASE):
            return kind, cause
    status = http_status(exc)
    if status == 429:
        return RETRY, "rate limit (HTTP 429: too many requests)"
    if status is not None and 500 <= status < 600:
        for kind, pattern, cause in _PATTERNS:
            if kind == RETRY and re.search(pattern, text, flags=re.IGNORECASE):
                return RETRY, cause
        return RETRY, f"Earth Engine server error (HTTP {status})"
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


#: A backoff wait checks for a cancel this often (seconds).
CANCEL_POLL_S = 0.1


def _sleep(policy: RetryPolicy, delay_s: float, cancel: Optional[CancelToken]) -> None:
    """Wait before a retry; with the real clock, wake up within CANCEL_POLL_S of a cancel."""
    if cancel is None or policy.sleep is not time.sleep:
        policy.sleep(delay_s)
        check_cancel(cancel)
        return
    end = time.monotonic() + delay_s
    while (left := end - time.monotonic()) > 0:
        check_cancel(cancel)
        time.sleep(min(CANCEL_POLL_S, left))
    check_cancel(cancel)


def call_with_retry(fn: Callable[[], T], policy: RetryPolicy, what: str = "the request",
                    stats: Optional[RetryStats] = None, cancel: Optional[CancelToken] = None) -> T:
    """``fn()`` with retries; NeedsSplit when the request is too big; SourceError after the
    last try or on a fatal error; Cancelled as soon as ``cancel`` is set."""
    stats = stats if stats is not None else RetryStats()
    last_cause, last_text = "", ""
    for attempt in range(policy.max_attempts):
        check_cancel(cancel)
        stats.calls += 1
        fatal: Optional[SourceError] = None
        try:
            return fn()
        except (UserError, Cancelled):
            raise
        except Exception as exc:  # noqa: BLE001 - every remote failure is classified below
            kind, cause = classify(exc)
            if kind == SPLIT:
                raise NeedsSplit(cause) from exc
            secret = is_credential_error(exc)
            if kind == FATAL:
                fatal = SourceError(f"{what} failed: {cause}.",
                                    "Check the request; if it looks right, try again later.")
                if not secret:
                    raise fatal from exc
            last_cause = cause
            last_text = type(exc).__name__ if secret else str(exc)[:200]
            stats.causes.append(cause)
        if fatal is not None:  # a sign-in failure: raised outside the handler, nothing chained
            raise fatal
        if attempt + 1 < policy.max_attempts:
            stats.retries += 1
            delay = policy.delay_s(attempt)
            log.info("%s: %s; retry %d in %.1f s", what, last_cause, attempt + 1, delay)
            _sleep(policy, delay, cancel)
    raise SourceError(
        f"{what} failed {policy.max_attempts} times: {last_cause} ({last_text}).",
        "Earth Engine is busy or unreachable: wait a few minutes and try again, or choose a "
        "smaller area.")
