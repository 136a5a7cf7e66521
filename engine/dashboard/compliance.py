"""Deadline compliance per group (procedure, step, unit, person, week or month) and its trend over time.

Counting rules (per deadline row):

* ``no_prazo`` — met on time (outcome ``cumprido``);
* ``com_atraso`` — an internal SLA met late (``cumprido_com_atraso``);
* ``vencidos`` — a legal timer that went off (``vencido``);
* ``pendentes`` — still running (no outcome yet);
* ``cancelados`` — the task was cancelled (e.g. by a timer): neither met nor missed, left out of the share;
* ``taxa_no_prazo`` — ``no_prazo / (no_prazo + com_atraso + vencidos)``, ``None`` when nothing closed.

The period's whole days come from ``dash_deadline_totals`` / ``dash_person_totals``; a piece of a day
left by a bound that is not at local midnight is counted on the projections (:func:`_compliance_live`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from engine.calendar.models import Unit
from engine.dashboard import aggregates as totals
from engine.dashboard.periods import (
    BUCKETS,
    GROUPS,
    Filters,
    bucket_key,
    bucket_label,
    count_where,
    cover,
    filters_within,
    in_cover,
    period_bucket,
)
from engine.dashboard.rows import NO_PERSON, ComplianceRow, TrendPoint
from engine.store.models import AuditEvent, Case, Deadline, OpenTask, ProcessDefinition


def _deadline_filters(query: Select[Any], filters: Filters, *, period: bool = True) -> Select[Any]:
    if filters.unit is not None:
        query = query.where(Case.unit == filters.unit)
    if filters.process_id is not None:
        query = query.where(Case.process_id == filters.process_id)
    if filters.kind is not None:
        query = query.where(Deadline.kind == filters.kind)
    if period and filters.start is not None:
        query = query.where(Deadline.due_at >= filters.start)
    if period and filters.end is not None:
        query = query.where(Deadline.due_at < filters.end)
    return query


def _person_joins(query: Select[Any]) -> tuple[Select[Any], ColumnElement[Any]]:
    """Who met the deadline: the completion of its task in the audit trail (the task itself for an
    internal SLA, the task the timer is attached to, completed in the same commit, for a legal one);
    while it runs, the current assignee of that open task."""
    done = aliased(AuditEvent)
    holder = aliased(OpenTask)
    query = query.outerjoin(done, and_(
        done.case_id == Deadline.case_id, done.action == "tarefa_concluida",
        or_(done.task_id == Deadline.task_id,
            and_(Deadline.kind == "legal", done.task_spec == Deadline.attached_to, done.at == Deadline.met_at))))
    query = query.outerjoin(holder, and_(
        holder.case_id == Deadline.case_id, Deadline.outcome.is_(None),
        or_(holder.task_id == Deadline.task_id, holder.spec_name == Deadline.attached_to)))
    return query, func.coalesce(done.actor, holder.assignee)


def _process_names(session: Session) -> dict[str, str]:
    return dict(session.execute(select(ProcessDefinition.process_id, func.max(ProcessDefinition.name))
                                .group_by(ProcessDefinition.process_id)).all())


# --------------------------------------------------------------------------- compliance


def _compliance_live(session: Session, filters: Filters, group_by: str) -> list[ComplianceRow]:
    """The same numbers read straight from the projections (used for the edges of a custom period)."""
    label: ColumnElement[Any] | None = None
    base = select().select_from(Deadline).join(Case, Case.id == Deadline.case_id)
    if group_by == "processo":
        key: ColumnElement[Any] = Case.process_id
        base = base.join(ProcessDefinition, ProcessDefinition.id == Case.definition_id)
        label = func.max(ProcessDefinition.name)
    elif group_by == "etapa":
        key = Deadline.spec_name
        label = func.max(Deadline.name)
    elif group_by == "unidade":
        key = Case.unit
    elif group_by == "pessoa":
        base, key = _person_joins(base)
    else:
        key = period_bucket(session, Deadline.due_at, "semana" if group_by == "periodo_semana" else "mes")
    outcome = Deadline.outcome
    columns = [key.label("chave"), (label if label is not None else literal(None)).label("rotulo"),
               count_where(outcome == "cumprido").label("no_prazo"),
               count_where(outcome == "cumprido_com_atraso").label("com_atraso"),
               count_where(outcome == "vencido").label("vencidos"),
               count_where(outcome.is_(None)).label("pendentes"),
               count_where(outcome == "cancelado").label("cancelados")]
    query = _deadline_filters(base.add_columns(*columns), filters).group_by(key)
    return [ComplianceRow(row.chave, row.rotulo or "", int(row.no_prazo), int(row.com_atraso), int(row.vencidos),
                          int(row.pendentes), int(row.cancelados)) for row in session.execute(query)]


def _compliance_totals(session: Session, filters: Filters, group_by: str,
                       pieces: tuple[tuple[str, str | None, str | None], ...]) -> list[ComplianceRow]:
    """The pieces of the period from ``dash_deadline_totals`` (or ``dash_person_totals`` per person)."""
    if group_by == "pessoa":
        table: Any = totals.PersonTotal
        key: Any = table.person
        query = select(key.label("chave"), literal(None).label("rotulo"))
    else:
        table = totals.DeadlineTotal
        key = {"processo": table.process_id, "etapa": table.spec_name, "unidade": table.unit}.get(group_by,
                                                                                             table.period)
        label = func.max(table.name) if group_by == "etapa" else literal(None)
        query = select(key.label("chave"), label.label("rotulo"))
    query = in_cover(query, table, pieces)
    n = table.n

    def total(outcome: str) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((table.outcome == outcome, n), else_=0)), 0)

    query = query.add_columns(total("cumprido").label("no_prazo"), total("cumprido_com_atraso").label("com_atraso"),
                              total("vencido").label("vencidos"), total(totals.PENDING).label("pendentes"),
                              total("cancelado").label("cancelados"))
    if filters.unit is not None:
        query = query.where(table.unit == filters.unit)
    if filters.process_id is not None:
        query = query.where(table.process_id == filters.process_id)
    if filters.kind is not None:
        query = query.where(table.kind == filters.kind)
    query = query.group_by(key).having(func.sum(func.abs(n)) > 0)
    rows = [ComplianceRow(row.chave or None, row.rotulo or "", int(row.no_prazo), int(row.com_atraso),
                          int(row.vencidos), int(row.pendentes), int(row.cancelados)) for row in session.execute(query)]
    if group_by.startswith("periodo_"):  # days and weeks at the edges count in their week / month
        bucket = "semana" if group_by == "periodo_semana" else "mes"
        rows = [ComplianceRow(bucket_key(r.chave or "", bucket), r.rotulo, r.no_prazo, r.com_atraso, r.vencidos,
                              r.pendentes, r.cancelados) for r in rows]
    return rows


def compliance(session: Session, filters: Filters | None = None, group_by: str = "processo") -> list[ComplianceRow]:
    """Deadlines met on time, met late, missed and pending per group.

    The period is read from the aggregate tables (:func:`cover`); a piece of a day left by a bound
    that is not at local midnight is counted on the projections and added.
    """
    filters = filters or Filters()
    if group_by not in GROUPS:
        raise ValueError(f"Agrupamento inválido: {group_by!r}.")
    grain = "semana" if group_by == "periodo_semana" else "mes"
    period = cover(filters.start, filters.end, ("semana", "dia") if grain == "semana" else ("mes", "semana", "dia"),
                   whole=not group_by.startswith("periodo_"))
    parts = _compliance_totals(session, filters, group_by, period.pieces) if period.pieces else []
    for edge in period.live:
        parts += _compliance_live(session, filters_within(filters, edge), group_by)
    merged: dict[str | None, list[Any]] = {}
    for row in parts:
        entry = merged.setdefault(row.chave, [row.rotulo, 0, 0, 0, 0, 0])
        entry[0] = entry[0] or row.rotulo
        for index, value in enumerate((row.no_prazo, row.com_atraso, row.vencidos, row.pendentes, row.cancelados)):
            entry[index + 1] += value
    names: dict[str, str] = {}
    if group_by == "processo":
        names = _process_names(session)
    elif group_by == "unidade":
        names = dict(session.execute(select(Unit.code, Unit.name)).all())
    rows = []
    for chave, (rotulo, *numbers) in merged.items():
        if group_by.startswith("periodo_"):
            text = bucket_label(chave, grain)
        elif group_by == "pessoa":
            text = chave or NO_PERSON
        else:
            text = names.get(chave or "") or rotulo or chave or "—"
        rows.append(ComplianceRow(chave, text, *numbers))
    rows.sort(key=lambda r: (r.chave is None, r.chave or ""))  # "no one" goes last
    return rows


def trend(session: Session, filters: Filters | None = None, bucket: str = "mes") -> list[TrendPoint]:
    """The on-time share per week or month of the due dates."""
    if bucket not in BUCKETS:
        raise ValueError(f"Período inválido: {bucket!r} (use semana ou mes).")
    rows = compliance(session, filters, "periodo_semana" if bucket == "semana" else "periodo_mes")
    return [TrendPoint(r.chave or "", r.rotulo, r.encerrados, r.no_prazo, r.taxa_no_prazo) for r in rows]
