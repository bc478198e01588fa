"""The watchlist: areas checked over time, their history and alerts.

- :mod:`.store`: the database (SQLAlchemy + Alembic), the only place that speaks SQL;
- :mod:`.records`: the values kept (areas, checks, alerts, rules, channels);
- :mod:`.areas`: a new area from user input, checked;
- :mod:`.planning`: what a check compares (the newest clear scene against the last one used);
- :mod:`.runner`: checks that run by themselves (claim, plan, analyse, record);
- :mod:`.leases`: runner identity, dead-runner detection, lease renewal;
- :mod:`.alerts`, :mod:`.channels`: alert messages and their delivery (webhook, e-mail);
- :mod:`.cadence`, :mod:`.config`: ``5d`` cadences and settings.
"""
