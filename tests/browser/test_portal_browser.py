"""The portal on a phone, in a real Chromium (Playwright, 390×844, mobile, touch): a consumer signs up,
confirms the e-mail through the link in the outbox, files a complaint; the staff move it to the CIP
(through the runtime); the supplier's representative signs in, finds the CIP in the company's inbox and
answers it with a proposal of agreement; the consumer sees the answer on the case. No page scrolls
sideways; the public record and cadastro read well on the phone too. Screenshots in ``test-artifacts/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from engine.actors import Actor
from engine.parties.accounts import confirm_email, register_supplier
from engine.parties.companies import approve, open_requests
from engine.parties.models import OutboundEmail
from engine.runtime import Runtime
from engine.store.models import Case, OpenTask
from tasks import registry
from tests.engine.test_engine_paths import CIP, PRELIM_NAO_RESOLVIDA
from tests.support.browser_support import ARTIFACTS, BROWSER_MARKS, browser_app, launch, served
from tests.webapp.test_public_pages import X_SLUG, known  # noqa: F401 (the known complaints, a fixture)

pytestmark = BROWSER_MARKS

PHONE: dict[str, Any] = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
                         "device_scale_factor": 2, "locale": "pt-BR"}
CNPJ = "12.ABC.345/01DE-35"
PASSWORD = "segredo123"
ANSWER = "Pedimos desculpas: a geladeira será trocada."
PROPOSAL = "Troca da geladeira em 5 dias úteis, com frete por nossa conta."


@pytest.fixture(autouse=True)
def handlers() -> None:
    registry.load_handlers()


@pytest.fixture
def live_server(runtime: Runtime) -> Iterator[str]:
    with runtime.Session.begin() as session:
        signup = register_supplier(session, cnpj=CNPJ, company_name="Loja Exemplo Ltda", name="Carla Representante",
                                   email="carla@loja.example", password=PASSWORD)
        confirm_email(session, signup.token)
        [request] = open_requests(session, signup.account, create=True)  # approved in the Empresas queue
        approve(session, Actor("admin", "Administradora", frozenset({"admin"})), request.proof.id,
                "Loja Exemplo Ltda")
    app = browser_app(runtime)
    with served(app) as base_url:
        yield base_url


@pytest.fixture
def phones(live_server: str) -> Iterator[Any]:
    """A factory of phone pages, one browser context (cookies) per person."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        errors: list[str] = []

        def phone() -> Any:
            context = browser.new_context(**PHONE)
            page = context.new_page()
            page.set_default_timeout(15000)
            page.on("pageerror", lambda error: errors.append(str(error)))
            return page

        phone.base = live_server  # type: ignore[attr-defined]
        phone.errors = errors  # type: ignore[attr-defined]
        yield phone
        browser.close()


def shot(page: Any, name: str) -> None:
    """A full-page screenshot, after checking the page fits the phone's width."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), (
        f"{name}: a página rola para o lado no celular")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"portal-celular-{name}.png"), full_page=True)


def test_consumer_files_on_the_phone_and_the_supplier_answers_the_cip(
        phones: Any, runtime: Runtime, atendente: Actor, complaint: dict[str, str]) -> None:
    base = phones.base
    consumer = phones()
    consumer.goto(f"{base}/portal/cadastro")
    consumer.fill("#nome", complaint["consumidor_nome"])
    consumer.fill("#cpf", complaint["consumidor_cpf"])
    consumer.fill("#email", complaint["consumidor_email"])
    consumer.fill("#senha", PASSWORD)
    shot(consumer, "1-cadastro")
    consumer.tap("button[type=submit]")
    consumer.wait_for_selector("text=Confira seu e-mail")

    # The confirmation link, as the worker would e-mail it.
    with runtime.Session() as session:
        body = session.scalars(select(OutboundEmail.body).where(
            OutboundEmail.kind == "confirmacao", OutboundEmail.to_address == complaint["consumidor_email"])).one()
    path = re.search(r"(/portal/confirmar/\S+)", body).group(1)
    consumer.goto(f"{base}{path}")
    consumer.wait_for_selector("text=E-mail confirmado")

    consumer.goto(f"{base}/portal/consumidor/reclamacoes/nova")
    consumer.fill("[name=fornecedor_cnpj]", CNPJ)
    consumer.fill("[name=fornecedor_nome]", "Loja Exemplo Ltda")
    consumer.fill("[name=fatos]", complaint["fatos"])
    consumer.fill("[name=pedido]", complaint["pedido"])
    shot(consumer, "2-nova-reclamacao")
    consumer.get_by_role("button", name="Registrar reclamação").tap()
    consumer.wait_for_url(re.compile(r"/portal/casos/\d+"))
    with runtime.Session() as session:
        case = session.scalars(select(Case).where(Case.process_id == "reclamacao")).one()
        case_id, protocol = case.id, case.protocol
        assert (case.data["consumidor_cpf"], case.data["fornecedor_cnpj"], case.data["canal"]) == (
            complaint["consumidor_cpf"], CNPJ, "portal")
    assert protocol in consumer.inner_text("main")
    shot(consumer, "3-caso-registrado")

    # The Procon makes the preliminary contact and sends the CIP.
    def open_task(spec_name: str) -> str:
        with runtime.Session() as session:
            return session.scalars(select(OpenTask.task_id).where(OpenTask.case_id == case_id,
                                                                  OpenTask.spec_name == spec_name)).one()

    runtime.complete_task(case_id, open_task("atendimento_preliminar"), atendente, PRELIM_NAO_RESOLVIDA)
    runtime.complete_task(case_id, open_task("emitir_cip"), atendente, CIP)

    supplier = phones()
    supplier.goto(f"{base}/portal/entrar")
    supplier.fill("#login", "carla@loja.example")
    supplier.fill("#senha", PASSWORD)
    supplier.tap("button[type=submit]")
    supplier.wait_for_url(re.compile(r"/portal/fornecedor/"))
    inbox = supplier.inner_text("main")
    assert "Responder à CIP" in inbox and protocol in inbox
    shot(supplier, "4-pendencias-fornecedor")
    supplier.tap("text=Responder à CIP")
    supplier.wait_for_url(re.compile(rf"/portal/casos/{case_id}/tarefas/"))
    supplier.fill("[name=resposta_fornecedor]", ANSWER)
    supplier.fill("[name=proposta_acordo]", PROPOSAL)
    shot(supplier, "5-responder-cip")
    supplier.locator("form button[type=submit]").last.tap()
    supplier.wait_for_url(re.compile(rf"/portal/casos/{case_id}$"))
    shot(supplier, "6-cip-respondida")
    with runtime.Session() as session:
        data = session.get(Case, case_id).data
        assert (data["cip_respondida"], data["resposta_fornecedor"]) == (True, ANSWER)
    supplier.goto(f"{base}/portal/fornecedor/")
    assert "Nenhuma pendência" in supplier.inner_text("main")

    # The consumer sees the answer and the proposal she is asked to evaluate.
    consumer.goto(f"{base}/portal/casos/{case_id}")
    answer_link = consumer.get_by_role("link", name="Avaliar a proposta do fornecedor")
    answer_link.wait_for()
    assert ANSWER in consumer.inner_text("main") and PROPOSAL in consumer.inner_text("main")
    shot(consumer, "7-consumidor-ve-resposta")
    answer_link.tap()
    consumer.wait_for_url(re.compile(rf"/portal/casos/{case_id}/tarefas/"))
    assert "Avaliar a proposta do fornecedor" in consumer.inner_text("main")
    shot(consumer, "8-avaliar-proposta")
    assert phones.errors == []


def test_public_pages_on_the_phone(phones: Any, known: None) -> None:  # noqa: F811
    page = phones()
    page.goto(f"{phones.base}/publico/fornecedores")
    page.fill("#q", "exemplo")
    page.tap("button[type=submit]")
    page.tap("text=Loja Exemplo Ltda")
    page.wait_for_url(re.compile(rf"/publico/fornecedores/{X_SLUG}$"))
    assert page.inner_text("#total-registradas") == "6"
    # The table becomes one labelled card per year on the phone.
    assert page.locator("#por-ano thead").is_hidden()
    label = page.evaluate("getComputedStyle(document.querySelector(\"tr[data-ano='2026'] td:nth-child(2)\"), "
                          "'::before').content")
    assert label == '"Registradas"'
    shot(page, "9-historico-fornecedor")
    page.goto(f"{phones.base}/publico/cadastro?ano=2026")
    assert "33,3%" in page.inner_text("#cadastro")
    shot(page, "10-cadastro")
    assert phones.errors == []
