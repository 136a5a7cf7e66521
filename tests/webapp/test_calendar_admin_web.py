"""“Calendário” (/admin/calendario) through the Flask app with CSRF on: suspensions of deadlines
recount the running deadlines (and the timers), validation errors in Portuguese, deadline settings
for new cases only, and admins only.

Dates (São Paulo): a CIP sent on Monday 2 March 2026 runs 10 calendar days and is due at the end of
Thursday 12 March. A suspension of CIP deadlines from Monday 9 to Wednesday 11 March stops the
count for those 3 days: 3..8 March count 6 days, 12..15 March the other 4, so the count ends on
Sunday 15 March, not a working day: the deadline moves to Monday 16 March (4 days later, not 3).
"""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine import clock
from engine.actors import Actor
from engine.calendar.models import CalendarEntry, DeadlineSetting
from engine.calendar.rules import DeadlineRule
from engine.runtime import CaseResult, EngineConfig, Runtime
from engine.store.models import AuditEvent, Case, Deadline, OpenTask
from engine.worker.scheduler import DeadlineWorker
from tasks.registry import default_registry
from tests.support.web_helpers import client_for, csrf_token, staff_app

SP = ZoneInfo("America/Sao_Paulo")
PRELIM = {"resultado_preliminar": "nao_resolvida", "contato_descricao": "Liguei para o SAC, sem solução."}
CIP = {"cip_texto": "Solicitamos manifestação.", "cip_email_fornecedor": "sac@loja.example"}
ADMIN_PAGE = "/admin/calendario/"
STAFF = [("admin", "Adma Administradora", ["admin"]), ("ana", "Ana Atendente", ["atendente"]),
         ("gil", "Gil Gestor", ["gestor"])]
STRIKE = "Greve dos servidores do Procon"


def end_of(day: int, month: int = 3) -> dt.datetime:
    """The end of a day in São Paulo: when a deadline due that day expires."""
    return dt.datetime(2026, month, day, 23, 59, 59, 999999, tzinfo=SP).astimezone(dt.UTC)


@pytest.fixture
def app(runtime: Runtime) -> Flask:
    return staff_app(runtime, STAFF)


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    return client_for(app, "admin")


def admin_post(client: FlaskClient, url: str, data: Mapping[str, Any]) -> tuple[int, str]:
    """Post a form of the calendar page as the browser would; returns the redirect's status and the
    page it leads to (with the flash message), unescaped."""
    page = client.get(ADMIN_PAGE)
    assert page.status_code == 200
    response = client.post(url, data={**data, "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].startswith(ADMIN_PAGE)
    return response.status_code, html_lib.unescape(client.get(response.headers["Location"]).get_data(as_text=True))


def flashes(page: str) -> list[tuple[str, str]]:
    """(category, text) of the flash messages on a page."""
    return [(category, " ".join(text.split()))
            for category, text in re.findall(r'class="mensagem mensagem-(\w+)"[^>]*>(.*?)</div>', page, re.S)]


def send_cip(rt: Runtime, actor: Actor, complaint: Mapping[str, str]) -> CaseResult:
    result = rt.start_case("reclamacao", actor, complaint)
    result = rt.complete_task(result.case_id, result.open_tasks[0].task_id, actor, PRELIM)
    result = rt.complete_task(result.case_id, result.open_tasks[0].task_id, actor, CIP)
    assert [t.spec_name for t in result.open_tasks] == ["registrar_resposta"]
    return result


def cip_deadline(rt: Runtime, case_id: int) -> Deadline:
    with rt.Session() as session:
        return session.scalars(select(Deadline).where(Deadline.case_id == case_id, Deadline.kind == "legal")).one()


def open_task(rt: Runtime, case_id: int) -> OpenTask:
    with rt.Session() as session:
        return session.scalars(select(OpenTask).where(OpenTask.case_id == case_id)).one()


def recalculations(rt: Runtime, case_id: int) -> list[AuditEvent]:
    with rt.Session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id,
                                                             AuditEvent.action == "prazo_recalculado")
                                    .order_by(AuditEvent.id)))


def version_of(rt: Runtime, case_id: int) -> int:
    with rt.Session() as session:
        return session.scalar(select(Case.version).where(Case.id == case_id))


def suspension(kinds: list[str], start: str = "2026-03-09", end: str = "2026-03-11",
               description: str = STRIKE) -> dict[str, Any]:
    return {"tipo": "suspensao", "inicio": start, "fim": end, "descricao": description, "suspende": kinds}


def entry_id(rt: Runtime, description: str) -> int:
    with rt.Session() as session:
        return session.scalars(select(CalendarEntry.id).where(CalendarEntry.description == description)).one()


def test_hand_count_of_the_suspended_cip_deadline(runtime: Runtime) -> None:
    """The dates the tests below expect, checked against the unit's calendar."""
    calendar = runtime.calendars.for_unit("CAP")
    rule = DeadlineRule("cip", 10, "corridos", "")
    assert calendar.due_date(dt.date(2026, 3, 2), rule) == dt.date(2026, 3, 12)
    assert dt.date(2026, 3, 15).weekday() == 6 and calendar.is_working_day(dt.date(2026, 3, 16))


# ------------------------------------------------------------------ 7. suspensions recount running deadlines


def test_suspension_added_after_the_deadline_was_set_moves_it_and_its_timer(
        database_url: str, runtime: Runtime, frozen_clock: clock.FrozenClock, admin: FlaskClient,
        atendente: Actor, complaint: dict[str, str]) -> None:
    sent = send_cip(runtime, atendente, complaint)
    assert cip_deadline(runtime, sent.case_id).due_at == end_of(12)

    # Only defence deadlines suspended: the CIP deadline does not move.
    _, page = admin_post(admin, "/admin/calendario/registros?unidade=CAP",
                         suspension(["defesa"], description="Só defesa"))
    assert flashes(page) == [("sucesso", "Registro incluído. 0 prazo(s) em andamento recalculado(s).")]
    assert cip_deadline(runtime, sent.case_id).due_at == end_of(12)
    assert recalculations(runtime, sent.case_id) == []
    assert version_of(runtime, sent.case_id) == sent.version

    # CIP deadlines suspended 9..11 March: 12 -> 16 March (15 March is a Sunday).
    frozen_clock.advance(dt.timedelta(days=1))  # Tuesday 3 March, a day into the count
    _, page = admin_post(admin, "/admin/calendario/registros?unidade=CAP", suspension(["cip"]))
    assert flashes(page) == [("sucesso", "Registro incluído. 1 prazo(s) em andamento recalculado(s).")]
    assert STRIKE in page and "(cip)" in page
    deadline = cip_deadline(runtime, sent.case_id)
    assert deadline.due_at == end_of(16)
    assert (deadline.days, deadline.mode, deadline.legal_kind) == (10, "corridos", "cip")
    task = open_task(runtime, sent.case_id)
    assert (task.spec_name, task.due_at) == ("registrar_resposta", end_of(16))
    [event] = recalculations(runtime, sent.case_id)
    assert event.actor == "admin" and event.at == frozen_clock()
    assert "12/03/2026" in event.description and "16/03/2026" in event.description
    assert STRIKE in event.description and "Adma Administradora" in event.description
    assert event.details["de"] == end_of(12).isoformat() and event.details["para"] == end_of(16).isoformat()
    assert event.task_id == deadline.task_id
    version = version_of(runtime, sent.case_id)
    assert version == sent.version + 1

    # The timer follows, in the worker's own process: not at the old due time, only after the new one.
    worker_runtime = Runtime(EngineConfig(services=default_registry(), database_url=database_url))
    try:
        worker = DeadlineWorker(worker_runtime, holder="worker-calendario")
        for moment in (end_of(12) + dt.timedelta(microseconds=1), end_of(14), end_of(16)):
            frozen_clock.set(moment)
            assert worker.fire_due() == 0, moment
        assert version_of(runtime, sent.case_id) == version
        assert open_task(runtime, sent.case_id).spec_name == "registrar_resposta"
        frozen_clock.set(end_of(16) + dt.timedelta(microseconds=1))
        assert worker.fire_due() == 1
    finally:
        worker_runtime.db.dispose()
    deadline = cip_deadline(runtime, sent.case_id)
    assert (deadline.outcome, deadline.fired_at) == ("vencido", end_of(16) + dt.timedelta(microseconds=1))
    assert open_task(runtime, sent.case_id).spec_name == "analisar_reclamacao"


def test_deactivating_the_suspension_moves_the_deadline_back_and_audits_it(
        runtime: Runtime, frozen_clock: clock.FrozenClock, admin: FlaskClient, atendente: Actor,
        complaint: dict[str, str]) -> None:
    sent = send_cip(runtime, atendente, complaint)
    admin_post(admin, "/admin/calendario/registros?unidade=CAP", suspension(["cip"]))
    assert cip_deadline(runtime, sent.case_id).due_at == end_of(16)
    strike = entry_id(runtime, STRIKE)

    frozen_clock.set(end_of(10) - dt.timedelta(hours=12))  # Tuesday 10 March, in the middle of the strike
    _, page = admin_post(admin, f"/admin/calendario/registros/{strike}/desativar?unidade=CAP", {})
    assert flashes(page) == [("sucesso", "Registro desativado. 1 prazo(s) em andamento recalculado(s).")]
    assert "(desativado)" in page
    with runtime.Session() as session:
        entry = session.get(CalendarEntry, strike)
        assert (entry.active, entry.deactivated_by, entry.deactivated_at) == (False, "admin", frozen_clock())
    deadline = cip_deadline(runtime, sent.case_id)
    assert (deadline.due_at, deadline.met_at, deadline.outcome) == (end_of(12), None, None)
    assert open_task(runtime, sent.case_id).due_at == end_of(12)
    first, back = recalculations(runtime, sent.case_id)
    assert "12/03/2026" in first.description and "16/03/2026" in first.description
    assert back.description.index("16/03/2026") < back.description.index("12/03/2026")
    assert STRIKE in back.description and "desativad" in back.description
    assert (back.details["de"], back.details["para"]) == (end_of(16).isoformat(), end_of(12).isoformat())
    assert back.at == frozen_clock() and back.actor == "admin"

    # The timer is back on the original date.
    worker = DeadlineWorker(runtime, holder="worker-calendario")
    frozen_clock.set(end_of(12))
    assert worker.fire_due() == 0
    frozen_clock.set(end_of(12) + dt.timedelta(microseconds=1))
    assert worker.fire_due() == 1
    assert cip_deadline(runtime, sent.case_id).outcome == "vencido"

    # Deactivating it again is refused in Portuguese, and changes nothing.
    _, page = admin_post(admin, f"/admin/calendario/registros/{strike}/desativar?unidade=CAP", {})
    assert flashes(page) == [("erro", f"O registro de calendário {strike} já estava desativado.")]
    assert len(recalculations(runtime, sent.case_id)) == 2


def test_deactivating_the_suspension_after_the_original_due_date_fires_the_timer(
        runtime: Runtime, frozen_clock: clock.FrozenClock, admin: FlaskClient, atendente: Actor,
        complaint: dict[str, str]) -> None:
    sent = send_cip(runtime, atendente, complaint)
    admin_post(admin, "/admin/calendario/registros?unidade=CAP", suspension(["cip"]))
    frozen_clock.set(end_of(13) - dt.timedelta(hours=12))  # Friday 13: past 12 March, before 16 March
    assert DeadlineWorker(runtime, holder="w").fire_due() == 0
    admin_post(admin, f"/admin/calendario/registros/{entry_id(runtime, STRIKE)}/desativar?unidade=CAP", {})
    DeadlineWorker(runtime, holder="w").fire_due()  # fired here at the latest (or already by the recount)
    deadline = cip_deadline(runtime, sent.case_id)
    assert (deadline.outcome, deadline.met_at) == ("vencido", None)
    assert open_task(runtime, sent.case_id).spec_name == "analisar_reclamacao"


# ------------------------------------------------------------------ 8. validation, settings, permissions


def counts(rt: Runtime) -> tuple[int, int, int]:
    with rt.Session() as session:
        return (session.scalar(select(func.count(CalendarEntry.id))),
                session.scalar(select(func.count(DeadlineSetting.id))),
                session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "prazo_recalculado")))


@pytest.mark.parametrize(("url", "data", "message"), [
    ("/admin/calendario/registros", suspension(["cip"], start="2026-03-11", end="2026-03-09"),
     "A data final deve ser igual ou posterior à data inicial."),
    ("/admin/calendario/registros", suspension(["cip"], description="   "),
     "Informe a descrição do registro (por exemplo, 'Aniversário da cidade')."),
    ("/admin/calendario/registros", suspension(["cip"], start="31/02/2026"), "Início: data inválida. Use dd/mm/aaaa."),
    ("/admin/calendario/registros", suspension(["CIP!"]), "Tipo de prazo inválido na suspensão: 'CIP!'."),
    ("/admin/calendario/registros", {**suspension([]), "tipo": "feriado"},
     "Tipo de registro de calendário inválido: 'feriado'."),
    ("/admin/calendario/prazos", {"tipo": "cip", "dias": "dez", "modo": "uteis", "base_legal": "Portaria 1/2026"},
     "Informe o prazo em dias, com um número inteiro."),
    ("/admin/calendario/prazos", {"tipo": "cip", "dias": "-5", "modo": "uteis", "base_legal": "Portaria 1/2026"},
     "Informe o prazo em dias, com um número inteiro."),
    ("/admin/calendario/prazos", {"tipo": "cip", "dias": "3651", "modo": "uteis", "base_legal": "Portaria 1/2026"},
     "O prazo deve ser um número inteiro de dias entre 0 e 3650."),
    ("/admin/calendario/prazos", {"tipo": "cip", "dias": "15", "modo": "semanas", "base_legal": "Portaria 1/2026"},
     "Modo de contagem inválido: use 'corridos' (dias corridos) ou 'uteis' (dias úteis)."),
    ("/admin/calendario/prazos", {"tipo": "cip", "dias": "15", "modo": "uteis", "base_legal": " "},
     "Informe a base legal do prazo (por exemplo, 'Decreto 2.181/1997, art. 44')."),
], ids=["fim-antes-do-inicio", "sem-descricao", "data-invalida", "tipo-suspenso-invalido", "tipo-invalido",
        "dias-nao-numericos", "dias-negativos", "dias-demais", "modo-invalido", "sem-base-legal"])
def test_invalid_submissions_are_refused_in_portuguese_and_change_nothing(
        runtime: Runtime, admin: FlaskClient, atendente: Actor, complaint: dict[str, str], url: str,
        data: dict[str, Any], message: str) -> None:
    sent = send_cip(runtime, atendente, complaint)
    before = counts(runtime)
    _, page = admin_post(admin, url + "?unidade=CAP", data)
    [(category, shown)] = flashes(page)
    assert category == "erro" and message in shown, shown
    assert counts(runtime) == before
    assert cip_deadline(runtime, sent.case_id).due_at == end_of(12)
    assert version_of(runtime, sent.case_id) == sent.version
    assert "10 dias corridos" in page  # the CIP rule shown is still the default


def test_a_new_deadline_length_applies_to_deadlines_started_after_it_only(
        runtime: Runtime, frozen_clock: clock.FrozenClock, admin: FlaskClient, atendente: Actor,
        complaint: dict[str, str]) -> None:
    running = send_cip(runtime, atendente, complaint)
    frozen_clock.advance(dt.timedelta(minutes=1))
    _, page = admin_post(admin, "/admin/calendario/prazos?unidade=CAP",
                         {"tipo": "cip", "dias": "15", "modo": "uteis", "base_legal": "Portaria Procon 7/2026"})
    [(category, shown)] = flashes(page)
    assert category == "sucesso" and shown.startswith("Prazo alterado."), shown
    assert "15 dias úteis" in page and "Portaria Procon 7/2026" in page
    with runtime.Session() as session:
        setting = session.scalars(select(DeadlineSetting)).one()
        assert (setting.kind, setting.days, setting.mode, setting.created_by) == ("cip", 15, "uteis", "admin")
        assert setting.effective_from == frozen_clock()

    frozen_clock.advance(dt.timedelta(minutes=1))
    started_after = send_cip(runtime, atendente, complaint)
    old, new = cip_deadline(runtime, running.case_id), cip_deadline(runtime, started_after.case_id)
    assert (old.days, old.mode, old.due_at) == (10, "corridos", end_of(12))
    # 15 business days from Monday 2 March: 3-6 (4), 9-13 (9), 16-20 (14), Monday 23 (15).
    assert (new.days, new.mode, new.legal_basis, new.due_at) == (15, "uteis", "Portaria Procon 7/2026", end_of(23))

    # A closure on 9-10 March recounts both on their own rules: only the business-day count moves.
    _, page = admin_post(admin, "/admin/calendario/registros?unidade=CAP",
                         {"tipo": "fechamento", "inicio": "09/03/2026", "fim": "10/03/2026",
                          "descricao": "Mudança de sede"})
    assert flashes(page) == [("sucesso", "Registro incluído. 1 prazo(s) em andamento recalculado(s).")]
    assert cip_deadline(runtime, running.case_id).due_at == end_of(12)
    assert cip_deadline(runtime, started_after.case_id).due_at == end_of(25)
    assert recalculations(runtime, running.case_id) == []
    [moved] = recalculations(runtime, started_after.case_id)
    assert "23/03/2026" in moved.description and "25/03/2026" in moved.description
    assert "Mudança de sede" in moved.description


def test_only_admins_reach_the_calendar(app: Flask, runtime: Runtime, admin: FlaskClient) -> None:
    admin_post(admin, "/admin/calendario/registros?unidade=CAP", suspension(["cip"]))
    strike = entry_id(runtime, STRIKE)
    before = counts(runtime)
    routes: list[tuple[str, str, dict[str, Any]]] = [
        ("get", ADMIN_PAGE, {}),
        ("get", ADMIN_PAGE + "?unidade=CAP&ano=2027", {}),
        ("post", "/admin/calendario/registros?unidade=CAP", suspension(["cip"], description="Intrusa")),
        ("post", f"/admin/calendario/registros/{strike}/desativar?unidade=CAP", {}),
        ("post", "/admin/calendario/prazos?unidade=CAP",
         {"tipo": "cip", "dias": "1", "modo": "uteis", "base_legal": "nenhuma"}),
    ]
    for username in ("ana", "gil"):
        client = client_for(app, username)
        token = csrf_token(client.get("/tarefas").get_data(as_text=True))
        for method, url, data in routes:
            if method == "get":
                response = client.get(url)
            else:
                response = client.post(url, data={**data, "csrf_token": token})
            assert response.status_code == 403, (username, url, response.status_code)
            assert "Acesso negado" in response.get_data(as_text=True)
    anonymous = app.test_client()
    assert anonymous.get(ADMIN_PAGE).headers["Location"].startswith("/entrar")
    assert counts(runtime) == before
    with runtime.Session() as session:
        assert session.get(CalendarEntry, strike).active is True
