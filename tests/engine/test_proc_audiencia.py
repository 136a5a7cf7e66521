"""The conciliation hearing (``audiencia``) through the engine alone: scheduling, the parties' notices
(an e-mail to the consumer, the ``notificacao`` procedure for the supplier), then the consumer's
confirmation of attendance (whose wait ends at the hearing's time), rescheduling, every outcome of the
hearing, the termo and the follow-up of an agreement (the consumer says whether it was kept; silent, the
atendente checks).

Started directly (``start_case`` with the scheduling form) for the paths, and through a call activity
with the complaint's data for what a caller hands over and gets back. Runs on SQLite by default and on
PostgreSQL when ``DATABASE_URL`` is set.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import pytest
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

import engine.runtime.cycle as runtime_module
from engine import clock
from engine.actors import Actor
from engine.errors import PermissionDenied
from engine.runtime import CaseResult, Runtime
from engine.store.models import AuditEvent, Case, Deadline, ExternalJob, OpenTask
from tasks import registry
from tasks.context import TaskContext, TaskSettings
from tasks.documents import build_model

PROCESS = "audiencia"
CALLER = "teste_chama_audiencia"
SP = ZoneInfo("America/Sao_Paulo")

AGENDAMENTO = {"audiencia_data": "20/03/2026", "audiencia_horario": "14:30", "audiencia_modalidade": "videoconferencia",
               "audiencia_local": "https://video.procon.example/sala-7",
               "audiencia_observacoes": "Tragam a nota fiscal e o contrato."}
REDESIGNACAO = {"redesignacao_solicitante": "fornecedor", "redesignacao_motivo": "Preposto em outra audiência.",
                "audiencia_data": "10/04/2026", "audiencia_horario": "10:00", "audiencia_modalidade": "presencial",
                "audiencia_local": "Sala 2, Rua Exemplo, 100", "audiencia_observacoes": ""}
ACORDO = {"acordo_obrigacoes": "A loja devolverá R$ 1.299,90 ao consumidor.", "acordo_prazo_dias": "10",
          "acordo_valor": "1.299,90"}
#: The complaint's data a caller hands over.
PARTES = {"consumidor_nome": "João da Silva", "consumidor_cpf": "529.982.247-25",
          "consumidor_email": "joao@example.com", "fornecedor_nome": "Loja Exemplo Ltda",
          "fornecedor_cnpj": "12.ABC.345/01DE-35", "fornecedor_email": "sac@lojaexemplo.com.br"}
SENT = {"email_enviado_em": "2026-03-02T10:00:05-03:00", "email_message_id": "<1@procon>"}
OUTPUTS = {"audiencia_resultado", "consumidor_ausente", "fornecedor_ausente", "fornecedor_ciencia_em",
           "audiencia_redesignacoes", "audiencia_data", "audiencia_horario", "audiencia_local", "audiencia_relato",
           "acordo_obrigacoes", "prazo_cumprimento", "acordo_cumprimento", "documento_termo_audiencia",
           "audiencia_presenca", "audiencia_presenca_motivo"}
CONFIRMA = {"audiencia_presenca": "confirmada", "audiencia_presenca_motivo": ""}


def local(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=SP).astimezone(dt.UTC)


def end_of_day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.max, tzinfo=SP).astimezone(dt.UTC)


def registro(ocorrencia: str) -> dict[str, str]:
    return {"audiencia_ocorrencia": ocorrencia, "audiencia_presentes": "João da Silva; Maria Souza, preposta da loja.",
            "audiencia_relato": f"Ocorrência: {ocorrencia}. A loja propôs devolver o valor pago."}


# -- helpers ------------------------------------------------------------------------------------------------
def load_case(rt: Runtime, case_id: int) -> Case:
    with rt.Session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case


def jobs(rt: Runtime, case_id: int) -> list[ExternalJob]:
    with rt.Session() as session:
        return list(session.scalars(select(ExternalJob).where(ExternalJob.case_id == case_id)
                                    .order_by(ExternalJob.id)))


def pending_job(rt: Runtime, case_id: int) -> ExternalJob:
    [job] = [j for j in jobs(rt, case_id) if j.status == "pendente"]
    return job


def finish_job(rt: Runtime, case_id: int, spec_name: str, result: Mapping[str, Any]) -> tuple[ExternalJob, CaseResult]:
    """Complete the single pending service task, which must be ``spec_name``, as the worker would."""
    job = pending_job(rt, case_id)
    assert job.spec_name == spec_name
    return job, rt.complete_service_task(job.id, result, worker="teste")


def deadlines(rt: Runtime, case_id: int) -> list[Deadline]:
    with rt.Session() as session:
        return list(session.scalars(select(Deadline).where(Deadline.case_id == case_id).order_by(Deadline.id)))


def open_tasks(rt: Runtime, case_id: int) -> list[OpenTask]:
    with rt.Session() as session:
        return list(session.scalars(select(OpenTask).where(OpenTask.case_id == case_id).order_by(OpenTask.id)))


def audit(rt: Runtime, case_id: int) -> list[AuditEvent]:
    with rt.Session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.id)))


def only_task(result: CaseResult, spec_name: str) -> Any:
    assert [t.spec_name for t in result.open_tasks] == [spec_name]
    return result.open_tasks[0]


def step(rt: Runtime, result: CaseResult, spec_name: str, actor: Actor, values: Mapping[str, str]) -> CaseResult:
    task = only_task(result, spec_name)
    return rt.complete_task(result.case_id, task.task_id, actor, values)


def workflow_of(rt: Runtime, case_id: int) -> Any:
    case = load_case(rt, case_id)
    loaded = rt.definitions.spec_for(case.definition)
    return runtime_module.load_state(case.state, loaded.spec, loaded.subprocess_specs)


def called_ends(rt: Runtime, case_id: int) -> list[str]:
    """The end events reached inside call activities, in order."""
    workflow = workflow_of(rt, case_id)
    ends = [t for sub in workflow.subprocesses.values() for t in sub.get_tasks(state=TaskState.COMPLETED)
            if isinstance(t.task_spec, EndEvent) and t.workflow is sub]
    return [t.task_spec.bpmn_name for t in sorted(ends, key=lambda t: t.last_state_change)]


def assert_closed(rt: Runtime, result: CaseResult, outcome: str) -> Case:
    assert (result.status, result.open_tasks) == ("encerrado", [])
    case = load_case(rt, result.case_id)
    assert (case.status, case.outcome, case.closed_at) == ("encerrado", outcome, clock.now())
    assert open_tasks(rt, result.case_id) == []
    assert [j.spec_name for j in jobs(rt, result.case_id) if j.status != "concluido"] == []
    assert [d.spec_name for d in deadlines(rt, result.case_id) if d.fired_at is None and d.met_at is None] == []
    assert audit(rt, result.case_id)[-1].action == "encerrado"
    return case


def confirm(rt: Runtime, result: CaseResult, actor: Actor, values: Mapping[str, str] = CONFIRMA) -> CaseResult:
    """The consumer's answer to the summons (here ``actor`` may be staff registering it on the consumer's behalf)."""
    [task] = [t for t in result.open_tasks if t.spec_name == "confirmar_presenca"]
    assert (task.title, task.role, task.form_key) == (
        "Confirmar presença na audiência", "consumidor", "confirmacao_audiencia")
    return rt.complete_task(result.case_id, task.task_id, actor, values)


def notify_parties(rt: Runtime, result: CaseResult, atendente: Actor, read_on: str = "03/03/2026") -> CaseResult:
    """The consumer's e-mail, the supplier's notice (e-mail, then its ciência), then the consumer confirms
    (through the atendente): the hearing can be recorded."""
    _job, result = finish_job(rt, result.case_id, "convidar_consumidor", SENT)
    _job, result = finish_job(rt, result.case_id, "enviar_notificacao", SENT)  # inside the called notification
    result = step(rt, result, "registrar_ciencia", atendente,
                  {"notificacao_ciencia_em": read_on, "notificacao_ciencia_meio": "confirmacao_leitura"})
    # The consumer is asked to confirm until the hearing's time (Friday 20 March, 14:30 in São Paulo).
    assert only_task(result, "confirmar_presenca").due_at == local(2026, 3, 20, 14, 30)
    return confirm(rt, result, atendente)


def until_hearing(rt: Runtime, conciliador: Actor, atendente: Actor) -> CaseResult:
    result = rt.start_case(PROCESS, conciliador, AGENDAMENTO)
    assert result.open_tasks == []  # the consumer's e-mail goes first
    result = notify_parties(rt, result, atendente)
    hearing = only_task(result, "realizar_audiencia")
    assert (hearing.title, hearing.role, hearing.form_key, hearing.due_at) == (
        "Realizar audiência", "conciliador", "registro_audiencia", None)
    return result


def hold(rt: Runtime, result: CaseResult, frozen_clock: clock.FrozenClock, conciliador: Actor,
         ocorrencia: str) -> CaseResult:
    frozen_clock.set(local(2026, 3, 20, 15))  # the hearing day
    return step(rt, result, "realizar_audiencia", conciliador, registro(ocorrencia))


@pytest.fixture
def runtime(runtime: Runtime) -> Runtime:
    registry.load_handlers()
    assert registry.get("gerar_documento") is not None and registry.get("enviar_email") is not None
    return runtime


@pytest.fixture
def conciliador() -> Actor:
    return Actor("davi", "Davi Conciliador", frozenset({"conciliador"}))


@pytest.fixture
def atendente() -> Actor:
    return Actor("ana", "Ana Atendente", frozenset({"atendente"}))


# -- the paths ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("cumprimento", "outcome"), [
    ("cumprido", "Encerrada: acordo cumprido"),
    ("descumprido", "Encerrada: acordo descumprido"),
])
def test_agreement_followed_up_at_its_deadline(runtime: Runtime, frozen_clock: clock.FrozenClock, conciliador: Actor,
                                               atendente: Actor, cumprimento: str, outcome: str) -> None:
    result = until_hearing(runtime, conciliador, atendente)
    result = hold(runtime, result, frozen_clock, conciliador, "acordo")
    obligations = only_task(result, "registrar_acordo")
    assert (obligations.role, obligations.form_key) == ("conciliador", "acordo_audiencia")
    result = runtime.complete_task(result.case_id, obligations.task_id, conciliador, ACORDO)

    # The termo: agreement, its obligations and the due date counted now — 10 calendar days from Friday
    # 20 March -> Monday 30 March.
    termo_job = pending_job(runtime, result.case_id)
    assert (termo_job.topic, termo_job.spec_name) == ("gerar_documento", "gerar_termo")
    payload = termo_job.payload
    assert {k: payload[k] for k in ("documento_tipo", "data_audiencia", "hora_audiencia", "local_ou_link", "acordo",
                                    "prazo_cumprimento")} == {
        "documento_tipo": "termo_audiencia", "data_audiencia": "2026-03-20", "hora_audiencia": "14:30",
        "local_ou_link": "https://video.procon.example/sala-7", "acordo": "sim", "prazo_cumprimento": "2026-03-30"}
    assert payload["termo"].startswith("Presentes: João da Silva; Maria Souza, preposta da loja.")
    assert "Audiência realizada, com acordo." in payload["termo"]
    assert payload["termo"].endswith("Obrigações assumidas: " + ACORDO["acordo_obrigacoes"])
    assert payload["acordo_valor"] == "1299.90"
    agreement_due = end_of_day(dt.date(2026, 3, 30))
    assert payload["acordo_prazo_fim"] == agreement_due.isoformat()

    # After the termo, the case waits for the agreed deadline: no open task, a timer due at its end.
    termo_ref = {"documento_id": 3, "codigo": "ABCD-EFGH-JKMN", "sha256": "1" * 64}
    _job, result = finish_job(runtime, result.case_id, "gerar_termo", {"documento_termo_audiencia": termo_ref})
    assert result.open_tasks == [] and result.status == "aberto"
    [timer] = [d for d in deadlines(runtime, result.case_id) if d.spec_name == "prazo_acordo"]
    assert (timer.kind, timer.name, timer.attached_to, timer.due_at, timer.outcome) == (
        "legal", "Prazo do acordo", None, agreement_due, None)

    frozen_clock.set(agreement_due)
    assert runtime.fire_due_timers() == 0
    fired_at = agreement_due + dt.timedelta(seconds=1)
    frozen_clock.set(fired_at)
    assert runtime.fire_due_timers() == 1
    [check] = open_tasks(runtime, result.case_id)
    assert (check.spec_name, check.title, check.role, check.form_key) == (
        "verificar_acordo", "Informar se o acordo foi cumprido", "consumidor", "informacao_acordo")
    # The consumer has 10 calendar days from Tuesday 31 March -> Friday 10 April (then the atendente checks).
    assert check.due_at == end_of_day(dt.date(2026, 4, 10))
    timer = next(d for d in deadlines(runtime, result.case_id) if d.spec_name == "prazo_acordo")
    assert (timer.outcome, timer.fired_at) == ("vencido", fired_at)

    # The consumer phoned: the atendente registers the answer on the consumer's behalf.
    result = runtime.complete_task(result.case_id, check.task_id, atendente, {
        "acordo_cumprimento": cumprimento, "acordo_verificacao_relato": "Consumidor informou por telefone em 31/03."})
    case = assert_closed(runtime, result, outcome)
    assert case.data["audiencia_resultado"] == f"acordo_{cumprimento}"
    assert case.data["documento_termo_audiencia"] == termo_ref
    assert (case.data["consumidor_ausente"], case.data["fornecedor_ausente"]) == (False, False)
    assert [(e.action, e.task_spec) for e in audit(runtime, result.case_id)
            if e.action in ("tarefa_concluida", "servico_concluido", "prazo_vencido")] == [
        ("tarefa_concluida", "agendar_audiencia"),
        ("servico_concluido", "convidar_consumidor"),
        ("servico_concluido", "enviar_notificacao"),
        ("tarefa_concluida", "registrar_ciencia"),
        ("tarefa_concluida", "confirmar_presenca"),
        ("tarefa_concluida", "realizar_audiencia"),
        ("tarefa_concluida", "registrar_acordo"),
        ("servico_concluido", "gerar_termo"),
        ("prazo_vencido", "prazo_acordo"),
        ("tarefa_concluida", "verificar_acordo"),
    ]
    assert (case.data["audiencia_presenca"], case.data["acordo_cumprimento"]) == ("confirmada", cumprimento)
    confirmation = next(d for d in deadlines(runtime, result.case_id) if d.spec_name == "prazo_informacao_acordo")
    assert (confirmation.attached_to, confirmation.outcome) == ("verificar_acordo", "cumprido")


def test_consumer_silent_on_the_agreement_the_atendente_checks(
        runtime: Runtime, frozen_clock: clock.FrozenClock, conciliador: Actor, atendente: Actor) -> None:
    result = hold(runtime, until_hearing(runtime, conciliador, atendente), frozen_clock, conciliador, "acordo")
    result = step(runtime, result, "registrar_acordo", conciliador, ACORDO)
    _job, result = finish_job(runtime, result.case_id, "gerar_termo",
                              {"documento_termo_audiencia": {"documento_id": 4}})
    frozen_clock.set(end_of_day(dt.date(2026, 3, 30)) + dt.timedelta(seconds=1))
    assert runtime.fire_due_timers() == 1
    [asked] = open_tasks(runtime, result.case_id)
    assert asked.spec_name == "verificar_acordo"

    # Ten days of silence (until Friday 10 April): the check goes back to the atendente.
    frozen_clock.set(end_of_day(dt.date(2026, 4, 10)))
    assert runtime.fire_due_timers() == 0
    silent_until = end_of_day(dt.date(2026, 4, 10)) + dt.timedelta(seconds=1)
    frozen_clock.set(silent_until)
    assert runtime.fire_due_timers() == 1
    [check] = open_tasks(runtime, result.case_id)
    assert (check.spec_name, check.title, check.role, check.form_key) == (
        "verificar_acordo_atendente", "Verificar cumprimento do acordo", "atendente", "verificacao_acordo")
    # Its SLA: 5 working days from Saturday 11 April -> Friday 17 April.
    assert check.due_at == end_of_day(dt.date(2026, 4, 17))
    missed = next(d for d in deadlines(runtime, result.case_id) if d.spec_name == "prazo_informacao_acordo")
    assert (missed.outcome, missed.fired_at) == ("vencido", silent_until)

    with pytest.raises(PermissionDenied):  # a task of the atendente, not of the consumer
        runtime.complete_task(result.case_id, check.task_id, conciliador, {
            "acordo_cumprimento": "cumprido", "acordo_verificacao_relato": "?"})
    result = runtime.complete_task(result.case_id, check.task_id, atendente, {
        "acordo_cumprimento": "descumprido", "acordo_verificacao_relato": "A loja não devolveu o valor (extrato)."})
    case = assert_closed(runtime, result, "Encerrada: acordo descumprido")
    assert case.data["audiencia_resultado"] == "acordo_descumprido"


@pytest.mark.parametrize(("ocorrencia", "outcome", "resultado", "consumidor", "fornecedor"), [
    ("sem_acordo", "Encerrada: sem acordo", "sem_acordo", False, False),
    ("consumidor_ausente", "Encerrada: ausência do consumidor", "ausencia_consumidor", True, False),
    ("fornecedor_ausente", "Encerrada: ausência do fornecedor", "ausencia_fornecedor", False, True),
    ("ambos_ausentes", "Encerrada: ausência do consumidor", "ausencia_consumidor", True, True),
])
def test_hearing_without_agreement(runtime: Runtime, frozen_clock: clock.FrozenClock, conciliador: Actor,
                                   atendente: Actor, ocorrencia: str, outcome: str, resultado: str,
                                   consumidor: bool, fornecedor: bool) -> None:
    result = hold(runtime, until_hearing(runtime, conciliador, atendente), frozen_clock, conciliador, ocorrencia)
    termo = pending_job(runtime, result.case_id)
    assert (termo.spec_name, termo.payload["documento_tipo"], termo.payload["acordo"]) == (
        "gerar_termo", "termo_audiencia", "nao")
    assert termo.payload["prazo_cumprimento"] is None
    _job, result = finish_job(runtime, result.case_id, "gerar_termo",
                              {"documento_termo_audiencia": {"documento_id": 1}})
    case = assert_closed(runtime, result, outcome)
    assert (case.data["audiencia_resultado"], case.data["consumidor_ausente"], case.data["fornecedor_ausente"]) == (
        resultado, consumidor, fornecedor)
    assert case.data["fornecedor_ciencia_em"] == "2026-03-03"  # when the supplier read the notice
    assert case.data["ausencia_consumidor_encerra"] is True
    # Scheduled within start_case, the first task never waited: only the notice's deadline and the consumer's
    # confirmation (until the hearing's time, answered) were counted.
    assert [(d.spec_name, d.outcome) for d in deadlines(runtime, result.case_id)] == [
        ("prazo_ciencia", "cumprido"), ("prazo_confirmacao", "cumprido")]
    assert case.data["audiencia_presenca"] == "confirmada"


def test_rescheduled_on_request_then_held(runtime: Runtime, frozen_clock: clock.FrozenClock, conciliador: Actor,
                                          atendente: Actor) -> None:
    result = hold(runtime, until_hearing(runtime, conciliador, atendente), frozen_clock, conciliador, "redesignar")
    redesignar = only_task(result, "redesignar_audiencia")
    assert (redesignar.role, redesignar.form_key) == ("conciliador", "redesignacao_audiencia")
    # Its SLA: 5 working days from Friday 20 March -> Friday 27 March.
    assert redesignar.due_at == end_of_day(dt.date(2026, 3, 27))
    assert jobs(runtime, result.case_id)[-1].spec_name == "enviar_notificacao"  # no termo for a rescheduling
    result = runtime.complete_task(result.case_id, redesignar.task_id, conciliador, REDESIGNACAO)

    # Both parties are summoned again, to the new date (the first confirmation no longer counts).
    assert result.open_tasks == []
    assert load_case(runtime, result.case_id).data["audiencia_presenca"] is None
    mail = pending_job(runtime, result.case_id)
    assert mail.spec_name == "convidar_consumidor"
    assert "10/04/2026, às 10:00" in mail.payload["email_assunto"]
    assert "Local: Sala 2, Rua Exemplo, 100" in mail.payload["email_corpo"]
    _job, result = finish_job(runtime, result.case_id, "convidar_consumidor", SENT)
    notice = pending_job(runtime, result.case_id)
    assert notice.spec_name == "enviar_notificacao"
    assert "10/04/2026" in notice.payload["email_assunto"]
    assert notice.payload["notificacao_ciencia_em"] is None  # a new notice starts clean
    # This time the supplier does not read it: ciência presumed after 10 days (20 March + 10 -> 30 March).
    _job, result = finish_job(runtime, result.case_id, "enviar_notificacao", SENT)
    only_task(result, "registrar_ciencia")
    frozen_clock.set(end_of_day(dt.date(2026, 3, 30)) + dt.timedelta(seconds=1))
    assert runtime.fire_due_timers() == 1
    # The consumer is asked again, until the new time, and does not answer: the hearing is not held up by it.
    [asked] = open_tasks(runtime, result.case_id)
    assert (asked.spec_name, asked.due_at) == ("confirmar_presenca", local(2026, 4, 10, 10))
    frozen_clock.set(local(2026, 4, 10, 10))
    assert runtime.fire_due_timers() == 0
    frozen_clock.set(local(2026, 4, 10, 10) + dt.timedelta(seconds=1))
    assert runtime.fire_due_timers() == 1
    [hearing] = open_tasks(runtime, result.case_id)
    assert hearing.spec_name == "realizar_audiencia"
    assert load_case(runtime, result.case_id).data["audiencia_presenca"] == "sem_resposta"

    frozen_clock.set(local(2026, 4, 10, 11))
    result = runtime.complete_task(result.case_id, hearing.task_id, conciliador, registro("sem_acordo"))
    termo = pending_job(runtime, result.case_id).payload
    assert (termo["data_audiencia"], termo["hora_audiencia"], termo["local_ou_link"]) == (
        "2026-04-10", "10:00", "Sala 2, Rua Exemplo, 100")
    _job, result = finish_job(runtime, result.case_id, "gerar_termo",
                              {"documento_termo_audiencia": {"documento_id": 2}})
    case = assert_closed(runtime, result, "Encerrada: sem acordo")
    assert case.data["audiencia_redesignacoes"] == [{
        "data_anterior": "2026-03-20", "nova_data": "2026-04-10", "solicitante": "fornecedor",
        "motivo": "Preposto em outra audiência."}]
    assert case.data["fornecedor_ciencia_em"] == "2026-03-30"  # the second notice's (presumed) ciência
    assert case.data["audiencia_presenca"] == "sem_resposta"
    confirmations = [(d.due_at, d.outcome) for d in deadlines(runtime, result.case_id)
                     if d.spec_name == "prazo_confirmacao"]
    assert confirmations == [(local(2026, 3, 20, 14, 30), "cumprido"), (local(2026, 4, 10, 10), "vencido")]
    assert called_ends(runtime, result.case_id) == ["Notificação entregue (sem prazo de resposta)"] * 2
    assert [j.spec_name for j in jobs(runtime, result.case_id)] == [
        "convidar_consumidor", "enviar_notificacao", "convidar_consumidor", "enviar_notificacao", "gerar_termo"]


# -- called by a complaint ---------------------------------------------------------------------------------
def caller_bpmn(inputs: Mapping[str, Any]) -> bytes:
    code = escape("\n".join(f"{name} = {value!r}" for name, value in inputs.items()))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:di="http://www.omg.org/spec/DD/20100524/DI" id="Definitions_{CALLER}" targetNamespace="http://procon.flow/bpmn">
  <bpmn:process id="{CALLER}" name="Reclamação de teste" isExecutable="true">
    <bpmn:startEvent id="inicio" name="Início"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="dados" name="Dados da reclamação" scriptFormat="python">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{code}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:callActivity id="audiencia" name="Audiência de conciliação" calledElement="{PROCESS}">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:callActivity>
    <bpmn:endEvent id="fim" name="Reclamação segue"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="inicio" targetRef="dados" />
    <bpmn:sequenceFlow id="f2" sourceRef="dados" targetRef="audiencia" />
    <bpmn:sequenceFlow id="f3" sourceRef="audiencia" targetRef="fim" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="Diagram_{CALLER}">
    <bpmndi:BPMNPlane id="Plane_{CALLER}" bpmnElement="{CALLER}">
      <bpmndi:BPMNShape id="inicio_di" bpmnElement="inicio"><dc:Bounds x="100" y="100" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="dados_di" bpmnElement="dados"><dc:Bounds x="180" y="78" width="100" height="80" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="audiencia_di" bpmnElement="audiencia"><dc:Bounds x="330" y="78" width="100" height="80" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="fim_di" bpmnElement="fim"><dc:Bounds x="480" y="100" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="f1_di" bpmnElement="f1"><di:waypoint x="136" y="118" /><di:waypoint x="180" y="118" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f2_di" bpmnElement="f2"><di:waypoint x="280" y="118" /><di:waypoint x="330" y="118" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f3_di" bpmnElement="f3"><di:waypoint x="430" y="118" /><di:waypoint x="480" y="118" />
      </bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
""".encode()


def start_called(rt: Runtime, actor: Actor, inputs: Mapping[str, Any]) -> CaseResult:
    with rt.Session.begin() as session:
        rt.definitions.deploy(session, caller_bpmn(inputs), f"{CALLER}.bpmn", "teste")
    result = rt.start_case(CALLER, actor)
    only_task(result, "agendar_audiencia")  # the hearing's first task, inside the call activity
    return result


@pytest.mark.parametrize(("ocorrencia", "resultado", "end"), [
    ("consumidor_ausente", "sem_acordo", "Encerrada: sem acordo"),
    ("ambos_ausentes", "ausencia_fornecedor", "Encerrada: ausência do fornecedor"),
])
def test_called_with_the_complaints_data_and_absence_not_closing(
        runtime: Runtime, frozen_clock: clock.FrozenClock, conciliador: Actor, atendente: Actor, ocorrencia: str,
        resultado: str, end: str) -> None:
    """A caller's parties get the notices; with ``ausencia_consumidor_encerra`` off, the consumer's absence
    does not close the hearing; only the declared outputs go back to the caller."""
    result = start_called(runtime, atendente, {**PARTES, "ausencia_consumidor_encerra": False})
    result = step(runtime, result, "agendar_audiencia", conciliador, AGENDAMENTO)

    consumer = pending_job(runtime, result.case_id)
    assert (consumer.spec_name, consumer.payload["email_para"]) == ("convidar_consumidor", "joao@example.com")
    assert consumer.payload["email_assunto"] == "Convocação para audiência de conciliação em 20/03/2026, às 14:30"
    body = consumer.payload["email_corpo"]
    assert body.startswith("Prezado(a) João da Silva,")
    assert "contra Loja Exemplo Ltda" in body
    assert "Link da videoconferência: https://video.procon.example/sala-7" in body
    assert "Tragam a nota fiscal e o contrato." in body and "tolerância de 15 minutos" in body
    _job, result = finish_job(runtime, result.case_id, "convidar_consumidor", SENT)

    supplier = pending_job(runtime, result.case_id)
    assert (supplier.spec_name, supplier.payload["email_para"]) == ("enviar_notificacao", "sac@lojaexemplo.com.br")
    assert supplier.payload["email_corpo"].startswith("Fica Loja Exemplo Ltda notificado(a) a comparecer")
    assert "carta de preposição" in supplier.payload["email_corpo"]
    assert supplier.payload["tipo_prazo"] is None and supplier.payload["email_anexo_documento"] is None
    _job, result = finish_job(runtime, result.case_id, "enviar_notificacao", SENT)
    result = step(runtime, result, "registrar_ciencia", atendente,
                  {"notificacao_ciencia_em": "04/03/2026", "notificacao_ciencia_meio": "resposta_email"})
    # The consumer cannot come (registered by the atendente): the hearing goes on; the reason goes back.
    result = confirm(runtime, result, atendente, {"audiencia_presenca": "nao_comparecera",
                                                  "audiencia_presenca_motivo": "Cirurgia marcada no mesmo dia."})

    result = hold(runtime, result, frozen_clock, conciliador, ocorrencia)
    termo = pending_job(runtime, result.case_id)
    model = build_model("termo_audiencia", termo.payload, TaskContext(
        settings=TaskSettings(), case_id=result.case_id, protocol=result.protocol, unit="CAP", now=clock.now()),
        "K7Q4-M2XP-9TDA")
    assert (model["acordo"], model["data_audiencia"], model["prazo"]) == (False, "20/03/2026", None)
    assert (model["consumidor_nome"], model["fornecedor_nome"]) == ("João da Silva", "Loja Exemplo Ltda")
    _job, result = finish_job(runtime, result.case_id, "gerar_termo",
                              {"documento_termo_audiencia": {"documento_id": 5}})

    case = load_case(runtime, result.case_id)
    assert (case.status, case.outcome) == ("encerrado", "Reclamação segue")
    assert called_ends(runtime, result.case_id) == ["Notificação entregue (sem prazo de resposta)", end]
    data = case.data
    assert {k: data[k] for k in ("audiencia_resultado", "consumidor_ausente", "fornecedor_ausente",
                                 "fornecedor_ciencia_em", "audiencia_data", "documento_termo_audiencia")} == {
        "audiencia_resultado": resultado, "consumidor_ausente": True,
        "fornecedor_ausente": ocorrencia == "ambos_ausentes",
        "fornecedor_ciencia_em": "2026-03-04", "audiencia_data": "2026-03-20",
        "documento_termo_audiencia": {"documento_id": 5}}
    assert OUTPUTS <= data.keys()
    assert (data["audiencia_presenca"], data["audiencia_presenca_motivo"]) == (
        "nao_comparecera", "Cirurgia marcada no mesmo dia.")
    for working in ("email_para", "termo", "acordo", "documento_tipo", "notificacao_texto", "audiencia_ocorrencia"):
        assert working not in data
    assert {k: data[k] for k in PARTES} == PARTES  # the caller's own data is kept


def test_agreement_document_has_all_it_needs(runtime: Runtime, frozen_clock: clock.FrozenClock, conciliador: Actor,
                                             atendente: Actor) -> None:
    result = start_called(runtime, atendente, PARTES)
    result = step(runtime, result, "agendar_audiencia", conciliador, AGENDAMENTO)
    result = notify_parties(runtime, result, atendente)
    result = hold(runtime, result, frozen_clock, conciliador, "acordo")
    result = step(runtime, result, "registrar_acordo", conciliador, ACORDO)
    termo = pending_job(runtime, result.case_id)
    model = build_model("termo_audiencia", termo.payload, TaskContext(
        settings=TaskSettings(), case_id=result.case_id, protocol=result.protocol, unit="CAP", now=clock.now()),
        "K7Q4-M2XP-9TDA")
    assert model["acordo"] is True
    assert (model["prazo"]["vencimento"], model["prazo"]["dias"]) == ("30/03/2026", 10)
    assert "Obrigações assumidas" in model["termo"]
