"""Issue 13, finding 3, through the Flask app (CSRF on, real database, a real local CNPJ service, SMTP server and
OpenID provider): the first person to sign up with a CNPJ is pending — no CIP, no case, nothing on the public
pages; a code e-mailed to the company's address from the CNPJ service, a gov.br login carrying the CNPJ or the
state staff's approval in the Empresas queue (with the documents sent) makes them a representative; the public
name comes from the CNPJ service or the staff, never from what the pending account typed."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer

from engine.actors import Actor
from engine.runtime import CaseResult, Runtime
from engine.worker.email_outbox import send_pending
from tasks import registry
from tasks.context import TaskSettings
from tests.engine.test_engine_paths import CIP, PRELIM_NAO_RESOLVIDA, step
from tests.support.browser_support import served
from tests.support.oidc_provider import Provider
from tests.support.smtp_support import Sink, start
from tests.support.web_helpers import PASSWORD, client_for, csrf_token, post_form
from webapp import create_app
from webapp.users import create_user

CNPJ, CNPJ_CHARS = "12.ABC.345/01DE-35", "12ABC34501DE35"
TYPED = "Empresa Sequestrada Pelo Impostor"
PDF = b"%PDF-1.4\n% contrato social\n"


@pytest.fixture
def smtp() -> Iterator[tuple[Sink, Controller]]:
    handler = Sink()
    controller = start(handler)
    yield handler, controller
    controller.stop()


@pytest.fixture
def provider() -> Iterator[Provider]:
    idp = Provider()
    with served(idp.app) as url:
        idp.issuer = url
        yield idp


@pytest.fixture
def app(runtime: Runtime, httpserver: HTTPServer, provider: Provider) -> Flask:
    registry.load_handlers()
    httpserver.expect_request(f"/cnpj/{CNPJ_CHARS}").respond_with_json(
        {"razao_social": "LOJA EXEMPLO COMERCIO LTDA", "email": "Juridico@LojaExemplo.example", "uf": "SP",
         "descricao_situacao_cadastral": "ATIVA"})
    with runtime.Session.begin() as session:
        create_user(session, "gabi", "Gabriela Alves", ["admin"], PASSWORD)  # the state level
        create_user(session, "ana", "Ana Atendente", ["atendente"], PASSWORD)
    settings = TaskSettings(cnpj_api_url=httpserver.url_for("/cnpj/").rstrip("/") + "/{cnpj}", http_timeout_s=2.0)
    return create_app({"RUNTIME": runtime, "SECRET_KEY": "teste", "TESTING": True, "WTF_CSRF_ENABLED": True,
                       "TASK_SETTINGS": settings, "OIDC_ISSUER": provider.issuer, "OIDC_CLIENT_ID": "procon",
                       "OIDC_CLIENT_SECRET": "segredo", "OIDC_LABEL": "gov.br"})


@pytest.fixture
def cip_case(runtime: Runtime, atendente: Actor, complaint: dict[str, str]) -> CaseResult:
    """A complaint against the CNPJ, its CIP waiting for the supplier's answer."""
    result = runtime.start_case("reclamacao", atendente, complaint)
    result = step(runtime, result, "atendimento_preliminar", atendente, PRELIM_NAO_RESOLVIDA)
    return step(runtime, result, "emitir_cip", atendente, CIP)


def html(response: Any) -> str:
    return response.get_data(as_text=True)


def deliver(runtime: Runtime, smtp: tuple[Sink, Controller]) -> list[Any]:
    handler, controller = smtp
    before = len(handler.envelopes)
    send_pending(runtime.db, runtime.services, TaskSettings(smtp_host="127.0.0.1", smtp_port=controller.port,
                                                            smtp_timeout_s=2.0))
    return [handler.message(i) for i in range(before, len(handler.envelopes))]


def pending_supplier(app: Flask, runtime: Runtime, smtp: tuple[Sink, Controller],
                     email: str = "mallory@example.com", name: str = "Mallory") -> FlaskClient:
    client = app.test_client()
    answer = post_form(client, "/portal/fornecedor/cadastro", {"cnpj": CNPJ_CHARS.lower(), "razao_social": TYPED,
                                                                "nome": name, "email": email,
                                                                "senha": "segredo123"})
    assert answer.status_code == 200 and "comprove que você representa a empresa" in html(answer)
    [message] = deliver(runtime, smtp)
    link = next(line for line in message.get_content().splitlines() if "/portal/confirmar/" in line)
    assert client.get(link[link.index("/portal/confirmar/"):].strip()).status_code == 302
    return client


def member_id(page: str) -> int:
    return int(re.search(r"/portal/fornecedor/comprovacao/(\d+)/codigo", page).group(1))


def public_pages(client: FlaskClient) -> str:
    return "".join(html(client.get(url)) for url in (
        "/publico/fornecedores?q=Sequestrada", f"/publico/fornecedores/{CNPJ_CHARS}", "/publico/cadastro?ano=2026",
        "/publico/cadastro?ano=2026&formato=csv"))


def test_a_pending_representative_sees_nothing_until_the_company_email_confirms(
        app: Flask, runtime: Runtime, smtp: tuple[Sink, Controller], cip_case: CaseResult) -> None:
    mallory = pending_supplier(app, runtime, smtp)
    home = mallory.get("/portal/fornecedor/")
    assert home.status_code == 302 and home.headers["Location"] == "/portal/fornecedor/comprovacao/"
    page = html(mallory.get("/portal/fornecedor/comprovacao/"))
    assert CNPJ in page and TYPED in page and "Aguardando comprovação" in page
    assert mallory.get(f"/portal/casos/{cip_case.case_id}").status_code == 404
    [cip] = [t for t in cip_case.open_tasks if t.spec_name == "registrar_resposta"]
    assert mallory.get(f"/portal/casos/{cip_case.case_id}/tarefas/{cip.task_id}").status_code == 404
    assert TYPED not in public_pages(app.test_client())

    member = member_id(page)
    sent = mallory.post(f"/portal/fornecedor/comprovacao/{member}/codigo", data={"csrf_token": csrf_token(page)})
    assert sent.status_code == 200 and "Código enviado para j***@l***.example" in html(sent)
    [message] = deliver(runtime, smtp)
    assert message["To"] == "juridico@lojaexemplo.example"  # the company's, from the CNPJ service
    assert "mallory@example.com" in message.get_content()  # whoever reads it knows who asks
    code = re.search(r"este código: (\d{6})", message.get_content()).group(1)
    url = f"/portal/fornecedor/comprovacao/{member}/codigo/confirmar"
    wrong = mallory.post(url, data={"csrf_token": csrf_token(html(sent)), "codigo": "12345"})
    assert wrong.status_code == 422 and "Código incorreto ou vencido" in html(wrong) and 'value="12345"' in html(wrong)
    done = mallory.post(url, data={"csrf_token": csrf_token(html(sent)), "codigo": code})
    assert done.status_code == 302 and done.headers["Location"] == "/portal/fornecedor/"
    inbox = html(mallory.get("/portal/fornecedor/"))
    assert cip.task_id in inbox and "LOJA EXEMPLO COMERCIO LTDA" in inbox
    everything = public_pages(app.test_client())
    assert TYPED not in everything and "LOJA EXEMPLO COMERCIO LTDA" in html(
        app.test_client().get(f"/publico/fornecedores/{CNPJ_CHARS}"))


def test_documents_and_the_empresas_queue(app: Flask, runtime: Runtime, smtp: tuple[Sink, Controller],
                                          cip_case: CaseResult) -> None:
    first = pending_supplier(app, runtime, smtp, "carla@loja.example", "Carla Representante")
    second = pending_supplier(app, runtime, smtp, "mallory@example.com")
    page = html(first.get("/portal/fornecedor/comprovacao/"))
    member = member_id(page)
    upload = f"/portal/fornecedor/comprovacao/{member}/documentos"
    refused = first.post(upload, data={"csrf_token": csrf_token(page), "tipo": "contrato_social",
                                       "arquivo": (io.BytesIO(b"MZ\x90\x00"), "contrato.exe")},
                         content_type="multipart/form-data")
    assert refused.status_code == 422 and "Tipo de arquivo não aceito" in html(refused)
    sent = first.post(upload, data={"csrf_token": csrf_token(page), "tipo": "contrato_social",
                                    "arquivo": (io.BytesIO(PDF), "contrato social.pdf")},
                      content_type="multipart/form-data")
    assert sent.status_code == 302
    assert "contrato social.pdf" in html(first.get("/portal/fornecedor/comprovacao/"))

    assert client_for(app, "ana").get("/empresas/").status_code == 403  # a unit attendant does not review
    gabi = client_for(app, "gabi")
    queue = html(gabi.get("/empresas/"))
    assert "carla@loja.example" in queue and "mallory@example.com" in queue and TYPED in queue
    first_review, second_review = re.findall(r'href="/empresas/(\d+)"', queue)
    review = html(gabi.get(f"/empresas/{first_review}"))
    assert "LOJA EXEMPLO COMERCIO LTDA" in review and "juridico@lojaexemplo.example" in review  # CNPJ service
    [doc_url] = re.findall(r'href="(/empresas/\d+/documentos/\d+)"', review)
    download = gabi.get(doc_url)
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    nameless = gabi.post(f"/empresas/{first_review}/aprovar", data={"csrf_token": csrf_token(review),
                                                                    "nome_publico": " "})
    assert nameless.status_code == 422 and "razão social" in html(nameless)
    approved = gabi.post(f"/empresas/{first_review}/aprovar", data={
        "csrf_token": csrf_token(review), "nome_publico": "LOJA EXEMPLO COMERCIO LTDA",
        "observacao": "Contrato social conferido"})
    assert approved.status_code == 302
    review = html(gabi.get(f"/empresas/{second_review}"))
    short = gabi.post(f"/empresas/{second_review}/recusar", data={"csrf_token": csrf_token(review), "motivo": ""})
    assert short.status_code == 422 and "Diga o motivo" in html(short)
    gabi.post(f"/empresas/{second_review}/recusar", data={"csrf_token": csrf_token(review),
                                                          "motivo": "Nenhum documento da empresa foi enviado."})

    assert str(cip_case.case_id) in html(first.get("/portal/fornecedor/"))
    assert first.get(f"/portal/casos/{cip_case.case_id}").status_code == 200
    told = html(second.get(second.get("/portal/fornecedor/").headers["Location"]))
    assert "Pedido recusado" in told and "Nenhum documento da empresa foi enviado." in told
    assert second.get(f"/portal/casos/{cip_case.case_id}").status_code == 404
    # The approved administrator sees the refused person gone from the company's page.
    assert "Mallory" not in html(first.get("/portal/fornecedor/empresa"))


def test_gov_br_claims_with_the_cnpj_prove_the_representative(app: Flask, runtime: Runtime, provider: Provider,
                                                              smtp: tuple[Sink, Controller],
                                                              cip_case: CaseResult) -> None:
    carla = pending_supplier(app, runtime, smtp, "carla@loja.example", "Carla Representante")
    page = html(carla.get("/portal/fornecedor/comprovacao/"))
    member = member_id(page)
    assert f'href="/portal/oidc/empresa/{member}"' in page

    def through_the_provider() -> Any:
        started = carla.get(f"/portal/oidc/empresa/{member}")
        assert started.status_code == 302
        back = requests.get(started.headers["Location"], allow_redirects=False, timeout=5)
        target = urlsplit(back.headers["Location"])
        return carla.get(f"{target.path}?{target.query}")

    provider.person = {"sub": "52998224725", "name": "Carla", "cnpjs": ["11222333000181"]}
    refused = through_the_provider()
    assert refused.status_code == 422 and "não informou este CNPJ" in html(refused)
    assert carla.get(f"/portal/casos/{cip_case.case_id}").status_code == 404
    provider.person = {"sub": "52998224725", "name": "Carla", "cnpjs": [CNPJ_CHARS]}
    done = through_the_provider()
    assert done.status_code == 302 and done.headers["Location"] == "/portal/fornecedor/"
    assert carla.get(f"/portal/casos/{cip_case.case_id}").status_code == 200
    assert "LOJA EXEMPLO COMERCIO LTDA" in html(carla.get("/portal/fornecedor/empresa"))  # the service's name
    assert carla.get(f"/portal/oidc/empresa/{member}").status_code == 404  # nothing left to prove
