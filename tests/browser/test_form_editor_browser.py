"""A real Chromium (Playwright) in “Formulários”: open the editor of the preliminary-service form, see a
JSON error in the live preview, add a field and watch it appear in the preview, publish, then open a
task with that form as an attendant and find the field there. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.actors import Actor
from engine.runtime import Runtime
from tests.support.browser_support import ARTIFACTS, BROWSER_MARKS, browser_app, browser_page, login, served

pytestmark = BROWSER_MARKS


@pytest.fixture
def live_server(runtime: Runtime) -> Iterator[str]:
    app = browser_app(runtime, [("paula", "Paula Processos", ["analista_processos"]),
                                ("ana", "Ana Atendente", ["atendente"])])
    with served(app) as base_url:
        yield base_url


@pytest.fixture
def page(live_server: str) -> Iterator:  # noqa: ANN401
    with browser_page(live_server) as page:
        yield page


def test_analyst_adds_a_field_sees_it_in_the_preview_publishes_and_the_attendant_gets_it(
        page, runtime: Runtime, complaint: dict[str, str]) -> None:  # noqa: ANN001
    ARTIFACTS.mkdir(exist_ok=True)
    result = runtime.start_case("reclamacao", Actor("ana", "Ana Atendente", frozenset({"atendente"})), complaint)
    task = next(t for t in result.open_tasks if t.form_key == "atendimento_preliminar")
    base = page.base_url

    login(page, page.base_url, "paula")
    page.click("nav >> text=Processos")
    page.click("a:has-text('Formulários')")
    page.click("#formulario-atendimento_preliminar >> button:has-text('Editar')")
    page.wait_for_selector("#editor-formulario[data-pronto='true']")
    preview = page.locator("#previa")
    assert preview.locator("#campo-contato_descricao").count() == 1
    assert page.locator(".cartao-campo").count() == 2

    # Broken JSON typed in the JSON tab: the preview says what and where, and keeps the last good form.
    page.click("button[data-aba='json']")
    original = page.input_value("#json-texto")
    page.fill("#json-texto", original.replace('"fields": [', '"fields": [,', 1))
    page.wait_for_selector("#previa-problemas >> text=JSON inválido na linha")
    assert preview.locator("#campo-contato_descricao").count() == 1
    page.fill("#json-texto", original)
    page.wait_for_selector("#previa[data-valido='true']")
    page.click("button[data-aba='campos']")

    # Add a field in the structural editor: it shows up in the preview as the attendant will see it.
    page.click("#adicionar-campo")
    card = page.locator(".cartao-campo").last
    card.locator("[data-atributo='name']").fill("protocolo_fornecedor")
    card.locator("[data-atributo='label']").fill("Protocolo do atendimento no fornecedor")
    card.locator("[data-atributo='required']").check()
    card.locator("[data-atributo='help']").fill("O número que o fornecedor informou.")
    preview.locator("#campo-protocolo_fornecedor").wait_for()
    page.locator("#previa", has_text="Protocolo do atendimento no fornecedor").wait_for()
    assert preview.locator("label[for='campo-protocolo_fornecedor'] .obrigatorio").count() == 1
    page.screenshot(path=str(ARTIFACTS / "form-editor-preview.png"), full_page=True)

    page.click("button[data-acao='publicar']")
    page.wait_for_selector("#editor-mensagem >> text=Versão 1 de")
    assert "publicada" in page.inner_text("#editor-mensagem")
    assert page.js_errors == []

    # The attendant's task page now has the field.
    page.click("button:has-text('Sair')")
    login(page, page.base_url, "ana")
    page.goto(f"{base}/casos/{result.case_id}/tarefas/{task.task_id}")
    field = page.locator("#campo-protocolo_fornecedor")
    field.wait_for()
    assert "Protocolo do atendimento no fornecedor" in page.inner_text("form.formulario")
    page.screenshot(path=str(ARTIFACTS / "form-editor-task.png"), full_page=True)
    assert runtime.forms.published_version("atendimento_preliminar") == 1
