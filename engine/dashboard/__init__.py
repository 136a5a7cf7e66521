"""The Painel's read side and the aggregate tables kept in the same transaction as each command.

No query here deserializes a workflow. Compliance, trend, flow times and backlog read the aggregate
tables of :mod:`engine.dashboard.aggregates` (per week / month x unit x procedure x step x kind x
outcome, per person, step durations in 10%-wide buckets, cases opened / closed); the "now" lists and
the heat map read the live projections (``deadlines``, ``open_tasks``), bounded by the running work and
indexed for it. All of them take a :class:`~engine.dashboard.periods.Filters`: the unit (``None`` =
every unit, for a state manager), the procedure (``process_id``) and a period ``[start, end)`` applied
to the deadlines' due dates, read exactly to the second (see :mod:`engine.dashboard.periods`). They
return the plain dataclasses of :mod:`engine.dashboard.rows`.

- :mod:`~engine.dashboard.periods` — filters, groupings, week / month buckets, the cover of a period
- :mod:`~engine.dashboard.compliance` — deadlines met on time, late, missed, per group; the trend
- :mod:`~engine.dashboard.live` — overdue / due today / due soon; where the cases wait
- :mod:`~engine.dashboard.flow` — time per step and procedure, cases' duration, backlog
- :mod:`~engine.dashboard.aggregates` — the aggregate tables and how a command keeps them

Why aggregate tables kept in the command's transaction rather than PostgreSQL materialized views
refreshed by the worker: the numbers are current the moment a task is done or claimed (a refresh of
a view over millions of rows takes seconds to minutes, so a manager would see stale counts right
after a reassignment); the same code and the same tables work on SQLite, the embedded database,
where there are no materialized views (a fallback would be a second implementation to keep equal);
and a command only adds a few upserts of small rows (its own case's deadlines), while a refresh
would re-read the whole history every time. :func:`engine.dashboard.aggregates.rebuild` recomputes them
from the projections for a database that predates them.
"""
