"""The staff inbox: my tasks, my roles' queue (of my unit; every unit at the state level), claim / release,
and the task page with its form. A task of a case of another unit is a 404, as a case that does not exist."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from engine import clock
from engine.errors import ConflictError, InvalidSubmission, NotFound, PermissionDenied, ProcedureError
from engine.forms.schema import FormDefinition
from engine.forms.submission import UploadedFile
from engine.roles import PARTY_PROXIES
from engine.runtime import queries
from engine.runtime.access import unit_scope
from engine.store.models import Case, OpenTask
from webapp.auth import login_required
from webapp.runtime_access import db_session, runtime
from webapp.staff.access import case_or_404, record_read
from webapp.staff.presenters import describe

bp = Blueprint("inbox", __name__)


def queue_roles(roles: frozenset[str]) -> frozenset[str]:
    """The roles whose queue a person sees: their own, plus the parties' they may answer for (a consumer's
    or a supplier's answer that came by post, by phone or at the counter)."""
    return roles | {party for party, staff in PARTY_PROXIES.items() if roles & staff}


def uploaded_files(form: FormDefinition) -> dict[str, UploadedFile]:
    """The request's files for the form's file fields (empty inputs are left out)."""
    files = {}
    for form_field in form.fields:
        storage = request.files.get(form_field.name)
        if form_field.type == "file" and storage is not None and storage.filename:
            files[form_field.name] = UploadedFile(storage.filename, storage.mimetype or "", storage.read())
    return files


def prefilled(form: FormDefinition, data: dict) -> dict[str, str]:
    """What the case already knows, typed into the form's fields (the person confirms or corrects).

    Choices are left for the person to make; files cannot be pre-filled.
    """
    values = {}
    for form_field in form.fields:
        value = data.get(form_field.name)
        if form_field.type in ("choice", "file") or value is None or isinstance(value, dict | list):
            continue
        if form_field.type == "money":
            value = str(value).replace(".", ",")
        values[form_field.name] = str(value)
    return values


def submitted_values() -> dict[str, str]:
    return {key: value for key, value in request.form.items() if key != "csrf_token"}


@bp.route("/")
@login_required
def index() -> Any:
    return redirect(url_for("inbox.tasks"))


@bp.route("/tarefas")
@login_required
def tasks() -> Any:
    session = db_session()
    roles = queue_roles(g.actor.roles)
    unit = unit_scope(g.actor)
    return render_template("inbox.html", mine=queries.my_tasks(session, g.user.username, unit=unit),
                           queue=queries.group_queue(session, roles, unit),
                           notices=queries.notifications_for(session, g.user.username, roles, g.user.unit))


@bp.route("/avisos/<int:notice_id>/lido", methods=["POST"])
@login_required
def mark_read(notice_id: int) -> Any:
    session = db_session()
    notices = queries.notifications_for(session, g.user.username, queue_roles(g.actor.roles), g.user.unit,
                                        limit=500)
    notice = next((n for n in notices if n.id == notice_id), None)
    if notice is None:
        abort(404)
    notice.read_at = clock.now()
    session.commit()
    return redirect(url_for("inbox.tasks"))


def _task_or_404(case_id: int, task_id: str) -> tuple[Case, OpenTask | None]:
    case = case_or_404(case_id)
    task = queries.open_task(db_session(), task_id)
    if task is not None and task.case_id != case_id:
        abort(404)
    return case, task


def _render_task(case: Case, task: OpenTask, form: FormDefinition, raw: dict[str, str] | None = None,
                 errors: dict[str, str] | None = None, conflict: str | None = None, status: int = 200) -> Any:
    return render_template("task.html", case=case, task=task, form=form, raw=raw or {}, errors=errors or {},
                           conflict=conflict,
                           sections=describe(runtime().forms, case.data or {}, runtime().form_order(case.definition))
                           ), status


@bp.route("/casos/<int:case_id>/tarefas/<task_id>", methods=["GET", "POST"])
@login_required
def task_page(case_id: int, task_id: str) -> Any:
    case, task = _task_or_404(case_id, task_id)
    if task is None:
        flash("Esta tarefa não está mais aberta: veja no histórico do caso quem a concluiu.", "aviso")
        return redirect(url_for("cases.case_page", case_id=case_id))
    if not g.actor.may_perform(task.role):
        abort(403)
    form = runtime().form_for(task)
    if request.method == "GET":
        record_read(case, "tarefa", task.title)
        return _render_task(case, task, form, prefilled(form, case.data or {}))
    values = submitted_values()
    try:
        result = runtime().complete_task(case_id, task_id, g.actor, values, uploaded_files(form))
    except InvalidSubmission as error:
        flash(str(error), "erro")
        return _render_task(case, task, form, error.result.raw, error.result.errors, status=422)
    except ConflictError as error:
        return _render_task(case, task, form, values, conflict=str(error), status=409)
    except NotFound:
        abort(404)  # the case left this person's unit meanwhile
    except PermissionDenied as error:
        return _render_task(case, task, form, values, conflict=str(error), status=403)
    except ProcedureError as error:
        return _render_task(case, task, form, values, conflict=str(error), status=500)
    flash(f"Tarefa “{task.title}” concluída.", "sucesso")
    if result.status == "encerrado":
        flash(f"O caso {result.protocol} foi encerrado.", "sucesso")
    mine_next = [t for t in result.open_tasks if g.actor.has_role(t.role)]
    if len(mine_next) == 1 and result.status != "encerrado":
        return redirect(url_for("inbox.task_page", case_id=case_id, task_id=mine_next[0].task_id))
    return redirect(url_for("cases.case_page", case_id=case_id))


@bp.route("/casos/<int:case_id>/tarefas/<task_id>/assumir", methods=["POST"])
@login_required
def claim(case_id: int, task_id: str) -> Any:
    try:
        runtime().claim(case_id, task_id, g.actor)
        flash("Tarefa assumida: agora ela está em “Minhas tarefas”.", "sucesso")
    except NotFound:
        abort(404)
    except PermissionDenied as error:
        return _refused(str(error))
    except ConflictError as error:
        flash(str(error), "erro")
        return redirect(url_for("inbox.tasks"))
    return redirect(url_for("inbox.task_page", case_id=case_id, task_id=task_id))


@bp.route("/casos/<int:case_id>/tarefas/<task_id>/liberar", methods=["POST"])
@login_required
def release(case_id: int, task_id: str) -> Any:
    try:
        runtime().release(case_id, task_id, g.actor)
        flash("Tarefa devolvida à fila do grupo.", "info")
    except NotFound:
        abort(404)
    except PermissionDenied as error:
        return _refused(str(error))
    except ConflictError as error:
        flash(str(error), "erro")
    return redirect(url_for("inbox.tasks"))


def _refused(message: str) -> Any:
    return render_template("erro.html", titulo="Acesso negado", mensagem=message), 403
