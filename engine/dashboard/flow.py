"""Flow times and backlog: time per step and per procedure, cases' duration (mean, median, p90) and cases
opened vs closed per week or month, from ``dash_step_totals`` / ``dash_case_totals`` and, for a piece of
a day at a period's edge, from the audit trail and the cases.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session, aliased

from engine.dashboard import aggregates as totals
from engine.dashboard.periods import BUCKETS, Filters, bucket_key, cover, filters_within, in_cover, period_bucket
from engine.dashboard.rows import BacklogPoint, DurationStats, FlowTimes
from engine.store.models import AuditEvent, Case, Deadline

#: Audit actions that move a workflow forward (a task became ready after the last of them).
ADVANCING_ACTIONS = totals.ADVANCING_ACTIONS
#: Upper bound of completions read for the flow-time statistics (computed in Python).
FLOW_ROW_LIMIT = 200_000


def _percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile of sorted ``values``."""
    rank = max(math.ceil(share * len(values)), 1)
    return values[rank - 1]


def _stats(key: str, hours: Iterable[float]) -> DurationStats:
    values = sorted(hours)
    if not values:
        return DurationStats(key, 0, None, None, None)
    return DurationStats(key, len(values), round(statistics.fmean(values), 4), round(statistics.median(values), 4),
                         round(_percentile(values, 0.9), 4))


def _grouped(pairs: Iterable[tuple[str, float]]) -> list[DurationStats]:
    groups: dict[str, list[float]] = defaultdict(list)
    for key, value in pairs:
        groups[key].append(value)
    return [_stats(key, values) for key, values in sorted(groups.items())]


def _hours(later: dt.datetime, earlier: dt.datetime) -> float:
    return max((later - earlier).total_seconds(), 0.0) / 3600


def _stats_from(key: str, entries: list[tuple[int, float]]) -> DurationStats:
    """Statistics of durations given as (count, sum of hours) buckets: exact mean; median and p90
    (nearest rank, as :func:`_stats`) from the bucket holding that rank, valued at its own mean —
    exact when a bucket holds one distinct duration, within the bucket's 10% width otherwise."""
    entries = sorted(((n, hours) for n, hours in entries if n > 0), key=lambda e: e[1] / e[0])
    count = sum(n for n, _h in entries)
    if not count:
        return DurationStats(key, 0, None, None, None)

    def at(rank: int) -> float:
        seen = 0
        for n, hours in entries:
            seen += n
            if seen >= rank:
                return hours / n
        return entries[-1][1] / entries[-1][0]

    median = at((count + 1) // 2) if count % 2 else (at(count // 2) + at(count // 2 + 1)) / 2
    mean = sum(h for _n, h in entries) / count
    return DurationStats(key, count, round(mean, 4), round(median, 4),
                         round(at(max(math.ceil(0.9 * count), 1)), 4))


def _steps_live(session: Session, filters: Filters) -> list[tuple[str, str, float]]:
    """(step, procedure, hours) of the steps completed in the filter's period, from the audit trail."""
    previous = aliased(AuditEvent)
    sla = aliased(Deadline)
    previous_at = (select(func.max(previous.at))
                   .where(previous.case_id == AuditEvent.case_id, previous.at < AuditEvent.at,
                          previous.action.in_(ADVANCING_ACTIONS))
                   .correlate(AuditEvent).scalar_subquery())
    started = func.coalesce(sla.starts_at, previous_at, Case.created_at)
    query = (select(AuditEvent.task_spec, Case.process_id, AuditEvent.at, started.label("inicio"))
             .join(Case, Case.id == AuditEvent.case_id)
             .outerjoin(sla, and_(sla.task_id == AuditEvent.task_id, sla.kind == "interno"))
             .where(AuditEvent.action == "tarefa_concluida")
             .order_by(AuditEvent.id).limit(FLOW_ROW_LIMIT))
    query = _case_filters(query, filters, AuditEvent.at)
    return [(r.task_spec or "", r.process_id, _hours(r.at, r.inicio)) for r in session.execute(query)]


def flow_times(session: Session, filters: Filters | None = None, bucket: str = "mes") -> FlowTimes:
    """Time per step and per procedure, cases' duration, and backlog (opened vs closed per period).

    A step's time runs from the moment its task became ready to its completion
    (``tarefa_concluida``). ``open_tasks.created_at`` is gone once the task is done, so the start is
    the ``starts_at`` of the task's internal SLA when it has one (written when the task became ready),
    else the previous event of the case that moved its workflow (:data:`ADVANCING_ACTIONS`, strictly
    earlier), else the case's opening. Claims and releases do not count as a start. Here the period
    filter applies to the completion time (steps), the closing time (cases' duration) and the
    opening / closing time (backlog); ``kind`` does not apply. Whole months come from
    ``dash_step_totals`` / ``dash_case_totals`` (see :func:`cover`).
    """
    filters = filters or Filters()
    period = cover(filters.start, filters.end)
    by_step: dict[str, list[tuple[int, float]]] = defaultdict(list)
    by_process: dict[str, list[tuple[int, float]]] = defaultdict(list)
    by_case: dict[str, list[tuple[int, float]]] = defaultdict(list)
    if period.pieces:
        step = totals.StepTotal
        query = in_cover(select(step.step, step.process_id, step.bucket, func.sum(step.n).label("n"),
                                 func.sum(step.seconds).label("s")), step, period.pieces)
        query = _totals_filters(query, step, filters).group_by(step.step, step.process_id, step.bucket)
        for row in session.execute(query):
            entry = (int(row.n), float(row.s) / 3600)
            by_step[row.step].append(entry)
            by_process[row.process_id].append(entry)
        total = totals.CaseTotal
        query = in_cover(select(total.process_id, total.bucket, func.sum(total.n).label("n"),
                                 func.sum(total.seconds).label("s")).where(total.event == "encerrado"),
                          total, period.pieces)
        query = _totals_filters(query, total, filters).group_by(total.process_id, total.bucket)
        for row in session.execute(query):
            by_case[row.process_id].append((int(row.n), float(row.s) / 3600))
    for edge in period.live:
        edge_filters = filters_within(filters, edge)
        for step_name, process_id, hours in _steps_live(session, edge_filters):
            by_step[step_name].append((1, hours))
            by_process[process_id].append((1, hours))
        cases = _case_filters(select(Case.process_id, Case.created_at, Case.closed_at)
                              .where(Case.closed_at.is_not(None)), edge_filters, Case.closed_at)
        for r in session.execute(cases):
            by_case[r.process_id].append((1, _hours(r.closed_at, r.created_at)))

    def stats(groups: dict[str, list[tuple[int, float]]]) -> list[DurationStats]:
        result = [_stats_from(key, entries) for key, entries in sorted(groups.items())]
        return [r for r in result if r.quantidade]

    return FlowTimes(stats(by_step), stats(by_process), stats(by_case), backlog(session, filters, bucket))


def _totals_filters(query: Select[Any], table: Any, filters: Filters) -> Select[Any]:
    if filters.unit is not None:
        query = query.where(table.unit == filters.unit)
    if filters.process_id is not None:
        query = query.where(table.process_id == filters.process_id)
    return query


def _case_filters(query: Select[Any], filters: Filters, moment: Any) -> Select[Any]:
    if filters.unit is not None:
        query = query.where(Case.unit == filters.unit)
    if filters.process_id is not None:
        query = query.where(Case.process_id == filters.process_id)
    if filters.start is not None:
        query = query.where(moment >= filters.start)
    if filters.end is not None:
        query = query.where(moment < filters.end)
    return query


def backlog(session: Session, filters: Filters | None = None, bucket: str = "mes") -> list[BacklogPoint]:
    """Cases opened and closed per week or month, from ``dash_case_totals`` (see :func:`cover`)."""
    filters = filters or Filters()
    if bucket not in BUCKETS:
        raise ValueError(f"Período inválido: {bucket!r} (use semana ou mes).")
    period = cover(filters.start, filters.end, ("semana", "dia") if bucket == "semana" else ("mes", "semana", "dia"),
                   whole=False)
    counts: dict[str, dict[str, int]] = {"aberto": defaultdict(int), "encerrado": defaultdict(int)}
    if period.pieces:
        total = totals.CaseTotal
        query = in_cover(select(total.period, total.event, func.sum(total.n).label("n")), total, period.pieces)
        query = _totals_filters(query, total, filters).group_by(total.period, total.event)
        for row in session.execute(query):
            if int(row.n):
                counts[row.event][bucket_key(row.period, bucket)] += int(row.n)
    for edge in period.live:
        edge_filters = filters_within(filters, edge)
        for event, column in (("aberto", Case.created_at), ("encerrado", Case.closed_at)):
            key = period_bucket(session, column, bucket)
            query = _case_filters(select(key.label("k"), func.count().label("n")).where(column.is_not(None)),
                                  edge_filters, column).group_by(key)
            for row in session.execute(query):
                counts[event][row.k] += int(row.n)
    opened, closed = counts["aberto"], counts["encerrado"]
    keys = sorted(k for k in set(opened) | set(closed) if opened.get(k) or closed.get(k))
    return [BacklogPoint(key, opened.get(key, 0), closed.get(key, 0)) for key in keys]
