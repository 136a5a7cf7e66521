"""``procon bench deadlines``: the deadline machinery at the scale of a whole state.

1. Fills the ``deadlines`` projection with N pending deadlines (far in the future), with a
   progress bar, and measures the cost of scheduling one more deadline at 1,000 pending and at N
   (it must not grow with N: one indexed insert).
2. A burst: B real cases waiting on the CIP timer, all due at the same instant. The engine clock
   is then put just past that instant, running at real speed, and the workers fire them; the lag of
   each firing is ``fired_at - due_at``.
3. A simulated one-hour outage: C cases whose timers fell due over the last hour; a worker starts
   and catches up; the rate is timers fired per second.

Cases for 2 and 3 are clones of one real case at the CIP step (same state, fresh task ids), so the
fixture takes seconds; the firings themselves go through the real runtime and worker.
Use a dedicated database: the run adds rows to it.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from sqlalchemy import func, insert, select

from engine import clock
from engine.actors import Actor
from engine.runtime import EngineConfig, Runtime
from engine.store.models import Case, Deadline, OpenTask
from engine.worker.scheduler import DeadlineWorker, WorkerConfig
from tasks.registry import default_registry
from webapp.bench.engine import MAIN_PATH, REGISTRATION

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CASES, DEADLINES, OPEN_TASKS = Case.__table__, Deadline.__table__, OpenTask.__table__
CHUNK = 5000


def _bar(enabled: bool, length: int, label: str) -> Any:
    if enabled:
        return click.progressbar(length=length, label=label, file=click.get_text_stream("stderr"), show_pos=True)
    return _NullBar()


class _NullBar:
    def __enter__(self) -> _NullBar:
        return self

    def __exit__(self, *_: Any) -> None:
        return None

    def update(self, _n: int) -> None:
        return None


def _template_case(runtime: Runtime) -> int:
    """One real complaint driven to "Registrar resposta do fornecedor" (its CIP timer pending)."""
    actor = Actor("bench", "Benchmark", frozenset({"admin"}))
    result = runtime.start_case("reclamacao", actor, REGISTRATION)
    for name, values in MAIN_PATH[:2]:
        task = next(t for t in result.open_tasks if t.spec_name == name)
        result = runtime.complete_task(result.case_id, task.task_id, actor, values)
    return result.case_id


def _fill_pending(runtime: Runtime, case_id: int, count: int, start_index: int, bar: Any) -> None:
    """Bulk-insert far-future legal deadlines (they never fall due during the run)."""
    base = clock.now() + dt.timedelta(days=400)
    done = 0
    while done < count:
        size = min(CHUNK, count - done)
        rows = [{"case_id": case_id, "task_id": str(uuid.uuid4()), "spec_name": "prazo_cip",
                 "name": "Prazo sintético", "kind": "legal", "legal_kind": "cip", "legal_basis": "", "unit": "CAP",
                 "starts_at": base, "due_at": base + dt.timedelta(minutes=(start_index + done + i) % 525_600),
                 "fired_at": None, "met_at": None} for i in range(size)]
        with runtime.db.begin() as conn:
            conn.execute(insert(DEADLINES), rows)
        done += size
        bar.update(size)


def _schedule_cost_ms(runtime: Runtime, case_id: int, samples: int = 300) -> float:
    """Median cost of scheduling one more deadline: one row, one transaction."""
    due = clock.now() + dt.timedelta(days=500)
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        with runtime.db.begin() as conn:
            conn.execute(insert(DEADLINES).values(
                case_id=case_id, task_id=str(uuid.uuid4()), spec_name="prazo_cip", name="Prazo sintético",
                kind="legal", legal_kind="cip", legal_basis="", unit="CAP", starts_at=due, due_at=due))
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def _fresh_ids(state: str) -> dict[str, str]:
    """A new UUID for every task id in a stored state."""
    return {old: str(uuid.uuid4()) for old in dict.fromkeys(UUID_RE.findall(state))}


def _snapshot(runtime: Runtime, template_id: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The template case's row, its pending CIP deadline and its open task, before anything fires."""
    with runtime.db.connect() as conn:
        case = conn.execute(select(CASES).where(CASES.c.id == template_id)).one()._mapping
        deadline = conn.execute(select(DEADLINES).where(DEADLINES.c.case_id == template_id,
                                                        DEADLINES.c.kind == "legal",
                                                        DEADLINES.c.fired_at.is_(None),
                                                        DEADLINES.c.spec_name == "prazo_cip")
                                .order_by(DEADLINES.c.id).limit(1)).one()._mapping
        open_task = conn.execute(select(OPEN_TASKS).where(OPEN_TASKS.c.case_id == template_id)).one()._mapping
    return dict(case), dict(deadline), dict(open_task)


def _clone_cases(runtime: Runtime, template: tuple[dict[str, Any], dict[str, Any], dict[str, Any]],
                 dues: list[dt.datetime], tag: str, bar: Any) -> list[int]:
    """Copies of the template case, each with fresh task ids and its CIP timer due at ``dues[i]``."""
    case, deadline, open_task = template
    old_due = deadline["due_at"].isoformat()
    ids: list[int] = []
    for first in range(0, len(dues), 1000):
        chunk = dues[first:first + 1000]
        with runtime.db.begin() as conn:
            for offset, due in enumerate(chunk):
                mapping = _fresh_ids(case["state"])
                state = UUID_RE.sub(lambda m, ids=mapping: ids[m.group(0)], case["state"])
                state = state.replace(old_due, due.isoformat())
                new_case = {k: v for k, v in case.items() if k != "id"}
                new_case.update(state=state, protocol=f"{tag}-{first + offset:07d}", version=1)
                new_id = conn.execute(insert(CASES).values(**new_case).returning(CASES.c.id)).scalar_one()
                conn.execute(insert(DEADLINES).values(
                    {**{k: v for k, v in deadline.items() if k != "id"},
                     "case_id": new_id, "task_id": mapping[deadline["task_id"]], "due_at": due}))
                conn.execute(insert(OPEN_TASKS).values(
                    {**{k: v for k, v in open_task.items() if k != "id"},
                     "case_id": new_id, "task_id": mapping[open_task["task_id"]], "due_at": due}))
                ids.append(new_id)
        bar.update(len(chunk))
    return ids


_DUE_COUNT = select(func.count()).select_from(DEADLINES).where(
    DEADLINES.c.kind == "legal", DEADLINES.c.fired_at.is_(None), DEADLINES.c.met_at.is_(None))


def _worker_process(url: str, clock_source: Callable[[], dt.datetime], stop_at: float) -> None:
    clock.set_clock(clock_source)
    runtime = Runtime(EngineConfig(services=default_registry(), database_url=url))
    worker = DeadlineWorker(runtime, WorkerConfig(batch=200))
    while time.monotonic() < stop_at:
        if worker.fire_due() == 0:
            with runtime.db.connect() as conn:
                remaining = conn.scalar(_DUE_COUNT.where(DEADLINES.c.due_at < clock.now()))
            if not remaining:
                break
            time.sleep(0.05)  # the rest is held by another worker
    runtime.db.dispose()


def _run_workers(url: str, workers: int, clock_source: Callable[[], dt.datetime], timeout_s: float) -> float:
    """Fire everything due with ``workers`` processes; returns the elapsed seconds."""
    context = multiprocessing.get_context("fork")
    stop_at = time.monotonic() + timeout_s
    started = time.perf_counter()
    processes = [context.Process(target=_worker_process, args=(url, clock_source, stop_at)) for _ in range(workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    return time.perf_counter() - started


def _lags(runtime: Runtime, case_ids: list[int]) -> list[float]:
    with runtime.db.connect() as conn:
        rows = conn.execute(select(DEADLINES.c.due_at, DEADLINES.c.fired_at).where(
            DEADLINES.c.case_id.in_(case_ids), DEADLINES.c.kind == "legal", DEADLINES.c.spec_name == "prazo_cip"))
        return [(fired - due).total_seconds() for due, fired in rows if fired is not None]


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def run_deadline_bench(pending: int, burst: int, outage: int, database_url: str | None, workers: int | None = None,
                       progress: bool = True) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="procon-bench-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'deadlines.sqlite3'}"
        runtime = Runtime(EngineConfig(services=default_registry(), database_url=url))
        runtime.init_db()
        database = runtime.db.dialect.name
        workers = workers or (1 if database == "sqlite" else 2)
        try:
            return _measure(runtime, url, database, pending, burst, outage, workers, progress)
        finally:
            clock.set_clock(None)
            runtime.db.dispose()


def _measure(runtime: Runtime, url: str, database: str, pending: int, burst: int, outage: int, workers: int,
             progress: bool) -> dict[str, Any]:
    # The template case and the clones are created 30 days in the past: their CIP timers (10 days)
    # fall due before "now", at instants the benchmark chooses.
    clock.set_clock(clock.FrozenClock(clock.system_now() - dt.timedelta(days=30)))
    template = _template_case(runtime)
    snapshot = _snapshot(runtime, template)
    with _bar(progress, pending, "prazos pendentes") as bar:
        first = min(1000, pending)
        _fill_pending(runtime, template, first, 0, bar)
        schedule_at_1k = _schedule_cost_ms(runtime, template)
        _fill_pending(runtime, template, pending - first, first, bar)
    schedule_at_n = _schedule_cost_ms(runtime, template)
    with runtime.db.connect() as conn:
        total_pending = conn.scalar(select(func.count()).select_from(DEADLINES).where(DEADLINES.c.fired_at.is_(None)))

    # 2. The burst: all due at one instant T; the clock is put at T and runs at real speed.
    due_at = clock.system_now().replace(microsecond=0) - dt.timedelta(days=1)
    with _bar(progress, burst, "rajada de prazos") as bar:
        burst_ids = _clone_cases(runtime, snapshot, [due_at] * burst, "RAJADA", bar)
    burst_clock = clock.OffsetClock(due_at - clock.system_now())
    clock.set_clock(burst_clock)
    runtime.db.dispose()  # the worker processes are forked: they must not inherit open connections
    burst_seconds = _run_workers(url, workers, burst_clock, timeout_s=3600)
    lags = _lags(runtime, burst_ids)

    # 3. One hour down: C timers fell due evenly over the last hour; a worker catches up.
    now = clock.system_now()
    dues = [now - dt.timedelta(hours=1) + dt.timedelta(seconds=3600 * i / max(1, outage)) for i in range(outage)]
    with _bar(progress, outage, "prazos vencidos durante a parada") as bar:
        outage_ids = _clone_cases(runtime, snapshot, dues, "PARADA", bar)
    clock.set_clock(clock.OffsetClock(dt.timedelta(seconds=1)))
    runtime.db.dispose()
    catchup_seconds = _run_workers(url, workers, clock.OffsetClock(dt.timedelta(seconds=1)), timeout_s=3600)
    fired_after_outage = len(_lags(runtime, outage_ids))

    return {
        "benchmark": "deadlines",
        "database": database,
        "pending": total_pending,
        "workers": workers,
        "schedule_ms_at_1k": round(schedule_at_1k, 4),
        "schedule_ms_at_n": round(schedule_at_n, 4),
        "schedule_growth_ratio": round(schedule_at_n / schedule_at_1k, 3),
        "burst": burst,
        "burst_fired": len(lags),
        "burst_seconds": round(burst_seconds, 3),
        "fire_lag_p50_s": round(_percentile(lags, 0.50), 3),
        "fire_lag_p99_s": round(_percentile(lags, 0.99), 3),
        "fire_lag_max_s": round(max(lags) if lags else float("nan"), 3),
        "outage_timers": outage,
        "outage_fired": fired_after_outage,
        "catchup_seconds": round(catchup_seconds, 3),
        "catchup_per_s": round(fired_after_outage / catchup_seconds, 1) if catchup_seconds else None,
    }
