"""A real Chromium (Playwright) drives the app: register a complaint, see the diagram drawn by bpmn-js
with the current task highlighted. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.runtime import Runtime
from tests.support.browser_support import ARTIFACTS, BROWSER_MARKS, browser_app, browser_page, launch, login, served
from tests.support.paths import REPO_ROOT
from tests.support.web_helpers import PASSWORD
from webapp.users import create_user

pytestmark = BROWSER_MARKS


@pytest.fixture
def live_server(runtime: Runtime) -> Iterator[str]:
    app = browser_app(runtime, [("ana", "Ana Atendente", ["atendente"])])
    with served(app) as base_url:
        yield base_url


@pytest.fixture
def page(live_server: str) -> Iterator:  # noqa: ANN401
    with browser_page(live_server, width=1280, height=900) as page:
        yield page


def test_attendant_registers_a_complaint_and_sees_the_current_task_on_the_diagram(page, complaint) -> None:  # noqa: ANN001
    ARTIFACTS.mkdir(exist_ok=True)
    base = page.base_url
    login(page, base, "ana")
    page.click("text=Nova reclamação")

    # First a mistake: wrong CPF. The error shows next to the field and nothing typed is lost.
    for name, value in complaint.items():
        if name == "canal":
            page.check(f"input[name=canal][value={value}]")
        else:
            page.fill(f"#campo-{name}", value)
    page.fill("#campo-consumidor_cpf", "111.111.111-11")
    page.click("button:has-text('Registrar reclamação')")
    assert page.inner_text("#campo-consumidor_cpf-erro") == "CPF inválido."
    assert page.input_value("#campo-fatos") == complaint["fatos"]
    page.screenshot(path=str(ARTIFACTS / "nova-reclamacao-erro.png"), full_page=True)

    page.fill("#campo-consumidor_cpf", complaint["consumidor_cpf"])
    page.click("button:has-text('Registrar reclamação')")
    assert "Reclamação registrada com o protocolo CAP-2026-000001" in page.inner_text("main")
    assert page.inner_text("h1") == "Atendimento preliminar"

    page.check("input[name=resultado_preliminar][value=nao_resolvida]")
    page.fill("#campo-contato_descricao", "Liguei para o SAC e não houve acordo.")
    page.click("button:has-text('Concluir tarefa')")
    assert page.inner_text("h1") == "Emitir CIP ao fornecedor"

    page.click("text=CAP-2026-000001")
    page.wait_for_selector("#diagrama[data-rendered]")
    assert page.get_attribute("#diagrama", "data-rendered") == "true"
    current = page.locator('#diagrama g.djs-element[data-element-id="emitir_cip"]')
    assert "etapa-atual" in (current.get_attribute("class") or "")
    done = page.locator('#diagrama g.djs-element[data-element-id="atendimento_preliminar"]')
    assert "etapa-feita" in (done.get_attribute("class") or "")
    assert "Tarefa concluída: Atendimento preliminar" in page.inner_text(".linha-do-tempo")
    page.screenshot(path=str(ARTIFACTS / "caso-diagrama.png"), full_page=True)


@pytest.mark.parametrize("diagram", sorted(p.name for p in (REPO_ROOT / "workflows")
                                           .glob("*.bpmn")))
def test_every_procedure_opens_in_bpmn_js_without_warnings(diagram: str) -> None:
    from playwright.sync_api import sync_playwright

    root = REPO_ROOT
    xml = (root / "workflows" / diagram).read_text(encoding="utf-8")
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 1600, "height": 900})
        page.set_content('<div id="canvas" style="width:1600px;height:900px"></div>')
        page.add_script_tag(path=str(root / "webapp/static/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js"))
        result = page.evaluate("""async (xml) => {
            const viewer = new BpmnJS({ container: '#canvas' });
            const { warnings } = await viewer.importXML(xml);
            viewer.get('canvas').zoom('fit-viewport');
            const registry = viewer.get('elementRegistry');
            const shapes = registry.filter(e => e.type !== 'label' && !e.waypoints);
            const overlapping = [];
            const boxes = shapes.filter(
                s => /Task|Event|Gateway|CallActivity/.test(s.type) && s.type !== 'bpmn:BoundaryEvent');
            for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
                const a = boxes[i], b = boxes[j];
                if (a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height)
                    overlapping.push(a.id + '/' + b.id);
            }
            return { warnings: warnings.map(w => w.message), shapes: shapes.length, overlapping };
        }""", xml)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"diagrama-{diagram.removesuffix('.bpmn')}.png"))
        browser.close()
    assert result["warnings"] == []
    assert result["shapes"] > 5
    assert result["overlapping"] == []  # tasks, events and gateways do not sit on each other


def test_manager_sees_the_chart_and_the_waiting_counts_over_the_diagram(runtime: Runtime, live_server: str,
                                                                        complaint: dict[str, str]) -> None:
    """The Painel in a real browser: Chart.js draws the compliance chart and bpmn-js shows, over
    each task, how many cases wait there and how many are overdue."""
    import datetime as dt

    from playwright.sync_api import sync_playwright

    from engine import clock
    from engine.actors import Actor

    atendente = Actor("ana", "Ana Atendente", frozenset({"atendente"}))
    for index in range(3):
        runtime.start_case("reclamacao", atendente, dict(complaint, consumidor_nome=f"Consumidor {index}"))
    with runtime.Session.begin() as session:
        create_user(session, "gil", "Gil Gestor", ["gestor"], PASSWORD)
    clock.set_clock(clock.FrozenClock(clock.now() + dt.timedelta(days=10)))  # the preliminary contacts are late
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="pt-BR")
        page.set_default_timeout(15000)
        login(page, live_server, "gil")
        page.goto(f"{live_server}/painel/?processo=reclamacao")
        page.wait_for_selector("#diagrama-espera[data-rendered]")
        assert page.get_attribute("#diagrama-espera", "data-rendered") == "true"
        overlay = page.locator("#diagrama-espera .djs-overlay a").filter(has_text="aguardando").first
        assert "3 aguardando" in overlay.inner_text() and "3 atrasado" in overlay.inner_text()
        drawn = page.evaluate("() => !!Chart.getChart(document.getElementById('grafico-conformidade'))")
        assert drawn
        assert "Atendimento preliminar" in page.inner_text("#agora")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "painel.png"), full_page=True)
        browser.close()
