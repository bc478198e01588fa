"""The watchlist's tables as the newest migration leaves them (SQLAlchemy Core).

The migrations in ``migrations/versions`` build and change the database; these objects are
what :mod:`.store` queries with. A test checks that the two agree.
"""
from __future__ import annotations

import sqlalchemy as sa

#: The newest migration; a database at another revision is upgraded when the store opens it.
HEAD_REVISION = "0002"

metadata = sa.MetaData()

areas = sa.Table(
    "areas", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(120), nullable=False, unique=True),
    sa.Column("geometry", sa.JSON, nullable=False),           # GeoJSON, EPSG:4326
    sa.Column("created_at", sa.DateTime, nullable=False),     # UTC
    sa.Column("cadence_s", sa.Integer, nullable=False),
    sa.Column("cloud_limit_pct", sa.Float, nullable=False),
    sa.Column("model", sa.String(500), nullable=False),       # model card path
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("source_options", sa.JSON, nullable=False),
    sa.Column("detection_options", sa.JSON, nullable=False),
    sa.Column("baseline_start", sa.Date, nullable=False),
    sa.Column("baseline_end", sa.Date, nullable=False),
    sa.Column("alert_min_ha", sa.Float, nullable=True),
    sa.Column("alert_min_count", sa.Integer, nullable=True),
    sa.Column("channels", sa.JSON, nullable=False),           # [{"kind", "target"}]
    # revision 0002: scheduling and runner leases
    sa.Column("next_due_at", sa.DateTime, nullable=True),     # None: due now (never checked)
    sa.Column("last_checked_at", sa.DateTime, nullable=True),
    sa.Column("claimed_by", sa.String(200), nullable=True),   # runner holding the area
    sa.Column("lease_until", sa.DateTime, nullable=True),     # wall clock, UTC
)

checks = sa.Table(
    "checks", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("area_id", sa.Integer, sa.ForeignKey("areas.id", name="fk_checks_area"), nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),       # ok | no_new_scene | failed
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("baseline_date", sa.Date, nullable=True),       # the scene compared against
    sa.Column("scene_date", sa.Date, nullable=True),          # the new scene (the next baseline)
    sa.Column("scenes", sa.JSON, nullable=False),             # ids, dates, cloud inside the area
    sa.Column("result_folder", sa.Text, nullable=True),
    sa.Column("result_key", sa.String(64), nullable=True),
    sa.Column("new_count", sa.Integer, nullable=True),
    sa.Column("new_ha", sa.Float, nullable=True),
    sa.Column("runner", sa.String(200), nullable=True),
    sa.Index("ix_checks_area_finished", "area_id", "finished_at"),
)

alerts = sa.Table(
    "alerts", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("check_id", sa.Integer, sa.ForeignKey("checks.id", name="fk_alerts_check"), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),      # webhook | email
    sa.Column("target", sa.String(500), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),       # pending | sending | sent | failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("sent_at", sa.DateTime, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    # revision 0002: a sender's lease, so two runners never send the same alert at once
    sa.Column("claimed_by", sa.String(200), nullable=True),
    sa.Column("lease_until", sa.DateTime, nullable=True),
    sa.UniqueConstraint("check_id", "channel", "target", name="uq_alerts_check_channel"),
    sa.Index("ix_alerts_status", "status"),
)
