"""engine.store.audit_chain: every case's audit events form a hash chain that names what was altered,
removed or inserted behind the application's back.

The tampering is done as an intruder with database access would: plain SQL on the tables, never
through the engine. Runs on SQLite by default and on PostgreSQL when ``DATABASE_URL`` is set.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from engine import clock
from engine.actors import Actor
from engine.modeling.versioning import ProcessCatalog
from engine.runtime import CaseResult, EngineConfig, Runtime
from engine.store import audit_chain
from engine.store.audit_chain import HEADS, SEALS, CaseCheck, event_hash
from engine.store.models import AuditEvent
from engine.worker.scheduler import DeadlineWorker, WorkerConfig
from tasks.registry import default_registry
from tests.support.paths import REPO_ROOT

AUDIT = AuditEvent.__table__
SP = ZoneInfo("America/Sao_Paulo")
PRELIM = {"resultado_preliminar": "nao_resolvida", "contato_descricao": "Liguei para o SAC, sem solução."}
CIP = {"cip_texto": "Solicitamos manifestação em 10 dias.", "cip_email_fornecedor": "sac@loja.example"}
GESTOR = Actor("gil", "Gil Gestor", frozenset({"gestor"}))


def sp(day: int, hour: int = 10, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, second, tzinfo=SP).astimezone(dt.UTC)


def only_task(result: CaseResult, spec_name: str) -> str:
    assert [t.spec_name for t in result.open_tasks] == [spec_name]
    return result.open_tasks[0].task_id


def checks(rt: Runtime, case_id: int | None = None) -> list[CaseCheck]:
    with rt.db.connect() as conn:
        return audit_chain.verify(conn, case_id)


def problems(rt: Runtime, case_id: int) -> list[str]:
    [check] = checks(rt, case_id)
    return [p.describe() for p in check.problems]


def events(rt: Runtime, case_id: int) -> list[Any]:
    with rt.db.connect() as conn:
        return list(conn.execute(select(AUDIT).where(AUDIT.c.case_id == case_id).order_by(AUDIT.c.id)))


def label(event: Any) -> str:
    return f"evento {event.id} ({event.at.astimezone(SP).strftime('%d/%m/%Y %H:%M')}, {event.action})"


def tamper(rt: Runtime, *statements: Any) -> None:
    """Run statements straight on the database, as someone with its password would."""
    with rt.db.begin() as conn:
        for statement in statements:
            conn.execute(statement)


@pytest.fixture
def case(runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor, complaint: dict[str, str]) -> int:
    """A complaint with a history of several events over two days: started, claimed, released, done."""
    started = runtime.start_case("reclamacao", atendente, complaint)
    task_id = only_task(started, "atendimento_preliminar")
    frozen_clock.advance(dt.timedelta(hours=1))
    runtime.claim(started.case_id, task_id, atendente)
    frozen_clock.advance(dt.timedelta(hours=1))
    runtime.release(started.case_id, task_id, atendente)
    frozen_clock.advance(dt.timedelta(days=1))
    runtime.complete_task(started.case_id, task_id, atendente, PRELIM)
    assert len(events(runtime, started.case_id)) >= 5
    return started.case_id


# ------------------------------------------------------------------ what the engine writes verifies


def test_every_command_and_the_worker_seal_what_they_write(
        runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor, complaint: dict[str, str]) -> None:
    overdue = runtime.start_case("reclamacao", atendente, complaint)  # its preliminary SLA will be escalated
    runtime.claim(overdue.case_id, only_task(overdue, "atendimento_preliminar"), atendente)
    runtime.reassign(overdue.case_id, only_task(overdue, "atendimento_preliminar"), None, GESTOR, "férias")
    cip = runtime.start_case("reclamacao", atendente, complaint)  # its CIP deadline is warned, then fires
    cip = runtime.complete_task(cip.case_id, only_task(cip, "atendimento_preliminar"), atendente, PRELIM)
    cip = runtime.complete_task(cip.case_id, only_task(cip, "emitir_cip"), atendente, CIP)
    worker = DeadlineWorker(runtime, WorkerConfig(warn_business_days=2), holder="cadeia")
    frozen_clock.set(sp(10, 0, 0, 1))
    worker.run_once()
    frozen_clock.set(sp(13, 0, 1))
    worker.run_once()

    written = {c: [e.action for e in events(runtime, c)] for c in (overdue.case_id, cip.case_id)}
    assert {"tarefa_assumida", "tarefa_redistribuida", "escalonado"} <= set(written[overdue.case_id])
    assert {"aviso_prazo", "prazo_vencido"} <= set(written[cip.case_id])
    verdicts = checks(runtime)
    assert [(v.case_id, v.ok, v.events) for v in verdicts] == [
        (overdue.case_id, True, len(written[overdue.case_id])), (cip.case_id, True, len(written[cip.case_id]))]
    with runtime.db.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(SEALS)) == conn.scalar(
            select(func.count()).select_from(AUDIT))
        head = conn.execute(select(HEADS).where(HEADS.c.case_id == cip.case_id)).one()
        last = events(runtime, cip.case_id)[-1]
        assert (head.events, head.last_event_id) == (len(written[cip.case_id]), last.id)


def test_a_migrated_case_keeps_a_chain_that_verifies(runtime: Runtime, atendente: Actor,
                                                     complaint: dict[str, str]) -> None:
    started = runtime.start_case("reclamacao", atendente, complaint)
    catalog, modeler = ProcessCatalog(runtime), Actor("paula", "Paula Processos", frozenset({"analista_processos"}))
    source = (REPO_ROOT / "workflows" / "reclamacao.bpmn").read_text(encoding="utf-8")
    renamed = source.replace('name="Analisar reclamação"', 'name="Analisar reclamação (revisada)"')
    catalog.deploy_draft(catalog.save_draft("reclamacao", renamed, modeler).id, modeler)
    report = catalog.migrate_cases("reclamacao", 1, 2, modeler)
    assert [c.case_id for c in report.moved] == [started.case_id]
    assert events(runtime, started.case_id)[-1].action == "migrado_versao"
    assert problems(runtime, started.case_id) == []


def test_the_hash_covers_every_column_and_the_previous_hash(runtime: Runtime, case: int) -> None:
    first, second = events(runtime, case)[:2]
    with runtime.db.connect() as conn:
        seal = conn.execute(select(SEALS).where(SEALS.c.event_id == second.id)).one()
    assert seal.prev_hash == event_hash(first._mapping, audit_chain.GENESIS)
    assert seal.hash == event_hash(second._mapping, seal.prev_hash)
    for column, value in (("actor", "outra"), ("description", "x"), ("details", {"a": 1}), ("task_id", "t"),
                          ("at", second.at + dt.timedelta(microseconds=1)), ("case_id", second.case_id + 1)):
        assert event_hash({**second._mapping, column: value}, seal.prev_hash) != seal.hash, column
    assert event_hash(second._mapping, "f" * 64) != seal.hash
    reordered = {**second._mapping, "details": dict(reversed(list((second.details or {}).items())))}
    assert event_hash(reordered, seal.prev_hash) == seal.hash  # details are hashed with sorted keys


def test_two_writers_at_once_never_fork_a_chain(database_url: str, runtime: Runtime, case: int) -> None:
    others = [Runtime(EngineConfig(services=default_registry(), database_url=database_url)) for _ in range(4)]
    barrier = threading.Barrier(len(others))
    failures: list[BaseException] = []

    def write(rt: Runtime, n: int) -> None:
        try:
            barrier.wait()
            for i in range(5):
                with rt.db.begin() as conn:
                    audit_chain.append(conn, [{"case_id": case, "actor": f"w{n}", "action": "nota",
                                               "description": f"{n}.{i}"}])
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=write, args=(rt, n)) for n, rt in enumerate(others)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for rt in others:
        rt.db.dispose()
    assert failures == []
    [verdict] = checks(runtime, case)
    assert verdict.ok and verdict.events == len(events(runtime, case))
    with runtime.db.connect() as conn:
        positions = list(conn.scalars(select(SEALS.c.position).where(SEALS.c.case_id == case)
                                      .order_by(SEALS.c.position)))
    assert positions == list(range(1, len(positions) + 1))


def test_a_second_seal_at_the_same_position_is_refused(runtime: Runtime, case: int) -> None:
    last = events(runtime, case)[-1]
    with runtime.db.connect() as conn:
        seal = conn.execute(select(SEALS).where(SEALS.c.event_id == last.id)).one()
    with pytest.raises(IntegrityError):
        with runtime.db.begin() as conn:
            event_id = conn.execute(insert(AUDIT).values(case_id=case, at=clock.now(), actor="x", action="nota",
                                                         description="", details={})).inserted_primary_key[0]
            conn.execute(insert(SEALS).values(event_id=event_id, case_id=case, position=seal.position,
                                              prev_event_id=seal.prev_event_id, prev_hash=seal.prev_hash, hash="0"))


# ------------------------------------------------------------------ tampering is named


@pytest.mark.parametrize("change", [
    {"description": "Tarefa concluída por outra pessoa"},
    {"actor": "intruso"},
    {"details": {"actor_name": "Intruso"}},
    {"action": "tarefa_liberada"},
])
def test_an_altered_row_is_named_with_its_time_and_action(runtime: Runtime, case: int,
                                                          change: Mapping[str, Any]) -> None:
    target = events(runtime, case)[2]
    tamper(runtime, update(AUDIT).where(AUDIT.c.id == target.id).values(**change))
    changed = events(runtime, case)[2]
    assert problems(runtime, case) == [f"{label(changed)} alterado"]
    assert not checks(runtime, case)[0].ok


def test_an_altered_time_is_named_with_the_time_it_now_shows(runtime: Runtime, case: int) -> None:
    target = events(runtime, case)[1]
    earlier = target.at - dt.timedelta(days=3)
    tamper(runtime, update(AUDIT).where(AUDIT.c.id == target.id).values(at=earlier))
    assert problems(runtime, case) == [f"evento {target.id} ({earlier.astimezone(SP):%d/%m/%Y %H:%M}, "
                                       f"{target.action}) alterado"]


def test_a_removed_row_is_named_with_the_event_before_it(runtime: Runtime, case: int) -> None:
    history = events(runtime, case)
    gone, before = history[2], history[1]
    tamper(runtime, delete(SEALS).where(SEALS.c.event_id == gone.id), delete(AUDIT).where(AUDIT.c.id == gone.id))
    assert problems(runtime, case) == [f"evento {gone.id} removido (depois do {label(before)})"]


def test_removed_rows_are_counted_even_when_the_positions_are_renumbered(runtime: Runtime, case: int) -> None:
    history = events(runtime, case)
    gone = [e.id for e in history[1:3]]
    tamper(runtime, delete(SEALS).where(SEALS.c.event_id.in_(gone)), delete(AUDIT).where(AUDIT.c.id.in_(gone)))
    assert problems(runtime, case) == [f"evento {gone[-1]} removido, com mais 1 antes dele "
                                       f"(depois do {label(history[0])})"]
    # An intruder who also closes the gap in the positions and the head's count is still seen.
    tamper(runtime, update(SEALS).where(SEALS.c.case_id == case, SEALS.c.event_id > gone[-1])
           .values(position=SEALS.c.position - 2),
           update(HEADS).where(HEADS.c.case_id == case).values(events=HEADS.c.events - 2))
    assert problems(runtime, case) == [f"evento {gone[-1]} removido (depois do {label(history[0])})"]


def test_a_removed_last_row_is_named(runtime: Runtime, case: int) -> None:
    *kept, last = events(runtime, case)
    tamper(runtime, delete(SEALS).where(SEALS.c.event_id == last.id), delete(AUDIT).where(AUDIT.c.id == last.id))
    assert problems(runtime, case) == [f"evento {last.id} removido (era o último do histórico; "
                                       f"depois do {label(kept[-1])})"]


def test_a_removed_end_of_chain_is_named(runtime: Runtime, case: int) -> None:
    last = events(runtime, case)[-1]
    tamper(runtime, delete(HEADS).where(HEADS.c.case_id == case))
    assert problems(runtime, case) == [f"evento removido (o registro do fim da cadeia foi apagado; "
                                       f"depois do {label(last)})"]


def test_an_inserted_row_is_named_and_never_sealed_by_later_commands(
        runtime: Runtime, case: int, frozen_clock: clock.FrozenClock, atendente: Actor) -> None:
    back_then = events(runtime, case)[1].at + dt.timedelta(minutes=5)
    tamper(runtime, insert(AUDIT).values(case_id=case, at=back_then, actor="ana", action="tarefa_concluida",
                                         task_spec="analisar_reclamacao", description="Parecer favorável",
                                         details={}))
    forged = events(runtime, case)[-1]
    expected = [f"{label(forged)} inserido (sem selo na cadeia)"]
    assert problems(runtime, case) == expected
    # Work goes on: the next commands' events are sealed, the forged one stays named.
    [cip_task] = [t for t in checks_open_tasks(runtime, case)]
    frozen_clock.advance(dt.timedelta(hours=2))
    runtime.claim(case, cip_task, atendente)
    assert problems(runtime, case) == expected
    assert events(runtime, case)[-1].action == "tarefa_assumida"


def checks_open_tasks(rt: Runtime, case_id: int) -> list[str]:
    with rt.db.connect() as conn:
        return list(conn.scalars(text("SELECT task_id FROM open_tasks WHERE case_id = :c"), {"c": case_id}))


def test_a_row_sealed_past_the_end_of_the_chain_is_named(runtime: Runtime, case: int) -> None:
    last = events(runtime, case)[-1]
    with runtime.db.connect() as conn:
        head = conn.execute(select(HEADS).where(HEADS.c.case_id == case)).one()
    with runtime.db.begin() as conn:  # an intruder who knows how seals are made, but not about the head
        event_id = conn.execute(insert(AUDIT).values(case_id=case, at=last.at, actor="ana", action="nota",
                                                     description="forjado", details={})).inserted_primary_key[0]
        forged = conn.execute(select(AUDIT).where(AUDIT.c.id == event_id)).one()
        conn.execute(insert(SEALS).values(event_id=event_id, case_id=case, position=head.events + 1,
                                          prev_event_id=last.id, prev_hash=head.last_hash,
                                          hash=event_hash(forged._mapping, head.last_hash)))
    assert problems(runtime, case) == [f"{label(forged)} inserido (selado depois do fim registrado da cadeia)"]


def test_a_rewritten_seal_is_caught_by_the_next_one(runtime: Runtime, case: int) -> None:
    target = events(runtime, case)[1]
    with runtime.db.begin() as conn:  # alter the event and recompute its own seal, as a careful intruder would
        conn.execute(update(AUDIT).where(AUDIT.c.id == target.id).values(description="reescrito"))
        changed = conn.execute(select(AUDIT).where(AUDIT.c.id == target.id)).one()
        seal = conn.execute(select(SEALS).where(SEALS.c.event_id == target.id)).one()
        conn.execute(update(SEALS).where(SEALS.c.event_id == target.id)
                     .values(hash=event_hash(changed._mapping, seal.prev_hash)))
    assert problems(runtime, case) == [f"{label(changed)} alterado (o selo seguinte não o confirma)"]


def test_a_rewritten_last_seal_is_caught_by_the_head(runtime: Runtime, case: int) -> None:
    last = events(runtime, case)[-1]
    with runtime.db.begin() as conn:
        conn.execute(update(AUDIT).where(AUDIT.c.id == last.id).values(actor="intruso"))
        changed = conn.execute(select(AUDIT).where(AUDIT.c.id == last.id)).one()
        seal = conn.execute(select(SEALS).where(SEALS.c.event_id == last.id)).one()
        conn.execute(update(SEALS).where(SEALS.c.event_id == last.id)
                     .values(hash=event_hash(changed._mapping, seal.prev_hash)))
    assert problems(runtime, case) == [f"{label(changed)} alterado (o fim registrado da cadeia não o confirma)"]


def test_an_event_moved_to_another_case_is_removed_from_one_and_inserted_in_the_other(
        runtime: Runtime, case: int, atendente: Actor, complaint: dict[str, str]) -> None:
    other = runtime.start_case("reclamacao", atendente, complaint).case_id
    history = events(runtime, case)
    moved = history[3]
    tamper(runtime, update(AUDIT).where(AUDIT.c.id == moved.id).values(case_id=other))
    assert problems(runtime, case) == [f"evento {moved.id} removido (depois do {label(history[2])})"]
    assert problems(runtime, other) == [f"{label(moved)} inserido (sem selo na cadeia)"]


# ------------------------------------------------------------------ an older database


def test_init_db_seals_the_history_of_an_older_database_once(runtime: Runtime, case: int) -> None:
    with runtime.db.begin() as conn:  # a database from before the chain: no seals, no heads
        conn.execute(text("DROP TABLE audit_seals"))
        conn.execute(text("DROP TABLE audit_heads"))
    runtime.init_db()
    [verdict] = checks(runtime, case)
    assert verdict.ok and verdict.events == len(events(runtime, case))

    target = events(runtime, case)[0]
    tamper(runtime, update(AUDIT).where(AUDIT.c.id == target.id).values(description="depois"))
    runtime.init_db()  # once: a later init-db does not seal the history again
    assert problems(runtime, case) == [f"{label(events(runtime, case)[0])} alterado"]


def test_a_case_with_no_events_verifies_empty(runtime: Runtime) -> None:
    assert checks(runtime) == []
    with runtime.db.connect() as conn:
        assert audit_chain.verify_case(conn, 999).ok


# ------------------------------------------------------------------ nothing writes around the chain

#: Inserting, updating or deleting audit events anywhere but through the chain (an update would break it).
WRITE_AROUND = re.compile(r"(insert|update|delete)\(\s*(AUDIT|AuditEvent)\b|(?<!class )AuditEvent\(")
#: The dashboard benchmark bulk-loads a synthetic history into its own scratch database, unsealed on purpose.
BULK_SYNTHETIC = {"webapp/bench/dashboard.py"}


def test_no_module_writes_audit_events_around_the_chain() -> None:
    offenders = []
    for package in ("engine", "webapp", "tasks"):
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            name = path.relative_to(REPO_ROOT).as_posix()
            if name == "engine/store/audit_chain.py" or name in BULK_SYNTHETIC:
                continue
            if WRITE_AROUND.search(path.read_text(encoding="utf-8")):
                offenders.append(name)
    assert offenders == [], "escrevem audit_events sem audit_chain.append: " + ", ".join(offenders)
