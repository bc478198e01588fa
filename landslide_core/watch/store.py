"""The watchlist database: the only module that speaks SQL.

SQLAlchemy 2 Core on any URL (SQLite file by default, PostgreSQL for a shared install); the
schema is versioned by the Alembic migrations in ``migrations/`` and brought to the newest
revision when a store opens (an upgrade keeps existing data). Every method is one short
transaction; none is held while a check runs.

Sharing the work between runners: a runner *claims* an area with one conditional UPDATE
(free or lease expired, not yet checked in this run, and due when asked) and holds it under
a lease it renews; :meth:`WatchStore.record_check` writes the check, its alerts and the
area's schedule and releases the claim in one transaction, and only while the claim is
still the runner's, so a check is recorded whole or not at all, and once. Alerts are claimed
the same way before they are sent. On SQLite every transaction begins with ``BEGIN
IMMEDIATE`` (writers queue instead of failing); on PostgreSQL a concurrent UPDATE of the same
row waits and re-reads it, so the same statements serialise there too.
"""
from __future__ import annotations

import datetime as dt
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import InputError, UserError
from ..sources.request import DateWindow
from . import schema
from .config import DB_URL_ENV, default_db_url
from .records import ALERT_FAILED, PENDING, SENDING, SENT, Alert, AlertRule, Area, Channel, Check, NewArea

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: SQLite waits this long for another writer before giving up.
SQLITE_BUSY_TIMEOUT_S = 60.0


class StoreError(UserError):
    """The watchlist database cannot be reached or used (exit code 2: fix the setting)."""


# ----------------------------------------------------------------------------- engine, schema
def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and BEGIN IMMEDIATE transactions."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise StoreError(f"The database URL '{url}' is not a database URL.",
                         f"Set {DB_URL_ENV} to e.g. sqlite:////path/watch.sqlite or "
                         "postgresql+psycopg://user:password@host/dbname.") from None
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
        if parsed.database in (None, "", ":memory:"):
            kwargs["poolclass"] = sa.pool.StaticPool
        else:
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (ImportError, sa.exc.NoSuchModuleError) as exc:
        raise StoreError(f"No database driver for '{parsed.drivername}' ({exc}).",
                         "For PostgreSQL install psycopg (pip install 'psycopg[binary]') and use a "
                         "postgresql+psycopg:// URL.") from None
    if parsed.get_backend_name() == "sqlite":
        _sqlite_transactions(engine)
    return engine


def _sqlite_transactions(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):  # noqa: ANN001 - SQLAlchemy's event signature
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn):  # noqa: ANN001
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(connection: Optional[Connection] = None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def current_revision(engine: Engine) -> Optional[str]:
    """The database's Alembic revision, or None for an empty database."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the migrations up to ``revision`` (concurrent upgrades wait for each other)."""
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)


def _connect_error(url: str, exc: Exception) -> StoreError:
    safe = sa.engine.make_url(url).render_as_string(hide_password=True)
    return StoreError(f"The watchlist database {safe} cannot be opened ({type(exc).__name__}: "
                      f"{str(exc).splitlines()[0] if str(exc) else ''}).",
                      f"Check {DB_URL_ENV} (server running, user, password, database), or unset it "
                      "to use the SQLite file in the data folder.")


# ----------------------------------------------------------------------------- the store
class WatchStore:
    """Watched areas, checks and alerts in one database (see the module doc)."""

    def __init__(self, url: Optional[str] = None, migrate: bool = True):
        self.url = url or default_db_url()
        self.engine = make_engine(self.url)
        if migrate:
            try:
                if current_revision(self.engine) != schema.HEAD_REVISION:
                    upgrade(self.engine)
            except sa.exc.OperationalError as exc:
                self.engine.dispose()
                raise _connect_error(self.url, exc) from None

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "WatchStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise _connect_error(self.url, exc) from None

    # --- areas ----------------------------------------------------------------------------
    def add_area(self, new: NewArea, now: dt.datetime) -> Area:
        """Store a checked :class:`NewArea`; a taken name is an InputError and writes nothing."""
        a = schema.areas
        values = dict(
            name=new.name, geometry=new.geometry, created_at=now, cadence_s=int(new.cadence_s),
            cloud_limit_pct=float(new.cloud_limit_pct), model=str(new.model), source=new.source,
            source_options=dict(new.source_options), detection_options=dict(new.detection_options),
            baseline_start=new.baseline.start, baseline_end=new.baseline.end,
            alert_min_ha=new.rule.min_ha, alert_min_count=new.rule.min_count,
            channels=[c.to_json() for c in new.channels], next_due_at=None)
        try:
            with self._tx() as conn:
                if conn.execute(sa.select(a.c.id).where(a.c.name == new.name)).first():
                    raise _taken(new.name)
                area_id = conn.execute(a.insert().values(**values)).inserted_primary_key[0]
        except sa.exc.IntegrityError:
            raise _taken(new.name) from None
        return self.get_area_by_id(area_id)

    def get_area(self, name: str) -> Optional[Area]:
        with self._tx() as conn:
            row = conn.execute(sa.select(schema.areas).where(schema.areas.c.name == name)).mappings().first()
        return _area(row) if row else None

    def area(self, name: str) -> Area:
        """The area called ``name``, or an InputError listing the names there are."""
        found = self.get_area(name)
        if found is None:
            names = [a.name for a in self.list_areas()]
            raise InputError(f"No watched area is called '{name}'.",
                             f"Watched areas: {', '.join(names)}." if names else
                             "The watchlist is empty: add an area with `watch add`.")
        return found

    def get_area_by_id(self, area_id: int) -> Optional[Area]:
        with self._tx() as conn:
            row = conn.execute(sa.select(schema.areas).where(schema.areas.c.id == area_id)).mappings().first()
        return _area(row) if row else None

    def list_areas(self) -> list[Area]:
        with self._tx() as conn:
            rows = conn.execute(sa.select(schema.areas).order_by(schema.areas.c.name)).mappings().all()
        return [_area(r) for r in rows]

    def remove_area(self, name: str) -> bool:
        """Remove an area with its checks and alerts; False when there was none."""
        a, c, al = schema.areas, schema.checks, schema.alerts
        with self._tx() as conn:
            area_id = conn.execute(sa.select(a.c.id).where(a.c.name == name)).scalar()
            if area_id is None:
                return False
            check_ids = sa.select(c.c.id).where(c.c.area_id == area_id).scalar_subquery()
            conn.execute(al.delete().where(al.c.check_id.in_(check_ids)))
            conn.execute(c.delete().where(c.c.area_id == area_id))
            conn.execute(a.delete().where(a.c.id == area_id))
        return True

    # --- checks ---------------------------------------------------------------------------
    def history(self, area_id: int, limit: Optional[int] = None) -> list[Check]:
        """The area's checks, oldest first."""
        c = schema.checks
        q = sa.select(c).where(c.c.area_id == area_id).order_by(c.c.finished_at.desc(), c.c.id.desc())
        if limit:
            q = q.limit(limit)
        with self._tx() as conn:
            rows = conn.execute(q).mappings().all()
        return [_check(r) for r in reversed(rows)]

    def last_checks(self) -> dict[int, Check]:
        """The newest check of every area that has one."""
        c = schema.checks
        newest = (sa.select(c.c.area_id, sa.func.max(c.c.id).label("id")).group_by(c.c.area_id).subquery())
        with self._tx() as conn:
            rows = conn.execute(sa.select(c).join(newest, c.c.id == newest.c.id)).mappings().all()
        return {r["area_id"]: _check(r) for r in rows}

    def last_scene_check(self, area_id: int) -> Optional[Check]:
        """The newest check that used a new scene (the rolling baseline), or None."""
        c = schema.checks
        with self._tx() as conn:
            row = conn.execute(sa.select(c).where(c.c.area_id == area_id, c.c.scene_date.is_not(None))
                               .order_by(c.c.scene_date.desc(), c.c.id.desc()).limit(1)).mappings().first()
        return _check(row) if row else None

    def get_check(self, check_id: int) -> Optional[Check]:
        with self._tx() as conn:
            row = conn.execute(sa.select(schema.checks).where(schema.checks.c.id == check_id)).mappings().first()
        return _check(row) if row else None

    def count_checks(self, area_id: Optional[int] = None) -> int:
        q = sa.select(sa.func.count()).select_from(schema.checks)
        if area_id is not None:
            q = q.where(schema.checks.c.area_id == area_id)
        with self._tx() as conn:
            return int(conn.execute(q).scalar())

    # --- claims ---------------------------------------------------------------------------
    def claim_area(self, area_id: int, runner: str, *, wall_now: dt.datetime, lease_until: dt.datetime,
                   run_started: dt.datetime, now: dt.datetime, due_only: bool) -> bool:
        """Take the area for ``runner``: it must be free (or its lease run out), not checked
        since ``run_started``, and due at ``now`` when ``due_only``. True when taken."""
        a = schema.areas
        cond = [a.c.id == area_id,
                sa.or_(a.c.claimed_by.is_(None), a.c.lease_until < wall_now),
                sa.or_(a.c.last_checked_at.is_(None), a.c.last_checked_at < run_started)]
        if due_only:
            cond.append(sa.or_(a.c.next_due_at.is_(None), a.c.next_due_at <= now))
        with self._tx() as conn:
            res = conn.execute(a.update().where(*cond).values(claimed_by=runner, lease_until=lease_until))
            return res.rowcount == 1

    def take_over(self, area_id: int, dead_runner: str, runner: str, lease_until: dt.datetime) -> bool:
        """Take an area from a runner known to be dead (same machine, process gone)."""
        a = schema.areas
        with self._tx() as conn:
            res = conn.execute(a.update().where(a.c.id == area_id, a.c.claimed_by == dead_runner)
                               .values(claimed_by=runner, lease_until=lease_until))
            return res.rowcount == 1

    def renew_claim(self, area_id: int, runner: str, lease_until: dt.datetime) -> bool:
        a = schema.areas
        with self._tx() as conn:
            res = conn.execute(a.update().where(a.c.id == area_id, a.c.claimed_by == runner)
                               .values(lease_until=lease_until))
            return res.rowcount == 1

    def release_claim(self, area_id: int, runner: str) -> None:
        a = schema.areas
        with self._tx() as conn:
            conn.execute(a.update().where(a.c.id == area_id, a.c.claimed_by == runner)
                         .values(claimed_by=None, lease_until=None))

    def record_check(self, check: Check, runner: str, next_due_at: Optional[dt.datetime],
                     alert_channels: list[Channel]) -> Optional[Check]:
        """Write the check, one pending alert per channel, the area's schedule, and release the
        claim: all in one transaction, and only if ``runner`` still holds the area (else
        nothing is written and None is returned)."""
        a, c, al = schema.areas, schema.checks, schema.alerts
        with self._tx() as conn:
            schedule = {"claimed_by": None, "lease_until": None, "last_checked_at": check.finished_at}
            if next_due_at is not None:
                schedule["next_due_at"] = next_due_at
            res = conn.execute(a.update().where(a.c.id == check.area_id, a.c.claimed_by == runner)
                               .values(**schedule))
            if res.rowcount != 1:
                return None
            values = {k: getattr(check, k) for k in (
                "area_id", "started_at", "finished_at", "status", "reason", "baseline_date", "scene_date",
                "scenes", "result_folder", "result_key", "new_count", "new_ha")}
            values["runner"] = runner
            check_id = conn.execute(c.insert().values(**values)).inserted_primary_key[0]
            for ch in alert_channels:
                conn.execute(al.insert().values(check_id=check_id, channel=ch.kind, target=ch.target,
                                                status=PENDING, attempts=0, created_at=check.finished_at))
        check.id = int(check_id)
        check.runner = runner
        return check

    # --- alerts ---------------------------------------------------------------------------
    def alerts_for_check(self, check_id: int) -> list[Alert]:
        al = schema.alerts
        with self._tx() as conn:
            rows = conn.execute(sa.select(al).where(al.c.check_id == check_id).order_by(al.c.id)).mappings().all()
        return [_alert(r) for r in rows]

    def alerts_of_area(self, area_id: int) -> list[Alert]:
        al, c = schema.alerts, schema.checks
        with self._tx() as conn:
            rows = conn.execute(sa.select(al).join(c, c.c.id == al.c.check_id).where(c.c.area_id == area_id)
                                .order_by(al.c.id)).mappings().all()
        return [_alert(r) for r in rows]

    def alerts_to_send(self, wall_now: dt.datetime, max_attempts: int) -> list[int]:
        """Ids of alerts not sent yet: pending, failed with attempts left, or being sent by a
        runner whose lease ran out."""
        al = schema.alerts
        with self._tx() as conn:
            return [r[0] for r in conn.execute(sa.select(al.c.id).where(
                _sendable(wall_now, max_attempts)).order_by(al.c.id)).all()]

    def claim_alert(self, alert_id: int, runner: str, wall_now: dt.datetime, lease_until: dt.datetime,
                    max_attempts: int) -> bool:
        """Take one alert for sending (counts an attempt). True when taken."""
        al = schema.alerts
        with self._tx() as conn:
            res = conn.execute(al.update().where(al.c.id == alert_id, _sendable(wall_now, max_attempts))
                               .values(status=SENDING, claimed_by=runner, lease_until=lease_until,
                                       attempts=al.c.attempts + 1))
            return res.rowcount == 1

    def finish_alert(self, alert_id: int, runner: str, sent: bool, when: dt.datetime,
                     error: Optional[str] = None) -> bool:
        al = schema.alerts
        values = {"status": SENT if sent else ALERT_FAILED, "claimed_by": None, "lease_until": None,
                  "error": None if sent else (error or "unknown error")[:2000]}
        if sent:
            values["sent_at"] = when
        with self._tx() as conn:
            res = conn.execute(al.update().where(al.c.id == alert_id, al.c.claimed_by == runner).values(**values))
            return res.rowcount == 1

    def alert_context(self, alert_id: int) -> tuple[Alert, Check, Area]:
        """An alert with its check and area (what a message is made of)."""
        al, c, a = schema.alerts, schema.checks, schema.areas
        with self._tx() as conn:
            arow = conn.execute(sa.select(al).where(al.c.id == alert_id)).mappings().one()
            crow = conn.execute(sa.select(c).where(c.c.id == arow["check_id"])).mappings().one()
            row = conn.execute(sa.select(a).where(a.c.id == crow["area_id"])).mappings().one()
        return _alert(arow), _check(crow), _area(row)


def _sendable(wall_now: dt.datetime, max_attempts: int):
    al = schema.alerts
    return sa.and_(al.c.attempts < max_attempts, sa.or_(
        al.c.status.in_((PENDING, ALERT_FAILED)),
        sa.and_(al.c.status == SENDING, sa.or_(al.c.lease_until.is_(None), al.c.lease_until < wall_now))))


def _taken(name: str) -> InputError:
    return InputError(f"An area called '{name}' is already watched.",
                      "Choose another --name, or remove the old one first (`watch remove NAME`).")


def _area(r) -> Area:
    return Area(
        id=int(r["id"]), name=r["name"], geometry=r["geometry"], created_at=r["created_at"],
        cadence_s=int(r["cadence_s"]), cloud_limit_pct=float(r["cloud_limit_pct"]), model=r["model"],
        source=r["source"], source_options=dict(r["source_options"] or {}),
        detection_options=dict(r["detection_options"] or {}),
        baseline=DateWindow(r["baseline_start"], r["baseline_end"]),
        rule=AlertRule(r["alert_min_ha"], r["alert_min_count"]),
        channels=[Channel.from_json(c) for c in (r["channels"] or [])],
        next_due_at=r["next_due_at"], last_checked_at=r["last_checked_at"], claimed_by=r["claimed_by"],
        lease_until=r["lease_until"])


def _check(r) -> Check:
    return Check(
        id=int(r["id"]), area_id=int(r["area_id"]), started_at=r["started_at"], finished_at=r["finished_at"],
        status=r["status"], reason=r["reason"], baseline_date=r["baseline_date"], scene_date=r["scene_date"],
        scenes=dict(r["scenes"] or {}), result_folder=r["result_folder"], result_key=r["result_key"],
        new_count=r["new_count"], new_ha=r["new_ha"], runner=r["runner"])


def _alert(r) -> Alert:
    return Alert(id=int(r["id"]), check_id=int(r["check_id"]), channel=Channel(r["channel"], r["target"]),
                 status=r["status"], attempts=int(r["attempts"]), created_at=r["created_at"],
                 sent_at=r["sent_at"], error=r["error"])


__all__ = ["WatchStore", "StoreError", "make_engine", "upgrade", "current_revision"]
