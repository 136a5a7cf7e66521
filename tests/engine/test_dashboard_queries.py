"""The managers' dashboard queries (:mod:`engine.dashboard`) checked against a known data set.

Five complaints are driven through the real engine with the frozen clock, in two units (CAP and
STS), so that internal SLAs are met on time and late, one CIP deadline goes off, others are still
running, and one falls after Good Friday (3 April 2026). The dashboard is then read on Thursday
2 April 2026. Runs on SQLite and, with ``DATABASE_URL`` set, on PostgreSQL.

    case  unit  deadline (due, local)                 outcome               person
    A     CAP   atendimento_preliminar (09/03)        cumprido              ana
                emitir_cip (05/03)                    cumprido_com_atraso   caio
                prazo_cip, legal (20/03)              cumprido              ana
                analisar_reclamacao (02/04)           pending               bia (claimed)
    B     CAP   atendimento_preliminar (09/03)        cumprido              ana
                emitir_cip (04/03)                    cumprido              ana
                prazo_cip, legal (13/03)              vencido               —
                analisar_reclamacao (06/04, Good Friday skipped)  pending   queue analista
    C     STS   atendimento_preliminar (09/03)        cumprido_com_atraso   caio (case closed)
    D     STS   atendimento_preliminar (23/03)        pending               queue atendente
    E     CAP   atendimento_preliminar (31/03)        pending               caio (claimed)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from zoneinfo import ZoneInfo

import pytest

from engine import clock
from engine.actors import Actor
from engine.calendar.service import ensure_default_unit
from engine.dashboard.compliance import compliance, trend
from engine.dashboard.flow import backlog, flow_times
from engine.dashboard.live import cases_waiting_on, now_lists, waiting_by_task
from engine.dashboard.periods import GROUPS, Filters
from engine.dashboard.rows import ComplianceRow
from engine.runtime import CaseResult, Runtime

SP = ZoneInfo("America/Sao_Paulo")
PRELIM_RESOLVIDA = {"resultado_preliminar": "resolvida",
                    "contato_descricao": "Liguei para o SAC; a loja trocou a geladeira."}
PRELIM_NAO_RESOLVIDA = {"resultado_preliminar": "nao_resolvida",
                        "contato_descricao": "Liguei para o SAC; a loja se recusou a trocar."}
CIP = {"cip_texto": "Solicitamos resposta em 10 dias sobre a geladeira entregue com defeito.",
       "cip_email_fornecedor": "sac@lojaexemplo.com.br"}
RESPOSTA = {"resposta_fornecedor": "A loja alega mau uso do produto.", "data_resposta": "12/03/2026",
            "proposta_acordo": "", "consumidor_aceitou": "sem_proposta"}

ANA = Actor("ana", "Ana Atendente", frozenset({"atendente"}))
CAIO = Actor("caio", "Caio Atendente", frozenset({"atendente"}))
BIA = Actor("bia", "Bia Analista", frozenset({"analista"}))
# Ana and Caio also cover Santos in this data set: there they act as staff of that unit (a person reaches
# only the cases of the unit they act for).
ANA_STS = Actor("ana", "Ana Atendente", frozenset({"atendente"}), "STS")
CAIO_STS = Actor("caio", "Caio Atendente", frozenset({"atendente"}), "STS")


def local(month: int, day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=SP).astimezone(dt.UTC)


def end_of_day(month: int, day: int) -> dt.datetime:
    return dt.datetime.combine(dt.date(2026, month, day), dt.time.max, tzinfo=SP).astimezone(dt.UTC)


def step(rt: Runtime, result: CaseResult, spec_name: str, actor: Actor, values: Mapping[str, str]) -> CaseResult:
    [task] = [t for t in result.open_tasks if t.spec_name == spec_name]
    return rt.complete_task(result.case_id, task.task_id, actor, values)


def claim(rt: Runtime, result: CaseResult, spec_name: str, actor: Actor) -> None:
    [task] = [t for t in result.open_tasks if t.spec_name == spec_name]
    rt.claim(result.case_id, task.task_id, actor)


@pytest.fixture
def dataset(runtime: Runtime, frozen_clock: clock.FrozenClock, complaint: dict[str, str]) -> dict[str, CaseResult]:
    rt = runtime
    with rt.Session.begin() as session:
        ensure_default_unit(session, code="STS", name="Procon Santos", state="SP", municipality="Santos")
    frozen_clock.set(local(3, 2))
    a = rt.start_case("reclamacao", ANA, complaint)
    b = rt.start_case("reclamacao", ANA, complaint)
    c = rt.start_case("reclamacao", ANA_STS, complaint, unit="STS")
    frozen_clock.set(local(3, 2, 11))
    b = step(rt, b, "atendimento_preliminar", ANA, PRELIM_NAO_RESOLVIDA)
    frozen_clock.set(local(3, 3))
    a = step(rt, a, "atendimento_preliminar", ANA, PRELIM_NAO_RESOLVIDA)
    b = step(rt, b, "emitir_cip", ANA, CIP)  # CIP counted from 03/03: due 13/03
    frozen_clock.set(local(3, 10))
    a = step(rt, a, "emitir_cip", CAIO, CIP)  # SLA due 05/03: late; CIP due 20/03
    frozen_clock.set(local(3, 12))
    a = step(rt, a, "registrar_resposta", ANA, RESPOSTA)  # CIP met; analysis due 02/04
    c = step(rt, c, "atendimento_preliminar", CAIO_STS, PRELIM_RESOLVIDA)  # due 09/03: late, case closed
    assert c.status == "encerrado"
    claim(rt, a, "analisar_reclamacao", BIA)
    frozen_clock.set(local(3, 14))
    assert rt.fire_due_timers() == 1  # B's CIP went off; analysis due 06/04 (Good Friday skipped)
    frozen_clock.set(local(3, 16))
    d = rt.start_case("reclamacao", ANA_STS, complaint, unit="STS")  # preliminary due 23/03
    frozen_clock.set(local(3, 24))
    e = rt.start_case("reclamacao", ANA, complaint)  # preliminary due 31/03
    claim(rt, e, "atendimento_preliminar", CAIO)
    frozen_clock.set(local(4, 2))  # Thursday before Good Friday
    return {"A": a, "B": b, "C": c, "D": d, "E": e}


def counts(rows: list[ComplianceRow]) -> dict[str | None, tuple[int, int, int, int]]:
    return {r.chave: (r.no_prazo, r.com_atraso, r.vencidos, r.pendentes) for r in rows}


def test_compliance_by_process_step_unit_person(runtime: Runtime, dataset: dict[str, CaseResult]) -> None:
    with runtime.Session() as session:
        [row] = compliance(session, Filters(), "processo")
        assert (row.chave, row.rotulo) == ("reclamacao", "Reclamação do consumidor")
        assert (row.no_prazo, row.com_atraso, row.vencidos, row.pendentes, row.cancelados) == (4, 2, 1, 4, 0)
        assert row.encerrados == 7
        assert row.taxa_no_prazo == pytest.approx(4 / 7)
        assert row.as_dict()["taxa_no_prazo"] == pytest.approx(4 / 7)

        assert counts(compliance(session, Filters(), "etapa")) == {
            "analisar_reclamacao": (0, 0, 0, 2),
            "atendimento_preliminar": (2, 1, 0, 2),
            "emitir_cip": (1, 1, 0, 0),
            "prazo_cip": (1, 0, 1, 0),
        }
        assert counts(compliance(session, Filters(), "unidade")) == {
            "CAP": (4, 1, 1, 3), "STS": (0, 1, 0, 1)}
        units = compliance(session, Filters(), "unidade")
        assert [r.rotulo for r in units] == ["Procon Capital", "Procon Santos"]
        people = compliance(session, Filters(), "pessoa")
        assert counts(people) == {"ana": (4, 0, 0, 0), "bia": (0, 0, 0, 1), "caio": (0, 2, 0, 1),
                                  None: (0, 0, 1, 2)}
        assert people[-1].rotulo == "Sem responsável"

        # legal deadlines only: the two CIPs, one met and one missed
        [legal] = compliance(session, Filters(kind="legal"), "processo")
        assert (legal.no_prazo, legal.com_atraso, legal.vencidos, legal.pendentes) == (1, 0, 1, 0)
        assert legal.taxa_no_prazo == 0.5
        [internal] = compliance(session, Filters(kind="interno"), "processo")
        assert (internal.no_prazo, internal.com_atraso, internal.vencidos, internal.pendentes) == (3, 2, 0, 4)


def test_compliance_by_period_in_local_time(runtime: Runtime, dataset: dict[str, CaseResult]) -> None:
    with runtime.Session() as session:
        # E's preliminary service is due on 31/03 (stored as 01/04 02:59 UTC): it counts in March.
        months = compliance(session, Filters(), "periodo_mes")
        assert counts(months) == {"2026-03-01": (4, 2, 1, 2), "2026-04-01": (0, 0, 0, 2)}
        assert [r.rotulo for r in months] == ["03/2026", "04/2026"]
        weeks = counts(compliance(session, Filters(), "periodo_semana"))
        assert weeks == {
            "2026-03-02": (1, 1, 0, 0),  # emitir_cip A (05/03, late), B (04/03)
            "2026-03-09": (2, 1, 1, 0),  # three preliminaries (09/03), B's CIP (13/03)
            "2026-03-16": (1, 0, 0, 0),  # A's CIP (20/03)
            "2026-03-23": (0, 0, 0, 1),  # D (23/03)
            "2026-03-30": (0, 0, 0, 2),  # E (31/03), A's analysis (02/04)
            "2026-04-06": (0, 0, 0, 1),  # B's analysis (06/04)
        }
        assert [(p.periodo, p.encerrados, p.taxa_no_prazo) for p in trend(session, Filters())] == [
            ("2026-03-01", 7, pytest.approx(4 / 7)), ("2026-04-01", 0, None)]
        # the period filters the due dates: [09/03, 16/03)
        period = Filters(start=local(3, 9, 0), end=local(3, 16, 0))
        assert counts(compliance(session, period, "processo")) == {"reclamacao": (2, 1, 1, 0)}


def test_now_lists_across_good_friday(runtime: Runtime, dataset: dict[str, CaseResult]) -> None:
    protocol = {key: result.protocol for key, result in dataset.items()}
    with runtime.Session() as session:
        lists = now_lists(session, Filters(), calendars=runtime.calendars, business_days=2)
    assert lists.hoje == dt.date(2026, 4, 2)
    # two working days after Thursday 02/04: Monday 06/04 and Tuesday 07/04 (Good Friday, weekend)
    assert lists.limite == {"CAP": dt.date(2026, 4, 7), "STS": dt.date(2026, 4, 7)}
    assert [(i.protocolo, i.tarefa, i.com, i.vencimento, i.dias_atraso) for i in lists.atrasados] == [
        (protocol["D"], "Atendimento preliminar", "Fila: atendente", dt.date(2026, 3, 23), 10),
        (protocol["E"], "Atendimento preliminar", "caio", dt.date(2026, 3, 31), 2),
    ]
    assert [(i.protocolo, i.tarefa, i.com, i.due_at) for i in lists.vencem_hoje] == [
        (protocol["A"], "Analisar reclamação", "bia", end_of_day(4, 2))]
    assert [(i.protocolo, i.com, i.vencimento, i.dias_uteis_restantes) for i in lists.proximos] == [
        (protocol["B"], "Fila: analista", dt.date(2026, 4, 6), 1)]
    assert lists.as_dict()["atrasados"][0]["protocolo"] == protocol["D"]

    with runtime.Session() as session:
        one_day = now_lists(session, Filters(), calendars=runtime.calendars, business_days=0)
        assert one_day.proximos == []
        santos = now_lists(session, Filters(unit="STS"), calendars=runtime.calendars, business_days=2)
    assert [i.protocolo for i in santos.atrasados] == [protocol["D"]]
    assert santos.vencem_hoje == santos.proximos == []
    assert {i.unidade for i in santos.atrasados} == {"STS"}


def test_waiting_by_task_and_cases_on_one_element(runtime: Runtime, dataset: dict[str, CaseResult]) -> None:
    protocol = {key: result.protocol for key, result in dataset.items()}
    with runtime.Session() as session:
        waiting = waiting_by_task(session, "reclamacao")
        assert {k: (w.aguardando, w.atrasados) for k, w in waiting.items()} == {
            "analisar_reclamacao": (2, 0), "atendimento_preliminar": (2, 2)}
        assert waiting["analisar_reclamacao"].titulo == "Analisar reclamação"
        cap = waiting_by_task(session, "reclamacao", unit="CAP")
        assert {k: (w.aguardando, w.atrasados) for k, w in cap.items()} == {
            "analisar_reclamacao": (2, 0), "atendimento_preliminar": (1, 1)}
        assert waiting_by_task(session, "reclamacao", unit="XYZ") == {}
        assert waiting_by_task(session, "audiencia") == {}
        cases = cases_waiting_on(session, "reclamacao", "atendimento_preliminar")
        assert [(c.protocolo, c.responsavel, c.fila, c.atrasado) for c in cases] == [
            (protocol["D"], None, "atendente", True), (protocol["E"], "caio", "atendente", True)]
        santos = cases_waiting_on(session, "reclamacao", "atendimento_preliminar", unit="STS")
        assert [c.protocolo for c in santos] == [protocol["D"]]


def test_unit_filter_never_shows_another_unit(runtime: Runtime, dataset: dict[str, CaseResult]) -> None:
    with runtime.Session() as session:
        for group in GROUPS:
            santos = compliance(session, Filters(unit="STS"), group)
            capital = compliance(session, Filters(unit="CAP"), group)
            total = compliance(session, Filters(), group)
            assert sum(r.encerrados + r.pendentes for r in santos) == 2
            assert sum(r.encerrados + r.pendentes for r in capital) == 9
            assert sum(r.encerrados + r.pendentes for r in total) == 11
        assert counts(compliance(session, Filters(unit="STS"), "unidade")) == {"STS": (0, 1, 0, 1)}
        assert counts(compliance(session, Filters(unit="STS"), "pessoa")) == {
            "caio": (0, 1, 0, 0), None: (0, 0, 0, 1)}
        assert compliance(session, Filters(unit="XYZ"), "processo") == []
        flow = flow_times(session, Filters(unit="STS"))
        assert [(b.periodo, b.abertos, b.encerrados) for b in flow.backlog] == [("2026-03-01", 2, 1)]
        assert [(s.chave, s.quantidade) for s in flow.por_etapa] == [
            ("atendimento_preliminar", 1), ("registrar_reclamacao", 2)]


def test_flow_times_and_backlog(runtime: Runtime, dataset: dict[str, CaseResult]) -> None:
    with runtime.Session() as session:
        flow = flow_times(session, Filters())
    steps = {s.chave: s for s in flow.por_etapa}
    # preliminary service: ready at the case's start (its SLA's starts_at); B after 1 h, A after
    # 24 h, C after 10 days (240 h)
    prelim = steps["atendimento_preliminar"]
    assert (prelim.quantidade, prelim.media_horas, prelim.mediana_horas, prelim.p90_horas) == (
        3, pytest.approx((1 + 24 + 240) / 3, abs=1e-3), 24, 240)
    # the CIP: A ready on 03/03 10:00 (previous event), done on 10/03 (168 h); B ready 02/03 11:00, done 03/03 (23 h)
    cip = steps["emitir_cip"]
    assert (cip.quantidade, cip.mediana_horas, cip.p90_horas) == (2, pytest.approx(95.5), 168)
    # A's answer: ready when the CIP was sent (10/03), recorded on 12/03
    assert steps["registrar_resposta"].media_horas == 48
    # the registration form is completed together with the start
    assert steps["registrar_reclamacao"].quantidade == 5
    assert steps["registrar_reclamacao"].p90_horas == 0
    [proc] = flow.por_processo
    assert (proc.chave, proc.quantidade) == ("reclamacao", 5 + 3 + 2 + 1)
    [closed] = flow.duracao_casos
    assert (closed.chave, closed.quantidade, closed.media_horas) == ("reclamacao", 1, 240)
    assert [(b.periodo, b.abertos, b.encerrados) for b in flow.backlog] == [("2026-03-01", 5, 1)]
    assert flow.as_dict()["backlog"] == [{"periodo": "2026-03-01", "abertos": 5, "encerrados": 1}]
    with runtime.Session() as session:
        weekly = backlog(session, Filters(), "semana")
    assert [(b.periodo, b.abertos, b.encerrados) for b in weekly] == [
        ("2026-03-02", 3, 0), ("2026-03-09", 0, 1), ("2026-03-16", 1, 0), ("2026-03-23", 1, 0)]


def test_filters_are_validated() -> None:
    with pytest.raises(ValueError):
        Filters(kind="outro")
    with pytest.raises(ValueError):
        Filters(start=dt.datetime(2026, 3, 1))  # noqa: DTZ001  (naive on purpose)
