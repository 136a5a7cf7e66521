"""The JSON API (/api/v1) as its callers use it: staff, consumers A and B, suppliers X and Y, each with a
real token on a real database (SQLite, or PostgreSQL with ``DATABASE_URL``).

Auth (missing, invalid, revoked, expired token -> 401; scope -> 403), party isolation (another party's case,
tasks and documents are 404), the supplier answering the CIP through the API (422 with per-field errors and
nothing saved, then 200, then 409), complaints filed by a consumer and by an attendant, pagination, the
OpenAPI 3.1 document and the public routes.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine import clock
from engine.actors import Actor
from engine.parties.accounts import confirm_email, issue_token, register_consumer, register_supplier
from engine.parties.companies import approve, open_requests
from engine.parties.identity import confirm_in_person
from engine.runtime import Runtime
from engine.store.models import AuditEvent, Case, Document, OpenTask
from tests.engine.test_engine_paths import CIP, PRELIM_NAO_RESOLVIDA, analise
from tests.support.web_helpers import PASSWORD
from webapp import create_app
from webapp.users import create_user

CPF_A, CPF_B = "529.982.247-25", "168.995.350-09"
CNPJ_X, CNPJ_Y = "12.ABC.345/01DE-35", "11.222.333/0001-81"
ALL_SCOPES = ["casos:ler", "tarefas:escrever", "reclamacoes:criar"]
PROBLEM = "application/problem+json"
#: who proves the portal accounts of these tests (in person, and in the Empresas queue)
PROVER = Actor("admin", "Administradora", frozenset({"admin"}))

COMPLAINT_BODY = {
    "fornecedor_cnpj": CNPJ_X,
    "fornecedor_nome": "Loja Exemplo Ltda",
    "data_compra": "2026-02-10",
    "valor": "1.299,90",
    "fatos": "Comprei uma geladeira que chegou com defeito e a loja se recusa a trocar.",
    "pedido": "Troca do produto ou devolução do valor pago.",
}


@dataclass
class World:
    """The app plus one token per person."""

    app: Flask
    runtime: Runtime
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)

    def client(self) -> FlaskClient:
        return self.app.test_client()

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, who: str, url: str, **kwargs: Any) -> Any:
        return self.client().get(url, headers=self.headers(who), **kwargs)

    def post(self, who: str, url: str, body: Any = None, **kwargs: Any) -> Any:
        return self.client().post(url, headers=self.headers(who), json=body, **kwargs)


def make_world(runtime: Runtime) -> World:
    """Staff (atendente ana, analista bia), consumers A and B, representatives of X and Y, each with a token."""
    app = create_app({"RUNTIME": runtime, "SECRET_KEY": "teste", "TESTING": True, "WTF_CSRF_ENABLED": True})
    world = World(app, runtime)
    with runtime.Session.begin() as session:
        for username, name, roles in [("ana", "Ana Atendente", ["atendente"]), ("caio", "Caio Atendente",
                                                                                 ["atendente"]),
                                      ("bia", "Bia Analista", ["analista"])]:
            user = create_user(session, username, name, roles, PASSWORD)
            world.tokens[username] = issue_token(session, name="teste", scopes=ALL_SCOPES, user_id=user.id).secret
        for who, cpf, email, name in [("consumidor_a", CPF_A, "joao@example.com", "Consumidor A"),
                                      ("consumidor_b", CPF_B, "paulo@example.com", "Paulo Costa")]:
            signup = register_consumer(session, name=name, cpf=cpf, email=email,
                                       password=PASSWORD, phone="(11) 98765-4321")
            confirm_email(session, signup.token)
            confirm_in_person(session, signup.account.id, PROVER, "RG 12.345.678-9")  # sees the counter's cases
            world.ids[who] = signup.account.id
            world.tokens[who] = issue_token(session, name="app", scopes=ALL_SCOPES,
                                            account_id=signup.account.id).secret
        for who, cnpj, email in [("fornecedor_x", CNPJ_X, "maria@lojaexemplo.com.br"),
                                 ("fornecedor_y", CNPJ_Y, "rui@outraloja.com.br")]:
            signup = register_supplier(session, cnpj=cnpj, company_name=f"Empresa {who[-1].upper()}",
                                       name=f"Rep {who[-1].upper()}", email=email, password=PASSWORD)
            confirm_email(session, signup.token)
            [request] = open_requests(session, signup.account, create=True)  # the Procon approved it
            approve(session, PROVER, request.proof.id, f"Empresa {who[-1].upper()}")
            world.ids[who] = signup.account.id
            world.tokens[who] = issue_token(session, name="app", scopes=ALL_SCOPES,
                                            account_id=signup.account.id).secret
    return world


@pytest.fixture
def world(runtime: Runtime) -> Iterator[World]:
    yield make_world(runtime)


def file_complaint(world: World, who: str, body: dict[str, Any]) -> int:
    response = world.post(who, "/api/v1/complaints", body)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.headers["Location"] == f"/api/v1/cases/{response.json['id']}"
    return response.json["id"]


def open_task(world: World, case_id: int, spec_name: str) -> OpenTask:
    with world.runtime.Session() as session:
        task = session.scalars(select(OpenTask).where(OpenTask.case_id == case_id,
                                                      OpenTask.spec_name == spec_name)).first()
        assert task is not None, spec_name
        return task


def complete(world: World, who: str, task_id: str, values: dict[str, Any]) -> Any:
    return world.post(who, f"/api/v1/tasks/{task_id}/complete", values)


def cip_sent(world: World, case_id: int) -> OpenTask:
    """The attendant makes the preliminary contact and sends the CIP through the API; the answer task is open."""
    for spec, values in [("atendimento_preliminar", PRELIM_NAO_RESOLVIDA), ("emitir_cip", CIP)]:
        task = open_task(world, case_id, spec)
        assert world.post("ana", f"/api/v1/tasks/{task.task_id}/claim").status_code == 200
        response = complete(world, "ana", task.task_id, values)
        assert response.status_code == 200, response.get_data(as_text=True)
    return open_task(world, case_id, "registrar_resposta")


def two_cases(world: World) -> tuple[int, int]:
    """Case A: consumer A against supplier X (filed by A). Case B: consumer B against Y (filed by the attendant)."""
    case_a = file_complaint(world, "consumidor_a", COMPLAINT_BODY)
    case_b = file_complaint(world, "ana", dict(COMPLAINT_BODY, consumidor_nome="Paulo Costa", consumidor_cpf=CPF_B,
                                               consumidor_email="paulo@example.com", canal="telefone",
                                               fornecedor_cnpj=CNPJ_Y, fornecedor_nome="Outra Loja"))
    return case_a, case_b


def add_document(world: World, case_id: int, code: str) -> int:
    with world.runtime.Session.begin() as session:
        document = Document(case_id=case_id, kind="cip", title="Carta de Informações Preliminares",
                            verification_code=code, sha256="0" * 64, html="<p>CIP</p>",
                            pdf=b"%PDF-1.4\n% teste\n", created_at=clock.now())
        session.add(document)
        session.flush()
        return document.id


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status and body["title"] and body["detail"]
    return body


# -- the document -----------------------------------------------------------------------------------------------
def test_openapi_document_is_3_1_and_lists_every_route(world: World) -> None:
    response = world.client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.json
    assert spec["openapi"] == "3.1.0"
    for path in ["/api/v1/me", "/api/v1/cases", "/api/v1/cases/{case_id}", "/api/v1/cases/{case_id}/timeline",
                 "/api/v1/cases/{case_id}/documents", "/api/v1/documents/{document_id}", "/api/v1/tasks",
                 "/api/v1/tasks/{task_id}", "/api/v1/tasks/{task_id}/claim", "/api/v1/tasks/{task_id}/release",
                 "/api/v1/tasks/{task_id}/complete", "/api/v1/complaints", "/api/v1/tokens",
                 "/api/v1/tokens/{token_id}", "/api/v1/public/documents/{code}",
                 "/api/v1/public/suppliers/{cnpj}/complaints"]:
        assert path in spec["paths"], path
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    error = spec["components"]["responses"]["DEFAULT_ERROR"]["content"]
    assert list(error) == [PROBLEM]
    # nullable in the 3.1 way
    assert spec["components"]["schemas"]["CaseSummary"]["properties"]["closed_at"]["type"] == ["string", "null"]


# -- authentication ------------------------------------------------------------------------------------------------
def test_missing_invalid_revoked_and_expired_tokens_are_401(world: World, frozen_clock: clock.FrozenClock) -> None:
    client = world.client()
    body = assert_problem(client.get("/api/v1/cases"), 401)
    assert "Authorization" in body["detail"]
    assert client.get("/api/v1/cases").headers["WWW-Authenticate"].startswith("Bearer")
    assert_problem(client.get("/api/v1/cases", headers={"Authorization": "Bearer pf_naoexiste"}), 401)
    assert_problem(client.get("/api/v1/cases", headers={"Authorization": "Token abc"}), 401)

    with world.runtime.Session.begin() as session:
        short = issue_token(session, name="curto", scopes=["casos:ler"], account_id=world.ids["consumidor_a"],
                            days=1).secret
    headers = {"Authorization": f"Bearer {short}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    frozen_clock.advance(dt.timedelta(days=1, seconds=1))
    body = assert_problem(client.get("/api/v1/me", headers=headers), 401)
    assert "expirado" in body["detail"]

    token_id = world.get("consumidor_a", "/api/v1/me").json["token"]["id"]
    revoked = world.client().delete(f"/api/v1/tokens/{token_id}", headers=world.headers("consumidor_a"))
    assert revoked.status_code == 200 and revoked.json["revoked_at"]
    assert_problem(world.get("consumidor_a", "/api/v1/me"), 401)


def test_a_call_outside_the_tokens_scopes_is_403(world: World) -> None:
    with world.runtime.Session.begin() as session:
        reader = issue_token(session, name="leitura", scopes=["casos:ler"], account_id=world.ids["consumidor_a"]
                             ).secret
    headers = {"Authorization": f"Bearer {reader}"}
    client = world.client()
    assert client.get("/api/v1/cases", headers=headers).status_code == 200
    body = assert_problem(client.post("/api/v1/complaints", headers=headers, json=COMPLAINT_BODY), 403)
    assert "reclamacoes:criar" in body["detail"]
    assert_problem(client.post("/api/v1/tasks/qualquer/claim", headers=headers), 403)
    with world.runtime.Session() as session:
        assert session.scalar(select(func.count(Case.id))) == 0


def test_first_token_by_basic_auth_then_tokens_made_by_tokens_keep_within_their_scopes(world: World) -> None:
    client = world.client()
    basic = "Basic " + base64.b64encode(f"joao@example.com:{PASSWORD}".encode()).decode()
    created = client.post("/api/v1/tokens", headers={"Authorization": basic},
                          json={"name": "Celular", "scopes": ["casos:ler"], "days": 30})
    assert created.status_code == 201, created.get_data(as_text=True)
    secret = created.json["token"]
    assert secret.startswith("pf_") and created.json["prefix"] == secret[:10]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).json
    assert me["kind"] == "consumidor" and me["parties"] == [{"role": "consumidor", "key": CPF_A}]
    assert me["token"]["scopes"] == ["casos:ler"]
    assert me["token"]["expires_at"].endswith("-03:00")

    wrong = "Basic " + base64.b64encode(b"joao@example.com:errada").decode()
    response = client.post("/api/v1/tokens", headers={"Authorization": wrong}, json={"name": "x", "scopes": []})
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    staff = "Basic " + base64.b64encode(f"ana:{PASSWORD}".encode()).decode()
    assert client.post("/api/v1/tokens", headers={"Authorization": staff},
                       json={"name": "Tablet", "scopes": ALL_SCOPES}).status_code == 201

    # A reading token cannot make a writing one; errors name the fields.
    body = assert_problem(client.post("/api/v1/tokens", headers={"Authorization": f"Bearer {secret}"},
                                      json={"name": "", "scopes": ["tarefas:escrever"], "days": 999}), 422)
    assert set(body["errors"]) == {"name", "scopes", "days"}
    assert body["values"]["scopes"] == ["tarefas:escrever"]

    listed = world.get("consumidor_a", "/api/v1/tokens?per_page=1")
    assert listed.status_code == 200 and listed.json["total"] == 2 and len(listed.json["items"]) == 1
    assert "token" not in listed.json["items"][0]  # the secret is never shown again
    # Someone else's token is not found.
    other = world.get("consumidor_b", "/api/v1/me").json["token"]["id"]
    assert_problem(world.client().delete(f"/api/v1/tokens/{other}", headers=world.headers("consumidor_a")), 404)
    assert world.get("consumidor_b", "/api/v1/me").status_code == 200


def test_unconfirmed_account_is_told_to_confirm_its_email(world: World) -> None:
    with world.runtime.Session.begin() as session:
        signup = register_consumer(session, name="Sem Confirmar", cpf="111.444.777-35", email="novo@example.com",
                                   password=PASSWORD)
        secret = issue_token(session, name="app", scopes=ALL_SCOPES, account_id=signup.account.id).secret
    body = assert_problem(world.client().get("/api/v1/cases", headers={"Authorization": f"Bearer {secret}"}), 403)
    assert "novo@example.com" in body["detail"]


# -- who sees what ---------------------------------------------------------------------------------------------------
def test_each_party_sees_only_its_own_cases_tasks_and_documents(world: World) -> None:
    case_a, case_b = two_cases(world)
    answer = cip_sent(world, case_a)
    doc_a, doc_b = add_document(world, case_a, "CIP-AAAA-0001"), add_document(world, case_b, "CIP-BBBB-0002")

    listed = {who: [c["id"] for c in world.get(who, "/api/v1/cases").json["items"]]
              for who in ["ana", "bia", "consumidor_a", "consumidor_b", "fornecedor_x", "fornecedor_y"]}
    assert sorted(listed["ana"]) == sorted(listed["bia"]) == sorted([case_a, case_b])
    assert listed["consumidor_a"] == [case_a] and listed["fornecedor_x"] == [case_a]
    assert listed["consumidor_b"] == [case_b] and listed["fornecedor_y"] == [case_b]

    for who, own, other, own_doc, other_doc in [("consumidor_a", case_a, case_b, doc_a, doc_b),
                                                ("fornecedor_x", case_a, case_b, doc_a, doc_b),
                                                ("consumidor_b", case_b, case_a, doc_b, doc_a),
                                                ("fornecedor_y", case_b, case_a, doc_b, doc_a)]:
        for suffix in ["", "/timeline", "/documents"]:
            assert world.get(who, f"/api/v1/cases/{own}{suffix}").status_code == 200, (who, suffix)
            assert_problem(world.get(who, f"/api/v1/cases/{other}{suffix}"), 404)
        pdf = world.get(who, f"/api/v1/documents/{own_doc}")
        assert pdf.status_code == 200 and pdf.content_type == "application/pdf" and pdf.data.startswith(b"%PDF")
        assert_problem(world.get(who, f"/api/v1/documents/{other_doc}"), 404)

    # The supplier's "Responder à CIP" is X's alone: Y and the consumers do not see it, nor may take it.
    x_tasks = world.get("fornecedor_x", "/api/v1/tasks").json
    assert [t["id"] for t in x_tasks["items"]] == [answer.task_id]
    assert x_tasks["items"][0]["title"] == "Responder à CIP" and x_tasks["items"][0]["due_at"]
    for who in ["fornecedor_y", "consumidor_a", "consumidor_b"]:
        assert answer.task_id not in [t["id"] for t in world.get(who, "/api/v1/tasks").json["items"]]
        assert_problem(world.get(who, f"/api/v1/tasks/{answer.task_id}"), 404)
        assert_problem(world.post(who, f"/api/v1/tasks/{answer.task_id}/claim"), 404)
        assert_problem(complete(world, who, answer.task_id, {"resposta_fornecedor": "Não é comigo."}), 404)
    assert open_task(world, case_a, "registrar_resposta").assignee is None

    # What each sees of case A: the supplier its own task, without the consumer's contact data.
    seen_by_x = world.get("fornecedor_x", f"/api/v1/cases/{case_a}").json
    assert [t["id"] for t in seen_by_x["open_tasks"]] == [answer.task_id]
    assert seen_by_x["next_step"].startswith("É a sua vez: Responder à CIP até ")
    names = {i["name"] for s in seen_by_x["data"] for i in s["items"]}
    assert "fatos" in names and "consumidor_email" not in names and "consumidor_telefone" not in names
    seen_by_a = world.get("consumidor_a", f"/api/v1/cases/{case_a}").json
    assert seen_by_a["open_tasks"] == []
    assert seen_by_a["next_step"].startswith("Aguardando fornecedor: Responder à CIP")
    assert "consumidor_email" in {i["name"] for s in seen_by_a["data"] for i in s["items"]}
    assert all(d["kind"] == "legal" for d in seen_by_a["deadlines"])
    assert any(d["status"] == "correndo" for d in seen_by_a["deadlines"])
    # The timeline hides who on the staff did what from the parties, not from the staff.
    assert {e["actor"] for e in world.get("consumidor_a", f"/api/v1/cases/{case_a}/timeline").json["items"]} == {None}
    assert "Ana Atendente" in {e["actor"] for e in world.get("ana", f"/api/v1/cases/{case_a}/timeline").json["items"]}


def test_supplier_answers_the_cip_bad_values_422_nothing_saved_then_done_then_409(world: World) -> None:
    case_a, _case_b = two_cases(world)
    answer = cip_sent(world, case_a)
    form = world.get("fornecedor_x", f"/api/v1/tasks/{answer.task_id}").json["form"]
    assert form["key"] == "resposta_fornecedor"
    first = form["fields"][0]
    assert (first["name"], first["type"], first["required"]) == ("resposta_fornecedor", "textarea", True)
    claimed = world.post("fornecedor_x", f"/api/v1/tasks/{answer.task_id}/claim")
    assert claimed.status_code == 200 and claimed.json["assignee"] == f"portal:{world.ids['fornecedor_x']}"

    def state() -> tuple[int, int]:
        with world.runtime.Session() as session:
            return (session.get(Case, case_a).version,
                    session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.case_id == case_a)))

    before = state()
    bad = complete(world, "fornecedor_x", answer.task_id,
                   {"resposta_fornecedor": "   ", "proposta_acordo": "Troca em 5 dias.",
                    "resposta_anexo": {"nome": "resposta.pdf", "conteudo_base64": "não é base64!"}})
    body = assert_problem(bad, 422)
    assert body["errors"] == {"resposta_anexo": "O conteúdo do arquivo não está em Base64 válido."}
    bad = complete(world, "fornecedor_x", answer.task_id,
                   {"resposta_fornecedor": "   ", "proposta_acordo": "Troca em 5 dias."})
    body = assert_problem(bad, 422)
    assert body["errors"]["resposta_fornecedor"] == "Campo obrigatório."
    assert body["values"]["proposta_acordo"] == "Troca em 5 dias."
    assert_problem(world.client().post(f"/api/v1/tasks/{answer.task_id}/complete",
                                       headers=world.headers("fornecedor_x"), data="resposta=x"), 415)
    assert_problem(world.client().post(f"/api/v1/tasks/{answer.task_id}/complete",
                                       headers=world.headers("fornecedor_x"), data="[1, 2",
                                       content_type="application/json"), 400)
    assert state() == before

    pdf = base64.b64encode(b"%PDF-1.4\nresposta\n").decode()
    done = complete(world, "fornecedor_x", answer.task_id,
                    {"resposta_fornecedor": "A loja vai trocar a geladeira.", "proposta_acordo": "",
                     "resposta_anexo": {"nome": "resposta.pdf", "tipo": "application/pdf", "conteudo_base64": pdf}})
    assert done.status_code == 200, done.get_data(as_text=True)
    assert done.json["status"] == "aberto" and done.json["open_tasks"] == []  # now the analyst's turn
    assert state()[0] > before[0]
    again = complete(world, "fornecedor_x", answer.task_id, {"resposta_fornecedor": "De novo."})
    # The task left the open list: found by nobody (404), never completed twice.
    assert again.status_code in (404, 409)
    with world.runtime.Session() as session:
        data = session.get(Case, case_a).data
        assert data["resposta_fornecedor"] == "A loja vai trocar a geladeira."
        assert data["resposta_anexo"]["nome"] == "resposta.pdf"


def test_two_attendants_claiming_the_same_task_one_gets_409(world: World) -> None:
    case_a = file_complaint(world, "consumidor_a", COMPLAINT_BODY)
    task = open_task(world, case_a, "atendimento_preliminar")
    assert world.post("ana", f"/api/v1/tasks/{task.task_id}/claim").status_code == 200
    body = assert_problem(world.post("caio", f"/api/v1/tasks/{task.task_id}/claim"), 409)
    assert "ana" in body["detail"]
    # Caio may not complete it either while Ana holds it; Ana releases and it is back in the queue.
    assert_problem(complete(world, "caio", task.task_id, PRELIM_NAO_RESOLVIDA), 403)
    released = world.post("ana", f"/api/v1/tasks/{task.task_id}/release")
    assert released.status_code == 200 and released.json["assignee"] is None
    # An analyst may not work an attendant's task.
    assert_problem(world.get("bia", f"/api/v1/tasks/{task.task_id}"), 403)
    assert_problem(world.post("bia", f"/api/v1/tasks/{task.task_id}/claim"), 403)


def test_staff_tasks_are_mine_then_my_roles_queue_and_lists_are_paginated(world: World) -> None:
    ids = [file_complaint(world, "consumidor_a", dict(COMPLAINT_BODY, fatos=f"Fatos {n} do caso.")) for n in range(3)]
    first = open_task(world, ids[2], "atendimento_preliminar")
    world.post("ana", f"/api/v1/tasks/{first.task_id}/claim")
    tasks = world.get("ana", "/api/v1/tasks?per_page=2").json
    assert tasks["total"] == 3 and tasks["pages"] == 2 and tasks["items"][0]["id"] == first.task_id
    assert tasks["links"]["prev"] is None and tasks["links"]["next"] == "/api/v1/tasks?page=2&per_page=2"
    second = world.get("ana", tasks["links"]["next"]).json
    assert len(second["items"]) == 1 and second["links"]["next"] is None
    assert world.get("bia", "/api/v1/tasks").json["total"] == 0

    cases = world.get("ana", "/api/v1/cases?per_page=2&status=aberto").json
    assert cases["total"] == 3 and len(cases["items"]) == 2
    assert cases["links"]["last"] == "/api/v1/cases?status=aberto&page=2&per_page=2"
    assert cases["items"][0]["created_at"].endswith("-03:00")
    assert world.get("ana", "/api/v1/cases?status=encerrado").json["total"] == 0
    body = assert_problem(world.get("ana", "/api/v1/cases?per_page=101&page=0"), 422)
    assert body["errors"] == {"per_page": "Itens por página: de 1 a 100.", "page": "A página começa em 1."}
    body = assert_problem(world.get("ana", "/api/v1/cases?page=um"), 422)
    assert body["errors"] == {"page": "Informe um número inteiro."}


# -- complaints --------------------------------------------------------------------------------------------------------
def test_consumer_files_a_complaint_in_its_own_name_with_an_invoice(world: World) -> None:
    invoice = base64.b64encode(b"%PDF-1.4\nnota fiscal\n").decode()
    case_id = file_complaint(world, "consumidor_a", dict(
        COMPLAINT_BODY, consumidor_cpf=CPF_B, consumidor_nome="Outra Pessoa", canal="presencial",
        nota_fiscal={"nome": "nota.pdf", "tipo": "application/pdf", "conteudo_base64": invoice}))
    with world.runtime.Session() as session:
        case = session.get(Case, case_id)
        assert case.data["consumidor_cpf"] == CPF_A  # the account's, whatever was sent
        assert case.data["consumidor_nome"] == "Consumidor A"
        assert case.data["consumidor_email"] == "joao@example.com"
        assert case.data["canal"] == "portal"
        assert case.data["nota_fiscal"]["nome"] == "nota.pdf"
    detail = world.get("consumidor_a", f"/api/v1/cases/{case_id}").json
    assert detail["protocol"].startswith("CAP-2026-") and detail["status"] == "aberto"
    assert detail["next_step"].startswith("Aguardando atendente")


def test_bad_complaints_say_what_is_wrong_and_save_nothing(world: World) -> None:
    body = assert_problem(world.post("consumidor_a", "/api/v1/complaints",
                                     dict(COMPLAINT_BODY, fornecedor_cnpj="123", fatos="", valor="muito",
                                          nota_fiscal={"nome": "virus.exe", "conteudo_base64": "AAAA"})), 422)
    assert set(body["errors"]) == {"fornecedor_cnpj", "fatos", "valor", "nota_fiscal"}
    assert body["values"]["fornecedor_nome"] == "Loja Exemplo Ltda"
    assert_problem(world.post("fornecedor_x", "/api/v1/complaints", COMPLAINT_BODY), 403)
    assert_problem(world.post("bia", "/api/v1/complaints", dict(COMPLAINT_BODY, consumidor_nome="X")), 403)
    body = assert_problem(world.post("ana", "/api/v1/complaints", COMPLAINT_BODY), 422)
    assert {"consumidor_nome", "consumidor_cpf", "consumidor_email", "canal"} <= set(body["errors"])
    assert_problem(world.client().post("/api/v1/complaints", headers=world.headers("ana"), data="x=1"), 415)
    with world.runtime.Session() as session:
        assert session.scalar(select(func.count(Case.id))) == 0


# -- public, errors --------------------------------------------------------------------------------------------------
def test_public_document_check_and_a_suppliers_fundamentada_count(world: World) -> None:
    case_a, case_b = two_cases(world)
    add_document(world, case_a, "CIP-AAAA-0001")
    client = world.client()
    found = client.get("/api/v1/public/documents/cip-aaaa-0001")
    assert found.status_code == 200 and found.json["protocol"].startswith("CAP-")
    assert set(found.json) == {"verification_code", "kind", "title", "protocol", "sha256", "created_at", "pdf_url"}
    assert client.get(found.json["pdf_url"]).data.startswith(b"%PDF")
    assert_problem(client.get("/api/v1/public/documents/NAO-EXISTE-99"), 404)

    # Case A: the supplier answers, the analyst classifies it fundamentada não atendida.
    answer = cip_sent(world, case_a)
    assert complete(world, "fornecedor_x", answer.task_id, {"resposta_fornecedor": "Mau uso."}).status_code == 200
    analysis = open_task(world, case_a, "analisar_reclamacao")
    world.post("bia", f"/api/v1/tasks/{analysis.task_id}/claim")
    closed = complete(world, "bia", analysis.task_id, analise("fundamentada_nao_atendida"))
    assert closed.status_code == 200 and closed.json["status"] == "encerrado", closed.get_data(as_text=True)
    count = client.get("/api/v1/public/suppliers/12ABC34501DE35/complaints?year=2026").json
    assert count == {"cnpj": CNPJ_X, "year": 2026, "fundamentadas": 1, "atendidas": 0, "nao_atendidas": 1}
    assert client.get("/api/v1/public/suppliers/12ABC34501DE35/complaints?year=2025").json["fundamentadas"] == 0
    assert client.get("/api/v1/public/suppliers/11222333000181/complaints").json["fundamentadas"] == 0
    assert_problem(client.get("/api/v1/public/suppliers/123/complaints"), 404)
    assert world.get("consumidor_a", f"/api/v1/cases/{case_a}").json["next_step"].startswith("Caso encerrado em ")


def test_flask_errors_under_api_are_problems_and_html_pages_keep_theirs(world: World) -> None:
    client = world.client()
    assert_problem(client.get("/api/v1/nada"), 404)
    response = client.put("/api/v1/cases", headers=world.headers("ana"))
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]
    huge = world.app.config["MAX_CONTENT_LENGTH"] + 1
    assert_problem(client.post("/api/v1/complaints", headers=world.headers("ana"), data=b"x" * huge,
                               content_type="application/json"), 413)
    page = client.get("/nada-aqui")
    assert page.status_code == 404 and page.content_type.startswith("text/html")
