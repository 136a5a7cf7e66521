"""What the API's resource modules share: pagination with links, who sees which case and task, the
request's JSON body, and how tasks are written out."""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from flask import request
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from engine import clock
from engine.forms.schema import FormDefinition
from engine.forms.submission import UploadedFile
from engine.parties.case_parties import is_party_of, visible_case_ids
from engine.runtime.access import visible_to
from engine.store.models import Case, OpenTask
from webapp.api.auth import Caller
from webapp.api.problems import ApiProblem
from webapp.runtime_access import db_session, runtime


# -- pagination -------------------------------------------------------------------------------------------
def _link(page: int, per_page: int) -> str:
    args = {k: v for k, v in request.args.items() if k not in ("page", "per_page")}
    args.update(page=str(page), per_page=str(per_page))
    return f"{request.path}?{urlencode(args)}"


def page_body(items: Sequence[Any], total: int, page: int, per_page: int) -> dict[str, Any]:
    pages = max(1, math.ceil(total / per_page))
    return {
        "items": list(items), "page": page, "per_page": per_page, "total": total, "pages": pages,
        "links": {
            "self_": _link(page, per_page), "first": _link(1, per_page), "last": _link(pages, per_page),
            "prev": _link(page - 1, per_page) if page > 1 else None,
            "next": _link(page + 1, per_page) if page < pages else None,
        },
    }


def paginate_query(session: Session, query: Select[Any], page: int, per_page: int) -> tuple[list[Any], int]:
    """One page of ``query`` (already ordered) and the total count."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = list(session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    return rows, total


def paginate_list(items: Sequence[Any], page: int, per_page: int) -> tuple[list[Any], int]:
    start = (page - 1) * per_page
    return list(items[start:start + per_page]), len(items)


# -- visibility ---------------------------------------------------------------------------------------------
NOT_FOUND_CASE = "Caso não encontrado."
NOT_FOUND_TASK = "Tarefa não encontrada ou já concluída."


def visible_cases(caller: Caller) -> Select[Any]:
    """The cases the caller sees: staff their unit's (every unit at the state level, as the staff pages),
    a party only its own."""
    query = select(Case)
    if caller.is_party:
        query = query.where(Case.id.in_(visible_case_ids(caller.actor)))
    else:
        query = query.where(visible_to(caller.actor, Case.unit))
    return query


def case_or_404(caller: Caller, case_id: int) -> Case:
    """The case if the caller may see it; 404 otherwise (a party never learns another party's case exists)."""
    session = db_session()
    case = session.get(Case, case_id)
    if case is None or (not caller.is_party and not caller.actor.sees_unit(case.unit)):
        raise ApiProblem(404, NOT_FOUND_CASE)
    if caller.is_party:
        with runtime().db.connect() as conn:
            if not is_party_of(conn, case_id, caller.actor):
                raise ApiProblem(404, NOT_FOUND_CASE)
    return case


def party_sees_task(caller: Caller, task: OpenTask) -> bool:
    """A party sees the tasks of its own role in its own cases."""
    if task.role not in caller.actor.roles:
        return False
    with runtime().db.connect() as conn:
        return is_party_of(conn, task.case_id, caller.actor, task.role)


def task_or_404(caller: Caller, task_id: str) -> OpenTask:
    """An open task the caller may see: staff with the task's role (or on a party's behalf), a party its own."""
    task = db_session().scalars(select(OpenTask).where(OpenTask.task_id == task_id)).first()
    if task is None:
        raise ApiProblem(404, NOT_FOUND_TASK)
    if caller.is_party:
        if not party_sees_task(caller, task):
            raise ApiProblem(404, NOT_FOUND_TASK)
    elif not caller.actor.sees_unit(task.case.unit):
        raise ApiProblem(404, NOT_FOUND_TASK)  # a case of another unit: as if it did not exist
    elif not caller.actor.may_perform(task.role):
        raise ApiProblem(403, f"A tarefa '{task.title}' é do papel '{task.role}', que você não tem.")
    return task


def task_out(task: OpenTask, protocol: str | None = None) -> dict[str, Any]:
    now = clock.now()
    return {
        "id": task.task_id, "case_id": task.case_id, "protocol": protocol or task.case.protocol,
        "title": task.title, "role": task.role, "assignee": task.assignee, "form_key": task.form_key,
        "due_at": task.due_at, "overdue": task.due_at is not None and task.due_at < now,
        "created_at": task.created_at,
    }


# -- request body ----------------------------------------------------------------------------------------------
def json_object() -> dict[str, Any]:
    """The request's JSON object body: 415 for another content type, 400 for broken JSON or not an object."""
    if not request.is_json:
        raise ApiProblem(415, "Envie o corpo como JSON, com o cabeçalho Content-Type: application/json.")
    body = request.get_json(silent=True)
    if body is None:
        raise ApiProblem(400, "O corpo não é um JSON válido.")
    if not isinstance(body, dict):
        raise ApiProblem(400, "O corpo precisa ser um objeto JSON, como {\"campo\": \"valor\"}.")
    return body


def form_submission(form: FormDefinition, body: dict[str, Any]) -> tuple[dict[str, str], dict[str, UploadedFile]]:
    """A JSON object of values as the engine takes a form: text per field, and files sent in Base64.

    Text, numbers and booleans become the text the web form would have sent (``1299.90`` for money is
    fine; dates as ``AAAA-MM-DD`` or ``DD/MM/AAAA``); a ``file`` field takes ``{nome, tipo, conteudo_base64}``.
    A value of the wrong shape is a 422 with the field's message; nothing is saved.
    """
    values: dict[str, str] = {}
    files: dict[str, UploadedFile] = {}
    errors: dict[str, str] = {}
    by_name = {f.name: f for f in form.fields}
    for name, value in body.items():
        form_field = by_name.get(name)
        if form_field is None:
            continue  # unknown keys are ignored, as the web form ignores them
        if form_field.type == "file":
            if value is None:
                continue
            upload = _upload(value)
            if isinstance(upload, str):
                errors[name] = upload
            else:
                files[name] = upload
        elif value is None:
            values[name] = ""
        elif isinstance(value, bool):
            values[name] = "sim" if value else "nao"
        elif isinstance(value, str | int | float):
            values[name] = str(value)
        else:
            errors[name] = "Envie este campo como texto ou número."
    if errors:
        raise ApiProblem(422, "Há campos com erro. Corrija-os e envie novamente.", errors=errors,
                         values={k: v for k, v in values.items()})
    return values, files


def _upload(value: Any) -> UploadedFile | str:
    if not isinstance(value, dict) or not isinstance(value.get("nome"), str) \
            or not isinstance(value.get("conteudo_base64"), str):
        return ('Envie o arquivo como {"nome": "nota.pdf", "tipo": "application/pdf", '
                '"conteudo_base64": "..."}.')
    try:
        data = base64.b64decode(value["conteudo_base64"], validate=True)
    except (binascii.Error, ValueError):
        return "O conteúdo do arquivo não está em Base64 válido."
    kind = value.get("tipo") if isinstance(value.get("tipo"), str) else ""
    return UploadedFile(value["nome"][:255], kind or "application/octet-stream", data)
