"""Shared pieces of the watchlist tests: a database per test (SQLite, and PostgreSQL when
``LANDSLIDE_TEST_DB_URL`` is set), small demo areas, and the CLI in a subprocess.

``LANDSLIDE_TEST_DB_URL=postgresql+psycopg://user@host/db`` runs every store test against
that server too (its tables are dropped before each test: use a throwaway database).
``LANDSLIDE_TEST_DB_URL=auto`` starts a throwaway PostgreSQL server (Debian's ``postgresql``
package: ``initdb`` and ``pg_ctl``, as the ``postgres`` user when run as root) for the session.
"""
from __future__ import annotations

import datetime as dt
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_DB_ENV = "LANDSLIDE_TEST_DB_URL"
D = dt.date


def box(lon: float, lat: float, half_deg: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[lon - half_deg, lat - half_deg], [lon + half_deg, lat - half_deg],
                                                [lon + half_deg, lat + half_deg], [lon - half_deg, lat + half_deg],
                                                [lon - half_deg, lat - half_deg]]]}


#: A ~1.7 km square in the Andes; with the baseline below its demo event falls on 2024-02-01,
#: the storm keeps the passes of 2024-02-04 to 2024-02-09 cloudy, the first clear pass after
#: it is 2024-02-24 (measured by test_demo_timeline).
EVENT_AOI = box(-72.3, -13.4, 0.008)
BASELINE = (D(2024, 1, 1), D(2024, 1, 31))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if not found:
        pytest.skip(f"{TEST_DB_ENV}=auto needs PostgreSQL's {name} (apt-get install postgresql).")
    return found


@pytest.fixture(scope="session")
def postgres_url():
    """The PostgreSQL URL to test against, or a skip."""
    url = os.environ.get(TEST_DB_ENV, "").strip()
    if not url:
        pytest.skip(f"set {TEST_DB_ENV} to a PostgreSQL URL (or 'auto') to run the store tests on PostgreSQL")
    pytest.importorskip("psycopg")
    if url != "auto":
        yield url
        return
    # outside pytest's private (0700) temporary folder: the server's user must reach it
    root = Path(tempfile.mkdtemp(prefix="landslide-test-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
        os.chmod(root, 0o755)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run(as_user + [_pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    subprocess.run(as_user + [_pg_bin("pg_ctl"), "-D", str(data), "-w", "-l", str(root / "pg.log"), "-o",
                              f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(as_user + [_pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _reset_postgres(url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """An empty database: a SQLite file, and the PostgreSQL one when configured."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'watch.sqlite'}"
    url = request.getfixturevalue("postgres_url")
    _reset_postgres(url)
    return url


@pytest.fixture
def watch_env(tmp_path, db_url, monkeypatch):
    """Environment of a watchlist: its database, scene cache and results in tmp_path."""
    env = {"LANDSLIDE_DB_URL": db_url, "LANDSLIDE_CACHE_DIR": str(tmp_path / "cache"),
           "LANDSLIDE_RESULTS_DIR": str(tmp_path / "results"), "LANDSLIDE_DATA_DIR": str(tmp_path / "data")}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for k in [k for k in os.environ if k.startswith("LANDSLIDE_SMTP_")] + ["LANDSLIDE_DASHBOARD_URL"]:
        monkeypatch.delenv(k, raising=False)
    return env


def cli_process(args: list[str], env: dict, **kwargs) -> subprocess.Popen:
    """`python -m landslide_core ARGS` in a subprocess with ``env`` added."""
    full = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", **env)
    return subprocess.Popen([sys.executable, "-m", "landslide_core", *args], cwd=ROOT, env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def wait_until(predicate, timeout_s: float = 60.0, every_s: float = 0.01):
    t0 = time.time()
    while time.time() - t0 < timeout_s:
        value = predicate()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError("timed out waiting")
