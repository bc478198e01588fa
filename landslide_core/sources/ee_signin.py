"""Signing in to Earth Engine: credentials from an :class:`~.ee_auth.AuthConfig`,
``ee.Initialize``, and messages that say what went wrong without quoting any secret.

Credentials are built here, not by ``ee.ServiceAccountCredentials`` or ``'persistent'``: the
former quotes the whole key (private key included) in its exception when a field is missing,
and the latter tests the credentials over its own HTTP connection. Built here, every sign-in
method goes through the one HTTP transport ``ee.Initialize(http_transport=...)`` is given
(token requests included), and no exception text from building credentials reaches any
message or log line: the type of the failure is named, never its text. Texts from the service
(a project not registered...) are shown only when they contain no fragment of a secret.

The library's own retries are switched off (``ee.data.setMaxRetries(0)``): :mod:`.retry` is
the one retry layer, which a cancel interrupts.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any, Optional

from ..errors import SourceError
from ..progress import CancelToken, check_cancel
from .base import Readiness
from .ee_auth import HOW_TO_PROJECT, HOW_TO_SIGN_IN, NEW_KEY, AuthConfig, cap, find_config
from .retry import RETRY, RetryPolicy, classify

log = logging.getLogger(__name__)

#: A message fragment this long that also appears in a secret counts as a leak.
SECRET_FRAGMENT_CHARS = 10
WITHHELD = "details withheld: they quoted a credential"
_NETWORK_WORDS = ("timed out", "timeout", "connection", "resolve", "network", "unreachable",
                  "name or service not known", "temporary failure")


def safe_text(text: str, cfg: Optional[AuthConfig], limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters, or a notice if any part of it is a secret's."""
    text = " ".join(str(text).split())[:limit]
    for secret in (cfg.secret_strings() if cfg is not None else []):
        if contains_fragment(text, secret):
            return WITHHELD
    return text


def contains_fragment(text: str, secret: str, n: int = SECRET_FRAGMENT_CHARS) -> bool:
    """Whether ``text`` holds any ``n``-character piece of ``secret`` (whitespace ignored)."""
    squeezed_secret = "".join(secret.split())
    squeezed_text = "".join(text.split())
    if len(squeezed_secret) < n:
        return bool(squeezed_secret) and squeezed_secret in squeezed_text
    pieces = {squeezed_secret[i:i + n] for i in range(len(squeezed_secret) - n + 1)}
    return any(squeezed_text[i:i + n] in pieces for i in range(len(squeezed_text) - n + 1))


def build_credentials(cfg: AuthConfig) -> Any:
    """google-auth credentials for the configured sign-in; SourceError (no exception text) if not."""
    import ee

    failure = None
    creds = None
    try:
        if cfg.kind == "service_account":
            from google.oauth2 import service_account

            creds = service_account.Credentials.from_service_account_info(cfg.key_info, scopes=ee.oauth.SCOPES)
        elif cfg.kind == "user":
            from google.oauth2 import credentials as user_credentials

            stored = cfg.user_info or {}
            creds = user_credentials.Credentials(
                None, refresh_token=stored["refresh_token"], token_uri=ee.oauth.TOKEN_URI,
                client_id=stored.get("client_id", ee.oauth.CLIENT_ID),
                client_secret=stored.get("client_secret", ee.oauth.CLIENT_SECRET),
                scopes=stored.get("scopes", ee.oauth.SCOPES), quota_project_id=stored.get("project"))
        elif cfg.kind == "adc":
            import google.auth
            from google.auth import credentials as auth_credentials

            creds, _ = google.auth.load_credentials_from_dict(dict(cfg.adc_info or {}))
            creds = auth_credentials.with_scopes_if_required(creds, ee.oauth.SCOPES)
        elif cfg.kind == "vm":
            from google.auth import compute_engine

            # Earth Engine lives in the googleapis.com universe; naming it spares a metadata
            # request the library would make outside the given HTTP transport.
            creds = compute_engine.Credentials(universe_domain="googleapis.com")
    except Exception as exc:  # noqa: BLE001 - its text may quote the key: only its type is kept
        failure = type(exc).__name__
    if failure is not None or creds is None:
        fix = NEW_KEY if cfg.kind in ("service_account", "adc") else f"{cap(HOW_TO_SIGN_IN)}"
        raise SourceError(f"Earth Engine: the credentials from {cfg.description} could not be used "
                          f"({failure or 'unknown sign-in method'}).", fix)
    return creds


_init_lock = threading.Lock()
_initialized: dict[str, Any] = {}


def initialize(config: Optional[AuthConfig] = None, force: bool = False, http_transport: Any = None,
               policy: Optional[RetryPolicy] = None, cancel: Optional[CancelToken] = None) -> AuthConfig:
    """Sign in to Earth Engine (``ee.Initialize``) once per configuration and transport.

    Transient failures (service unavailable, network) are retried under ``policy``; anything
    else is a SourceError saying what to do, never quoting a secret.
    """
    cfg = config or find_config()
    if cfg.kind is None:
        found = (" " + " ".join(cfg.problems)) if cfg.problems else ""
        raise SourceError(f"Earth Engine: not signed in.{found}", f"{cap(HOW_TO_SIGN_IN)} Then {HOW_TO_PROJECT}")
    if not cfg.project:
        raise SourceError(f"Earth Engine: no Cloud project is set (signed in with {cfg.description}).",
                          cap(HOW_TO_PROJECT))
    ident = f"{cfg.ident()}:{id(http_transport)}"
    policy = policy or RetryPolicy(max_attempts=3)
    with _init_lock:
        if _initialized.get("ident") == ident and not force:
            return cfg
        _initialized.pop("ident", None)
        creds = build_credentials(cfg)
        import ee

        failure: Optional[tuple[str, str]] = None
        for attempt in range(policy.max_attempts):
            check_cancel(cancel)
            failure = None
            try:
                ee.data.setMaxRetries(0)
                ee.Initialize(credentials=creds, project=cfg.project, http_transport=http_transport)
                ee.data.setMaxRetries(0)  # the one retry layer is ours (retry.py)
                break
            except Exception as exc:  # noqa: BLE001 - explained below, never quoted raw
                kind, _ = classify(exc)
                failure = explain_init_error(exc, cfg)
                transient = kind == RETRY and not _is_refusal(exc)
            if not transient or attempt + 1 >= policy.max_attempts:
                break
            log.info("Earth Engine sign-in: a transient failure; trying again")
            _wait(policy, policy.delay_s(attempt), cancel)
        if failure is not None:
            raise SourceError(*failure)  # outside the except block: no exception context kept
        _initialized["ident"] = ident
    log.info("Earth Engine: signed in with %s", cfg.method)
    return cfg


def _wait(policy: RetryPolicy, delay_s: float, cancel: Optional[CancelToken]) -> None:
    if policy.sleep is not time.sleep:
        policy.sleep(delay_s)
        return
    end = time.monotonic() + delay_s
    while (left := end - time.monotonic()) > 0:
        check_cancel(cancel)
        time.sleep(min(0.1, left))


def _is_refusal(exc: BaseException) -> bool:
    try:
        from google.auth import exceptions as auth_exceptions
    except ImportError:  # pragma: no cover - google-auth comes with earthengine-api
        return False
    return isinstance(exc, auth_exceptions.RefreshError)


def _oauth_error_code(exc: BaseException) -> str:
    """The OAuth error code of a refused token request ("invalid_grant"), or ""."""
    first = exc.args[0] if exc.args else ""
    m = re.match(r"\s*([a-z_]{3,40})\b", str(first))
    return m.group(1) if m else ""


def explain_init_error(exc: BaseException, cfg: AuthConfig) -> tuple[str, str]:
    """(what, fix) for a failed sign-in. Only texts that hold no secret are quoted."""
    if _is_refusal(exc):
        code = _oauth_error_code(exc) or "refused"
        if cfg.kind == "user":
            return (f"sign-in failed: Google refused your stored Earth Engine sign-in ({code}): it has "
                    "expired or was revoked.", "Run `earthengine authenticate` again.")
        if cfg.kind == "adc" and (cfg.adc_info or {}).get("type") != "service_account":
            return (f"sign-in failed: Google refused the application default credentials ({code}): they "
                    f"have expired or were revoked ({cfg.adc_path}).",
                    "Run `gcloud auth application-default login` again.")
        if cfg.kind == "vm":
            return (f"sign-in failed: the machine's metadata server gave no token ({code}).",
                    "Give the machine a service account with the cloud-platform scope, or sign in "
                    "another way: " + HOW_TO_SIGN_IN)
        return (f"sign-in failed: Google refused the service-account key for {cfg.description} ({code}): "
                "the key was deleted or disabled, it has expired, or this machine's clock is wrong.",
                NEW_KEY)
    text = safe_text(str(exc), cfg)
    low = text.lower()
    if isinstance(exc, (ConnectionError, TimeoutError, OSError)) or _is_transport_error(exc) or \
            any(w in low for w in _NETWORK_WORDS):
        return ("sign-in failed: Earth Engine could not be reached (network).",
                "Check the internet connection (and proxy), then try again.")
    if "not registered" in low or "has not been used in project" in low or "not enabled" in low:
        return (f"sign-in failed: project {cfg.project} is not set up for Earth Engine ({text}).",
                "Register the project for Earth Engine and enable the Earth Engine API in it: "
                "https://code.earthengine.google.com/register")
    if "permission" in low or "caller does not have" in low or "forbidden" in low:
        return (f"sign-in failed: {cfg.description} may not use project {cfg.project} ({text}).",
                "Give the account the 'Earth Engine Resource Viewer' (or Writer) and 'Service Usage "
                "Consumer' roles in that project.")
    if "unavailable" in low or "internal error" in low or "deadline" in low:
        return (f"sign-in failed: Earth Engine is busy or down ({text}).", "Try again in a few minutes.")
    if _is_ee_exception(exc):
        return (f"sign-in failed: Earth Engine answered: {text}.",
                f"Check the sign-in ({cfg.description}) and the project {cfg.project}.")
    return (f"sign-in failed with {cfg.description} ({type(exc).__name__}).",
            f"Check the sign-in: {HOW_TO_SIGN_IN} Then {HOW_TO_PROJECT}")


def _is_transport_error(exc: BaseException) -> bool:
    try:
        from google.auth import exceptions as auth_exceptions
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, auth_exceptions.TransportError)


def _is_ee_exception(exc: BaseException) -> bool:
    return type(exc).__name__ in ("EEException", "HttpError")


def self_test(config: Optional[AuthConfig] = None, connect: bool = True, http_transport: Any = None) -> Readiness:
    """Readiness of Earth Engine, saying which sign-in is used or exactly what is missing.

    With ``connect`` (and a complete configuration) it signs in, which needs the network.
    """
    cfg = config or find_config()
    if cfg.kind is None:
        from ..i18n import t
        from .ee_auth import ADC_ENV, KEY_ENV, PROJECT_ENV

        params = {"key_env": KEY_ENV, "adc_env": ADC_ENV, "project_env": PROJECT_ENV}
        key = "sources.ee.not_signed_in"
        if cfg.problems:  # details with paths, in English
            key, params["problems"] = "sources.ee.not_signed_in_problems", " ".join(cfg.problems)
        return Readiness(False, t(key, "en", **params), message_id=key, params=params)
    if not cfg.project:
        return Readiness(False, f"Earth Engine: signed in with {cfg.description}, but no Cloud project "
                         f"is set. To fix it, {HOW_TO_PROJECT}")
    if connect:
        try:
            initialize(cfg, http_transport=http_transport)
        except SourceError as exc:
            return Readiness(False, f"Earth Engine: {exc}")
        return Readiness(True, f"Earth Engine: ready, signed in with {cfg.description}, project "
                         f"{cfg.project} (from {cfg.project_from}).")
    return Readiness(True, f"Earth Engine: configured with {cfg.description}, project {cfg.project} "
                     f"(from {cfg.project_from}); the connection was not tested.")


def reset_for_tests() -> None:
    _initialized.clear()
