"""``procon bench dashboard``: the managers' dashboard ("Painel"), the inbox and the case page at
the scale of a whole state.

1. Generates a history of N cases in chunks of 5,000 (``COPY`` on PostgreSQL, Core ``executemany`` on
   SQLite; a progress bar on stderr — click's bar on a terminal, a line every 5% otherwise): 10 units
   with 20 people each, the 6 procedures, spread over 2 years. Each case gets 2–4 deadlines (legal /
   internal; met on time, met late, missed or still running), its audit trail (``iniciado`` plus one
   ``tarefa_concluida`` per closed step) and, for ~20% of cases (the open ones), an open task held by
   one of the unit's people or waiting in a role's queue. The Painel's aggregate tables are filled in
   the same transaction through :class:`engine.dashboard.aggregates.Totals`, the class ``Runtime._commit``
   uses (with ``--cases 0`` nothing is added: the existing database is measured again).

   ``cases.state`` is a placeholder (``"{}"``): the dashboard, the inbox and the case page read only
   the projections and the aggregates and never deserialize a workflow.
2. Measures, after a warm-up and with several repetitions (median), every query the Painel page runs
   (engine.dashboard: compliance by each grouping, trend, now lists, flow times with backlog, the
   heat map) for one unit, for all units, and for all units over a custom 100-day period. A view is
   one page load: compliance (one grouping) + trend + now lists + flow times + heat map;
   ``dashboard_ms`` is the slowest view.
3. The inbox (``my_tasks`` + ``group_queue``) for random people and the case page (case row +
   timeline + deadlines + open tasks) for random cases, each sample in a fresh session: p50 / p95.

Uses a temporary SQLite database unless ``--database-url`` / ``DATABASE_URL`` is given; use a
dedicated database then: the run adds rows to it.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from sqlalchemy import func, insert, select

from engine import clock
from engine.calendar.service import ensure_default_unit
from engine.dashboard.aggregates import TZ, DeadlineFacts, Totals
from engine.dashboard.compliance import compliance, trend
from engine.dashboard.flow import flow_times
from engine.dashboard.live import now_lists, waiting_by_task
from engine.dashboard.periods import GROUPS, Filters
from engine.runtime import EngineConfig, Runtime, queries
from engine.store.models import AuditEvent, Case, Deadline, OpenTask, ProcessDefinition
from tasks.registry import default_registry

CASES, DEADLINES, OPEN_TASKS, AUDIT = Case.__table__, Deadline.__table__, OpenTask.__table__, AuditEvent.__table__
CHUNK = 5000
PROCESS_IDS = ("reclamacao", "fiscalizacao", "notificacao", "audiencia", "processo_sancionatorio", "recurso_multa")
UNITS = ("CAP", "CAM", "SAN", "RIB", "SJC", "SOR", "BAU", "PRU", "MAR", "ARA")
ROLES = ("atendente", "analista", "fiscal", "juridico", "conciliador")
STEPS = ("registrar", "analisar", "notificar_fornecedor", "avaliar_resposta", "decidir")
USERS = 200
#: People work in one unit: user000-019 in the first unit, user020-039 in the second...
USERS_PER_UNIT = USERS // len(UNITS)
OPEN_SHARE = 0.20
HISTORY_DAYS = 730


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def _timed(action: Callable[[], Any], repeat: int) -> float:
    """Median milliseconds of ``repeat`` runs after one warm-up run."""
    action()
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


# --------------------------------------------------------------------------- generation


def _setup(runtime: Runtime) -> dict[str, int]:
    """The units and the latest definition id of each procedure."""
    with runtime.Session.begin() as session:
        for code in UNITS:
            ensure_default_unit(session, code=code, name=f"Procon {code}")
    with runtime.db.connect() as conn:
        rows = conn.execute(select(ProcessDefinition.process_id, func.max(ProcessDefinition.id))
                            .where(ProcessDefinition.process_id.in_(PROCESS_IDS))
                            .group_by(ProcessDefinition.process_id))
        return {process_id: definition_id for process_id, definition_id in rows}


def _case_rows(rng: random.Random, case_id: int, definitions: dict[str, int], now: dt.datetime,
               rows: dict[str, list[dict[str, Any]]], totals: Totals) -> None:
    """One case with its deadlines, audit trail and (when open) open task, and what it adds to the
    Painel's aggregate tables (through :class:`Totals`, as ``Runtime._commit`` does)."""
    process_id = PROCESS_IDS[case_id % len(PROCESS_IDS)]
    unit_index = rng.randrange(len(UNITS))
    unit = UNITS[unit_index]

    def person() -> str:
        return f"user{unit_index * USERS_PER_UNIT + rng.randrange(USERS_PER_UNIT):03d}"

    is_open = rng.random() < OPEN_SHARE
    steps = rng.randint(2, 4)  # deadlines, one per step; an open case's last one is still running
    done_steps = steps - 1 if is_open else steps
    if is_open:
        open_since = now - dt.timedelta(days=rng.uniform(0, 10))
        created = open_since - dt.timedelta(days=rng.uniform(1, 20) * done_steps)
    else:
        created = now - dt.timedelta(days=rng.uniform(30, HISTORY_DAYS))
    creator = person()
    rows["audit"].append({"case_id": case_id, "at": created, "actor": creator, "action": "iniciado",
                          "task_spec": None, "task_id": None, "description": "Caso iniciado", "details": {}})
    moment = created
    for index in range(steps):
        spec = STEPS[index]
        task_id = str(uuid.UUID(int=rng.getrandbits(128)))
        kind = "legal" if rng.random() < 0.4 else "interno"
        sla = dt.timedelta(days=rng.randint(5, 15))
        deadline = {"case_id": case_id, "task_id": task_id if kind == "interno" else str(uuid.uuid4()),
                    "spec_name": spec if kind == "interno" else f"prazo_{spec}",
                    "name": f"Prazo de {spec}", "attached_to": None if kind == "interno" else spec,
                    "kind": kind, "legal_kind": "prazo" if kind == "legal" else None, "legal_basis": "",
                    "days": sla.days, "mode": "uteis", "unit": unit, "starts_at": moment,
                    "due_at": moment + sla, "fired_at": None, "met_at": None, "warned_at": None,
                    "escalated_at": None, "outcome": None}
        if index < done_steps:
            finished = min(moment + dt.timedelta(days=rng.uniform(1, 20)), now)
            actor = person()
            rows["audit"].append({"case_id": case_id, "at": finished, "actor": actor, "action": "tarefa_concluida",
                                  "task_spec": spec, "task_id": task_id, "description": f"Concluiu {spec}",
                                  "details": {}})
            holder: str | None = actor
            if finished <= deadline["due_at"]:
                deadline.update(met_at=finished, outcome="cumprido")
            elif kind == "interno":
                deadline.update(met_at=finished, outcome="cumprido_com_atraso")
            else:
                deadline.update(fired_at=deadline["due_at"], outcome="vencido")
                holder = None  # a timer that went off: no one met it
            # the step ran from the previous completion (its SLA's start) to this one
            totals.add_step(unit, process_id, spec, finished, (finished - moment).total_seconds())
            moment = finished
        else:  # the running step of an open case
            deadline.update(starts_at=open_since, due_at=open_since + sla)
            assignee = person() if rng.random() < 0.5 else None
            rows["open"].append({"case_id": case_id, "task_id": task_id, "spec_name": spec,
                                 "title": f"Tarefa {spec}", "role": ROLES[rng.randrange(len(ROLES))],
                                 "assignee": assignee, "form_key": None, "due_at": open_since + sla,
                                 "created_at": open_since})
            holder = assignee
        rows["deadlines"].append(deadline)
        totals.add_deadline(DeadlineFacts(unit, process_id, deadline["spec_name"], deadline["name"], kind,
                                          deadline["due_at"], deadline["outcome"], holder))
    rows["cases"].append({
        "id": case_id, "protocol": f"BENCH-{case_id:09d}", "unit": unit, "definition_id": definitions[process_id],
        "process_id": process_id, "title": f"Caso sintético {case_id}", "status": "aberto" if is_open else "encerrado",
        "outcome": None if is_open else "arquivado", "summary": {}, "data": {}, "state": "{}", "state_format": 1,
        "version": 1, "created_by": creator, "created_at": created, "updated_at": moment,
        "closed_at": None if is_open else moment})
    totals.add_case_opened(unit, process_id, created)
    if not is_open:
        totals.add_case_closed(unit, process_id, created, moment)


class _Progress:
    """The generation's progress bar on stderr (stdout keeps only the JSON): click's bar on a
    terminal, else a line every 5% (a log file or a CI job still shows the load moving)."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label, self.done, self.next_line = total, label, 0, 0
        self.started = time.perf_counter()
        stream = click.get_text_stream("stderr")
        self.bar = click.progressbar(length=total, label=label, file=stream, show_pos=True,
                                     show_eta=True) if stream.isatty() else None

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def update(self, count: int) -> None:
        self.done += count
        if self.bar is not None:
            self.bar.update(count)
            return
        if self.done >= self.next_line or self.done >= self.total:
            elapsed = time.perf_counter() - self.started
            share = self.done / self.total if self.total else 1
            bar = "#" * int(share * 30)
            print(f"{self.label} [{bar:<30}] {self.done}/{self.total} {share:.0%} {elapsed:.0f}s", file=sys.stderr,
                  flush=True)
            self.next_line = self.done + max(self.total // 20, 1)


def _insert(conn: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    """Bulk insert: ``COPY ... FROM STDIN`` on PostgreSQL (psycopg 3), Core ``executemany`` elsewhere."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(insert(table), rows)
        return
    columns = list(rows[0])
    json_columns = {c for c in columns if isinstance(rows[0][c], dict)}
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(
            f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([json.dumps(row[c]) if c in json_columns else row[c] for c in columns])


def _generate(runtime: Runtime, count: int, definitions: dict[str, int], progress: bool) -> dict[str, int]:
    rng = random.Random(20240601)
    now = clock.now()
    with runtime.db.connect() as conn:
        first_id = (conn.scalar(select(func.max(CASES.c.id))) or 0) + 1
    totals = {"cases": 0, "deadlines": 0, "audit": 0, "open": 0}
    with _Progress(count, "Gerando casos sintéticos") as bar:
        for start in range(0, count, CHUNK):
            size = min(CHUNK, count - start)
            rows: dict[str, list[dict[str, Any]]] = {"cases": [], "deadlines": [], "audit": [], "open": []}
            aggregates = Totals()
            for offset in range(size):
                _case_rows(rng, first_id + start + offset, definitions, now, rows, aggregates)
            with runtime.db.begin() as conn:
                _insert(conn, CASES, rows["cases"])
                _insert(conn, DEADLINES, rows["deadlines"])
                _insert(conn, AUDIT, rows["audit"])
                _insert(conn, OPEN_TASKS, rows["open"])
                aggregates.write(conn)  # the Painel's tables, in the same transaction as the rows
            for key, values in rows.items():
                totals[key] += len(values)
            bar.update(size)
    if runtime.db.dialect.name == "postgresql":  # explicit case ids were copied: move the sequence on
        with runtime.db.begin() as conn:
            conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('cases', 'id'), (SELECT max(id) FROM cases))")
    if runtime.db.dialect.name in ("postgresql", "sqlite"):  # planner statistics, as after a real load
        with runtime.db.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return totals


# --------------------------------------------------------------------------- measurement


def _custom_period() -> tuple[dt.datetime, dt.datetime]:
    """A custom period as a manager types it (de / até): the last 100 days, not aligned on months."""
    today = clock.now().astimezone(TZ).date()

    def midnight(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time.min, tzinfo=TZ).astimezone(dt.UTC)

    return midnight(today - dt.timedelta(days=100)), midnight(today + dt.timedelta(days=1))


def _scope_times(runtime: Runtime, unit: str | None, repeat: int, custom: bool = False) -> dict[str, float]:
    """Median ms of every Painel query for one unit (``None``: all units), optionally over a custom period."""
    start, end = _custom_period() if custom else (None, None)
    filters = Filters(unit=unit, start=start, end=end)
    times: dict[str, float] = {}
    with runtime.Session() as session:
        for group in GROUPS:
            times[f"compliance_{group}"] = _timed(lambda g=group: compliance(session, filters, g), repeat)
        times["trend"] = _timed(lambda: trend(session, filters, "mes"), repeat)
        times["now_lists"] = _timed(
            lambda: now_lists(session, filters, calendars=runtime.calendars, business_days=3), repeat)
        times["flow_times"] = _timed(lambda: flow_times(session, filters), repeat)
        times["waiting_by_task"] = _timed(lambda: waiting_by_task(session, PROCESS_IDS[0], unit), repeat)
    return times


def _dashboard(runtime: Runtime, repeat: int) -> tuple[float, str, dict[str, dict[str, float]]]:
    """Per scope, the median ms of every Painel query; the slowest view (one page load) and its name."""
    breakdown: dict[str, dict[str, float]] = {}
    slowest, slowest_view = 0.0, ""
    for scope, unit, custom in (("unidade", UNITS[0], False), ("todas", None, False),
                                ("todas_periodo_100_dias", None, True)):
        times = _scope_times(runtime, unit, repeat, custom)
        common = times["trend"] + times["now_lists"] + times["flow_times"] + times["waiting_by_task"]
        for group in GROUPS:
            view = common + times[f"compliance_{group}"]
            if view > slowest:
                slowest, slowest_view = view, f"{scope}:{group}"
        breakdown[scope] = {k: round(v, 2) for k, v in times.items()}
    return slowest, slowest_view, breakdown


def _samples(action: Callable[[Any], None], runtime: Runtime, count: int) -> list[float]:
    timings = []
    for index in range(count + 5):  # the first 5 are a warm-up
        started = time.perf_counter()
        with runtime.Session() as session:
            action(session)
        if index >= 5:
            timings.append((time.perf_counter() - started) * 1000)
    return timings


def _inbox(runtime: Runtime, samples: int) -> list[float]:
    rng = random.Random(7)

    def one(session: Any) -> None:
        user = f"user{rng.randrange(USERS):03d}"
        roles = set(rng.sample(ROLES, rng.randint(1, 2)))
        queries.my_tasks(session, user)
        queries.group_queue(session, roles)

    return _samples(one, runtime, samples)


def _case_page(runtime: Runtime, samples: int, first_id: int, last_id: int) -> list[float]:
    rng = random.Random(11)

    def one(session: Any) -> None:
        case_id = rng.randint(first_id, last_id)
        session.get(Case, case_id)
        queries.case_timeline(session, case_id)
        queries.case_deadlines(session, case_id)
        queries.case_open_tasks(session, case_id)

    return _samples(one, runtime, samples)


def run_dashboard_bench(cases: int, database_url: str | None, progress: bool = True, repeat: int = 3,
                        samples: int = 200) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="procon-bench-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'dashboard.sqlite3'}"
        runtime = Runtime(EngineConfig(services=default_registry(), database_url=url))
        try:
            runtime.init_db()
            definitions = _setup(runtime)
            started = time.perf_counter()
            totals = _generate(runtime, cases, definitions, progress)
            generation_s = time.perf_counter() - started
            with runtime.db.connect() as conn:
                first_id, last_id = conn.execute(select(func.min(CASES.c.id), func.max(CASES.c.id))).one()
                total_cases = conn.scalar(select(func.count()).select_from(CASES))
            dashboard_ms, slowest_view, breakdown = _dashboard(runtime, repeat)
            inbox = _inbox(runtime, samples)
            case_page = _case_page(runtime, samples, first_id, last_id)
            return {
                "benchmark": "dashboard",
                "database": runtime.db.dialect.name,
                "cases": total_cases,
                "generated": totals,
                "generation_s": round(generation_s, 2),
                "generation_rows_per_s": round(sum(totals.values()) / generation_s) if generation_s else None,
                "dashboard_ms": round(dashboard_ms, 2),
                "dashboard_slowest_view": slowest_view,
                "dashboard_breakdown_ms": breakdown,
                "inbox_p50_ms": round(_percentile(inbox, 0.50), 3),
                "inbox_p95_ms": round(_percentile(inbox, 0.95), 3),
                "case_page_p50_ms": round(_percentile(case_page, 0.50), 3),
                "case_page_p95_ms": round(_percentile(case_page, 0.95), 3),
                "repeat": repeat,
                "samples": samples,
            }
        finally:
            runtime.db.dispose()
