"""A real Chromium (Playwright) in “Testar”: the analyst opens the sandbox of a complaint draft, starts
the test case with the sample data, completes the first task, advances the sandbox clock past the
CIP deadline and sees the timer fire — on the diagram, in the deadlines and in the timeline — while
the real database gets nothing. Screenshot in ``test-artifacts/``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.modeling.versioning import ProcessCatalog
from engine.runtime import Runtime
from engine.store.models import AuditEvent, Case
from tests.support.browser_support import ARTIFACTS, BROWSER_MARKS, browser_app, browser_page, login, served

pytestmark = BROWSER_MARKS


@pytest.fixture
def live_server(runtime: Runtime, tmp_path: Path) -> Iterator[str]:
    app = browser_app(runtime, [("paula", "Paula Processos", ["analista_processos"])],
                      SANDBOX_ROOT=str(tmp_path / "testes"))
    with served(app) as base_url:
        yield base_url
    app.extensions["procon_sandboxes"].close_all()


@pytest.fixture
def page(live_server: str) -> Iterator:  # noqa: ANN401
    with browser_page(live_server, height=1100) as page:
        yield page


def real_rows(runtime: Runtime) -> tuple[int, int]:
    with runtime.Session() as session:
        return (session.scalar(select(func.count()).select_from(Case)),
                session.scalar(select(func.count()).select_from(AuditEvent)))


def wait_diagram(page) -> None:  # noqa: ANN001
    page.wait_for_selector("#diagrama[data-rendered]")
    assert page.get_attribute("#diagrama", "data-rendered") == "true", page.js_errors


def test_sandbox_first_task_then_clock_fires_the_cip_timer(page, runtime: Runtime) -> None:  # noqa: ANN001
    ARTIFACTS.mkdir(exist_ok=True)
    draft = ProcessCatalog(runtime).draft_from_version("reclamacao", "paula")
    before = real_rows(runtime)
    base = page.base_url

    login(page, base, "paula")
    page.goto(f"{base}/processos/")
    page.click(f"tr[data-rascunho='{draft.id}'] >> text=Testar")
    wait_diagram(page)
    assert "02/03/2026 10:00" in page.inner_text("#relogio-teste")
    assert page.input_value("#campo-consumidor_nome") == "Maria Exemplo da Silva"  # sample data
    page.fill("#campo-consumidor_nome", "Joana Teste")
    page.click("button:has-text('Iniciar caso de teste')")

    wait_diagram(page)
    assert "Caso de teste iniciado" in page.inner_text("main")
    assert page.locator(".djs-element.etapa-atual[data-element-id='atendimento_preliminar']").count() == 1
    page.check("input[name=resultado_preliminar][value=nao_resolvida]")
    page.fill("#campo-contato_descricao", "Liguei para o SAC; sem acordo.")
    page.click("#formulario-teste button:has-text('Concluir tarefa')")

    wait_diagram(page)
    assert "Tarefa concluída: Atendimento preliminar" in page.inner_text("main")
    assert page.locator(".djs-element.etapa-feita[data-element-id='atendimento_preliminar']").count() == 1
    page.click("#formulario-teste button:has-text('Concluir tarefa')")  # "Emitir CIP", with the sample data
    wait_diagram(page)
    assert "Responder à CIP" in page.inner_text("#tarefas-teste")

    page.fill("form[aria-label='Avançar dias corridos'] input[name=quantidade]", "11")
    page.click("form[aria-label='Avançar dias corridos'] button")
    wait_diagram(page)
    text = page.inner_text("main")
    assert "Disparou: Prazo vencido" in text, text[:800]
    assert "13/03/2026" in page.inner_text("#relogio-teste")
    assert "Analisar reclamação" in page.inner_text("#tarefas-teste")
    assert page.locator("#prazos-teste .selo-vencido").count() == 1
    assert "Prazo vencido" in page.inner_text("#historico-teste")
    assert page.locator(".djs-element.etapa-atual[data-element-id='analisar_reclamacao']").count() == 1
    page.screenshot(path=str(ARTIFACTS / "processos-testar.png"), full_page=True)
    assert page.js_errors == []
    assert real_rows(runtime) == before
