"""LGPD (issue 13, finding 6) and the transfer page (finding 4), as the staff use them.

- Every read of a case's personal data — the staff case page, a task's form, an attachment, a document,
  the API's case reads — is in the access log: who, when, which case, from where, what. A refused read
  (a case of another unit) is not a read. An admin queries the log per person and per case.
- An admin produces everything held about one CPF, as JSON and CSV; producing it is logged too.
- A case moves to another unit only through the transfer form, with a reason; refused forms say why next
  to each field and keep what was typed.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from engine import clock
from engine.calendar.service import ensure_default_unit
from engine.forms.submission import UploadedFile
from engine.lgpd.access_log import entries
from engine.parties.accounts import confirm_email, issue_token, register_consumer
from engine.runtime import Runtime
from engine.store.models import Attachment, User
from tests.support.web_helpers import PASSWORD, client_for, csrf_token, post_form
from tests.webapp.test_api import ALL_SCOPES, CPF_B, add_document
from webapp import create_app
from webapp.users import actor_for, create_user

CPF = "529.982.247-25"
STAFF = [("ana", "Ana Atendente", "atendente", "CAP"), ("bia", "Bia Analista", "analista", "CAP"),
         ("gil", "Gil Gestor", "gestor", "CAP"), ("sara", "Sara Santos", "atendente", "STS"),
         ("adm", "Adélia Administradora", "admin", "CAP")]


class Office:
    """The app, its staff (CAP and STS) and case A of CAP (consumer CPF, an invoice and a document)."""

    def __init__(self, runtime: Runtime, complaint: dict[str, str]) -> None:
        self.runtime = runtime
        with runtime.Session.begin() as session:
            ensure_default_unit(session, code="STS", name="Procon Santos", state="SP", municipality="Santos")
            for login, name, role, unit in STAFF:
                create_user(session, login, name, [role], PASSWORD, unit=unit)
            self.token = issue_token(session, name="app", scopes=ALL_SCOPES,
                                     user_id=session.scalars(select(User.id).where(User.username == "bia")).one()
                                     ).secret
        self.app: Flask = create_app({"RUNTIME": runtime, "SECRET_KEY": "teste", "TESTING": True,
                                      "WTF_CSRF_ENABLED": True})
        with runtime.Session() as session:
            self.ana = actor_for(session.scalars(select(User).where(User.username == "ana")).one())
        invoice = UploadedFile("nota.pdf", "application/pdf", b"%PDF-1.4\n% nota fiscal\n")
        typed = dict(complaint, fatos="=1+1 a geladeira chegou com defeito")  # a formula, for the CSV
        result = runtime.start_case("reclamacao", self.ana, typed, {"nota_fiscal": invoice})
        self.case_id, self.protocol = result.case_id, result.protocol
        self.task_id = result.open_tasks[0].task_id
        with runtime.Session() as session:
            self.attachment = session.scalars(select(Attachment.id).where(Attachment.case_id == self.case_id)).one()
        self.document = add_document(self, self.case_id, "ABCD-1234-EFGH")  # type: ignore[arg-type]
        other = runtime.start_case("reclamacao", self.ana, dict(complaint, consumidor_cpf=CPF_B,
                                                                consumidor_nome="Paulo Costa"))
        self.other_protocol = other.protocol

    def client(self, login: str) -> Any:
        return client_for(self.app, login)

    def log(self) -> list[tuple[str, str, str, str]]:
        with self.runtime.Session() as session:
            return [(r.reader, r.what, r.channel, r.address) for r in reversed(entries(session, case_id=self.case_id))]


@pytest.fixture
def office(runtime: Runtime, complaint: dict[str, str]) -> Office:
    return Office(runtime, complaint)


def test_every_read_of_a_cases_data_is_logged_and_an_admin_queries_it(office: Office) -> None:
    bia, ana, sara = office.client("bia"), office.client("ana"), office.client("sara")
    case = f"/casos/{office.case_id}"
    assert bia.get(case).status_code == 200
    assert bia.get(f"/anexos/{office.attachment}").status_code == 200
    assert bia.get(f"/documentos/{office.document}.pdf").status_code == 200
    assert ana.get(f"{case}/tarefas/{office.task_id}").status_code == 200
    assert bia.get(f"{case}/diagrama.bpmn").status_code == 200  # the diagram holds no personal data: not logged
    api = office.app.test_client()
    headers = {"Authorization": f"Bearer {office.token}"}
    assert api.get(f"/api/v1/cases/{office.case_id}", headers=headers).status_code == 200
    assert api.get(f"/api/v1/cases/{office.case_id}/timeline", headers=headers).status_code == 200
    assert api.get(f"/api/v1/documents/{office.document}", headers=headers).status_code == 200
    # Santos's attendant does not reach the capital's case: a refusal, not a read
    assert sara.get(case).status_code == 404 and sara.get(f"/anexos/{office.attachment}").status_code == 404
    assert sara.get(f"/documentos/{office.document}.pdf").status_code == 404
    assert office.log() == [
        ("bia", "caso", "web", "127.0.0.1"), ("bia", "anexo", "web", "127.0.0.1"),
        ("bia", "documento", "web", "127.0.0.1"), ("ana", "tarefa", "web", "127.0.0.1"),
        ("bia", "caso", "api", "127.0.0.1"), ("bia", "historico", "api", "127.0.0.1"),
        ("bia", "documento", "api", "127.0.0.1")]

    admin = office.client("adm")
    by_person = admin.get("/admin/lgpd/acessos?pessoa=bia").get_data(as_text=True)
    assert by_person.count("Bia Analista") >= 6 and "Ana Atendente" not in by_person.split("<table")[1]
    assert "02/03/2026 10:00" in by_person and office.protocol in by_person and "nota.pdf" in by_person
    by_case = admin.get(f"/admin/lgpd/acessos?protocolo={office.protocol}").get_data(as_text=True)
    assert "Ana Atendente" in by_case.split("<table")[1] and "Bia Analista" in by_case
    wrong = admin.get("/admin/lgpd/acessos?protocolo=CAP-1999-9&de=31/02/2026")
    assert wrong.status_code == 422
    page = wrong.get_data(as_text=True)
    assert "Nenhum caso com o protocolo CAP-1999-9" in page and "De: data inválida" in page
    assert 'value="31/02/2026"' in page and 'value="CAP-1999-9"' in page  # what was typed stays


def test_an_admin_exports_everything_held_about_a_cpf(office: Office) -> None:
    with office.runtime.Session.begin() as session:
        signup = register_consumer(session, name="João da Silva", cpf=CPF, email="joao@example.com",
                                   password=PASSWORD, phone="(11) 98765-4321")
        confirm_email(session, signup.token)
    assert office.client("bia").get(f"/casos/{office.case_id}").status_code == 200
    admin = office.client("adm")
    response = post_form(admin, "/admin/lgpd/titular", {"cpf": "52998224725", "formato": "json"})
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert 'filename="titular-52998224725.json"' in response.headers["Content-Disposition"]
    report = json.loads(response.get_data(as_text=True))
    assert report["titular"] == {"cpf": CPF}
    account = report["conta_portal"]
    assert account["email"] == "joao@example.com" and account["nome"] == "João da Silva"
    assert "password_hash" not in json.dumps(account) and "senha" not in json.dumps(account)
    [case] = report["casos"]  # the other consumer's case is not there
    assert case["protocolo"] == office.protocol and case["cpf_nos_campos"] == ["consumidor_cpf"]
    assert case["dados"]["consumidor_email"] == "joao@example.com"
    assert [a["nome"] for a in case["anexos"]] == ["nota.pdf"] and case["documentos"][0]["codigo_verificacao"]
    assert [h["acao"] for h in case["historico"]][:2] == ["iniciado", "tarefa_concluida"]
    assert {(a["quem"], a["o_que"]) for a in report["acessos"]} >= {("Bia Analista", "Página do caso")}

    response = post_form(admin, "/admin/lgpd/titular", {"cpf": CPF, "formato": "csv"})
    assert response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeffsecao;protocolo;campo;valor\r\n")
    assert f"dados_do_caso;{office.protocol};consumidor_cpf;{CPF}" in text
    assert f"dados_do_caso;{office.protocol};fatos;'=1+1 a geladeira" in text  # a formula reaches the sheet as text
    assert "conta_portal;;email;joao@example.com" in text and office.other_protocol not in text

    page = post_form(admin, "/admin/lgpd/titular", {"cpf": CPF, "formato": "pagina"}).get_data(as_text=True)
    assert office.protocol in page and "joao@example.com" in page
    # producing the report read the case: in its log, three times (JSON, CSV, page)
    assert [row for row in office.log() if row[1] == "exportacao"] == [("adm", "exportacao", "web", "127.0.0.1")] * 3

    refused = post_form(admin, "/admin/lgpd/titular", {"cpf": "529.982.247-26", "formato": "json"})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "CPF inválido" in page and 'value="529.982.247-26"' in page


def test_a_manager_transfers_a_case_with_a_reason_and_the_other_unit_takes_it(office: Office) -> None:
    gil, ana, sara = office.client("gil"), office.client("ana"), office.client("sara")
    case = f"/casos/{office.case_id}"
    page = gil.get(case).get_data(as_text=True)
    assert "Transferir para outra unidade" in page and "Procon Santos (STS)" in page
    assert "Transferir para outra unidade" not in ana.get(case).get_data(as_text=True)  # managers only
    token = csrf_token(page)
    response = gil.post(f"{case}/transferir", data={"csrf_token": token, "unidade": "", "motivo": ""})
    assert response.status_code == 422
    refused = response.get_data(as_text=True)
    assert "Escolha a unidade que vai receber o caso." in refused and "Informe o motivo da transferência" in refused
    response = gil.post(f"{case}/transferir", data={"csrf_token": token, "unidade": "STS", "motivo": "  "})
    assert response.status_code == 422 and '<option value="STS" selected>' in response.get_data(as_text=True)
    response = gil.post(f"{case}/transferir", data={"csrf_token": token, "unidade": "STS",
                                                   "motivo": "A consumidora mora em Santos."})
    assert response.status_code == 302 and response.headers["Location"] == "/casos"  # no longer the capital's
    assert ana.get(case).status_code == 404
    taken = sara.get(case).get_data(as_text=True)
    assert "Caso transferido da unidade CAP para STS: A consumidora mora em Santos." in taken
    assert "Gil Gestor" in taken and "unidade STS" in taken


def test_the_portal_shows_the_consumer_who_at_the_procon_opened_the_case(
        runtime: Runtime, frozen_clock: clock.FrozenClock) -> None:
    from engine.store.login_sessions import PORTAL, open_session
    from engine.store.login_sessions import STAFF as STAFF_SESSION
    from tests.webapp.test_api import COMPLAINT_BODY, make_world
    from webapp.sign_in import COOKIE_KEYS

    world = make_world(runtime)
    filed = world.post("consumidor_a", "/api/v1/complaints", COMPLAINT_BODY)
    assert filed.status_code == 201, filed.get_data(as_text=True)
    case_id = filed.json["id"]

    def browser(kind: str, subject: int) -> Any:
        client = world.client()
        with runtime.Session.begin() as session:
            token = open_session(session, kind, subject)
        with client.session_transaction() as cookie:
            cookie[COOKIE_KEYS[kind]] = token
        return client

    consumer = browser(PORTAL, world.ids["consumidor_a"])
    page = consumer.get(f"/portal/casos/{case_id}").get_data(as_text=True)
    assert "Quem no Procon abriu o seu caso" in page and "Ninguém da equipe abriu o caso ainda." in page
    with runtime.Session() as session:
        bia = session.scalars(select(User.id).where(User.username == "bia")).one()
    frozen_clock.advance(dt.timedelta(minutes=30))
    assert browser(STAFF_SESSION, bia).get(f"/casos/{case_id}").status_code == 200
    page = consumer.get(f"/portal/casos/{case_id}").get_data(as_text=True)
    section = page.split('id="quem-abriu"')[1]
    assert "Bia Analista" in section and "02/03/2026 10:30" in section and "(página do caso)" in section
    assert "bia" not in section.replace("Bia", "") and "127.0.0.1" not in section  # names, never logins or addresses
    # the supplier sees the case, not who at the Procon read the consumer's data
    supplier = browser(PORTAL, world.ids["fornecedor_x"])
    assert 'id="quem-abriu"' not in supplier.get(f"/portal/casos/{case_id}").get_data(as_text=True)
