"""The prebuilt SQLAlchemy Core statements the commands run, and the table handles they use.

Statements are built once, at import: the hot path only binds parameters (SQLAlchemy's statement
building and cache-key generation cost more than SQLite itself).
"""

from __future__ import annotations

from sqlalchemy import bindparam, delete, select, update

from engine.store.models import (
    Attachment,
    AuditEvent,
    Case,
    Deadline,
    ExternalJob,
    Notification,
    OpenTask,
    User,
)

CASES = Case.__table__
OPEN_TASKS = OpenTask.__table__
DEADLINES = Deadline.__table__
AUDIT = AuditEvent.__table__
ATTACHMENTS = Attachment.__table__
JOBS = ExternalJob.__table__
NOTIFICATIONS = Notification.__table__
USERS = User.__table__

TASK_FOR_COMPLETION = (
    select(OPEN_TASKS.c.case_id, OPEN_TASKS.c.title, OPEN_TASKS.c.role, OPEN_TASKS.c.assignee, CASES.c.version,
           CASES.c.unit)
    .select_from(OPEN_TASKS.join(CASES, CASES.c.id == OPEN_TASKS.c.case_id))
    .where(OPEN_TASKS.c.task_id == bindparam("task_id"))
)
OPEN_TASK = select(OPEN_TASKS).where(OPEN_TASKS.c.task_id == bindparam("task_id"))
CASE = select(CASES).where(CASES.c.id == bindparam("case_id"))
CASE_VERSION = select(CASES.c.version).where(CASES.c.id == bindparam("case_id"))
OPEN_TASK_IDS = select(OPEN_TASKS.c.task_id, OPEN_TASKS.c.due_at).where(OPEN_TASKS.c.case_id == bindparam("case_id"))
PENDING_DEADLINES = select(DEADLINES).where(DEADLINES.c.case_id == bindparam("case_id"),
                                            DEADLINES.c.fired_at.is_(None), DEADLINES.c.met_at.is_(None))
DUE_CASES = (select(DEADLINES.c.case_id)
             .where(DEADLINES.c.kind == "legal", DEADLINES.c.fired_at.is_(None), DEADLINES.c.met_at.is_(None),
                    DEADLINES.c.due_at < bindparam("now"))
             .group_by(DEADLINES.c.case_id).order_by(DEADLINES.c.case_id).limit(bindparam("limit")))
UPDATE_CASE = (
    update(CASES).where(CASES.c.id == bindparam("b_id"), CASES.c.version == bindparam("b_version"))
    .values(state=bindparam("state"), version=bindparam("version"), updated_at=bindparam("updated_at"),
            data=bindparam("data"), summary=bindparam("summary"), title=bindparam("title"),
            status=bindparam("status"), closed_at=bindparam("closed_at"), outcome=bindparam("outcome"))
)
UPDATE_CASE_STATE = (
    update(CASES).where(CASES.c.id == bindparam("b_id"), CASES.c.version == bindparam("b_version"))
    .values(state=bindparam("state"), version=bindparam("version"), updated_at=bindparam("updated_at"))
)
DELETE_OPEN_TASKS = delete(OPEN_TASKS).where(OPEN_TASKS.c.task_id.in_(bindparam("task_ids", expanding=True)))
CLAIM_CASE = select(CASES.c.version).where(CASES.c.id == bindparam("case_id")).with_for_update(skip_locked=True)
CLAIM_DUE_TIMERS = (select(DEADLINES.c.id)
                    .where(DEADLINES.c.case_id == bindparam("case_id"), DEADLINES.c.kind == "legal",
                           DEADLINES.c.fired_at.is_(None), DEADLINES.c.met_at.is_(None),
                           DEADLINES.c.due_at < bindparam("now"))
                    .with_for_update(skip_locked=True))
MOVE_DEADLINE = (update(DEADLINES).where(DEADLINES.c.task_id == bindparam("b_task_id"))
                 .values(due_at=bindparam("due_at"), warned_at=None, escalated_at=None))  # warn again
MOVE_OPEN_TASK = (update(OPEN_TASKS).where(OPEN_TASKS.c.task_id == bindparam("b_task_id"))
                  .values(due_at=bindparam("due_at")))
CLOSE_DEADLINE = (update(DEADLINES).where(DEADLINES.c.task_id == bindparam("b_task_id"))
                  .values(fired_at=bindparam("fired_at"), met_at=bindparam("met_at"), outcome=bindparam("outcome")))
OPEN_JOB_IDS = select(JOBS.c.task_id).where(JOBS.c.case_id == bindparam("case_id"),
                                           JOBS.c.status.in_(("pendente", "incidente")))
JOB = select(JOBS).where(JOBS.c.id == bindparam("job_id"))
CLOSE_JOBS = (update(JOBS).where(JOBS.c.task_id.in_(bindparam("task_ids", expanding=True)),
                                 JOBS.c.status.in_(("pendente", "incidente")))
              .values(status="concluido", completed_at=bindparam("now"), locked_by=None, locked_until=None))
LAST_FIRED = (select(AUDIT.c.at, AUDIT.c.description)
              .where(AUDIT.c.case_id == bindparam("case_id"), AUDIT.c.action == "prazo_vencido")
              .order_by(AUDIT.c.id.desc()).limit(1))
LAST_COMPLETION = (select(AUDIT.c.at, AUDIT.c.actor, AUDIT.c.details)
                   .where(AUDIT.c.case_id == bindparam("case_id"), AUDIT.c.task_id == bindparam("task_id"),
                          AUDIT.c.action.in_(("tarefa_concluida", "prazo_vencido")))
                   .order_by(AUDIT.c.id.desc()).limit(1))
