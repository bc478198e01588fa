"""Alembic's environment for the watchlist: runs on the connection the store hands over
(``config.attributes["connection"]``), or on ``sqlalchemy.url`` (e.g. ``alembic -x``-less use
from a script). Concurrent upgrades are serialised: SQLite by its write lock (the store's
connections begin with BEGIN IMMEDIATE), PostgreSQL by a transaction-level advisory lock."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import context

#: Any constant: the advisory lock id that serialises upgrades on PostgreSQL.
PG_MIGRATION_LOCK = 7_134_201_511


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=None, render_as_batch=True,
                      transaction_per_migration=False)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATION_LOCK})
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = sa.create_engine(context.config.get_main_option("sqlalchemy.url"))
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()
