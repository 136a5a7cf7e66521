"""Portal do Fornecedor through the Flask test client (CSRF on) on a real database: the inbox of the
companies' CIPs most urgent first with the overdue marked, a representative of several companies sees
each labelled, supplier X's representative never sees supplier Y's cases, invitations by the company's
administrator only, removal cutting access at once, and the fines page with what is owed.

Runs on SQLite by default and on PostgreSQL when ``DATABASE_URL`` is set.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine import clock
from engine.actors import Actor
from engine.parties.accounts import accept_invite, confirm_email, invite_representative, register_supplier
from engine.parties.companies import approve, open_requests
from engine.parties.models import OutboundEmail, PortalAccount, SupplierCompany, SupplierInvite
from engine.runtime import CaseResult, Runtime
from tasks import registry
from tests.engine import test_proc_sancionatorio as sanc
from tests.engine.test_proc_parties import CNPJ_X, CNPJ_Y, FORNECEDOR_X, filed_by_consumer
from tests.support.web_helpers import csrf_token
from webapp import create_app
from webapp.portal.supplier import describe_fine

PASSWORD = "segredo123"
STATE_STAFF = Actor("admin", "Administradora", frozenset({"admin"}))


@pytest.fixture
def runtime(runtime: Runtime) -> Runtime:
    registry.load_handlers()
    return runtime


@pytest.fixture
def app(runtime: Runtime) -> Iterator[Flask]:
    yield create_app({"RUNTIME": runtime, "SECRET_KEY": "teste", "TESTING": True, "WTF_CSRF_ENABLED": True})


def company(runtime: Runtime, cnpj: str, name: str, admin: str, email: str) -> int:
    """A confirmed company account whose administrator the Procon's state staff approved (the Empresas queue,
    with ``name`` as the company's public name); returns the administrator's account id."""
    with runtime.Session.begin() as session:
        signup = register_supplier(session, cnpj=cnpj, company_name=name, name=admin, email=email,
                                   password=PASSWORD)
        confirm_email(session, signup.token)
        [request] = open_requests(session, signup.account, create=True)
        approve(session, STATE_STAFF, request.proof.id, name)
        return signup.account.id


def company_id(runtime: Runtime, cnpj: str) -> int:
    with runtime.Session() as session:
        return session.scalar(select(SupplierCompany.id).where(SupplierCompany.cnpj == cnpj))


def invite(runtime: Runtime, admin_id: int, cnpj: str, email: str, name: str) -> int:
    with runtime.Session.begin() as session:
        admin = session.get(PortalAccount, admin_id)
        token = invite_representative(session, admin, company_id(runtime, cnpj), email).token
    with runtime.Session.begin() as session:
        return accept_invite(session, token, name=name, password=PASSWORD).id


def signed_in(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    page = client.get("/portal/entrar")
    done = client.post("/portal/entrar", data={"login": email, "senha": PASSWORD,
                                               "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert done.status_code == 302, done.get_data(as_text=True)
    return client


def post(client: FlaskClient, page_url: str, url: str, data: dict[str, str]) -> object:
    page = client.get(page_url)
    return client.post(url, data={**data, "csrf_token": csrf_token(page.get_data(as_text=True))})


def cip(result: CaseResult) -> object:
    [task] = [t for t in result.open_tasks if t.spec_name == "registrar_resposta"]
    return task


def task_order(html: str) -> list[tuple[int, str]]:
    return [(int(c), t) for c, t in re.findall(r'href="/portal/casos/(\d+)/tarefas/([0-9a-f-]{36})"', html)]


@pytest.fixture
def three_cips(runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor,
               complaint: dict[str, str]) -> dict[str, CaseResult]:
    """Two complaints against X (the later-filed one has the earlier CIP deadline) and one against Y."""
    frozen_clock.set(sanc.local(2026, 3, 5))
    later = filed_by_consumer(runtime, atendente, complaint)
    frozen_clock.set(sanc.local(2026, 3, 2))
    earlier = filed_by_consumer(runtime, atendente, complaint)
    other = filed_by_consumer(runtime, atendente, dict(complaint, fornecedor_cnpj=CNPJ_Y,
                                                      fornecedor_nome="Outra Loja S.A."))
    assert cip(earlier).due_at < cip(later).due_at
    return {"earlier": earlier, "later": later, "other": other}


def test_inbox_most_urgent_first_overdue_marked_and_only_the_companys_cases(
        app: Flask, runtime: Runtime, frozen_clock: clock.FrozenClock, three_cips: dict[str, CaseResult]) -> None:
    carlos = company(runtime, CNPJ_X, "Loja Exemplo Ltda", "Carlos Admin", "carlos@loja.example")
    yara = company(runtime, CNPJ_Y, "Outra Loja S.A.", "Yara Admin", "yara@outra.example")
    invite(runtime, carlos, CNPJ_X, "rita@loja.example", "Rita Representante")
    earlier, later, other = three_cips["earlier"], three_cips["later"], three_cips["other"]
    frozen_clock.set(cip(earlier).due_at + dt.timedelta(hours=1))  # the first CIP deadline passed (not fired yet)
    assert clock.now() < cip(later).due_at

    rita = signed_in(app, "rita@loja.example")
    page = rita.get("/portal/fornecedor/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert task_order(html) == [(earlier.case_id, cip(earlier).task_id), (later.case_id, cip(later).task_id)]
    assert html.count("Prazo vencido") == 1
    assert html.index("Prazo vencido") < html.index(cip(later).task_id)
    assert "Responder à CIP" in html and earlier.protocol in html and later.protocol in html
    assert other.protocol not in html and "Outra Loja" not in html
    assert f"/portal/casos/{other.case_id}" not in html
    # A representative of one company gets no company label; Y's company page is not hers to act on.
    assert "empresa-rotulo" not in html
    refused = post(rita, "/portal/fornecedor/empresa", f"/portal/fornecedor/empresa/{company_id(runtime, CNPJ_Y)}"
                   "/convites", {"email": "intrusa@example.com"})
    assert refused.status_code == 404
    assert rita.get(f"/portal/casos/{other.case_id}").status_code == 404
    assert rita.get(f"/portal/casos/{other.case_id}/tarefas/{cip(other).task_id}").status_code == 404
    assert rita.get(f"/portal/casos/{earlier.case_id}").status_code == 200

    # Yara (Y) invites Carlos (X's administrator): he now sees both companies, each task labelled.
    invite(runtime, yara, CNPJ_Y, "carlos@loja.example", "Carlos Admin")
    html = signed_in(app, "carlos@loja.example").get("/portal/fornecedor/").get_data(as_text=True)
    assert [case for case, _task in task_order(html)] == [earlier.case_id, other.case_id, later.case_id]
    assert html.count('class="empresa-rotulo">Outra Loja S.A.<') == 1
    assert html.count('class="empresa-rotulo">Loja Exemplo Ltda<') == 2


def test_only_the_administrator_invites_and_removal_cuts_access(
        app: Flask, runtime: Runtime, frozen_clock: clock.FrozenClock, three_cips: dict[str, CaseResult]) -> None:
    company(runtime, CNPJ_X, "Loja Exemplo Ltda", "Carlos Admin", "carlos@loja.example")
    x_id = company_id(runtime, CNPJ_X)
    carlos = signed_in(app, "carlos@loja.example")
    page = carlos.get("/portal/fornecedor/empresa").get_data(as_text=True)
    assert "Convidar representante" in page and "Carlos Admin" in page

    # A bad e-mail: the message sits next to the field, what was typed is kept, nothing is sent.
    bad = post(carlos, "/portal/fornecedor/empresa", f"/portal/fornecedor/empresa/{x_id}/convites",
               {"email": "rita@"})
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert "Informe um e-mail válido para o convite." in html and 'value="rita@"' in html
    with runtime.Session() as session:
        assert session.scalar(select(func.count()).select_from(SupplierInvite)) == 0

    sent = post(carlos, "/portal/fornecedor/empresa", f"/portal/fornecedor/empresa/{x_id}/convites",
                {"email": "Rita@Loja.example"})
    assert sent.status_code == 302
    page = carlos.get("/portal/fornecedor/empresa").get_data(as_text=True)
    assert "Convite enviado para rita@loja.example" in page
    assert "Convites pendentes" in page and "rita@loja.example" in page
    with runtime.Session() as session:
        email = session.scalars(select(OutboundEmail).where(OutboundEmail.kind == "convite")).one()
    assert email.to_address == "rita@loja.example"
    token = re.search(r"/portal/fornecedor/convite/(\S+)", email.body).group(1)
    with runtime.Session.begin() as session:
        rita_id = accept_invite(session, token, name="Rita Representante", password=PASSWORD).id

    # Rita is not the administrator: no invite form, and posting one is refused with a message.
    rita = signed_in(app, "rita@loja.example")
    page = rita.get("/portal/fornecedor/empresa").get_data(as_text=True)
    assert "Convidar representante" not in page and "Remover" not in page
    assert "Só o administrador da conta da empresa convida" in page
    refused = post(rita, "/portal/fornecedor/empresa", f"/portal/fornecedor/empresa/{x_id}/convites",
                   {"email": "outro@loja.example"})
    assert refused.status_code == 403
    assert "Só o administrador da conta da empresa pode convidar" in refused.get_data(as_text=True)
    with runtime.Session() as session:
        assert session.scalar(select(func.count()).select_from(SupplierInvite)) == 1
    earlier = three_cips["earlier"]
    assert cip(earlier).task_id in rita.get("/portal/fornecedor/").get_data(as_text=True)

    # The administrator removes her: her very next request shows no case of the company.
    page = carlos.get("/portal/fornecedor/empresa").get_data(as_text=True)
    assert "Rita Representante" in page and "Nenhum convite pendente." in page  # accepted: no longer pending
    removed = post(carlos, "/portal/fornecedor/empresa",
                   f"/portal/fornecedor/empresa/{x_id}/representantes/{rita_id}/remover", {})
    assert removed.status_code == 302
    page = carlos.get("/portal/fornecedor/empresa").get_data(as_text=True)
    assert "Rita Representante não representa mais a empresa." in page
    assert page.count("Rita Representante") == 1  # only in the message
    html = rita.get("/portal/fornecedor/").get_data(as_text=True)
    assert task_order(html) == [] and earlier.protocol not in html
    assert "não representa nenhuma empresa" in html
    assert rita.get(f"/portal/casos/{earlier.case_id}").status_code == 404
    # The administrator cannot remove himself.
    with runtime.Session() as session:
        carlos_id = session.scalar(select(PortalAccount.id).where(PortalAccount.email == "carlos@loja.example"))
    itself = post(carlos, "/portal/fornecedor/empresa",
                  f"/portal/fornecedor/empresa/{x_id}/representantes/{carlos_id}/remover", {})
    assert itself.status_code == 403 and "não pode remover a si mesmo" in itself.get_data(as_text=True)


def test_fines_with_their_status_and_the_total_owed(app: Flask, runtime: Runtime,
                                                    frozen_clock: clock.FrozenClock) -> None:
    company(runtime, CNPJ_X, "Loja Exemplo Ltda", "Carlos Admin", "carlos@loja.example")
    # Fine 1: no appeal, notified for payment on 6 April: due Thursday 16 April.
    due = sanc.until_payment(runtime, frozen_clock)
    # Fine 2: decided the same way with a smaller fine; the supplier appeals on 31 March.
    appealed = sanc.until_appeal_window(runtime, frozen_clock, fine=sanc.dosimetria(receita="500.000,00"))
    frozen_clock.set(sanc.local(2026, 3, 31, 17))
    appealed = sanc.step(runtime, appealed, "receber_recurso", FORNECEDOR_X,
                         {"recurso_interposicao": "A multa ignora o porte da loja.", "recurso_canal": "portal"})
    frozen_clock.set(sanc.local(2026, 4, 6, 12))

    carlos = signed_in(app, "carlos@loja.example")
    html = carlos.get("/portal/fornecedor/multas").get_data(as_text=True)
    rows = dict(re.findall(r'data-situacao="(\w+)">.*?class="situacao-multa">([^<]+)<', html, re.S))
    assert rows == {"exigivel": "A pagar até 16/04/2026", "suspensa_por_recurso": "Em recurso (cobrança suspensa)"}
    assert due.protocol in html and appealed.protocol in html
    assert re.search(r'id="total-devido">R\$\s42\.345,67<', html)
    assert "R$ 27.345,67 estão suspensas por recurso" in html.replace("\xa0", " ")

    sanc.step(runtime, due, "registrar_pagamento", sanc.ANALISTA, sanc.pagamento("10/04/2026", "42.345,67"))
    html = carlos.get("/portal/fornecedor/multas").get_data(as_text=True)
    rows = dict(re.findall(r'data-situacao="(\w+)">.*?class="situacao-multa">([^<]+)<', html, re.S))
    assert rows == {"paga": "Paga em 10/04/2026", "suspensa_por_recurso": "Em recurso (cobrança suspensa)"}
    assert re.search(r'id="total-devido">R\$\s0,00<', html)

    # Another supplier's representative sees none of these fines.
    company(runtime, CNPJ_Y, "Outra Loja S.A.", "Yara Admin", "yara@outra.example")
    html = signed_in(app, "yara@outra.example").get("/portal/fornecedor/multas").get_data(as_text=True)
    assert due.protocol not in html and appealed.protocol not in html
    assert "Nenhuma multa aplicada" in html


@pytest.mark.parametrize(("data", "expected"), [
    ({"multa_situacao": "em_prazo_recursal", "prazo_recurso_vence_em": "2026-04-02"},
     ("Prazo para recorrer até 02/04/2026", False)),
    ({"multa_situacao": "exigivel", "pagamento_vence_em": "2026-04-16"}, ("A pagar até 16/04/2026", False)),
    ({"multa_situacao": "exigivel", "pagamento_vence_em": "2026-04-03"},
     ("Vencida em 03/04/2026: será inscrita em dívida ativa", True)),
    ({"multa_situacao": "exigivel"}, ("A pagar (aguardando a notificação de cobrança)", False)),
    ({"multa_situacao": "inscrita_divida_ativa"}, ("Inscrita em dívida ativa", True)),
    ({"multa_situacao": "anulada"}, ("Anulada em recurso", False)),
    ({"multa_situacao": "paga"}, ("Paga", False)),
])
def test_fine_status_sentences(data: dict[str, str], expected: tuple[str, bool]) -> None:
    assert describe_fine(data, dt.date(2026, 4, 6)) == expected


def test_supplier_pages_need_a_supplier_account(app: Flask, runtime: Runtime) -> None:
    client = app.test_client()
    for url in ("/portal/fornecedor/", "/portal/fornecedor/multas", "/portal/fornecedor/empresa"):
        answer = client.get(url)
        assert answer.status_code == 302 and "/portal/entrar" in answer.headers["Location"]
