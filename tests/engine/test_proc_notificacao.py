"""The electronic notification (``notificacao``) through the engine alone: every path, driven the way
other procedures use it — a call activity that hands over the caller's data — plus a direct start.

Service tasks are completed as the worker would (``complete_service_task`` with what the handler
returns); timers fire by moving the frozen clock. Runs on SQLite by default and on PostgreSQL when
``DATABASE_URL`` is set.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
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
from engine.calendar.defaults import DEFAULT_DEADLINES
from engine.errors import EngineError, TaskNotOpen
from engine.runtime import CaseResult, EngineConfig, Runtime
from engine.store.models import AuditEvent, Case, Deadline, ExternalJob, OpenTask
from tasks import registry
from tasks.context import TaskContext, TaskSettings
from tasks.documents import build_model
from tasks.registry import default_registry

PROCESS = "notificacao"
CALLER = "teste_chama_notificacao"
SP = ZoneInfo("America/Sao_Paulo")

#: What a caller (e.g. a complaint sending a CIP) has in its data when it calls the notification.
SUPPLIER = {
    "consumidor_nome": "João da Silva",
    "consumidor_email": "joao@example.com",
    "fornecedor_nome": "Loja Exemplo Ltda",
    "fornecedor_cnpj": "12.ABC.345/01DE-35",
    "fornecedor_email": "sac@lojaexemplo.com.br",
    "fatos": "Geladeira entregue com defeito; a loja se recusa a trocar.",
}
CIP = {**SUPPLIER, "notificacao_texto": "Solicitamos que apresente resposta sobre a geladeira entregue com defeito.",
       "notificacao_assunto": "CIP — Loja Exemplo", "notificacao_modalidade": "cip", "tipo_prazo": "cip"}
DOC_REF = {"documento_id": 7, "codigo": "K7Q4-M2XP-9TDA", "sha256": "0" * 64}
OUTPUTS = {"notificacao_enviada_em", "notificacao_ciencia_em", "notificacao_ciencia_presumida",
           "notificacao_respondida", "notificacao_resposta", "notificacao_resposta_em", "notificacao_resposta_anexo",
           "notificacao_prazo_resposta_ate", "notificacao_documento"}


def local(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=SP).astimezone(dt.UTC)


def end_of_day(day: dt.date) -> dt.datetime:
    """When a deadline whose last day is ``day`` ends: 23:59:59.999999 in São Paulo, in UTC."""
    return dt.datetime.combine(day, dt.time.max, tzinfo=SP).astimezone(dt.UTC)


# The frozen clock starts on Monday 2 March 2026, 10:00 in São Paulo (tests/conftest.py).
SENT_AT = local(2026, 3, 2, 10)
# Ciência presumed: 10 calendar days after sending, the day of sending excluded -> Thursday 12 March.
PRESUMED_DUE = end_of_day(dt.date(2026, 3, 12))


# -- a caller: a script with the caller's data, then the call activity -----------------------------------
def caller_bpmn(inputs: Mapping[str, Any], process_id: str = CALLER, called: str = PROCESS) -> bytes:
    """A minimal procedure that sets ``inputs`` and calls ``called``, as a complaint or a hearing would."""
    code = escape("\n".join(f"{name} = {value!r}" for name, value in inputs.items()))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:di="http://www.omg.org/spec/DD/20100524/DI" id="Definitions_{process_id}"
    targetNamespace="http://procon.flow/bpmn">
  <bpmn:process id="{process_id}" name="Chamador de teste" isExecutable="true">
    <bpmn:startEvent id="inicio" name="Início"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="dados" name="Dados do chamador" scriptFormat="python">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{code}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:callActivity id="chamar" name="Chamar {called}" calledElement="{called}">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:callActivity>
    <bpmn:endEvent id="fim" name="Chamador concluído"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="inicio" targetRef="dados" />
    <bpmn:sequenceFlow id="f2" sourceRef="dados" targetRef="chamar" />
    <bpmn:sequenceFlow id="f3" sourceRef="chamar" targetRef="fim" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="Diagram_{process_id}">
    <bpmndi:BPMNPlane id="Plane_{process_id}" bpmnElement="{process_id}">
      <bpmndi:BPMNShape id="inicio_di" bpmnElement="inicio"><dc:Bounds x="100" y="100" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="dados_di" bpmnElement="dados"><dc:Bounds x="180" y="78" width="100" height="80" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="chamar_di" bpmnElement="chamar"><dc:Bounds x="330" y="78" width="100" height="80" />
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


def start_caller(rt: Runtime, actor: Actor, inputs: Mapping[str, Any]) -> CaseResult:
    with rt.Session.begin() as session:
        rt.definitions.deploy(session, caller_bpmn(inputs), f"{CALLER}.bpmn", "teste")
    result = rt.start_case(CALLER, actor)
    assert (result.status, result.open_tasks) == ("aberto", [])  # it starts with automatic steps
    return result


# -- reading the projections --------------------------------------------------------------------------
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


def finish_job(rt: Runtime, case_id: int, topic: str, result: Mapping[str, Any]) -> tuple[ExternalJob, CaseResult]:
    """Complete the single pending service task, which must be ``topic``, as the worker would."""
    job = pending_job(rt, case_id)
    assert job.topic == topic
    return job, rt.complete_service_task(job.id, result, worker="teste")


def deadlines(rt: Runtime, case_id: int) -> list[Deadline]:
    with rt.Session() as session:
        return list(session.scalars(select(Deadline).where(Deadline.case_id == case_id).order_by(Deadline.id)))


def legal(rt: Runtime, case_id: int, spec_name: str) -> Deadline:
    [row] = [d for d in deadlines(rt, case_id) if d.kind == "legal" and d.spec_name == spec_name]
    return row


def audit(rt: Runtime, case_id: int) -> list[AuditEvent]:
    with rt.Session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.id)))


def open_tasks(rt: Runtime, case_id: int) -> list[OpenTask]:
    with rt.Session() as session:
        return list(session.scalars(select(OpenTask).where(OpenTask.case_id == case_id).order_by(OpenTask.id)))


def only_task(result: CaseResult, spec_name: str) -> Any:
    assert [t.spec_name for t in result.open_tasks] == [spec_name]
    return result.open_tasks[0]


def workflow_of(rt: Runtime, case_id: int) -> Any:
    """The case's workflow as stored (deserialized, not from any cache)."""
    case = load_case(rt, case_id)
    loaded = rt.definitions.spec_for(case.definition)
    return runtime_module.load_state(case.state, loaded.spec, loaded.subprocess_specs)


def called_ends(rt: Runtime, case_id: int) -> list[str]:
    """The end events the called notifications reached, in order."""
    workflow = workflow_of(rt, case_id)
    ends = [t for sub in workflow.subprocesses.values() for t in sub.get_tasks(state=TaskState.COMPLETED)
            if isinstance(t.task_spec, EndEvent) and t.workflow is sub]
    return [t.task_spec.bpmn_name for t in sorted(ends, key=lambda t: t.last_state_change)]


def send(rt: Runtime, result: CaseResult, with_document: bool = True) -> CaseResult:
    """Generate the document (if the notice has one) and send the e-mail: the notice waits for ciência."""
    if with_document:
        _job, result = finish_job(rt, result.case_id, "gerar_documento", {"documento_notificacao": DOC_REF})
    _job, result = finish_job(rt, result.case_id, "enviar_email",
                              {"email_enviado_em": "2026-03-02T10:00:05-03:00", "email_message_id": "<1@procon>"})
    return result


@pytest.fixture
def atendente() -> Actor:
    return Actor("ana", "Ana Atendente", frozenset({"atendente"}))


@pytest.fixture
def runtime(runtime: Runtime) -> Iterator[Runtime]:
    """The shared runtime; the service handlers the diagram names must be registered (they are shipped)."""
    registry.load_handlers()
    assert registry.get("gerar_documento") is not None and registry.get("enviar_email") is not None
    yield runtime


@pytest.fixture
def restarted(runtime: Runtime, database_url: str) -> Iterator[Runtime]:
    """Another runtime on the same database, as after a restart of the worker."""
    other = Runtime(EngineConfig(services=default_registry(), database_url=database_url))
    yield other
    other.db.dispose()


# -- the paths ------------------------------------------------------------------------------------------
def test_cip_read_and_answered(runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor) -> None:
    """Document, e-mail, reading recorded, answer recorded: the caller gets the outcome and nothing else."""
    result = start_caller(runtime, atendente, CIP)

    # 1. The document: kind, the caller's data it prints, and the earliest due date (ciência on the day sent).
    doc_job = pending_job(runtime, result.case_id)
    # (a one-instance multi-instance task: see test_notice_document_has_all_it_needs)
    assert (doc_job.topic, doc_job.spec_name, doc_job.title) == (
        "gerar_documento", "gerar_notificacao [child]", "Gerar documento de notificação")
    payload = doc_job.payload
    assert payload["documento_tipo"] == "notificacao"
    assert payload["notificacao_modalidade"] == "cip"
    assert {k: payload[k] for k in ("fornecedor_nome", "fornecedor_cnpj", "fatos")} == {
        k: SUPPLIER[k] for k in ("fornecedor_nome", "fornecedor_cnpj", "fatos")}
    assert payload["notificacao_texto"] == CIP["notificacao_texto"]
    assert payload["prazo_vencimento"] == "2026-03-12"  # 10 calendar days from Monday 2 March
    assert payload["prazo_contagem"].startswith("contados da ciência")
    assert (payload["prazo_dias"], payload["prazo_tipo"]) == (10, "corridos")  # the days written next to the date

    # 2. The e-mail: to the supplier, with the document attached.
    _job, result = finish_job(runtime, result.case_id, "gerar_documento", {"documento_notificacao": DOC_REF})
    mail = pending_job(runtime, result.case_id)
    assert (mail.topic, mail.spec_name) == ("enviar_email", "enviar_notificacao")
    assert mail.payload["email_para"] == "sac@lojaexemplo.com.br"
    assert mail.payload["email_assunto"] == "CIP — Loja Exemplo"
    assert mail.payload["email_anexo_documento"] == DOC_REF
    assert mail.payload["email_corpo"].startswith(CIP["notificacao_texto"])
    assert "anexa em PDF" in mail.payload["email_corpo"]

    # 3. Sent: the reading is awaited, due at the presumed ciência (10 days).
    _job, result = finish_job(runtime, result.case_id, "enviar_email",
                              {"email_enviado_em": "2026-03-02T10:00:05-03:00", "email_message_id": "<1@procon>"})
    ciencia = only_task(result, "registrar_ciencia")
    assert (ciencia.title, ciencia.role, ciencia.form_key) == ("Registrar ciência", "atendente", "ciencia_notificacao")
    assert ciencia.due_at == PRESUMED_DUE
    presumed = legal(runtime, result.case_id, "prazo_ciencia")
    assert (presumed.name, presumed.attached_to, presumed.legal_kind, presumed.days, presumed.mode) == (
        "Ciência presumida (10 dias do envio)", "registrar_ciencia", "prazo", 10, "corridos")
    assert (presumed.starts_at, presumed.due_at, presumed.outcome) == (SENT_AT, PRESUMED_DUE, None)

    # 4. Read on Thursday 5 March, recorded the same day: the CIP deadline (10 calendar days) counts from
    #    then -> Sunday 15 March, not a working day -> Monday 16 March.
    read_at = local(2026, 3, 5, 15)
    frozen_clock.set(read_at)
    result = runtime.complete_task(result.case_id, ciencia.task_id, atendente, {
        "notificacao_ciencia_em": "05/03/2026", "notificacao_ciencia_meio": "confirmacao_leitura",
        "notificacao_ciencia_obs": ""})
    answer = only_task(result, "registrar_resposta_notificacao")
    cip_due = end_of_day(dt.date(2026, 3, 16))
    assert answer.due_at == cip_due
    response = legal(runtime, result.case_id, "prazo_resposta")
    assert (response.name, response.attached_to, response.legal_kind, response.days, response.mode) == (
        "Prazo de resposta", "registrar_resposta_notificacao", "cip", 10, "corridos")
    assert response.legal_basis == DEFAULT_DEADLINES["cip"]["legal_basis"]
    # The count starts on the day the notice was read (noon of 5 March, São Paulo), that day excluded.
    assert (response.starts_at, response.due_at) == (local(2026, 3, 5, 12), cip_due)
    presumed = legal(runtime, result.case_id, "prazo_ciencia")
    assert (presumed.outcome, presumed.met_at, presumed.fired_at) == ("cumprido", read_at, None)

    # 5. Answered on the last day.
    answered_at = local(2026, 3, 16, 18)
    frozen_clock.set(answered_at)
    result = runtime.complete_task(result.case_id, answer.task_id, atendente, {
        "notificacao_resposta": "A loja trocará a geladeira em 5 dias.", "notificacao_resposta_em": "16/03/2026"})
    assert result.status == "encerrado"
    assert called_ends(runtime, result.case_id) == ["Notificação respondida"]
    response = legal(runtime, result.case_id, "prazo_resposta")
    assert (response.outcome, response.met_at, response.fired_at) == ("cumprido", answered_at, None)

    data = load_case(runtime, result.case_id).data
    assert {k: data[k] for k in OUTPUTS} == {
        "notificacao_enviada_em": "2026-03-02T10:00:05-03:00",
        "notificacao_ciencia_em": "2026-03-05",
        "notificacao_ciencia_presumida": False,
        "notificacao_respondida": True,
        "notificacao_resposta": "A loja trocará a geladeira em 5 dias.",
        "notificacao_resposta_em": "2026-03-16",
        "notificacao_resposta_anexo": None,
        "notificacao_prazo_resposta_ate": "2026-03-16",
        "notificacao_documento": DOC_REF,
    }
    # Only the declared outputs come back: the working data of the notification stays in it.
    for working in ("email_para", "email_corpo", "documento_tipo", "prazo_vencimento", "notificacao_ciencia_meio",
                    "notificacao_gerar_documento", "documento_notificacao", "documentos_notificacao",
                    "documento_prazo_dias", "prazo_dias"):
        assert working not in data
    assert data["tipo_prazo"] == "cip" and data["fatos"] == SUPPLIER["fatos"]  # the caller's own data is kept
    assert [(e.action, e.task_spec) for e in audit(runtime, result.case_id) if e.action != "etapas_automaticas"] == [
        ("iniciado", None),
        ("servico_concluido", "gerar_notificacao [child]"),
        ("servico_concluido", "enviar_notificacao"),
        ("tarefa_concluida", "registrar_ciencia"),
        ("tarefa_concluida", "registrar_resposta_notificacao"),
        ("encerrado", None),
    ]


def test_not_read_then_silence(runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor,
                               restarted: Runtime) -> None:
    """No reading in 10 days: ciência presumed on the 10th day; no answer by the deadline: silence."""
    result = send(runtime, start_caller(runtime, atendente, {**SUPPLIER, "tipo_prazo": "defesa"}))
    only_task(result, "registrar_ciencia")

    frozen_clock.set(PRESUMED_DUE)  # the last moment of the 10th day: not yet
    assert runtime.fire_due_timers() == 0
    fired_at = PRESUMED_DUE + dt.timedelta(seconds=1)
    frozen_clock.set(fired_at)
    assert runtime.fire_due_timers() == 1
    [answer] = [t for t in open_tasks(runtime, result.case_id)]
    assert answer.spec_name == "registrar_resposta_notificacao"
    data = load_case(runtime, result.case_id).data
    assert (data["notificacao_ciencia_presumida"], data["notificacao_ciencia_em"]) == (True, "2026-03-12")
    # The defence deadline (20 calendar days) counts from the presumed day (Thursday 12 March, excluded):
    # -> Wednesday 1 April.
    response = legal(runtime, result.case_id, "prazo_resposta")
    assert (response.legal_kind, response.days, response.starts_at) == ("defesa", 20, local(2026, 3, 12, 12))
    assert response.due_at == answer.due_at == end_of_day(dt.date(2026, 4, 1))
    assert data["notificacao_prazo_resposta_ate"] == "2026-04-01"

    # A restarted process (a new runtime, empty cache) fires the second timer from the stored state.
    frozen_clock.set(response.due_at + dt.timedelta(seconds=1))
    assert restarted.fire_due_timers() == 1
    case = load_case(restarted, result.case_id)
    assert (case.status, case.outcome) == ("encerrado", "Chamador concluído")
    assert called_ends(restarted, result.case_id) == ["Prazo de resposta encerrado sem resposta"]
    assert {k: case.data[k] for k in ("notificacao_ciencia_presumida", "notificacao_respondida",
                                      "notificacao_resposta", "notificacao_resposta_em")} == {
        "notificacao_ciencia_presumida": True, "notificacao_respondida": False, "notificacao_resposta": None,
        "notificacao_resposta_em": None}
    assert open_tasks(restarted, result.case_id) == []
    assert all(d.fired_at or d.met_at for d in deadlines(restarted, result.case_id))  # nothing left running
    with pytest.raises(TaskNotOpen):
        restarted.complete_task(result.case_id, answer.task_id, atendente, {
            "notificacao_resposta": "tarde demais", "notificacao_resposta_em": "03/04/2026"})


def test_read_then_silence(runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor) -> None:
    result = send(runtime, start_caller(runtime, atendente, CIP))
    ciencia = only_task(result, "registrar_ciencia")
    result = runtime.complete_task(result.case_id, ciencia.task_id, atendente, {
        "notificacao_ciencia_em": "2026-03-02", "notificacao_ciencia_meio": "resposta_email"})
    answer = only_task(result, "registrar_resposta_notificacao")
    assert answer.due_at == end_of_day(dt.date(2026, 3, 12))  # read on the day it was sent
    frozen_clock.set(answer.due_at + dt.timedelta(seconds=1))
    assert runtime.fire_due_timers() == 1
    case = load_case(runtime, result.case_id)
    assert case.status == "encerrado"
    assert called_ends(runtime, result.case_id) == ["Prazo de resposta encerrado sem resposta"]
    assert (case.data["notificacao_ciencia_presumida"], case.data["notificacao_ciencia_em"]) == (False, "2026-03-02")
    assert case.data["notificacao_respondida"] is False


def test_not_read_then_answered(runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor) -> None:
    result = send(runtime, start_caller(runtime, atendente, CIP))
    frozen_clock.set(PRESUMED_DUE + dt.timedelta(hours=9))
    assert runtime.fire_due_timers() == 1
    [answer] = open_tasks(runtime, result.case_id)
    result = runtime.complete_task(result.case_id, answer.task_id, atendente, {
        "notificacao_resposta": "Resposta da loja.", "notificacao_resposta_em": "13/03/2026"})
    case = load_case(runtime, result.case_id)
    assert called_ends(runtime, result.case_id) == ["Notificação respondida"]
    assert {k: case.data[k] for k in ("notificacao_ciencia_presumida", "notificacao_ciencia_em",
                                      "notificacao_respondida", "notificacao_resposta_em")} == {
        "notificacao_ciencia_presumida": True, "notificacao_ciencia_em": "2026-03-12",
        "notificacao_respondida": True, "notificacao_resposta_em": "2026-03-13"}


@pytest.mark.parametrize("read", [True, False], ids=["lida", "presumida"])
def test_without_response_deadline_only_the_ciencia(runtime: Runtime, frozen_clock: clock.FrozenClock,
                                                    atendente: Actor, read: bool) -> None:
    """No ``tipo_prazo`` (e.g. a notice to attend a hearing): no document, an e-mail, then the ciência."""
    notice = {"consumidor_nome": "João da Silva", "consumidor_email": "joao@example.com",
              "notificacao_destinatario": "consumidor", "notificacao_assunto": "Aviso",
              "notificacao_texto": "Sua audiência foi marcada."}
    result = start_caller(runtime, atendente, notice)
    mail = pending_job(runtime, result.case_id)
    assert mail.topic == "enviar_email"  # straight to the e-mail: no document without a deadline to state
    assert (mail.payload["email_para"], mail.payload["email_corpo"]) == (
        "joao@example.com", "Sua audiência foi marcada.")
    assert mail.payload["email_anexo_documento"] is None
    result = send(runtime, result, with_document=False)
    ciencia = only_task(result, "registrar_ciencia")
    if read:
        result = runtime.complete_task(result.case_id, ciencia.task_id, atendente, {
            "notificacao_ciencia_em": "03/03/2026", "notificacao_ciencia_meio": "portal"})
    else:
        frozen_clock.set(PRESUMED_DUE + dt.timedelta(seconds=1))
        assert runtime.fire_due_timers() == 1
    case = load_case(runtime, result.case_id)
    assert case.status == "encerrado"
    assert called_ends(runtime, result.case_id) == ["Notificação entregue (sem prazo de resposta)"]
    assert [j.topic for j in jobs(runtime, result.case_id)] == ["enviar_email"]
    assert [d.spec_name for d in deadlines(runtime, result.case_id)] == ["prazo_ciencia"]
    assert {k: case.data[k] for k in ("notificacao_ciencia_em", "notificacao_ciencia_presumida",
                                      "notificacao_respondida", "notificacao_documento",
                                      "notificacao_prazo_resposta_ate")} == {
        "notificacao_ciencia_em": "2026-03-03" if read else "2026-03-12", "notificacao_ciencia_presumida": not read,
        "notificacao_respondida": False, "notificacao_documento": None, "notificacao_prazo_resposta_ate": None}


def test_units_own_rule_counts_the_response(runtime: Runtime, frozen_clock: clock.FrozenClock,
                                            atendente: Actor) -> None:
    """The response deadline is the unit's configured rule for ``tipo_prazo`` (here 15 working days)."""
    with runtime.Session.begin() as session:
        runtime.calendars.set_rule(session, "CAP", "defesa", 15, "uteis", "Portaria Procon-SP (defesa em 15 dias)",
                                   "admin")
    result = send(runtime, start_caller(runtime, atendente, {**SUPPLIER, "tipo_prazo": "defesa"}))
    ciencia = only_task(result, "registrar_ciencia")
    result = runtime.complete_task(result.case_id, ciencia.task_id, atendente, {
        "notificacao_ciencia_em": "02/03/2026", "notificacao_ciencia_meio": "confirmacao_leitura"})
    answer = only_task(result, "registrar_resposta_notificacao")
    # 15 working days after Monday 2 March: 3-6, 9-13, 16-20, 23 March -> Monday 23 March.
    assert answer.due_at == end_of_day(dt.date(2026, 3, 23))
    response = legal(runtime, result.case_id, "prazo_resposta")
    assert (response.legal_kind, response.days, response.mode, response.legal_basis) == (
        "defesa", 15, "uteis", "Portaria Procon-SP (defesa em 15 dias)")


def test_started_directly_it_begins_with_its_automatic_steps(runtime: Runtime, atendente: Actor) -> None:
    """``start_case`` without a form starts a process whose first task is not a user task (its service tasks
    become jobs); with a form it refuses. Started alone the notification has no caller data: it goes straight
    to the e-mail, with no recipient (the worker would record an incident)."""
    with pytest.raises(EngineError, match="exatamente uma tarefa de usuário"):
        runtime.start_case(PROCESS, atendente, {"notificacao_texto": "x"})
    result = runtime.start_case(PROCESS, atendente)
    assert (result.status, result.open_tasks) == ("aberto", [])
    [mail] = jobs(runtime, result.case_id)
    assert (mail.topic, mail.status, mail.payload["email_para"]) == ("enviar_email", "pendente", None)
    result = send(runtime, result, with_document=False)
    ciencia = only_task(result, "registrar_ciencia")
    result = runtime.complete_task(result.case_id, ciencia.task_id, atendente, {
        "notificacao_ciencia_em": "02/03/2026", "notificacao_ciencia_meio": "outro",
        "notificacao_ciencia_obs": "Recebida no balcão."})
    case = load_case(runtime, result.case_id)
    assert (case.status, case.outcome) == ("encerrado", "Notificação entregue (sem prazo de resposta)")


# -- what the documents module needs ---------------------------------------------------------------------
def _document_context(protocol: str) -> TaskContext:
    return TaskContext(settings=TaskSettings(), case_id=1, protocol=protocol, unit="CAP", now=clock.now())


def test_notice_document_has_all_it_needs(runtime: Runtime, frozen_clock: clock.FrozenClock,
                                          atendente: Actor) -> None:
    """The document generator needs ``prazo_dias``, which is also the name of the scripts' deadline helper: no
    script can leave it in the data, and were it there every later script would fail. The diagram hands it over
    as the input item of a one-instance multi-instance service task, so it exists only in that task's data (the
    job's payload) and only the document comes back (the output item)."""
    frozen_clock.set(local(2026, 3, 6, 11))  # Friday 6 March: 10 days -> Monday 16 March
    result = start_caller(runtime, atendente, CIP)
    payload = pending_job(runtime, result.case_id).payload
    model = build_model("notificacao", payload, _document_context(result.protocol), "K7Q4-M2XP-9TDA")
    assert model["titulo"] == "Carta de Informações Preliminares (CIP)"
    assert (model["prazo"]["dias"], model["prazo"]["vencimento"]) == (10, "16/03/2026")
    assert model["prazo"]["texto"].startswith("10 (dez) dias corridos, contados da ciência desta notificação")
    # Only the document comes back: the next step (the e-mail) has it, and no prazo_dias.
    _job, result = finish_job(runtime, result.case_id, "gerar_documento", {"documento_notificacao": DOC_REF})
    mail = pending_job(runtime, result.case_id).payload
    assert mail["email_anexo_documento"] == DOC_REF
    assert "prazo_dias" not in mail


# -- engine limitations, written as what should happen -----------------------------------------------------
def test_a_timer_inside_the_called_notification_is_recorded_as_fired(runtime: Runtime,
                                                                    frozen_clock: clock.FrozenClock,
                                                                    atendente: Actor) -> None:
    result = send(runtime, start_caller(runtime, atendente, CIP))
    fired_at = PRESUMED_DUE + dt.timedelta(seconds=1)
    frozen_clock.set(fired_at)
    assert runtime.fire_due_timers() == 1
    presumed = legal(runtime, result.case_id, "prazo_ciencia")
    assert (presumed.outcome, presumed.fired_at, presumed.met_at) == ("vencido", fired_at, None)
    assert "prazo_vencido" in [e.action for e in audit(runtime, result.case_id)]


def test_the_response_deadline_counts_from_the_date_read(runtime: Runtime, frozen_clock: clock.FrozenClock,
                                                         atendente: Actor) -> None:
    result = send(runtime, start_caller(runtime, atendente, CIP))
    ciencia = only_task(result, "registrar_ciencia")
    frozen_clock.set(local(2026, 3, 5, 15))  # recorded on Thursday 5 March that it was read on Monday 2 March
    result = runtime.complete_task(result.case_id, ciencia.task_id, atendente, {
        "notificacao_ciencia_em": "02/03/2026", "notificacao_ciencia_meio": "confirmacao_leitura"})
    assert only_task(result, "registrar_resposta_notificacao").due_at == end_of_day(dt.date(2026, 3, 12))


def test_the_response_deadline_after_presumed_ciencia_counts_from_the_presumed_day(
        runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor) -> None:
    result = send(runtime, start_caller(runtime, atendente, {**SUPPLIER, "tipo_prazo": "defesa"}))
    frozen_clock.set(PRESUMED_DUE + dt.timedelta(seconds=1))
    assert runtime.fire_due_timers() == 1
    # Ciência on Thursday 12 March: 20 calendar days, 12 March excluded -> Wednesday 1 April.
    assert legal(runtime, result.case_id, "prazo_resposta").due_at == end_of_day(dt.date(2026, 4, 1))
