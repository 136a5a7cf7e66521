"""The sanctioning process (``processo_sancionatorio``) through the engine alone: the auto de infração, its
notification and the defence deadline (defence or revelia), instruction with or without a hearing, the
first-instance decision (improcedente, or procedente with the fine computed by the dosimetry), the appeal
window and, without an appeal, payment or registration in the dívida ativa.

Notifications go through the ``notificacao`` procedure (e-mail + ciência); documents through the helper
process ``sancionatorio_emitir_documento``. Service tasks are completed as the worker would, with the job ids
of ``external_jobs``; timers fire by moving the frozen clock. The appeal itself (``recurso_multa``, reached
through the call activity) is in ``test_proc_recurso.py``, which reuses the helpers below.

Runs on SQLite by default and on PostgreSQL when ``DATABASE_URL`` is set.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

import engine.runtime.cycle as runtime_module
from engine import clock
from engine.actors import Actor
from engine.runtime import CaseResult, Runtime
from engine.runtime.scripting import make_script_engine
from engine.store.models import Case, Deadline, ExternalJob
from tasks.context import TaskContext, TaskSettings
from tasks.divida_ativa import build_request
from tasks.documents import build_model

PROCESS = "processo_sancionatorio"
SP = ZoneInfo("America/Sao_Paulo")

# -- people ------------------------------------------------------------------------------------------------
FISCAL = Actor("fabio", "Fábio Fiscal", frozenset({"fiscal"}))
ANALISTA = Actor("bia", "Bia Analista", frozenset({"analista"}))
ATENDENTE = Actor("ana", "Ana Atendente", frozenset({"atendente"}))
AUTORIDADE = Actor("helena", "Helena Autoridade", frozenset({"autoridade"}))
AUTORIDADE_2 = Actor("otavio", "Otávio Autoridade", frozenset({"autoridade"}))

# -- form submissions, as a browser posts them ----------------------------------------------------------------
AUTO = {
    "origem": "reclamacao_fundamentada", "reclamacao_protocolo": "CAP-2026-000123", "auto_numero": "AI-0042/2026",
    "data_lavratura": "02/03/2026", "hora_lavratura": "10", "minuto_lavratura": "30",
    "local_infracao": "Rua Exemplo, 100, São Paulo/SP", "fornecedor_cnpj": "12.ABC.345/01DE-35",
    "fornecedor_nome": "Loja Exemplo Ltda", "fornecedor_endereco": "Rua Exemplo, 100, São Paulo/SP",
    "fornecedor_email": "juridico@lojaexemplo.com.br",
    "fatos": "Produtos expostos sem preço na vitrine e nas gôndolas, constatado em 02/03/2026.",
    "dispositivo_infringido": "Lei 8.078/1990, art. 31", "determinacao": "Afixar os preços em 48 horas.",
    "fiscal_nome": "Fábio Fiscal", "fiscal_matricula": "F-123", "orgao_julgador": "Diretoria de Fiscalização",
}
DEFESA = {"defesa_data_protocolo": "10/03/2026", "defesa_representante": "Dra. Carla Souza (OAB/SP 1234)",
          "defesa_resumo": "Os preços estavam no sistema do caixa; a etiquetagem estava em andamento.",
          "testemunha_1_nome": "Pedro Lima", "testemunha_2_nome": "", "testemunha_3_nome": ""}
AUDIENCIA = {"audiencia_data": "16/03/2026", "audiencia_modalidade": "videoconferencia",
             "audiencia_local_ou_link": "https://video.procon.example/sala-3",
             "audiencia_termo": "Ouvida a testemunha Pedro Lima."}
# The supplier's appeal (the analyst registers it on the supplier's behalf here; tests/test_proc_parties.py
# has the supplier file it itself).
RECEBIMENTO = {"recurso_interposicao": "A multa desconsidera a boa-fé e o porte da loja.", "recurso_canal": "protocolo"}
SENT = {"email_enviado_em": "2026-03-02T10:00:05-03:00", "email_message_id": "<1@procon>"}
OUTCOME_PAGA = "Encerrada: multa paga"
OUTCOME_DIVIDA = "Inscrita em dívida ativa"


def instrucao(audiencia: str) -> dict[str, str]:
    return {"instrucao_provas": "Fotos da vitrine e termo de constatação.", "audiencia_instrucao": audiencia,
            "parecer_instrucao": "Infração comprovada pelas fotos."}


def decisao(resultado: str, data: str) -> dict[str, str]:
    return {"decisao_resultado": resultado, "decisao_data": data,
            "decisao_fundamentacao": f"Auto {resultado}: as fotos mostram a falta de preços.",
            "decisao_determinacoes": "Manter os preços afixados.", "autoridade_nome": "Helena Prado, Diretora"}


def dosimetria(gravidade: str = "grave", receita: str = "1.000.000,00", vantagem: str = "12.345,67") -> dict[str, str]:
    return {"gravidade": gravidade, "receita_bruta_mensal": receita, "vantagem_auferida": vantagem,
            "dosimetria_justificativa": "Infração reiterada em loja de grande porte."}


def pagamento(data: str, valor: str) -> dict[str, str]:
    return {"pagamento_data": data, "pagamento_valor": valor, "pagamento_guia": "DARE 555"}


# -- time: deadlines end at the end of their last day in São Paulo ----------------------------------------------
def local(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    """A moment in São Paulo (UTC-3, no daylight saving time since 2019), as the engine's UTC clock."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=SP).astimezone(dt.UTC)


def end_of_day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.max, tzinfo=SP).astimezone(dt.UTC)


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


def finish_job(rt: Runtime, result: CaseResult, spec_name: str, output: Mapping[str, Any]
               ) -> tuple[ExternalJob, CaseResult]:
    """Complete the single pending service task, which must be ``spec_name``, as the worker would."""
    assert result.open_tasks == []
    job = pending_job(rt, result.case_id)
    assert job.spec_name == spec_name
    return job, rt.complete_service_task(job.id, output, worker="teste")


def deadlines(rt: Runtime, case_id: int, spec_name: str | None = None) -> list[Deadline]:
    with rt.Session() as session:
        query = select(Deadline).where(Deadline.case_id == case_id)
        if spec_name is not None:
            query = query.where(Deadline.spec_name == spec_name)
        return list(session.scalars(query.order_by(Deadline.id)))


def legal(rt: Runtime, case_id: int, spec_name: str) -> Deadline:
    """The one legal deadline (timer) of ``spec_name`` on the case."""
    [row] = [d for d in deadlines(rt, case_id, spec_name) if d.kind == "legal"]
    return row


def only_task(result: CaseResult, spec_name: str) -> Any:
    assert [t.spec_name for t in result.open_tasks] == [spec_name]
    return result.open_tasks[0]


def step(rt: Runtime, result: CaseResult, spec_name: str, actor: Actor, values: Mapping[str, str]) -> CaseResult:
    task = only_task(result, spec_name)
    after = rt.complete_task(result.case_id, task.task_id, actor, values)
    assert after.version > result.version
    return after


def fire(rt: Runtime, frozen_clock: clock.FrozenClock, moment: dt.datetime, case_id: int) -> CaseResult:
    """Move the clock to ``moment`` and let the worker fire what is due; returns the case afterwards."""
    frozen_clock.set(moment)
    assert rt.fire_due_timers() == 1
    case = load_case(rt, case_id)
    return CaseResult(case_id, case.protocol, case.version, case.status, list(open_tasks_of(rt, case_id)))


def open_tasks_of(rt: Runtime, case_id: int) -> list[Any]:
    from engine.store.models import OpenTask

    with rt.Session() as session:
        return list(session.scalars(select(OpenTask).where(OpenTask.case_id == case_id).order_by(OpenTask.id)))


def document_model(kind: str, job: ExternalJob, result: CaseResult) -> dict[str, Any]:
    """What tasks/documents.py would print from the job's payload (fails on missing data, as the worker would)."""
    assert job.topic == "gerar_documento" and job.payload["documento_tipo"] == kind
    context = TaskContext(settings=TaskSettings(), case_id=result.case_id, protocol=result.protocol, unit="CAP",
                          now=clock.now())
    return build_model(kind, job.payload, context, "K7Q4-M2XP-9TDA")


def deliver(rt: Runtime, result: CaseResult, read_on: str) -> tuple[ExternalJob, CaseResult]:
    """The ``notificacao`` procedure: the e-mail is sent and the atendente records when it was read."""
    email, result = finish_job(rt, result, "enviar_notificacao", SENT)
    assert email.topic == "enviar_email"
    assert email.payload["email_para"] == AUTO["fornecedor_email"]
    result = step(rt, result, "registrar_ciencia", ATENDENTE,
                  {"notificacao_ciencia_em": read_on, "notificacao_ciencia_meio": "confirmacao_leitura"})
    return email, result


def outcomes_of(rt: Runtime, case_id: int, process_id: str) -> list[str]:
    """End events reached in the case's subprocesses of ``process_id`` (call activities), oldest first."""
    case = load_case(rt, case_id)
    loaded = rt.definitions.spec_for(case.definition)
    workflow = runtime_module.load_state(case.state, loaded.spec, loaded.subprocess_specs)
    ends = [t for sub in workflow.subprocesses.values() if sub.spec.name == process_id
            for t in sub.get_tasks(state=TaskState.COMPLETED)
            if isinstance(t.task_spec, EndEvent) and t.workflow is sub]
    return [t.task_spec.bpmn_name for t in sorted(ends, key=lambda t: t.last_state_change)]


def assert_closed(rt: Runtime, result: CaseResult, outcome: str) -> Case:
    assert result.status == "encerrado"
    assert result.open_tasks == []
    case = load_case(rt, result.case_id)
    assert (case.status, case.outcome) == ("encerrado", outcome)
    assert [j.spec_name for j in jobs(rt, result.case_id) if j.status != "concluido"] == []
    rows = deadlines(rt, result.case_id)
    assert [d.spec_name for d in rows if d.kind == "legal" and d.fired_at is None and d.met_at is None] == []
    assert [d.spec_name for d in rows if d.kind == "interno" and d.met_at is None] == []
    # "prazo_dias" (the document generator's input) never reaches the case: every later script would fail.
    assert "prazo_dias" not in case.data
    return case


# -- walking the process ---------------------------------------------------------------------------------------
def start(rt: Runtime, values: Mapping[str, str] = AUTO) -> CaseResult:
    result = rt.start_case(PROCESS, FISCAL, values)
    assert result.status == "aberto"
    return result


def until_defence(rt: Runtime, frozen_clock: clock.FrozenClock, read_on: dt.date = dt.date(2026, 3, 3)
                  ) -> CaseResult:
    """Draw up the auto (Monday 2 March), generate it and notify it; the auto is read on ``read_on``."""
    result = start(rt)
    job, result = finish_job(rt, result, "doc_gerar [child]",
                             {"documento_auto_infracao": {"documento_id": 1, "codigo": "AUTO-CODE-0001"}})
    assert job.topic == "gerar_documento"
    frozen_clock.set(local(read_on.year, read_on.month, read_on.day))
    _email, result = deliver(rt, result, read_on.isoformat())
    only_task(result, "registrar_defesa")
    return result


def until_decision(rt: Runtime, frozen_clock: clock.FrozenClock, decided_on: dt.date = dt.date(2026, 3, 20),
                   auto_read_on: dt.date = dt.date(2026, 3, 3)) -> CaseResult:
    """Defence filed, instruction without a hearing; the authority decides on ``decided_on``."""
    result = until_defence(rt, frozen_clock, auto_read_on)
    result = step(rt, result, "registrar_defesa", ANALISTA, DEFESA)
    result = step(rt, result, "instruir_processo", ANALISTA, instrucao("nao"))
    frozen_clock.set(local(decided_on.year, decided_on.month, decided_on.day))
    return step(rt, result, "decidir_primeira_instancia", AUTORIDADE,
                decisao("procedente", decided_on.strftime("%d/%m/%Y")))


def until_appeal_window(rt: Runtime, frozen_clock: clock.FrozenClock, decided_on: dt.date = dt.date(2026, 3, 20),
                        read_on: dt.date = dt.date(2026, 3, 23), fine: Mapping[str, str] | None = None) -> CaseResult:
    """Fix the fine, generate the decision and notify it; the decision is read on ``read_on``."""
    result = until_decision(rt, frozen_clock, decided_on, min(decided_on, dt.date(2026, 3, 3)))
    result = step(rt, result, "fixar_multa", AUTORIDADE, fine or dosimetria())
    _job, result = finish_job(rt, result, "doc_gerar [child]",
                              {"documento_decisao": {"documento_id": 2, "codigo": "DECI-CODE-0002"}})
    frozen_clock.set(local(read_on.year, read_on.month, read_on.day))
    _email, result = deliver(rt, result, read_on.isoformat())
    only_task(result, "receber_recurso")
    return result


def until_payment(rt: Runtime, frozen_clock: clock.FrozenClock) -> CaseResult:
    """No appeal: the appeal window (read Monday 23 March, so it ends Thursday 2 April) goes by; the
    payment notice is read on Monday 6 April, so payment is due Thursday 16 April."""
    result = until_appeal_window(rt, frozen_clock)
    result = fire(rt, frozen_clock, local(2026, 4, 3), result.case_id)  # Good Friday: the window is over
    assert result.open_tasks == []
    frozen_clock.set(local(2026, 4, 6))
    email, result = deliver(rt, result, "2026-04-06")
    assert email.payload["email_assunto"] == "Notificação para pagamento de multa"
    only_task(result, "registrar_pagamento")
    return result


# -- every path ------------------------------------------------------------------------------------------------
def test_defence_no_appeal_paid_in_time(runtime: Runtime, frozen_clock: clock.FrozenClock) -> None:
    result = start(runtime)
    case = load_case(runtime, result.case_id)
    assert case.process_id == PROCESS
    assert (case.summary["fornecedor_nome"], case.summary["fornecedor_cnpj"]) == ("Loja Exemplo Ltda",
                                                                                 "12.ABC.345/01DE-35")
    # The auto: everything tasks/documents.py needs, with the defence deadline as if read today
    # (2 March + 20 calendar days = Sunday 22 March -> Monday 23 March, 21 days from today).
    auto_job = pending_job(runtime, result.case_id)
    model = document_model("auto_infracao", auto_job, result)
    assert model["titulo"] == "Auto de Infração nº AI-0042/2026"
    assert (model["prazo"]["vencimento"], model["prazo"]["dias"]) == ("23/03/2026", 21)
    assert (model["lavratura_data"], model["lavratura_hora"]) == ("02/03/2026", "10:30")
    assert (model["fornecedor_cnpj"], model["fiscal_matricula"]) == ("12.ABC.345/01DE-35", "F-123")
    _job, result = finish_job(runtime, result, "doc_gerar [child]",
                              {"documento_auto_infracao": {"documento_id": 1, "codigo": "AUTO-CODE-0001"}})
    assert load_case(runtime, result.case_id).data["documento_auto_infracao"]["codigo"] == "AUTO-CODE-0001"

    # The notification: read on Tuesday 3 March, so the defence deadline counts from then.
    frozen_clock.set(local(2026, 3, 3))
    email, result = deliver(runtime, result, "2026-03-03")
    assert email.payload["email_assunto"] == "Auto de infração nº AI-0042/2026 — notificação"
    assert "AUTO-CODE-0001" in email.payload["email_corpo"] and "até 3 (três) testemunhas" in email.payload[
        "email_corpo"]
    defence_due = legal(runtime, result.case_id, "prazo_defesa")
    assert (defence_due.legal_kind, defence_due.days, defence_due.mode) == ("defesa", 20, "corridos")
    assert (defence_due.starts_at, defence_due.due_at) == (local(2026, 3, 3), end_of_day(dt.date(2026, 3, 23)))
    assert only_task(result, "registrar_defesa").due_at == end_of_day(dt.date(2026, 3, 23))
    data = load_case(runtime, result.case_id).data
    assert (data["auto_ciencia_em"], data["prazo_defesa_vence_em"], data["revelia"]) == ("2026-03-03", "2026-03-23",
                                                                                         False)

    frozen_clock.set(local(2026, 3, 10))
    result = step(runtime, result, "registrar_defesa", ANALISTA, DEFESA)
    assert legal(runtime, result.case_id, "prazo_defesa").outcome == "cumprido"
    result = step(runtime, result, "instruir_processo", ANALISTA, instrucao("nao"))
    frozen_clock.set(local(2026, 3, 20))
    result = step(runtime, result, "decidir_primeira_instancia", AUTORIDADE, decisao("procedente", "20/03/2026"))
    result = step(runtime, result, "fixar_multa", AUTORIDADE, dosimetria())

    # The decision: 1,000,000.00 x 0.03 + 12,345.67 = 42,345.67; the appeal deadline as if read today
    # (20 March + 10 = Monday 30 March).
    decision_job = pending_job(runtime, result.case_id)
    model = document_model("decisao", decision_job, result)
    assert model["titulo"] == "Decisão Administrativa de Primeira Instância"
    assert model["multa"]["valor"] == "R$ 42.345,67"
    assert (model["prazo"]["vencimento"], model["prazo"]["dias"]) == ("30/03/2026", 10)
    assert "Multa fixada: R$ 42.345,67." in decision_job.payload["decisao_texto"]
    _job, result = finish_job(runtime, result, "doc_gerar [child]",
                              {"documento_decisao": {"documento_id": 2, "codigo": "DECI-CODE-0002"}})
    frozen_clock.set(local(2026, 3, 23))
    email, result = deliver(runtime, result, "2026-03-23")
    assert "R$ 42.345,67" in email.payload["email_corpo"] and "DECI-CODE-0002" in email.payload["email_corpo"]

    # The appeal window: read Monday 23 March + 10 days = Thursday 2 April; nothing filed.
    window = legal(runtime, result.case_id, "prazo_recurso")
    assert (window.legal_kind, window.due_at) == ("recurso", end_of_day(dt.date(2026, 4, 2)))
    data = load_case(runtime, result.case_id).data
    assert (data["prazo_recurso_vence_em"], data["multa_situacao"]) == ("2026-04-02", "em_prazo_recursal")
    frozen_clock.set(local(2026, 4, 2, 23, 0))
    assert runtime.fire_due_timers() == 0  # still the last day
    result = fire(runtime, frozen_clock, local(2026, 4, 3, 0, 5), result.case_id)
    assert legal(runtime, result.case_id, "prazo_recurso").outcome == "vencido"
    data = load_case(runtime, result.case_id).data
    assert data["recurso_interposto"] is False
    assert "02/04/2026" in data["transito_em_julgado_certidao"]

    # Payment: the notice is read on Monday 6 April -> due Thursday 16 April; paid on the 10th.
    frozen_clock.set(local(2026, 4, 6))
    email, result = deliver(runtime, result, "2026-04-06")
    assert "R$ 42.345,67" in email.payload["email_corpo"]
    due = legal(runtime, result.case_id, "prazo_pagamento")
    assert (due.legal_kind, due.due_at) == ("pagamento", end_of_day(dt.date(2026, 4, 16)))
    data = load_case(runtime, result.case_id).data
    assert (data["multa_situacao"], data["data_decisao"], data["data_vencimento"]) == ("exigivel", "2026-03-20",
                                                                                       "2026-04-16")
    frozen_clock.set(local(2026, 4, 10))
    result = step(runtime, result, "registrar_pagamento", ANALISTA, pagamento("10/04/2026", "42.345,67"))

    case = assert_closed(runtime, result, OUTCOME_PAGA)
    assert (case.data["multa_situacao"], case.data["pagamento_valor"]) == ("paga", "42345.67")
    assert legal(runtime, result.case_id, "prazo_pagamento").outcome == "cumprido"
    assert outcomes_of(runtime, result.case_id, "recurso_multa") == []


def test_revelia_hearing_and_improcedente(runtime: Runtime, frozen_clock: clock.FrozenClock) -> None:
    result = until_defence(runtime, frozen_clock)
    # Silence: the defence deadline (Monday 23 March) passes; revelia is certified and instruction goes on.
    frozen_clock.set(local(2026, 3, 23, 23, 0))
    assert runtime.fire_due_timers() == 0
    result = fire(runtime, frozen_clock, local(2026, 3, 24, 0, 1), result.case_id)
    assert legal(runtime, result.case_id, "prazo_defesa").outcome == "vencido"
    data = load_case(runtime, result.case_id).data
    assert data["revelia"] is True
    assert "23/03/2026" in data["revelia_certidao"]
    result = step(runtime, result, "instruir_processo", ANALISTA, instrucao("sim"))
    result = step(runtime, result, "realizar_audiencia_instrucao", ANALISTA, AUDIENCIA)
    result = step(runtime, result, "decidir_primeira_instancia", AUTORIDADE, decisao("improcedente", "30/03/2026"))
    email, result = deliver(runtime, result, "2026-03-31")
    assert email.payload["email_assunto"] == "Auto de infração julgado improcedente"

    case = assert_closed(runtime, result, "Encerrada: auto de infração improcedente")
    assert case.data["multa_situacao"] == "nao_aplicada"
    assert "multa_valor" not in case.data
    assert [j.payload["documento_tipo"] for j in jobs(runtime, result.case_id) if j.topic == "gerar_documento"] == [
        "auto_infracao"]


def test_unpaid_fine_goes_to_divida_ativa(runtime: Runtime, frozen_clock: clock.FrozenClock) -> None:
    result = until_payment(runtime, frozen_clock)
    # Payment due Thursday 16 April; not paid: the late-payment task waits 30 more days, counted from
    # the 17th -> Sunday 17 May -> Monday 18 May.
    frozen_clock.set(local(2026, 4, 16, 23, 0))
    assert runtime.fire_due_timers() == 0
    result = fire(runtime, frozen_clock, local(2026, 4, 17, 0, 1), result.case_id)
    only_task(result, "registrar_pagamento_atraso")
    assert legal(runtime, result.case_id, "prazo_pagamento").outcome == "vencido"
    late = legal(runtime, result.case_id, "prazo_divida_ativa")
    assert (late.legal_kind, late.days, late.due_at) == ("divida_ativa", 30, end_of_day(dt.date(2026, 5, 18)))
    result = fire(runtime, frozen_clock, local(2026, 5, 19, 0, 1), result.case_id)

    job = pending_job(runtime, result.case_id)
    assert (job.topic, job.spec_name) == ("inscrever_divida_ativa", "inscrever_divida_ativa")
    assert {k: job.payload[k] for k in ("fornecedor_cnpj", "fornecedor_nome", "multa_valor", "data_decisao",
                                        "data_vencimento")} == {
        "fornecedor_cnpj": "12.ABC.345/01DE-35", "fornecedor_nome": "Loja Exemplo Ltda", "multa_valor": "42345.67",
        "data_decisao": "2026-03-20", "data_vencimento": "2026-04-16"}
    # What the dívida ativa handler would send (tasks/divida_ativa.py).
    assert build_request(job.payload, result.protocol) == {
        "protocolo": result.protocol, "cnpj": "12ABC34501DE35", "nome": "Loja Exemplo Ltda", "valor": "42345.67",
        "data_decisao": "2026-03-20", "data_vencimento": "2026-04-16", "origem": "Procon"}
    _job, result = finish_job(runtime, result, "inscrever_divida_ativa",
                              {"divida_ativa_numero": "DA-2026-000777", "divida_ativa_inscrita_em": "2026-05-19"})
    case = assert_closed(runtime, result, OUTCOME_DIVIDA)
    assert (case.data["multa_situacao"], case.data["divida_ativa_numero"]) == ("inscrita_divida_ativa",
                                                                               "DA-2026-000777")
    assert legal(runtime, result.case_id, "prazo_divida_ativa").outcome == "vencido"


def test_fine_paid_after_the_deadline(runtime: Runtime, frozen_clock: clock.FrozenClock) -> None:
    result = until_payment(runtime, frozen_clock)
    result = fire(runtime, frozen_clock, local(2026, 4, 17, 0, 1), result.case_id)
    frozen_clock.set(local(2026, 4, 30))
    result = step(runtime, result, "registrar_pagamento_atraso", ANALISTA, pagamento("29/04/2026", "42.345,67"))
    case = assert_closed(runtime, result, OUTCOME_PAGA)
    assert case.data["multa_situacao"] == "paga"
    assert legal(runtime, result.case_id, "prazo_divida_ativa").outcome == "cumprido"
    assert [j.topic for j in jobs(runtime, result.case_id) if j.topic == "inscrever_divida_ativa"] == []


# -- the fine ----------------------------------------------------------------------------------------------------
#: gravity, monthly gross revenue, advantage -> base (revenue x factor + advantage), fine, clamp applied.
#: Legal range: 200 to 3,000,000 UFIR x R$ 1.0641 = R$ 212.82 to R$ 3,192,300.00.
FINES = [
    ("leve", "100.000,00", "", "1000.00", "1000.00", "nenhum"),
    ("media", "250.000,00", "5.000,00", "10000.00", "10000.00", "nenhum"),
    ("grave", "1.000.000,00", "12.345,67", "42345.67", "42345.67", "nenhum"),
    ("gravissima", "2.000.000,00", "0,00", "80000.00", "80000.00", "nenhum"),
    ("grave", "0,00", "50.000,00", "50000.00", "50000.00", "nenhum"),  # no revenue: the advantage alone
    ("leve", "12.344,50", "100,00", "223.45", "223.45", "nenhum"),  # 223.445: half up, not to even
    ("leve", "10.000,00", "", "100.00", "212.82", "minimo"),  # below 200 UFIR
    ("leve", "21.282,00", "", "212.82", "212.82", "nenhum"),  # exactly the minimum
    ("gravissima", "79.807.500,00", "", "3192300.00", "3192300.00", "nenhum"),  # exactly the maximum
    ("gravissima", "100.000.000,00", "1,00", "4000001.00", "3192300.00", "maximo"),  # above 3,000,000 UFIR
]


@pytest.mark.parametrize(("gravidade", "receita", "vantagem", "base", "multa", "limite"), FINES)
def test_fine_computation(runtime: Runtime, frozen_clock: clock.FrozenClock, gravidade: str, receita: str,
                          vantagem: str, base: str, multa: str, limite: str) -> None:
    result = until_decision(runtime, frozen_clock)
    result = step(runtime, result, "fixar_multa", AUTORIDADE, dosimetria(gravidade, receita, vantagem))
    data = load_case(runtime, result.case_id).data
    assert (data["multa_base"], data["multa_valor"], data["multa_limite_aplicado"]) == (base, multa, limite)
    assert (data["multa_minimo"], data["multa_maximo"]) == ("212.82", "3192300.00")
    assert data["multa_valor_primeira_instancia"] == multa
    # The parameters used are recorded with the case (defaults: Procon-SP style factors, UFIR range).
    assert data["dosimetria_fatores"] == {"leve": "0.01", "media": "0.02", "grave": "0.03", "gravissima": "0.04"}
    assert (data["dosimetria_ufir_valor"], data["dosimetria_ufir_minimo"], data["dosimetria_ufir_maximo"]) == (
        "1.0641", "200", "3000000")
    # The fine formula written into the decision, and the fine the decision document prints.
    assert Decimal(multa) == Decimal(base).max(Decimal("212.82")).min(Decimal("3192300.00"))
    assert f"Multa fixada: R$ {format(Decimal(multa), ',.2f').replace(',', 'X').replace('.', ',').replace('X', '.')}" \
        in data["dosimetria_memoria"]
    job = pending_job(runtime, result.case_id)
    assert job.payload["multa_valor"] == multa
    assert document_model("decisao", job, result)["multa"]["valor"].startswith("R$ ")


def test_why_documents_go_through_the_helper_process() -> None:
    """tasks/documents.py needs a variable called ``prazo_dias``, the name of a script helper
    (engine/scripting.py): a script cannot create it, and once in the data every later script fails. So the
    documents are generated in ``sancionatorio_emitir_documento``, where it exists only inside one task."""
    environment = make_script_engine().environment
    data: dict[str, Any] = {}
    environment.execute("prazo_dias = 20", data)
    assert "prazo_dias" not in data
    with pytest.raises(ValueError, match="prazo_dias"):
        environment.execute("x = 1", {"prazo_dias": 20})
