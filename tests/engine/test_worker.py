"""The deadline worker (``engine.worker.scheduler``): crash safety, concurrent workers, catch-up after an
outage, warnings before a deadline, escalation of overdue tasks and the APScheduler wiring.

Dates (São Paulo, UTC-3 all of March 2026): the frozen clock starts Monday 2 March 10:00; a CIP
sent then is due at the end of Thursday 12 March (10 calendar days, Lei 9.784/1999 art. 66), i.e.
13 March 02:59:59.999999 UTC. The atendimento preliminar SLA (5 business days) ends on Monday 9 March.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import re
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from engine import clock
from engine.actors import Actor
from engine.calendar.rules import DeadlineRule
from engine.errors import ConflictError
from engine.runtime import CaseResult, EngineConfig, Runtime, queries
from engine.store.models import AuditEvent, Case, Deadline, Notification, OpenTask, SchedulerLease
from engine.worker.scheduler import DeadlineWorker, WorkerConfig, build_scheduler
from tasks.registry import default_registry
from tests.support.web_helpers import PASSWORD, csrf_token, login
from webapp import create_app
from webapp.users import create_user

SP = ZoneInfo("America/Sao_Paulo")
PRELIM = {"resultado_preliminar": "nao_resolvida", "contato_descricao": "Liguei para o SAC, sem solução."}
CIP = {"cip_texto": "Solicitamos manifestação em 10 dias.", "cip_email_fornecedor": "sac@loja.example"}
#: End of Thursday 12 March 2026 in São Paulo: the CIP deadline of a case sent on the frozen clock's start.
CIP_DUE = dt.datetime(2026, 3, 12, 23, 59, 59, 999999, tzinfo=SP).astimezone(dt.UTC)
AFTER_CIP_DUE = CIP_DUE + dt.timedelta(minutes=1)
POLL_LIMIT_S = 10.0


def sp(day: int, hour: int = 10, minute: int = 0, second: int = 0, month: int = 3) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, second, tzinfo=SP).astimezone(dt.UTC)


def only_task(result: CaseResult, spec_name: str) -> str:
    assert [t.spec_name for t in result.open_tasks] == [spec_name]
    return result.open_tasks[0].task_id


def send_cip(rt: Runtime, actor: Actor, complaint: Mapping[str, str]) -> CaseResult:
    """A case waiting for the supplier's answer; its CIP timer starts now."""
    result = rt.start_case("reclamacao", actor, complaint)
    result = rt.complete_task(result.case_id, only_task(result, "atendimento_preliminar"), actor, PRELIM)
    result = rt.complete_task(result.case_id, only_task(result, "emitir_cip"), actor, CIP)
    only_task(result, "registrar_resposta")
    return result


def cip_deadline(rt: Runtime, case_id: int) -> Deadline:
    with rt.Session() as session:
        return session.scalars(select(Deadline).where(Deadline.case_id == case_id, Deadline.kind == "legal")).one()


def version_of(rt: Runtime, case_id: int) -> int:
    with rt.Session() as session:
        return session.scalar(select(Case.version).where(Case.id == case_id))


def open_specs(rt: Runtime, case_id: int) -> list[str]:
    with rt.Session() as session:
        return sorted(session.scalars(select(OpenTask.spec_name).where(OpenTask.case_id == case_id)))


def events(rt: Runtime, case_id: int, action: str) -> list[AuditEvent]:
    with rt.Session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id,
                                                             AuditEvent.action == action).order_by(AuditEvent.id)))


def notifications(rt: Runtime, kind: str) -> list[Notification]:
    with rt.Session() as session:
        return list(session.scalars(select(Notification).where(Notification.kind == kind).order_by(Notification.id)))


def ran(result: Mapping[str, int]) -> tuple[int, int, int]:
    """What a ``run_once`` did with deadlines: (timers fired, warnings sent, escalations)."""
    return result["disparados"], result["avisos"], result["escalonados"]


def is_sqlite(rt: Runtime) -> bool:
    return rt.db.dialect.name == "sqlite"


def wait_for(condition: Callable[[], Any], what: str, limit_s: float = POLL_LIMIT_S) -> Any:
    """Poll ``condition`` until it returns something truthy, at most ``limit_s`` seconds of real time."""
    deadline = time.monotonic() + limit_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"esperei {limit_s}s e não aconteceu: {what}")
        time.sleep(0.02)


def run_together(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released at once by a barrier; re-raise the first unexpected error."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = calls[index]()
        except BaseException as error:  # noqa: BLE001 - reported to the test thread below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive(), "uma thread não terminou"
    if errors:
        raise errors[0]
    return results


# ------------------------------------------------------------------ 1. a worker killed mid-firing


def _worker_killed_before_commit(url: str, now: dt.datetime, entered: Any, holder: str) -> None:
    """Child process: its own Runtime and clock; stalls after the case UPDATE, before the commit."""
    clock.set_clock(clock.FrozenClock(now))
    rt = Runtime(EngineConfig(services=default_registry(), database_url=url))

    def stall(*_args: Any, **_kwargs: Any) -> None:
        entered.set()  # the case row is already updated in this (uncommitted) transaction
        time.sleep(120)

    Runtime._write_audit = staticmethod(stall)  # type: ignore[method-assign]
    DeadlineWorker(rt, holder=holder).fire_due()
    os._exit(3)  # never reached: the parent kills this process first


def assert_write_in_progress(rt: Runtime, url: str, case_id: int) -> None:
    """Someone holds an uncommitted write: on PostgreSQL the case row itself is locked (by the UPDATE);
    on SQLite the database's write lock is taken."""
    if is_sqlite(rt):
        probe = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                probe.execute("BEGIN IMMEDIATE")
        finally:
            probe.close()
    else:
        with rt.db.connect() as conn, pytest.raises(OperationalError, match="lock"):
            conn.execute(select(Case.id).where(Case.id == case_id).with_for_update(nowait=True))


def test_worker_killed_in_the_middle_of_a_firing_leaves_nothing_half_done(
        database_url: str, runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor,
        complaint: dict[str, str]) -> None:
    sent = send_cip(runtime, atendente, complaint)
    assert cip_deadline(runtime, sent.case_id).due_at == CIP_DUE
    frozen_clock.set(AFTER_CIP_DUE)
    runtime.db.dispose()  # the child must not inherit pooled connections (it builds its own engine)

    context = multiprocessing.get_context("fork")
    entered = context.Event()
    child = context.Process(target=_worker_killed_before_commit,
                            args=(database_url, AFTER_CIP_DUE, entered, "worker-morto"), daemon=True)
    child.start()
    try:
        assert entered.wait(timeout=POLL_LIMIT_S), "o worker filho não chegou ao ponto antes do commit"
        assert_write_in_progress(runtime, database_url, sent.case_id)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join(timeout=POLL_LIMIT_S)
    assert child.exitcode == -signal.SIGKILL

    def untouched() -> None:
        assert version_of(runtime, sent.case_id) == sent.version
        deadline = cip_deadline(runtime, sent.case_id)
        assert (deadline.fired_at, deadline.met_at, deadline.outcome) == (None, None, None)
        assert events(runtime, sent.case_id, "prazo_vencido") == []
        assert events(runtime, sent.case_id, "etapas_automaticas") == []
        assert open_specs(runtime, sent.case_id) == ["registrar_resposta"]

    untouched()
    successor = DeadlineWorker(runtime, holder="worker-novo")
    if is_sqlite(runtime):
        # The dead worker's lease stands until it expires: the new worker does nothing meanwhile.
        with runtime.Session() as session:
            lease = session.get(SchedulerLease, "prazos")
            assert (lease.holder, lease.expires_at) == ("worker-morto", AFTER_CIP_DUE + WorkerConfig().lease_ttl)
        assert successor.fire_due() == 0
        assert ran(successor.run_once()) == (0, 0, 0)
        frozen_clock.advance(WorkerConfig().lease_ttl - dt.timedelta(seconds=1))
        assert successor.fire_due() == 0
        untouched()
        frozen_clock.advance(dt.timedelta(seconds=2))  # now past the dead worker's lease
        assert successor.fire_due() == 1
        with runtime.Session() as session:
            assert session.get(SchedulerLease, "prazos").holder == "worker-novo"
    else:
        # PostgreSQL rolls the dead session back once it notices the closed socket; until then the
        # deadline row stays locked and SKIP LOCKED skips it.
        wait_for(successor.fire_due, "o novo worker disparar o prazo")

    assert len(events(runtime, sent.case_id, "prazo_vencido")) == 1
    deadline = cip_deadline(runtime, sent.case_id)
    assert deadline.outcome == "vencido" and deadline.fired_at is not None and deadline.met_at is None
    assert open_specs(runtime, sent.case_id) == ["analisar_reclamacao"]
    assert version_of(runtime, sent.case_id) == sent.version + 1
    assert successor.fire_due() == 0


# ------------------------------------------------------------------ 2. two workers racing


def test_two_workers_racing_fire_every_due_deadline_exactly_once(
        database_url: str, runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor,
        complaint: dict[str, str]) -> None:
    cases = [send_cip(runtime, atendente, complaint) for _ in range(5)]
    frozen_clock.set(AFTER_CIP_DUE)
    processes = [Runtime(EngineConfig(services=default_registry(), database_url=database_url)) for _ in range(2)]
    workers = [DeadlineWorker(rt, holder=f"worker-{i}") for i, rt in enumerate(processes)]
    try:
        fired = run_together(*(worker.fire_due for worker in workers))
        assert sum(fired) == 5, fired
        if is_sqlite(runtime):
            assert sorted(fired) == [0, 5]  # the lease lets only one of them act
        assert [w.fire_due() for w in workers] == [0, 0]
    finally:
        for rt in processes:
            rt.db.dispose()
    for sent in cases:
        assert len(events(runtime, sent.case_id, "prazo_vencido")) == 1
        assert cip_deadline(runtime, sent.case_id).outcome == "vencido"
        assert version_of(runtime, sent.case_id) == sent.version + 1
        assert open_specs(runtime, sent.case_id) == ["analisar_reclamacao"]


def test_same_case_fired_by_two_runtimes_at_once_advances_once(
        database_url: str, runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor,
        complaint: dict[str, str]) -> None:
    sent = send_cip(runtime, atendente, complaint)
    frozen_clock.set(AFTER_CIP_DUE)
    processes = [Runtime(EngineConfig(services=default_registry(), database_url=database_url)) for _ in range(2)]
    both_loaded = threading.Barrier(2)
    loaded_by: list[int] = []

    def hold_after_checkout(index: int, rt: Runtime) -> None:
        original = rt._checkout

        def checkout(conn: Any, case_id: int, version: int) -> Any:
            loaded = original(conn, case_id, version)
            loaded_by.append(index)
            try:
                both_loaded.wait(timeout=POLL_LIMIT_S)  # both hold the same version before either writes
            except threading.BrokenBarrierError:
                pass  # the other one never loaded it (skipped at the row claim): carry on alone
            return loaded

        rt._checkout = checkout  # type: ignore[method-assign]

    def fire(rt: Runtime) -> Callable[[], Any]:
        def call() -> Any:
            try:
                return rt._fire_case_timers(sent.case_id)
            except ConflictError as error:
                return error
            finally:
                both_loaded.abort()  # release the other one if it is still waiting
        return call

    for index, rt in enumerate(processes):
        hold_after_checkout(index, rt)
    try:
        outcomes = run_together(*(fire(rt) for rt in processes))
    finally:
        for rt in processes:
            rt.db.dispose()
    assert outcomes.count(True) == 1, outcomes
    [loser] = [o for o in outcomes if o is not True]
    if is_sqlite(runtime):
        # No row locks: both loaded version N, the version check turns the second write away.
        assert sorted(loaded_by) == [0, 1]
        assert isinstance(loser, ConflictError), loser
    else:
        # FOR UPDATE SKIP LOCKED: the second never got the deadline row, so never loaded the case.
        assert len(loaded_by) == 1
        assert loser is False or isinstance(loser, ConflictError), loser
    assert len(events(runtime, sent.case_id, "prazo_vencido")) == 1
    assert version_of(runtime, sent.case_id) == sent.version + 1
    assert cip_deadline(runtime, sent.case_id).outcome == "vencido"
    assert open_specs(runtime, sent.case_id) == ["analisar_reclamacao"]


# ------------------------------------------------------------------ 3. catch-up after an outage


def test_catch_up_after_downtime_fires_every_overdue_timer_in_batches(
        runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor, complaint: dict[str, str]) -> None:
    cases = []
    for day in range(4):  # 20 CIPs sent over four days: due 12, 13, 14 (-> Mon 16) and 15 (-> 16) March
        frozen_clock.set(sp(2 + day))
        cases += [send_cip(runtime, atendente, complaint) for _ in range(5)]
    assert len({cip_deadline(runtime, c.case_id).due_at for c in cases}) == 3
    batches: list[int] = []
    fire_due_timers = runtime.fire_due_timers

    def counted(limit: int = 100) -> int:
        batches.append(fire_due_timers(limit=limit))
        return batches[-1]

    runtime.fire_due_timers = counted  # type: ignore[method-assign]
    worker = DeadlineWorker(runtime, WorkerConfig(batch=7), holder="worker-volta")

    frozen_clock.set(sp(20))  # the worker was down from before the first due date until Friday 20 March
    assert ran(worker.run_once()) == (20, 0, 0)
    assert batches == [7, 7, 6]
    versions = {c.case_id: version_of(runtime, c.case_id) for c in cases}
    for sent in cases:
        assert cip_deadline(runtime, sent.case_id).outcome == "vencido"
        assert len(events(runtime, sent.case_id, "prazo_vencido")) == 1
        assert versions[sent.case_id] == sent.version + 1

    batches.clear()
    assert ran(worker.run_once()) == (0, 0, 0)
    assert batches == [0]
    assert {c.case_id: version_of(runtime, c.case_id) for c in cases} == versions


def test_worker_process_counts_new_deadlines_on_the_calendar_changed_by_the_web_process(
        database_url: str, runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor,
        complaint: dict[str, str]) -> None:
    sent = send_cip(runtime, atendente, complaint)
    worker_process = Runtime(EngineConfig(services=default_registry(), database_url=database_url))
    try:
        # Another process learns of a calendar change within REVISION_CHECK_INTERVAL (1 s); no wait here.
        worker_process.calendars.REVISION_CHECK_INTERVAL = 0
        worker = DeadlineWorker(worker_process, holder="worker-calendario")
        assert ran(worker.run_once()) == (0, 0, 0)
        worker_process.calendars.for_unit("CAP")  # the worker has read the unit's calendar once
        with runtime.Session.begin() as session:  # the admin (web process) closes the unit 16-20 March
            runtime.calendars.add_entry(session, unit="CAP", starts_on=dt.date(2026, 3, 16),
                                        ends_on=dt.date(2026, 3, 20), kind="fechamento",
                                        description="Mudança de sede", actor="admin")
        runtime.recalculate_deadlines("CAP", "fechamento", Actor("admin", roles=frozenset({"admin"})))
        frozen_clock.set(sp(13, 10))
        assert worker.fire_due() == 1
    finally:
        worker_process.db.dispose()
    with runtime.Session() as session:
        sla = session.scalars(select(Deadline).where(Deadline.case_id == sent.case_id,
                                                     Deadline.spec_name == "analisar_reclamacao")).one()
    # 15 business days from Friday 13 March, 16-20 March closed and Good Friday (3 April) a holiday.
    expected = runtime.calendars.for_unit("CAP").due_date(dt.date(2026, 3, 13), DeadlineRule("prazo", 15, "uteis", ""))
    assert expected == dt.date(2026, 4, 13)
    assert sla.due_at.astimezone(SP).date() == expected


# ------------------------------------------------------------------ 4. warnings before the deadline

STAFF = [("ana", "Ana Atendente", ["atendente"]), ("caio", "Caio Atendente", ["atendente"]),
         ("gil", "Gil Gestor", ["gestor"])]
NOTICE_RE = re.compile(r'<li class="aviso aviso-(\w+)">.*?href="/casos/(\d+)".*?action="/avisos/(\d+)/lido"', re.S)


def web_app(rt: Runtime) -> Flask:
    with rt.Session.begin() as session:
        for username, name, roles in STAFF:
            create_user(session, username, name, roles, PASSWORD)
    return create_app({"RUNTIME": rt, "SECRET_KEY": "teste", "TESTING": True, "WTF_CSRF_ENABLED": True})


def client_for(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def notices_on_inbox(client: FlaskClient) -> tuple[list[tuple[str, int, int]], str]:
    """(kind, case id, notice id) of every notice on /tarefas, and the page."""
    html = client.get("/tarefas").get_data(as_text=True)
    return [(kind, int(case), int(notice)) for kind, case, notice in NOTICE_RE.findall(html)], html


def test_warning_two_business_days_before_the_cip_deadline_once_to_the_right_person(
        database_url: str, runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor,
        complaint: dict[str, str]) -> None:
    claimed = send_cip(runtime, atendente, complaint)
    runtime.claim(claimed.case_id, only_task(claimed, "registrar_resposta"), atendente)
    queued = send_cip(runtime, atendente, complaint)  # left in the supplier's queue (attendants see it too)
    for sent in (claimed, queued):
        assert cip_deadline(runtime, sent.case_id).due_at == CIP_DUE

    calendar = runtime.calendars.for_unit("CAP")
    assert calendar.add_working_days(dt.date(2026, 3, 12), -2) == dt.date(2026, 3, 10)
    assert calendar.working_days_between(dt.date(2026, 3, 9), dt.date(2026, 3, 12)) == 3
    assert calendar.working_days_between(dt.date(2026, 3, 10), dt.date(2026, 3, 12)) == 2

    config = WorkerConfig(warn_business_days=2)
    other = Runtime(EngineConfig(services=default_registry(), database_url=database_url))  # a second worker process
    workers = [DeadlineWorker(runtime, config, holder="worker-a"), DeadlineWorker(other, config, holder="worker-b")]
    try:
        frozen_clock.set(sp(9, 10))  # Monday: 3 business days before
        assert ran(workers[0].run_once()) == (0, 0, 0)
        frozen_clock.set(sp(9, 23, 59, 59))  # still Monday in São Paulo (already Tuesday in UTC)
        assert workers[0].send_warnings() == 0
        assert notifications(runtime, "aviso_prazo") == []

        frozen_clock.set(sp(10, 0, 0, 1))  # Tuesday 10 March, just after midnight in São Paulo
        sent_now = run_together(*(w.send_warnings for w in workers))
        assert sum(sent_now) == 2, sent_now
        for _ in range(3):
            frozen_clock.advance(dt.timedelta(hours=4))
            assert [ran(w.run_once()) for w in workers] == [(0, 0, 0), (0, 0, 0)]
        workers[0].release_lease()
        frozen_clock.advance(dt.timedelta(seconds=1))
        assert workers[1].send_warnings() == 0  # whoever holds the lease, the guarded UPDATE says "done"
    finally:
        other.db.dispose()

    warnings = notifications(runtime, "aviso_prazo")
    assert len(warnings) == 2
    by_case = {n.case_id: n for n in warnings}
    to_ana, to_queue = by_case[claimed.case_id], by_case[queued.case_id]
    assert (to_ana.recipient, to_ana.role) == ("ana", None)
    assert (to_queue.recipient, to_queue.role, to_queue.unit) == (None, "fornecedor", "CAP")
    for notice, sent in ((to_ana, claimed), (to_queue, queued)):
        assert notice.deadline_id == cip_deadline(runtime, sent.case_id).id
        assert notice.created_at == sp(10, 0, 0, 1) and notice.read_at is None
        assert notice.message.startswith("Prazo vencendo: Prazo de resposta à CIP")
        assert "12/03/2026" in notice.message and "Responder à CIP" in notice.message
        [event] = events(runtime, sent.case_id, "aviso_prazo")
        assert (event.actor, event.description) == ("sistema", notice.message)
    assert events(runtime, claimed.case_id, "aviso_prazo")[0].details == {"para": "ana"}
    assert events(runtime, queued.case_id, "aviso_prazo")[0].details == {"para": "fila de fornecedor"}
    with runtime.Session() as session:
        assert session.scalar(select(func.count(Deadline.id)).where(Deadline.warned_at.is_not(None))) == 2

    # The inbox: Ana sees her own notice and her role's; Caio only the role's; Gil (gestor) none.
    app = web_app(runtime)
    ana, caio, gil = (client_for(app, name) for name in ("ana", "caio", "gil"))
    seen, html = notices_on_inbox(ana)
    assert sorted(seen) == sorted([("aviso_prazo", claimed.case_id, to_ana.id),
                                   ("aviso_prazo", queued.case_id, to_queue.id)])
    assert str(escape(to_ana.message)) in html and str(escape(to_queue.message)) in html
    assert "Marcar como lido" in html
    assert notices_on_inbox(caio)[0] == [("aviso_prazo", queued.case_id, to_queue.id)]
    assert notices_on_inbox(gil)[0] == []

    caio_page = caio.get("/tarefas").get_data(as_text=True)
    assert caio.post(f"/avisos/{to_ana.id}/lido", data={"csrf_token": csrf_token(caio_page)}).status_code == 404
    response = ana.post(f"/avisos/{to_ana.id}/lido", data={"csrf_token": csrf_token(html)})
    assert response.status_code == 302 and response.headers["Location"] == "/tarefas"
    assert notices_on_inbox(ana)[0] == [("aviso_prazo", queued.case_id, to_queue.id)]
    with runtime.Session() as session:
        assert session.get(Notification, to_ana.id).read_at == frozen_clock()


# ------------------------------------------------------------------ 5. escalation of overdue tasks


def test_overdue_preliminary_service_is_escalated_once_to_the_unit_managers(
        runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor, complaint: dict[str, str]) -> None:
    started = runtime.start_case("reclamacao", atendente, complaint)
    task_id = only_task(started, "atendimento_preliminar")
    runtime.claim(started.case_id, task_id, atendente)
    with runtime.Session() as session:
        sla = session.scalars(select(Deadline).where(Deadline.case_id == started.case_id)).one()
    assert (sla.kind, sla.task_id, sla.days, sla.mode) == ("interno", task_id, 5, "uteis")
    assert sla.due_at == dt.datetime(2026, 3, 9, 23, 59, 59, 999999, tzinfo=SP)  # Tue..Fri + Mon = 5
    worker = DeadlineWorker(runtime, holder="worker-escalona")

    frozen_clock.set(sp(9, 23, 59, 59))  # the last day is not over yet
    assert worker.escalate_overdue() == 0
    frozen_clock.set(sp(10, 0, 0, 1))
    assert ran(worker.run_once()) == (0, 0, 1)
    for hours in (1, 24, 24 * 7):
        frozen_clock.set(sp(10, 0, 0, 1) + dt.timedelta(hours=hours))
        assert ran(worker.run_once()) == (0, 0, 0)

    [notice] = notifications(runtime, "escalonamento")
    assert (notice.recipient, notice.role, notice.unit) == (None, "gestor", "CAP")
    assert (notice.case_id, notice.deadline_id) == (started.case_id, sla.id)
    assert notice.message == "Tarefa atrasada: Atendimento preliminar venceu em 09/03/2026, com ana."
    [event] = events(runtime, started.case_id, "escalonado")
    assert (event.actor, event.task_id, event.details) == ("sistema", task_id, {"para": "gestor"})
    assert event.at == sp(10, 0, 0, 1)
    with runtime.Session() as session:
        assert [n.id for n in queries.notifications_for(session, "gil", {"gestor"}, "CAP")] == [notice.id]
        assert queries.notifications_for(session, "outro", {"gestor"}, "OUTRA") == []
        assert queries.notifications_for(session, "ana", {"atendente"}, "CAP") == []
        assert session.get(Deadline, sla.id).escalated_at == sp(10, 0, 0, 1)

    # Done late: the SLA closes as "cumprido_com_atraso"; the next task's fresh SLA is not overdue.
    late = sp(18, 15)
    frozen_clock.set(late)
    result = runtime.complete_task(started.case_id, task_id, atendente, PRELIM)
    only_task(result, "emitir_cip")
    with runtime.Session() as session:
        closed = session.get(Deadline, sla.id)
        assert (closed.outcome, closed.met_at, closed.fired_at) == ("cumprido_com_atraso", late, None)
    assert ran(worker.run_once())[2] == 0
    assert len(notifications(runtime, "escalonamento")) == 1
    assert len(events(runtime, started.case_id, "escalonado")) == 1


# ------------------------------------------------------------------ 6. APScheduler wiring

DEADLINE_JOBS = {"avisar_prazos", "disparar_prazos", "enviar_emails_conta", "escalonar_atrasos"}


def stored_jobs(rt: Runtime) -> list[str]:
    with rt.db.connect() as conn:
        return list(conn.scalars(text("SELECT id FROM apscheduler_jobs ORDER BY id")))


def drop_job_table(rt: Runtime) -> None:
    with rt.db.begin() as conn:  # not in the models' metadata: the fixture does not drop it on PostgreSQL
        conn.execute(text("DROP TABLE IF EXISTS apscheduler_jobs"))


def test_apscheduler_fires_due_timers_and_keeps_one_copy_of_each_job(
        database_url: str, runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor,
        complaint: dict[str, str]) -> None:
    drop_job_table(runtime)
    sent = send_cip(runtime, atendente, complaint)
    frozen_clock.set(AFTER_CIP_DUE)
    scheduler = build_scheduler(DeadlineWorker(runtime, WorkerConfig(fire_interval_s=0.2), holder="agendador-1"))
    started = time.monotonic()
    scheduler.start()
    try:
        job_ids = sorted(job.id for job in scheduler.get_jobs())
        assert DEADLINE_JOBS <= set(job_ids)
        assert stored_jobs(runtime) == job_ids  # one row per job, in the database
        wait_for(lambda: cip_deadline(runtime, sent.case_id).outcome == "vencido", "o agendador disparar o prazo")
        assert time.monotonic() - started < 5
    finally:
        scheduler.shutdown(wait=True)
    assert len(events(runtime, sent.case_id, "prazo_vencido")) == 1
    assert open_specs(runtime, sent.case_id) == ["analisar_reclamacao"]
    assert stored_jobs(runtime) == job_ids  # the schedule outlives the scheduler

    # A restart (new process: new runtime, new worker) replaces the stored jobs instead of adding copies.
    restarted = Runtime(EngineConfig(services=default_registry(), database_url=database_url))
    try:
        scheduler = build_scheduler(DeadlineWorker(restarted, WorkerConfig(fire_interval_s=0.5), holder="agendador-2"))
        scheduler.start()
        try:
            assert sorted(job.id for job in scheduler.get_jobs()) == job_ids
            assert stored_jobs(restarted) == job_ids
            assert scheduler.get_job("disparar_prazos").trigger.interval == dt.timedelta(seconds=0.5)
        finally:
            scheduler.shutdown(wait=True)
        assert stored_jobs(restarted) == job_ids
        assert len(events(restarted, sent.case_id, "prazo_vencido")) == 1
    finally:
        drop_job_table(restarted)
        restarted.db.dispose()


def test_a_warned_deadline_moved_later_is_warned_again_with_its_new_date(
        runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor, complaint: dict[str, str]) -> None:
    sent = send_cip(runtime, atendente, complaint)  # CIP due Thursday 12 March
    worker = DeadlineWorker(runtime, holder="avisos")
    frozen_clock.set(sp(10))
    assert worker.send_warnings() == 1
    with runtime.Session.begin() as session:  # a strike suspends CIP deadlines 11-13 March
        runtime.calendars.add_entry(session, unit="CAP", starts_on=dt.date(2026, 3, 11), ends_on=dt.date(2026, 3, 13),
                                    kind="suspensao", description="Greve", actor="admin", suspends=["cip"])
    assert runtime.recalculate_deadlines("CAP", "Greve", Actor("admin", roles=frozenset({"admin"}))) == 1
    with runtime.Session() as session:
        deadline = session.scalars(select(Deadline).where(Deadline.case_id == sent.case_id,
                                                          Deadline.kind == "legal")).one()
    assert deadline.due_at.astimezone(SP).date() == dt.date(2026, 3, 16) and deadline.warned_at is None
    frozen_clock.set(sp(11))  # more than 2 business days before Monday 16: not yet
    assert worker.send_warnings() == 0
    frozen_clock.set(sp(13))
    assert worker.send_warnings() == 1
    assert worker.send_warnings() == 0
    with runtime.Session() as session:
        messages = [n.message for n in session.scalars(select(Notification).order_by(Notification.id))]
    assert [m[-11:] for m in messages] == ["12/03/2026.", "16/03/2026."]
