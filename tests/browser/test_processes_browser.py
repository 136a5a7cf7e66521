"""A real Chromium (Playwright) in the “Processos” workspace: open the Camunda modeler on the
complaint procedure, rename a task on the canvas, save, validate, deploy; the case started before
stays on version 1 and a new case starts on version 2. bpmnlint in the modeler: the shipped diagrams
have no lint errors, a disconnected task is flagged on the element as it is drawn, and "Comparar com a
versão atual" shows the draft against the deployed version. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.actors import Actor
from engine.runtime import Runtime
from engine.store.models import Case
from tests.support.browser_support import ARTIFACTS, BROWSER_MARKS, browser_app, browser_page, login, served

NEW_NAME = "Emitir CIP ao fornecedor (revisada)"

pytestmark = BROWSER_MARKS


@pytest.fixture
def live_server(runtime: Runtime) -> Iterator[str]:
    app = browser_app(runtime, [("paula", "Paula Processos", ["analista_processos"])])
    with served(app) as base_url:
        yield base_url


@pytest.fixture
def page(live_server: str) -> Iterator:  # noqa: ANN401
    with browser_page(live_server) as page:
        yield page


def case_version(runtime: Runtime, case_id: int) -> int:
    with runtime.Session() as session:
        found = session.get(Case, case_id)
        assert found is not None
        return found.definition.version


def test_analyst_renames_a_task_deploys_and_new_cases_use_the_new_version(
        page, runtime: Runtime, complaint: dict[str, str]) -> None:  # noqa: ANN001
    ARTIFACTS.mkdir(exist_ok=True)
    atendente = Actor("ana", "Ana Atendente", frozenset({"atendente"}))
    before = runtime.start_case("reclamacao", atendente, complaint)
    base = page.base_url

    login(page, base, "paula")
    page.click("nav >> text=Processos")
    page.click("#processo-reclamacao >> button:has-text('Editar')")
    page.wait_for_selector("#modelador[data-ready]")
    assert page.get_attribute("#modelador", "data-ready") == "true", (page.js_errors, page.inner_text("main"))
    assert page.locator("#painel .bio-properties-panel").count() == 1  # the properties panel is there

    # Rename the task on the canvas: double-click opens direct editing, type, click away.
    task = page.locator(".djs-element[data-element-id='emitir_cip']").first
    task.dblclick()
    editor = page.locator(".djs-direct-editing-parent")
    editor.wait_for(state="visible")
    page.keyboard.press("Control+A")
    page.keyboard.type(NEW_NAME)
    page.locator("#canvas svg").first.click(position={"x": 5, "y": 5})
    name = page.evaluate("() => window.proconModeler.get('elementRegistry').get('emitir_cip').businessObject.name")
    assert name == NEW_NAME
    # The properties panel shows the Camunda attributes the engine reads.
    task.click()
    page.wait_for_selector("#painel .bio-properties-panel-header-label")
    page.screenshot(path=str(ARTIFACTS / "processos-modelador.png"), full_page=True)

    page.click("#btn-salvar")
    page.locator("#modelador-status", has_text="salvo").wait_for()  # (no wait_for_function: the CSP forbids eval)
    page.click("#btn-validar")
    page.wait_for_selector("#modelador[data-validated]")
    assert page.get_attribute("#modelador", "data-validated") == "ok", page.inner_text("#problemas")
    assert "Nenhum problema encontrado" in page.inner_text("#modelador-status")

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#btn-implantar")
    page.wait_for_url(f"{base}/processos/")
    assert "Versão 2 implantada" in page.inner_text("main")
    current = page.locator("#processo-reclamacao tr.versao-atual")
    assert current.get_attribute("data-versao") == "2"

    # Running cases keep their version; new cases start on the new one.
    after = runtime.start_case("reclamacao", atendente, complaint)
    assert case_version(runtime, before.case_id) == 1
    assert case_version(runtime, after.case_id) == 2
    page.reload()
    assert page.locator("#processo-reclamacao tr[data-versao='1'] .casos-total").inner_text() == "1"
    assert page.locator("#processo-reclamacao tr[data-versao='2'] .casos-total").inner_text() == "1"

    # The comparison shows the renamed task as changed, on the diagram and in the table.
    page.click("#processo-reclamacao >> button:has-text('Comparar')")
    page.wait_for_selector("#comparacao[data-rendered]")
    assert page.get_attribute("#diagrama-a", "data-rendered") == "true"
    assert page.get_attribute("#diagrama-b", "data-rendered") == "true"
    assert page.locator("#diagrama-b .djs-element.diff-changed[data-element-id='emitir_cip']").count() == 1
    assert page.locator("#diagrama-a .djs-element.diff-changed[data-element-id='emitir_cip']").count() == 1
    assert NEW_NAME in page.inner_text("tr.diferenca-alterado[data-elemento='emitir_cip']")
    page.screenshot(path=str(ARTIFACTS / "processos-comparacao.png"), full_page=True)
    assert page.js_errors == []


def test_validation_problems_are_marked_on_the_diagram(page, runtime: Runtime) -> None:  # noqa: ANN001
    base = page.base_url
    login(page, base, "paula")
    page.goto(f"{base}/processos/")
    page.click("#processo-reclamacao >> button:has-text('Editar')")
    page.wait_for_selector("#modelador[data-ready='true']")
    # Break the script of "Registrar ausência de resposta" through the modeler's model API.
    page.evaluate("""() => {
        const m = window.proconModeler;
        const el = m.get('elementRegistry').get('registrar_sem_resposta');
        m.get('modeling').updateProperties(el, {script: 'cip_respondida = = False'});
    }""")
    page.click("#btn-validar")
    page.wait_for_selector("#modelador[data-validated]")
    assert page.get_attribute("#modelador", "data-validated") == "problems"
    item = page.locator("#problemas-lista li[data-elemento='registrar_sem_resposta']").first
    assert item.count() == 1
    assert page.locator(".djs-element.processos-problema[data-element-id='registrar_sem_resposta']").count() == 1
    item.locator("button").click()
    selected = page.evaluate("() => window.proconModeler.get('selection').get().map(e => e.id)")
    assert selected == ["registrar_sem_resposta"]
    page.screenshot(path=str(ARTIFACTS / "processos-validacao.png"), full_page=True)
    # Deploying shows the same problems and deploys nothing.
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#btn-implantar")
    page.wait_for_selector("#modelador-erro:not([hidden])")
    assert "nada foi implantado" in page.inner_text("#modelador-erro")
    from engine.modeling.versioning import ProcessCatalog

    assert ProcessCatalog(runtime).definition("reclamacao").version == 1


def login_as_paula(page) -> None:  # noqa: ANN001
    login(page, page.base_url, "paula")


def open_modeler(page, process_id: str) -> None:  # noqa: ANN001
    page.goto(f"{page.base_url}/processos/")
    page.click(f"#processo-{process_id} >> button:has-text('Editar')")
    page.wait_for_selector("#modelador[data-ready]")
    assert page.get_attribute("#modelador", "data-ready") == "true", (page.js_errors, page.inner_text("main"))
    page.wait_for_selector("#modelador[data-linted='true']")


SHIPPED = ("reclamacao", "notificacao", "audiencia", "fiscalizacao", "processo_sancionatorio", "recurso_multa")


def test_shipped_diagrams_have_no_lint_errors(page) -> None:  # noqa: ANN001
    login_as_paula(page)
    for process_id in SHIPPED:
        open_modeler(page, process_id)
        errors = page.evaluate("""() => {
            const issues = window.proconModeler.get('linting')._issues;
            return Object.keys(issues).flatMap(id => issues[id].filter(i => i.category === 'error')
                                                        .map(i => id + ': ' + i.message + ' (' + i.rule + ')'));
        }""")
        assert errors == [], (process_id, errors)
        assert page.get_attribute("#modelador", "data-lint-errors") == "0", process_id
        assert page.locator(".djs-overlays .bjsl-icon-error").count() == 0, process_id
        assert page.locator("#lint-resumo").inner_text().startswith("Verificação do desenho:")
        button = page.locator(".bjsl-button").inner_text().strip()
        assert button == "Nenhum problema" or button.startswith("0 erro(s),"), (process_id, button)
    assert page.js_errors == []


def test_lint_flags_a_disconnected_task_as_it_is_drawn(page) -> None:  # noqa: ANN001
    ARTIFACTS.mkdir(exist_ok=True)
    login_as_paula(page)
    open_modeler(page, "reclamacao")
    assert page.get_attribute("#modelador", "data-lint-errors") == "0"
    # Draw a task with no flow in or out, in the lane of "Emitir CIP", through the modeler's API.
    page.evaluate("""() => {
        const m = window.proconModeler;
        const registry = m.get('elementRegistry');
        const anchor = registry.get('emitir_cip');
        const businessObject = m.get('bpmnFactory').create('bpmn:Task', {id: 'tarefa_solta'});
        const shape = m.get('elementFactory').createShape({type: 'bpmn:Task', businessObject});
        m.get('modeling').createShape(shape, {x: anchor.x + anchor.width / 2, y: anchor.y + anchor.height + 90},
                                      anchor.parent);
        m.get('modeling').updateLabel(registry.get('tarefa_solta'), 'Tarefa solta');
    }""")
    page.locator("#modelador[data-lint-errors]:not([data-lint-errors='0'])").wait_for()
    overlay = page.locator(".djs-overlays[data-container-id='tarefa_solta'] .bjsl-overlay")
    overlay.wait_for()
    assert overlay.locator(".bjsl-icon-error").count() == 1
    overlay.hover()
    issues = overlay.locator(".bjsl-current-element-issues li.error")
    assert "O elemento não está ligado a nenhum fluxo" in issues.all_inner_texts()[0]
    assert issues.locator("[data-rule], .rule").first.inner_text().find("no-disconnected") >= 0
    errors = int(page.get_attribute("#modelador", "data-lint-errors"))
    assert page.locator(".bjsl-button").inner_text().strip().startswith(f"{errors} erro(s),")
    summary = page.inner_text("#lint-resumo")
    assert summary.startswith(f"Verificação do desenho: {errors} erros,"), summary
    page.screenshot(path=str(ARTIFACTS / "processos-lint.png"), full_page=True)

    # Undo the drawing: the issue goes away with the task.
    page.evaluate("() => window.proconModeler.get('commandStack').undo()")
    page.evaluate("() => window.proconModeler.get('commandStack').undo()")
    page.locator("#modelador[data-lint-errors='0']").wait_for()
    assert page.locator(".djs-overlays[data-container-id='tarefa_solta']").count() == 0
    assert page.js_errors == []


def test_compare_the_draft_with_the_current_version(page) -> None:  # noqa: ANN001
    login_as_paula(page)
    open_modeler(page, "reclamacao")
    page.evaluate("""name => {
        const m = window.proconModeler;
        m.get('modeling').updateLabel(m.get('elementRegistry').get('emitir_cip'), name);
    }""", NEW_NAME)
    # The link saves what is drawn, then opens the comparison.
    page.click("#btn-comparar")
    page.wait_for_selector("#comparacao[data-rendered]")
    assert "versão atual (1) × rascunho" in page.inner_text("h1")
    assert page.get_attribute("#diagrama-a", "data-rendered") == "true"
    assert page.get_attribute("#diagrama-b", "data-rendered") == "true"
    assert page.locator("#diagrama-b .djs-element.diff-changed[data-element-id='emitir_cip']").count() == 1
    assert NEW_NAME in page.inner_text("tr.diferenca-alterado[data-elemento='emitir_cip']")
    page.screenshot(path=str(ARTIFACTS / "processos-comparar-rascunho.png"), full_page=True)
    page.click("#voltar-modelador")
    page.wait_for_selector("#modelador[data-ready='true']")
    name = page.evaluate("() => window.proconModeler.get('elementRegistry').get('emitir_cip').businessObject.name")
    assert name == NEW_NAME  # the draft kept the change
    assert page.js_errors == []
