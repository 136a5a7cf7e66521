"""The fine appeal (``recurso_multa``), reached from the sanctioning process through its call activity:
the appeal suspends the fine, its timeliness is checked against the counted appeal deadline and recorded
(last day in time, the day after late, a last day on a weekend or holiday moved to the next working day),
admissibility, analysis, the second-instance judgment (maintained, reduced, annulled) and payment with the
payment and dívida ativa deadlines.

Runs on SQLite by default and on PostgreSQL when ``DATABASE_URL`` is set.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from engine import clock
from engine.runtime import CaseResult, Runtime
from engine.store.models import ProcessDefinition
from tasks.divida_ativa import build_request
from tests.engine.test_proc_sancionatorio import (
    ANALISTA,
    AUTORIDADE_2,
    OUTCOME_DIVIDA,
    OUTCOME_PAGA,
    PROCESS,
    RECEBIMENTO,
    assert_closed,
    deliver,
    document_model,
    end_of_day,
    finish_job,
    fire,
    jobs,
    legal,
    load_case,
    local,
    only_task,
    outcomes_of,
    pagamento,
    pending_job,
    step,
    until_appeal_window,
)

RECURSO = "recurso_multa"


def registro(filed_on: str, pedido: str = "reducao") -> dict[str, str]:
    return {"recurso_data_protocolo": filed_on, "recurso_representante": "Dra. Carla Souza (OAB/SP 1234)",
            "recurso_pedido": pedido, "recurso_razoes": "A multa desconsidera a boa-fé e o porte da loja."}


def admissibilidade(admissivel: str) -> dict[str, str]:
    return {"recurso_admissivel": admissivel, "admissibilidade_fundamentacao": f"Admissível: {admissivel}."}


ANALISE = {"recurso_parecer": "A infração está provada; a multa observou os critérios legais.",
           "recurso_sugestao": "manter"}


def julgamento(decisao: str, valor: str = "", data: str = "08/04/2026") -> dict[str, str]:
    return {"recurso_decisao": decisao, "recurso_multa_reduzida": valor, "recurso_decisao_data": data,
            "recurso_decisao_fundamentacao": f"Recurso julgado: multa {decisao}.",
            "autoridade_segunda_nome": "Otávio Reis, Secretário"}


def appeal(rt: Runtime, frozen_clock: clock.FrozenClock, result: CaseResult, filed_on: dt.date) -> CaseResult:
    """The supplier files an appeal on ``filed_on``; the analyst receives it that day (the window task of
    the sanctioning process) and registers it in the appeal (the first task of ``recurso_multa``)."""
    frozen_clock.set(local(filed_on.year, filed_on.month, filed_on.day, 15))
    result = step(rt, result, "receber_recurso", ANALISTA, RECEBIMENTO)
    # The call activity started recurso_multa inside the same case: the fine is suspended meanwhile.
    task = only_task(result, "registrar_recurso")
    assert task.case_id == result.case_id and task.role == "analista"
    case = load_case(rt, result.case_id)
    assert (case.process_id, case.data["multa_suspensa"], case.data["multa_situacao"]) == (
        PROCESS, True, "suspensa_por_recurso")
    assert case.data["recurso_interposto"] is True
    return step(rt, result, "registrar_recurso", ANALISTA, registro(filed_on.strftime("%d/%m/%Y")))


def until_judgment(rt: Runtime, frozen_clock: clock.FrozenClock) -> CaseResult:
    """Decision read on 23 March (appeal window until 2 April); appeal filed on 25 March, admitted, analysed."""
    result = until_appeal_window(rt, frozen_clock)
    result = appeal(rt, frozen_clock, result, dt.date(2026, 3, 25))
    assert load_case(rt, result.case_id).data["recurso_tempestivo"] is True
    result = step(rt, result, "examinar_admissibilidade", ANALISTA, admissibilidade("sim"))
    result = step(rt, result, "analisar_recurso", ANALISTA, ANALISE)
    frozen_clock.set(local(2026, 4, 8))
    only_task(result, "julgar_recurso")
    return result


def until_second_payment(rt: Runtime, frozen_clock: clock.FrozenClock, decisao: str = "mantida",
                         valor: str = "") -> CaseResult:
    """Judged on Wednesday 8 April; the decision is read on Thursday 9 April, so payment is due on
    Sunday 19 April -> Monday 20 April."""
    result = until_judgment(rt, frozen_clock)
    result = step(rt, result, "julgar_recurso", AUTORIDADE_2, julgamento(decisao, valor))
    job = pending_job(rt, result.case_id)
    model = document_model("decisao", job, result)
    assert model["titulo"] == "Decisão Administrativa de Segunda Instância"
    assert model["prazo"]["finalidade"] == "para pagamento da multa"
    # As if read today (8 April + 10 = Saturday 18 April -> Monday 20 April: 12 calendar days).
    assert (model["prazo"]["vencimento"], model["prazo"]["dias"]) == ("20/04/2026", 12)
    assert model["autoridade_nome"] == "Otávio Reis, Secretário"
    _job, result = finish_job(rt, result, "doc_gerar [child]",
                              {"documento_decisao": {"documento_id": 3, "codigo": "SEGU-CODE-0003"}})
    frozen_clock.set(local(2026, 4, 9))
    email, result = deliver(rt, result, "2026-04-09")
    assert email.payload["email_assunto"] == "Decisão de segunda instância — notificação para pagamento"
    assert "SEGU-CODE-0003" in email.payload["email_corpo"]
    only_task(result, "registrar_pagamento")
    due = legal(rt, result.case_id, "prazo_pagamento")
    assert (due.legal_kind, due.starts_at, due.due_at) == ("pagamento", local(2026, 4, 9),
                                                           end_of_day(dt.date(2026, 4, 20)))
    data = load_case(rt, result.case_id).data
    assert (data["multa_situacao"], data["multa_suspensa"], data["recurso_resultado"]) == ("exigivel", False, decisao)
    assert (data["data_decisao"], data["data_vencimento"]) == ("2026-04-08", "2026-04-20")
    # Both decisions are kept with the case.
    assert data["documento_decisao_primeira_instancia"]["codigo"] == "DECI-CODE-0002"
    assert data["documento_decisao_segunda_instancia"]["codigo"] == "SEGU-CODE-0003"
    return result


# -- every path ------------------------------------------------------------------------------------------------
def test_appeal_on_the_last_day_is_heard_fine_maintained_and_paid(runtime: Runtime,
                                                                  frozen_clock: clock.FrozenClock) -> None:
    result = until_appeal_window(runtime, frozen_clock)  # read Monday 23 March: last day Thursday 2 April
    result = appeal(runtime, frozen_clock, result, dt.date(2026, 4, 2))
    data = load_case(runtime, result.case_id).data
    assert (data["recurso_tempestivo"], data["recurso_prazo_vencimento"]) == (True, "2026-04-02")
    assert data["recurso_tempestividade"] == ("Tempestivo: recurso protocolado em 02/04/2026, dentro do prazo "
                                              "recursal, que venceu em 02/04/2026.")
    assert legal(runtime, result.case_id, "prazo_recurso").outcome == "cumprido"
    result = step(runtime, result, "examinar_admissibilidade", ANALISTA, admissibilidade("sim"))
    result = step(runtime, result, "analisar_recurso", ANALISTA, ANALISE)
    frozen_clock.set(local(2026, 4, 8))
    result = step(runtime, result, "julgar_recurso", AUTORIDADE_2, julgamento("mantida"))
    job = pending_job(runtime, result.case_id)
    assert (job.payload["instancia"], job.payload["multa_valor"]) == ("segunda", "42345.67")
    assert job.payload["decisao_dispositivo"] == "Nego provimento ao recurso e mantenho a multa de R$ 42.345,67."
    _job, result = finish_job(runtime, result, "doc_gerar [child]", {"documento_decisao": {"documento_id": 3}})
    frozen_clock.set(local(2026, 4, 9))
    _email, result = deliver(runtime, result, "2026-04-09")
    frozen_clock.set(local(2026, 4, 15))
    result = step(runtime, result, "registrar_pagamento", ANALISTA, pagamento("15/04/2026", "42.345,67"))

    case = assert_closed(runtime, result, OUTCOME_PAGA)
    assert outcomes_of(runtime, result.case_id, RECURSO) == ["Encerrada: multa paga"]
    assert (case.data["multa_situacao"], case.data["multa_suspensa"]) == ("paga", False)
    assert legal(runtime, result.case_id, "prazo_pagamento").outcome == "cumprido"


def test_appeal_filed_the_day_after_is_not_heard(runtime: Runtime, frozen_clock: clock.FrozenClock) -> None:
    """The window task can still be done after the last day if the worker has not fired the timer yet
    (an outage): the timeliness check is what keeps the preclusive deadline."""
    result = until_appeal_window(runtime, frozen_clock)
    result = appeal(runtime, frozen_clock, result, dt.date(2026, 4, 3))
    data = load_case(runtime, result.case_id).data
    assert (data["recurso_tempestivo"], data["recurso_resultado"]) == (False, "intempestivo")
    assert data["recurso_tempestividade"] == (
        "Intempestivo: recurso protocolado em 03/04/2026, depois do fim do prazo recursal, que venceu em "
        "02/04/2026; o recurso não é conhecido.")
    assert outcomes_of(runtime, result.case_id, RECURSO) == ["Recurso intempestivo: multa mantida"]
    # Back in the sanctioning process: the first-instance decision stands and the fine is charged.
    assert (data["multa_suspensa"], data["multa_situacao"], data["multa_valor"]) == (False, "exigivel", "42345.67")
    frozen_clock.set(local(2026, 4, 6))
    email, result = deliver(runtime, result, "2026-04-06")
    assert "O recurso não foi conhecido por intempestivo." in email.payload["email_corpo"]
    result = step(runtime, result, "registrar_pagamento", ANALISTA, pagamento("08/04/2026", "42.345,67"))
    assert_closed(runtime, result, OUTCOME_PAGA)
    assert [j.payload["documento_tipo"] for j in jobs(runtime, result.case_id) if j.topic == "gerar_documento"] == [
        "auto_infracao", "decisao"]  # no second-instance decision


@pytest.mark.parametrize(("decided_on", "read_on", "last_day", "filed_on", "in_time"), [
    # Read Wednesday 4 March + 10 days = Saturday 14 March -> Monday 16 March.
    ("2026-03-03", "2026-03-04", "2026-03-16", "2026-03-16", True),
    ("2026-03-03", "2026-03-04", "2026-03-16", "2026-03-17", False),
    # Read Tuesday 24 March + 10 days = Friday 3 April, Good Friday (national holiday) -> Monday 6 April.
    ("2026-03-20", "2026-03-24", "2026-04-06", "2026-04-06", True),
    ("2026-03-20", "2026-03-24", "2026-04-06", "2026-04-07", False),
    # Read Monday 23 March + 10 days = Thursday 2 April, a working day.
    ("2026-03-20", "2026-03-23", "2026-04-02", "2026-04-02", True),
    ("2026-03-20", "2026-03-23", "2026-04-02", "2026-04-03", False),
])
def test_timeliness_against_the_counted_deadline(runtime: Runtime, frozen_clock: clock.FrozenClock, decided_on: str,
                                                 read_on: str, last_day: str, filed_on: str, in_time: bool) -> None:
    result = until_appeal_window(runtime, frozen_clock, dt.date.fromisoformat(decided_on),
                                 dt.date.fromisoformat(read_on))
    window = legal(runtime, result.case_id, "prazo_recurso")
    assert (window.legal_kind, window.days, window.mode) == ("recurso", 10, "corridos")
    assert window.due_at == end_of_day(dt.date.fromisoformat(last_day))
    assert load_case(runtime, result.case_id).data["prazo_recurso_vence_em"] == last_day
    result = appeal(runtime, frozen_clock, result, dt.date.fromisoformat(filed_on))
    data = load_case(runtime, result.case_id).data
    assert (data["recurso_tempestivo"], data["recurso_prazo_vencimento"]) == (in_time, last_day)
    assert data["recurso_tempestividade"].startswith("Tempestivo" if in_time else "Intempestivo")
    if in_time:
        only_task(result, "examinar_admissibilidade")
        assert data["multa_suspensa"] is True
    else:
        assert pending_job(runtime, result.case_id).spec_name == "enviar_notificacao"  # the payment notice
        assert (data["multa_suspensa"], data["multa_situacao"]) == (False, "exigivel")


def test_appeal_not_admitted(runtime: Runtime, frozen_clock: clock.FrozenClock) -> None:
    result = until_appeal_window(runtime, frozen_clock)
    result = appeal(runtime, frozen_clock, result, dt.date(2026, 3, 25))
    result = step(runtime, result, "examinar_admissibilidade", ANALISTA, admissibilidade("nao"))
    assert outcomes_of(runtime, result.case_id, RECURSO) == ["Recurso não conhecido: multa mantida"]
    data = load_case(runtime, result.case_id).data
    assert (data["recurso_resultado"], data["multa_suspensa"], data["multa_situacao"]) == ("nao_conhecido", False,
                                                                                           "exigivel")
    frozen_clock.set(local(2026, 3, 26))
    email, result = deliver(runtime, result, "2026-03-26")
    assert "O recurso não foi conhecido. Admissível: nao." in email.payload["email_corpo"]
    result = step(runtime, result, "registrar_pagamento", ANALISTA, pagamento("30/03/2026", "42.345,67"))
    assert_closed(runtime, result, OUTCOME_PAGA)


def test_appeal_annuls_the_fine(runtime: Runtime, frozen_clock: clock.FrozenClock) -> None:
    result = until_judgment(runtime, frozen_clock)
    result = step(runtime, result, "julgar_recurso", AUTORIDADE_2, julgamento("anulada"))
    email, result = deliver(runtime, result, "2026-04-09")
    assert email.payload["email_assunto"] == "Recurso provido — multa anulada"
    case = assert_closed(runtime, result, "Encerrada: multa anulada em recurso")
    assert outcomes_of(runtime, result.case_id, RECURSO) == ["Encerrada: multa anulada"]
    assert (case.data["multa_situacao"], case.data["multa_suspensa"], case.data["recurso_resultado"]) == (
        "anulada", False, "anulada")
    assert [j.topic for j in jobs(runtime, result.case_id) if j.topic == "inscrever_divida_ativa"] == []


def test_appeal_reduces_the_fine_which_goes_unpaid_to_divida_ativa(runtime: Runtime,
                                                                   frozen_clock: clock.FrozenClock) -> None:
    result = until_judgment(runtime, frozen_clock)
    # "Reduced" without a valid new amount comes back to the authority with the reason.
    for valor in ("", "42.345,67", "50.000,00"):
        result = step(runtime, result, "julgar_recurso", AUTORIDADE_2, julgamento("reduzida", valor))
        only_task(result, "julgar_recurso")
        data = load_case(runtime, result.case_id).data
        assert data["julgamento_pendencia"] == ("Para reduzir a multa, informe o novo valor: maior que zero e menor "
                                                "que R$ 42.345,67, o valor aplicado.")
        assert (data["multa_valor"], data["multa_situacao"]) == ("42345.67", "suspensa_por_recurso")
    result = step(runtime, result, "julgar_recurso", AUTORIDADE_2, julgamento("reduzida", "20.000,00"))
    job = pending_job(runtime, result.case_id)
    assert job.payload["decisao_dispositivo"] == ("Dou provimento parcial ao recurso e reduzo a multa de "
                                                  "R$ 42.345,67 para R$ 20.000,00.")
    assert document_model("decisao", job, result)["multa"]["valor"] == "R$ 20.000,00"
    _job, result = finish_job(runtime, result, "doc_gerar [child]", {"documento_decisao": {"documento_id": 3}})
    frozen_clock.set(local(2026, 4, 9))
    _email, result = deliver(runtime, result, "2026-04-09")

    # Payment due Monday 20 April; unpaid, 30 more days from Tuesday 21 April (Tiradentes) -> Thursday 21 May.
    result = fire(runtime, frozen_clock, local(2026, 4, 21, 0, 1), result.case_id)
    only_task(result, "registrar_pagamento_atraso")
    late = legal(runtime, result.case_id, "prazo_divida_ativa")
    assert (late.legal_kind, late.due_at) == ("divida_ativa", end_of_day(dt.date(2026, 5, 21)))
    result = fire(runtime, frozen_clock, local(2026, 5, 22, 0, 1), result.case_id)
    job = pending_job(runtime, result.case_id)
    assert job.topic == "inscrever_divida_ativa"
    assert {k: job.payload[k] for k in ("multa_valor", "data_decisao", "data_vencimento", "fornecedor_cnpj")} == {
        "multa_valor": "20000.00", "data_decisao": "2026-04-08", "data_vencimento": "2026-04-20",
        "fornecedor_cnpj": "12.ABC.345/01DE-35"}
    assert build_request(job.payload, result.protocol)["valor"] == "20000.00"
    _job, result = finish_job(runtime, result, "inscrever_divida_ativa", {"divida_ativa_numero": "DA-2026-000888"})

    case = assert_closed(runtime, result, OUTCOME_DIVIDA)
    assert outcomes_of(runtime, result.case_id, RECURSO) == ["Inscrita em dívida ativa"]
    assert (case.data["multa_valor"], case.data["multa_valor_primeira_instancia"]) == ("20000.00", "42345.67")
    assert (case.data["multa_situacao"], case.data["recurso_resultado"]) == ("inscrita_divida_ativa", "reduzida")
    assert [legal(runtime, result.case_id, name).due_at for name in ("prazo_pagamento", "prazo_divida_ativa")] == [
        end_of_day(dt.date(2026, 4, 20)), end_of_day(dt.date(2026, 5, 21))]


def test_deadlines_that_went_off_inside_the_appeal_are_recorded_as_missed(runtime: Runtime,
                                                                          frozen_clock: clock.FrozenClock) -> None:
    result = until_second_payment(runtime, frozen_clock)
    fire(runtime, frozen_clock, local(2026, 4, 21, 0, 1), result.case_id)
    row = legal(runtime, result.case_id, "prazo_pagamento")
    assert (row.outcome, row.fired_at, row.met_at) == ("vencido", local(2026, 4, 21, 0, 1), None)


def test_appeal_fine_maintained_paid_late(runtime: Runtime, frozen_clock: clock.FrozenClock) -> None:
    result = until_second_payment(runtime, frozen_clock)
    result = fire(runtime, frozen_clock, local(2026, 4, 21, 0, 1), result.case_id)
    frozen_clock.set(local(2026, 5, 4))
    result = step(runtime, result, "registrar_pagamento_atraso", ANALISTA, pagamento("04/05/2026", "42.345,67"))
    case = assert_closed(runtime, result, OUTCOME_PAGA)
    assert outcomes_of(runtime, result.case_id, RECURSO) == ["Encerrada: multa paga"]
    assert case.data["multa_situacao"] == "paga"
    assert legal(runtime, result.case_id, "prazo_divida_ativa").outcome == "cumprido"


def test_recurso_multa_is_deployed_and_needs_the_callers_data(runtime: Runtime) -> None:
    with runtime.Session() as session:
        names = dict(session.execute(select(ProcessDefinition.process_id, ProcessDefinition.filename)).all())
    assert names[RECURSO] == "recurso_multa.bpmn"
    assert names["sancionatorio_emitir_documento"] == "processo_sancionatorio.bpmn"
    # Started on its own, without the deadline and the fine from a sanctioning process, it refuses.
    with pytest.raises(Exception, match="prazo_recurso_vence_em") as error:
        runtime.start_case(RECURSO, ANALISTA)
    assert "multa_valor" in str(error.value)
