"""The CIP deadline (a BPMN boundary timer counted on the unit's working-day calendar) and
``Runtime.fire_due_timers`` under a frozen clock.

The CIP's default rule is 10 calendar days (Lei 9.784/1999 art. 66: the day of the notice excluded,
the last day included, a last day that is not a working day moved to the next working day), due at
the END of the last day in São Paulo. Holidays used here (São Paulo, 2026): Good Friday on 3 April
and Tiradentes on Tuesday 21 April; none in March.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from engine import clock
from engine.actors import Actor
from engine.errors import TaskNotOpen
from engine.runtime import CaseResult, Runtime
from engine.store.models import AuditEvent, Case, Deadline, OpenTask

PROCESS = "reclamacao"
PRELIM_NAO_RESOLVIDA = {"resultado_preliminar": "nao_resolvida", "contato_descricao": "Sem solução no SAC."}
CIP = {"cip_texto": "Solicitamos resposta em 10 dias.", "cip_email_fornecedor": "sac@lojaexemplo.com.br"}
RESPOSTA = {"resposta_fornecedor": "Vamos trocar.", "proposta_acordo": ""}  # the supplier's answer, no proposal
SP = ZoneInfo("America/Sao_Paulo")


def local(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    """A moment in São Paulo (UTC-3 all year since 2019), in UTC like the engine's clock."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=SP).astimezone(dt.UTC)


def end_of_day(day: dt.date) -> dt.datetime:
    """The end of ``day`` in São Paulo (23:59:59.999999 local = 02:59:59.999999 UTC the next day)."""
    return dt.datetime.combine(day, dt.time.max, tzinfo=SP).astimezone(dt.UTC)


# A CIP sent at the frozen clock's start (Monday 2 March 2026, 10:00 in São Paulo): the 10th day is
# Thursday 12 March, a working day.
CIP_DUE = end_of_day(dt.date(2026, 3, 12))
assert CIP_DUE == dt.datetime(2026, 3, 13, 2, 59, 59, 999999, tzinfo=dt.UTC)


def only_task(result: CaseResult, spec_name: str) -> str:
    assert [t.spec_name for t in result.open_tasks] == [spec_name]
    return result.open_tasks[0].task_id


def send_cip(rt: Runtime, atendente: Actor, complaint: Mapping[str, str]) -> CaseResult:
    """A case waiting for the supplier's answer, its CIP timer started now."""
    result = rt.start_case(PROCESS, atendente, complaint)
    result = rt.complete_task(result.case_id, only_task(result, "atendimento_preliminar"), atendente,
                              PRELIM_NAO_RESOLVIDA)
    result = rt.complete_task(result.case_id, only_task(result, "emitir_cip"), atendente, CIP)
    only_task(result, "registrar_resposta")
    return result


def deadline_of(rt: Runtime, case_id: int) -> Deadline:
    """The case's single legal deadline (the CIP timer); the user tasks' internal SLAs are left out."""
    with rt.Session() as session:
        [deadline] = session.scalars(select(Deadline).where(Deadline.case_id == case_id,
                                                            Deadline.kind == "legal")).all()
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
    assert sent_at == local(2026, 3, 2, 10)
    sent = send_cip(runtime, atendente, complaint)
    due = deadline_of(runtime, sent.case_id).due_at
    assert due == CIP_DUE

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
    assert event.description == "Prazo vencido: Prazo de resposta à CIP"


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
    frozen_clock.set(CIP_DUE + dt.timedelta(minutes=5))
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
    frozen_clock.set(CIP_DUE + dt.timedelta(hours=1))
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
    early = []
    for day in (2, 3, 4):  # Monday to Wednesday, 10:00 in São Paulo
        frozen_clock.set(local(2026, 3, day))
        early.append(send_cip(runtime, atendente, complaint))
    # 10th days: Thursday 12, Friday 13 and Saturday 14 March; the last one moves to Monday 16.
    assert [deadline_of(runtime, sent.case_id).due_at for sent in early] == [
        end_of_day(dt.date(2026, 3, 12)), end_of_day(dt.date(2026, 3, 13)), end_of_day(dt.date(2026, 3, 16))]
    frozen_clock.set(local(2026, 3, 9))
    later = send_cip(runtime, atendente, complaint)  # Monday 9 March: due Thursday 19 March
    assert deadline_of(runtime, later.case_id).due_at == end_of_day(dt.date(2026, 3, 19))

    frozen_clock.set(end_of_day(dt.date(2026, 3, 16)) + dt.timedelta(seconds=1))
    assert runtime.fire_due_timers() == 3
    for sent in early:
        assert deadline_of(runtime, sent.case_id).outcome == "vencido"
        assert open_specs(runtime, sent.case_id) == ["analisar_reclamacao"]
    assert_untouched(runtime, later)

    frozen_clock.set(end_of_day(dt.date(2026, 3, 19)) + dt.timedelta(seconds=1))
    assert runtime.fire_due_timers() == 1
    assert deadline_of(runtime, later.case_id).outcome == "vencido"
    assert runtime.fire_due_timers() == 0


def test_limit_spreads_a_backlog_over_calls(runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor,
                                            complaint: dict[str, str]) -> None:
    cases = [send_cip(runtime, atendente, complaint) for _ in range(3)]
    frozen_clock.set(CIP_DUE + dt.timedelta(seconds=1))
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
    # Tuesday 15 July 2031, 09:30 in São Paulo: the 10th day is Friday 25 July 2031, a working day.
    due = end_of_day(dt.date(2031, 7, 25))
    assert due == dt.datetime(2031, 7, 26, 2, 59, 59, 999999, tzinfo=dt.UTC)
    deadline = deadline_of(runtime, sent.case_id)
    assert deadline.due_at == due
    assert deadline.starts_at == moment
    with runtime.Session() as session:
        row = session.scalars(select(OpenTask).where(OpenTask.case_id == sent.case_id)).one()
    assert row.due_at == due

    # Only the frozen clock decides when it goes off, whatever the machine's time is.
    frozen_clock.set(due - dt.timedelta(microseconds=1))
    assert runtime.fire_due_timers() == 0
    assert_untouched(runtime, sent)
    frozen_clock.set(due + dt.timedelta(microseconds=1))
    assert runtime.fire_due_timers() == 1
    assert deadline_of(runtime, sent.case_id).outcome == "vencido"


# -- the working-day calendar -------------------------------------------------------------------
@pytest.mark.parametrize(("sent_at", "tenth_day", "due_day"), [
    # Sent Tuesday 24 March: the 10th day is Good Friday (3 April), then Saturday and Easter Sunday.
    (local(2026, 3, 24), dt.date(2026, 4, 3), dt.date(2026, 4, 6)),
    # Sent Wednesday 25 March: the 10th day is Saturday 4 April, the day after Good Friday.
    (local(2026, 3, 25), dt.date(2026, 4, 4), dt.date(2026, 4, 6)),
    # Sent Saturday 11 April: the 10th day is Tiradentes, Tuesday 21 April.
    (local(2026, 4, 11), dt.date(2026, 4, 21), dt.date(2026, 4, 22)),
], ids=["decimo-dia-sexta-feira-santa", "decimo-dia-sabado-de-aleluia", "decimo-dia-tiradentes"])
def test_a_last_day_that_is_not_a_working_day_moves_to_the_next_one(
        runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor, complaint: dict[str, str],
        sent_at: dt.datetime, tenth_day: dt.date, due_day: dt.date) -> None:
    assert (tenth_day - sent_at.astimezone(SP).date()).days == 10
    frozen_clock.set(sent_at)
    sent = send_cip(runtime, atendente, complaint)
    due = end_of_day(due_day)
    deadline = deadline_of(runtime, sent.case_id)
    assert (deadline.starts_at, deadline.due_at) == (sent_at, due)
    assert (deadline.legal_kind, deadline.days, deadline.mode) == ("cip", 10, "corridos")
    assert sent.open_tasks[0].due_at == due

    # The clock crosses the holiday and the weekend: the nominal 10th day is over, nothing fires...
    for moment in (end_of_day(tenth_day) + dt.timedelta(seconds=1),
                   local(due_day.year, due_day.month, due_day.day, 0, 0),
                   local(due_day.year, due_day.month, due_day.day, 18, 0),
                   due - dt.timedelta(seconds=1),
                   due):
        frozen_clock.set(moment)
        assert runtime.fire_due_timers() == 0, moment
        assert_untouched(runtime, sent)

    # ...until the end of the next working day has passed.
    frozen_clock.set(due + dt.timedelta(microseconds=1))
    assert runtime.fire_due_timers() == 1
    deadline = deadline_of(runtime, sent.case_id)
    assert (deadline.outcome, deadline.fired_at) == ("vencido", due + dt.timedelta(microseconds=1))
    assert open_specs(runtime, sent.case_id) == ["analisar_reclamacao"]


def test_a_unit_counting_the_cip_in_working_days_skips_tiradentes(
        runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor, complaint: dict[str, str]) -> None:
    basis = "Portaria interna 12/2026 (CIP em dias úteis)"
    with runtime.Session.begin() as session:
        runtime.calendars.set_rule(session, "CAP", "cip", 10, "uteis", basis, "gil")
    # Sent Wednesday 8 April: 9, 10, 13-17, 20, 22 and 23 April (Tiradentes, the 21st, not counted).
    sent_at = local(2026, 4, 8)
    frozen_clock.set(sent_at)
    sent = send_cip(runtime, atendente, complaint)
    due = end_of_day(dt.date(2026, 4, 23))
    deadline = deadline_of(runtime, sent.case_id)
    assert (deadline.due_at, deadline.days, deadline.mode, deadline.legal_basis) == (due, 10, "uteis", basis)

    frozen_clock.set(local(2026, 4, 23, 23, 59))
    assert runtime.fire_due_timers() == 0
    assert_untouched(runtime, sent)
    frozen_clock.set(due + dt.timedelta(seconds=1))
    assert runtime.fire_due_timers() == 1
    assert deadline_of(runtime, sent.case_id).outcome == "vencido"


def test_an_overdue_internal_deadline_is_not_a_timer(runtime: Runtime, frozen_clock: clock.FrozenClock,
                                                     atendente: Actor, complaint: dict[str, str]) -> None:
    """fire_due_timers only fires legal deadlines; an overdue SLA waits for its task to be done."""
    started = runtime.start_case(PROCESS, atendente, complaint)
    task_id = only_task(started, "atendimento_preliminar")
    sla_due = end_of_day(dt.date(2026, 3, 9))  # 5 working days from Monday 2 March
    frozen_clock.set(sla_due + dt.timedelta(days=7))
    assert runtime.fire_due_timers() == 0
    assert case_of(runtime, started.case_id).version == started.version
    assert open_specs(runtime, started.case_id) == ["atendimento_preliminar"]
    with runtime.Session() as session:
        [sla] = session.scalars(select(Deadline).where(Deadline.case_id == started.case_id)).all()
    assert (sla.kind, sla.task_id, sla.due_at) == ("interno", task_id, sla_due)
    assert (sla.fired_at, sla.met_at, sla.outcome) == (None, None, None)
    assert "prazo_vencido" not in actions(runtime, started.case_id)

    done = runtime.complete_task(started.case_id, task_id, atendente, PRELIM_NAO_RESOLVIDA)
    only_task(done, "emitir_cip")
    with runtime.Session() as session:
        sla = session.get(Deadline, sla.id)
        assert sla is not None
    assert (sla.fired_at, sla.met_at, sla.outcome) == (None, frozen_clock(), "cumprido_com_atraso")
