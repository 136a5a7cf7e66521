"""Public pages (no login) on a known set of complaints walked through the real diagram: the supplier
search, a supplier's complaint record per year, and the cadastro de reclamações fundamentadas (CDC art.
44) with its CSV — the figures, the year boundaries in the agency's time zone, the messages for bad
input, and no consumer data anywhere in the HTML or the CSV.

Runs on SQLite by default and on PostgreSQL when ``DATABASE_URL`` is set.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine import clock
from engine.actors import Actor
from engine.runtime import CaseResult, Runtime
from tasks import registry
from tests.engine.test_engine_paths import CIP, PRELIM_NAO_RESOLVIDA, PRELIM_RESOLVIDA, RESPOSTA, analise, local, step
from tests.engine.test_proc_parties import CNPJ_X, CNPJ_Y
from webapp import create_app

X_SLUG, Y_SLUG = "12ABC34501DE35", "11222333000181"
#: What the complaint fixture (tests/conftest.py) says of the consumer: none of it may be published.
CONSUMER_DATA = ("João", "Silva", "529.982.247-25", "52998224725", "joao@example.com", "98765-4321", "geladeira",
                 "Troca do produto")


@pytest.fixture
def runtime(runtime: Runtime) -> Runtime:
    registry.load_handlers()
    return runtime


@pytest.fixture
def client(runtime: Runtime) -> Iterator[FlaskClient]:
    app: Flask = create_app({"RUNTIME": runtime, "SECRET_KEY": "teste", "TESTING": True, "WTF_CSRF_ENABLED": True})
    yield app.test_client()


def filed(rt: Runtime, atendente: Actor, values: dict[str, str]) -> CaseResult:
    result = rt.start_case("reclamacao", atendente, values)
    result = step(rt, result, "atendimento_preliminar", atendente, PRELIM_NAO_RESOLVIDA)
    return step(rt, result, "emitir_cip", atendente, CIP)


def classified(rt: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor, analista: Actor,
               values: dict[str, str], desfecho: str, when: object) -> CaseResult:
    """Filed now, the CIP answered (registered by staff), classified ``desfecho`` at ``when``."""
    result = filed(rt, atendente, values)
    result = step(rt, result, "registrar_resposta", analista, RESPOSTA)
    frozen_clock.set(when)
    return step(rt, result, "analisar_reclamacao", analista, analise(desfecho))


@pytest.fixture
def known(runtime: Runtime, frozen_clock: clock.FrozenClock, atendente: Actor, analista: Actor,
          complaint: dict[str, str]) -> None:
    """Supplier X: 1 complaint of 2025 (fundamentada não atendida, classified in January 2026) and 5 of 2026
    (resolved in the preliminary contact; fundamentada atendida; arquivada; CIP still open; fundamentada não
    atendida classified on 31 December 2026 at 23:30 in São Paulo — already 2027 in UTC).
    Supplier Y: 2 complaints of 2026, both fundamentada atendida."""
    rt = runtime
    supplier_y = dict(complaint, fornecedor_cnpj=CNPJ_Y, fornecedor_nome="Outra Loja S.A.")
    frozen_clock.set(local(2025, 12, 10))
    classified(rt, frozen_clock, atendente, analista, complaint, "fundamentada_nao_atendida", local(2026, 1, 5))
    frozen_clock.set(local(2026, 3, 2))
    resolved = rt.start_case("reclamacao", atendente, complaint)
    assert step(rt, resolved, "atendimento_preliminar", atendente, PRELIM_RESOLVIDA).status == "encerrado"
    classified(rt, frozen_clock, atendente, analista, complaint, "fundamentada_atendida", local(2026, 3, 10))
    classified(rt, frozen_clock, atendente, analista, complaint, "arquivada", local(2026, 3, 11))
    filed(rt, atendente, complaint)
    classified(rt, frozen_clock, atendente, analista, complaint, "fundamentada_nao_atendida",
               local(2026, 12, 31, 23, 30))
    frozen_clock.set(local(2026, 4, 1))
    classified(rt, frozen_clock, atendente, analista, supplier_y, "fundamentada_atendida", local(2026, 4, 2))
    classified(rt, frozen_clock, atendente, analista, supplier_y, "fundamentada_atendida", local(2026, 4, 3))
    frozen_clock.set(local(2027, 2, 1))


def no_consumer_data(text: str) -> None:
    for item in CONSUMER_DATA:
        assert item not in text, item


def cells(html: str, row_attr: str) -> list[str]:
    row = re.search(rf'<tr {row_attr}>(.*?)</tr>', html, re.S)
    assert row, row_attr
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]


def test_supplier_record_per_year(client: FlaskClient, known: None) -> None:
    page = client.get(f"/publico/fornecedores/{X_SLUG}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Loja Exemplo Ltda" in html and CNPJ_X in html
    #       year, registered, answered, resolved, attended, not attended, archived, open
    assert cells(html, 'data-ano="2026"') == ["2026", "5", "4", "2", "1", "1", "1", "1"]
    assert cells(html, 'data-ano="2025"') == ["2025", "1", "1", "0", "0", "1", "0", "0"]
    assert html.index('data-ano="2026"') < html.index('data-ano="2025"')
    totals = dict(re.findall(r'<dd id="total-(\w+)">(\d+)</dd>', html))
    assert totals == {"registradas": "6", "respondidas": "5", "resolvidas": "2", "fundamentadas": "3"}
    no_consumer_data(html)
    # The punctuated CNPJ reaches the same record.
    assert client.get("/publico/fornecedores/12.abc.345-01de-35").status_code == 200


def test_search_by_name_or_cnpj(client: FlaskClient, known: None) -> None:
    html = client.get("/publico/fornecedores?q=exemplo").get_data(as_text=True)
    assert f'href="/publico/fornecedores/{X_SLUG}"' in html and "6 reclamações" in html
    assert Y_SLUG not in html
    for written in (CNPJ_X, X_SLUG, "12abc34501de35"):
        html = client.get("/publico/fornecedores", query_string={"q": written}).get_data(as_text=True)
        assert f'href="/publico/fornecedores/{X_SLUG}"' in html, written
    html = client.get("/publico/fornecedores?q=loja").get_data(as_text=True)
    assert html.index(X_SLUG) < html.index(Y_SLUG)  # more complaints first
    no_consumer_data(html)
    # A consumer's name finds nothing: the search reads suppliers' names only.
    html = client.get("/publico/fornecedores", query_string={"q": "Silva"}).get_data(as_text=True)
    assert "Nenhuma empresa com reclamações encontrada" in html and X_SLUG not in html


def test_cadastro_by_year_and_its_csv(client: FlaskClient, known: None) -> None:
    page = client.get("/publico/cadastro?ano=2026")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    #                                 supplier, CNPJ, fundamentadas, attended, not attended, index
    assert cells(html, f'data-cnpj="{CNPJ_X}"') == ["Loja Exemplo Ltda", CNPJ_X, "3", "1", "2", "33,3%"]
    assert cells(html, f'data-cnpj="{CNPJ_Y}"') == ["Outra Loja S.A.", CNPJ_Y, "2", "2", "0", "100,0%"]
    assert html.index(CNPJ_X) < html.index(CNPJ_Y)  # most not attended first
    assert re.search(r"<strong>5</strong> reclamações fundamentadas:\s+3 atendidas e 2 não atendidas", html)
    no_consumer_data(html)

    answer = client.get("/publico/cadastro?ano=2026&formato=csv")
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="cadastro-reclamacoes-2026.csv"' in answer.headers["Content-Disposition"]
    text = answer.get_data(as_text=True)
    no_consumer_data(text)
    assert list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";")) == [
        ["Ano", "CNPJ", "Fornecedor", "Reclamações fundamentadas", "Atendidas", "Não atendidas",
         "Índice de atendimento (%)"],
        ["2026", CNPJ_X, "Loja Exemplo Ltda", "3", "1", "2", "33,3"],
        ["2026", CNPJ_Y, "Outra Loja S.A.", "2", "2", "0", "100,0"],
    ]
    # The 2025 complaint was classified in 2026; the one classified on 31/12/2026 23:30 stays in 2026.
    html = client.get("/publico/cadastro?ano=2025").get_data(as_text=True)
    assert "Nenhuma reclamação fundamentada classificada em 2025." in html
    assert "Nenhuma reclamação fundamentada classificada em 2027." in client.get(
        "/publico/cadastro?ano=2027").get_data(as_text=True)
    # Without a year: the current one (the engine clock is in February 2027).
    assert "Cadastro de reclamações fundamentadas — 2027" in client.get("/publico/cadastro").get_data(as_text=True)


def test_bad_input_gets_a_message(client: FlaskClient, known: None) -> None:
    for year in ("abc", "20", "2099", "1990"):
        answer = client.get("/publico/cadastro", query_string={"ano": year})
        assert answer.status_code == 400, year
        html = answer.get_data(as_text=True)
        assert "Ano inválido: informe um ano entre 1991 e 2027" in html and f'value="{year}"' in html
    answer = client.get("/publico/fornecedores/123")
    assert answer.status_code == 404 and "CNPJ inválido" in answer.get_data(as_text=True)
    answer = client.get("/publico/fornecedores/11444777000161")
    assert answer.status_code == 404
    assert "Não há reclamações registradas contra o CNPJ 11.444.777/0001-61" in answer.get_data(as_text=True)
    assert client.get("/publico/cadastro?ano=2026&formato=xls").status_code == 404


def test_a_pending_company_account_renames_nothing(runtime: Runtime, client: FlaskClient, known: None) -> None:
    """Issue 13, finding 3: a company account whose representative is not proven (here one from before proofing
    existed, with the name its first sign-up typed) changes no public name, page or CSV; once the Procon's staff
    approve a representative, the name they confirmed is the public one."""
    from engine.parties.companies import approve, open_requests
    from engine.parties.models import PortalAccount, SupplierCompany, SupplierMember

    with runtime.Session.begin() as session:
        company = SupplierCompany(cnpj=CNPJ_X, name="Nome Digitado Por Um Impostor")
        account = PortalAccount(kind="fornecedor", name="Impostor", email="impostor@example.com", password_hash="x")
        session.add_all([company, account])
        session.flush()
        session.add(SupplierMember(company_id=company.id, account_id=account.id, is_admin=True))
        account_id = account.id
    pages = [client.get(url).get_data(as_text=True) for url in (
        f"/publico/fornecedores/{X_SLUG}", "/publico/fornecedores?q=exemplo", "/publico/fornecedores?q=Impostor",
        "/publico/cadastro?ano=2026", "/publico/cadastro?ano=2026&formato=csv")]
    assert all("Nome Digitado" not in page for page in pages)
    assert "Loja Exemplo Ltda" in pages[0] and "Nenhuma empresa com reclamações encontrada" in pages[2]
    with runtime.Session.begin() as session:
        [request] = open_requests(session, session.get(PortalAccount, account_id), create=True)
        approve(session, Actor("admin", "Administradora", frozenset({"admin"})), request.proof.id,
                "LOJA EXEMPLO COMERCIO LTDA")
    assert "LOJA EXEMPLO COMERCIO LTDA" in client.get(f"/publico/fornecedores/{X_SLUG}").get_data(as_text=True)
