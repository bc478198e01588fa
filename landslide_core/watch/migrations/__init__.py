"""Alembic migrations of the watchlist database (run by :func:`landslide_core.watch.store.upgrade`)."""
