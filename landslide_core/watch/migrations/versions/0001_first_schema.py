"""The first schema: watched areas, their checks, the alerts sent for them.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "areas",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(120), nullable=False, unique=True),
        sa.Column("geometry", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("cadence_s", sa.Integer, nullable=False),
        sa.Column("cloud_limit_pct", sa.Float, nullable=False),
        sa.Column("model", sa.String(500), nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("source_options", sa.JSON, nullable=False),
        sa.Column("detection_options", sa.JSON, nullable=False),
        sa.Column("baseline_start", sa.Date, nullable=False),
        sa.Column("baseline_end", sa.Date, nullable=False),
        sa.Column("alert_min_ha", sa.Float, nullable=True),
        sa.Column("alert_min_count", sa.Integer, nullable=True),
        sa.Column("channels", sa.JSON, nullable=False),
    )
    op.create_table(
        "checks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("area_id", sa.Integer, sa.ForeignKey("areas.id", name="fk_checks_area"), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("baseline_date", sa.Date, nullable=True),
        sa.Column("scene_date", sa.Date, nullable=True),
        sa.Column("scenes", sa.JSON, nullable=False),
        sa.Column("result_folder", sa.Text, nullable=True),
        sa.Column("result_key", sa.String(64), nullable=True),
        sa.Column("new_count", sa.Integer, nullable=True),
        sa.Column("new_ha", sa.Float, nullable=True),
        sa.Column("runner", sa.String(200), nullable=True),
    )
    op.create_index("ix_checks_area_finished", "checks", ["area_id", "finished_at"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("check_id", sa.Integer, sa.ForeignKey("checks.id", name="fk_alerts_check"), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("sent_at", sa.DateTime, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.UniqueConstraint("check_id", "channel", "target", name="uq_alerts_check_channel"),
    )


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_index("ix_checks_area_finished", table_name="checks")
    op.drop_table("checks")
    op.drop_table("areas")
