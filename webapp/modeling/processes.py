"""“Processos”: the process analysts' workspace — catalogue of procedures and versions, the BPMN
modeler (Camunda 7 bpmn-js with its properties panel) over drafts, validation shown on the diagram,
deploy, rollback, comparison of versions (and of a draft with the current version), migration of
running cases from an older version to the current one (preview, then execute) and upload /
download of ``.bpmn`` files.

The rules live in :class:`engine.modeling.versioning.ProcessCatalog`; these views only translate requests
and errors (JSON ``{"erro": "..."}`` with a 4xx status for the modeler's calls, flash messages for
the catalogue's forms), always in Portuguese.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, g, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from engine.errors import DefinitionError, EngineError, NotFound
from engine.modeling.migration import MigrationReport
from engine.modeling.validation import Problem
from engine.modeling.versioning import ANALYST_ROLE, MAX_DRAFT_BYTES, DraftError, ProcessCatalog
from engine.store.models import OpenTask
from webapp.auth import role_required
from webapp.modeling.limits import engine_error, json_error, limit_request_size
from webapp.runtime_access import runtime

bp = Blueprint("processes", __name__, url_prefix="/processos")

ROLES = (ANALYST_ROLE, "admin")
#: Largest upload accepted by this workspace (a diagram is at most 5 MB; a little room for the form).
MAX_UPLOAD_BYTES = MAX_DRAFT_BYTES + 64 * 1024
TOO_LARGE = (f"O arquivo enviado é grande demais: um diagrama .bpmn pode ter no máximo "
             f"{MAX_DRAFT_BYTES // (1024 * 1024)} MB. Nada foi salvo; envie um arquivo menor.")


def catalog() -> ProcessCatalog:
    return ProcessCatalog(runtime())


def _wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json" or \
        request.path.endswith(("/xml", "/salvar", "/validar", "/implantar"))


def _problem(problem: Problem) -> dict[str, Any]:
    return {"arquivo": problem.file, "elemento": problem.element_id, "linha": problem.line,
            "mensagem": problem.message}


# Per-request limit, below the app's MAX_CONTENT_LENGTH: a diagram never needs more.
limit_request_size(bp, MAX_UPLOAD_BYTES, TOO_LARGE, "Arquivo grande demais", _wants_json)


# -- catalogue ---------------------------------------------------------------------------------------
@bp.route("/")
@role_required(*ROLES)
def index() -> Any:
    return render_template("processes_catalog.html", processes=catalog().catalog(), max_mb=MAX_DRAFT_BYTES // 2**20)


@bp.route("/<process_id>/editar", methods=["POST"])
@role_required(*ROLES)
def edit(process_id: str) -> Any:
    try:
        draft = catalog().draft_from_version(process_id, g.actor)
    except (EngineError, ValueError) as error:
        flash(str(error), "erro")
        return redirect(url_for("processes.index"))
    return redirect(url_for("processes.modeler", draft_id=draft.id))


@bp.route("/enviar", methods=["POST"])
@role_required(*ROLES)
def upload() -> Any:
    upload_file = request.files.get("arquivo")
    if upload_file is None or not upload_file.filename:
        flash("Escolha um arquivo .bpmn para enviar.", "erro")
        return redirect(url_for("processes.index"))
    if not upload_file.filename.lower().endswith((".bpmn", ".xml")):
        flash("O arquivo precisa ter a extensão .bpmn.", "erro")
        return redirect(url_for("processes.index"))
    content = upload_file.read(MAX_DRAFT_BYTES + 1)
    if len(content) > MAX_DRAFT_BYTES:
        flash(TOO_LARGE, "erro")
        return redirect(url_for("processes.index"))
    process_id = (request.form.get("processo") or "").strip() or upload_file.filename.rsplit(".", 1)[0]
    try:
        draft = catalog().save_draft(process_id, content, g.actor)
    except (EngineError, ValueError) as error:
        flash(f"O arquivo não foi salvo: {error}", "erro")
        return redirect(url_for("processes.index"))
    flash(f"Arquivo “{upload_file.filename}” salvo como rascunho {draft.id} de '{process_id}'.", "sucesso")
    return redirect(url_for("processes.modeler", draft_id=draft.id))


@bp.route("/<process_id>/reverter", methods=["POST"])
@role_required(*ROLES)
def rollback(process_id: str) -> Any:
    version_text = request.form.get("versao", "")
    if not version_text.isdigit():
        flash("Escolha a versão para a qual reverter.", "erro")
        return redirect(url_for("processes.index"))
    try:
        definition = catalog().rollback(process_id, int(version_text), g.actor)
    except EngineError as error:
        flash(str(error), "erro")
        return redirect(url_for("processes.index"))
    flash(f"Versão {definition.version} implantada: reversão para o conteúdo da versão {version_text}. "
          "Os casos em andamento continuam nas versões em que começaram.", "sucesso")
    return redirect(url_for("processes.index"))


@bp.route("/rascunhos/<int:draft_id>/descartar", methods=["POST"])
@role_required(*ROLES)
def discard(draft_id: int) -> Any:
    try:
        catalog().discard_draft(draft_id, g.actor)
    except EngineError as error:
        flash(str(error), "erro")
    else:
        flash(f"Rascunho {draft_id} descartado.", "sucesso")
    return redirect(url_for("processes.index"))


# -- downloads ---------------------------------------------------------------------------------------
def _bpmn_download(xml: str, filename: str) -> Response:
    return Response(xml, mimetype="application/xml",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.route("/<process_id>/versoes/<int:version>/baixar")
@role_required(*ROLES)
def download_version(process_id: str, version: int) -> Any:
    try:
        definition = catalog().definition(process_id, version)
    except NotFound:
        abort(404)
    return _bpmn_download(definition.bpmn_xml, f"{process_id}-v{version}.bpmn")


@bp.route("/<process_id>/versoes/<int:version>/diagrama")
@role_required(*ROLES)
def version_xml(process_id: str, version: int) -> Any:
    try:
        definition = catalog().definition(process_id, version)
    except NotFound:
        abort(404)
    return Response(definition.bpmn_xml, mimetype="application/xml")


@bp.route("/rascunhos/<int:draft_id>/baixar")
@role_required(*ROLES)
def download_draft(draft_id: int) -> Any:
    try:
        draft = catalog().draft(draft_id)
    except NotFound:
        abort(404)
    return _bpmn_download(draft.bpmn_xml, f"{draft.process_id}-rascunho-{draft.id}.bpmn")


# -- modeler -----------------------------------------------------------------------------------------
@bp.route("/rascunhos/<int:draft_id>")
@role_required(*ROLES)
def modeler(draft_id: int) -> Any:
    try:
        draft = catalog().draft(draft_id)
    except NotFound:
        abort(404)
    if draft.status != "rascunho":
        flash(f"O rascunho {draft.id} já foi {draft.status}; abra um novo a partir da versão atual.", "erro")
        return redirect(url_for("processes.index"))
    try:
        current = catalog().definition(draft.process_id)
    except NotFound:
        current = None
    return render_template("processes_modeler.html", draft=draft, current=current)


@bp.route("/rascunhos/<int:draft_id>/xml")
@role_required(*ROLES)
def draft_xml(draft_id: int) -> Any:
    try:
        draft = catalog().draft(draft_id)
    except NotFound as error:
        return json_error(str(error), 404)
    return jsonify({"rascunho": draft.id, "processo": draft.process_id, "nome": draft.name,
                    "situacao": draft.status, "xml": draft.bpmn_xml})


def _xml_from_request() -> str:
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("xml"), str) or not data["xml"].strip():
        raise DraftError("Envie o diagrama como JSON: {\"xml\": \"<bpmn:definitions ...>\"}.")
    return data["xml"]


def _save(draft_id: int) -> Any:
    draft = catalog().draft(draft_id)
    return catalog().save_draft(draft.process_id, _xml_from_request(), g.actor, draft_id=draft_id)


def _engine_error(error: EngineError) -> tuple[Response, int]:
    return engine_error(error, 400)


@bp.route("/rascunhos/<int:draft_id>/salvar", methods=["POST"])
@role_required(*ROLES)
def save(draft_id: int) -> Any:
    try:
        draft = _save(draft_id)
    except EngineError as error:
        return _engine_error(error)
    return jsonify({"ok": True, "mensagem": f"Rascunho {draft.id} salvo.", "rascunho": draft.id})


@bp.route("/rascunhos/<int:draft_id>/validar", methods=["POST"])
@role_required(*ROLES)
def validate(draft_id: int) -> Any:
    try:
        if request.get_json(silent=True):
            _save(draft_id)
        problems = catalog().validate_draft(draft_id)
    except EngineError as error:
        return _engine_error(error)
    message = ("Nenhum problema encontrado: o rascunho pode ser implantado." if not problems else
               f"{len(problems)} problema{'s' if len(problems) != 1 else ''} encontrado"
               f"{'s' if len(problems) != 1 else ''}.")
    return jsonify({"ok": not problems, "mensagem": message, "problemas": [_problem(p) for p in problems]})


@bp.route("/rascunhos/<int:draft_id>/implantar", methods=["POST"])
@role_required(*ROLES)
def deploy(draft_id: int) -> Any:
    try:
        if request.get_json(silent=True):
            _save(draft_id)
        definition = catalog().deploy_draft(draft_id, g.actor)
    except DefinitionError as error:
        return json_error("O rascunho tem problemas e nada foi implantado. Corrija-os e tente de novo.", 422,
                          problemas=[_problem(p) for p in error.problems])
    except EngineError as error:
        return _engine_error(error)
    flash(f"Versão {definition.version} implantada: novos casos de “{definition.name}” começam nela; "
          "os casos em andamento continuam nas versões em que começaram.", "sucesso")
    return jsonify({"ok": True, "versao": definition.version, "mensagem": f"Versão {definition.version} implantada.",
                    "destino": url_for("processes.index")})


# -- comparison --------------------------------------------------------------------------------------
@bp.route("/<process_id>/comparar")
@role_required(*ROLES)
def compare(process_id: str) -> Any:
    a_text, b_text = request.args.get("a", ""), request.args.get("b", "")
    if not (a_text.isdigit() and b_text.isdigit()):
        flash("Escolha duas versões para comparar.", "erro")
        return redirect(url_for("processes.index"))
    a, b = int(a_text), int(b_text)
    try:
        comparison = catalog().compare_versions(process_id, a, b)
        name = catalog().definition(process_id).name
    except EngineError as error:
        flash(str(error), "erro")
        return redirect(url_for("processes.index"))
    return render_template(
        "processes_compare.html", name=name, comparison=comparison, data=comparison.to_dict(),
        title=f"{name}: versão {a} × versão {b}", crumb="comparar", same="As duas versões são iguais.",
        side_a={"label": f"Versão {a} (A)", "url": url_for("processes.version_xml", process_id=process_id, version=a)},
        side_b={"label": f"Versão {b} (B)", "url": url_for("processes.version_xml", process_id=process_id, version=b)})


@bp.route("/rascunhos/<int:draft_id>/diagrama")
@role_required(*ROLES)
def draft_diagram(draft_id: int) -> Any:
    try:
        draft = catalog().draft(draft_id)
    except NotFound:
        abort(404)
    return Response(draft.bpmn_xml, mimetype="application/xml")


@bp.route("/rascunhos/<int:draft_id>/comparar")
@role_required(*ROLES)
def compare_draft(draft_id: int) -> Any:
    """The draft (as last saved) against the procedure's current version, in the comparison view."""
    try:
        draft = catalog().draft(draft_id)
    except NotFound:
        abort(404)
    try:
        current = catalog().definition(draft.process_id)
        comparison = catalog().compare_draft(draft_id)
    except EngineError as error:
        flash(f"{error} Corrija o rascunho e salve-o antes de comparar.", "erro")
        if draft.status == "rascunho":
            return redirect(url_for("processes.modeler", draft_id=draft_id))
        return redirect(url_for("processes.index"))
    return render_template(
        "processes_compare.html", name=current.name, comparison=comparison, data=comparison.to_dict(),
        title=f"{current.name}: versão atual ({current.version}) × rascunho {draft.id}",
        crumb=f"rascunho {draft.id} × versão atual", draft=draft,
        same=f"O rascunho {draft.id} (como foi salvo por último) é igual à versão atual.",
        side_a={"label": f"Versão atual ({current.version})",
                "url": url_for("processes.version_xml", process_id=current.process_id, version=current.version)},
        side_b={"label": f"Rascunho {draft.id} (salvo em {draft.updated_at:%d/%m/%Y %H:%M} por {draft.updated_by})",
                "url": url_for("processes.draft_diagram", draft_id=draft.id)})


# -- migration of running cases ----------------------------------------------------------------------
def _positions(case_ids: list[int]) -> dict[int, list[str]]:
    """Case id -> titles of the tasks it waits on (the open tasks projection)."""
    if not case_ids:
        return {}
    positions: dict[int, list[str]] = {}
    with runtime().Session() as session:
        for case_id, title in session.execute(select(OpenTask.case_id, OpenTask.title)
                                              .where(OpenTask.case_id.in_(case_ids)).order_by(OpenTask.id)):
            positions.setdefault(case_id, []).append(title)
    return positions


def _render_migration(process_id: str, name: str, report: MigrationReport, executed: bool) -> str:
    ids = [c.case_id for c in report.moved] + [c.case_id for c in report.not_moved]
    return render_template("processes_migrate.html", process_id=process_id, name=name, report=report,
                           executed=executed, positions=_positions(ids))


@bp.route("/<process_id>/versoes/<int:version>/migrar", methods=["GET", "POST"])
@role_required(*ROLES)
def migrate(process_id: str, version: int) -> Any:
    """GET: which running cases of ``version`` can move to the current version and why the others
    cannot. POST: move the chosen ones (each rechecked by the engine) and show the result."""
    try:
        current = catalog().definition(process_id)
        catalog().definition(process_id, version)
    except NotFound as error:
        flash(str(error), "erro")
        return redirect(url_for("processes.index"))
    here = url_for("processes.migrate", process_id=process_id, version=version)
    if version == current.version:
        flash(f"A versão {version} já é a atual de “{current.name}”: não há para onde migrar os casos dela.", "erro")
        return redirect(url_for("processes.index"))
    if request.method == "GET":
        report = catalog().preview_migration(process_id, version, current.version)
        return _render_migration(process_id, current.name, report, executed=False)
    target_text = request.form.get("para", "")
    if not target_text.isdigit() or int(target_text) != current.version:
        flash(f"A versão atual de “{current.name}” mudou para a {current.version} depois que você abriu a prévia. "
              "Nenhum caso foi migrado; confira a nova prévia e confirme de novo.", "erro")
        return redirect(here)
    chosen = request.form.getlist("casos")
    if not chosen or not all(text.isdigit() for text in chosen):
        flash("Marque ao menos um caso para migrar. Nenhum caso foi migrado.", "erro")
        return redirect(here)
    try:
        report = catalog().migrate_cases(process_id, version, current.version, g.actor,
                                         case_ids=[int(text) for text in chosen])
    except EngineError as error:
        flash(f"Nenhum caso foi migrado: {error}", "erro")
        return redirect(here)
    return _render_migration(process_id, current.name, report, executed=True)
