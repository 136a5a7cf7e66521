"""Read-only queries over the projections (open tasks, deadlines, audit trail, cases).

Pages and the API list work through these functions; none of them deserializes a workflow.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, joinedload, lazyload, load_only

from engine.store.models import Attachment, AuditEvent, Case, Deadline, Document, ExternalJob, Notification, OpenTask

ROLE_ADMIN = "admin"


#: Lists show the case's protocol and title only: never load its (large) workflow state.
#: (Nor the definition the case eagerly joins: its BPMN XML would travel once per listed task.)
_CASE_FOR_LISTS = (joinedload(OpenTask.case).load_only(Case.id, Case.protocol, Case.title, Case.unit, Case.status)
                   .lazyload(Case.definition))


#: The case list shows no workflow state and no BPMN XML.
_CASE_COLUMNS_FOR_LISTS = load_only(Case.id, Case.protocol, Case.title, Case.unit, Case.status, Case.process_id,
                                    Case.created_at, Case.updated_at, Case.closed_at, Case.outcome)


def _by_due_date(query: Select[tuple[OpenTask]]) -> Select[tuple[OpenTask]]:
    # Tasks with a due date first (earliest first), then the oldest without one.
    return query.order_by(OpenTask.due_at.is_(None), OpenTask.due_at, OpenTask.created_at, OpenTask.id)


def my_tasks(session: Session, username: str, limit: int = 200, unit: str | None = None) -> list[OpenTask]:
    """The person's tasks, the most urgent first, at most ``limit`` (like the role queue); with ``unit``,
    only those of that unit's cases (what a unit's staff member may still reach)."""
    query = select(OpenTask).options(_CASE_FOR_LISTS).where(OpenTask.assignee == username)
    if unit is not None:
        query = query.where(OpenTask.case_id.in_(select(Case.id).where(Case.unit == unit)))
    return list(session.scalars(_by_due_date(query).limit(limit)))


def group_queue(session: Session, roles: Iterable[str], unit: str | None = None, limit: int = 200) -> list[OpenTask]:
    """Unassigned tasks of the given roles (all roles for an admin) in ``unit`` (every unit: None),
    the most urgent first, at most ``limit`` of them.

    One query per role (and per "with / without a due date"), each walking the partial index
    ``ix_open_tasks_queue`` (role, due_at, created_at, id WHERE assignee IS NULL) in order and
    stopping at ``limit``; the few lists are merged here. A single ``role IN (...)`` query ordered
    by ``due_at IS NULL`` would sort every queued task of those roles (hundreds of thousands in a
    state) to return the first 200.
    """
    roles = set(roles)
    if ROLE_ADMIN in roles:
        roles = set(session.scalars(select(OpenTask.role).where(OpenTask.assignee.is_(None)).distinct()))
    # SQLite's planner would pick the assignee index (half the table) and sort; written as an
    # expression, "unassigned" leaves it the (role, due_at) index, walked in order.
    unassigned = (OpenTask.assignee.is_(None) if session.get_bind().dialect.name == "postgresql"
                  else func.coalesce(OpenTask.assignee, "") == "")
    keys: list[Any] = []
    for role in sorted(roles):  # first the keys only (no ORM objects), then the chosen tasks
        base = select(OpenTask.id, OpenTask.due_at, OpenTask.created_at).where(OpenTask.role == role, unassigned)
        if unit is not None:
            base = base.where(OpenTask.case_id.in_(select(Case.id).where(Case.unit == unit)))
        dated = session.execute(base.where(OpenTask.due_at.is_not(None))
                                .order_by(OpenTask.due_at, OpenTask.created_at, OpenTask.id).limit(limit)).all()
        keys += dated
        if len(dated) < limit:
            keys += session.execute(base.where(OpenTask.due_at.is_(None))
                                    .order_by(OpenTask.created_at, OpenTask.id).limit(limit - len(dated))).all()
    keys.sort(key=lambda k: (k.due_at is None, k.due_at or k.created_at, k.created_at, k.id))
    ids = [k.id for k in keys[:limit]]
    if not ids:
        return []
    tasks = {t.id: t for t in session.scalars(select(OpenTask).options(_CASE_FOR_LISTS).where(OpenTask.id.in_(ids)))}
    return [tasks[i] for i in ids if i in tasks]


def open_task(session: Session, task_id: str) -> OpenTask | None:
    return session.scalars(select(OpenTask).where(OpenTask.task_id == task_id)).first()


def case_open_tasks(session: Session, case_id: int) -> list[OpenTask]:
    return list(session.scalars(_by_due_date(select(OpenTask).where(OpenTask.case_id == case_id))))


def case_timeline(session: Session, case_id: int) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id)
                                .order_by(AuditEvent.at, AuditEvent.id)))


def case_deadlines(session: Session, case_id: int) -> list[Deadline]:
    return list(session.scalars(select(Deadline).where(Deadline.case_id == case_id)
                                .order_by(Deadline.due_at, Deadline.id)))


def case_attachments(session: Session, case_id: int) -> list[Attachment]:
    return list(session.scalars(select(Attachment).where(Attachment.case_id == case_id).order_by(Attachment.id)))


def completed_elements(session: Session, case_id: int) -> set[str]:
    """BPMN element ids a case has passed through (user tasks and fired timers)."""
    names = session.scalars(select(AuditEvent.task_spec).where(
        AuditEvent.case_id == case_id, AuditEvent.task_spec.is_not(None),
        AuditEvent.action.in_(("tarefa_concluida", "prazo_vencido"))))
    return set(names)


def recent_cases(session: Session, search: str = "", status: str = "", limit: int = 50,
                 unit: str | None = None) -> list[Case]:
    """The cases last changed, optionally matching ``search`` (protocol or title) and ``status``; with
    ``unit``, only that unit's (a unit's staff see only their own)."""
    query = select(Case).options(_CASE_COLUMNS_FOR_LISTS, lazyload(Case.definition))
    if unit is not None:
        query = query.where(Case.unit == unit)
    if search:
        pattern = f"%{search.strip()}%"
        query = query.where(or_(Case.protocol.ilike(pattern), Case.title.ilike(pattern)))
    if status:
        query = query.where(Case.status == status)
    return list(session.scalars(query.order_by(Case.updated_at.desc(), Case.id.desc()).limit(limit)))


def notifications_for(session: Session, username: str, roles: Iterable[str], unit: str,
                      include_read: bool = False, limit: int = 50) -> list[Notification]:
    """Warnings and escalations addressed to the person or to one of their roles in their unit."""
    roles = set(roles)
    addressed = or_(Notification.recipient == username,
                    (Notification.recipient.is_(None)) & (Notification.role.in_(roles))
                    & (or_(Notification.unit.is_(None), Notification.unit == unit)))
    query = select(Notification).where(addressed)
    if not include_read:
        query = query.where(Notification.read_at.is_(None))
    return list(session.scalars(query.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)))


def case_documents(session: Session, case_id: int) -> list[Document]:
    return list(session.scalars(select(Document).where(Document.case_id == case_id).order_by(Document.id)))


def case_jobs(session: Session, case_id: int) -> list[ExternalJob]:
    """Service tasks of a case that are waiting or stopped on an incident."""
    return list(session.scalars(select(ExternalJob).where(ExternalJob.case_id == case_id,
                                                          ExternalJob.status.in_(("pendente", "incidente")))
                                .order_by(ExternalJob.id)))
