"""The CIP deadline (a 10-day BPMN boundary timer) and ``Runtime.fire_due_timers`` under a frozen clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pytest
from sqlalchemy import select

from engine import clock
from engine.actors import Actor
from engine.errors import TaskNotOpen
from engine.models import AuditEvent, Case, Deadline, OpenTask
from engine.runtime import CaseResult, Runtime

PROCESS = "reclamacao"
PRELIM_NAO_RESOLVIDA = {"resultado_preliminar": "nao_resolvida", "contato_descricao": "Sem solução no SAC."}
CIP = {"cip_texto": "Solicitamos resposta em 10 dias.", "cip_email_fornecedor": "sac@lojaexemplo.com.br"}
RESPOSTA = {"resposta_fornecedor": "Vamos trocar.", "data_resposta": "2026-03-05", "consumidor_aceitou": "sim"}
TEN_DAYS = dt.timedelta(days=10)


def only_task(result: CaseResult, spec_name: str) -> str:
    assert [t.spec_name for t in result.open_tasks] == [spec_name]
    return result.open_tasks[0].task_id


def send_cip(rt: Runtime, atendente: Actor, complaint: Mapping[str, str]) -> CaseResult:
    """A case waiting for the supplier's answer, its 10-day timer started now."""
    result = rt.start_case(PROCESS, atendente, complaint)
    result = rt.complete_task(result.case_id, only_task(result, "atendimento_preliminar"), atendente,
                              PRELIM_NAO_RESOLVIDA)
    result = rt.complete_task(result.case_id, only_task(result, "emitir_cip"), atendente, CIP)
    only_task(result, "registrar_resposta")
    return result


def deadline_of(rt: Runtime, case_id: int) -> Deadline:
    with rt.Session() as session:
        [deadline] = session.scalars(select(Deadline).where(Deadline.case_id == case_id)).all()
        return deadline


def case_of(rt: Runtime, case_id: int) -> Case:
    with rt.Session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case


def actions(rt: Runtime, case_id: int) -> list[str]:
    with rt.Session() as session:
        return list(session.scalars(select(AuditEvent.action).where(AuditEvent.case_id == case_id)
                                    .order_by(AuditEvent.id)))


def open_specs(rt: Runtime, case_id: int) -> list[str]:
    with rt.Session() as session:
        return list(session.scalars(select(OpenTask.spec_name).where(OpenTask.case_id == case_id)))


def assert_untouched(rt: Runtime, sent: CaseResult) -> None:
    case = case_of(rt, sent.case_id)
    assert case.version == sent.version
    assert open_specs(rt, sent.case_id) == ["registrar_resposta"]
    deadline = deadline_of(rt, sent.case_id)
    assert (deadline.fired_at, deadline.met_at, deadline.outcome) == (None, None, None)
    assert "prazo_vencido" not in actions(rt, sent.case_id)


def test_not_fired_one_second_before_fired_right_after(runtime: Runtime, frozen_clock: clock.FrozenClock,
                                                       atendente: Actor, complaint: dict[str, str]) -> None:
    sent_at = frozen_clock()
    sent = send_cip(runtime, atendente, complaint)
    due = deadline_of(runtime, sent.case_id).due_at
    assert due == sent_at + TEN_DAYS

    frozen_clock.set(due - dt.timedelta(seconds=1))
    assert runtime.fire_due_timers() == 0
    assert_untouched(runtime, sent)

    fired_at = frozen_clock.advance(dt.timedelta(seconds=1, milliseconds=1))
    assert runtime.fire_due_timers() == 1
    deadline = deadline_of(runtime, sent.case_id)
    assert deadline.fired_at == fired_at
    assert deadline.outcome == "vencido"
    assert deadline.met_at is None
    assert open_specs(runtime, sent.case_id) == ["analisar_reclamacao"]
    with runtime.Session() as session:
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.case_id == sent.case_id,
                                                           AuditEvent.action == "prazo_vencido")).all()
    assert (event.actor, event.task_spec, event.task_id) == ("sistema", "prazo_cip", deadline.task_id)
    assert event.at == fired_at
    assert event.details == {"due_at": due.isoformat()}
    assert event.description == "Prazo vencido: Prazo da CIP (10 dias)"


def test_at_exactly_the_due_time_nothing_is_written(runtime: Runtime, frozen_clock: clock.FrozenClock,
                                                    atendente: Actor, complaint: dict[str, str]) -> None:
    """SpiffWorkflow fires a timer strictly after its time; the worker must neither fire nor
    rewrite the case at that exact instant (a rewrite would bump the version under a person's feet)."""
    sent = send_cip(runtime, atendente, complaint)
    frozen_clock.set(deadline_of(runtime, sent.case_id).due_at)
    assert runtime.fire_due_timers() == 0
    assert_untouched(runtime, sent)
    frozen_clock.advance(dt.timedelta(microseconds=1))
    assert runtime.fire_due_timers() == 1
    assert deadline_of(runtime, sent.case_id).outcome == "vencido"


def test_timer_fires_once_only(runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor,
                               complaint: dict[str, str]) -> None:
    sent = send_cip(runtime, atendente, complaint)
    frozen_clock.advance(TEN_DAYS + dt.timedelta(minutes=5))
    assert runtime.fire_due_timers() == 1
    after_first = case_of(runtime, sent.case_id)
    first_deadline = deadline_of(runtime, sent.case_id)

    frozen_clock.advance(dt.timedelta(days=3))
    assert runtime.fire_due_timers() == 0
    assert runtime.fire_due_timers() == 0
    assert case_of(runtime, sent.case_id).version == after_first.version
    assert actions(runtime, sent.case_id).count("prazo_vencido") == 1
    assert actions(runtime, sent.case_id).count("etapas_automaticas") == 1
    deadline = deadline_of(runtime, sent.case_id)
    assert (deadline.fired_at, deadline.outcome) == (first_deadline.fired_at, "vencido")
    assert open_specs(runtime, sent.case_id) == ["analisar_reclamacao"]


def test_the_expired_answer_task_can_no_longer_be_completed(runtime: Runtime, frozen_clock: clock.FrozenClock,
                                                            atendente: Actor, complaint: dict[str, str]) -> None:
    sent = send_cip(runtime, atendente, complaint)
    answer = only_task(sent, "registrar_resposta")
    runtime.claim(sent.case_id, answer, atendente)  # someone had it in their list
    frozen_clock.advance(TEN_DAYS + dt.timedelta(hours=1))
    assert runtime.fire_due_timers() == 1
    version = case_of(runtime, sent.case_id).version

    with pytest.raises(TaskNotOpen):
        runtime.complete_task(sent.case_id, answer, atendente, RESPOSTA)
    case = case_of(runtime, sent.case_id)
    assert case.version == version
    assert case.data["resposta_fornecedor"] == "Fornecedor não respondeu à CIP no prazo."
    assert "registrar_resposta" not in open_specs(runtime, sent.case_id)


def test_timers_of_several_cases_fire_in_one_call(runtime: Runtime, frozen_clock: clock.FrozenClock,
                                                  atendente: Actor, complaint: dict[str, str]) -> None:
    early = [send_cip(runtime, atendente, complaint)]
    frozen_clock.advance(dt.timedelta(days=1))
    early.append(send_cip(runtime, atendente, complaint))
    frozen_clock.advance(dt.timedelta(days=1))
    early.append(send_cip(runtime, atendente, complaint))
    frozen_clock.advance(dt.timedelta(days=3))
    later = send_cip(runtime, atendente, complaint)  # due 3 days after the others' last one

    frozen_clock.advance(TEN_DAYS - dt.timedelta(days=3) + dt.timedelta(seconds=1))
    assert runtime.fire_due_timers() == 3
    for sent in early:
        assert deadline_of(runtime, sent.case_id).outcome == "vencido"
        assert open_specs(runtime, sent.case_id) == ["analisar_reclamacao"]
    assert_untouched(runtime, later)

    frozen_clock.advance(dt.timedelta(days=3))
    assert runtime.fire_due_timers() == 1
    assert deadline_of(runtime, later.case_id).outcome == "vencido"
    assert runtime.fire_due_timers() == 0


def test_limit_spreads_a_backlog_over_calls(runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor,
                                            complaint: dict[str, str]) -> None:
    cases = [send_cip(runtime, atendente, complaint) for _ in range(3)]
    frozen_clock.advance(TEN_DAYS + dt.timedelta(seconds=1))
    assert runtime.fire_due_timers(limit=2) == 2
    assert runtime.fire_due_timers(limit=2) == 1
    assert runtime.fire_due_timers(limit=2) == 0
    assert [deadline_of(runtime, c.case_id).outcome for c in cases] == ["vencido"] * 3


def test_the_engine_clock_drives_spiffworkflow_timers(runtime: Runtime, frozen_clock: clock.FrozenClock,
                                                      atendente: Actor, complaint: dict[str, str]) -> None:
    """Far from the machine's time, the due time is still computed from the frozen clock."""
    from SpiffWorkflow.bpmn.specs.event_definitions import timer

    moment = dt.datetime(2031, 7, 15, 12, 30, 15, 250000, tzinfo=dt.UTC)
    frozen_clock.set(moment)
    assert timer.datetime.now(dt.UTC) == moment  # what SpiffWorkflow's timer module sees
    machine = dt.datetime.now(dt.UTC)
    assert abs(machine - moment) > dt.timedelta(days=30)

    sent = send_cip(runtime, atendente, complaint)
    assert sent.protocol.startswith("CAP-2031-")
    deadline = deadline_of(runtime, sent.case_id)
    assert deadline.due_at == moment + TEN_DAYS
    assert deadline.starts_at == moment
    with runtime.Session() as session:
        row = session.scalars(select(OpenTask).where(OpenTask.case_id == sent.case_id)).one()
    assert row.due_at == moment + TEN_DAYS

    # Only the frozen clock decides when it goes off, whatever the machine's time is.
    frozen_clock.set(moment + TEN_DAYS - dt.timedelta(microseconds=1))
    assert runtime.fire_due_timers() == 0
    assert_untouched(runtime, sent)
    frozen_clock.set(moment + TEN_DAYS + dt.timedelta(microseconds=1))
    assert runtime.fire_due_timers() == 1
    assert deadline_of(runtime, sent.case_id).outcome == "vencido"
