"""The watchlist database: migrations, areas, claims under leases, atomic records."""
from __future__ import annotations

import datetime as dt
import subprocess

import pytest
import sqlalchemy as sa
from watch_testkit import BASELINE, EVENT_AOI, D, db_url, postgres_url  # noqa: F401 - fixtures

from landslide_core.errors import InputError
from landslide_core.sources.request import DateWindow
from landslide_core.watch import schema
from landslide_core.watch.records import OK, AlertRule, Channel, Check, NewArea
from landslide_core.watch.leases import holder_is_dead, runner_id
from landslide_core.watch.store import StoreError, WatchStore, alembic_config, current_revision, make_engine, upgrade

T0 = dt.datetime(2024, 3, 1, 12, 0)


def _new(name: str = "slope above the road", **kw) -> NewArea:
    values = dict(name=name, geometry=EVENT_AOI, cadence_s=5 * 86400, cloud_limit_pct=30.0, model="models/default.json",
                  source="demo", baseline=DateWindow(*BASELINE), rule=AlertRule(1.0, None),
                  channels=[Channel("webhook", "http://127.0.0.1:9/hook")], source_options={"timeline": True})
    values.update(kw)
    return NewArea(**values)


def _claim(store, area_id, runner, wall, *, run_started=T0, now=T0, due_only=False, lease_s=60):
    return store.claim_area(area_id, runner, wall_now=wall, lease_until=wall + dt.timedelta(seconds=lease_s),
                            run_started=run_started, now=now, due_only=due_only)


def test_migrations_from_an_empty_database(db_url):  # noqa: F811
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == schema.HEAD_REVISION
    engine = make_engine(db_url)
    assert current_revision(engine) is None
    with WatchStore(db_url) as store:
        assert current_revision(store.engine) == schema.HEAD_REVISION
        with store.engine.connect() as conn:  # the migrations build exactly the tables the store queries
            assert compare_metadata(MigrationContext.configure(conn), schema.metadata) == []
    with engine.begin() as conn:  # and they go down and up again
        command.downgrade(alembic_config(conn), "base")
    assert not sa.inspect(engine).has_table("areas")
    with WatchStore(db_url) as store:
        assert store.list_areas() == []
    engine.dispose()


def test_migration_from_the_first_schema_keeps_the_data(db_url):  # noqa: F811
    engine = make_engine(db_url)
    upgrade(engine, "0001")
    assert current_revision(engine) == "0001"
    assert "next_due_at" not in {c["name"] for c in sa.inspect(engine).get_columns("areas")}
    meta = sa.MetaData()
    meta.reflect(engine)
    areas, checks, alerts = meta.tables["areas"], meta.tables["checks"], meta.tables["alerts"]
    with engine.begin() as conn:  # what a first-schema install holds: two areas, a history, an alert
        a1 = conn.execute(areas.insert().values(
            name="old area", geometry=EVENT_AOI, created_at=T0 - dt.timedelta(days=30), cadence_s=5 * 86400,
            cloud_limit_pct=30.0, model="m.json", source="demo", source_options={}, detection_options={},
            baseline_start=BASELINE[0], baseline_end=BASELINE[1], alert_min_ha=1.0, alert_min_count=None,
            channels=[{"kind": "webhook", "target": "http://127.0.0.1:9/h"}])).inserted_primary_key[0]
        a2 = conn.execute(areas.insert().values(
            name="never checked", geometry=EVENT_AOI, created_at=T0, cadence_s=86400, cloud_limit_pct=20.0,
            model="m.json", source="demo", source_options={}, detection_options={}, baseline_start=BASELINE[0],
            baseline_end=BASELINE[1], alert_min_ha=None, alert_min_count=2, channels=[])).inserted_primary_key[0]
        for day, status in ((D(2024, 2, 20), OK), (D(2024, 2, 25), "no_new_scene"), (D(2024, 2, 28), "failed")):
            at = dt.datetime.combine(day, dt.time(6))
            cid = conn.execute(checks.insert().values(
                area_id=a1, started_at=at, finished_at=at, status=status, scenes={}, scene_date=day if status == OK else None,
                new_count=3 if status == OK else None, new_ha=2.5 if status == OK else None)).inserted_primary_key[0]
            if status == OK:
                conn.execute(alerts.insert().values(check_id=cid, channel="webhook", target="http://127.0.0.1:9/h",
                                                    status="sent", attempts=1, created_at=at, sent_at=at))
    engine.dispose()

    with WatchStore(db_url) as store:  # opening the store upgrades it
        assert current_revision(store.engine) == schema.HEAD_REVISION
        old, never = store.area("old area"), store.area("never checked")
        assert old.id == a1 and never.id == a2
        assert old.channels == [Channel("webhook", "http://127.0.0.1:9/h")] and never.rule == AlertRule(None, 2)
        history = store.history(old.id)
        assert [c.status for c in history] == [OK, "no_new_scene", "failed"]
        assert history[0].new_count == 3 and store.alerts_for_check(history[0].id)[0].status == "sent"
        # the schedule is filled in from the history: last check, and due a cadence after the last
        # check that was not a failure (a failure is retried at once)
        assert old.last_checked_at == dt.datetime(2024, 2, 28, 6)
        assert old.next_due_at == dt.datetime(2024, 2, 25, 6) + dt.timedelta(days=5)
        assert never.last_checked_at is None and never.next_due_at is None
        assert store.last_scene_check(old.id).scene_date == D(2024, 2, 20)
        # and the new columns work: the upgraded area can be claimed
        assert _claim(store, old.id, "r1", T0)


def test_add_area_and_a_taken_name(db_url):  # noqa: F811
    with WatchStore(db_url) as store:
        area = store.add_area(_new(), T0)
        assert area.id and area.name == "slope above the road" and area.next_due_at is None
        assert area.baseline == DateWindow(*BASELINE) and area.geometry == EVENT_AOI
        assert area.source_options == {"timeline": True} and area.cadence_text == "5d"
        with pytest.raises(InputError, match="already watched"):
            store.add_area(_new(), T0)
        assert [a.name for a in store.list_areas()] == ["slope above the road"]
        with pytest.raises(InputError, match="No watched area is called 'nope'.*slope above the road"):
            store.area("nope")
        assert store.remove_area("slope above the road") and not store.remove_area("slope above the road")
        assert store.list_areas() == []


def test_claims_leases_and_the_schedule(db_url):  # noqa: F811
    with WatchStore(db_url) as store:
        a = store.add_area(_new(), T0).id
        assert _claim(store, a, "r1", T0)
        assert not _claim(store, a, "r2", T0 + dt.timedelta(seconds=30))       # held
        assert _claim(store, a, "r2", T0 + dt.timedelta(seconds=61))           # the lease ran out
        assert not store.renew_claim(a, "r1", T0 + dt.timedelta(minutes=5))     # r1 lost it
        assert store.renew_claim(a, "r2", T0 + dt.timedelta(minutes=5))
        # r1 cannot record: nothing is written; r2 records and releases
        check = Check(area_id=a, started_at=T0, finished_at=T0, status="no_new_scene", reason="cloudy")
        assert store.record_check(check, "r1", T0 + dt.timedelta(days=5), []) is None
        assert store.count_checks(a) == 0
        assert store.record_check(check, "r2", T0 + dt.timedelta(days=5), []).id
        area = store.get_area_by_id(a)
        assert area.claimed_by is None and area.last_checked_at == T0 and area.next_due_at == T0 + dt.timedelta(days=5)
        # checked at T0: a run that began at T0 does not check it again; a later one does
        assert not _claim(store, a, "r3", T0, run_started=T0)
        later = T0 + dt.timedelta(days=1)
        assert not _claim(store, a, "r3", later, run_started=later, now=later, due_only=True)  # not due yet
        assert _claim(store, a, "r3", later, run_started=later, now=later)
        store.release_claim(a, "r3")
        due = T0 + dt.timedelta(days=5)
        assert _claim(store, a, "r4", due, run_started=due, now=due, due_only=True)


def test_a_check_and_its_alerts_are_written_whole_or_not_at_all(db_url):  # noqa: F811
    hook = Channel("webhook", "http://127.0.0.1:9/hook")
    with WatchStore(db_url) as store:
        a = store.add_area(_new(), T0).id
        assert _claim(store, a, "r1", T0)
        check = Check(area_id=a, started_at=T0, finished_at=T0, status=OK, new_count=4, new_ha=3.2,
                      scene_date=D(2024, 2, 24), scenes={"post": {"dates": ["2024-02-24"]}})
        with pytest.raises(sa.exc.IntegrityError):  # two alerts for one check and channel: refused
            store.record_check(check, "r1", T0 + dt.timedelta(days=5), [hook, hook])
        assert store.count_checks(a) == 0 and store.get_area_by_id(a).claimed_by == "r1"
        recorded = store.record_check(check, "r1", T0 + dt.timedelta(days=5), [hook])
        alerts = store.alerts_for_check(recorded.id)
        assert [(x.channel, x.status, x.attempts) for x in alerts] == [(hook, "pending", 0)]
        assert store.last_scene_check(a).scene_date == D(2024, 2, 24)
        # one sender at a time: a claimed alert is not handed to a second runner
        assert store.alerts_to_send(T0, 10) == [alerts[0].id]
        assert store.claim_alert(alerts[0].id, "r1", T0, T0 + dt.timedelta(seconds=60), 10)
        assert not store.claim_alert(alerts[0].id, "r2", T0, T0 + dt.timedelta(seconds=60), 10)
        assert store.finish_alert(alerts[0].id, "r1", True, T0)
        assert store.alerts_to_send(T0, 10) == []
        assert store.remove_area("slope above the road") and store.count_checks() == 0


def test_a_dead_runner_on_this_machine_is_recognised():
    proc = subprocess.Popen(["sleep", "30"])
    host_pid = runner_id().rsplit(":", 2)[0]
    holder = f"{host_pid}:{proc.pid}:abc"
    assert not holder_is_dead(holder)
    proc.kill()
    proc.wait()
    assert holder_is_dead(holder)
    assert not holder_is_dead(f"another-host:{proc.pid}:abc")  # elsewhere: only the lease tells
    assert not holder_is_dead(runner_id())  # ourselves


def test_a_bad_database_url_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="not a database URL"):
        WatchStore("this is not a url")
    with pytest.raises(StoreError, match="No database driver"):
        WatchStore("mysql+nosuchdriver://u@127.0.0.1/db")
    pytest.importorskip("psycopg")
    with pytest.raises(StoreError, match="cannot be opened.*LANDSLIDE_DB_URL"):
        WatchStore("postgresql+psycopg://nobody:secret@127.0.0.1:1/none")
