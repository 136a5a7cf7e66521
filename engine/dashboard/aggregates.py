"""Aggregate tables of the managers' dashboard ("Painel") and the code that keeps them current.

Four small tables summarise the projections so that the Painel reads thousands of rows instead of
millions (see :mod:`engine.dashboard` for why aggregate tables and not materialized views):

* ``dash_deadline_totals`` — deadlines per period of the local due date x unit x procedure x step x
  kind x outcome ("pendente" while running);
* ``dash_person_totals`` — the same per period x unit x procedure x kind x person x outcome (the
  person who did the work of a closed deadline, the holder of a running one, "" for no one);
* ``dash_step_totals`` — completed steps per period of completion x unit x procedure x step x
  duration bucket (count and sum of seconds: exact mean, median / p90 from the buckets);
* ``dash_case_totals`` — cases opened and closed per period x unit x procedure (duration buckets
  for the closed ones).

Every row exists in four grains (``grain``: "dia", "semana" starting on Monday, "mes" — ``period`` is
the first local day, ``YYYY-MM-DD`` — and "tudo", the whole history, ``period`` ""): the Painel without a
period reads "tudo"; a period of any days is read as its whole months, then the whole weeks and the
single days at its edges — never the history row by row.

They are written in the same transaction as the projections they summarise: :func:`pending_snapshot`
before the command writes, :func:`record_commit` after (both called from ``Runtime._commit``), and
:func:`holder_changed` after a claim, a release or a reassignment. Every change is a *delta*
(``n = n + :delta``, an upsert), computed by :class:`Totals` — the same class the benchmark's
generator and :func:`rebuild` use, so the three always agree. Keys are upserted in sorted order so two
transactions touching the same rows lock them in the same order.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Float, Index, Integer, String, Table, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models import AuditEvent, Base, Case, Deadline, OpenTask

TZ = ZoneInfo("America/Sao_Paulo")
GRAINS = ("dia", "semana", "mes", "tudo")
PENDING = "pendente"
#: Audit actions that move a workflow forward (a task became ready after the last of them).
ADVANCING_ACTIONS = ("iniciado", "tarefa_concluida", "prazo_vencido", "etapas_automaticas", "servico_concluido")
#: Durations are kept in buckets 10% wide (bucket 0: under a minute).
BUCKET_RATIO = 1.1
#: Above this many rows an upsert goes through COPY on PostgreSQL (bulk loads, rebuilds).
BULK_ROWS = 2000


class DeadlineTotal(Base):
    __tablename__ = "dash_deadline_totals"

    grain: Mapped[str] = mapped_column(String(6), primary_key=True)
    period: Mapped[str] = mapped_column(String(10), primary_key=True)
    unit: Mapped[str] = mapped_column(String(20), primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    spec_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    n: Mapped[int] = mapped_column(Integer, default=0)


class PersonTotal(Base):
    __tablename__ = "dash_person_totals"

    grain: Mapped[str] = mapped_column(String(6), primary_key=True)
    period: Mapped[str] = mapped_column(String(10), primary_key=True)
    unit: Mapped[str] = mapped_column(String(20), primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    person: Mapped[str] = mapped_column(String(80), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(20), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class StepTotal(Base):
    __tablename__ = "dash_step_totals"

    grain: Mapped[str] = mapped_column(String(6), primary_key=True)
    period: Mapped[str] = mapped_column(String(10), primary_key=True)
    unit: Mapped[str] = mapped_column(String(20), primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    step: Mapped[str] = mapped_column(String(100), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)


class CaseTotal(Base):
    __tablename__ = "dash_case_totals"

    grain: Mapped[str] = mapped_column(String(6), primary_key=True)
    period: Mapped[str] = mapped_column(String(10), primary_key=True)
    unit: Mapped[str] = mapped_column(String(20), primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    #: "aberto" or "encerrado"
    event: Mapped[str] = mapped_column(String(10), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)


# Indexes on the projections the Painel's live parts read (running deadlines, role queues, edges of
# a custom period). Declared here so the dashboard's needs stay in one place.
Index("ix_deadlines_running", Deadline.due_at, postgresql_where=Deadline.outcome.is_(None),
      sqlite_where=Deadline.outcome.is_(None))
Index("ix_deadlines_running_unit", Deadline.unit, Deadline.due_at, postgresql_where=Deadline.outcome.is_(None),
      sqlite_where=Deadline.outcome.is_(None))
Index("ix_deadlines_due", Deadline.due_at)
Index("ix_open_tasks_queue", OpenTask.role, OpenTask.due_at, OpenTask.created_at, OpenTask.id,
      postgresql_where=OpenTask.assignee.is_(None), sqlite_where=OpenTask.assignee.is_(None))
Index("ix_cases_created", Case.created_at)
Index("ix_cases_closed", Case.closed_at)

DEADLINE_TOTALS: Table = DeadlineTotal.__table__  # type: ignore[assignment]
PERSON_TOTALS: Table = PersonTotal.__table__  # type: ignore[assignment]
STEP_TOTALS: Table = StepTotal.__table__  # type: ignore[assignment]
CASE_TOTALS: Table = CaseTotal.__table__  # type: ignore[assignment]
DEADLINES, OPEN_TASKS, AUDIT, CASES = Deadline.__table__, OpenTask.__table__, AuditEvent.__table__, Case.__table__


# --------------------------------------------------------------------------- keys


def period_key(moment: dt.datetime, grain: str) -> str:
    """The first local day (``YYYY-MM-DD``) of the week (Monday) or month of an aware moment."""
    return bucket_of(moment.astimezone(TZ).date(), grain)


def bucket_of(day: dt.date, grain: str) -> str:
    """The key of the day, week (its Monday) or month (its first day) a local date falls in ("" for
    "tudo": the whole history, what the Painel shows without a period)."""
    if grain == "tudo":
        return ""
    if grain == "semana":
        day = day - dt.timedelta(days=day.weekday())
    elif grain == "mes":
        day = day.replace(day=1)
    return day.isoformat()


def period_start(key: str) -> dt.datetime:
    """The UTC moment a period (its key) starts: local midnight of its first day."""
    return dt.datetime.combine(dt.date.fromisoformat(key), dt.time.min, tzinfo=TZ).astimezone(dt.UTC)


def next_key(key: str, grain: str) -> str:
    day = dt.date.fromisoformat(key)
    if grain == "dia":
        return (day + dt.timedelta(days=1)).isoformat()
    if grain == "semana":
        return (day + dt.timedelta(days=7)).isoformat()
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1).isoformat()


def duration_bucket(seconds: float) -> int:
    """0 under a minute, else 1 + floor(log_1.1(minutes)): buckets 10% wide."""
    if seconds < 60:
        return 0
    return int(math.floor(math.log(seconds / 60) / math.log(BUCKET_RATIO) + 1e-9)) + 1


@dataclass(frozen=True)
class DeadlineFacts:
    """What the aggregates need to know about one deadline row."""

    unit: str
    process_id: str
    spec_name: str
    name: str
    kind: str
    due_at: dt.datetime
    outcome: str | None
    person: str | None


class Totals:
    """A batch of deltas to the aggregate tables; :meth:`write` applies them with upserts."""

    def __init__(self) -> None:
        self.deadlines: Counter[tuple[str, ...]] = Counter()
        self.names: dict[tuple[str, ...], str] = {}
        self.people: Counter[tuple[str, ...]] = Counter()
        self.steps: defaultdict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0, 0.0])
        self.cases: defaultdict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0, 0.0])

    def add_deadline(self, facts: DeadlineFacts, sign: int = 1) -> None:
        outcome = facts.outcome or PENDING
        for grain in GRAINS:
            key = (grain, period_key(facts.due_at, grain), facts.unit, facts.process_id, facts.spec_name,
                   facts.kind, outcome)
            self.deadlines[key] += sign
            self.names[key] = facts.name[:200]
            self.people[(grain, key[1], facts.unit, facts.process_id, facts.kind, (facts.person or "")[:80],
                         outcome)] += sign

    def add_step(self, unit: str, process_id: str, step: str, completed_at: dt.datetime, seconds: float,
                 sign: int = 1) -> None:
        seconds = max(seconds, 0.0)
        bucket = duration_bucket(seconds)
        for grain in GRAINS:
            entry = self.steps[(grain, period_key(completed_at, grain), unit, process_id, step[:100], bucket)]
            entry[0] += sign
            entry[1] += sign * seconds

    def add_case_opened(self, unit: str, process_id: str, created_at: dt.datetime) -> None:
        for grain in GRAINS:
            self.cases[(grain, period_key(created_at, grain), unit, process_id, "aberto", 0)][0] += 1

    def add_case_closed(self, unit: str, process_id: str, created_at: dt.datetime, closed_at: dt.datetime) -> None:
        seconds = max((closed_at - created_at).total_seconds(), 0.0)
        bucket = duration_bucket(seconds)
        for grain in GRAINS:
            entry = self.cases[(grain, period_key(closed_at, grain), unit, process_id, "encerrado", bucket)]
            entry[0] += 1
            entry[1] += seconds

    def write(self, conn: Connection) -> None:
        deadlines = [dict(zip(("grain", "period", "unit", "process_id", "spec_name", "kind", "outcome"), k,
                              strict=True), name=self.names[k], n=n)
                     for k, n in sorted(self.deadlines.items()) if n]
        people = [dict(zip(("grain", "period", "unit", "process_id", "kind", "person", "outcome"), k, strict=True), n=n)
                  for k, n in sorted(self.people.items()) if n]
        steps = [dict(zip(("grain", "period", "unit", "process_id", "step", "bucket"), k, strict=True), n=int(v[0]),
                      seconds=v[1]) for k, v in sorted(self.steps.items()) if v[0] or v[1]]
        cases = [dict(zip(("grain", "period", "unit", "process_id", "event", "bucket"), k, strict=True),
                      n=int(v[0]), seconds=v[1]) for k, v in sorted(self.cases.items()) if v[0] or v[1]]
        _upsert(conn, DEADLINE_TOTALS, deadlines, ("n",), ("name",))
        _upsert(conn, PERSON_TOTALS, people, ("n",))
        _upsert(conn, STEP_TOTALS, steps, ("n", "seconds"))
        _upsert(conn, CASE_TOTALS, cases, ("n", "seconds"))


def _upsert(conn: Connection, table: Table, rows: list[dict[str, Any]], sums: Sequence[str],
            replace: Sequence[str] = ()) -> None:
    if not rows:
        return
    keys = [c.name for c in table.primary_key.columns]
    if conn.dialect.name == "postgresql" and len(rows) > BULK_ROWS:
        _bulk_upsert(conn, table, rows, keys, sums, replace)
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    updates: dict[str, Any] = {c: table.c[c] + statement.excluded[c] for c in sums}
    updates.update({c: statement.excluded[c] for c in replace})
    conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=updates), rows)


def _bulk_upsert(conn: Connection, table: Table, rows: list[dict[str, Any]], keys: list[str], sums: Sequence[str],
                 replace: Sequence[str]) -> None:
    """Many rows at once on PostgreSQL (a bulk load, a rebuild): ``COPY`` into a temporary table, then
    one ``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` — the same deltas as row by row, far fewer round trips."""
    columns = list(rows[0])
    temp = f"tmp_{table.name}"
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE IF NOT EXISTS {temp} (LIKE {table.name}) ON COMMIT DELETE ROWS")
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {temp} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])
    updates = [f"{c} = {table.name}.{c} + excluded.{c}" for c in sums] + [f"{c} = excluded.{c}" for c in replace]
    conn.exec_driver_sql(
        f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM {temp} "
        f"ORDER BY {', '.join(keys)} ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {', '.join(updates)}")
    conn.exec_driver_sql(f"TRUNCATE {temp}")


# --------------------------------------------------------------------------- production hooks


def _facts(rows: Iterable[Any], unit: str, process_id: str, people: dict[str, str | None]) -> list[DeadlineFacts]:
    return [DeadlineFacts(unit, process_id, r.spec_name, r.name, r.kind, r.due_at, r.outcome, people.get(r.task_id))
            for r in rows]


def _holding(conn: Connection, case_id: int, rows: list[Any]) -> dict[str, tuple[str, str | None]]:
    """Deadline task id -> (id, assignee) of the open task holding it: its own task (an internal SLA)
    or the task its timer is attached to (a legal deadline)."""
    if not rows:
        return {}
    tasks = conn.execute(select(OPEN_TASKS.c.task_id, OPEN_TASKS.c.spec_name, OPEN_TASKS.c.assignee)
                         .where(OPEN_TASKS.c.case_id == case_id).order_by(OPEN_TASKS.c.id)).all()
    by_id = {t.task_id: (t.task_id, t.assignee) for t in tasks}
    by_spec: dict[str, tuple[str, str | None]] = {}
    for t in tasks:
        by_spec.setdefault(t.spec_name, (t.task_id, t.assignee))
    result = {}
    for r in rows:
        holder = by_id.get(r.task_id) or by_spec.get(r.attached_to or "")
        if holder is not None:
            result[r.task_id] = holder
    return result


def _holders(conn: Connection, case_id: int, rows: list[Any]) -> dict[str, str | None]:
    return {task_id: assignee for task_id, (_holder, assignee) in _holding(conn, case_id, rows).items()}


_DEADLINE_COLUMNS = (DEADLINES.c.id, DEADLINES.c.task_id, DEADLINES.c.spec_name, DEADLINES.c.name, DEADLINES.c.kind,
                     DEADLINES.c.attached_to, DEADLINES.c.due_at, DEADLINES.c.met_at, DEADLINES.c.outcome)


@dataclass
class Snapshot:
    """The case's running deadlines (with their holders) before a command writes."""

    unit: str
    process_id: str
    facts: list[DeadlineFacts]
    task_ids: list[str]


def pending_snapshot(conn: Connection, case_id: int) -> Snapshot:
    case = conn.execute(select(CASES.c.unit, CASES.c.process_id).where(CASES.c.id == case_id)).one()
    rows = conn.execute(select(*_DEADLINE_COLUMNS).where(DEADLINES.c.case_id == case_id,
                                                         DEADLINES.c.outcome.is_(None))).all()
    return Snapshot(case.unit, case.process_id, _facts(rows, case.unit, case.process_id, _holders(conn, case_id, rows)),
                    [r.task_id for r in rows])


def record_commit(conn: Connection, case_id: int, before: Snapshot, changes: Sequence[Any], actor: Any,
                  now: dt.datetime) -> None:
    """Apply what one command did (its ``changes`` as audited) to the aggregates."""
    totals = Totals()
    unit, process_id = before.unit, before.process_id
    for facts in before.facts:
        totals.add_deadline(facts, -1)
    query = select(*_DEADLINE_COLUMNS).where(DEADLINES.c.case_id == case_id)
    rows = [r for r in conn.execute(query) if r.outcome is None or r.task_id in before.task_ids]
    completions = [c for c in changes if c.action == "tarefa_concluida"]
    people = _holders(conn, case_id, [r for r in rows if r.outcome is None])
    for r in rows:
        if r.outcome is None:
            continue
        for c in completions:
            if c.task_id == r.task_id or (r.kind == "legal" and c.task_spec == r.attached_to and r.met_at == now):
                people[r.task_id] = (c.actor or actor).username
                break
    for facts in _facts(rows, unit, process_id, people):
        totals.add_deadline(facts)
    case = None
    if completions or any(c.action in ("iniciado", "encerrado") for c in changes):
        case = conn.execute(select(CASES.c.created_at, CASES.c.closed_at).where(CASES.c.id == case_id)).one()
    if completions:
        previous = conn.scalar(select(func.max(AUDIT.c.at)).where(
            AUDIT.c.case_id == case_id, AUDIT.c.at < now, AUDIT.c.action.in_(ADVANCING_ACTIONS)))
        for c in completions:
            started = conn.scalar(select(DEADLINES.c.starts_at).where(DEADLINES.c.task_id == c.task_id,
                                                                      DEADLINES.c.kind == "interno"))
            started = started or previous or case.created_at
            totals.add_step(unit, process_id, c.task_spec or "", now, (now - started).total_seconds())
    if case is not None and any(c.action == "iniciado" for c in changes):
        totals.add_case_opened(unit, process_id, case.created_at)
    if case is not None and case.closed_at is not None and any(c.action == "encerrado" for c in changes):
        totals.add_case_closed(unit, process_id, case.created_at, case.closed_at)
    totals.write(conn)


def holder_changed(conn: Connection, case_id: int, task_id: str, old: str | None, new: str | None) -> None:
    """Move the running deadlines held by one open task from ``old`` to ``new`` (claim, release, reassign)."""
    if old == new:
        return
    case = conn.execute(select(CASES.c.unit, CASES.c.process_id).where(CASES.c.id == case_id)).one()
    rows = conn.execute(select(*_DEADLINE_COLUMNS).where(DEADLINES.c.case_id == case_id,
                                                         DEADLINES.c.outcome.is_(None))).all()
    holding = _holding(conn, case_id, rows)
    totals = Totals()
    for r in rows:
        if holding.get(r.task_id, ("", None))[0] != task_id:
            continue
        facts = DeadlineFacts(case.unit, case.process_id, r.spec_name, r.name, r.kind, r.due_at, None, old)
        totals.add_deadline(facts, -1)
        totals.add_deadline(DeadlineFacts(**{**facts.__dict__, "person": new}))
    totals.write(conn)


# --------------------------------------------------------------------------- rebuild


def backfill(conn: Connection) -> bool:
    """Fill the aggregate tables of a database whose cases predate them (run by ``init_db``)."""
    if conn.scalar(select(CASES.c.id).limit(1)) is None:
        return False
    if conn.scalar(select(CASE_TOTALS.c.n).limit(1)) is not None:
        return False
    rebuild(conn)
    return True


def rebuild(conn: Connection, write: bool = True, case_id: int | None = None) -> Totals:
    """Recompute every aggregate from the projections (a database that predates them, or a check).

    Returns the recomputed totals; with ``write`` they replace the stored ones. With ``case_id``, only
    that case's share (never written: :func:`case_moved` uses it).
    """
    totals = Totals()

    def one(query: Any, column: Any) -> Any:
        return query if case_id is None else query.where(column == case_id)

    cases = {r.id: r for r in conn.execute(one(select(CASES.c.id, CASES.c.unit, CASES.c.process_id,
                                                      CASES.c.created_at, CASES.c.closed_at), CASES.c.id))}
    done_by_task: dict[tuple[int, str], str] = {}
    done_by_spec: dict[tuple[int, str, dt.datetime], str] = {}
    steps: list[Any] = []
    last_advance: dict[int, list[Any]] = defaultdict(list)
    for e in conn.execute(one(select(AUDIT.c.case_id, AUDIT.c.at, AUDIT.c.actor, AUDIT.c.action, AUDIT.c.task_spec,
                                     AUDIT.c.task_id).where(AUDIT.c.action.in_(ADVANCING_ACTIONS)), AUDIT.c.case_id)
                          .order_by(AUDIT.c.case_id, AUDIT.c.at, AUDIT.c.id)):
        if e.action == "tarefa_concluida":
            done_by_task.setdefault((e.case_id, e.task_id or ""), e.actor)
            done_by_spec.setdefault((e.case_id, e.task_spec or "", e.at), e.actor)
            earlier = [at for at in last_advance[e.case_id] if at < e.at]
            steps.append((e, earlier[-1] if earlier else None))
        last_advance[e.case_id].append(e.at)
    sla_starts = dict(conn.execute(one(select(DEADLINES.c.task_id, DEADLINES.c.starts_at)
                                       .where(DEADLINES.c.kind == "interno"), DEADLINES.c.case_id)).all())
    holders: dict[tuple[int, str], str | None] = {}
    holders_by_spec: dict[tuple[int, str], str | None] = {}
    for t in conn.execute(one(select(OPEN_TASKS.c.case_id, OPEN_TASKS.c.task_id, OPEN_TASKS.c.spec_name,
                                     OPEN_TASKS.c.assignee), OPEN_TASKS.c.case_id).order_by(OPEN_TASKS.c.id)):
        holders[(t.case_id, t.task_id)] = t.assignee
        holders_by_spec.setdefault((t.case_id, t.spec_name), t.assignee)
    for d in conn.execute(one(select(DEADLINES.c.case_id, *_DEADLINE_COLUMNS), DEADLINES.c.case_id)):
        case = cases[d.case_id]
        if d.outcome is None:
            key = (d.case_id, d.task_id)
            person = holders[key] if key in holders else holders_by_spec.get((d.case_id, d.attached_to or ""))
        else:
            person = done_by_task.get((d.case_id, d.task_id))
            if person is None and d.kind == "legal" and d.met_at is not None:
                person = done_by_spec.get((d.case_id, d.attached_to or "", d.met_at))
        totals.add_deadline(DeadlineFacts(case.unit, case.process_id, d.spec_name, d.name, d.kind, d.due_at,
                                          d.outcome, person))
    for e, previous in steps:
        case = cases[e.case_id]
        started = sla_starts.get(e.task_id) or previous or case.created_at
        totals.add_step(case.unit, case.process_id, e.task_spec or "", e.at, (e.at - started).total_seconds())
    for case in cases.values():
        totals.add_case_opened(case.unit, case.process_id, case.created_at)
        if case.closed_at is not None:
            totals.add_case_closed(case.unit, case.process_id, case.created_at, case.closed_at)
    if write and case_id is None:
        for table in (DEADLINE_TOTALS, PERSON_TOTALS, STEP_TOTALS, CASE_TOTALS):
            conn.execute(delete(table))
        totals.write(conn)
    return totals


def case_moved(conn: Connection, case_id: int, old_unit: str) -> None:
    """A case was transferred from ``old_unit`` (its row already names the new unit): its whole share of
    the aggregates — history included, as a recount would count it — moves to the new unit."""
    share = rebuild(conn, write=False, case_id=case_id)
    delta = Totals()
    for counter, target in ((share.deadlines, delta.deadlines), (share.people, delta.people)):
        for key, n in counter.items():
            target[key] += n
            target[key[:2] + (old_unit,) + key[3:]] -= n
    delta.names = {**share.names, **{k[:2] + (old_unit,) + k[3:]: name for k, name in share.names.items()}}
    for sums, target in ((share.steps, delta.steps), (share.cases, delta.cases)):
        for key, (n, seconds) in sums.items():
            target[key] = [n, seconds]
            target[key[:2] + (old_unit,) + key[3:]] = [-n, -seconds]
    delta.write(conn)
