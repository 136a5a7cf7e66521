"""Staff reach the cases of their own unit; state-level roles reach every unit; a case changes units only
by an audited transfer (issue 13, finding 4), and the audit trail keeps a person's identifiers masked
(finding 6).

Unit CAP (the capital) and unit STS (Santos). Every command refuses a case of another unit as *not
found* — the same answer as for a case that does not exist — before it looks at the task.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from sqlalchemy import select

from engine.actors import Actor
from engine.calendar.service import ensure_default_unit
from engine.errors import EngineError, NotFound, PermissionDenied
from engine.runtime import CaseResult, Runtime
from engine.store.models import AuditEvent, Case, Deadline, OpenTask
from tests.engine.test_dashboard_totals import recount, stored
from tests.engine.test_engine_paths import PRELIM_NAO_RESOLVIDA, PROCESS
from webapp.users import create_user

PEOPLE = [("ana", "Ana Atendente", "atendente", "CAP"), ("gil", "Gil Gestor", "gestor", "CAP"),
          ("sara", "Sara Santos", "atendente", "STS"), ("sergio", "Sérgio Gestor de Santos", "gestor", "STS"),
          ("estela", "Estela Gestora Estadual", "gestor_estadual", "STS"), ("adm", "Administradora", "admin", "STS")]
ANA, GIL, SARA, SERGIO, ESTADO, ADMIN = (Actor(login, name, frozenset({role}), unit)
                                         for login, name, role, unit in PEOPLE)
PASSWORD = "uma frase longa para testes"


@pytest.fixture
def units(runtime: Runtime) -> Runtime:
    with runtime.Session.begin() as session:
        ensure_default_unit(session, code="STS", name="Procon Santos", state="SP", municipality="Santos")
        for login, name, role, unit in PEOPLE:
            create_user(session, login, name, [role], PASSWORD, unit=unit)
    return runtime


def first_task(runtime: Runtime, case_id: int) -> OpenTask:
    with runtime.Session() as session:
        task = session.scalars(select(OpenTask).where(OpenTask.case_id == case_id)).first()
        assert task is not None
        session.expunge(task)
        return task


def capital_case(runtime: Runtime, complaint: Mapping[str, str]) -> tuple[CaseResult, OpenTask]:
    result = runtime.start_case(PROCESS, ANA, complaint)
    return result, first_task(runtime, result.case_id)


def test_a_state_manager_is_a_manager_of_every_unit() -> None:
    assert ESTADO.has_role("gestor") and ESTADO.is_state_level and ESTADO.sees_unit("CAP")
    assert ADMIN.sees_unit("CAP") and not SARA.sees_unit("CAP") and SARA.sees_unit("STS")
    assert not Actor("paula", "Paula", frozenset({"analista_processos"}), "CAP").sees_unit("CAP")


def test_staff_of_another_unit_find_no_case_to_claim_complete_release_or_reassign(
        units: Runtime, complaint: dict[str, str]) -> None:
    runtime = units
    result, task = capital_case(runtime, complaint)
    for command in (lambda: runtime.claim(result.case_id, task.task_id, SARA),
                    lambda: runtime.complete_task(result.case_id, task.task_id, SARA, PRELIM_NAO_RESOLVIDA),
                    lambda: runtime.complete_task(result.case_id, "00000000-0000-0000-0000-000000000000", SARA, {}),
                    lambda: runtime.release(result.case_id, task.task_id, SERGIO),
                    lambda: runtime.reassign(result.case_id, task.task_id, "sara", SERGIO, "ajuda")):
        with pytest.raises(NotFound, match="Caso não encontrado"):
            command()
    runtime.claim(result.case_id, task.task_id, ANA)
    with pytest.raises(NotFound):
        runtime.release(result.case_id, task.task_id, SERGIO)  # a manager, but of another unit
    # the capital's manager may not hand the task to someone of Santos: that is a transfer
    with pytest.raises(PermissionDenied, match="unidade STS"):
        runtime.reassign(result.case_id, task.task_id, "sara", GIL, "ajuda")
    runtime.release(result.case_id, task.task_id, ESTADO)  # a state manager reaches every unit
    runtime.claim(result.case_id, task.task_id, ADMIN)
    with runtime.Session() as session:
        assert session.scalars(select(OpenTask.assignee).where(OpenTask.task_id == task.task_id)).one() == "adm"
        actions = [e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.case_id == result.case_id))]
    assert actions.count("tarefa_assumida") == 2 and actions.count("tarefa_liberada") == 1


def test_a_case_is_opened_only_in_ones_own_unit(units: Runtime, complaint: dict[str, str]) -> None:
    with pytest.raises(PermissionDenied, match="sua unidade"):
        units.start_case(PROCESS, ANA, complaint, unit="STS")
    assert units.start_case(PROCESS, ADMIN, complaint, unit="CAP").protocol.startswith("CAP-")


def test_a_transfer_moves_the_case_its_deadlines_and_its_queue_and_is_audited(
        units: Runtime, complaint: dict[str, str]) -> None:
    runtime = units
    result, task = capital_case(runtime, complaint)
    runtime.claim(result.case_id, task.task_id, ANA)
    with pytest.raises(NotFound):
        runtime.transfer(result.case_id, "CAP", SERGIO, "não é dele")  # Santos does not see the capital's case
    with pytest.raises(PermissionDenied, match="gestor"):
        runtime.transfer(result.case_id, "STS", ANA, "a consumidora mora em Santos")
    with pytest.raises(EngineError, match="motivo"):
        runtime.transfer(result.case_id, "STS", GIL, "  ")
    with pytest.raises(NotFound, match="Unidade desconhecida"):
        runtime.transfer(result.case_id, "XYZ", GIL, "a consumidora mora em Santos")
    with pytest.raises(EngineError, match="já está na unidade CAP"):
        runtime.transfer(result.case_id, "CAP", GIL, "a consumidora mora em Santos")
    runtime.transfer(result.case_id, "STS", GIL, "a consumidora mora em Santos")

    with runtime.Session() as session:
        case = session.get(Case, result.case_id)
        assert case is not None and case.unit == "STS" and case.version == result.version + 1
        assert case.protocol == result.protocol  # the protocol names the case for life
        running = session.scalars(select(Deadline).where(Deadline.case_id == case.id, Deadline.outcome.is_(None)))
        assert {d.unit for d in running} == {"STS"}
        assert session.scalars(select(OpenTask.assignee).where(OpenTask.task_id == task.task_id)).one() is None
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id,
                                                           AuditEvent.action == "caso_transferido"))
    assert event.actor == "gil"
    assert event.description == "Caso transferido da unidade CAP para STS: a consumidora mora em Santos"
    assert event.details["de"] == "CAP" and event.details["para"] == "STS"
    assert event.details["tarefas_devolvidas"] == [{"tarefa": task.title, "com": "ana"}]
    assert stored(runtime) == recount(runtime)  # the Painel's numbers follow the case to its new unit

    # now the case is Santos's: the capital's attendant no longer finds it, Santos's works it
    with pytest.raises(NotFound):
        runtime.claim(result.case_id, task.task_id, ANA)
    runtime.claim(result.case_id, task.task_id, SARA)
    after = runtime.complete_task(result.case_id, task.task_id, SARA, PRELIM_NAO_RESOLVIDA)
    assert after.version == result.version + 2  # the cached workflow of the old version was not reused
    with runtime.Session() as session:
        new = session.scalars(select(Deadline).where(Deadline.case_id == result.case_id,
                                                     Deadline.outcome.is_(None))).all()
        assert new and {d.unit for d in new} == {"STS"}
    assert stored(runtime) == recount(runtime)


def test_a_closed_case_stays_where_it_was_decided(units: Runtime, complaint: dict[str, str]) -> None:
    from tests.engine.test_engine_paths import PRELIM_RESOLVIDA

    result, task = capital_case(units, complaint)
    closed = units.complete_task(result.case_id, task.task_id, ANA, PRELIM_RESOLVIDA)
    assert closed.status == "encerrado"
    with pytest.raises(EngineError, match="encerrado"):
        units.transfer(result.case_id, "STS", ESTADO, "revisão")


def test_the_audit_trail_keeps_cpf_email_and_phone_masked(units: Runtime, complaint: dict[str, str]) -> None:
    result, _task = capital_case(units, complaint)
    with units.Session() as session:
        [registered] = session.scalars(select(AuditEvent).where(AuditEvent.case_id == result.case_id,
                                                                AuditEvent.action == "tarefa_concluida"))
        case = session.get(Case, result.case_id)
        assert case is not None
        data = case.data
    said = registered.details["dados"]
    assert said["consumidor_cpf"] == "***.982.247-**"
    assert said["consumidor_email"] == "j***@example.com"
    assert said["consumidor_telefone"] == "(**) *****-4321"
    assert said["consumidor_nome"] == "João da Silva" and said["fatos"] == complaint["fatos"]  # the act itself
    assert "529.982.247-25" not in str(registered.details) and "joao@example.com" not in str(registered.details)
    # the case data (read under access control, and logged) keeps the full values
    assert data["consumidor_cpf"] == "529.982.247-25" and data["consumidor_email"] == "joao@example.com"
