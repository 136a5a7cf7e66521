"""Cases: the list, "Nova reclamação", the case page (data, timeline, tasks, deadlines, diagram)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for

from engine.errors import InvalidSubmission, PermissionDenied, ProcedureError
from engine.runtime import queries
from engine.store import audit_chain
from engine.store.models import Attachment, Case
from webapp.auth import login_required, role_required
from webapp.runtime_access import db_session, runtime
from webapp.staff.inbox import submitted_values, uploaded_files
from webapp.staff.party_identity import name_divergence
from webapp.staff.presenters import describe

bp = Blueprint("cases", __name__)

COMPLAINT_PROCESS = "reclamacao"


@bp.route("/casos")
@login_required
def case_list() -> Any:
    search = request.args.get("q", "").strip()
    status = request.args.get("situacao", "")
    if status not in ("", "aberto", "encerrado"):
        status = ""
    return render_template("cases.html", cases=queries.recent_cases(db_session(), search, status),
                           q=search, situacao=status)


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


def _case_or_404(case_id: int) -> Case:
    case = db_session().get(Case, case_id)
    if case is None:
        abort(404)
    return case


@bp.route("/casos/<int:case_id>")
@login_required
def case_page(case_id: int) -> Any:
    case = _case_or_404(case_id)
    session = db_session()
    open_tasks = queries.case_open_tasks(session, case_id)
    integrity = audit_chain.verify_case(session.connection(), case_id)
    return render_template(
        "case.html", case=case, open_tasks=open_tasks,
        timeline=queries.case_timeline(session, case_id), integrity=integrity,
        integrity_marks={p.event.id: p.kind for p in integrity.problems if p.kind != "removido"},
        deadlines=queries.case_deadlines(session, case_id),
        attachments=queries.case_attachments(session, case_id),
        documents=queries.case_documents(session, case_id),
        jobs=queries.case_jobs(session, case_id),
        sections=describe(runtime().forms, case.data or {}, runtime().form_order(case.definition)),
        current_elements=sorted({t.spec_name for t in open_tasks}),
        done_elements=sorted(queries.completed_elements(session, case_id)),
    )


@bp.route("/casos/<int:case_id>/diagrama.bpmn")
@login_required
def case_diagram(case_id: int) -> Any:
    case = _case_or_404(case_id)
    return Response(case.definition.bpmn_xml, mimetype="application/xml")


@bp.route("/anexos/<int:attachment_id>")
@login_required
def attachment(attachment_id: int) -> Any:
    item = db_session().get(Attachment, attachment_id)
    if item is None:
        abort(404)
    response = Response(item.data, mimetype=item.content_type)
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{_quote(item.filename)}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")
