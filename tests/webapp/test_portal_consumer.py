"""Portal do Consumidor through the Flask app with CSRF on: sign-up (bad input refused, nothing saved),
confirmation by the link e-mailed through a real local SMTP server, login, filing a complaint with the
supplier found by CNPJ on a real local HTTP server or by name, attachments refused by type and size,
following the case in plain language, answering the supplier's proposal, and consumer B refused (404) on
A's case, task, document and attachment.

Runs on SQLite by default and on PostgreSQL when ``DATABASE_URL`` is set.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select

from engine import clock
from engine.actors import Actor
from engine.parties.accounts import register_supplier
from engine.parties.companies import approve, open_requests
from engine.parties.models import OutboundEmail, PortalAccount, SupplierCompany
from engine.runtime import Runtime
from engine.store.models import Attachment, Case, Document, OpenTask
from engine.worker.email_outbox import send_pending
from tasks import registry
from tasks.context import TaskSettings
from tests.support.smtp_support import Sink, start
from tests.support.web_helpers import PASSWORD, csrf_token, post_form
from webapp import create_app
from webapp.users import create_user

CPF_A, CPF_B = "529.982.247-25", "168.995.350-09"
CNPJ = "12.ABC.345/01DE-35"
CNPJ_CHARS = "12ABC34501DE35"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

COMPLAINT = {
    "consumidor_telefone": "(11) 98765-4321",
    "fornecedor_cnpj": CNPJ,
    "fornecedor_nome": "Loja Exemplo Ltda",
    "data_compra": "2026-02-10",
    "valor": "1.299,90",
    "fatos": "Comprei uma geladeira que chegou com defeito e a loja se recusa a trocar.",
    "pedido": "Troca do produto ou devolução do valor pago.",
}


@pytest.fixture
def smtp() -> Iterator[tuple[Sink, Controller]]:
    handler = Sink()
    controller = start(handler)
    yield handler, controller
    controller.stop()


@pytest.fixture
def cnpj_service(httpserver: HTTPServer) -> HTTPServer:
    httpserver.expect_request(f"/cnpj/{CNPJ_CHARS}").respond_with_json(
        {"cnpj": CNPJ_CHARS, "razao_social": "LOJA EXEMPLO COMERCIO LTDA", "uf": "SP"})
    httpserver.expect_request("/cnpj/11222333000181").respond_with_json({"erro": "não encontrado"}, status=404)
    return httpserver


@pytest.fixture
def app(runtime: Runtime, cnpj_service: HTTPServer) -> Iterator[Flask]:
    registry.load_handlers()
    with runtime.Session.begin() as session:
        create_user(session, "ana", "Ana Atendente", ["atendente"], PASSWORD)
    settings = TaskSettings(cnpj_api_url=cnpj_service.url_for("/cnpj/{cnpj}").replace("%7B", "{")
                            .replace("%7D", "}"), http_timeout_s=2.0)
    yield create_app({"RUNTIME": runtime, "SECRET_KEY": "teste", "TESTING": True, "WTF_CSRF_ENABLED": True,
                      "TASK_SETTINGS": settings})


def html(response) -> str:  # noqa: ANN001
    return response.get_data(as_text=True)


def sign_up(client: FlaskClient, smtp: tuple[Sink, Controller], runtime: Runtime, cpf: str, email: str,
            name: str) -> None:
    """Sign up on the page, receive the e-mail on the local SMTP server and open its link."""
    response = post_form(client, "/portal/cadastro", {"nome": name, "cpf": cpf, "email": email,
                                                       "telefone": "(11) 91234-5678", "senha": "segredo123"})
    assert response.status_code == 200 and "Confira seu e-mail" in html(response)
    handler, controller = smtp
    sent_before = len(handler.envelopes)
    settings = TaskSettings(smtp_host="127.0.0.1", smtp_port=controller.port, smtp_timeout_s=2.0)
    assert send_pending(runtime.db, runtime.services, settings) == 1
    message = handler.message(sent_before)
    assert message["To"] == email
    link = next(line for line in message.get_content().splitlines() if "/portal/confirmar/" in line)
    confirmed = client.get(link[link.index("/portal/confirmar/"):].strip())
    assert confirmed.status_code == 302 and confirmed.headers["Location"] == "/portal/consumidor/"


def consumer_client(app: Flask, smtp: tuple[Sink, Controller], runtime: Runtime, cpf: str, email: str,
                    name: str) -> FlaskClient:
    client = app.test_client()
    sign_up(client, smtp, runtime, cpf, email, name)
    return client


def file_complaint(client: FlaskClient, **files: tuple[bytes, str]) -> object:
    data: dict = dict(COMPLAINT)
    data["acao"] = "enviar"
    for name, (content, filename) in files.items():
        data[name] = (io.BytesIO(content), filename)
    return post_form(client, "/portal/consumidor/reclamacoes/nova", data, content_type="multipart/form-data")


def count(runtime: Runtime, model: type) -> int:
    with runtime.Session() as session:
        return session.scalar(select(func.count()).select_from(model))


def only_task(runtime: Runtime, case_id: int) -> OpenTask:
    with runtime.Session() as session:
        tasks = list(session.scalars(select(OpenTask).where(OpenTask.case_id == case_id)))
    assert len(tasks) == 1, [t.spec_name for t in tasks]
    return tasks[0]


def staff_step(runtime: Runtime, case_id: int, spec_name: str, values: dict[str, str]) -> None:
    """The Procon's attendant does a step (or registers the supplier's answer on its behalf)."""
    task = only_task(runtime, case_id)
    assert task.spec_name == spec_name
    runtime.complete_task(case_id, task.task_id, Actor("ana", "Ana Atendente", frozenset({"atendente"})), values)


# -- sign-up, confirmation, login ---------------------------------------------------------------------------
def test_sign_up_with_bad_input_shows_messages_and_saves_nothing(app: Flask, runtime: Runtime) -> None:
    client = app.test_client()
    response = post_form(client, "/portal/cadastro", {"nome": "Maria Souza", "cpf": "111.111.111-11",
                                                       "email": "maria@", "telefone": "", "senha": "curta"})
    assert response.status_code == 422
    page = html(response)
    assert "Confira os campos marcados." in page and "CPF inválido" in page
    assert 'value="Maria Souza"' in page  # what was typed is kept
    assert count(runtime, PortalAccount) == 0 and count(runtime, OutboundEmail) == 0


def test_confirm_by_the_emailed_link_then_log_in(app: Flask, runtime: Runtime,
                                                 smtp: tuple[Sink, Controller]) -> None:
    client = app.test_client()
    sign_up(client, smtp, runtime, CPF_A, "maria@example.com", "Maria Souza")
    home = client.get("/portal/consumidor/")
    assert home.status_code == 200 and "Você ainda não tem reclamações" in html(home)
    client.post("/portal/sair", data={"csrf_token": csrf_token(html(home))})  # the "Sair" button
    assert client.get("/portal/consumidor/").status_code == 302
    wrong = post_form(client, "/portal/entrar", {"login": CPF_A, "senha": "errada"})
    assert wrong.status_code == 401 and "incorretos" in html(wrong)
    ok = post_form(client, "/portal/entrar?next=/portal/consumidor/", {"login": "529.982.247-25",
                                                                        "senha": "segredo123"})
    assert ok.status_code == 302 and ok.headers["Location"] == "/portal/consumidor/"


# -- filing and following a complaint -----------------------------------------------------------------------
def test_new_complaint_page_takes_name_cpf_and_email_from_the_account(
        app: Flask, runtime: Runtime, smtp: tuple[Sink, Controller]) -> None:
    client = consumer_client(app, smtp, runtime, CPF_A, "maria@example.com", "Maria Souza")
    page = html(client.get("/portal/consumidor/reclamacoes/nova"))
    assert "Maria Souza" in page and CPF_A in page and "maria@example.com" in page
    assert 'name="consumidor_nome"' not in page and 'name="consumidor_cpf"' not in page
    assert 'name="canal"' not in page
    assert 'name="nota_fiscal"' in page and 'accept=".pdf,.jpg,.jpeg,.png"' in page
    assert 'value="(11) 91234-5678"' in page  # the account's phone, editable


def test_supplier_found_by_cnpj_on_the_service_or_typed_when_it_fails(
        app: Flask, runtime: Runtime, smtp: tuple[Sink, Controller], cnpj_service: HTTPServer) -> None:
    client = consumer_client(app, smtp, runtime, CPF_A, "maria@example.com", "Maria Souza")
    found = client.get("/portal/consumidor/fornecedores/cnpj", query_string={"cnpj": "12.abc.345/01de-35"})
    assert found.get_json() == {"nome": "LOJA EXEMPLO COMERCIO LTDA", "cnpj": CNPJ}
    # Without JavaScript: the "Buscar" button posts the form, which comes back with the name filled in.
    data = dict(COMPLAINT, fornecedor_nome="", acao="buscar_cnpj")
    page = post_form(client, "/portal/consumidor/reclamacoes/nova", data)
    assert page.status_code == 200
    assert 'value="LOJA EXEMPLO COMERCIO LTDA"' in html(page) and "Comprei uma geladeira" in html(page)
    missing = client.get("/portal/consumidor/fornecedores/cnpj", query_string={"cnpj": "11.222.333/0001-81"})
    assert "não encontrado" in missing.get_json()["erro"] and "Digite o nome" in missing.get_json()["erro"]
    invalid = post_form(client, "/portal/consumidor/reclamacoes/nova",
                        dict(COMPLAINT, fornecedor_cnpj="123", acao="buscar_cnpj"))
    assert invalid.status_code == 422 and "CNPJ inválido" in html(invalid)
    app.config["TASK_SETTINGS"] = TaskSettings()  # the service is not configured
    off = client.get("/portal/consumidor/fornecedores/cnpj", query_string={"cnpj": CNPJ})
    assert off.get_json()["erro"] == ("A consulta automática de CNPJ não está disponível agora. "
                                      "Digite o nome da empresa.")
    assert count(runtime, Case) == 0


def test_supplier_found_by_name_among_known_suppliers(app: Flask, runtime: Runtime,
                                                      smtp: tuple[Sink, Controller]) -> None:
    with runtime.Session.begin() as session:  # a pending company's name is never offered (issue 13, finding 3)
        session.add(SupplierCompany(cnpj="11.444.777/0001-61", name="Eletro Pendente Digitado"))
        signup = register_supplier(session, cnpj="11.222.333/0001-81", company_name="Eletro Qualquer",
                                   name="Rep", email="rep@eletro.example", password="segredo123")
        [request] = open_requests(session, signup.account, create=True)
        approve(session, Actor("admin", "Admin", frozenset({"admin"})), request.proof.id, "Eletro Brasil S.A.")
        for mail in session.scalars(select(OutboundEmail)):
            mail.status = "dispensado"  # the representative's confirmation is not what this test reads
    client = consumer_client(app, smtp, runtime, CPF_A, "maria@example.com", "Maria Souza")
    assert client.get("/portal/consumidor/fornecedores", query_string={"q": "eletro"}).get_json() == {
        "fornecedores": [{"cnpj": "11.222.333/0001-81", "nome": "Eletro Brasil S.A."}]}
    data = dict(COMPLAINT, fornecedor_cnpj="", fornecedor_nome="", busca="Eletro", acao="buscar_nome")
    listed = post_form(client, "/portal/consumidor/reclamacoes/nova", data)
    assert 'value="escolher:11.222.333/0001-81"' in html(listed)
    chosen = post_form(client, "/portal/consumidor/reclamacoes/nova",
                       dict(data, acao="escolher:11.222.333/0001-81"))
    page = html(chosen)
    assert 'value="11.222.333/0001-81"' in page and 'value="Eletro Brasil S.A."' in page


def test_attachments_refused_by_size_and_type_keep_what_was_typed(
        app: Flask, runtime: Runtime, smtp: tuple[Sink, Controller]) -> None:
    client = consumer_client(app, smtp, runtime, CPF_A, "maria@example.com", "Maria Souza")
    too_large = file_complaint(client, nota_fiscal=(b"%PDF-1.4" + b"0" * (10 * 1024 * 1024 + 1), "nota.pdf"))
    assert too_large.status_code == 422
    page = html(too_large)
    assert "10 MB" in page and "selecione o anexo de novo" in page
    assert "Comprei uma geladeira que chegou com defeito" in page and 'value="Loja Exemplo Ltda"' in page
    wrong_type = file_complaint(client, nota_fiscal=(b"MZ\x90\x00", "nota.exe"))
    assert wrong_type.status_code == 422 and "PDF" in html(wrong_type)
    assert count(runtime, Case) == 0 and count(runtime, Attachment) == 0


def test_file_follow_answer_and_consumer_b_sees_nothing_of_it(
        app: Flask, runtime: Runtime, smtp: tuple[Sink, Controller], frozen_clock: clock.FrozenClock) -> None:
    maria = consumer_client(app, smtp, runtime, CPF_A, "maria@example.com", "Maria Souza")
    filed = file_complaint(maria, nota_fiscal=(PDF, "nota fiscal.pdf"))
    assert filed.status_code == 302, html(filed)
    match = re.fullmatch(r"/portal/casos/(\d+)", filed.headers["Location"])
    assert match
    case_id = int(match.group(1))
    with runtime.Session() as session:
        case = session.get(Case, case_id)
        assert case.data["canal"] == "portal" and case.data["consumidor_cpf"] == CPF_A
        assert case.data["consumidor_nome"] == "Maria Souza" and case.data["consumidor_email"] == "maria@example.com"
        attachment_id = case.data["nota_fiscal"]["anexo_id"]
        protocol = case.protocol

    page = html(maria.get(f"/portal/casos/{case_id}"))
    assert f"Reclamação registrada com o protocolo {protocol}" in page
    assert "Aguardando o Procon: Atendimento preliminar, previsto até" in page
    assert "Você</strong>: Registrar reclamação: concluído." in page
    assert f"/portal/casos/{case_id}/anexos/{attachment_id}" in page
    download = maria.get(f"/portal/casos/{case_id}/anexos/{attachment_id}")
    assert download.status_code == 200 and download.data == PDF

    # The Procon works the case; the supplier's answer (by post) is registered on its behalf.
    staff_step(runtime, case_id, "atendimento_preliminar",
               {"resultado_preliminar": "nao_resolvida", "contato_descricao": "NOTA INTERNA: loja não atendeu."})
    staff_step(runtime, case_id, "emitir_cip", {"cip_texto": "Responda em 10 dias.",
                                                "cip_email_fornecedor": "sac@loja.example"})
    staff_step(runtime, case_id, "registrar_resposta", {
        "resposta_fornecedor": "O produto será trocado.",
        "proposta_acordo": "Troca da geladeira em 5 dias úteis, com frete por nossa conta."})
    proposal = only_task(runtime, case_id)
    with runtime.Session.begin() as session:
        session.add(Document(case_id=case_id, kind="cip", title="Carta de Informações Preliminares",
                             verification_code="CIP-TESTE-0001", sha256="0" * 64, html="<p>CIP</p>", pdf=PDF,
                             created_at=clock.now()))
    with runtime.Session() as session:
        document_id = session.scalars(select(Document.id).where(Document.case_id == case_id)).one()

    home = html(maria.get("/portal/consumidor/"))
    assert "É a sua vez: Avaliar a proposta do fornecedor. Responda até" in home
    assert f"/portal/casos/{case_id}/tarefas/{proposal.task_id}" in home
    page = html(maria.get(f"/portal/casos/{case_id}"))
    assert "Troca da geladeira em 5 dias úteis" in page  # the proposal is on the page
    assert "<dd class=\"texto-longo\">2026-03-02</dd>" not in page  # the answer's date, written by the diagram,
    assert "<dd class=\"texto-longo\">02/03/2026</dd>" in page  # is read as dd/mm/aaaa
    assert "NOTA INTERNA" not in page and "Ana" not in page and "ana" not in re.sub(r"<[^>]+>", "", page).split()
    assert "<strong>Procon</strong>: Emitir CIP ao fornecedor: concluído." in page
    assert "Prazo para avaliar a proposta" in page and "seu prazo" in page
    assert f"/portal/casos/{case_id}/documentos/{document_id}.pdf" in page
    assert maria.get(f"/portal/casos/{case_id}/documentos/{document_id}.pdf").data == PDF

    # Consumer B: every route of A's case answers 404, as if it did not exist.
    joao = consumer_client(app, smtp, runtime, CPF_B, "joao@example.com", "João Lima")
    for url in (f"/portal/casos/{case_id}", f"/portal/casos/{case_id}/tarefas/{proposal.task_id}",
                f"/portal/casos/{case_id}/documentos/{document_id}.pdf",
                f"/portal/casos/{case_id}/anexos/{attachment_id}", "/portal/casos/999999"):
        assert joao.get(url).status_code == 404, url
    token = csrf_token(html(joao.get("/portal/consumidor/reclamacoes/nova")))
    posted = joao.post(f"/portal/casos/{case_id}/tarefas/{proposal.task_id}",
                       data={"csrf_token": token, "proposta_resposta": "aceita"})
    assert posted.status_code == 404
    assert protocol not in html(joao.get("/portal/consumidor/"))
    assert only_task(runtime, case_id).task_id == proposal.task_id  # nothing changed

    # Maria answers: first without choosing (the error is next to the field, the comment kept), then accepts.
    task_url = f"/portal/casos/{case_id}/tarefas/{proposal.task_id}"
    form_page = html(maria.get(task_url))
    assert "Você aceita a proposta?" in form_page and "Enviar resposta" in form_page
    invalid = post_form(maria, task_url, {"proposta_comentario": "Quero entender o frete."})
    assert invalid.status_code == 422
    assert 'id="campo-proposta_resposta-erro"' in html(invalid) and "Quero entender o frete." in html(invalid)
    done = post_form(maria, task_url, {"proposta_resposta": "aceita", "proposta_comentario": ""})
    assert done.status_code == 302 and done.headers["Location"] == f"/portal/casos/{case_id}"
    closed = html(maria.get(f"/portal/casos/{case_id}"))
    assert "Resposta enviada: Avaliar a proposta do fornecedor." in closed
    assert "Este caso foi encerrado em" in closed and "resolvida por acordo" in closed
    again = maria.get(task_url)
    assert again.status_code == 302
    assert "já foi respondida" in html(maria.get(again.headers["Location"]))


def test_a_virtual_hearing_shows_its_link(app: Flask, runtime: Runtime, smtp: tuple[Sink, Controller]) -> None:
    maria = consumer_client(app, smtp, runtime, CPF_A, "maria@example.com", "Maria Souza")
    filed = file_complaint(maria)
    case_id = int(filed.headers["Location"].rsplit("/", 1)[1])
    with runtime.Session.begin() as session:  # as the hearing's scheduling form writes it
        case = session.get(Case, case_id)
        case.data = {**case.data, "audiencia_data": "2026-03-20", "audiencia_horario": "14:30",
                     "audiencia_modalidade": "videoconferencia", "audiencia_local": "https://meet.example/sala-7"}
    page = html(maria.get(f"/portal/casos/{case_id}"))
    assert "20/03/2026" in page and "14:30" in page and "Videoconferência" in page
    assert 'href="https://meet.example/sala-7"' in page and "Entrar na audiência" in page
