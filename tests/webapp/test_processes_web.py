"""The “Processos” workspace through the Flask app with CSRF on: catalogue, drafts saved, validated
and deployed through the modeler's JSON endpoints, rollback, comparison (of versions and of a draft
with the current version), migration of running cases (preview, then execute), download and upload."""

from __future__ import annotations

import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine.actors import Actor
from engine.modeling.models import DeploymentEvent, ProcessDraft
from engine.runtime import Runtime
from engine.store.models import AuditEvent, Case, ProcessDefinition
from tests.engine.test_versioning import CIP_BY_ANALYSTS, PRELIM_NAO_RESOLVIDA, step
from tests.support.paths import REPO_ROOT
from tests.support.web_helpers import client_for, csrf_token, staff_app

SOURCE = (REPO_ROOT / "workflows" / "reclamacao.bpmn").read_text(encoding="utf-8")
RENAMED = SOURCE.replace('name="Emitir CIP ao fornecedor"', 'name="Emitir CIP ao fornecedor (revisada)"')
STAFF = [("paula", "Paula Processos", ["analista_processos"]), ("root", "Rita Admin", ["admin"]),
         ("ana", "Ana Atendente", ["atendente"]), ("bia", "Bia Analista", ["analista"])]


@pytest.fixture
def app(runtime: Runtime) -> Flask:
    return staff_app(runtime, STAFF)


@pytest.fixture
def paula(app: Flask) -> FlaskClient:
    return client_for(app, "paula")


def token(client: FlaskClient) -> str:
    return csrf_token(client.get("/processos/").get_data(as_text=True))


def new_draft(client: FlaskClient, process_id: str = "reclamacao") -> int:
    response = client.post(f"/processos/{process_id}/editar", data={"csrf_token": token(client)})
    assert response.status_code == 302, response.get_data(as_text=True)
    match = re.fullmatch(r"/processos/rascunhos/(\d+)", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def post_json(client: FlaskClient, url: str, data: dict | None = None):  # noqa: ANN201
    return client.post(url, json=data or {}, headers={"X-CSRFToken": token(client)})


def versions(runtime: Runtime, process_id: str = "reclamacao") -> list[int]:
    with runtime.Session() as session:
        return list(session.scalars(select(ProcessDefinition.version)
                                    .where(ProcessDefinition.process_id == process_id)
                                    .order_by(ProcessDefinition.version)))


def section(html: str, process_id: str) -> str:
    match = re.search(rf'<section class="cartao processo" id="processo-{process_id}".*?</section>', html, flags=re.S)
    assert match, process_id
    return match.group(0)


# -- access ------------------------------------------------------------------------------------------
def test_only_process_analysts_and_admins_enter(app: Flask) -> None:
    anonymous = app.test_client()
    assert anonymous.get("/processos/").status_code == 302
    for username in ("ana", "bia"):
        client = client_for(app, username)
        response = client.get("/processos/")
        assert response.status_code == 403
        assert "Seu perfil não permite" in response.get_data(as_text=True)
        assert "Processos</a>" not in client.get("/tarefas").get_data(as_text=True)
        assert client.post("/processos/reclamacao/editar", data={"csrf_token": token_from_tasks(client)}
                           ).status_code == 403
    for username in ("paula", "root"):
        client = client_for(app, username)
        assert client.get("/processos/").status_code == 200
        assert 'href="/processos/"' in client.get("/tarefas").get_data(as_text=True)


def token_from_tasks(client: FlaskClient) -> str:
    return csrf_token(client.get("/tarefas").get_data(as_text=True))


def test_json_endpoints_refuse_other_roles_and_missing_csrf(app: Flask, paula: FlaskClient) -> None:
    draft_id = new_draft(paula)
    ana = client_for(app, "ana")
    assert ana.post(f"/processos/rascunhos/{draft_id}/salvar", json={"xml": RENAMED},
                    headers={"X-CSRFToken": token_from_tasks(ana)}).status_code == 403
    assert paula.post(f"/processos/rascunhos/{draft_id}/salvar", json={"xml": RENAMED}).status_code == 400


# -- catalogue ---------------------------------------------------------------------------------------
def test_catalogue_lists_versions_with_case_counts(app: Flask, runtime: Runtime, paula: FlaskClient,
                                                   complaint: dict[str, str]) -> None:
    atendente = Actor("ana", "Ana Atendente", frozenset({"atendente"}))
    runtime.start_case("reclamacao", atendente, complaint)
    runtime.start_case("reclamacao", atendente, complaint)
    html = paula.get("/processos/").get_data(as_text=True)
    block = section(html, "reclamacao")
    assert "Reclamação do consumidor" in block
    row = re.search(r'<tr class="versao versao-atual" data-versao="1">.*?</tr>', block, flags=re.S).group(0)
    assert "atual" in row and "sistema" in row
    assert '<td class="casos-total">2</td>' in row and '<td class="casos-abertos">2</td>' in row
    with runtime.Session() as session:
        content_hash = session.scalar(select(ProcessDefinition.content_hash)
                                      .where(ProcessDefinition.process_id == "reclamacao"))
    assert content_hash[:10] in row
    for process_id in ("audiencia", "fiscalizacao", "recurso_multa"):
        assert f'id="processo-{process_id}"' in html


# -- modeler endpoints -------------------------------------------------------------------------------
def test_modeler_page_and_draft_xml(paula: FlaskClient) -> None:
    draft_id = new_draft(paula)
    page = paula.get(f"/processos/rascunhos/{draft_id}").get_data(as_text=True)
    assert "camunda-platform-modeler.production.min.js" in page and 'name="csrf-token"' in page
    for label in ("Salvar rascunho", "Validar", "Implantar", "Baixar .bpmn"):
        assert label in page
    data = paula.get(f"/processos/rascunhos/{draft_id}/xml").get_json()
    assert data["processo"] == "reclamacao" and data["xml"] == SOURCE
    assert paula.get("/processos/rascunhos/999/xml").get_json() == {"erro": "Rascunho 999 não encontrado."}
    html = paula.get("/processos/").get_data(as_text=True)
    assert f'href="/processos/rascunhos/{draft_id}"' in section(html, "reclamacao")


def test_malformed_xml_gets_a_portuguese_message_and_nothing_is_deployed(runtime: Runtime,
                                                                        paula: FlaskClient) -> None:
    draft_id = new_draft(paula)
    broken = SOURCE.replace("</bpmn:definitions>", "")
    assert post_json(paula, f"/processos/rascunhos/{draft_id}/salvar", {"xml": broken}).status_code == 200
    data = post_json(paula, f"/processos/rascunhos/{draft_id}/validar").get_json()
    assert data["ok"] is False and data["problemas"]
    assert "XML" in data["problemas"][0]["mensagem"]
    response = post_json(paula, f"/processos/rascunhos/{draft_id}/implantar")
    assert response.status_code == 422
    assert response.get_json()["erro"].startswith("O rascunho tem problemas e nada foi implantado")
    assert versions(runtime) == [1]
    # A body that is not the expected JSON.
    response = paula.post(f"/processos/rascunhos/{draft_id}/salvar", data="nada",
                          headers={"X-CSRFToken": token(paula), "Content-Type": "application/json"})
    assert response.status_code == 400 and "Envie o diagrama" in response.get_json()["erro"]


def test_diagram_spiffworkflow_cannot_parse_is_refused(runtime: Runtime, paula: FlaskClient) -> None:
    draft_id = new_draft(paula)
    # A sequence flow to an element that does not exist.
    broken = SOURCE.replace('targetRef="emitir_cip"', 'targetRef="tarefa_inexistente"', 1)
    assert broken != SOURCE
    data = post_json(paula, f"/processos/rascunhos/{draft_id}/validar", {"xml": broken}).get_json()
    assert data["ok"] is False and data["problemas"], data
    response = post_json(paula, f"/processos/rascunhos/{draft_id}/implantar", {"xml": broken})
    assert response.status_code == 422 and response.get_json()["problemas"]
    assert versions(runtime) == [1]


def test_script_with_syntax_error_is_shown_on_its_element(runtime: Runtime, paula: FlaskClient) -> None:
    draft_id = new_draft(paula)
    broken = SOURCE.replace("<bpmn:script>cip_respondida = False", "<bpmn:script>cip_respondida = = False")
    data = post_json(paula, f"/processos/rascunhos/{draft_id}/validar", {"xml": broken}).get_json()
    assert data["ok"] is False
    assert any(p["elemento"] == "registrar_sem_resposta" for p in data["problemas"]), data
    assert post_json(paula, f"/processos/rascunhos/{draft_id}/implantar", {"xml": broken}).status_code == 422
    assert versions(runtime) == [1]


def test_draft_for_another_process_is_refused(paula: FlaskClient) -> None:
    draft_id = new_draft(paula)
    other = SOURCE.replace('id="reclamacao"', 'id="outro_processo"')
    response = post_json(paula, f"/processos/rascunhos/{draft_id}/salvar", {"xml": other})
    assert response.status_code == 400 and "precisa manter o id do processo" in response.get_json()["erro"]


def test_valid_rename_is_saved_validated_and_deployed_as_version_2(runtime: Runtime, paula: FlaskClient) -> None:
    draft_id = new_draft(paula)
    response = post_json(paula, f"/processos/rascunhos/{draft_id}/salvar", {"xml": RENAMED})
    assert response.get_json() == {"ok": True, "mensagem": f"Rascunho {draft_id} salvo.", "rascunho": draft_id}
    data = post_json(paula, f"/processos/rascunhos/{draft_id}/validar").get_json()
    assert data == {"ok": True, "problemas": [],
                    "mensagem": "Nenhum problema encontrado: o rascunho pode ser implantado."}
    response = post_json(paula, f"/processos/rascunhos/{draft_id}/implantar")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["versao"] == 2 and response.get_json()["destino"] == "/processos/"
    assert versions(runtime) == [1, 2]
    html = paula.get("/processos/").get_data(as_text=True)
    assert "Versão 2 implantada" in html
    assert '<tr class="versao versao-atual" data-versao="2">' in section(html, "reclamacao")
    # The deployed draft is closed: deploying again says so.
    again = post_json(paula, f"/processos/rascunhos/{draft_id}/implantar")
    assert again.status_code == 400 and "já foi implantado" in again.get_json()["erro"]


# -- rollback, compare, download ---------------------------------------------------------------------
def deploy_renamed(paula: FlaskClient) -> None:
    draft_id = new_draft(paula)
    assert post_json(paula, f"/processos/rascunhos/{draft_id}/implantar", {"xml": RENAMED}).status_code == 200


def test_rollback_makes_an_old_version_current_again(runtime: Runtime, paula: FlaskClient) -> None:
    deploy_renamed(paula)
    response = paula.post("/processos/reclamacao/reverter", data={"versao": "1", "csrf_token": token(paula)})
    assert response.status_code == 302
    html = paula.get("/processos/").get_data(as_text=True)
    assert "Versão 3 implantada: reversão para o conteúdo da versão 1" in html
    assert versions(runtime) == [1, 2, 3]
    with runtime.Session() as session:
        v1, v3 = (session.scalar(select(ProcessDefinition.content_hash).where(
            ProcessDefinition.process_id == "reclamacao", ProcessDefinition.version == n)) for n in (1, 3))
    assert v1 == v3
    # Reverting to the content that is already current is refused.
    paula.post("/processos/reclamacao/reverter", data={"versao": "3", "csrf_token": token(paula)})
    assert "nada a reverter" in paula.get("/processos/").get_data(as_text=True)
    assert versions(runtime) == [1, 2, 3]


def test_compare_page_lists_the_renamed_task_as_changed(paula: FlaskClient) -> None:
    deploy_renamed(paula)
    html = paula.get("/processos/reclamacao/comparar?a=1&b=2").get_data(as_text=True)
    row = re.search(r'<tr class="diferenca-alterado" data-elemento="emitir_cip">.*?</tr>', html, flags=re.S)
    assert row, html
    assert "Emitir CIP ao fornecedor (revisada)" in row.group(0) and "alterado" in row.group(0)
    assert '"emitir_cip": "changed"' in html  # the markers for the two viewers
    assert "Elementos: 1 alterado." in html
    assert paula.get("/processos/reclamacao/versoes/2/diagrama").get_data(as_text=True) == RENAMED


def test_download_returns_the_xml_of_a_version_and_of_a_draft(paula: FlaskClient) -> None:
    response = paula.get("/processos/reclamacao/versoes/1/baixar")
    assert response.status_code == 200 and response.get_data(as_text=True) == SOURCE
    assert 'filename="reclamacao-v1.bpmn"' in response.headers["Content-Disposition"]
    draft_id = new_draft(paula)
    post_json(paula, f"/processos/rascunhos/{draft_id}/salvar", {"xml": RENAMED})
    response = paula.get(f"/processos/rascunhos/{draft_id}/baixar")
    assert response.get_data(as_text=True) == RENAMED and "attachment" in response.headers["Content-Disposition"]
    assert paula.get("/processos/reclamacao/versoes/9/baixar").status_code == 404


# -- upload ------------------------------------------------------------------------------------------
def drafts(runtime: Runtime) -> int:
    with runtime.Session() as session:
        return session.scalar(select(func.count()).select_from(ProcessDraft)) or 0


def upload(client: FlaskClient, content: bytes, filename: str = "reclamacao.bpmn", process_id: str = ""):  # noqa: ANN201
    return client.post("/processos/enviar", content_type="multipart/form-data",
                       data={"csrf_token": token(client), "processo": process_id,
                             "arquivo": (io.BytesIO(content), filename)})


def test_upload_saves_a_draft_and_opens_the_modeler(runtime: Runtime, paula: FlaskClient) -> None:
    response = upload(paula, RENAMED.encode("utf-8"))
    assert response.status_code == 302 and response.headers["Location"].startswith("/processos/rascunhos/")
    with runtime.Session() as session:
        [draft] = session.scalars(select(ProcessDraft)).all()
        assert (draft.process_id, draft.bpmn_xml, draft.created_by) == ("reclamacao", RENAMED, "paula")


def test_upload_of_a_file_that_is_not_utf8_is_refused_in_portuguese(runtime: Runtime, paula: FlaskClient) -> None:
    upload(paula, b"\xff\xfe<bpmn/>", process_id="reclamacao")
    assert "não está codificado em UTF-8" in paula.get("/processos/").get_data(as_text=True)
    assert drafts(runtime) == 0


def test_a_50_mb_upload_gets_a_clear_message_and_nothing_is_saved(runtime: Runtime, paula: FlaskClient) -> None:
    response = upload(paula, b"<" + b"x" * (50 * 1024 * 1024) + b"/>")
    assert response.status_code == 413
    html = response.get_data(as_text=True)
    assert "Arquivo grande demais" in html and "no máximo 5 MB" in html and "Nada foi salvo" in html
    assert drafts(runtime) == 0
    # Above the workspace's own limit but below the app's: the same message.
    response = upload(paula, b"<" + b"x" * (6 * 1024 * 1024) + b"/>")
    assert response.status_code == 413 and "no máximo 5 MB" in response.get_data(as_text=True)
    assert drafts(runtime) == 0
    # The JSON endpoints answer in JSON.
    draft_id = new_draft(paula)
    response = post_json(paula, f"/processos/rascunhos/{draft_id}/salvar", {"xml": "x" * (6 * 1024 * 1024)})
    assert response.status_code == 413 and "no máximo 5 MB" in response.get_json()["erro"]
    with runtime.Session() as session:
        assert session.get(ProcessDraft, draft_id).bpmn_xml == SOURCE
        assert session.scalar(select(func.count()).select_from(Case)) == 0


# -- comparing a draft with the current version ------------------------------------------------------
def test_compare_draft_shows_the_saved_draft_against_the_current_version(app: Flask, paula: FlaskClient) -> None:
    draft_id = new_draft(paula)
    modeler_html = paula.get(f"/processos/rascunhos/{draft_id}").get_data(as_text=True)
    assert f'href="/processos/rascunhos/{draft_id}/comparar"' in modeler_html
    assert "Comparar com a versão atual" in modeler_html
    # Before any change the draft equals the current version.
    html = paula.get(f"/processos/rascunhos/{draft_id}/comparar").get_data(as_text=True)
    assert f"O rascunho {draft_id} (como foi salvo por último) é igual à versão atual." in html

    assert post_json(paula, f"/processos/rascunhos/{draft_id}/salvar", {"xml": RENAMED}).status_code == 200
    response = paula.get(f"/processos/rascunhos/{draft_id}/comparar")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f"versão atual (1) × rascunho {draft_id}" in html
    row = re.search(r'<tr class="diferenca-alterado" data-elemento="emitir_cip">.*?</tr>', html, flags=re.S)
    assert row and "Emitir CIP ao fornecedor (revisada)" in row.group(0)
    assert "Elementos: 1 alterado." in html
    assert 'data-xml-url="/processos/reclamacao/versoes/1/diagrama"' in html
    assert f'data-xml-url="/processos/rascunhos/{draft_id}/diagrama"' in html
    assert paula.get(f"/processos/rascunhos/{draft_id}/diagrama").get_data(as_text=True) == RENAMED
    assert f'href="/processos/rascunhos/{draft_id}"' in html  # back to the modeler

    ana = client_for(app, "ana")
    assert ana.get(f"/processos/rascunhos/{draft_id}/comparar").status_code == 403
    assert ana.get(f"/processos/rascunhos/{draft_id}/diagrama").status_code == 403
    assert paula.get("/processos/rascunhos/999/comparar").status_code == 404


def test_compare_draft_that_is_not_xml_goes_back_to_the_modeler_with_the_reason(paula: FlaskClient) -> None:
    draft_id = new_draft(paula)
    broken = SOURCE.replace("</bpmn:definitions>", "")
    assert post_json(paula, f"/processos/rascunhos/{draft_id}/salvar", {"xml": broken}).status_code == 200
    response = paula.get(f"/processos/rascunhos/{draft_id}/comparar")
    assert response.status_code == 302 and response.headers["Location"] == f"/processos/rascunhos/{draft_id}"
    html = paula.get(response.headers["Location"]).get_data(as_text=True)
    assert "Não foi possível comparar: o diagrama" in html and "não é um XML válido" in html
    assert "salve-o antes de comparar" in html
    # The draft kept what was saved.
    assert paula.get(f"/processos/rascunhos/{draft_id}/diagrama").get_data(as_text=True) == broken


# -- migration of running cases ----------------------------------------------------------------------
@pytest.fixture
def two_running_cases(runtime: Runtime, paula: FlaskClient, complaint: dict[str, str]) -> tuple[int, int]:
    """Version 1: one case at "Atendimento preliminar", one at "Emitir CIP"; then version 2 deployed,
    where "Emitir CIP" is the analysts' task (so the second case cannot move)."""
    atendente = Actor("ana", "Ana Atendente", frozenset({"atendente"}))
    at_preliminary = runtime.start_case("reclamacao", atendente, complaint)
    at_cip = step(runtime, runtime.start_case("reclamacao", atendente, complaint), "atendimento_preliminar",
                  atendente, PRELIM_NAO_RESOLVIDA)
    draft_id = new_draft(paula)
    assert post_json(paula, f"/processos/rascunhos/{draft_id}/implantar", {"xml": CIP_BY_ANALYSTS}).status_code == 200
    return at_preliminary.case_id, at_cip.case_id


def definition_version(runtime: Runtime, case_id: int) -> int:
    with runtime.Session() as session:
        found = session.get(Case, case_id)
        assert found is not None
        return found.definition.version


def migration_events(runtime: Runtime) -> list[DeploymentEvent]:
    with runtime.Session() as session:
        return list(session.scalars(select(DeploymentEvent).where(DeploymentEvent.action == "migracao")))


def test_migration_preview_lists_who_can_move_and_why_the_others_cannot(
        runtime: Runtime, paula: FlaskClient, two_running_cases: tuple[int, int]) -> None:
    movable, stuck = two_running_cases
    block = section(paula.get("/processos/").get_data(as_text=True), "reclamacao")
    v1_row = re.search(r'<tr class="versao" data-versao="1">.*?</tr>', block, flags=re.S).group(0)
    assert 'href="/processos/reclamacao/versoes/1/migrar"' in v1_row and "Migrar casos em andamento" in v1_row
    v2_row = re.search(r'<tr class="versao versao-atual" data-versao="2">.*?</tr>', block, flags=re.S).group(0)
    assert "Migrar casos" not in v2_row  # nothing runs on the current version, and it is the target

    html = paula.get("/processos/reclamacao/versoes/1/migrar").get_data(as_text=True)
    assert "versão 1 → versão 2" in html
    can = re.search(rf'<tr class="caso-migravel" data-caso="{movable}">.*?</tr>', html, flags=re.S)
    assert can and f'name="casos" value="{movable}" checked' in can.group(0)
    assert "Atendimento preliminar" in can.group(0)  # where the case is
    cannot = re.search(rf'<tr class="caso-nao-migravel" data-caso="{stuck}">.*?</tr>', html, flags=re.S)
    assert cannot, html
    assert "Emitir CIP" in cannot.group(0) and "mudou na versão 2" in cannot.group(0)
    assert "grupos (candidateGroups): &#39;atendente&#39; → &#39;analista&#39;" in cannot.group(0)
    assert f'name="casos" value="{stuck}"' not in html  # it cannot be chosen
    assert 'name="para" value="2"' in html
    # The preview moved nothing.
    assert (definition_version(runtime, movable), definition_version(runtime, stuck)) == (1, 1)
    assert migration_events(runtime) == []


def test_migration_moves_the_cases_that_fit_and_reports_the_ones_kept(
        runtime: Runtime, paula: FlaskClient, two_running_cases: tuple[int, int]) -> None:
    movable, stuck = two_running_cases
    # Even when a case that cannot move is posted, the engine checks it again and keeps it.
    response = paula.post("/processos/reclamacao/versoes/1/migrar",
                          data={"csrf_token": token(paula), "para": "2", "casos": [str(movable), str(stuck)]})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Migração da versão 1 para a versão 2: 1 caso migrado, 1 caso mantido na versão 1." in html
    assert re.search(rf'<tr class="caso-migravel" data-caso="{movable}">', html)
    kept = re.search(rf'<tr class="caso-nao-migravel" data-caso="{stuck}">.*?</tr>', html, flags=re.S)
    assert kept and "mudou na versão 2" in kept.group(0)
    assert (definition_version(runtime, movable), definition_version(runtime, stuck)) == (2, 1)
    with runtime.Session() as session:
        audit = session.scalars(select(AuditEvent).where(AuditEvent.case_id == movable)
                                .order_by(AuditEvent.id.desc())).first()
    assert (audit.action, audit.actor) == ("migrado_versao", "paula")
    [event] = migration_events(runtime)
    assert (event.actor, event.details["migrados"], event.details["nao_migrados"][0]["caso"]) == ("paula", [movable],
                                                                                                  stuck)
    # The catalogue now counts the moved case on version 2.
    block = section(paula.get("/processos/").get_data(as_text=True), "reclamacao")
    v2_row = re.search(r'<tr class="versao versao-atual" data-versao="2">.*?</tr>', block, flags=re.S).group(0)
    assert '<td class="casos-abertos">1</td>' in v2_row


def test_migration_refuses_bad_requests_in_portuguese_and_moves_nothing(
        app: Flask, runtime: Runtime, paula: FlaskClient, two_running_cases: tuple[int, int]) -> None:
    movable, stuck = two_running_cases
    url = "/processos/reclamacao/versoes/1/migrar"
    # Nothing chosen.
    response = paula.post(url, data={"csrf_token": token(paula), "para": "2"})
    assert response.status_code == 302 and response.headers["Location"] == url
    assert "Marque ao menos um caso para migrar. Nenhum caso foi migrado." in paula.get(url).get_data(as_text=True)
    # A preview made before another version was deployed.
    response = paula.post(url, data={"csrf_token": token(paula), "para": "1", "casos": [str(movable)]})
    assert response.status_code == 302
    assert "depois que você abriu a prévia" in paula.get(url).get_data(as_text=True)
    # The current version has nowhere to go; an unknown version does not exist.
    response = paula.get("/processos/reclamacao/versoes/2/migrar")
    assert response.status_code == 302
    assert "já é a atual" in paula.get("/processos/").get_data(as_text=True)
    paula.get("/processos/reclamacao/versoes/9/migrar")
    assert "A versão 9 do processo &#39;reclamacao&#39; não existe." in paula.get("/processos/").get_data(as_text=True)
    # Without the CSRF token nothing happens.
    assert paula.post(url, data={"para": "2", "casos": [str(movable)]}).status_code == 400
    # An attendant may neither see the preview nor migrate.
    ana = client_for(app, "ana")
    assert ana.get(url).status_code == 403
    response = ana.post(url, data={"csrf_token": token_from_tasks(ana), "para": "2", "casos": [str(movable)]})
    assert response.status_code == 403 and "Seu perfil não permite" in response.get_data(as_text=True)
    assert (definition_version(runtime, movable), definition_version(runtime, stuck)) == (1, 1)
    assert migration_events(runtime) == []
