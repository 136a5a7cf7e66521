"""Read-side aggregate queries for the managers' dashboard ("Painel").

No function here deserializes a workflow. Compliance, trend, flow times and backlog read the
aggregate tables of :mod:`engine.dashboard.aggregates` (per week / month x unit x procedure x step x
kind x outcome, per person, step durations in 10%-wide buckets, cases opened / closed); the "now"
lists and the heat map read the live projections (``deadlines``, ``open_tasks``), bounded by the
running work and indexed for it. A custom period (``de`` / ``até``, whole local days) is read as its
whole months, then the whole weeks and the single days at its edges, all from the aggregate tables
(:func:`cover`); only a bound that is not at local midnight leaves a piece of a day, counted on the
projections the same way (:func:`_compliance_live`, :func:`_steps_live`). Exact to the second.

Why aggregate tables kept in the command's transaction rather than PostgreSQL materialized views
refreshed by the worker: the numbers are current the moment a task is done or claimed (a refresh of
a view over millions of rows takes seconds to minutes, so a manager would see stale counts right
after a reassignment); the same code and the same tables work on SQLite, the embedded database,
where there are no materialized views (a fallback would be a second implementation to keep equal);
and a command only adds a few upserts of small rows (its own case's deadlines), while a refresh
would re-read the whole history every time. :func:`engine.dashboard.aggregates.rebuild` recomputes them
from the projections for a database that predates them. All of them take a :class:`Filters`: the unit
(``None`` = every unit, for a state manager), the procedure (``process_id``) and a period
``[start, end)`` applied to the deadlines' due dates. They return plain dataclasses (with
``as_dict()``) ready for a template, a CSV export or JSON.

Counting rules (per deadline row):

* ``no_prazo`` — met on time (outcome ``cumprido``);
* ``com_atraso`` — an internal SLA met late (``cumprido_com_atraso``);
* ``vencidos`` — a legal timer that went off (``vencido``);
* ``pendentes`` — still running (no outcome yet);
* ``cancelados`` — the task was cancelled (e.g. by a timer): neither met nor missed, left out of the share;
* ``taxa_no_prazo`` — ``no_prazo / (no_prazo + com_atraso + vencidos)``, ``None`` when nothing closed.

Periods (weeks starting on Monday, months) are computed in the agency's time zone
(``America/Sao_Paulo``): on PostgreSQL with ``timezone()``, on SQLite with the fixed UTC offset of
that zone (Brazil has had no daylight saving time since 2019). Buckets are ISO dates (``2026-03-02``)
of the first day of the week or month on both databases.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, case, false, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from engine import clock
from engine.calendar.models import Unit
from engine.calendar.rules import WorkingCalendar
from engine.dashboard import aggregates as totals
from engine.store.models import AuditEvent, Case, Deadline, OpenTask, ProcessDefinition

#: The agency's time zone, used to bucket due dates and to tell "today".
TIMEZONE = "America/Sao_Paulo"

GROUPS = ("processo", "etapa", "unidade", "pessoa", "periodo_semana", "periodo_mes")
KINDS = ("legal", "interno")
BUCKETS = ("semana", "mes")
#: Audit actions that move a workflow forward (a task became ready after the last of them).
ADVANCING_ACTIONS = totals.ADVANCING_ACTIONS
NO_PERSON = "Sem responsável"
#: Items shown in each "now" list (the CSV has them all).
NOW_LIMIT = 200
#: Upper bound of completions read for the flow-time statistics (computed in Python).
FLOW_ROW_LIMIT = 200_000

GROUP_LABELS = {"processo": "Procedimento", "etapa": "Etapa", "unidade": "Unidade", "pessoa": "Pessoa",
                "periodo_semana": "Semana", "periodo_mes": "Mês"}


class CalendarSource(Protocol):
    """What :func:`now_lists` needs from :class:`engine.calendar.service.CalendarService`."""

    def for_unit(self, unit_code: str) -> WorkingCalendar: ...


@dataclass(frozen=True)
class Filters:
    """Dashboard filters. ``kind`` is "legal", "interno" or ``None`` (both)."""

    unit: str | None = None
    process_id: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    kind: str | None = None

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in KINDS:
            raise ValueError(f"Tipo de prazo inválido: {self.kind!r} (use legal ou interno).")
        for moment in (self.start, self.end):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("As datas do período precisam de fuso horário.")


class _Row:
    def as_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload,no-any-return]


@dataclass(frozen=True)
class ComplianceRow(_Row):
    """Deadline counts of one group (a procedure, a step, a unit, a person or a period)."""

    chave: str | None
    rotulo: str
    no_prazo: int
    com_atraso: int
    vencidos: int
    pendentes: int
    cancelados: int

    @property
    def encerrados(self) -> int:
        return self.no_prazo + self.com_atraso + self.vencidos

    @property
    def taxa_no_prazo(self) -> float | None:
        return self.no_prazo / self.encerrados if self.encerrados else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "encerrados": self.encerrados, "taxa_no_prazo": self.taxa_no_prazo}


@dataclass(frozen=True)
class TrendPoint(_Row):
    periodo: str
    rotulo: str
    encerrados: int
    no_prazo: int
    taxa_no_prazo: float | None


@dataclass(frozen=True)
class NowItem(_Row):
    """A running deadline for the "now" lists."""

    deadline_id: int
    case_id: int
    protocolo: str
    unidade: str
    processo: str
    tarefa: str
    prazo: str
    tipo: str
    responsavel: str | None
    fila: str | None
    due_at: dt.datetime
    vencimento: dt.date
    #: calendar days past the due date (0 when not overdue)
    dias_atraso: int
    #: working days from today to the due date (negative when overdue)
    dias_uteis_restantes: int

    @property
    def com(self) -> str:
        """Who holds it: the person, else the queue (role)."""
        return self.responsavel or (f"Fila: {self.fila}" if self.fila else NO_PERSON)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "com": self.com}


@dataclass(frozen=True)
class NowLists(_Row):
    hoje: dt.date
    limite: dict[str, dt.date]
    atrasados: list[NowItem] = field(default_factory=list)
    vencem_hoje: list[NowItem] = field(default_factory=list)
    proximos: list[NowItem] = field(default_factory=list)
    #: how many items each list has in all (the lists stop at the limit)
    totais: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"hoje": self.hoje, "limite": dict(self.limite), "totais": dict(self.totais),
                "atrasados": [i.as_dict() for i in self.atrasados],
                "vencem_hoje": [i.as_dict() for i in self.vencem_hoje],
                "proximos": [i.as_dict() for i in self.proximos]}


@dataclass(frozen=True)
class WaitingCount(_Row):
    """Open tasks waiting on one BPMN element (for the heat map)."""

    elemento: str
    titulo: str
    aguardando: int
    atrasados: int


@dataclass(frozen=True)
class WaitingCase(_Row):
    case_id: int
    protocolo: str
    unidade: str
    titulo_caso: str
    tarefa: str
    responsavel: str | None
    fila: str
    due_at: dt.datetime | None
    atrasado: bool
    desde: dt.datetime


@dataclass(frozen=True)
class DurationStats(_Row):
    """Durations in hours."""

    chave: str
    quantidade: int
    media_horas: float | None
    mediana_horas: float | None
    p90_horas: float | None


@dataclass(frozen=True)
class BacklogPoint(_Row):
    periodo: str
    abertos: int
    encerrados: int


@dataclass(frozen=True)
class FlowTimes(_Row):
    por_etapa: list[DurationStats]
    por_processo: list[DurationStats]
    duracao_casos: list[DurationStats]
    backlog: list[BacklogPoint]

    def as_dict(self) -> dict[str, Any]:
        return {"por_etapa": [r.as_dict() for r in self.por_etapa],
                "por_processo": [r.as_dict() for r in self.por_processo],
                "duracao_casos": [r.as_dict() for r in self.duracao_casos],
                "backlog": [r.as_dict() for r in self.backlog]}


# --------------------------------------------------------------------------- helpers


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _utc_offset_hours() -> int:
    offset = clock.now().astimezone(ZoneInfo(TIMEZONE)).utcoffset() or dt.timedelta()
    return int(offset.total_seconds() // 3600)


def period_bucket(session: Session, column: Any, bucket: str) -> ColumnElement[str]:
    """The first day (``YYYY-MM-DD``) of the local week (Monday) or month of a UTC timestamp column."""
    if bucket not in BUCKETS:
        raise ValueError(f"Período inválido: {bucket!r} (use semana ou mes).")
    if _dialect(session) == "postgresql":
        local = func.timezone(TIMEZONE, column)
        unit = "week" if bucket == "semana" else "month"
        return func.to_char(func.date_trunc(unit, local), "YYYY-MM-DD")
    shift = f"{_utc_offset_hours():+d} hours"
    # SQLite rounds fractional seconds to milliseconds: 23:59:59.999999 would become the next day.
    seconds = func.substr(column, 1, 19)
    if bucket == "semana":
        return func.date(seconds, shift, "weekday 0", "-6 days")
    return func.strftime("%Y-%m-01", seconds, shift)


def bucket_label(key: str | None, bucket: str) -> str:
    if not key:
        return "—"
    day = dt.date.fromisoformat(key)
    return f"Semana de {day:%d/%m/%Y}" if bucket == "semana" else f"{day:%m/%Y}"


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


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


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


# --------------------------------------------------------------------------- period split


@dataclass(frozen=True)
class PeriodSplit:
    """Whole periods of a grain inside ``[start, end)`` (``lo <= key < hi``; ``None`` = unbounded)
    and the edges they do not cover."""

    lo: str | None
    hi: str | None
    edges: tuple[tuple[dt.datetime | None, dt.datetime | None], ...]
    empty: bool = False


def split_period(start: dt.datetime | None, end: dt.datetime | None, grain: str) -> PeriodSplit:
    lo = hi = None
    if start is not None:
        key = totals.period_key(start, grain)
        lo = key if totals.period_start(key) == start else totals.next_key(key, grain)
    if end is not None:
        hi = totals.period_key(end, grain)
    if lo is not None and hi is not None and lo >= hi:
        return PeriodSplit(lo, hi, ((start, end),) if start is None or end is None or start < end else (), True)
    edges = []
    if start is not None and lo is not None and totals.period_start(lo) > start:
        edges.append((start, totals.period_start(lo)))
    if end is not None and hi is not None and totals.period_start(hi) < end:
        edges.append((totals.period_start(hi), end))
    return PeriodSplit(lo, hi, tuple(edges))


@dataclass(frozen=True)
class Cover:
    """A period as aggregate rows: ``pieces`` (grain, lo, hi) read from the aggregate tables, and
    what is left (pieces of a day, when a bound is not at local midnight) read from the projections."""

    pieces: tuple[tuple[str, str | None, str | None], ...]
    live: tuple[tuple[dt.datetime | None, dt.datetime | None], ...]


def cover(start: dt.datetime | None, end: dt.datetime | None, grains: tuple[str, ...] = ("mes", "semana", "dia"),
          whole: bool = True) -> Cover:
    """Whole months (or weeks) inside the period, then whole weeks and days at its edges; without a
    period (and unless the result is per period), the "tudo" rows: one per key, the whole history."""
    if start is None and end is None and whole:
        return Cover((("tudo", None, None),), ())
    pieces: list[tuple[str, str | None, str | None]] = []
    live: list[tuple[dt.datetime | None, dt.datetime | None]] = []

    def fill(a: dt.datetime | None, b: dt.datetime | None, level: int) -> None:
        if level == len(grains):
            if a is None or b is None or a < b:
                live.append((a, b))
            return
        split = split_period(a, b, grains[level])
        if not split.empty:
            pieces.append((grains[level], split.lo, split.hi))
        for edge in split.edges:
            fill(edge[0], edge[1], level + 1)

    fill(start, end, 0)
    return Cover(tuple(pieces), tuple(live))


def _in_cover(query: Select[Any], table: Any, pieces: Iterable[tuple[str, str | None, str | None]]) -> Select[Any]:
    conditions = []
    for grain, lo, hi in pieces:
        terms = [table.grain == grain]
        if lo is not None:
            terms.append(table.period >= lo)
        if hi is not None:
            terms.append(table.period < hi)
        conditions.append(and_(*terms))
    return query.where(or_(*conditions))


def _bucket(period: str, bucket: str) -> str:
    return totals.bucket_of(dt.date.fromisoformat(period), "semana" if bucket == "semana" else "mes")


def _edge_filters(filters: Filters, edge: tuple[dt.datetime | None, dt.datetime | None]) -> Filters:
    return Filters(unit=filters.unit, process_id=filters.process_id, start=edge[0], end=edge[1], kind=filters.kind)


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
               _count(outcome == "cumprido").label("no_prazo"),
               _count(outcome == "cumprido_com_atraso").label("com_atraso"),
               _count(outcome == "vencido").label("vencidos"),
               _count(outcome.is_(None)).label("pendentes"),
               _count(outcome == "cancelado").label("cancelados")]
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
    query = _in_cover(query, table, pieces)
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
        rows = [ComplianceRow(_bucket(r.chave or "", bucket), r.rotulo, r.no_prazo, r.com_atraso, r.vencidos,
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
        parts += _compliance_live(session, _edge_filters(filters, edge), group_by)
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


# --------------------------------------------------------------------------- now


def now_lists(session: Session, filters: Filters | None = None, *, calendars: CalendarSource,
              business_days: int = 3, limit: int | None = NOW_LIMIT) -> NowLists:
    """Running deadlines that are overdue (oldest first), due today, and due in the next
    ``business_days`` working days of each case's unit calendar. The period filter does not apply.

    Each list holds at most ``limit`` items (``None``: all, for the CSV); ``totais`` counts them all.
    Three range reads of the running deadlines' partial index (``ix_deadlines_running``), bounded
    by ``limit``, plus three counts: never the whole history.
    """
    filters = filters or Filters()
    if business_days < 0:
        raise ValueError("O número de dias úteis não pode ser negativo.")
    now = clock.now()
    today = now.astimezone(ZoneInfo(TIMEZONE)).date()
    units = [filters.unit] if filters.unit is not None else list(session.scalars(select(Unit.code)))
    cals: dict[str, WorkingCalendar] = {code: calendars.for_unit(code) for code in units}
    limits = {code: cal.add_working_days(cal.local_date(now), business_days) for code, cal in cals.items()}

    def per_unit(bound_of: Any) -> ColumnElement[bool]:
        """``due_at <= bound`` with each unit's own bound (units sharing a bound grouped)."""
        groups: dict[dt.datetime, list[str]] = defaultdict(list)
        for code, cal in cals.items():
            groups[bound_of(code, cal)].append(code)
        if not groups:
            return false()
        if filters.unit is not None:
            return Deadline.due_at <= next(iter(groups))
        return and_(Deadline.due_at <= max(groups),  # one range of the index, then each unit's own bound
                    or_(*(and_(Deadline.unit.in_(codes), Deadline.due_at <= bound) for bound, codes in groups.items())))

    end_today = per_unit(lambda _code, cal: cal.end_of_day(cal.local_date(now)))
    within_limit = per_unit(lambda code, cal: cal.end_of_day(limits[code]))
    conditions = {"atrasados": Deadline.due_at < now,
                  "vencem_hoje": and_(Deadline.due_at >= now, end_today),
                  "proximos": and_(Deadline.due_at >= now, ~end_today, within_limit)}

    def running(query: Select[Any]) -> Select[Any]:
        # "running" is outcome IS NULL alone (a closed deadline always has an outcome): with fired_at /
        # met_at too, SQLite walks the timers' index (fired_at, due_at) over the whole history.
        query = query.where(Deadline.outcome.is_(None))
        if filters.unit is not None:
            query = query.where(Deadline.unit == filters.unit)
        if filters.kind is not None:
            query = query.where(Deadline.kind == filters.kind)
        if filters.process_id is not None:
            query = query.where(Deadline.case_id.in_(select(Case.id).where(Case.process_id == filters.process_id)))
        return query

    holder = aliased(OpenTask)
    result = NowLists(today, limits)
    for name, condition in conditions.items():
        result.totais[name] = int(session.scalar(running(select(func.count()).select_from(Deadline)
                                                         .where(condition))) or 0)
        query = (running(select(Deadline, Case.protocol, Case.unit, Case.process_id, holder.title, holder.assignee,
                                holder.role).where(condition))
                 .join(Case, Case.id == Deadline.case_id)
                 .outerjoin(holder, and_(holder.case_id == Deadline.case_id,
                                         or_(holder.task_id == Deadline.task_id,
                                             holder.spec_name == Deadline.attached_to)))
                 .order_by(Deadline.due_at, Deadline.id))
        if limit is not None:
            query = query.limit(limit)
        items: list[NowItem] = getattr(result, name)
        seen: set[int] = set()
        for deadline, protocol, unit, process_id, title, assignee, role in session.execute(query):
            if deadline.id in seen:
                continue
            seen.add(deadline.id)
            cal = cals.get(unit) or cals.setdefault(unit, calendars.for_unit(unit))
            local_today = cal.local_date(now)
            due_day = cal.local_date(deadline.due_at)
            items.append(NowItem(deadline.id, deadline.case_id, protocol, unit, process_id, title or deadline.name,
                                 deadline.name, deadline.kind, assignee, role, deadline.due_at, due_day,
                                 max((local_today - due_day).days, 0) if deadline.due_at < now else 0,
                                 cal.working_days_between(local_today, due_day)))
    return result


# --------------------------------------------------------------------------- where cases wait


def _waiting_query(process_id: str, unit: str | None) -> Select[Any]:
    query = select().select_from(OpenTask).join(Case, Case.id == OpenTask.case_id).where(
        Case.process_id == process_id)
    return query.where(Case.unit == unit) if unit is not None else query


def waiting_by_task(session: Session, process_id: str, unit: str | None = None) -> dict[str, WaitingCount]:
    """Per BPMN element id: how many open tasks wait there and how many of them are overdue."""
    now = clock.now()
    query = (_waiting_query(process_id, unit)
             .add_columns(OpenTask.spec_name, func.max(OpenTask.title).label("titulo"),
                          func.count().label("aguardando"),
                          _count(and_(OpenTask.due_at.is_not(None), OpenTask.due_at < now)).label("atrasados"))
             .group_by(OpenTask.spec_name).order_by(OpenTask.spec_name))
    return {row.spec_name: WaitingCount(row.spec_name, row.titulo, int(row.aguardando), int(row.atrasados))
            for row in session.execute(query)}


def cases_waiting_on(session: Session, process_id: str, element_id: str, unit: str | None = None,
                     limit: int = 500) -> list[WaitingCase]:
    """The cases waiting on one BPMN element, most urgent first."""
    now = clock.now()
    query = (_waiting_query(process_id, unit)
             .add_columns(OpenTask.case_id, Case.protocol, Case.unit, Case.title, OpenTask.title.label("tarefa"),
                          OpenTask.assignee, OpenTask.role, OpenTask.due_at, OpenTask.created_at)
             .where(OpenTask.spec_name == element_id)
             .order_by(OpenTask.due_at.is_(None), OpenTask.due_at, OpenTask.created_at, OpenTask.id).limit(limit))
    return [WaitingCase(r.case_id, r.protocol, r.unit, r.title, r.tarefa, r.assignee, r.role, r.due_at,
                        r.due_at is not None and r.due_at < now, r.created_at) for r in session.execute(query)]


# --------------------------------------------------------------------------- flow


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
        query = _in_cover(select(step.step, step.process_id, step.bucket, func.sum(step.n).label("n"),
                                 func.sum(step.seconds).label("s")), step, period.pieces)
        query = _totals_filters(query, step, filters).group_by(step.step, step.process_id, step.bucket)
        for row in session.execute(query):
            entry = (int(row.n), float(row.s) / 3600)
            by_step[row.step].append(entry)
            by_process[row.process_id].append(entry)
        total = totals.CaseTotal
        query = _in_cover(select(total.process_id, total.bucket, func.sum(total.n).label("n"),
                                 func.sum(total.seconds).label("s")).where(total.event == "encerrado"),
                          total, period.pieces)
        query = _totals_filters(query, total, filters).group_by(total.process_id, total.bucket)
        for row in session.execute(query):
            by_case[row.process_id].append((int(row.n), float(row.s) / 3600))
    for edge in period.live:
        edge_filters = _edge_filters(filters, edge)
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
        query = _in_cover(select(total.period, total.event, func.sum(total.n).label("n")), total, period.pieces)
        query = _totals_filters(query, total, filters).group_by(total.period, total.event)
        for row in session.execute(query):
            if int(row.n):
                counts[row.event][_bucket(row.period, bucket)] += int(row.n)
    for edge in period.live:
        edge_filters = _edge_filters(filters, edge)
        for event, column in (("aberto", Case.created_at), ("encerrado", Case.closed_at)):
            key = period_bucket(session, column, bucket)
            query = _case_filters(select(key.label("k"), func.count().label("n")).where(column.is_not(None)),
                                  edge_filters, column).group_by(key)
            for row in session.execute(query):
                counts[event][row.k] += int(row.n)
    opened, closed = counts["aberto"], counts["encerrado"]
    keys = sorted(k for k in set(opened) | set(closed) if opened.get(k) or closed.get(k))
    return [BacklogPoint(key, opened.get(key, 0), closed.get(key, 0)) for key in keys]


def rows_as_dicts(rows: Iterable[_Row]) -> list[dict[str, Any]]:
    """Any list of dashboard rows as dictionaries (CSV / JSON)."""
    return [row.as_dict() for row in rows]


__all__ = ["Filters", "ComplianceRow", "TrendPoint", "NowItem", "NowLists", "WaitingCount", "WaitingCase",
           "DurationStats", "BacklogPoint", "FlowTimes", "compliance", "trend", "now_lists", "waiting_by_task",
           "cases_waiting_on", "flow_times", "backlog", "period_bucket", "rows_as_dicts"]
