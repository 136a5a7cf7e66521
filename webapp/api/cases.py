"""``/api/v1/cases``: the cases the caller sees (staff: their unit's, every unit at the state level, as the
staff pages; a party: its own), each with its data, what happens next, the open tasks the caller may see,
its deadlines, timeline and documents. Every read of one case is written in the access log (LGPD)."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask_smorest import Blueprint
from sqlalchemy import select

from engine.roles import ROLES
from engine.runtime import queries
from engine.store.models import AuditEvent, Case, Deadline, Document, OpenTask
from engine.store.protocol import AGENCY_TZ
from webapp.api.auth import BEARER, Caller, current_caller, token_required
from webapp.api.common import case_or_404, page_body, paginate_query, task_out, visible_cases
from webapp.api.schemas import (
    CaseDetailSchema,
    CaseListArgs,
    CasePageSchema,
    DocumentPageSchema,
    PageArgs,
    TimelinePageSchema,
)
from webapp.runtime_access import db_session, runtime
from webapp.staff.access import record_read
from webapp.staff.presenters import describe

bp = Blueprint("api_cases", __name__, url_prefix="/api/v1/cases", description="Casos: dados, próximos passos, prazos")

#: What a supplier does not see of the consumer (LGPD: contact data is for the agency).
HIDDEN_FROM_SUPPLIER = frozenset({"consumidor_email", "consumidor_telefone"})


def case_out(case: Case) -> dict[str, Any]:
    return {"id": case.id, "protocol": case.protocol, "title": case.title, "process_id": case.process_id,
            "status": case.status, "outcome": case.outcome, "unit": case.unit, "created_at": case.created_at,
            "updated_at": case.updated_at, "closed_at": case.closed_at}


def _date(moment: Any) -> str:
    return moment.astimezone(AGENCY_TZ).strftime("%d/%m/%Y")


def visible_tasks(caller: Caller, tasks: list[OpenTask]) -> list[OpenTask]:
    """A party sees its own role's tasks of the case (the case is already known to be its own)."""
    if caller.is_party:
        return [t for t in tasks if t.role in caller.actor.roles]
    return tasks


def next_step(case: Case, tasks: list[OpenTask], mine: list[OpenTask], deadlines: list[Deadline]) -> str:
    """One sentence saying what happens now and by when."""
    if case.status == "encerrado":
        when = f" em {_date(case.closed_at)}" if case.closed_at else ""
        return f"Caso encerrado{when}" + (f": {case.outcome}." if case.outcome else ".")
    if mine:
        task = mine[0]
        due = f" até {_date(task.due_at)}" if task.due_at else ""
        return f"É a sua vez: {task.title}{due}."
    if tasks:
        task = tasks[0]
        who = ROLES.get(task.role, task.role)
        due = f", previsto até {_date(task.due_at)}" if task.due_at else ""
        return f"Aguardando {who.lower()}: {task.title}{due}."
    running = [d for d in deadlines if d.fired_at is None and d.met_at is None]
    if running:
        return f"Aguardando o prazo “{running[0].name}”, que vence em {_date(running[0].due_at)}."
    return "O Procon está dando andamento ao caso; novas etapas aparecerão aqui."


def deadline_out(deadline: Deadline) -> dict[str, Any]:
    if deadline.met_at is not None:
        status, closed = "cumprido", deadline.met_at
    elif deadline.fired_at is not None:
        status, closed = "vencido", deadline.fired_at
    else:
        status, closed = "correndo", None
    return {"id": deadline.id, "name": deadline.name, "kind": deadline.kind, "legal_basis": deadline.legal_basis,
            "starts_at": deadline.starts_at, "due_at": deadline.due_at, "status": status, "closed_at": closed}


@bp.route("")
@token_required("casos:ler")
@bp.doc(security=BEARER, summary="Casos que você pode ver")
@bp.arguments(CaseListArgs, location="query")
@bp.response(200, CasePageSchema)
def list_cases(args: dict[str, Any]) -> Any:
    caller = current_caller()
    query = visible_cases(caller)
    if args.get("status"):
        query = query.where(Case.status == args["status"])
    query = query.order_by(Case.updated_at.desc(), Case.id.desc())
    rows, total = paginate_query(db_session(), query, args["page"], args["per_page"])
    return page_body([case_out(c) for c in rows], total, args["page"], args["per_page"])


@bp.route("/<int(max=2147483647):case_id>")
@token_required("casos:ler")
@bp.doc(security=BEARER, summary="Um caso: dados, o que acontece agora, tarefas e prazos")
@bp.response(200, CaseDetailSchema)
def get_case(case_id: int) -> Any:
    caller = current_caller()
    case = case_or_404(caller, case_id)
    record_read(case, "caso", actor=caller.actor, channel="api")
    session = db_session()
    every_task = queries.case_open_tasks(session, case_id)
    tasks = visible_tasks(caller, every_task)
    mine = [t for t in tasks if (caller.is_party or t.assignee == caller.actor.username)]
    deadlines = queries.case_deadlines(session, case_id)
    if caller.is_party:
        deadlines = [d for d in deadlines if d.kind == "legal"]
    data = dict(case.data or {})
    if caller.is_party and "consumidor" not in caller.actor.roles:
        data = {k: v for k, v in data.items() if k not in HIDDEN_FROM_SUPPLIER}
    sections = describe(runtime().forms, data, runtime().form_order(case.definition))
    return case_out(case) | {
        "next_step": next_step(case, every_task, mine, deadlines),
        "data": [{"title": s.title, "items": [{"name": i.name, "label": i.label, "value": i.value} for i in s.items]}
                 for s in sections],
        "open_tasks": [task_out(t, case.protocol) for t in tasks],
        "deadlines": [deadline_out(d) for d in deadlines],
    }


@bp.route("/<int(max=2147483647):case_id>/timeline")
@token_required("casos:ler")
@bp.doc(security=BEARER, summary="Histórico do caso")
@bp.arguments(PageArgs, location="query")
@bp.response(200, TimelinePageSchema)
def timeline(args: dict[str, Any], case_id: int) -> Any:
    caller = current_caller()
    record_read(case_or_404(caller, case_id), "historico", actor=caller.actor, channel="api")
    query = select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.at, AuditEvent.id)
    rows, total = paginate_query(db_session(), query, args["page"], args["per_page"])
    items = [{"id": e.id, "at": e.at, "action": e.action, "description": e.description,
              "actor": None if caller.is_party else ((e.details or {}).get("actor_name") or e.actor)} for e in rows]
    return page_body(items, total, args["page"], args["per_page"])


def document_out(document: Document) -> dict[str, Any]:
    return {"id": document.id, "case_id": document.case_id, "kind": document.kind, "title": document.title,
            "verification_code": document.verification_code, "sha256": document.sha256,
            "created_at": document.created_at,
            "pdf_url": url_for("api_documents.get_document", document_id=document.id)}


@bp.route("/<int(max=2147483647):case_id>/documents")
@token_required("casos:ler")
@bp.doc(security=BEARER, summary="Documentos oficiais do caso")
@bp.arguments(PageArgs, location="query")
@bp.response(200, DocumentPageSchema)
def documents(args: dict[str, Any], case_id: int) -> Any:
    caller = current_caller()
    record_read(case_or_404(caller, case_id), "documentos", actor=caller.actor, channel="api")
    query = (select(Document).options(_document_columns()).where(Document.case_id == case_id)
             .order_by(Document.id))
    rows, total = paginate_query(db_session(), query, args["page"], args["per_page"])
    return page_body([document_out(d) for d in rows], total, args["page"], args["per_page"])


def _document_columns() -> Any:
    from sqlalchemy.orm import load_only

    return load_only(Document.id, Document.case_id, Document.kind, Document.title, Document.verification_code,
                     Document.sha256, Document.created_at)


