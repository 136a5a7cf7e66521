"""“Formulários”: the process analysts' form editor under /processos/formularios.

A list of every form (file in forms/, published versions, open drafts), a structural editor with the
raw JSON beside it, and a live preview rendered on the server by the same Jinja macro the attendants'
task page uses — so the preview is exactly what they will get. Save, validate, publish, revert and
discard call :class:`engine.forms.catalog.FormCatalog`; the editor's calls get JSON (``{"erro": ...}``
with a 4xx status when refused), the list's forms get flash messages, always in Portuguese.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, abort, flash, g, jsonify, redirect, render_template, request, url_for

from engine.errors import EngineError, NotFound
from engine.forms.catalog import FormCatalog, InvalidForm
from engine.forms.checks import MAX_FORM_BYTES
from engine.forms.schema import FIELD_TYPES
from engine.store.protocol import AGENCY_TZ
from webapp.auth import role_required
from webapp.modeling.limits import engine_error, json_error, limit_request_size
from webapp.runtime_access import runtime

bp = Blueprint("form_editor", __name__, url_prefix="/processos/formularios")

ROLES = ("analista_processos", "admin")
#: Largest request this workspace accepts: one form's JSON plus room for the envelope.
MAX_REQUEST_BYTES = MAX_FORM_BYTES + 16 * 1024
TOO_LARGE = (f"O conteúdo enviado é grande demais: um formulário pode ter no máximo {MAX_FORM_BYTES // 1024} KB. "
             "Nada foi salvo nem publicado.")
#: How each field type is called in the editor.
TYPE_LABELS: dict[str, str] = {
    "text": "Texto curto", "textarea": "Texto longo", "date": "Data", "money": "Valor em reais",
    "choice": "Escolha (opções)", "cpf": "CPF", "cnpj": "CNPJ", "email": "E-mail", "file": "Arquivo",
    "phone": "Telefone", "number": "Número",
}


def catalog() -> FormCatalog:
    return FormCatalog(runtime())


def _wants_json() -> bool:
    return request.is_json or request.path.endswith(("/salvar", "/validar", "/publicar", "/previa"))


# A form never needs more than one form's JSON.
limit_request_size(bp, MAX_REQUEST_BYTES, TOO_LARGE, "Conteúdo grande demais", _wants_json)


def _engine_error(error: EngineError) -> tuple[Response, int]:
    if isinstance(error, InvalidForm):
        return json_error("O formulário tem problemas; nada foi publicado.", 422, problemas=error.problems)
    return engine_error(error, 422)


def _content_from_body() -> tuple[str | None, dict[str, Any]]:
    """The form text sent by the editor (``conteudo``: text, or an object we write as JSON)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return None, {}
    content = body.get("conteudo")
    if isinstance(content, dict | list):
        content = json.dumps(content, indent=2, ensure_ascii=False)
    return (content if isinstance(content, str) else None), body


NO_CONTENT = "Envie o formulário como JSON: {\"conteudo\": \"<texto do formulário>\"}."


# -- list and history ----------------------------------------------------------------------------
@bp.route("/")
@role_required(*ROLES)
def index() -> Any:
    return render_template("form_editor.html", forms=catalog().overview())


@bp.route("/novo", methods=["POST"])
@role_required(*ROLES)
def new_form() -> Any:
    try:
        draft = catalog().new_form(request.form.get("chave", ""), request.form.get("titulo", ""), g.actor)
    except EngineError as error:
        flash(f"O formulário não foi criado: {error}", "erro")
        return redirect(url_for("form_editor.index"))
    return redirect(url_for("form_editor.editor", draft_id=draft.id))


@bp.route("/<key>")
@role_required(*ROLES)
def history(key: str) -> Any:
    forms = catalog()
    try:
        content, current = forms.current_content(key)
    except NotFound:
        abort(404)
    summary = next((s for s in forms.overview() if s.key == key), None)
    return render_template("form_editor_history.html", key=key, summary=summary, content=content,
                           current=current, versions=forms.versions(key), events=forms.events(key),
                           has_file=forms.file_content(key) is not None)


@bp.route("/<key>/editar", methods=["POST"])
@role_required(*ROLES)
def edit(key: str) -> Any:
    try:
        draft = catalog().start_draft(key, g.actor)
    except EngineError as error:
        flash(str(error), "erro")
        return redirect(url_for("form_editor.index"))
    return redirect(url_for("form_editor.editor", draft_id=draft.id))


@bp.route("/<key>/reverter", methods=["POST"])
@role_required(*ROLES)
def revert(key: str) -> Any:
    version_text = request.form.get("versao", "")
    if not version_text.isdigit():
        flash("Escolha a versão para a qual reverter.", "erro")
        return redirect(url_for("form_editor.history", key=key))
    to_version = int(version_text)
    try:
        row = catalog().revert(key, to_version, g.actor)
    except InvalidForm as error:
        flash("Nada foi revertido: " + " ".join(error.problems), "erro")
    except EngineError as error:
        flash(f"Nada foi revertido: {error}", "erro")
    else:
        origin = "o arquivo original" if to_version == 0 else f"o conteúdo da versão {to_version}"
        flash(f"Versão {row.version} publicada com {origin}. As tarefas passam a usá-la agora.", "sucesso")
    return redirect(url_for("form_editor.history", key=key))


# -- the editor ------------------------------------------------------------------------------------
@bp.route("/rascunhos/<int:draft_id>")
@role_required(*ROLES)
def editor(draft_id: int) -> Any:
    try:
        draft = catalog().draft(draft_id)
    except NotFound:
        abort(404)
    config = {
        "chave": draft.key, "revisao": draft.revision, "aberto": draft.status == "rascunho",
        "tipos": [{"valor": t, "rotulo": TYPE_LABELS.get(t, t)} for t in FIELD_TYPES],
        "urls": {"previa": url_for("form_editor.preview"),
                 "salvar": url_for("form_editor.save", draft_id=draft.id),
                 "validar": url_for("form_editor.validate", draft_id=draft.id),
                 "publicar": url_for("form_editor.publish", draft_id=draft.id),
                 "historico": url_for("form_editor.history", key=draft.key)},
    }
    return render_template("form_editor_edit.html", draft=draft, config=config)


@bp.route("/rascunhos/<int:draft_id>/salvar", methods=["POST"])
@role_required(*ROLES)
def save(draft_id: int) -> Any:
    content, body = _content_from_body()
    if content is None:
        return json_error(NO_CONTENT, 400)
    revision = body.get("revisao")
    if revision is not None and (isinstance(revision, bool) or not isinstance(revision, int)):
        return json_error("A revisão do rascunho deve ser um número inteiro.", 400)
    forms = catalog()
    try:
        draft = forms.save_draft(draft_id, content, g.actor, revision=revision)
    except EngineError as error:
        return _engine_error(error)
    result = forms.check(draft.key, draft.content)
    return jsonify({"ok": True, "revisao": draft.revision, "valido": result.ok, "problemas": result.problems,
                    "mensagem": f"Rascunho salvo às {draft.updated_at.astimezone(AGENCY_TZ).strftime('%H:%M:%S')}."})


@bp.route("/rascunhos/<int:draft_id>/validar", methods=["POST"])
@role_required(*ROLES)
def validate(draft_id: int) -> Any:
    try:
        result = catalog().validate_draft(draft_id)
    except EngineError as error:
        return _engine_error(error)
    message = "O formulário é válido e pode ser publicado." if result.ok else \
        f"O formulário tem {len(result.problems)} problema{'s' if len(result.problems) != 1 else ''}."
    return jsonify({"ok": result.ok, "problemas": result.problems, "mensagem": message})


@bp.route("/rascunhos/<int:draft_id>/publicar", methods=["POST"])
@role_required(*ROLES)
def publish(draft_id: int) -> Any:
    try:
        row = catalog().publish_draft(draft_id, g.actor)
    except EngineError as error:
        return _engine_error(error)
    return jsonify({"ok": True, "versao": row.version, "historico": url_for("form_editor.history", key=row.key),
                    "mensagem": f"Versão {row.version} de “{row.title}” publicada: as tarefas com este "
                                "formulário passam a usá-la agora."})


@bp.route("/rascunhos/<int:draft_id>/descartar", methods=["POST"])
@role_required(*ROLES)
def discard(draft_id: int) -> Any:
    try:
        catalog().discard_draft(draft_id, g.actor)
    except EngineError as error:
        flash(str(error), "erro")
    else:
        flash(f"Rascunho {draft_id} descartado.", "sucesso")
    return redirect(url_for("form_editor.index"))


@bp.route("/previa", methods=["POST"])
@role_required(*ROLES)
def preview() -> Any:
    content, body = _content_from_body()
    key = body.get("chave")
    if content is None or not isinstance(key, str):
        return json_error(NO_CONTENT.replace("{\"conteudo\"", "{\"chave\": \"<chave>\", \"conteudo\""), 400)
    result = catalog().check(key, content)
    if result.form is None:
        return jsonify({"ok": False, "problemas": result.problems, "html": None})
    html = render_template("form_editor_preview.html", form=result.form)
    return jsonify({"ok": result.ok, "problemas": result.problems, "html": html})
