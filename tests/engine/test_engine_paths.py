"""The complaint (``reclamacao``) through the engine alone: every path from registration to closing,
plus the rules every command enforces (roles, claims, validation, attachments, deadlines,
restarts and definition versions).

Runs on SQLite by default and on PostgreSQL when ``DATABASE_URL`` is set; nothing here depends on
ids or on SQLite specifics.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

import engine.runtime.cycle as runtime_module
from engine import clock
from engine.actors import Actor
from engine.calendar.defaults import DEFAULT_DEADLINES
from engine.calendar.service import ensure_default_unit
from engine.errors import ConflictError, InvalidSubmission, PermissionDenied, TaskNotOpen
from engine.forms.submission import UploadedFile
from engine.runtime import CaseResult, EngineConfig, Runtime
from engine.store.models import Attachment, AuditEvent, Case, Deadline, OpenTask, ProcessDefinition
from tasks.registry import default_registry
from tests.support.paths import REPO_ROOT

BPMN = REPO_ROOT / "workflows" / "reclamacao.bpmn"
PROCESS = "reclamacao"

# -- form submissions, as a browser posts them ---------------------------------------------------
PRELIM_RESOLVIDA = {"resultado_preliminar": "resolvida",
                    "contato_descricao": "Liguei para o SAC em 03/03; a loja trocou a geladeira."}
PRELIM_NAO_RESOLVIDA = {"resultado_preliminar": "nao_resolvida",
                        "contato_descricao": "Liguei para o SAC em 03/03; a loja se recusou a trocar."}
CIP = {"cip_texto": "Solicitamos resposta em 10 dias sobre a geladeira entregue com defeito.",
       "cip_email_fornecedor": "sac@lojaexemplo.com.br"}
# The supplier's answer (staff may register it on the supplier's behalf); no proposal of agreement.
RESPOSTA = {"resposta_fornecedor": "A loja alega mau uso do produto.", "proposta_acordo": ""}
SCRIPT_ANSWER = "Fornecedor não respondeu à CIP no prazo."

# -- deadlines: counted on the unit's calendar (São Paulo, SP), due at the END of the last day ----
SP = ZoneInfo("America/Sao_Paulo")


def local(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    """A moment in São Paulo (UTC-3, no daylight saving time since 2019), as the engine's UTC clock."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=SP).astimezone(dt.UTC)


def end_of_day(day: dt.date) -> dt.datetime:
    """When a deadline whose last day is ``day`` ends: 23:59:59.999999 in São Paulo, in UTC."""
    return dt.datetime.combine(day, dt.time.max, tzinfo=SP).astimezone(dt.UTC)


# The CIP sent at the frozen clock's start (Monday 2 March 2026): 10 calendar days, the day of the
# notice excluded -> Thursday 12 March, a working day (no holiday in São Paulo in March 2026).
CIP_DUE = end_of_day(dt.date(2026, 3, 12))
assert CIP_DUE == dt.datetime(2026, 3, 13, 2, 59, 59, 999999, tzinfo=dt.UTC)
# Atendimento preliminar registered then: 5 working days (3, 4, 5, 6 and 9 March) -> Monday 9 March.
START_AT = local(2026, 3, 2, 10)  # tests/conftest.py's frozen clock: Monday 2 March 2026, 13:00 UTC
PRELIM_DUE = end_of_day(dt.date(2026, 3, 9))
assert PRELIM_DUE == dt.datetime(2026, 3, 10, 2, 59, 59, 999999, tzinfo=dt.UTC)


def analise(desfecho: str) -> dict[str, str]:
    return {"desfecho": desfecho, "fundamentacao": f"Parecer {desfecho}: CDC art. 18."}


def audiencia(acordo: str) -> dict[str, str]:
    return {"data_audiencia": "2026-04-01", "local_ou_link": "Sala 2", "acordo": acordo,
            "termo": f"Audiência realizada; acordo: {acordo}.", "prazo_cumprimento": ""}


def classificacao(desfecho: str) -> dict[str, str]:
    return {"desfecho": desfecho, "fundamentacao": f"Classificação {desfecho}."}


# -- helpers --------------------------------------------------------------------------------------
def only_task(result: CaseResult, spec_name: str) -> OpenTask:
    """The single open task of ``result``, which must be ``spec_name``."""
    assert [t.spec_name for t in result.open_tasks] == [spec_name]
    return result.open_tasks[0]


def step(rt: Runtime, result: CaseResult, spec_name: str, actor: Actor, values: Mapping[str, str]) -> CaseResult:
    task = only_task(result, spec_name)
    after = rt.complete_task(result.case_id, task.task_id, actor, values)
    assert after.case_id == result.case_id
    assert after.version > result.version
    return after


def load_case(rt: Runtime, case_id: int) -> Case:
    with rt.Session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case


def open_rows(rt: Runtime, case_id: int) -> list[OpenTask]:
    with rt.Session() as session:
        return list(session.scalars(select(OpenTask).where(OpenTask.case_id == case_id).order_by(OpenTask.id)))


def audit(rt: Runtime, case_id: int) -> list[AuditEvent]:
    with rt.Session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id)
                                    .order_by(AuditEvent.id)))


def trail(rt: Runtime, case_id: int) -> list[tuple[str, str | None, str]]:
    return [(e.action, e.task_spec, e.actor) for e in audit(rt, case_id)]


def deadlines(rt: Runtime, case_id: int) -> list[Deadline]:
    with rt.Session() as session:
        return list(session.scalars(select(Deadline).where(Deadline.case_id == case_id).order_by(Deadline.id)))


def count(rt: Runtime, model: type[Any]) -> int:
    with rt.Session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def workflow_of(rt: Runtime, case_id: int) -> Any:
    """The case's workflow as stored in the database (deserialized, not from any cache)."""
    case = load_case(rt, case_id)
    loaded = rt.definitions.spec_for(case.definition)
    return runtime_module.load_state(case.state, loaded.spec, loaded.subprocess_specs)


def assert_closed(rt: Runtime, result: CaseResult, outcome: str, now: dt.datetime) -> Case:
    assert result.status == "encerrado"
    assert result.open_tasks == []
    case = load_case(rt, result.case_id)
    assert case.status == "encerrado"
    assert case.outcome == outcome
    assert case.closed_at == now
    assert case.version == result.version
    assert open_rows(rt, result.case_id) == []
    rows = deadlines(rt, result.case_id)
    assert {d.kind for d in rows} <= {"legal", "interno"}
    # No legal deadline left running: each one went off ("vencido") or was met in time ("cumprido").
    legal = [d for d in rows if d.kind == "legal"]
    assert [d.spec_name for d in legal if d.fired_at is None and d.met_at is None] == []
    assert all(d.outcome in ("vencido", "cumprido") for d in legal)
    # Every internal SLA closed with its task: met (maybe late), never "fired".
    internal = [d for d in rows if d.kind == "interno"]
    assert [d.spec_name for d in internal if d.met_at is None] == []
    assert all(d.fired_at is None and d.outcome in ("cumprido", "cumprido_com_atraso") for d in internal)
    last = audit(rt, result.case_id)[-1]
    assert (last.action, last.description) == ("encerrado", outcome)
    return case


@pytest.fixture
def make_runtime(database_url: str, frozen_clock: clock.FrozenClock) -> Iterator[Callable[[], Runtime]]:
    """More runtimes on the same database (a restarted or second web process); disposed at the end."""
    made: list[Runtime] = []

    def make() -> Runtime:
        rt = Runtime(EngineConfig(services=default_registry(), database_url=database_url))
        made.append(rt)
        return rt

    yield make
    for rt in made:
        rt.db.dispose()


@pytest.fixture
def gestor() -> Actor:
    return Actor("gil", "Gil Gestor", frozenset({"gestor"}))


def start(rt: Runtime, actor: Actor, complaint: Mapping[str, str]) -> CaseResult:
    result = rt.start_case(PROCESS, actor, complaint)
    assert result.status == "aberto"
    return result


def until_analysis(rt: Runtime, atendente: Actor, complaint: Mapping[str, str]) -> CaseResult:
    """Register, fail the preliminary contact, send the CIP and record the supplier's answer."""
    result = start(rt, atendente, complaint)
    result = step(rt, result, "atendimento_preliminar", atendente, PRELIM_NAO_RESOLVIDA)
    result = step(rt, result, "emitir_cip", atendente, CIP)
    result = step(rt, result, "registrar_resposta", atendente, RESPOSTA)
    only_task(result, "analisar_reclamacao")
    return result


UNTIL_ANALYSIS = [
    ("iniciado", None, "ana"),
    ("tarefa_concluida", "registrar_reclamacao", "ana"),
    ("tarefa_concluida", "atendimento_preliminar", "ana"),
    ("tarefa_concluida", "emitir_cip", "ana"),
    ("tarefa_concluida", "registrar_resposta", "ana"),
    ("etapas_automaticas", None, "ana"),  # the answer's date recorded, no proposal: on to the analyst
]


# -- every path ------------------------------------------------------------------------------------
def test_resolved_in_preliminary_contact(runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor,
                                         complaint: dict[str, str]) -> None:
    result = start(runtime, atendente, complaint)
    done_at = frozen_clock.advance(dt.timedelta(hours=2))
    result = step(runtime, result, "atendimento_preliminar", atendente, PRELIM_RESOLVIDA)

    case = assert_closed(runtime, result, "Encerrada: resolvida no atendimento preliminar", frozen_clock())
    assert case.data["resultado_preliminar"] == "resolvida"
    rows = deadlines(runtime, result.case_id)
    assert [d for d in rows if d.kind == "legal"] == []  # no CIP, so no legal deadline was ever opened
    [sla] = rows  # only the preliminary contact's internal SLA, met the same morning
    assert (sla.kind, sla.spec_name, sla.due_at) == ("interno", "atendimento_preliminar", PRELIM_DUE)
    assert (sla.outcome, sla.met_at, sla.fired_at) == ("cumprido", done_at, None)
    assert trail(runtime, result.case_id) == [
        ("iniciado", None, "ana"),
        ("tarefa_concluida", "registrar_reclamacao", "ana"),
        ("tarefa_concluida", "atendimento_preliminar", "ana"),
        ("encerrado", None, "ana"),
    ]


@pytest.mark.parametrize(("desfecho", "outcome"), [
    ("resolvida", "Encerrada: resolvida"),
    ("fundamentada_atendida", "Encerrada: fundamentada atendida"),
    ("fundamentada_nao_atendida", "Encerrada: fundamentada não atendida"),
    ("arquivada", "Encerrada: arquivada (não fundamentada)"),
])
def test_cip_answered_then_analysis_decides(runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor,
                                            analista: Actor, complaint: dict[str, str], desfecho: str,
                                            outcome: str) -> None:
    result = until_analysis(runtime, atendente, complaint)
    assert load_case(runtime, result.case_id).data["resposta_fornecedor"] == RESPOSTA["resposta_fornecedor"]
    result = step(runtime, result, "analisar_reclamacao", analista, analise(desfecho))

    case = assert_closed(runtime, result, outcome, frozen_clock())
    assert case.data["desfecho"] == desfecho
    # The answer's date is the day it was sent, in the unit (the engine clock: Monday 2 March).
    assert (case.data["data_resposta"], case.data["cip_respondida"]) == ("2026-03-02", True)
    assert (case.data["fornecedor_propos_acordo"], case.data["proposta_acordo"]) == (False, None)
    assert trail(runtime, result.case_id) == UNTIL_ANALYSIS + [
        ("tarefa_concluida", "analisar_reclamacao", "bia"),
        ("encerrado", None, "bia"),
    ]
    outcomes = sorted((d.kind, d.spec_name, d.outcome) for d in deadlines(runtime, result.case_id))
    assert outcomes == [
        ("interno", "analisar_reclamacao", "cumprido"),
        ("interno", "atendimento_preliminar", "cumprido"),
        ("interno", "emitir_cip", "cumprido"),
        ("legal", "prazo_cip", "cumprido"),  # the supplier answered: the CIP deadline was met
    ]


def test_hearing_with_agreement(runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor,
                                analista: Actor, conciliador: Actor, complaint: dict[str, str]) -> None:
    result = until_analysis(runtime, atendente, complaint)
    result = step(runtime, result, "analisar_reclamacao", analista, analise("audiencia"))
    hearing = only_task(result, "realizar_audiencia")
    assert (hearing.role, hearing.form_key) == ("conciliador", "audiencia_conciliacao")
    result = step(runtime, result, "realizar_audiencia", conciliador, audiencia("sim"))

    case = assert_closed(runtime, result, "Encerrada: acordo em audiência", frozen_clock())
    assert case.data["acordo"] == "sim"
    assert trail(runtime, result.case_id) == UNTIL_ANALYSIS + [
        ("tarefa_concluida", "analisar_reclamacao", "bia"),
        ("tarefa_concluida", "realizar_audiencia", "davi"),
        ("encerrado", None, "davi"),
    ]


@pytest.mark.parametrize(("desfecho", "outcome"), [
    ("fundamentada_atendida", "Encerrada: fundamentada atendida"),
    ("fundamentada_nao_atendida", "Encerrada: fundamentada não atendida"),
    ("arquivada", "Encerrada: arquivada (não fundamentada)"),
])
def test_hearing_without_agreement_then_classification(runtime: Runtime, frozen_clock: clock.FrozenClock,
                                                       atendente: Actor, analista: Actor, conciliador: Actor,
                                                       complaint: dict[str, str], desfecho: str,
                                                       outcome: str) -> None:
    result = until_analysis(runtime, atendente, complaint)
    result = step(runtime, result, "analisar_reclamacao", analista, analise("audiencia"))
    result = step(runtime, result, "realizar_audiencia", conciliador, audiencia("nao"))
    classify = only_task(result, "classificar_reclamacao")
    assert (classify.role, classify.form_key) == ("analista", "classificacao_reclamacao")
    # The analysis said "audiencia"; the classification's own choice is what routes the case.
    assert load_case(runtime, result.case_id).data["desfecho"] == "audiencia"
    result = step(runtime, result, "classificar_reclamacao", analista, classificacao(desfecho))

    case = assert_closed(runtime, result, outcome, frozen_clock())
    assert case.data["desfecho"] == desfecho
    assert case.data["acordo"] == "nao"
    assert trail(runtime, result.case_id) == UNTIL_ANALYSIS + [
        ("tarefa_concluida", "analisar_reclamacao", "bia"),
        ("tarefa_concluida", "realizar_audiencia", "davi"),
        ("tarefa_concluida", "classificar_reclamacao", "bia"),
        ("encerrado", None, "bia"),
    ]


def test_cip_unanswered_goes_to_analysis_with_the_scripts_answer(runtime: Runtime, frozen_clock: clock.FrozenClock,
                                                                 atendente: Actor, analista: Actor,
                                                                 complaint: dict[str, str]) -> None:
    result = start(runtime, atendente, complaint)
    result = step(runtime, result, "atendimento_preliminar", atendente, PRELIM_NAO_RESOLVIDA)
    result = step(runtime, result, "emitir_cip", atendente, CIP)
    answer_task = only_task(result, "registrar_resposta")
    assert answer_task.due_at == CIP_DUE

    fired_at = CIP_DUE + dt.timedelta(seconds=1)  # the last day is over (a timer fires strictly after)
    frozen_clock.set(fired_at)
    assert runtime.fire_due_timers() == 1

    [analysis] = open_rows(runtime, result.case_id)
    assert (analysis.spec_name, analysis.role) == ("analisar_reclamacao", "analista")
    assert answer_task.task_id not in {t.task_id for t in open_rows(runtime, result.case_id)}
    # What the analyst's task will receive: the script's values, in the workflow itself...
    workflow = workflow_of(runtime, result.case_id)
    ready = workflow.get_task_from_id(UUID(analysis.task_id))
    assert ready.data["resposta_fornecedor"] == SCRIPT_ANSWER
    assert ready.data["cip_respondida"] is False
    # ...and in the case-data projection the pages show without deserializing.
    case = load_case(runtime, result.case_id)
    assert case.data["resposta_fornecedor"] == SCRIPT_ANSWER
    assert case.data["cip_respondida"] is False
    assert case.status == "aberto"

    closed = runtime.complete_task(result.case_id, analysis.task_id, analista, analise("fundamentada_nao_atendida"))
    case = assert_closed(runtime, closed, "Encerrada: fundamentada não atendida", frozen_clock())
    assert case.data["resposta_fornecedor"] == SCRIPT_ANSWER
    assert trail(runtime, result.case_id) == [
        ("iniciado", None, "ana"),
        ("tarefa_concluida", "registrar_reclamacao", "ana"),
        ("tarefa_concluida", "atendimento_preliminar", "ana"),
        ("tarefa_concluida", "emitir_cip", "ana"),
        ("prazo_vencido", "prazo_cip", "sistema"),
        ("etapas_automaticas", None, "sistema"),
        ("tarefa_concluida", "analisar_reclamacao", "bia"),
        ("encerrado", None, "bia"),
    ]
    automatic = [e for e in audit(runtime, result.case_id) if e.action == "etapas_automaticas"]
    assert automatic[0].details == {"etapas": ["Registrar ausência de resposta"]}
    rows = deadlines(runtime, result.case_id)
    [deadline] = [d for d in rows if d.kind == "legal"]
    assert (deadline.outcome, deadline.met_at, deadline.fired_at) == ("vencido", None, fired_at)
    # The analysis's SLA started when the timer went off (00:00 of Friday 13 March in São Paulo):
    # 15 working days, Good Friday (3 April) not counted -> Monday 6 April.
    [analysis_sla] = [d for d in rows if d.kind == "interno" and d.spec_name == "analisar_reclamacao"]
    assert (analysis_sla.starts_at, analysis_sla.due_at) == (fired_at, end_of_day(dt.date(2026, 4, 6)))


# -- protocol, roles, deadlines ----------------------------------------------------------------
def test_protocol_numbers_are_sequential_per_case(runtime: Runtime, atendente: Actor, atendente2: Actor,
                                                  complaint: dict[str, str]) -> None:
    first = start(runtime, atendente, complaint)
    second = start(runtime, atendente2, complaint)
    third = runtime.start_case(PROCESS, atendente, None)  # started without the form: still numbered
    assert [first.protocol, second.protocol, third.protocol] == [
        "CAP-2026-000001", "CAP-2026-000002", "CAP-2026-000003"]
    assert len({first.case_id, second.case_id, third.case_id}) == 3
    assert load_case(runtime, second.case_id).protocol == "CAP-2026-000002"
    # Another unit has its own sequence (a unit must be registered: its calendar counts the deadlines).
    with runtime.Session.begin() as session:
        ensure_default_unit(session, code="STS", name="Procon Santos", state="SP", municipality="Santos")
    santos = Actor("sara", "Sara Santos", frozenset({"atendente"}), unit="STS")
    other = start(runtime, santos, complaint)
    assert other.protocol == "STS-2026-000001"
    assert load_case(runtime, other.case_id).unit == "STS"


def test_open_tasks_carry_the_role_of_their_lane(runtime: Runtime, atendente: Actor, analista: Actor,
                                                 conciliador: Actor, complaint: dict[str, str]) -> None:
    seen: list[tuple[str, str, str | None]] = []
    result = start(runtime, atendente, complaint)

    def record(result: CaseResult) -> None:
        rows = open_rows(runtime, result.case_id)
        assert [(r.task_id, r.role) for r in rows] == [(t.task_id, t.role) for t in result.open_tasks]
        seen.extend((r.spec_name, r.role, r.form_key) for r in rows)

    record(result)
    result = step(runtime, result, "atendimento_preliminar", atendente, PRELIM_NAO_RESOLVIDA)
    record(result)
    result = step(runtime, result, "emitir_cip", atendente, CIP)
    record(result)
    result = step(runtime, result, "registrar_resposta", atendente, RESPOSTA)
    record(result)
    result = step(runtime, result, "analisar_reclamacao", analista, analise("audiencia"))
    record(result)
    result = step(runtime, result, "realizar_audiencia", conciliador, audiencia("nao"))
    record(result)
    assert seen == [
        ("atendimento_preliminar", "atendente", "atendimento_preliminar"),
        ("emitir_cip", "atendente", "emitir_cip"),
        ("registrar_resposta", "fornecedor", "resposta_fornecedor"),
        ("analisar_reclamacao", "analista", "analise_reclamacao"),
        ("realizar_audiencia", "conciliador", "audiencia_conciliacao"),
        ("classificar_reclamacao", "analista", "classificacao_reclamacao"),
    ]
    assert all(r.assignee is None for r in open_rows(runtime, result.case_id))


def test_answer_task_has_the_units_cip_deadline(runtime: Runtime, frozen_clock: clock.FrozenClock,
                                                atendente: Actor, complaint: dict[str, str]) -> None:
    result = start(runtime, atendente, complaint)
    result = step(runtime, result, "atendimento_preliminar", atendente, PRELIM_NAO_RESOLVIDA)
    # Before the CIP is sent the task is due by its own SLA: 2 working days from Monday 2 March.
    assert only_task(result, "emitir_cip").due_at == end_of_day(dt.date(2026, 3, 4))
    sent_at = frozen_clock.advance(dt.timedelta(days=1, hours=3))  # Tuesday 3 March, 13:00 in São Paulo
    assert sent_at == local(2026, 3, 3, 13)
    result = step(runtime, result, "emitir_cip", atendente, CIP)

    # 10 calendar days, 3 March excluded: Friday 13 March, a working day, until the end of that day.
    cip_due = end_of_day(dt.date(2026, 3, 13))
    assert cip_due == dt.datetime(2026, 3, 14, 2, 59, 59, 999999, tzinfo=dt.UTC)
    answer = only_task(result, "registrar_resposta")
    assert answer.due_at == cip_due
    [row] = open_rows(runtime, result.case_id)
    assert row.due_at == cip_due
    [deadline] = [d for d in deadlines(runtime, result.case_id) if d.kind == "legal"]
    assert deadline.spec_name == "prazo_cip"
    assert deadline.name == "Prazo de resposta à CIP"
    assert deadline.attached_to == "registrar_resposta"
    assert deadline.starts_at == sent_at
    assert deadline.due_at == cip_due
    # The unit's configured CIP rule (the default: 10 calendar days) and where it comes from.
    assert (deadline.kind, deadline.legal_kind, deadline.days, deadline.mode, deadline.unit) == (
        "legal", "cip", 10, "corridos", "CAP")
    assert deadline.legal_basis == DEFAULT_DEADLINES["cip"]["legal_basis"]
    assert deadline.legal_basis.startswith("CDC (Lei 8.078/1990), art. 55")
    assert (deadline.fired_at, deadline.met_at, deadline.outcome) == (None, None, None)


def test_answer_before_the_deadline_meets_it(runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor,
                                             complaint: dict[str, str]) -> None:
    result = start(runtime, atendente, complaint)
    result = step(runtime, result, "atendimento_preliminar", atendente, PRELIM_NAO_RESOLVIDA)
    result = step(runtime, result, "emitir_cip", atendente, CIP)
    # On the last day (Thursday 12 March) at 23:59 in São Paulo: already the 13th in UTC, still in time.
    answered_at = local(2026, 3, 12, 23, 59)
    assert answered_at.date() == dt.date(2026, 3, 13) and answered_at < CIP_DUE
    frozen_clock.set(answered_at)
    result = step(runtime, result, "registrar_resposta", atendente, RESPOSTA)
    only_task(result, "analisar_reclamacao")

    [deadline] = [d for d in deadlines(runtime, result.case_id) if d.kind == "legal"]
    assert deadline.outcome == "cumprido"
    assert deadline.met_at == answered_at
    assert deadline.fired_at is None

    frozen_clock.advance(dt.timedelta(days=30))
    assert runtime.fire_due_timers() == 0
    case = load_case(runtime, result.case_id)
    assert case.version == result.version
    rows = deadlines(runtime, result.case_id)
    [deadline] = [d for d in rows if d.kind == "legal"]
    assert (deadline.outcome, deadline.fired_at) == ("cumprido", None)
    assert "prazo_vencido" not in [e.action for e in audit(runtime, result.case_id)]
    assert [t.spec_name for t in open_rows(runtime, result.case_id)] == ["analisar_reclamacao"]
    # The analysis's SLA (15 working days from Thursday 12 March -> Thursday 2 April) is overdue by
    # now, yet an internal deadline is never "fired": it stays open until the analyst finishes.
    [analysis_sla] = [d for d in rows if d.kind == "interno" and d.spec_name == "analisar_reclamacao"]
    assert analysis_sla.due_at == end_of_day(dt.date(2026, 4, 2)) < frozen_clock()
    assert (analysis_sla.fired_at, analysis_sla.met_at, analysis_sla.outcome) == (None, None, None)


def sla_of(rt: Runtime, case_id: int, spec_name: str) -> Deadline:
    """The internal SLA row of the user task ``spec_name`` (exactly one)."""
    [row] = [d for d in deadlines(rt, case_id) if d.kind == "interno" and d.spec_name == spec_name]
    return row


def test_user_tasks_internal_deadlines(runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor,
                                       analista: Actor, conciliador: Actor, complaint: dict[str, str]) -> None:
    """``camunda:dueDate`` in working days: one "interno" deadline per user task, from the moment it
    opens, closed with it — "cumprido" in time, "cumprido_com_atraso" after the end of its last day."""
    # Monday 2 March, 10:00: atendimento preliminar, 5 working days -> Monday 9 March.
    result = start(runtime, atendente, complaint)
    prelim = only_task(result, "atendimento_preliminar")
    assert prelim.due_at == PRELIM_DUE
    sla = sla_of(runtime, result.case_id, "atendimento_preliminar")
    assert (sla.task_id, sla.name, sla.attached_to) == (
        prelim.task_id, "Prazo interno: Atendimento preliminar", "atendimento_preliminar")
    assert (sla.kind, sla.legal_kind, sla.days, sla.mode, sla.unit) == ("interno", "prazo", 5, "uteis", "CAP")
    assert (sla.starts_at, sla.due_at) == (START_AT, PRELIM_DUE)
    assert (sla.met_at, sla.fired_at, sla.outcome) == (None, None, None)
    assert [d.spec_name for d in deadlines(runtime, result.case_id)] == ["atendimento_preliminar"]

    # Done on Wednesday 4 March: in time. Emitir CIP opens then: 2 working days -> Friday 6 March.
    prelim_done = local(2026, 3, 4, 15)
    frozen_clock.set(prelim_done)
    result = step(runtime, result, "atendimento_preliminar", atendente, PRELIM_NAO_RESOLVIDA)
    sla = sla_of(runtime, result.case_id, "atendimento_preliminar")
    assert (sla.outcome, sla.met_at, sla.fired_at) == ("cumprido", prelim_done, None)
    cip_task = only_task(result, "emitir_cip")
    cip_sla_due = end_of_day(dt.date(2026, 3, 6))
    assert cip_task.due_at == cip_sla_due
    sla = sla_of(runtime, result.case_id, "emitir_cip")
    assert (sla.task_id, sla.name, sla.days, sla.mode) == (cip_task.task_id, "Prazo interno: Emitir CIP ao fornecedor",
                                                           2, "uteis")
    assert (sla.starts_at, sla.due_at, sla.outcome) == (prelim_done, cip_sla_due, None)

    # Sent only on Monday 9 March: late (the SLA ended with Friday). The CIP's legal deadline starts:
    # 10 calendar days -> Thursday 19 March; the answer task is due then (it has no SLA of its own).
    cip_sent = local(2026, 3, 9, 9, 30)
    frozen_clock.set(cip_sent)
    result = step(runtime, result, "emitir_cip", atendente, CIP)
    sla = sla_of(runtime, result.case_id, "emitir_cip")
    assert (sla.outcome, sla.met_at, sla.fired_at) == ("cumprido_com_atraso", cip_sent, None)
    answer = only_task(result, "registrar_resposta")
    [legal] = [d for d in deadlines(runtime, result.case_id) if d.kind == "legal"]
    assert (legal.spec_name, legal.legal_kind, legal.days, legal.mode) == ("prazo_cip", "cip", 10, "corridos")
    assert legal.legal_basis == DEFAULT_DEADLINES["cip"]["legal_basis"]
    assert legal.starts_at == cip_sent
    assert answer.due_at == legal.due_at == end_of_day(dt.date(2026, 3, 19))
    assert [d.spec_name for d in deadlines(runtime, result.case_id) if d.task_id == answer.task_id] == []

    # Answered Wednesday 11 March; analysis, 15 working days -> Wednesday 1 April.
    frozen_clock.set(local(2026, 3, 11, 11))
    result = step(runtime, result, "registrar_resposta", atendente, RESPOSTA)
    analysis = only_task(result, "analisar_reclamacao")
    analysis_due = end_of_day(dt.date(2026, 4, 1))
    assert analysis.due_at == analysis_due
    assert sla_of(runtime, result.case_id, "analisar_reclamacao").due_at == analysis_due
    [open_row] = open_rows(runtime, result.case_id)
    assert open_row.due_at == analysis_due

    # Decided on its last day, Wednesday 1 April at 18:00: in time. The hearing has no SLA.
    decided = local(2026, 4, 1, 18)
    frozen_clock.set(decided)
    result = step(runtime, result, "analisar_reclamacao", analista, analise("audiencia"))
    sla = sla_of(runtime, result.case_id, "analisar_reclamacao")
    assert (sla.outcome, sla.met_at) == ("cumprido", decided)
    assert only_task(result, "realizar_audiencia").due_at is None
    assert "realizar_audiencia" not in [d.spec_name for d in deadlines(runtime, result.case_id)]

    # Hearing on Thursday 2 April; classification, 10 working days with Good Friday (3 April) not
    # counted: 6-10 and 13-17 April -> Friday 17 April.
    frozen_clock.set(local(2026, 4, 2, 14))
    result = step(runtime, result, "realizar_audiencia", conciliador, audiencia("nao"))
    classify = only_task(result, "classificar_reclamacao")
    classify_due = end_of_day(dt.date(2026, 4, 17))
    assert classify.due_at == classify_due == dt.datetime(2026, 4, 18, 2, 59, 59, 999999, tzinfo=dt.UTC)
    assert sla_of(runtime, result.case_id, "classificar_reclamacao").due_at == classify_due

    # Classified at 23:59 of its last day: still in time.
    classified = local(2026, 4, 17, 23, 59)
    frozen_clock.set(classified)
    result = step(runtime, result, "classificar_reclamacao", analista, classificacao("fundamentada_atendida"))
    assert_closed(runtime, result, "Encerrada: fundamentada atendida", classified)
    assert sorted((d.kind, d.spec_name, d.outcome) for d in deadlines(runtime, result.case_id)) == [
        ("interno", "analisar_reclamacao", "cumprido"),
        ("interno", "atendimento_preliminar", "cumprido"),
        ("interno", "classificar_reclamacao", "cumprido"),
        ("interno", "emitir_cip", "cumprido_com_atraso"),
        ("legal", "prazo_cip", "cumprido"),
    ]
    assert sla_of(runtime, result.case_id, "classificar_reclamacao").met_at == classified


def test_sla_done_a_microsecond_after_its_last_day_is_late(runtime: Runtime, frozen_clock: clock.FrozenClock,
                                                            atendente: Actor, complaint: dict[str, str]) -> None:
    result = start(runtime, atendente, complaint)
    frozen_clock.set(PRELIM_DUE + dt.timedelta(microseconds=1))  # 00:00 of Tuesday 10 March in São Paulo
    result = step(runtime, result, "atendimento_preliminar", atendente, PRELIM_NAO_RESOLVIDA)
    sla = sla_of(runtime, result.case_id, "atendimento_preliminar")
    assert (sla.outcome, sla.met_at) == ("cumprido_com_atraso", frozen_clock())
    # The next task's SLA counts from now: 2 working days from Tuesday 10 March -> Thursday 12 March.
    assert only_task(result, "emitir_cip").due_at == end_of_day(dt.date(2026, 3, 12))


@pytest.mark.parametrize("sla_days", [1, 15])
def test_a_task_with_a_legal_timer_and_an_sla_is_due_at_the_timer(
        runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor, complaint: dict[str, str],
        sla_days: int) -> None:
    """An open task's due date is the legal timer attached to it, whether its own SLA ends before or after."""
    original = BPMN.read_text(encoding="utf-8")
    changed = original.replace(
        'camunda:formKey="resposta_fornecedor" camunda:candidateGroups="fornecedor"',
        f'camunda:formKey="resposta_fornecedor" camunda:candidateGroups="fornecedor" '
        f'camunda:dueDate="prazo_uteis({sla_days})"')
    assert changed != original
    with runtime.Session.begin() as session:
        runtime.definitions.deploy(session, changed.encode("utf-8"), "reclamacao.bpmn", "gil")

    result = start(runtime, atendente, complaint)
    result = step(runtime, result, "atendimento_preliminar", atendente, PRELIM_NAO_RESOLVIDA)
    result = step(runtime, result, "emitir_cip", atendente, CIP)
    answer = only_task(result, "registrar_resposta")
    sla = sla_of(runtime, result.case_id, "registrar_resposta")
    # From Monday 2 March: 1 working day -> Tuesday 3; 15 working days -> Monday 23 March.
    expected_sla = {1: dt.date(2026, 3, 3), 15: dt.date(2026, 3, 23)}[sla_days]
    assert (sla.task_id, sla.due_at, sla.days) == (answer.task_id, end_of_day(expected_sla), sla_days)
    assert answer.due_at == CIP_DUE
    [row] = open_rows(runtime, result.case_id)
    assert row.due_at == CIP_DUE

    answered = local(2026, 3, 5, 10)  # in time for both
    frozen_clock.set(answered)
    step(runtime, result, "registrar_resposta", atendente, RESPOSTA)
    rows = {(d.kind, d.spec_name): d for d in deadlines(runtime, result.case_id)}
    assert (rows[("legal", "prazo_cip")].outcome, rows[("legal", "prazo_cip")].met_at) == ("cumprido", answered)
    closed_sla = rows[("interno", "registrar_resposta")]
    assert (closed_sla.outcome, closed_sla.met_at) == (
        "cumprido" if sla_days == 15 else "cumprido_com_atraso", answered)


# -- who may act ---------------------------------------------------------------------------------
def test_a_person_without_the_role_changes_nothing(runtime: Runtime, atendente: Actor, analista: Actor,
                                                   complaint: dict[str, str]) -> None:
    with pytest.raises(PermissionDenied, match="atendente"):
        runtime.start_case(PROCESS, analista, complaint)
    assert count(runtime, Case) == 0

    result = start(runtime, atendente, complaint)
    task = only_task(result, "atendimento_preliminar")
    events = len(audit(runtime, result.case_id))

    with pytest.raises(PermissionDenied, match="atendente"):
        runtime.complete_task(result.case_id, task.task_id, analista, PRELIM_RESOLVIDA)
    with pytest.raises(PermissionDenied, match="atendente"):
        runtime.claim(result.case_id, task.task_id, analista)

    case = load_case(runtime, result.case_id)
    assert case.version == result.version
    assert case.status == "aberto"
    assert "resultado_preliminar" not in case.data
    assert len(audit(runtime, result.case_id)) == events
    [row] = open_rows(runtime, result.case_id)
    assert (row.task_id, row.assignee) == (task.task_id, None)

    # The right person still can.
    after = step(runtime, result, "atendimento_preliminar", atendente, PRELIM_RESOLVIDA)
    assert after.status == "encerrado"


def test_claim_release_and_assignment(runtime: Runtime, atendente: Actor, atendente2: Actor, gestor: Actor,
                                      complaint: dict[str, str]) -> None:
    result = start(runtime, atendente, complaint)
    task = only_task(result, "atendimento_preliminar")

    runtime.claim(result.case_id, task.task_id, atendente)
    [row] = open_rows(runtime, result.case_id)
    assert row.assignee == "ana"
    runtime.claim(result.case_id, task.task_id, atendente)  # claiming one's own task again is harmless

    with pytest.raises(ConflictError, match="ana") as conflict:
        runtime.claim(result.case_id, task.task_id, atendente2)
    assert not isinstance(conflict.value, TaskNotOpen)
    assert open_rows(runtime, result.case_id)[0].assignee == "ana"

    with pytest.raises(PermissionDenied, match="ana"):
        runtime.complete_task(result.case_id, task.task_id, atendente2, PRELIM_NAO_RESOLVIDA)
    with pytest.raises(PermissionDenied, match="ana"):
        runtime.release(result.case_id, task.task_id, atendente2)
    case = load_case(runtime, result.case_id)
    assert case.version == result.version
    assert "resultado_preliminar" not in case.data

    runtime.release(result.case_id, task.task_id, atendente)
    assert open_rows(runtime, result.case_id)[0].assignee is None

    # Back in the queue: the second person takes it; a manager may hand it back.
    runtime.claim(result.case_id, task.task_id, atendente2)
    assert open_rows(runtime, result.case_id)[0].assignee == "caio"
    runtime.release(result.case_id, task.task_id, gestor)
    assert open_rows(runtime, result.case_id)[0].assignee is None
    runtime.claim(result.case_id, task.task_id, atendente2)
    result = step(runtime, result, "atendimento_preliminar", atendente2, PRELIM_NAO_RESOLVIDA)
    assert only_task(result, "emitir_cip").assignee is None

    events = [(e.action, e.actor, e.task_id) for e in audit(runtime, result.case_id)]
    assert [(a, who) for a, who, _ in events] == [
        ("iniciado", "ana"),
        ("tarefa_concluida", "ana"),
        ("tarefa_assumida", "ana"),
        ("tarefa_liberada", "ana"),
        ("tarefa_assumida", "caio"),
        ("tarefa_liberada", "gil"),
        ("tarefa_assumida", "caio"),
        ("tarefa_concluida", "caio"),
    ]
    assert all(task_id == task.task_id for _, _, task_id in events[2:])
    released = [e for e in audit(runtime, result.case_id) if e.action == "tarefa_liberada"]
    assert [e.details["assignee_anterior"] for e in released] == ["ana", "caio"]


# -- invalid submissions -----------------------------------------------------------------------
def test_invalid_registration_creates_no_case(runtime: Runtime, atendente: Actor, complaint: dict[str, str]) -> None:
    bad = {**complaint, "consumidor_cpf": "111.111.111-11", "fatos": "   ", "canal": "pombo-correio"}
    with pytest.raises(InvalidSubmission) as raised:
        runtime.start_case(PROCESS, atendente, bad)
    result = raised.value.result
    assert set(result.errors) == {"consumidor_cpf", "fatos", "canal"}
    assert result.errors["consumidor_cpf"] == "CPF inválido."
    assert result.errors["fatos"] == "Campo obrigatório."
    assert result.raw["consumidor_cpf"] == "111.111.111-11"
    assert result.raw["canal"] == "pombo-correio"
    assert result.raw["consumidor_nome"] == "João da Silva"
    assert count(runtime, Case) == 0
    assert count(runtime, AuditEvent) == 0
    assert count(runtime, OpenTask) == 0

    # The failed attempt did not use up a protocol number.
    assert start(runtime, atendente, complaint).protocol == "CAP-2026-000001"


def test_invalid_task_submission_writes_nothing(runtime: Runtime, atendente: Actor, complaint: dict[str, str]) -> None:
    result = start(runtime, atendente, complaint)
    result = step(runtime, result, "atendimento_preliminar", atendente, PRELIM_NAO_RESOLVIDA)
    task = only_task(result, "emitir_cip")
    events = len(audit(runtime, result.case_id))
    before = load_case(runtime, result.case_id)

    typed = {"cip_texto": "", "cip_email_fornecedor": "sac arroba loja"}
    with pytest.raises(InvalidSubmission) as raised:
        runtime.complete_task(result.case_id, task.task_id, atendente, typed)
    assert raised.value.result.errors == {"cip_texto": "Campo obrigatório.", "cip_email_fornecedor": "E-mail inválido."}
    assert raised.value.result.raw == typed

    after = load_case(runtime, result.case_id)
    assert after.version == before.version == result.version
    assert after.state == before.state
    assert after.data == before.data
    assert len(audit(runtime, result.case_id)) == events
    assert [t.task_id for t in open_rows(runtime, result.case_id)] == [task.task_id]

    # Correcting the form completes the same task.
    result = step(runtime, result, "emitir_cip", atendente, CIP)
    only_task(result, "registrar_resposta")


# -- what the case keeps -------------------------------------------------------------------------
def test_summary_and_title_come_from_the_registration(runtime: Runtime, atendente: Actor,
                                                      complaint: dict[str, str]) -> None:
    result = start(runtime, atendente, complaint)
    case = load_case(runtime, result.case_id)
    assert case.summary == {
        "consumidor_nome": "João da Silva",
        "consumidor_cpf": "529.982.247-25",
        "fornecedor_nome": "Loja Exemplo Ltda",
        "fornecedor_cnpj": "12.ABC.345/01DE-35",
    }
    assert case.title == "João da Silva × Loja Exemplo Ltda"
    assert case.created_by == "ana"
    # The data projection holds the cleaned values.
    assert case.data["valor"] == "1299.90"
    assert case.data["data_compra"] == "2026-02-10"
    assert case.data["consumidor_telefone"] == "(11) 98765-4321"
    registered = [e for e in audit(runtime, result.case_id) if e.action == "tarefa_concluida"][0]
    assert registered.details["dados"]["fornecedor_nome"] == "Loja Exemplo Ltda"
    assert registered.details["actor_name"] == "Ana Atendente"

    # An unregistered case (no form yet) has no summary, and the title is the process name.
    bare = runtime.start_case(PROCESS, atendente, None)
    bare_case = load_case(runtime, bare.case_id)
    assert bare_case.summary == {}
    assert bare_case.title == "Reclamação do consumidor"
    only_task(bare, "registrar_reclamacao")


def test_uploaded_invoice_is_stored_as_an_attachment(runtime: Runtime, atendente: Actor,
                                                     complaint: dict[str, str]) -> None:
    content = b"%PDF-1.4\n% nota fiscal 123\n" + bytes(range(256)) * 4
    upload = UploadedFile("nota-fiscal-123.pdf", "application/pdf", content)
    result = runtime.start_case(PROCESS, atendente, complaint, files={"nota_fiscal": upload})

    with runtime.Session() as session:
        [attachment] = session.scalars(select(Attachment)).all()
    assert attachment.case_id == result.case_id
    assert attachment.sha256 == hashlib.sha256(content).hexdigest()
    assert attachment.size == len(content)
    assert attachment.data == content
    assert (attachment.filename, attachment.content_type, attachment.uploaded_by) == (
        "nota-fiscal-123.pdf", "application/pdf", "ana")

    reference = {"anexo_id": attachment.id, "nome": "nota-fiscal-123.pdf",
                 "sha256": hashlib.sha256(content).hexdigest(), "tamanho": len(content)}
    assert load_case(runtime, result.case_id).data["nota_fiscal"] == reference
    registered = [e for e in audit(runtime, result.case_id) if e.action == "tarefa_concluida"][0]
    assert registered.details["dados"]["nota_fiscal"] == reference

    # A file of a type the form does not accept is refused and nothing is stored.
    bad = UploadedFile("virus.exe", "application/octet-stream", b"MZ...")
    with pytest.raises(InvalidSubmission) as raised:
        runtime.start_case(PROCESS, atendente, complaint, files={"nota_fiscal": bad})
    assert set(raised.value.result.errors) == {"nota_fiscal"}
    assert count(runtime, Attachment) == 1
    assert count(runtime, Case) == 1


# -- restarts and definitions -------------------------------------------------------------------
def test_a_restarted_runtime_continues_the_case(runtime: Runtime, make_runtime: Callable[[], Runtime],
                                                frozen_clock: clock.FrozenClock, atendente: Actor,
                                                analista: Actor, complaint: dict[str, str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    result = start(runtime, atendente, complaint)
    result = step(runtime, result, "atendimento_preliminar", atendente, PRELIM_NAO_RESOLVIDA)
    result = step(runtime, result, "emitir_cip", atendente, CIP)
    due = only_task(result, "registrar_resposta").due_at

    loads: list[int] = []
    real_load_state = runtime_module.load_state

    def counting_load_state(*args: Any, **kwargs: Any) -> Any:
        loads.append(1)
        return real_load_state(*args, **kwargs)

    monkeypatch.setattr(runtime_module, "load_state", counting_load_state)

    restarted = make_runtime()
    deployed_before = count(restarted, ProcessDefinition)
    restarted.init_db()  # a restart runs init_db again: nothing new to deploy
    assert count(restarted, ProcessDefinition) == deployed_before
    assert restarted.cache.take(result.case_id, result.version) is None  # empty cache

    # The timer survives the restart: the new process fires it from the stored state.
    assert due == CIP_DUE
    frozen_clock.set(CIP_DUE + dt.timedelta(minutes=1))
    assert restarted.fire_due_timers() == 1
    assert len(loads) == 1
    after_timer = load_case(restarted, result.case_id).version
    assert after_timer > result.version
    [analysis] = open_rows(restarted, result.case_id)
    assert analysis.spec_name == "analisar_reclamacao"
    legal = [d for d in deadlines(restarted, result.case_id) if d.kind == "legal"]
    assert [(d.outcome, d.due_at) for d in legal] == [("vencido", due)]

    # Yet another fresh runtime finishes the case.
    third = make_runtime()
    closed = third.complete_task(result.case_id, analysis.task_id, analista, analise("arquivada"))
    assert len(loads) == 2
    case = assert_closed(third, closed, "Encerrada: arquivada (não fundamentada)", frozen_clock())
    assert case.data["resultado_preliminar"] == "nao_resolvida"
    assert case.data["resposta_fornecedor"] == SCRIPT_ANSWER
    assert case.version > after_timer


def test_init_db_twice_deploys_version_one_once(runtime: Runtime, make_runtime: Callable[[], Runtime]) -> None:
    first = runtime.init_db()
    again = make_runtime().init_db()
    assert [(d.process_id, d.version) for d in first if d.process_id == PROCESS] == [(PROCESS, 1)]
    assert {d.version for d in first} == {1}  # every procedure in workflows/, each once
    assert [(d.process_id, d.version) for d in again] == [(d.process_id, d.version) for d in first]
    with runtime.Session() as session:
        rows = session.scalars(select(ProcessDefinition).where(ProcessDefinition.process_id == PROCESS)).all()
        assert [(d.version, d.filename, d.name) for d in rows] == [
            (1, "reclamacao.bpmn", "Reclamação do consumidor")]
        assert rows[0].bpmn_xml == BPMN.read_text(encoding="utf-8")


def test_a_changed_diagram_is_version_two_and_running_cases_keep_one(
        runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor, analista: Actor,
        complaint: dict[str, str]) -> None:
    running = until_analysis(runtime, atendente, complaint)
    assert load_case(runtime, running.case_id).definition.version == 1
    deployed_before = count(runtime, ProcessDefinition)

    original = BPMN.read_text(encoding="utf-8")
    changed = original.replace('name="Encerrada: resolvida"', 'name="Encerrada: resolvida (versão 2)"')
    assert changed != original
    with runtime.Session.begin() as session:
        deployed = runtime.definitions.deploy(session, changed.encode("utf-8"), "reclamacao.bpmn", "gil")
        assert [(d.process_id, d.version, d.deployed_by) for d in deployed] == [(PROCESS, 2, "gil")]
    with runtime.Session.begin() as session:  # the same content again is not a new version
        assert [d.version for d in runtime.definitions.deploy(session, changed.encode(), "reclamacao.bpmn", "x")] == [2]
    assert count(runtime, ProcessDefinition) == deployed_before + 1

    new = until_analysis(runtime, atendente, complaint)
    assert load_case(runtime, new.case_id).definition.version == 2
    started = [e for e in audit(runtime, new.case_id) if e.action == "iniciado"][0]
    assert started.details == {"definition_version": 2}

    # The running case finishes on version 1, with version 1's end event...
    closed_old = step(runtime, running, "analisar_reclamacao", analista, analise("resolvida"))
    assert_closed(runtime, closed_old, "Encerrada: resolvida", frozen_clock())
    assert load_case(runtime, running.case_id).definition.version == 1
    # ...and the new one on version 2.
    closed_new = step(runtime, new, "analisar_reclamacao", analista, analise("resolvida"))
    assert_closed(runtime, closed_new, "Encerrada: resolvida (versão 2)", frozen_clock())


def test_a_script_that_fails_in_the_diagram_is_a_clear_error_and_nothing_is_saved(
        runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor, complaint: dict[str, str]) -> None:
    """A broken script (deployed by mistake) must not half-save a case nor stop the worker."""
    from engine.errors import ProcedureError
    from engine.store.models import Notification

    broken = BPMN.read_text(encoding="utf-8").replace("cip_respondida = False", "cip_respondida = 1 / 0")
    with runtime.Session.begin() as session:
        runtime.definitions.deploy(session, broken.encode("utf-8"), "reclamacao.bpmn", "gil")
    result = runtime.start_case(PROCESS, atendente, complaint)
    for name, values in (("atendimento_preliminar", {"resultado_preliminar": "nao_resolvida",
                                                     "contato_descricao": "sem acordo"}),
                         ("emitir_cip", {"cip_texto": "Manifeste-se.", "cip_email_fornecedor": "sac@loja.example"})):
        task = next(t for t in result.open_tasks if t.spec_name == name)
        result = runtime.complete_task(result.case_id, task.task_id, atendente, values)
    version = load_case(runtime, result.case_id).version
    events = len(audit(runtime, result.case_id))
    # The CIP timer fires and runs the broken script: the firing fails as a whole, with a clear message.
    frozen_clock.set(CIP_DUE + dt.timedelta(minutes=1))
    with pytest.raises(ProcedureError, match="Registrar ausência de resposta.*Nada foi gravado"):
        runtime._fire_case_timers(result.case_id)
    assert load_case(runtime, result.case_id).version == version
    assert len(audit(runtime, result.case_id)) == events
    assert [t.spec_name for t in open_rows(runtime, result.case_id)] == ["registrar_resposta"]
    # The worker's round does not stop on it: admins are told once, other cases keep firing.
    assert runtime.fire_due_timers() == 0
    assert runtime.fire_due_timers() == 0
    with runtime.Session() as session:
        [notice] = session.scalars(select(Notification).where(Notification.kind == "erro_procedimento")).all()
    assert notice.role == "admin" and notice.case_id == result.case_id and "1 / 0" not in notice.message


def test_a_manager_reassigns_an_open_task_to_someone_with_its_role(
        runtime: Runtime, atendente: Actor, atendente2: Actor, analista: Actor, complaint: dict[str, str]) -> None:
    from engine.errors import PermissionDenied as Denied
    from webapp.users import create_user

    with runtime.Session.begin() as session:
        create_user(session, "caio", "Caio Atendente", ["atendente"], "senha-segura-123")
        create_user(session, "bia", "Bia Analista", ["analista"], "senha-segura-123")
    gestor = Actor("gil", "Gil Gestor", frozenset({"gestor"}))
    result = runtime.start_case(PROCESS, atendente, complaint)
    task = result.open_tasks[0]
    with pytest.raises(Denied, match="Só um gestor"):
        runtime.reassign(result.case_id, task.task_id, "caio", atendente)
    with pytest.raises(Denied, match="não tem o papel “atendente”"):
        runtime.reassign(result.case_id, task.task_id, "bia", gestor)
    runtime.reassign(result.case_id, task.task_id, "caio", gestor, "férias da Ana")
    assert open_rows(runtime, result.case_id)[0].assignee == "caio"
    runtime.reassign(result.case_id, task.task_id, None, gestor)
    assert open_rows(runtime, result.case_id)[0].assignee is None
    moves = [e for e in audit(runtime, result.case_id) if e.action == "tarefa_redistribuida"]
    assert [(e.actor, e.details["para"]) for e in moves] == [("gil", "caio"), ("gil", None)]
    assert "férias da Ana" in moves[0].description
