"""The Painel in a real browser (Chromium through Playwright) over the known data set of
:mod:`tests.engine.test_dashboard_queries`: a custom period with the weekly trend drawn by Chart.js, claim
for someone from the "now" lists, and the step list reached by clicking a count over the diagram."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from engine.runtime import CaseResult, Runtime
from engine.store.models import AuditEvent, OpenTask
from tests.engine.test_dashboard_queries import dataset  # noqa: F401 - the known data set (fixture)
from tests.support.browser_support import ARTIFACTS, BROWSER_MARKS, launch, served
from tests.support.web_helpers import PASSWORD
from tests.webapp.test_dashboard_web import app  # noqa: F401 - the app with the staff of the data set

pytestmark = BROWSER_MARKS


def test_manager_assigns_a_queued_task_and_reads_a_custom_period(app: Flask, runtime: Runtime,  # noqa: F811
                                                                 dataset: dict[str, CaseResult]) -> None:  # noqa: F811
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with served(app) as base, sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="pt-BR")
        page.set_default_timeout(15000)
        page.goto(f"{base}/entrar")
        page.fill("#username", "gil")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")

        # a custom period and the weekly trend, chosen in the form: the URL carries them
        page.goto(f"{base}/painel/")
        page.fill("input[name=de]", "02/03/2026")
        page.fill("input[name=ate]", "20/03/2026")
        page.select_option("select[name=periodo]", "semana")
        page.click("#filtros button[type=submit]")
        page.wait_for_load_state()
        assert "de=02%2F03%2F2026" in page.url and "periodo=semana" in page.url
        labels = page.evaluate("() => Chart.getChart(document.getElementById('grafico-tendencia')).data.labels")
        assert labels == ["Semana de 02/03/2026", "Semana de 09/03/2026", "Semana de 16/03/2026"]
        assert "Evolução semanal" in page.inner_text("#conformidade")
        page.screenshot(path=str(ARTIFACTS / "painel-periodo-semanal.png"), full_page=True)

        # claim for someone: B's analysis waits in the analysts' queue, due in the next business days
        page.goto(f"{base}/painel/?dias=2&processo=reclamacao")
        row = page.locator("#lista-proximos tr", has_text=dataset["B"].protocol)
        row.locator("select[name=para]").select_option("bia")
        row.get_by_role("button", name="Atribuir").click()
        page.wait_for_load_state()
        assert f"{dataset['B'].protocol} — Analisar reclamação: atribuída a bia." in page.inner_text("body")
        assert "bia" in page.locator("#lista-proximos tr", has_text=dataset["B"].protocol).inner_text()
        page.screenshot(path=str(ARTIFACTS / "painel-atribuir.png"), full_page=True)

        # the count over "Atendimento preliminar" leads to the cases waiting there (this unit's only)
        page.wait_for_selector("#diagrama-espera[data-rendered=true]")
        page.locator("#diagrama-espera .djs-overlay a", has_text="1 aguardando").first.click()
        page.wait_for_selector("#tabela-etapa")
        text = page.inner_text("#tabela-etapa")
        assert dataset["E"].protocol in text and dataset["D"].protocol not in text
        browser.close()
    with runtime.Session() as session:
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "tarefa_redistribuida")).all()
        assert (event.actor, event.case_id, event.details["para"]) == ("gil", dataset["B"].case_id, "bia")
        assert session.scalars(select(OpenTask.assignee).where(OpenTask.case_id == dataset["B"].case_id)).one() == "bia"
