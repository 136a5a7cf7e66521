"""“Formulários” through the Flask app with CSRF on: access, the list, the live preview (the very HTML
the task page renders), bad input refused in Portuguese with nothing published, save / validate /
publish, the task page using the published version, revert and the history page."""

from __future__ import annotations

import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine.actors import Actor
from engine.forms.models import FormDraft, FormVersion
from engine.runtime import Runtime
from tests.support.paths import REPO_ROOT
from tests.support.web_helpers import client_for, csrf_token, staff_app

FORMS_DIR = REPO_ROOT / "forms"
STAFF = [("paula", "Paula Processos", ["analista_processos"]), ("root", "Rita Admin", ["admin"]),
         ("ana", "Ana Atendente", ["atendente"]), ("bia", "Bia Analista", ["analista"])]
BASE = "/processos/formularios"
NEW_FIELD = {"name": "protocolo_fornecedor", "label": "Protocolo do atendimento no fornecedor", "type": "text",
             "required": True, "help": "O número que o fornecedor informou."}
FORM_RE = re.compile(r'<form method="post" enctype="multipart/form-data" class="formulario" novalidate>.*?</form>',
                     re.S)


@pytest.fixture
def app(runtime: Runtime) -> Flask:
    return staff_app(runtime, STAFF)


@pytest.fixture
def paula(app: Flask) -> FlaskClient:
    return client_for(app, "paula")


def token(client: FlaskClient) -> str:
    return csrf_token(client.get(f"{BASE}/").get_data(as_text=True))


def post_json(client: FlaskClient, url: str, data: dict | None = None, csrf: str | None = None):  # noqa: ANN201
    return client.post(url, json=data or {}, headers={"X-CSRFToken": csrf or token(client)})


def open_draft(client: FlaskClient, key: str = "atendimento_preliminar") -> int:
    response = client.post(f"{BASE}/{key}/editar", data={"csrf_token": token(client)})
    assert response.status_code == 302, response.get_data(as_text=True)
    match = re.fullmatch(rf"{BASE}/rascunhos/(\d+)", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def file_data(key: str) -> dict:
    return json.loads((FORMS_DIR / f"{key}.json").read_text(encoding="utf-8"))


def with_new_field() -> dict:
    data = file_data("atendimento_preliminar")
    data["fields"].append(NEW_FIELD)
    return data


def published(runtime: Runtime) -> int:
    with runtime.Session() as session:
        return session.scalar(select(func.count()).select_from(FormVersion)) or 0


def task_page(app: Flask, runtime: Runtime, complaint: dict[str, str]) -> tuple[FlaskClient, str]:
    """The attendant's client and the URL of an open “Atendimento preliminar” task."""
    result = runtime.start_case("reclamacao", Actor("ana", "Ana Atendente", frozenset({"atendente"})), complaint)
    task = next(t for t in result.open_tasks if t.form_key == "atendimento_preliminar")
    return client_for(app, "ana"), f"/casos/{result.case_id}/tarefas/{task.task_id}"


def normalise(html: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]+"', 'name="csrf_token" value="-"', html)


# -- access ------------------------------------------------------------------------------------------
def test_only_process_analysts_and_admins_enter(app: Flask, paula: FlaskClient) -> None:
    anonymous = app.test_client()
    assert anonymous.get(f"{BASE}/").status_code == 302
    draft_id = open_draft(paula)
    for username in ("ana", "bia"):
        client = client_for(app, username)
        assert client.get(f"{BASE}/").status_code == 403
        assert "Seu perfil não permite acessar esta página." in client.get(f"{BASE}/").get_data(as_text=True)
        assert client.get(f"{BASE}/rascunhos/{draft_id}").status_code == 403
        assert client.get(f"{BASE}/atendimento_preliminar").status_code == 403
        csrf = csrf_token(client.get("/tarefas").get_data(as_text=True))
        assert post_json(client, f"{BASE}/previa", {"chave": "x", "conteudo": "{}"}, csrf).status_code == 403
        assert post_json(client, f"{BASE}/rascunhos/{draft_id}/publicar", {}, csrf).status_code == 403
    assert client_for(app, "root").get(f"{BASE}/").status_code == 200
    page = paula.get(f"{BASE}/").get_data(as_text=True)
    assert 'id="formulario-registro_reclamacao"' in page and "arquivo forms/registro_reclamacao.json" in page
    assert f'href="{BASE}/"' in paula.get("/processos/").get_data(as_text=True)  # the link in “Processos”


# -- live preview ------------------------------------------------------------------------------------
def test_preview_is_the_html_of_the_task_page(app: Flask, runtime: Runtime, paula: FlaskClient,
                                              complaint: dict[str, str]) -> None:
    attendant, url = task_page(app, runtime, complaint)
    task_html = attendant.get(url).get_data(as_text=True)
    task_form = FORM_RE.search(task_html)
    assert task_form, task_html
    content = (FORMS_DIR / "atendimento_preliminar.json").read_text(encoding="utf-8")
    response = post_json(paula, f"{BASE}/previa", {"chave": "atendimento_preliminar", "conteudo": content})
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True and body["problemas"] == []
    assert normalise(body["html"].strip()) == normalise(task_form.group(0))

    # A change shows up in the preview as the attendant would see it.
    body = post_json(paula, f"{BASE}/previa", {"chave": "atendimento_preliminar",
                                               "conteudo": json.dumps(with_new_field())}).get_json()
    assert 'id="campo-protocolo_fornecedor" name="protocolo_fornecedor"' in body["html"]
    assert "Protocolo do atendimento no fornecedor <span class=\"obrigatorio\"" in body["html"]


@pytest.mark.parametrize(("content", "message"), [
    ('{"key": "atendimento_preliminar", "title": "X", "fields": [}',
     "JSON inválido na linha 1, coluna 60: falta um valor."),
    (json.dumps({**file_data("atendimento_preliminar"),
                 "fields": [{"name": "a", "label": "A", "type": "paragrafo"}]}),
     "Formulário atendimento_preliminar, campo 'a': tipo 'paragrafo' desconhecido."),
    (json.dumps({**file_data("atendimento_preliminar"),
                 "fields": [{"name": "a", "label": "A", "type": "text"}, {"name": "a", "label": "B", "type": "date"}]}),
     "o nome de campo 'a' aparece mais de uma vez."),
    (json.dumps({**file_data("atendimento_preliminar"),
                 "fields": [{"name": "a", "label": "A", "type": "choice"}]}),
     "campo do tipo 'choice' precisa de uma lista 'choices' não vazia."),
    ("", "O formulário está vazio: escreva o JSON do formulário."),
])
def test_preview_of_a_broken_form_shows_the_problem_instead(paula: FlaskClient, content: str, message: str) -> None:
    body = post_json(paula, f"{BASE}/previa", {"chave": "atendimento_preliminar", "conteudo": content}).get_json()
    assert body["ok"] is False and body["html"] is None
    assert len(body["problemas"]) == 1 and message in body["problemas"][0], body


# -- bad input ---------------------------------------------------------------------------------------
def test_bad_requests_get_portuguese_messages_and_nothing_is_saved(paula: FlaskClient, runtime: Runtime) -> None:
    draft_id = open_draft(paula)
    with runtime.Session() as session:
        before = session.get(FormDraft, draft_id).content
    csrf = token(paula)
    huge = paula.post(f"{BASE}/rascunhos/{draft_id}/salvar", json={"conteudo": "x" * (5 * 1024 * 1024)},
                      headers={"X-CSRFToken": csrf})
    assert huge.status_code == 413
    assert huge.get_json()["erro"].startswith("O conteúdo enviado é grande demais: um formulário pode ter no máximo "
                                              "256 KB.")
    huge_preview = paula.post(f"{BASE}/previa", json={"chave": "a", "conteudo": "x" * (5 * 1024 * 1024)},
                              headers={"X-CSRFToken": csrf})
    assert huge_preview.status_code == 413 and "grande demais" in huge_preview.get_json()["erro"]
    not_json = paula.post(f"{BASE}/rascunhos/{draft_id}/salvar", data="conteudo=1",
                          headers={"X-CSRFToken": csrf, "Content-Type": "text/plain"})
    assert not_json.status_code == 400 and "Envie o formulário como JSON" in not_json.get_json()["erro"]
    no_csrf = paula.post(f"{BASE}/rascunhos/{draft_id}/salvar", json={"conteudo": "{}"})
    assert no_csrf.status_code == 400
    stale = post_json(paula, f"{BASE}/rascunhos/{draft_id}/salvar", {"conteudo": "{}", "revisao": 99})
    assert stale.status_code == 409 and "salvou este rascunho depois que você o abriu" in stale.get_json()["erro"]
    with runtime.Session() as session:
        assert session.get(FormDraft, draft_id).content == before

    # A malformed draft is saved (work in progress) but cannot be published.
    saved = post_json(paula, f"{BASE}/rascunhos/{draft_id}/salvar", {"conteudo": '{"key": ', "revisao": 1})
    assert saved.status_code == 200
    assert saved.get_json()["valido"] is False and saved.get_json()["problemas"][0].startswith("JSON inválido")
    refused = post_json(paula, f"{BASE}/rascunhos/{draft_id}/publicar")
    assert refused.status_code == 422
    assert refused.get_json()["erro"] == "O formulário tem problemas; nada foi publicado."
    assert refused.get_json()["problemas"][0].startswith("JSON inválido na linha 1")
    assert published(runtime) == 0
    assert paula.get(f"{BASE}/rascunhos/999999").status_code == 404
    assert post_json(paula, f"{BASE}/rascunhos/999999/publicar").status_code == 404


def test_new_form_with_a_bad_key_is_refused(paula: FlaskClient) -> None:
    response = paula.post(f"{BASE}/novo", data={"csrf_token": token(paula), "chave": "Vistoria Local",
                                                "titulo": "Vistoria"}, follow_redirects=True)
    assert "O formulário não foi criado: A chave do formulário deve ter de 1 a 100 caracteres" in \
        response.get_data(as_text=True)
    response = paula.post(f"{BASE}/novo", data={"csrf_token": token(paula), "chave": "vistoria_local",
                                                "titulo": "Vistoria no local"})
    assert re.fullmatch(rf"{BASE}/rascunhos/\d+", response.headers["Location"])
    editor = paula.get(response.headers["Location"]).get_data(as_text=True)
    assert 'id="editor-formulario"' in editor and "form-editor.js" in editor


# -- the whole path ----------------------------------------------------------------------------------
def test_save_validate_publish_then_the_task_page_shows_it_and_revert_takes_it_back(
        app: Flask, runtime: Runtime, paula: FlaskClient, complaint: dict[str, str]) -> None:
    attendant, url = task_page(app, runtime, complaint)
    assert "protocolo_fornecedor" not in attendant.get(url).get_data(as_text=True)

    draft_id = open_draft(paula)
    editor = paula.get(f"{BASE}/rascunhos/{draft_id}").get_data(as_text=True)
    assert "Prévia" in editor and "contato_descricao" in editor
    saved = post_json(paula, f"{BASE}/rascunhos/{draft_id}/salvar", {"conteudo": with_new_field(), "revisao": 1})
    assert saved.status_code == 200 and saved.get_json()["valido"] is True and saved.get_json()["revisao"] == 2
    assert saved.get_json()["mensagem"].startswith("Rascunho salvo às ")
    checked = post_json(paula, f"{BASE}/rascunhos/{draft_id}/validar").get_json()
    assert checked == {"ok": True, "problemas": [], "mensagem": "O formulário é válido e pode ser publicado."}
    done = post_json(paula, f"{BASE}/rascunhos/{draft_id}/publicar")
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["versao"] == 1
    assert "publicada: as tarefas com este formulário passam a usá-la agora" in done.get_json()["mensagem"]
    again = post_json(paula, f"{BASE}/rascunhos/{draft_id}/publicar")
    assert again.status_code == 422 and "já foi publicado" in again.get_json()["erro"]

    page = attendant.get(url).get_data(as_text=True)
    assert 'id="campo-protocolo_fornecedor"' in page and "Protocolo do atendimento no fornecedor" in page

    listing = paula.get(f"{BASE}/").get_data(as_text=True)
    assert "versão 1 publicada" in listing and "por paula" in listing
    history = paula.get(f"{BASE}/atendimento_preliminar").get_data(as_text=True)
    assert f"Publicação da versão 1 a partir do rascunho {draft_id}" in history
    assert "Restaurar o arquivo original" in history

    reverted = paula.post(f"{BASE}/atendimento_preliminar/reverter",
                          data={"csrf_token": token(paula), "versao": "0"}, follow_redirects=True)
    text = reverted.get_data(as_text=True)
    assert "Versão 2 publicada com o arquivo original. As tarefas passam a usá-la agora." in text
    assert "Versão 2: reversão para o arquivo forms/atendimento_preliminar.json" in text
    assert "protocolo_fornecedor" not in attendant.get(url).get_data(as_text=True)
    bad = paula.post(f"{BASE}/atendimento_preliminar/reverter", data={"csrf_token": token(paula), "versao": "x"},
                     follow_redirects=True)
    assert "Escolha a versão para a qual reverter." in bad.get_data(as_text=True)
    assert published(runtime) == 2


def test_discard_from_the_editor(paula: FlaskClient, runtime: Runtime) -> None:
    draft_id = open_draft(paula, "emitir_cip")
    response = paula.post(f"{BASE}/rascunhos/{draft_id}/descartar", data={"csrf_token": token(paula)},
                          follow_redirects=True)
    assert f"Rascunho {draft_id} descartado." in response.get_data(as_text=True)
    closed = paula.get(f"{BASE}/rascunhos/{draft_id}").get_data(as_text=True)
    assert "Este rascunho já foi descartado por paula" in closed
    assert post_json(paula, f"{BASE}/rascunhos/{draft_id}/salvar", {"conteudo": "{}"}).status_code == 422
