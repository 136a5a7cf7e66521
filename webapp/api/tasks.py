"""``/api/v1/tasks``: the caller's work — staff: their own tasks and their roles' queue in their unit (as the
inbox; every unit at the state level);
a party: the tasks of its role in its own cases, most urgent first — each task's form, and claim,
release and complete (values as JSON, files in Base64; 422 with each field's error, nothing saved)."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from sqlalchemy import or_, select

from engine.parties.case_parties import visible_case_ids
from engine.runtime import queries
from engine.runtime.access import unit_scope
from engine.store.models import OpenTask
from webapp.api.auth import BEARER, Caller, current_caller, token_required
from webapp.api.common import (
    form_submission,
    json_object,
    page_body,
    paginate_list,
    paginate_query,
    party_sees_task,
    task_or_404,
    task_out,
)
from webapp.api.schemas import (
    CompletedSchema,
    PageArgs,
    TaskDetailSchema,
    TaskPageSchema,
    TaskSummarySchema,
    ValuesSchema,
)
from webapp.runtime_access import db_session, runtime
from webapp.staff.access import record_read
from webapp.staff.inbox import prefilled, queue_roles

bp = Blueprint("api_tasks", __name__, url_prefix="/api/v1/tasks",
               description="Tarefas: a sua lista e a fila dos seus papéis")


def _party_tasks(caller: Caller) -> Any:
    """A select of the party's open tasks, the most urgent first."""
    conditions = [(OpenTask.role == role) & OpenTask.case_id.in_(visible_case_ids(caller.actor, role))
                  for role in sorted(caller.actor.roles)]
    query = select(OpenTask)
    if conditions:
        query = query.where(or_(*conditions))
    return query.order_by(OpenTask.due_at.is_(None), OpenTask.due_at, OpenTask.created_at, OpenTask.id)


@bp.route("")
@token_required("casos:ler")
@bp.doc(security=BEARER, summary="Minhas tarefas e a fila dos meus papéis")
@bp.arguments(PageArgs, location="query")
@bp.response(200, TaskPageSchema)
def list_tasks(args: dict[str, Any]) -> Any:
    caller = current_caller()
    session = db_session()
    page, per_page = args["page"], args["per_page"]
    if caller.is_party:
        rows, total = paginate_query(session, _party_tasks(caller), page, per_page)
    else:
        user = caller.user
        assert user is not None
        unit = unit_scope(caller.actor)
        mine = queries.my_tasks(session, user.username, unit=unit)
        queue = queries.group_queue(session, queue_roles(caller.actor.roles), unit)
        rows, total = paginate_list(mine + queue, page, per_page)
    return page_body([task_out(t) for t in rows], total, page, per_page)


@bp.route("/<task_id>")
@token_required("casos:ler")
@bp.doc(security=BEARER, summary="Uma tarefa e o seu formulário")
@bp.response(200, TaskDetailSchema)
def get_task(task_id: str) -> Any:
    caller = current_caller()
    task = task_or_404(caller, task_id)
    form = runtime().form_for(task)
    record_read(task.case, "tarefa", task.title, actor=caller.actor, channel="api")
    return task_out(task) | {
        "form": {"key": form.key, "title": form.title, "description": form.description, "fields_": [
            {"name": f.name, "label": f.label, "type": f.type, "required": f.required, "help": f.help,
             "choices": [{"value": c.value, "label": c.label} for c in f.choices], "max_length": f.max_length,
             "min_value": None if f.min_value is None else str(f.min_value),
             "max_value": None if f.max_value is None else str(f.max_value),
             "accept": list(f.accept), "max_size_mb": f.max_size_mb} for f in form.fields]},
        "values": prefilled(form, task.case.data or {}),
    }


def _after(caller: Caller, task_id: str) -> dict[str, Any]:
    task = db_session().scalars(select(OpenTask).where(OpenTask.task_id == task_id)).first()
    assert task is not None
    return task_out(task)


@bp.route("/<task_id>/claim", methods=["POST"])
@token_required("tarefas:escrever")
@bp.doc(security=BEARER, summary="Assumir a tarefa")
@bp.response(200, TaskSummarySchema)
def claim(task_id: str) -> Any:
    caller = current_caller()
    task = task_or_404(caller, task_id)
    runtime().claim(task.case_id, task.task_id, caller.actor)
    db_session().expire_all()
    return _after(caller, task_id)


@bp.route("/<task_id>/release", methods=["POST"])
@token_required("tarefas:escrever")
@bp.doc(security=BEARER, summary="Devolver a tarefa à fila")
@bp.response(200, TaskSummarySchema)
def release(task_id: str) -> Any:
    caller = current_caller()
    task = task_or_404(caller, task_id)
    runtime().release(task.case_id, task.task_id, caller.actor)
    db_session().expire_all()
    return _after(caller, task_id)


@bp.route("/<task_id>/complete", methods=["POST"])
@token_required("tarefas:escrever")
@bp.doc(security=BEARER, summary="Concluir a tarefa com os valores do formulário",
        requestBody={"required": True, "content": {"application/json": {"schema": ValuesSchema}}})
@bp.response(200, CompletedSchema)
def complete(task_id: str) -> Any:
    caller = current_caller()
    task = task_or_404(caller, task_id)
    form = runtime().form_for(task)
    values, files = form_submission(form, json_object())
    result = runtime().complete_task(task.case_id, task.task_id, caller.actor, values, files)
    db_session().expire_all()
    now_open = db_session().scalars(select(OpenTask).where(OpenTask.case_id == result.case_id)
                                    .order_by(OpenTask.due_at.is_(None), OpenTask.due_at, OpenTask.id)).all()
    visible = [t for t in now_open if (party_sees_task(caller, t) if caller.is_party
                                       else caller.actor.may_perform(t.role))]
    return {"case_id": result.case_id, "protocol": result.protocol, "status": result.status,
            "open_tasks": [task_out(t, result.protocol) for t in visible]}
