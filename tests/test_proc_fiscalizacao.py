"""Inspection (``fiscalizacao``) through the engine alone: a denúncia registered, triaged by an analyst,
inspected by a fiscal, and then an auto de infração (with its document) or an archive the authority may
review within 20 days.

Runs on SQLite by default and on PostgreSQL when ``DATABASE_URL`` is set.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from engine import clock
from engine.actors import Actor
from engine.errors import PermissionDenied
from engine.models import AuditEvent, Case, Deadline, ExternalJob, OpenTask
from engine.runtime import CaseResult, Runtime
from tasks import registry
from tasks.context import TaskContext, TaskSettings
from tasks.documents import build_model

PROCESS = "fiscalizacao"
SP = ZoneInfo("America/Sao_Paulo")

DENUNCIA = {
    "denuncia_origem": "anonima", "denunciante_nome": "", "denunciante_cpf": "", "denunciante_email": "",
    "fornecedor_cnpj": "12.ABC.345/01DE-35", "fornecedor_nome": "Mercado Exemplo Ltda",
    "fornecedor_endereco": "Rua das Flores, 123 – Centro – São Paulo/SP", "denuncia_abrangencia": "coletiva",
    "denuncia_fatos": "Produtos expostos sem preço nas gôndolas desde janeiro.",
}
RELATORIO = {"fiscalizacao_data": "10/03/2026", "fiscalizacao_local": "Rua das Flores, 123 – loja térrea",
             "fiscalizacao_constatacoes": "42 produtos sem preço na seção de limpeza."}
AUTO = {"auto_numero": "CAP-AI-2026/015", "auto_fatos": "Exposição de 42 produtos sem informação de preço.",
        "dispositivo_infringido": "Lei 8.078/1990, art. 31; Decreto 2.181/1997, art. 13, I.",
        "determinacao": "Afixar os preços de todos os produtos expostos.", "fiscal_nome": "Fábio Fiscal",
        "fiscal_matricula": "F-1234", "orgao_julgador": "Diretoria de Fiscalização do Procon"}
AUTO_REF = {"documento_id": 9, "codigo": "K7Q4-M2XP-9TDA", "sha256": "2" * 64}


def local(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=SP).astimezone(dt.UTC)


def end_of_day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.max, tzinfo=SP).astimezone(dt.UTC)


def triagem(decisao: str) -> dict[str, str]:
    return {"triagem_decisao": decisao, "triagem_prioridade": "alta",
            "triagem_fundamentacao": f"Decisão: {decisao}. Questão coletiva de informação de preço."}


def relatorio(conclusao: str) -> dict[str, str]:
    return {**RELATORIO, "fiscalizacao_conclusao": conclusao,
            "fiscalizacao_fundamentacao": f"Conclusão: {conclusao}."}


def revisao(decisao: str) -> dict[str, str]:
    return {"revisao_decisao": decisao, "revisao_fundamentacao": f"Revisão: {decisao}."}


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


def deadlines(rt: Runtime, case_id: int) -> list[Deadline]:
    with rt.Session() as session:
        return list(session.scalars(select(Deadline).where(Deadline.case_id == case_id).order_by(Deadline.id)))


def open_tasks(rt: Runtime, case_id: int) -> list[OpenTask]:
    with rt.Session() as session:
        return list(session.scalars(select(OpenTask).where(OpenTask.case_id == case_id).order_by(OpenTask.id)))


def trail(rt: Runtime, case_id: int) -> list[tuple[str, str | None, str]]:
    with rt.Session() as session:
        return [(e.action, e.task_spec, e.actor) for e in
                session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.id))]


def only_task(result: CaseResult, spec_name: str) -> Any:
    assert [t.spec_name for t in result.open_tasks] == [spec_name]
    return result.open_tasks[0]


def step(rt: Runtime, result: CaseResult, spec_name: str, actor: Actor, values: Mapping[str, str]) -> CaseResult:
    task = only_task(result, spec_name)
    return rt.complete_task(result.case_id, task.task_id, actor, values)


def assert_closed(rt: Runtime, result: CaseResult, outcome: str) -> Case:
    assert (result.status, result.open_tasks) == ("encerrado", [])
    case = load_case(rt, result.case_id)
    assert (case.status, case.outcome, case.closed_at) == ("encerrado", outcome, clock.now())
    assert open_tasks(rt, result.case_id) == []
    assert [d.spec_name for d in deadlines(rt, result.case_id) if d.fired_at is None and d.met_at is None] == []
    assert trail(rt, result.case_id)[-1][0] == "encerrado"
    return case


@pytest.fixture
def runtime(runtime: Runtime) -> Runtime:
    registry.load_handlers()
    assert registry.get("gerar_documento") is not None
    return runtime


@pytest.fixture
def atendente() -> Actor:
    return Actor("ana", "Ana Atendente", frozenset({"atendente"}))


@pytest.fixture
def analista() -> Actor:
    return Actor("bia", "Bia Analista", frozenset({"analista"}))


@pytest.fixture
def fiscal() -> Actor:
    return Actor("fabio", "Fábio Fiscal", frozenset({"fiscal"}))


@pytest.fixture
def autoridade() -> Actor:
    return Actor("alice", "Alice Autoridade", frozenset({"autoridade"}))


def until_inspection(rt: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor, analista: Actor) -> CaseResult:
    result = rt.start_case(PROCESS, atendente, DENUNCIA)
    triage = only_task(result, "triagem_denuncia")
    assert (triage.title, triage.role, triage.form_key) == ("Fazer triagem da denúncia", "analista", "triagem_denuncia")
    # 10 working days from Monday 2 March -> Monday 16 March.
    assert triage.due_at == end_of_day(dt.date(2026, 3, 16))
    frozen_clock.set(local(2026, 3, 3, 9))
    result = step(rt, result, "triagem_denuncia", analista, triagem("fiscalizar"))
    inspection = only_task(result, "realizar_fiscalizacao")
    assert (inspection.role, inspection.form_key) == ("fiscal", "relatorio_fiscalizacao")
    # 20 working days from Tuesday 3 March -> Tuesday 31 March.
    assert inspection.due_at == end_of_day(dt.date(2026, 3, 31))
    return result


def auto_lavrado(rt: Runtime, result: CaseResult, frozen_clock: clock.FrozenClock, fiscal: Actor) -> Case:
    """The fiscal draws up the auto; its document is generated; the case closes."""
    lavrar = only_task(result, "lavrar_auto")
    assert (lavrar.title, lavrar.role, lavrar.form_key) == ("Lavrar auto de infração", "fiscal", "auto_infracao")
    frozen_clock.set(local(2026, 3, 11, 16))
    result = rt.complete_task(result.case_id, lavrar.task_id, fiscal, AUTO)
    [job] = jobs(rt, result.case_id)
    # A one-instance multi-instance task: see test_auto_document_has_all_it_needs.
    assert (job.topic, job.spec_name, job.status) == ("gerar_documento", "gerar_auto [child]", "pendente")
    payload = job.payload
    assert {k: payload[k] for k in ("documento_tipo", "fornecedor_nome", "fornecedor_cnpj", "fornecedor_endereco",
                                    "local_infracao", "fatos", "dispositivo_infringido", "determinacao",
                                    "fiscal_nome", "fiscal_matricula", "orgao_julgador", "auto_numero",
                                    "tipo_prazo")} == {
        "documento_tipo": "auto_infracao", "fornecedor_nome": DENUNCIA["fornecedor_nome"],
        "fornecedor_cnpj": DENUNCIA["fornecedor_cnpj"], "fornecedor_endereco": DENUNCIA["fornecedor_endereco"],
        "local_infracao": RELATORIO["fiscalizacao_local"], "fatos": AUTO["auto_fatos"],
        "dispositivo_infringido": AUTO["dispositivo_infringido"], "determinacao": AUTO["determinacao"],
        "fiscal_nome": "Fábio Fiscal", "fiscal_matricula": "F-1234", "orgao_julgador": AUTO["orgao_julgador"],
        "auto_numero": "CAP-AI-2026/015", "tipo_prazo": "defesa"}
    # The defence deadline if the auto is known today: 20 calendar days from Wednesday 11 March -> Tuesday 31 March.
    assert payload["prazo_vencimento"] == "2026-03-31"
    assert (payload["prazo_dias"], payload["prazo_tipo"]) == (20, "corridos")
    assert payload["prazo_contagem"].startswith("contados da ciência")
    assert result.open_tasks == [] and result.status == "aberto"
    closed = rt.complete_service_task(job.id, {"documento_auto_infracao": AUTO_REF}, worker="teste")
    case = assert_closed(rt, closed, "Encerrada: auto lavrado")
    assert case.data["documento_auto_infracao"] == AUTO_REF
    assert "prazo_dias" not in case.data
    return case


# -- the paths ------------------------------------------------------------------------------------------------
def test_archived_at_triage(runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor,
                            analista: Actor) -> None:
    result = runtime.start_case(PROCESS, atendente, DENUNCIA)
    with pytest.raises(PermissionDenied):  # triage is the analyst's
        runtime.complete_task(result.case_id, only_task(result, "triagem_denuncia").task_id, atendente,
                              triagem("arquivar"))
    frozen_clock.advance(dt.timedelta(days=1))
    result = step(runtime, result, "triagem_denuncia", analista, triagem("arquivar"))
    case = assert_closed(runtime, result, "Encerrada: arquivada na triagem")
    assert case.title == "Fiscalização" and case.summary == {
        "fornecedor_nome": DENUNCIA["fornecedor_nome"], "fornecedor_cnpj": DENUNCIA["fornecedor_cnpj"]}
    assert case.data["denunciante_cpf"] is None  # an anonymous denúncia
    [sla] = deadlines(runtime, result.case_id)
    assert (sla.kind, sla.spec_name, sla.outcome) == ("interno", "triagem_denuncia", "cumprido")
    assert jobs(runtime, result.case_id) == []
    assert trail(runtime, result.case_id) == [
        ("iniciado", None, "ana"),
        ("tarefa_concluida", "registrar_denuncia", "ana"),
        ("tarefa_concluida", "triagem_denuncia", "bia"),
        ("encerrado", None, "bia"),
    ]


def test_irregularity_found_auto_drawn_up(runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor,
                                         analista: Actor, fiscal: Actor) -> None:
    result = until_inspection(runtime, frozen_clock, atendente, analista)
    frozen_clock.set(local(2026, 3, 10, 17))
    result = step(runtime, result, "realizar_fiscalizacao", fiscal, relatorio("auto"))
    lavrar = only_task(result, "lavrar_auto")
    assert lavrar.due_at == end_of_day(dt.date(2026, 3, 17))  # 5 working days from Tuesday 10 March
    auto_lavrado(runtime, result, frozen_clock, fiscal)
    assert [(d.kind, d.spec_name, d.outcome) for d in deadlines(runtime, result.case_id)] == [
        ("interno", "triagem_denuncia", "cumprido"),
        ("interno", "realizar_fiscalizacao", "cumprido"),
        ("interno", "lavrar_auto", "cumprido"),
    ]
    assert [(a, s) for a, s, _ in trail(runtime, result.case_id)] == [
        ("iniciado", None),
        ("tarefa_concluida", "registrar_denuncia"),
        ("tarefa_concluida", "triagem_denuncia"),
        ("tarefa_concluida", "realizar_fiscalizacao"),
        ("tarefa_concluida", "lavrar_auto"),
        ("etapas_automaticas", None),
        ("servico_concluido", "gerar_auto [child]"),
        ("etapas_automaticas", None),
        ("encerrado", None),
    ]


def test_archive_proposed_and_kept_by_the_authority(runtime: Runtime, frozen_clock: clock.FrozenClock,
                                                   atendente: Actor, analista: Actor, fiscal: Actor,
                                                   autoridade: Actor) -> None:
    result = until_inspection(runtime, frozen_clock, atendente, analista)
    reported_at = local(2026, 3, 10, 17)
    frozen_clock.set(reported_at)
    result = step(runtime, result, "realizar_fiscalizacao", fiscal, relatorio("arquivar"))
    review = only_task(result, "revisar_arquivamento")
    assert (review.title, review.role, review.form_key) == (
        "Revisar arquivamento", "autoridade", "revisao_arquivamento")
    # The review window: 20 calendar days from Tuesday 10 March -> Monday 30 March.
    window = end_of_day(dt.date(2026, 3, 30))
    assert review.due_at == window
    [timer] = [d for d in deadlines(runtime, result.case_id) if d.kind == "legal"]
    assert (timer.spec_name, timer.name, timer.attached_to, timer.legal_kind, timer.days, timer.mode) == (
        "prazo_revisao", "Prazo de revisão (20 dias)", "revisar_arquivamento", "prazo", 20, "corridos")
    assert (timer.starts_at, timer.due_at) == (reported_at, window)

    frozen_clock.set(local(2026, 3, 20, 11))
    result = step(runtime, result, "revisar_arquivamento", autoridade, revisao("manter"))
    case = assert_closed(runtime, result, "Encerrada: arquivada após fiscalização")
    assert (case.data["fiscalizacao_conclusao"], case.data["revisao_decisao"]) == ("arquivar", "manter")
    [timer] = [d for d in deadlines(runtime, result.case_id) if d.kind == "legal"]
    assert (timer.outcome, timer.fired_at) == ("cumprido", None)


def test_archive_reformed_by_the_authority_auto_drawn_up(runtime: Runtime, frozen_clock: clock.FrozenClock,
                                                        atendente: Actor, analista: Actor, fiscal: Actor,
                                                        autoridade: Actor) -> None:
    result = until_inspection(runtime, frozen_clock, atendente, analista)
    result = step(runtime, result, "realizar_fiscalizacao", fiscal, relatorio("arquivar"))
    result = step(runtime, result, "revisar_arquivamento", autoridade, revisao("lavrar_auto"))
    case = auto_lavrado(runtime, result, frozen_clock, fiscal)
    assert (case.data["fiscalizacao_conclusao"], case.data["revisao_decisao"]) == ("arquivar", "lavrar_auto")


def test_archive_final_without_review_in_20_days(runtime: Runtime, frozen_clock: clock.FrozenClock,
                                                atendente: Actor, analista: Actor, fiscal: Actor) -> None:
    result = until_inspection(runtime, frozen_clock, atendente, analista)
    frozen_clock.set(local(2026, 3, 10, 17))
    result = step(runtime, result, "realizar_fiscalizacao", fiscal, relatorio("arquivar"))
    review = only_task(result, "revisar_arquivamento")
    frozen_clock.set(review.due_at)
    assert runtime.fire_due_timers() == 0
    fired_at = review.due_at + dt.timedelta(seconds=1)
    frozen_clock.set(fired_at)
    assert runtime.fire_due_timers() == 1
    case = load_case(runtime, result.case_id)
    assert (case.status, case.outcome, case.closed_at) == ("encerrado", "Encerrada: arquivada após fiscalização",
                                                           fired_at)
    assert "revisao_decisao" not in case.data
    assert open_tasks(runtime, result.case_id) == []
    [timer] = [d for d in deadlines(runtime, result.case_id) if d.kind == "legal"]
    assert (timer.outcome, timer.fired_at, timer.met_at) == ("vencido", fired_at, None)
    assert trail(runtime, result.case_id)[-2:] == [("prazo_vencido", "prazo_revisao", "sistema"),
                                                   ("encerrado", None, "sistema")]


def test_auto_document_has_all_it_needs(runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor,
                                        analista: Actor, fiscal: Actor) -> None:
    """What tasks/documents.py needs for the auto, ``prazo_dias`` included (only in the service task's own data)."""
    result = until_inspection(runtime, frozen_clock, atendente, analista)
    result = step(runtime, result, "realizar_fiscalizacao", fiscal, relatorio("auto"))
    frozen_clock.set(local(2026, 3, 11, 16))
    result = step(runtime, result, "lavrar_auto", fiscal, AUTO)
    [job] = jobs(runtime, result.case_id)
    context = TaskContext(settings=TaskSettings(), case_id=result.case_id, protocol=result.protocol, unit="CAP",
                          now=clock.now())
    model = build_model("auto_infracao", job.payload, context, "K7Q4-M2XP-9TDA")
    assert model["titulo"] == "Auto de Infração nº CAP-AI-2026/015"
    assert (model["prazo"]["dias"], model["prazo"]["vencimento"]) == (20, "31/03/2026")
    assert (model["lavratura_data"], model["lavratura_hora"]) == ("11/03/2026", "16:00")
