"""Earth Engine sign-in: find credentials and a Cloud project, say plainly what is missing.

Credentials, first found wins:

1. a service-account JSON key: path in env ``EE_SERVICE_ACCOUNT_KEY``, or in the Streamlit
   secrets file (``.streamlit/secrets.toml`` here or in the home folder) as
   ``EE_SERVICE_ACCOUNT_KEY = "/path/key.json"``, or the key itself as a
   ``[ee_service_account]`` table or an ``EE_SERVICE_ACCOUNT_JSON`` string;
2. the user's stored credentials from ``earthengine authenticate``
   (``~/.config/earthengine/credentials``).

The Cloud project id (registered for Earth Engine) comes from env ``EE_PROJECT``, the secrets
file (``EE_PROJECT``), the stored credentials (``project``), or the key's ``project_id``.
The secrets file is read as TOML here, not by Streamlit. ``ee`` is imported only inside
functions; nothing touches the network until :func:`initialize`.
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from ..errors import SourceError
from .base import Readiness

KEY_ENV = "EE_SERVICE_ACCOUNT_KEY"
PROJECT_ENV = "EE_PROJECT"
SECRETS_TABLE = "ee_service_account"
SECRETS_JSON = "EE_SERVICE_ACCOUNT_JSON"

HOW_TO_SIGN_IN = (
    f"either set {KEY_ENV}=/path/to/service-account-key.json (or put {KEY_ENV} in "
    f".streamlit/secrets.toml), or run `earthengine authenticate` once on this machine."
)
HOW_TO_PROJECT = (
    f"set {PROJECT_ENV}=<your Google Cloud project id> (environment or .streamlit/secrets.toml); "
    "the project must be registered for Earth Engine (https://code.earthengine.google.com/register)."
)


@dataclass
class AuthConfig:
    """Where sign-in and project come from, or what is missing."""

    kind: Optional[str] = None  # "service_account" | "user" | None
    key_path: Optional[Path] = None
    key_info: Optional[dict] = None  # the parsed service-account key
    user_credentials_path: Optional[Path] = None
    project: Optional[str] = None
    project_from: Optional[str] = None
    problems: list[str] = field(default_factory=list)

    @property
    def description(self) -> str:
        if self.kind == "service_account":
            where = str(self.key_path) if self.key_path else "Streamlit secrets"
            return f"service account {self.key_info.get('client_email', '?')} (key from {where})"
        if self.kind == "user":
            return f"stored user credentials ({self.user_credentials_path})"
        return "nothing"


def default_secrets_paths() -> list[Path]:
    return [Path.cwd() / ".streamlit" / "secrets.toml", Path.home() / ".streamlit" / "secrets.toml"]


def default_user_credentials_path() -> Path:
    return Path.home() / ".config" / "earthengine" / "credentials"


def read_secrets(paths: Optional[list[Path]] = None) -> tuple[dict, Optional[Path], list[str]]:
    """The merged TOML secrets (first file wins per key), the first file read, and problems."""
    import tomllib

    merged: dict[str, Any] = {}
    first, problems = None, []
    for p in paths if paths is not None else default_secrets_paths():
        if not p.is_file():
            continue
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
            problems.append(f"{p} is not valid TOML ({exc}); fix or remove it.")
            continue
        first = first or p
        for k, v in data.items():
            merged.setdefault(k, v)
    return merged, first, problems


def _load_key(text: str, where: str, problems: list[str]) -> Optional[dict]:
    try:
        info = json.loads(text)
    except json.JSONDecodeError:
        problems.append(f"The service-account key {where} is not JSON. Download a new JSON key for "
                        "the service account (Google Cloud console > IAM > Service accounts > Keys).")
        return None
    lacking = [k for k in ("client_email", "private_key") if not (isinstance(info, dict) and info.get(k))]
    if lacking or info.get("type") not in (None, "service_account"):
        problems.append(f"The file {where} is not a service-account key (it lacks "
                        f"{', '.join(lacking) or 'type service_account'}). Use the JSON key of a "
                        "service account, not an OAuth client file.")
        return None
    return info


def find_config(env: Optional[Mapping[str, str]] = None, secrets_paths: Optional[list[Path]] = None,
                user_credentials_path: Optional[Path] = None) -> AuthConfig:
    """Look (without any network call) for credentials and a project."""
    env = os.environ if env is None else env
    cfg = AuthConfig()
    secrets, secrets_file, cfg.problems = read_secrets(secrets_paths)

    key_path = env.get(KEY_ENV) or (secrets.get(KEY_ENV) if isinstance(secrets.get(KEY_ENV), str) else None)
    origin = f"(from {KEY_ENV} in the environment)" if env.get(KEY_ENV) else f"(from {secrets_file})"
    if key_path:
        path = Path(key_path).expanduser()
        if not path.is_file():
            cfg.problems.append(f"The service-account key file {path} {origin} does not exist. "
                                f"Fix the path in {KEY_ENV}.")
        else:
            try:
                info = _load_key(path.read_text(encoding="utf-8"), str(path), cfg.problems)
            except OSError as exc:
                cfg.problems.append(f"Cannot read the service-account key {path}: {exc}.")
                info = None
            if info:
                cfg.kind, cfg.key_path, cfg.key_info = "service_account", path, info
    elif isinstance(secrets.get(SECRETS_TABLE), dict):
        info = _load_key(json.dumps(dict(secrets[SECRETS_TABLE])), f"[{SECRETS_TABLE}] in {secrets_file}",
                         cfg.problems)
        if info:
            cfg.kind, cfg.key_info = "service_account", info
    elif isinstance(secrets.get(SECRETS_JSON), str):
        info = _load_key(secrets[SECRETS_JSON], f"{SECRETS_JSON} in {secrets_file}", cfg.problems)
        if info:
            cfg.kind, cfg.key_info = "service_account", info

    user_path = user_credentials_path or default_user_credentials_path()
    stored: dict = {}
    if user_path.is_file():
        try:
            stored = json.loads(user_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            cfg.problems.append(f"The stored Earth Engine credentials {user_path} are unreadable. "
                                "Run `earthengine authenticate` again.")
            stored = {}
        if cfg.kind is None and stored.get("refresh_token"):
            cfg.kind, cfg.user_credentials_path = "user", user_path
        elif cfg.kind is None and stored:
            cfg.problems.append(f"The stored credentials {user_path} hold no refresh token. "
                                "Run `earthengine authenticate` again.")

    for value, where in ((env.get(PROJECT_ENV), f"{PROJECT_ENV} in the environment"),
                         (secrets.get(PROJECT_ENV), f"{PROJECT_ENV} in {secrets_file}"),
                         (stored.get("project") if cfg.kind == "user" else None, str(user_path)),
                         ((cfg.key_info or {}).get("project_id"), "the service-account key")):
        if isinstance(value, str) and value.strip():
            cfg.project, cfg.project_from = value.strip(), where
            break
    return cfg


def self_test(config: Optional[AuthConfig] = None, connect: bool = True) -> Readiness:
    """Readiness of Earth Engine, saying exactly what is missing and how to fix it.

    With ``connect`` (and a complete configuration) it signs in, which needs the network.
    """
    cfg = config or find_config()
    if cfg.kind is None:
        found = (" Problems found: " + " ".join(cfg.problems)) if cfg.problems else ""
        return Readiness(False, "Earth Engine: not signed in. No service-account key (env "
                         f"{KEY_ENV} or .streamlit/secrets.toml) and no stored credentials from "
                         f"`earthengine authenticate` were found.{found} To fix it, {HOW_TO_SIGN_IN} "
                         f"Then {HOW_TO_PROJECT}")
    if not cfg.project:
        return Readiness(False, f"Earth Engine: signed in with {cfg.description}, but no Cloud project "
                         f"is set. To fix it, {HOW_TO_PROJECT}")
    if connect:
        try:
            initialize(cfg)
        except SourceError as exc:
            return Readiness(False, f"Earth Engine: {exc}")
        return Readiness(True, f"Earth Engine: ready, signed in with {cfg.description}, project "
                         f"{cfg.project} (from {cfg.project_from}).")
    return Readiness(True, f"Earth Engine: configured with {cfg.description}, project {cfg.project} "
                     f"(from {cfg.project_from}); the connection was not tested.")


_init_lock = threading.Lock()
_initialized: dict[str, Any] = {}


def initialize(config: Optional[AuthConfig] = None, force: bool = False) -> AuthConfig:
    """Sign in to Earth Engine (``ee.Initialize``) once per configuration; SourceError if not possible."""
    cfg = config or find_config()
    if cfg.kind is None:
        raise SourceError("Earth Engine: not signed in.", f"{_cap(HOW_TO_SIGN_IN)} Then {HOW_TO_PROJECT}")
    if not cfg.project:
        raise SourceError("Earth Engine: no Cloud project is set.", _cap(HOW_TO_PROJECT))
    ident = f"{cfg.kind}:{cfg.key_path or (cfg.key_info or {}).get('client_email') or cfg.user_credentials_path}:{cfg.project}"
    with _init_lock:
        if _initialized.get("ident") == ident and not force:
            return cfg
        import ee

        try:
            if cfg.kind == "service_account":
                creds = ee.ServiceAccountCredentials(cfg.key_info["client_email"],
                                                     key_data=json.dumps(cfg.key_info))
            else:
                creds = "persistent"
            ee.Initialize(credentials=creds, project=cfg.project)
        except Exception as exc:  # noqa: BLE001 - explained below
            raise SourceError(*explain_init_error(exc, cfg)) from None
        _initialized["ident"] = ident
    return cfg


def explain_init_error(exc: BaseException, cfg: AuthConfig) -> tuple[str, str]:
    """(what, fix) for a failed sign-in."""
    text = str(exc)
    low = text.lower()
    if "not registered" in low or "has not been used in project" in low or "not enabled" in low:
        return (f"sign-in failed: project {cfg.project} is not set up for Earth Engine ({text[:200]}).",
                "Register the project for Earth Engine and enable the Earth Engine API in it: "
                "https://code.earthengine.google.com/register")
    if "permission" in low or "403" in low or "caller does not have" in low:
        return (f"sign-in failed: {cfg.description} may not use project {cfg.project} ({text[:200]}).",
                "Give the account the 'Earth Engine Resource Viewer' (or Writer) and 'Service Usage "
                "Consumer' roles in that project.")
    if "invalid_grant" in low or "refresh" in low or "token" in low:
        return (f"sign-in failed: the credentials were refused ({text[:200]}).",
                "Run `earthengine authenticate` again, or download a new service-account key.")
    if any(w in low for w in ("timed out", "connection", "resolve", "network", "unreachable")):
        return (f"sign-in failed: Earth Engine could not be reached ({text[:200]}).",
                "Check the internet connection (and proxy), then try again.")
    return (f"sign-in failed: {text[:300]}.", f"Check the sign-in: {HOW_TO_SIGN_IN} Then {HOW_TO_PROJECT}")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def reset_for_tests() -> None:
    _initialized.clear()
