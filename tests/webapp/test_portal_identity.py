"""Issue 13, finding 2, through the Flask app (CSRF on, real database, real local SMTP server and OpenID provider):
an account that only knows a CPF sees none of the cases filed at the counter; a code e-mailed to the address
recorded on a case opens that case; a gov.br login or an attendant's confirmation in person opens them all; the
attendant's "Nova reclamação" warns before saving a CPF that belongs to an account under another name, and
that case stays hidden from the account until the divergence is resolved. Sign-up with a taken CPF looks the
same as any other (issue 13, 5)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine.actors import Actor
from engine.parties.models import OutboundEmail, PortalAccount
from engine.parties.proof_models import AccountEvent, PartyLinkHold
from engine.runtime import Runtime
from engine.store.models import Case
from engine.worker.email_outbox import send_pending
from tasks import registry
from tasks.context import TaskSettings
from tests.support.browser_support import served
from tests.support.oidc_provider import Provider
from tests.support.smtp_support import Sink, start
from tests.support.web_helpers import PASSWORD, client_for, csrf_token, post_form
from webapp import create_app
from webapp.users import create_user

CPF = "529.982.247-25"


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
def app(runtime: Runtime, provider: Provider) -> Flask:
    registry.load_handlers()
    with runtime.Session.begin() as session:
        create_user(session, "ana", "Ana Atendente", ["atendente"], PASSWORD)
        create_user(session, "bia", "Bia Analista", ["analista"], PASSWORD)
    return create_app({"RUNTIME": runtime, "SECRET_KEY": "teste", "TESTING": True, "WTF_CSRF_ENABLED": True,
                       "OIDC_ISSUER": provider.issuer, "OIDC_CLIENT_ID": "procon", "OIDC_CLIENT_SECRET": "segredo",
                       "OIDC_LABEL": "gov.br"})


def html(response: Any) -> str:
    return response.get_data(as_text=True)


def deliver(runtime: Runtime, smtp: tuple[Sink, Controller]) -> list[Any]:
    """Send what the outbox holds to the local SMTP server; the messages received."""
    handler, controller = smtp
    before = len(handler.envelopes)
    send_pending(runtime.db, runtime.services, TaskSettings(smtp_host="127.0.0.1", smtp_port=controller.port,
                                                            smtp_timeout_s=2.0))
    return [handler.message(i) for i in range(before, len(handler.envelopes))]


def signed_up(app: Flask, runtime: Runtime, smtp: tuple[Sink, Controller], name: str = "João da Silva",
              email: str = "joao.portal@example.com", cpf: str = CPF) -> FlaskClient:
    client = app.test_client()
    answer = post_form(client, "/portal/cadastro", {"nome": name, "cpf": cpf, "email": email, "telefone": "",
                                                     "senha": "segredo123"})
    assert answer.status_code == 200 and "Confira seu e-mail" in html(answer)
    [message] = deliver(runtime, smtp)
    link = next(line for line in message.get_content().splitlines() if "/portal/confirmar/" in line)
    assert client.get(link[link.index("/portal/confirmar/"):].strip()).status_code == 302
    return client


def ask_code(client: FlaskClient, protocol: str, channel: str) -> Any:
    """The "Enviar código" button of the page "Atendimentos no Procon"."""
    page = html(client.get("/portal/consumidor/identidade/"))
    return client.post("/portal/consumidor/identidade/codigo", data={"csrf_token": csrf_token(page),
                                                                    "protocolo": protocol, "canal": channel})


def counter_case(runtime: Runtime, complaint: dict[str, str], **changes: str) -> Case:
    result = runtime.start_case("reclamacao", Actor("ana", "Ana Atendente", frozenset({"atendente"})),
                                dict(complaint, **changes))
    with runtime.Session() as session:
        return session.get(Case, result.case_id)


def test_a_code_to_the_email_on_the_case_opens_it(app: Flask, runtime: Runtime, smtp: tuple[Sink, Controller],
                                                  complaint: dict[str, str]) -> None:
    case = counter_case(runtime, complaint)  # João's complaint at the counter, e-mail joao@example.com
    joao = signed_up(app, runtime, smtp)
    home = html(joao.get("/portal/consumidor/"))
    assert case.protocol not in home and "Ver um atendimento feito no Procon" in home
    assert joao.get(f"/portal/casos/{case.id}").status_code == 404

    missing = ask_code(joao, "", "email")
    assert missing.status_code == 422 and "Informe o número do protocolo" in html(missing)
    sms = ask_code(joao, case.protocol, "sms")
    assert sms.status_code == 422 and "SMS não está disponível" in html(sms)  # no SMS sender configured

    sent = ask_code(joao, case.protocol.lower(), "email")
    assert sent.status_code == 200 and "Se este protocolo é de um atendimento com o seu CPF" in html(sent)
    [message] = deliver(runtime, smtp)
    assert message["To"] == "joao@example.com"  # the case's e-mail, not the account's
    code = re.search(r"Procon: (\d{6})", message.get_content()).group(1)
    token = csrf_token(html(sent))
    wrong = joao.post("/portal/consumidor/identidade/codigo/confirmar", data={
        "csrf_token": token, "protocolo": case.protocol, "codigo": "000000" if code != "000000" else "111111"})
    assert wrong.status_code == 422 and "Código incorreto ou vencido" in html(wrong)
    assert case.protocol in html(wrong)  # what was typed is kept
    done = joao.post("/portal/consumidor/identidade/codigo/confirmar", data={
        "csrf_token": token, "protocolo": case.protocol, "codigo": code})
    assert done.status_code == 302 and done.headers["Location"] == f"/portal/casos/{case.id}"
    assert joao.get(f"/portal/casos/{case.id}").status_code == 200
    assert case.protocol in html(joao.get("/portal/consumidor/"))


def test_the_same_answer_for_a_protocol_of_someone_else(app: Flask, runtime: Runtime,
                                                        smtp: tuple[Sink, Controller],
                                                        complaint: dict[str, str]) -> None:
    other = counter_case(runtime, complaint, consumidor_cpf="168.995.350-09")
    joao = signed_up(app, runtime, smtp)
    answers = [ask_code(joao, protocol, "email") for protocol in (other.protocol, "CAP-2026-999999")]
    assert [a.status_code for a in answers] == [200, 200]
    assert all("Se este protocolo é de um atendimento com o seu CPF" in html(a) for a in answers)
    assert deliver(runtime, smtp) == []  # nothing sent to anyone
    assert joao.get(f"/portal/casos/{other.id}").status_code == 404


def test_gov_br_login_opens_every_case_of_the_cpf(app: Flask, runtime: Runtime, provider: Provider,
                                                  smtp: tuple[Sink, Controller], complaint: dict[str, str]) -> None:
    case = counter_case(runtime, complaint)
    joao = signed_up(app, runtime, smtp, email="joao@example.com")
    assert case.protocol not in html(joao.get("/portal/consumidor/"))
    page = html(joao.get("/portal/consumidor/identidade/"))
    assert 'href="/portal/oidc/entrar"' in page
    provider.person = {"sub": "52998224725", "name": "João da Silva", "email": "joao@example.com",
                       "email_verified": True}
    started = joao.get("/portal/oidc/entrar")
    back = requests.get(started.headers["Location"], allow_redirects=False, timeout=5)
    target = urlsplit(back.headers["Location"])
    assert joao.get(f"{target.path}?{target.query}").status_code == 302
    assert case.protocol in html(joao.get("/portal/consumidor/"))
    assert "Sua identidade está comprovada" in html(joao.get("/portal/consumidor/identidade/"))


def test_an_attendant_confirms_in_person(app: Flask, runtime: Runtime, smtp: tuple[Sink, Controller],
                                         complaint: dict[str, str]) -> None:
    case = counter_case(runtime, complaint)
    joao = signed_up(app, runtime, smtp)
    with runtime.Session() as session:
        account_id = session.scalars(select(PortalAccount.id)).one()
    bia = client_for(app, "bia")
    assert bia.get("/contas-portal/").status_code == 403  # an analyst does not confirm identities
    ana = client_for(app, "ana")
    found = ana.get("/contas-portal/", query_string={"cpf": "52998224725"})
    assert found.status_code == 200 and "João da Silva" in html(found) and "joao.portal@example.com" in html(found)
    assert ana.get("/contas-portal/", query_string={"cpf": "123"}).status_code == 422
    url = f"/contas-portal/{account_id}/confirmar"
    token = csrf_token(html(found))
    unchecked = ana.post(url, data={"csrf_token": token, "cpf": CPF, "documento": "RG 12.345.678-9"})
    assert unchecked.status_code == 422 and "Marque que você conferiu" in html(unchecked)
    assert 'value="RG 12.345.678-9"' in html(unchecked)
    done = ana.post(url, data={"csrf_token": token, "cpf": CPF, "documento": "RG 12.345.678-9", "conferido": "sim"})
    assert done.status_code == 302
    assert "Identidade comprovada" in html(ana.get(done.headers["Location"]))
    assert joao.get(f"/portal/casos/{case.id}").status_code == 200
    with runtime.Session() as session:
        event = session.scalars(select(AccountEvent).where(AccountEvent.action == "identidade_comprovada")).one()
        assert event.actor == "ana"


def test_nova_reclamacao_warns_about_a_cpf_under_another_name(app: Flask, runtime: Runtime,
                                                              smtp: tuple[Sink, Controller],
                                                              complaint: dict[str, str]) -> None:
    maria = signed_up(app, runtime, smtp, name="Maria Souza", email="maria@example.com")
    ana = client_for(app, "ana")
    warned = post_form(ana, "/reclamacoes/nova", complaint)  # João da Silva, with Maria's CPF
    assert warned.status_code == 409
    page = html(warned)
    assert "pertence a uma conta do portal em nome de “Maria Souza”" in page
    assert 'name="confirmar_divergencia"' in page
    assert "Comprei uma geladeira" in page  # what was typed is kept
    with runtime.Session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0
    saved = ana.post("/reclamacoes/nova", data={**complaint, "confirmar_divergencia": "sim",
                                                "csrf_token": csrf_token(page)})
    assert saved.status_code == 302
    with runtime.Session() as session:
        case = session.scalars(select(Case)).one()
        assert session.scalars(select(PartyLinkHold.case_id)).one() == case.id
    with runtime.Session.begin() as session:  # Maria is proven: still, the case is not hers until resolved
        from engine.parties.identity import confirm_in_person

        confirm_in_person(session, session.scalars(select(PortalAccount.id)).one(),
                          Actor("ana", "Ana", frozenset({"atendente"})), "RG 1234567")
    assert maria.get(f"/portal/casos/{case.id}").status_code == 404
    listing = html(ana.get("/contas-portal/"))
    assert case.protocol in listing and "João da Silva" in listing and "Maria Souza" in listing
    [hold_id] = re.findall(r'/contas-portal/divergencias/(\d+)', listing)
    undecided = ana.post(f"/contas-portal/divergencias/{hold_id}", data={"csrf_token": csrf_token(listing)})
    assert undecided.status_code == 422 and "Escolha se é a mesma pessoa" in html(undecided)
    decided = ana.post(f"/contas-portal/divergencias/{hold_id}", data={
        "csrf_token": csrf_token(listing), "resolucao": "vincular", "observacao": "Confirmado por telefone."})
    assert decided.status_code == 302
    assert maria.get(f"/portal/casos/{case.id}").status_code == 200


def test_sign_up_with_a_taken_cpf_shows_the_same_page_and_warns_the_owner(
        app: Flask, runtime: Runtime, smtp: tuple[Sink, Controller]) -> None:
    signed_up(app, runtime, smtp, email="joao@example.com")
    stranger = app.test_client()
    answer = post_form(stranger, "/portal/cadastro", {"nome": "Outra Pessoa", "cpf": CPF,
                                                       "email": "outra@example.com", "telefone": "",
                                                       "senha": "segredo123"})
    assert answer.status_code == 200 and "Confira seu e-mail" in html(answer)
    assert "Já existe" not in html(answer)
    [warning] = deliver(runtime, smtp)
    assert warning["To"] == "joao@example.com" and "com o seu CPF" in warning.get_content()
    with runtime.Session() as session:
        assert session.scalar(select(func.count()).select_from(PortalAccount)) == 1
        assert "outra@example.com" not in session.scalars(select(OutboundEmail.to_address)).all()
