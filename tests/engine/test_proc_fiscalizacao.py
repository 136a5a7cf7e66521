"""Inspection (``fiscalizacao``) through the engine alone: a denúncia registered, triaged by an analyst and
inspected by a fiscal; then either an archive the authority may review within 20 days, or the sanctioning
procedure (``processo_sancionatorio``, a call activity inside the same case), which starts with the auto de
infração drawn up by the fiscal and goes on to notification, defence, decision, fine, appeal and payment.
The inspection closes with the sanctioning outcome: fine paid, auto improcedente, fine annulled on appeal or
registered in the dívida ativa.

Service tasks are completed as the worker would (``complete_service_task`` with the job ids of
``external_jobs``); notifications go through ``notificacao`` (e-mail + ciência); timers fire by moving the
frozen clock. The sanctioning procedure's own details (dosimetry, appeal timeliness...) are in
``test_proc_sancionatorio.py`` and ``test_proc_recurso.py``, whose form submissions are reused here.

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
from engine.runtime import CaseResult, Runtime
from engine.store.models import AuditEvent, Case, Deadline, ExternalJob, OpenTask
from tasks import registry
from tasks.context import TaskContext, TaskSettings
from tasks.documents import build_model
from tests.engine.test_proc_recurso import ANALISE, admissibilidade, julgamento, registro
from tests.engine.test_proc_sancionatorio import (
    DEFESA,
    RECEBIMENTO,
    SENT,
    decisao,
    dosimetria,
    instrucao,
    outcomes_of,
    pagamento,
)

PROCESS = "fiscalizacao"
SANCIONATORIO = "processo_sancionatorio"
SP = ZoneInfo("America/Sao_Paulo")

DENUNCIA = {
    "denuncia_origem": "anonima", "denunciante_nome": "", "denunciante_cpf": "", "denunciante_email": "",
    "fornecedor_cnpj": "12.ABC.345/01DE-35", "fornecedor_nome": "Mercado Exemplo Ltda",
    "fornecedor_endereco": "Rua das Flores, 123 – Centro – São Paulo/SP", "denuncia_abrangencia": "coletiva",
    "denuncia_fatos": "Produtos expostos sem preço nas gôndolas desde janeiro.",
}
RELATORIO = {"fiscalizacao_data": "10/03/2026", "fiscalizacao_local": "Rua das Flores, 123 – loja térrea",
             "fornecedor_email": "juridico@mercadoexemplo.com.br",
             "fiscalizacao_constatacoes": "42 produtos sem preço na seção de limpeza."}


def auto(drawn_on: dt.date) -> dict[str, str]:
    """The sanctioning procedure's "Lavrar auto de infração" form, as the fiscal fills it in."""
    return {
        "origem": "fiscalizacao", "reclamacao_protocolo": "", "auto_numero": "CAP-AI-2026/015",
        "data_lavratura": drawn_on.strftime("%d/%m/%Y"), "hora_lavratura": "16", "minuto_lavratura": "0",
        "local_infracao": RELATORIO["fiscalizacao_local"], "fornecedor_cnpj": DENUNCIA["fornecedor_cnpj"],
        "fornecedor_nome": DENUNCIA["fornecedor_nome"], "fornecedor_endereco": DENUNCIA["fornecedor_endereco"],
        "fornecedor_email": RELATORIO["fornecedor_email"],
        "fatos": "Exposição de 42 produtos sem informação de preço.",
        "dispositivo_infringido": "Lei 8.078/1990, art. 31; Decreto 2.181/1997, art. 13, I.",
        "determinacao": "Afixar os preços de todos os produtos expostos.", "fiscal_nome": "Fábio Fiscal",
        "fiscal_matricula": "F-1234", "orgao_julgador": "Diretoria de Fiscalização do Procon",
    }


DEFESA_FILED = {**DEFESA, "defesa_data_protocolo": "20/03/2026"}
AUTO_REF = {"documento_id": 9, "codigo": "K7Q4-M2XP-9TDA", "sha256": "2" * 64}
DECISAO_REF = {"documento_id": 10, "codigo": "DECI-CODE-0010"}


def local(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=SP).astimezone(dt.UTC)


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return local(day.year, day.month, day.day, hour)


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


def legal(rt: Runtime, case_id: int, spec_name: str) -> Deadline:
    """The one legal deadline (timer) of ``spec_name`` on the case."""
    [row] = [d for d in deadlines(rt, case_id) if d.kind == "legal" and d.spec_name == spec_name]
    return row


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


def finish_job(rt: Runtime, result: CaseResult, spec_name: str, output: Mapping[str, Any]
               ) -> tuple[ExternalJob, CaseResult]:
    """Complete the single pending service task, which must be ``spec_name``, as the worker would."""
    assert result.open_tasks == [] and result.status == "aberto"
    [job] = [j for j in jobs(rt, result.case_id) if j.status == "pendente"]
    assert job.spec_name == spec_name
    return job, rt.complete_service_task(job.id, output, worker="teste")


def deliver(rt: Runtime, frozen_clock: clock.FrozenClock, result: CaseResult, read_on: dt.date,
            atendente: Actor) -> tuple[ExternalJob, CaseResult]:
    """The ``notificacao`` procedure: the e-mail goes to the supplier and the atendente records when it
    was read (on ``read_on``)."""
    email, result = finish_job(rt, result, "enviar_notificacao", SENT)
    assert (email.topic, email.payload["email_para"]) == ("enviar_email", RELATORIO["fornecedor_email"])
    frozen_clock.set(at(read_on))
    result = step(rt, result, "registrar_ciencia", atendente,
                  {"notificacao_ciencia_em": read_on.isoformat(), "notificacao_ciencia_meio": "confirmacao_leitura"})
    return email, result


def fire_deadline(rt: Runtime, frozen_clock: clock.FrozenClock, result: CaseResult, spec_name: str) -> CaseResult:
    """Let the legal deadline ``spec_name`` pass (nothing fires on its last day) and the worker fire it."""
    due = legal(rt, result.case_id, spec_name).due_at
    frozen_clock.set(due)
    assert rt.fire_due_timers() == 0
    frozen_clock.set(due + dt.timedelta(minutes=1))
    assert rt.fire_due_timers() == 1
    case = load_case(rt, result.case_id)
    return CaseResult(case.id, case.protocol, case.version, case.status, list(open_tasks(rt, case.id)))


def assert_closed(rt: Runtime, result: CaseResult, outcome: str) -> Case:
    assert (result.status, result.open_tasks) == ("encerrado", [])
    case = load_case(rt, result.case_id)
    assert (case.status, case.outcome, case.closed_at) == ("encerrado", outcome, clock.now())
    assert case.process_id == PROCESS
    assert open_tasks(rt, result.case_id) == []
    assert [j.spec_name for j in jobs(rt, result.case_id) if j.status != "concluido"] == []
    assert [d.spec_name for d in deadlines(rt, result.case_id) if d.fired_at is None and d.met_at is None] == []
    assert trail(rt, result.case_id)[-1][0] == "encerrado"
    # The document generator's "prazo_dias" never reaches the case data (every later script would fail).
    assert "prazo_dias" not in case.data
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


@pytest.fixture
def autoridade_2() -> Actor:
    return Actor("otavio", "Otávio Autoridade", frozenset({"autoridade"}))


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


def sanctioning_started(rt: Runtime, result: CaseResult) -> Any:
    """The call activity started ``processo_sancionatorio`` inside the same case: its first task is the
    fiscal's auto, and it received the denúncia and the report under the names it reads."""
    lavrar = only_task(result, "lavrar_auto")
    assert (lavrar.title, lavrar.role, lavrar.form_key, lavrar.case_id) == (
        "Lavrar auto de infração", "fiscal", "sancionatorio_auto_infracao", result.case_id)
    case = load_case(rt, result.case_id)
    assert (case.process_id, case.status) == (PROCESS, "aberto")
    assert {k: case.data[k] for k in ("origem", "fornecedor_cnpj", "fornecedor_nome", "fornecedor_endereco",
                                      "fornecedor_email", "local_infracao", "fatos")} == {
        "origem": "fiscalizacao", "fornecedor_cnpj": DENUNCIA["fornecedor_cnpj"],
        "fornecedor_nome": DENUNCIA["fornecedor_nome"], "fornecedor_endereco": DENUNCIA["fornecedor_endereco"],
        "fornecedor_email": RELATORIO["fornecedor_email"], "local_infracao": RELATORIO["fiscalizacao_local"],
        "fatos": RELATORIO["fiscalizacao_constatacoes"]}
    return lavrar


def auto_until_defence(rt: Runtime, frozen_clock: clock.FrozenClock, result: CaseResult, fiscal: Actor,
                       atendente: Actor, drawn_on: dt.date, read_on: dt.date) -> CaseResult:
    """The fiscal draws up the auto on ``drawn_on``; it is generated and notified, and read on ``read_on``:
    the defence deadline (20 calendar days) counts from then."""
    sanctioning_started(rt, result)
    frozen_clock.set(at(drawn_on, 16))
    result = step(rt, result, "lavrar_auto", fiscal, auto(drawn_on))
    job, result = finish_job(rt, result, "doc_gerar [child]", {"documento_auto_infracao": AUTO_REF})
    assert (job.topic, job.payload["documento_tipo"]) == ("gerar_documento", "auto_infracao")
    email, result = deliver(rt, frozen_clock, result, read_on, atendente)
    assert email.payload["email_assunto"] == "Auto de infração nº CAP-AI-2026/015 — notificação"
    assert AUTO_REF["codigo"] in email.payload["email_corpo"]
    defence = only_task(result, "registrar_defesa")
    timer = legal(rt, result.case_id, "prazo_defesa")
    assert (timer.legal_kind, timer.days, timer.mode, timer.starts_at) == ("defesa", 20, "corridos", at(read_on))
    assert defence.due_at == timer.due_at
    data = load_case(rt, result.case_id).data
    assert (data["documento_auto_infracao"], data["auto_ciencia_em"], data["revelia"]) == (
        AUTO_REF, read_on.isoformat(), False)
    return result


def decided(rt: Runtime, frozen_clock: clock.FrozenClock, result: CaseResult, analista: Actor,
            autoridade: Actor, resultado: str, decided_on: dt.date) -> CaseResult:
    """Instruction without a hearing and the first-instance decision on ``decided_on``."""
    result = step(rt, result, "instruir_processo", analista, instrucao("nao"))
    frozen_clock.set(at(decided_on))
    return step(rt, result, "decidir_primeira_instancia", autoridade,
                decisao(resultado, decided_on.strftime("%d/%m/%Y")))


def fine_notified(rt: Runtime, frozen_clock: clock.FrozenClock, result: CaseResult, autoridade: Actor,
                  atendente: Actor, read_on: dt.date) -> CaseResult:
    """The fine (1,000,000.00 x 0.03 + 12,345.67), the decision document and its notice, read on ``read_on``;
    the appeal window is open."""
    result = step(rt, result, "fixar_multa", autoridade, dosimetria())
    _job, result = finish_job(rt, result, "doc_gerar [child]", {"documento_decisao": DECISAO_REF})
    email, result = deliver(rt, frozen_clock, result, read_on, atendente)
    assert "R$ 42.345,67" in email.payload["email_corpo"]
    only_task(result, "receber_recurso")
    data = load_case(rt, result.case_id).data
    assert (data["multa_valor"], data["multa_situacao"]) == ("42345.67", "em_prazo_recursal")
    return result


def payment_notified(rt: Runtime, frozen_clock: clock.FrozenClock, result: CaseResult, atendente: Actor
                     ) -> CaseResult:
    """No appeal: the appeal window goes by, the decision is final and the payment notice is read the next
    working day after it."""
    result = fire_deadline(rt, frozen_clock, result, "prazo_recurso")
    assert legal(rt, result.case_id, "prazo_recurso").outcome == "vencido"
    read_on = (clock.now() + dt.timedelta(days=3)).astimezone(SP).date()
    email, result = deliver(rt, frozen_clock, result, read_on, atendente)
    assert email.payload["email_assunto"] == "Notificação para pagamento de multa"
    only_task(result, "registrar_pagamento")
    assert load_case(rt, result.case_id).data["multa_situacao"] == "exigivel"
    return result


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
    # With no consumer in the case, its title is the supplier's name (lists show who the case is about).
    assert case.title == DENUNCIA["fornecedor_nome"] and case.summary == {
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


def test_irregularity_found_auto_judged_improcedente(runtime: Runtime, frozen_clock: clock.FrozenClock,
                                                     atendente: Actor, analista: Actor, fiscal: Actor,
                                                     autoridade: Actor) -> None:
    """The fiscal concludes for an auto: the sanctioning procedure starts in the same case with the auto (drawn
    up once, there); the supplier files a defence and the authority judges the auto improcedente."""
    result = until_inspection(runtime, frozen_clock, atendente, analista)
    frozen_clock.set(local(2026, 3, 10, 17))
    result = step(runtime, result, "realizar_fiscalizacao", fiscal, relatorio("auto"))
    with pytest.raises(PermissionDenied):  # the auto is the fiscal's
        step(runtime, result, "lavrar_auto", analista, auto(dt.date(2026, 3, 11)))
    # Drawn up Wednesday 11 March, read Thursday 12 March: defence until Wednesday 1 April.
    result = auto_until_defence(runtime, frozen_clock, result, fiscal, atendente, dt.date(2026, 3, 11),
                                dt.date(2026, 3, 12))
    assert legal(runtime, result.case_id, "prazo_defesa").due_at == end_of_day(dt.date(2026, 4, 1))
    frozen_clock.set(local(2026, 3, 20))
    result = step(runtime, result, "registrar_defesa", analista, DEFESA_FILED)
    assert legal(runtime, result.case_id, "prazo_defesa").outcome == "cumprido"
    result = decided(runtime, frozen_clock, result, analista, autoridade, "improcedente", dt.date(2026, 3, 25))
    email, result = deliver(runtime, frozen_clock, result, dt.date(2026, 3, 26), atendente)
    assert email.payload["email_assunto"] == "Auto de infração julgado improcedente"

    case = assert_closed(runtime, result, "Encerrada: auto improcedente")
    assert outcomes_of(runtime, result.case_id, SANCIONATORIO) == ["Encerrada: auto de infração improcedente"]
    assert (case.data["fiscalizacao_conclusao"], case.data["multa_situacao"], case.data["revelia"]) == (
        "auto", "nao_aplicada", False)
    assert "multa_valor" not in case.data
    # One auto only, drawn up inside the sanctioning procedure.
    assert [j.payload["documento_tipo"] for j in jobs(runtime, result.case_id) if j.topic == "gerar_documento"] == [
        "auto_infracao"]
    assert [(d.kind, d.spec_name, d.outcome) for d in deadlines(runtime, result.case_id)
            if d.spec_name in ("triagem_denuncia", "realizar_fiscalizacao", "prazo_defesa")] == [
        ("interno", "triagem_denuncia", "cumprido"),
        ("interno", "realizar_fiscalizacao", "cumprido"),
        ("legal", "prazo_defesa", "cumprido"),
    ]
    steps = [(a, s) for a, s, _ in trail(runtime, result.case_id) if a in ("iniciado", "tarefa_concluida")]
    assert steps == [
        ("iniciado", None),
        ("tarefa_concluida", "registrar_denuncia"),
        ("tarefa_concluida", "triagem_denuncia"),
        ("tarefa_concluida", "realizar_fiscalizacao"),
        ("tarefa_concluida", "lavrar_auto"),
        ("tarefa_concluida", "registrar_ciencia"),
        ("tarefa_concluida", "registrar_defesa"),
        ("tarefa_concluida", "instruir_processo"),
        ("tarefa_concluida", "decidir_primeira_instancia"),
        ("tarefa_concluida", "registrar_ciencia"),
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
    assert jobs(runtime, result.case_id) == []


def test_archive_reformed_revelia_fine_paid(runtime: Runtime, frozen_clock: clock.FrozenClock,
                                           atendente: Actor, analista: Actor, fiscal: Actor,
                                           autoridade: Actor) -> None:
    """The authority reforms the proposed archive: the sanctioning procedure starts. The supplier stays silent:
    the defence deadline fires inside the call activity (revelia); the fine is not appealed and is paid."""
    result = until_inspection(runtime, frozen_clock, atendente, analista)
    frozen_clock.set(local(2026, 3, 10, 17))
    result = step(runtime, result, "realizar_fiscalizacao", fiscal, relatorio("arquivar"))
    frozen_clock.set(local(2026, 3, 20, 11))
    result = step(runtime, result, "revisar_arquivamento", autoridade, revisao("lavrar_auto"))
    assert legal(runtime, result.case_id, "prazo_revisao").outcome == "cumprido"
    # Drawn up Monday 23 March, read Tuesday 24 March: defence until Monday 13 April.
    result = auto_until_defence(runtime, frozen_clock, result, fiscal, atendente, dt.date(2026, 3, 23),
                                dt.date(2026, 3, 24))
    due = end_of_day(dt.date(2026, 4, 13))
    assert legal(runtime, result.case_id, "prazo_defesa").due_at == due

    result = fire_deadline(runtime, frozen_clock, result, "prazo_defesa")
    fired = legal(runtime, result.case_id, "prazo_defesa")
    assert (fired.outcome, fired.fired_at, fired.met_at) == ("vencido", due + dt.timedelta(minutes=1), None)
    assert ("prazo_vencido", "prazo_defesa", "sistema") in trail(runtime, result.case_id)
    only_task(result, "instruir_processo")
    data = load_case(runtime, result.case_id).data
    assert data["revelia"] is True and "13/04/2026" in data["revelia_certidao"]

    result = decided(runtime, frozen_clock, result, analista, autoridade, "procedente", dt.date(2026, 4, 15))
    result = fine_notified(runtime, frozen_clock, result, autoridade, atendente, dt.date(2026, 4, 16))
    result = payment_notified(runtime, frozen_clock, result, atendente)
    result = step(runtime, result, "registrar_pagamento", analista,
                  pagamento(clock.now().astimezone(SP).strftime("%d/%m/%Y"), "42.345,67"))

    case = assert_closed(runtime, result, "Encerrada: multa paga")
    assert outcomes_of(runtime, result.case_id, SANCIONATORIO) == ["Encerrada: multa paga"]
    assert [j.payload["documento_tipo"] for j in jobs(runtime, result.case_id) if j.topic == "gerar_documento"] == [
        "auto_infracao", "decisao"]
    assert (case.data["revisao_decisao"], case.data["multa_situacao"], case.data["pagamento_valor"]) == (
        "lavrar_auto", "paga", "42345.67")
    assert legal(runtime, result.case_id, "prazo_pagamento").outcome == "cumprido"


def test_auto_fine_unpaid_registered_in_divida_ativa(runtime: Runtime, frozen_clock: clock.FrozenClock,
                                                     atendente: Actor, analista: Actor, fiscal: Actor,
                                                     autoridade: Actor) -> None:
    result = until_inspection(runtime, frozen_clock, atendente, analista)
    frozen_clock.set(local(2026, 3, 10, 17))
    result = step(runtime, result, "realizar_fiscalizacao", fiscal, relatorio("auto"))
    result = auto_until_defence(runtime, frozen_clock, result, fiscal, atendente, dt.date(2026, 3, 11),
                                dt.date(2026, 3, 12))
    result = step(runtime, result, "registrar_defesa", analista, DEFESA_FILED)
    result = decided(runtime, frozen_clock, result, analista, autoridade, "procedente", dt.date(2026, 3, 25))
    result = fine_notified(runtime, frozen_clock, result, autoridade, atendente, dt.date(2026, 3, 26))
    result = payment_notified(runtime, frozen_clock, result, atendente)
    # Not paid: the late-payment task, then the dívida ativa deadline, then the registration (an HTTP job).
    result = fire_deadline(runtime, frozen_clock, result, "prazo_pagamento")
    only_task(result, "registrar_pagamento_atraso")
    result = fire_deadline(runtime, frozen_clock, result, "prazo_divida_ativa")
    job, result = finish_job(runtime, result, "inscrever_divida_ativa",
                             {"divida_ativa_numero": "DA-2026-000777", "divida_ativa_inscrita_em": "2026-05-20"})
    assert {k: job.payload[k] for k in ("fornecedor_cnpj", "fornecedor_nome", "multa_valor")} == {
        "fornecedor_cnpj": DENUNCIA["fornecedor_cnpj"], "fornecedor_nome": DENUNCIA["fornecedor_nome"],
        "multa_valor": "42345.67"}

    case = assert_closed(runtime, result, "Encerrada: inscrita em dívida ativa")
    assert outcomes_of(runtime, result.case_id, SANCIONATORIO) == ["Inscrita em dívida ativa"]
    assert (case.data["multa_situacao"], case.data["divida_ativa_numero"]) == ("inscrita_divida_ativa",
                                                                               "DA-2026-000777")
    assert [(d.spec_name, d.outcome) for d in deadlines(runtime, result.case_id) if d.kind == "legal"
            and d.spec_name in ("prazo_pagamento", "prazo_divida_ativa")] == [
        ("prazo_pagamento", "vencido"), ("prazo_divida_ativa", "vencido")]


def test_auto_fine_annulled_on_appeal(runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor,
                                     analista: Actor, fiscal: Actor, autoridade: Actor,
                                     autoridade_2: Actor) -> None:
    result = until_inspection(runtime, frozen_clock, atendente, analista)
    frozen_clock.set(local(2026, 3, 10, 17))
    result = step(runtime, result, "realizar_fiscalizacao", fiscal, relatorio("auto"))
    result = auto_until_defence(runtime, frozen_clock, result, fiscal, atendente, dt.date(2026, 3, 11),
                                dt.date(2026, 3, 12))
    result = step(runtime, result, "registrar_defesa", analista, DEFESA_FILED)
    result = decided(runtime, frozen_clock, result, analista, autoridade, "procedente", dt.date(2026, 3, 25))
    # Decision read Thursday 26 March: appeal window until Sunday 5 April -> Monday 6 April.
    result = fine_notified(runtime, frozen_clock, result, autoridade, atendente, dt.date(2026, 3, 26))
    assert legal(runtime, result.case_id, "prazo_recurso").due_at == end_of_day(dt.date(2026, 4, 6))
    frozen_clock.set(local(2026, 3, 30, 15))
    result = step(runtime, result, "receber_recurso", analista, RECEBIMENTO)
    result = step(runtime, result, "registrar_recurso", analista, registro("30/03/2026", "anulacao"))
    assert load_case(runtime, result.case_id).data["recurso_tempestivo"] is True
    result = step(runtime, result, "examinar_admissibilidade", analista, admissibilidade("sim"))
    result = step(runtime, result, "analisar_recurso", analista, ANALISE)
    frozen_clock.set(local(2026, 4, 8))
    result = step(runtime, result, "julgar_recurso", autoridade_2, julgamento("anulada"))
    email, result = deliver(runtime, frozen_clock, result, dt.date(2026, 4, 9), atendente)
    assert email.payload["email_assunto"] == "Recurso provido — multa anulada"

    case = assert_closed(runtime, result, "Encerrada: multa anulada")
    assert outcomes_of(runtime, result.case_id, SANCIONATORIO) == ["Encerrada: multa anulada em recurso"]
    assert (case.data["multa_situacao"], case.data["recurso_resultado"]) == ("anulada", "anulada")
    assert [j.topic for j in jobs(runtime, result.case_id) if j.topic == "inscrever_divida_ativa"] == []


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
    """What tasks/documents.py needs for the auto drawn up in the sanctioning procedure from an inspection."""
    result = until_inspection(runtime, frozen_clock, atendente, analista)
    result = step(runtime, result, "realizar_fiscalizacao", fiscal, relatorio("auto"))
    frozen_clock.set(local(2026, 3, 11, 16))
    result = step(runtime, result, "lavrar_auto", fiscal, auto(dt.date(2026, 3, 11)))
    [job] = jobs(runtime, result.case_id)
    assert (job.topic, job.spec_name, job.status) == ("gerar_documento", "doc_gerar [child]", "pendente")
    context = TaskContext(settings=TaskSettings(), case_id=result.case_id, protocol=result.protocol, unit="CAP",
                          now=clock.now())
    model = build_model("auto_infracao", job.payload, context, "K7Q4-M2XP-9TDA")
    assert model["titulo"] == "Auto de Infração nº CAP-AI-2026/015"
    # The defence deadline as if read today: 20 calendar days from Wednesday 11 March -> Tuesday 31 March.
    assert (model["prazo"]["dias"], model["prazo"]["vencimento"]) == (20, "31/03/2026")
    assert (model["lavratura_data"], model["lavratura_hora"]) == ("11/03/2026", "16:00")
    assert (model["fornecedor_cnpj"], model["fiscal_matricula"]) == (DENUNCIA["fornecedor_cnpj"], "F-1234")
    assert job.payload["local_infracao"] == RELATORIO["fiscalizacao_local"]
