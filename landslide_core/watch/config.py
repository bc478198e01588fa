"""Where the watchlist lives and how its runners behave: settings from the environment.

- ``LANDSLIDE_DB_URL``: any SQLAlchemy URL (``postgresql+psycopg://user:pw@host/db`` for a
  shared install); default: SQLite file ``watch.sqlite`` in the data folder.
- ``LANDSLIDE_DATA_DIR``: the data folder (what must outlive caches), default
  ``$XDG_DATA_HOME/landslide-monitor`` (``~/.local/share/landslide-monitor``).
- ``LANDSLIDE_WATCH_LEASE_S``: how long a runner's claim on an area lasts without renewal
  (default 300 s; renewed every third of it while a check runs).
- ``LANDSLIDE_DASHBOARD_URL``: the dashboard's address, for links in alerts
  (environment or ``.streamlit/secrets.toml``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from ..errors import InputError

DB_URL_ENV = "LANDSLIDE_DB_URL"
DATA_DIR_ENV = "LANDSLIDE_DATA_DIR"
LEASE_ENV = "LANDSLIDE_WATCH_LEASE_S"
DASHBOARD_URL_ENV = "LANDSLIDE_DASHBOARD_URL"
DEFAULT_LEASE_S = 300.0
DB_FILE = "watch.sqlite"


def default_data_dir() -> Path:
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "landslide-monitor"


def default_db_url() -> str:
    """env ``LANDSLIDE_DB_URL``, else SQLite in the data folder (created when needed)."""
    env = (os.environ.get(DB_URL_ENV) or "").strip()
    if env:
        return env
    folder = default_data_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"The data folder {folder} cannot be created ({exc}).",
                         f"Set {DATA_DIR_ENV} to a writable folder, or {DB_URL_ENV} to a database URL.") from None
    return f"sqlite:///{folder / DB_FILE}"


def lease_seconds() -> float:
    try:
        value = float(os.environ.get(LEASE_ENV, DEFAULT_LEASE_S))
    except ValueError:
        value = DEFAULT_LEASE_S
    return max(1.0, value)


def dashboard_url() -> Optional[str]:
    """The dashboard's base URL for links in alerts (env, else secrets), without a trailing '/'."""
    url = os.environ.get(DASHBOARD_URL_ENV)
    if not url:
        from ..sources.ee_auth import read_secrets

        secrets, _, _ = read_secrets()
        value = secrets.get(DASHBOARD_URL_ENV)
        url = value if isinstance(value, str) else None
    return url.rstrip("/") if url else None
