"""Scheduling and runner leases: when each area is due, and which runner holds it.

The first schema worked out what was due from the checks table on every run, and had no way
for two runners to share the work. This revision keeps the schedule on the area
(``next_due_at``, ``last_checked_at``, filled in from the existing checks) and adds a lease
(``claimed_by``, ``lease_until``) to areas and alerts, so a second runner skips what the
first holds and a dead runner's work is taken over when its lease runs out.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("areas") as batch:
        batch.add_column(sa.Column("next_due_at", sa.DateTime, nullable=True))
        batch.add_column(sa.Column("last_checked_at", sa.DateTime, nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime, nullable=True))
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime, nullable=True))
    op.create_index("ix_alerts_status", "alerts", ["status"])
    _backfill_schedule()


def _backfill_schedule() -> None:
    """last_checked_at: the newest check; next_due_at: the newest check that was not a failure
    plus the area's cadence (a failed check is retried on the next run)."""
    conn = op.get_bind()
    areas = sa.table("areas", sa.column("id", sa.Integer), sa.column("cadence_s", sa.Integer),
                     sa.column("next_due_at", sa.DateTime), sa.column("last_checked_at", sa.DateTime))
    checks = sa.table("checks", sa.column("area_id", sa.Integer), sa.column("status", sa.String),
                      sa.column("finished_at", sa.DateTime))
    last_any = dict(conn.execute(sa.select(checks.c.area_id, sa.func.max(checks.c.finished_at))
                                 .group_by(checks.c.area_id)).all())
    last_done = dict(conn.execute(sa.select(checks.c.area_id, sa.func.max(checks.c.finished_at))
                                  .where(checks.c.status != "failed").group_by(checks.c.area_id)).all())
    for area_id, cadence_s in conn.execute(sa.select(areas.c.id, areas.c.cadence_s)).all():
        done = _as_datetime(last_done.get(area_id))
        conn.execute(areas.update().where(areas.c.id == area_id).values(
            last_checked_at=_as_datetime(last_any.get(area_id)),
            next_due_at=done + dt.timedelta(seconds=int(cadence_s)) if done else None))


def _as_datetime(value):
    """SQLite's max() of a DateTime column comes back as text."""
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))


def downgrade() -> None:
    op.drop_index("ix_alerts_status", table_name="alerts")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("claimed_by")
    with op.batch_alter_table("areas") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("claimed_by")
        batch.drop_column("last_checked_at")
        batch.drop_column("next_due_at")
