"""Cases: the list, "Nova reclamação", the case page (data, timeline, tasks, deadlines, diagram), its
attachments, and the transfer of a case to another unit.

A person sees the cases of their unit (every unit at the state level): any other case is a 404
(:mod:`webapp.staff.access`), and every read of a case's data is written in the access log.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from engine.calendar.models import Unit
from engine.errors import EngineError, InvalidSubmission, NotFound, PermissionDenied, ProcedureError
from engine.roles import CASE_ROLES
from engine.runtime import queries
from engine.runtime.access import unit_scope
from engine.store import audit_chain
from engine.store.models import Attachment, Case
from webapp.auth import login_required, role_required
from webapp.runtime_access import db_session, runtime
from webapp.staff.access import case_or_404, names_of, record_read
from webapp.staff.inbox import submitted_values, uploaded_files
from webapp.staff.party_identity import name_divergence
from webapp.staff.presenters import describe

bp = Blueprint("cases", __name__)

COMPLAINT_PROCESS = "reclamacao"


@bp.route("/casos")
@role_required(*sorted(CASE_ROLES))
def case_list() -> Any:
    search = request.args.get("q", "").strip()
    status = request.args.get("situacao", "")
    if status not in ("", "aberto", "encerrado"):
        status = ""
    cases = queries.recent_cases(db_session(), search, status, unit=unit_scope(g.actor))
    return render_template("cases.html", cases=cases, q=search, situacao=status, every_unit=g.actor.is_state_level)


@bp.route("/reclamacoes/nova", methods=["GET", "POST"])
@role_required("atendente")
def new_complaint() -> Any:
    form, task_title = runtime().first_form(COMPLAINT_PROCESS)
    if request.method == "GET":
        return render_template("new_complaint.html", form=form, raw={}, errors={})
    warning = name_divergence(submitted_values())  # the CPF of a portal account under another name: ask first
    if warning:
        return render_template("new_complaint.html", form=form, raw=submitted_values(), errors=warning,
                               divergencia=True), 409
    try:
        result = runtime().start_case(COMPLAINT_PROCESS, g.actor, submitted_values(), uploaded_files(form))
    except InvalidSubmission as error:
        flash(str(error), "erro")
        return render_template("new_complaint.html", form=form, raw=error.result.raw,
                               errors=error.result.errors), 422
    except PermissionDenied as error:
        flash(str(error), "erro")
        return render_template("new_complaint.html", form=form, raw=submitted_values(), errors={}), 403
    except ProcedureError as error:
        flash(str(error), "erro")
        return render_template("new_complaint.html", form=form, raw=submitted_values(), errors={}), 500
    flash(f"Reclamação registrada com o protocolo {result.protocol}.", "sucesso")
    if len(result.open_tasks) == 1 and g.actor.has_role(result.open_tasks[0].role):
        next_task = result.open_tasks[0]
        runtime().claim(result.case_id, next_task.task_id, g.actor)
        return redirect(url_for("inbox.task_page", case_id=result.case_id, task_id=next_task.task_id))
    return redirect(url_for("cases.case_page", case_id=result.case_id))


def _may_transfer(case: Case) -> bool:
    return case.status != "encerrado" and (g.actor.is_state_level or g.actor.has_role("gestor"))


def _render_case(case: Case, transfer: dict[str, str] | None = None, transfer_errors: dict[str, str] | None = None,
                 status: int = 200) -> Any:
    session = db_session()
    open_tasks = queries.case_open_tasks(session, case.id)
    timeline = queries.case_timeline(session, case.id)
    integrity = audit_chain.verify_case(session.connection(), case.id)
    units = [u for u in session.scalars(select(Unit).order_by(Unit.code)) if u.code != case.unit] \
        if _may_transfer(case) else []
    return render_template(
        "case.html", case=case, open_tasks=open_tasks, timeline=timeline, integrity=integrity,
        integrity_marks={p.event.id: p.kind for p in integrity.problems if p.kind != "removido"},
        deadlines=queries.case_deadlines(session, case.id),
        attachments=queries.case_attachments(session, case.id),
        documents=queries.case_documents(session, case.id),
        jobs=queries.case_jobs(session, case.id),
        sections=describe(runtime().forms, case.data or {}, runtime().form_order(case.definition)),
        current_elements=sorted({t.spec_name for t in open_tasks}),
        done_elements=sorted(queries.completed_elements(session, case.id)),
        names=names_of({case.created_by, *(e.actor for e in timeline)}),
        units=units, transfer=transfer or {}, transfer_errors=transfer_errors or {},
    ), status


@bp.route("/casos/<int:case_id>")
@login_required
def case_page(case_id: int) -> Any:
    case = case_or_404(case_id)
    record_read(case, "caso")
    return _render_case(case)


@bp.route("/casos/<int:case_id>/transferir", methods=["POST"])
@login_required
def transfer(case_id: int) -> Any:
    """A manager of the case's unit (or the state level) sends the case to another unit, saying why."""
    case = case_or_404(case_id)
    typed = {"unidade": (request.form.get("unidade") or "").strip(), "motivo": (request.form.get("motivo") or "")}
    if not _may_transfer(case):
        return render_template("erro.html", titulo="Acesso negado",
                               mensagem="Só um gestor da unidade do caso (ou da gestão estadual) transfere um caso "
                                        "em andamento."), 403
    errors = {}
    if not typed["unidade"]:
        errors["unidade"] = "Escolha a unidade que vai receber o caso."
    if not typed["motivo"].strip():
        errors["motivo"] = "Informe o motivo da transferência (fica no histórico do caso)."
    if not errors:
        try:
            runtime().transfer(case_id, typed["unidade"], g.actor, typed["motivo"])
        except NotFound as error:
            errors["unidade"] = str(error)
        except EngineError as error:
            errors["unidade" if "unidade" in str(error) else "motivo"] = str(error)
    if errors:
        flash("A transferência não foi feita: corrija o que está indicado.", "erro")
        db_session().expire_all()
        return _render_case(case_or_404(case_id), typed, errors, 422)
    flash(f"Caso {case.protocol} transferido para a unidade {typed['unidade'].upper()}.", "sucesso")
    db_session().expire_all()
    refreshed = db_session().get(Case, case_id)
    if refreshed is not None and g.actor.sees_unit(refreshed.unit):
        return redirect(url_for("cases.case_page", case_id=case_id))
    return redirect(url_for("cases.case_list"))


@bp.route("/casos/<int:case_id>/diagrama.bpmn")
@login_required
def case_diagram(case_id: int) -> Any:
    case = case_or_404(case_id)
    return Response(case.definition.bpmn_xml, mimetype="application/xml")


@bp.route("/anexos/<int:attachment_id>")
@login_required
def attachment(attachment_id: int) -> Any:
    item = db_session().get(Attachment, attachment_id)
    if item is None:
        abort(404)
    if item.case_id is None:  # a file not filed on a case (a company's documents): the state level only
        if not g.actor.is_state_level:
            abort(404)
    else:
        record_read(case_or_404(item.case_id), "anexo", item.filename)
    response = Response(item.data, mimetype=item.content_type)
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(item.filename, safe='')}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
