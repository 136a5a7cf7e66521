"""The parties' own lanes, walked by the parties themselves: a consumer files the complaint and answers
the supplier's proposal, confirms a hearing and says whether the agreement was kept; a supplier answers the
CIP, files the defence and the appeal. Another consumer (B) or another supplier (Y) is refused on A's / X's
case, and a party is refused the other party's tasks.

Runs on SQLite by default and on PostgreSQL when ``DATABASE_URL`` is set.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pytest
from sqlalchemy import select

from engine import clock
from engine.actors import Actor
from engine.errors import PermissionDenied
from engine.parties.models import CaseParty
from engine.runtime import CaseResult, Runtime
from tasks import registry
from tests.engine import test_proc_audiencia as aud
from tests.engine import test_proc_sancionatorio as sanc
from tests.engine.test_engine_paths import (
    CIP,
    PRELIM_NAO_RESOLVIDA,
    analise,
    assert_closed,
    deadlines,
    end_of_day,
    load_case,
    local,
    only_task,
    step,
    trail,
)

CPF_A, CPF_B = "529.982.247-25", "168.995.350-09"  # as the forms store them (canonical_cpf)
CNPJ_X, CNPJ_Y = "12.ABC.345/01DE-35", "11.222.333/0001-81"  # as the forms store them (canonical_cnpj)

CONSUMIDOR_A = Actor("cpf-a", "João da Silva", frozenset({"consumidor"}), parties=frozenset({("consumidor", CPF_A)}))
CONSUMIDOR_B = Actor("cpf-b", "Paulo Costa", frozenset({"consumidor"}), parties=frozenset({("consumidor", CPF_B)}))
FORNECEDOR_X = Actor("rep-x", "Maria (Loja Exemplo)", frozenset({"fornecedor"}),
                     parties=frozenset({("fornecedor", CNPJ_X)}))
FORNECEDOR_Y = Actor("rep-y", "Rui (Outra Loja)", frozenset({"fornecedor"}),
                     parties=frozenset({("fornecedor", CNPJ_Y)}))

RESPOSTA_COM_PROPOSTA = {"resposta_fornecedor": "O produto será trocado.",
                         "proposta_acordo": "Troca da geladeira em 5 dias úteis, com frete por nossa conta."}


def refused(rt: Runtime, result: CaseResult, spec_name: str, actors: list[Actor], values: Mapping[str, str]) -> None:
    """Each of ``actors`` is refused both taking and completing the open task ``spec_name``; nothing changes."""
    task = next(t for t in result.open_tasks if t.spec_name == spec_name)
    version = load_case(rt, result.case_id).version
    for actor in actors:
        with pytest.raises(PermissionDenied):
            rt.claim(result.case_id, task.task_id, actor)
        with pytest.raises(PermissionDenied):
            rt.complete_task(result.case_id, task.task_id, actor, values)
    assert load_case(rt, result.case_id).version == version


def filed_by_consumer(rt: Runtime, atendente: Actor, complaint: Mapping[str, str]) -> CaseResult:
    """Consumer A files through the portal; the attendant makes the preliminary contact and sends the CIP."""
    result = rt.start_case("reclamacao", CONSUMIDOR_A, dict(complaint, canal="portal"))
    result = step(rt, result, "atendimento_preliminar", atendente, PRELIM_NAO_RESOLVIDA)
    return step(rt, result, "emitir_cip", atendente, CIP)


def answered_with_proposal(rt: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor,
                           complaint: Mapping[str, str]) -> CaseResult:
    result = filed_by_consumer(rt, atendente, complaint)
    answer = only_task(result, "registrar_resposta")
    assert (answer.title, answer.role, answer.form_key) == ("Responder à CIP", "fornecedor", "resposta_fornecedor")
    # Another supplier, and the consumer, may not answer the CIP.
    refused(rt, result, "registrar_resposta", [FORNECEDOR_Y, CONSUMIDOR_A, CONSUMIDOR_B], RESPOSTA_COM_PROPOSTA)
    frozen_clock.set(local(2026, 3, 5, 16))  # Thursday 5 March
    rt.claim(result.case_id, answer.task_id, FORNECEDOR_X)
    result = step(rt, result, "registrar_resposta", FORNECEDOR_X, RESPOSTA_COM_PROPOSTA)
    proposal = only_task(result, "avaliar_proposta")
    assert (proposal.title, proposal.role, proposal.form_key) == (
        "Avaliar a proposta do fornecedor", "consumidor", "avaliacao_proposta")
    # 10 calendar days from Thursday 5 March -> Sunday 15 March, moved to Monday 16 March.
    assert proposal.due_at == end_of_day(dt.date(2026, 3, 16))
    data = load_case(rt, result.case_id).data
    assert (data["data_resposta"], data["fornecedor_propos_acordo"], data["proposta_acordo"]) == (
        "2026-03-05", True, RESPOSTA_COM_PROPOSTA["proposta_acordo"])
    # Only consumer A answers the proposal: not the supplier, not another consumer.
    refused(rt, result, "avaliar_proposta", [FORNECEDOR_X, FORNECEDOR_Y, CONSUMIDOR_B],
            {"proposta_resposta": "aceita"})
    return result


@pytest.fixture
def runtime(runtime: Runtime) -> Runtime:
    registry.load_handlers()
    return runtime


# -- the complaint ------------------------------------------------------------------------------------------
def test_consumer_files_and_accepts_the_suppliers_proposal(runtime: Runtime, frozen_clock: clock.FrozenClock,
                                                           atendente: Actor, complaint: dict[str, str]) -> None:
    result = answered_with_proposal(runtime, frozen_clock, atendente, complaint)
    with runtime.Session() as session:
        parties = {(p.role, p.party_key) for p in session.scalars(
            select(CaseParty).where(CaseParty.case_id == result.case_id))}
    assert parties == {("consumidor", CPF_A), ("fornecedor", CNPJ_X)}

    frozen_clock.set(local(2026, 3, 6, 9))
    result = step(runtime, result, "avaliar_proposta", CONSUMIDOR_A,
                  {"proposta_resposta": "aceita", "proposta_comentario": ""})
    case = assert_closed(runtime, result, "Encerrada: resolvida por acordo", frozen_clock())
    assert case.data["canal"] == "portal"
    assert trail(runtime, result.case_id) == [
        ("iniciado", None, "cpf-a"),
        ("tarefa_concluida", "registrar_reclamacao", "cpf-a"),
        ("tarefa_concluida", "atendimento_preliminar", "ana"),
        ("tarefa_concluida", "emitir_cip", "ana"),
        ("tarefa_assumida", "registrar_resposta", "rep-x"),
        ("tarefa_concluida", "registrar_resposta", "rep-x"),
        ("etapas_automaticas", None, "rep-x"),
        ("tarefa_concluida", "avaliar_proposta", "cpf-a"),
        ("encerrado", None, "cpf-a"),
    ]
    legal = {d.spec_name: d.outcome for d in deadlines(runtime, result.case_id) if d.kind == "legal"}
    assert legal == {"prazo_cip": "cumprido", "prazo_avaliacao": "cumprido"}


def test_consumer_refuses_the_proposal_the_analyst_decides(runtime: Runtime, frozen_clock: clock.FrozenClock,
                                                           atendente: Actor, analista: Actor,
                                                           complaint: dict[str, str]) -> None:
    result = answered_with_proposal(runtime, frozen_clock, atendente, complaint)
    result = step(runtime, result, "avaliar_proposta", CONSUMIDOR_A,
                  {"proposta_resposta": "recusada", "proposta_comentario": "Quero o dinheiro de volta."})
    analysis = only_task(result, "analisar_reclamacao")
    assert analysis.role == "analista"
    refused(runtime, result, "analisar_reclamacao", [CONSUMIDOR_A, FORNECEDOR_X], analise("resolvida"))
    data = load_case(runtime, result.case_id).data
    assert (data["proposta_resposta"], data["proposta_comentario"]) == ("recusada", "Quero o dinheiro de volta.")
    result = step(runtime, result, "analisar_reclamacao", analista, analise("fundamentada_nao_atendida"))
    assert_closed(runtime, result, "Encerrada: fundamentada não atendida", frozen_clock())


def test_consumer_silent_on_the_proposal_goes_to_the_analyst(runtime: Runtime, frozen_clock: clock.FrozenClock,
                                                             atendente: Actor, complaint: dict[str, str]) -> None:
    result = answered_with_proposal(runtime, frozen_clock, atendente, complaint)
    frozen_clock.set(end_of_day(dt.date(2026, 3, 16)))
    assert runtime.fire_due_timers() == 0
    result = sanc.fire(runtime, frozen_clock, end_of_day(dt.date(2026, 3, 16)) + dt.timedelta(seconds=1),
                       result.case_id)
    only_task(result, "analisar_reclamacao")
    case = load_case(runtime, result.case_id)
    assert case.data["proposta_resposta"] == "sem_resposta"
    assert case.data["proposta_comentario"] == "O consumidor não respondeu à proposta no prazo."
    [missed] = [d for d in deadlines(runtime, result.case_id) if d.spec_name == "prazo_avaliacao"]
    assert (missed.attached_to, missed.outcome) == ("avaliar_proposta", "vencido")


def test_staff_register_a_partys_answer_on_its_behalf(runtime: Runtime, frozen_clock: clock.FrozenClock,
                                                      atendente: Actor, analista: Actor, conciliador: Actor,
                                                      complaint: dict[str, str]) -> None:
    """The answer came by post: an analyst registers the supplier's, a conciliator the consumer's."""
    result = filed_by_consumer(runtime, atendente, complaint)
    refused(runtime, result, "registrar_resposta", [conciliador], RESPOSTA_COM_PROPOSTA)  # not a supplier proxy
    result = step(runtime, result, "registrar_resposta", analista, RESPOSTA_COM_PROPOSTA)
    refused(runtime, result, "avaliar_proposta", [analista], {"proposta_resposta": "aceita"})  # not a consumer proxy
    result = step(runtime, result, "avaliar_proposta", conciliador, {"proposta_resposta": "aceita"})
    assert_closed(runtime, result, "Encerrada: resolvida por acordo", frozen_clock())


# -- the sanctioning process ------------------------------------------------------------------------------------
def test_supplier_files_its_defence_and_its_appeal(runtime: Runtime, frozen_clock: clock.FrozenClock) -> None:
    result = sanc.until_defence(runtime, frozen_clock)
    defence = only_task(result, "registrar_defesa")
    assert (defence.title, defence.role, defence.form_key) == (
        "Apresentar defesa", "fornecedor", "sancionatorio_defesa")
    refused(runtime, result, "registrar_defesa", [FORNECEDOR_Y, CONSUMIDOR_A], sanc.DEFESA)
    frozen_clock.set(local(2026, 3, 10, 11))
    result = step(runtime, result, "registrar_defesa", FORNECEDOR_X, sanc.DEFESA)
    assert sanc.legal(runtime, result.case_id, "prazo_defesa").outcome == "cumprido"
    result = step(runtime, result, "instruir_processo", sanc.ANALISTA, sanc.instrucao("nao"))
    frozen_clock.set(local(2026, 3, 20))
    result = step(runtime, result, "decidir_primeira_instancia", sanc.AUTORIDADE,
                  sanc.decisao("procedente", "20/03/2026"))
    result = step(runtime, result, "fixar_multa", sanc.AUTORIDADE, sanc.dosimetria())
    _job, result = sanc.finish_job(runtime, result, "doc_gerar [child]",
                                   {"documento_decisao": {"documento_id": 2, "codigo": "DECI-CODE-0002"}})
    frozen_clock.set(local(2026, 3, 23))
    _email, result = sanc.deliver(runtime, result, "2026-03-23")

    appeal = only_task(result, "receber_recurso")
    assert (appeal.title, appeal.role) == ("Interpor recurso", "fornecedor")
    values = {"recurso_interposicao": "A multa ignora o porte da loja.", "recurso_canal": "portal"}
    refused(runtime, result, "receber_recurso", [FORNECEDOR_Y, CONSUMIDOR_A], values)
    frozen_clock.set(local(2026, 3, 31, 17))  # in the appeal window (it ends on Thursday 2 April)
    result = step(runtime, result, "receber_recurso", FORNECEDOR_X, values)
    # The appeal started: the filing date is the engine's, the analyst registers it and timeliness is recorded.
    registration = only_task(result, "registrar_recurso")
    assert registration.role == "analista"
    data = load_case(runtime, result.case_id).data
    assert (data["recurso_interposto_em"], data["recurso_canal"], data["multa_situacao"]) == (
        "2026-03-31", "portal", "suspensa_por_recurso")
    # Filed through the portal: the protocol date is the filing date, already filled in for the analyst.
    assert data["recurso_data_protocolo"] == "2026-03-31"
    result = step(runtime, result, "registrar_recurso", sanc.ANALISTA, {
        "recurso_data_protocolo": "31/03/2026", "recurso_pedido": "reducao",
        "recurso_razoes": data["recurso_interposicao"]})
    data = load_case(runtime, result.case_id).data
    assert data["recurso_tempestivo"] is True
    assert data["recurso_tempestividade"].startswith("Tempestivo: recurso protocolado em 31/03/2026")


# -- the hearing ----------------------------------------------------------------------------------------------
def test_consumer_confirms_the_hearing_and_says_the_agreement_was_kept(
        runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor, conciliador: Actor) -> None:
    result = aud.start_called(runtime, atendente, aud.PARTES)
    result = step(runtime, result, "agendar_audiencia", conciliador, aud.AGENDAMENTO)
    _job, result = aud.finish_job(runtime, result.case_id, "convidar_consumidor", aud.SENT)
    _job, result = aud.finish_job(runtime, result.case_id, "enviar_notificacao", aud.SENT)
    result = step(runtime, result, "registrar_ciencia", atendente,
                  {"notificacao_ciencia_em": "03/03/2026", "notificacao_ciencia_meio": "confirmacao_leitura"})
    asked = only_task(result, "confirmar_presenca")
    assert (asked.role, asked.due_at) == ("consumidor", local(2026, 3, 20, 14, 30))
    refused(runtime, result, "confirmar_presenca", [CONSUMIDOR_B, FORNECEDOR_X], aud.CONFIRMA)
    result = step(runtime, result, "confirmar_presenca", CONSUMIDOR_A, aud.CONFIRMA)
    hearing = only_task(result, "realizar_audiencia")
    refused(runtime, result, "realizar_audiencia", [CONSUMIDOR_A], aud.registro("acordo"))
    frozen_clock.set(local(2026, 3, 20, 15))
    result = runtime.complete_task(result.case_id, hearing.task_id, conciliador, aud.registro("acordo"))
    result = step(runtime, result, "registrar_acordo", conciliador, aud.ACORDO)
    _job, result = aud.finish_job(runtime, result.case_id, "gerar_termo",
                                  {"documento_termo_audiencia": {"documento_id": 9}})
    result = sanc.fire(runtime, frozen_clock, end_of_day(dt.date(2026, 3, 30)) + dt.timedelta(seconds=1),
                       result.case_id)
    asked = only_task(result, "verificar_acordo")
    assert (asked.role, asked.title) == ("consumidor", "Informar se o acordo foi cumprido")
    kept = {"acordo_cumprimento": "cumprido", "acordo_verificacao_relato": "Recebi o reembolso em 25/03."}
    refused(runtime, result, "verificar_acordo", [CONSUMIDOR_B, FORNECEDOR_X, FORNECEDOR_Y], kept)
    result = step(runtime, result, "verificar_acordo", CONSUMIDOR_A, kept)
    case = load_case(runtime, result.case_id)
    assert (case.status, case.outcome) == ("encerrado", "Reclamação segue")
    assert (case.data["audiencia_presenca"], case.data["audiencia_resultado"]) == ("confirmada", "acordo_cumprido")



def test_a_consumer_may_only_file_in_her_own_name(runtime: Runtime, complaint: dict[str, str]) -> None:
    with pytest.raises(PermissionDenied, match="em seu próprio nome"):
        runtime.start_case("reclamacao", CONSUMIDOR_B, dict(complaint, canal="portal"))  # complaint names CPF_A
    with runtime.Session() as session:
        assert session.scalars(select(CaseParty)).first() is None
    with pytest.raises(PermissionDenied):
        runtime.start_case("reclamacao", FORNECEDOR_X, dict(complaint, canal="portal"))  # not a consumer's lane
