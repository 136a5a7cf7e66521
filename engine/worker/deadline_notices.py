"""Handlers of the deadline notices: "prazo vencendo" warnings N business days before a deadline and
escalation of overdue internal tasks to the unit's managers.

Each candidate is acquired by one indexed query and handled by a single guarded ``UPDATE ... WHERE
warned_at IS NULL`` (or ``escalated_at``) in the same transaction as its notification and audit
event, so two workers, or the same worker after a crash, never warn or escalate twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, insert, select, update

from engine import clock
from engine.store import audit_chain
from engine.store.models import Deadline, Notification, OpenTask

DEADLINES = Deadline.__table__
OPEN_TASKS = OpenTask.__table__
NOTIFICATIONS = Notification.__table__

#: How far ahead warnings look (a warning is sent N business days before; this bounds the query).
WARNING_HORIZON = dt.timedelta(days=45)

_WARN_CANDIDATES = (
    select(DEADLINES.c.id, DEADLINES.c.case_id, DEADLINES.c.task_id, DEADLINES.c.kind, DEADLINES.c.name,
           DEADLINES.c.attached_to, DEADLINES.c.unit, DEADLINES.c.due_at)
    .where(DEADLINES.c.fired_at.is_(None), DEADLINES.c.met_at.is_(None), DEADLINES.c.warned_at.is_(None),
           DEADLINES.c.due_at > bindparam("now"), DEADLINES.c.due_at <= bindparam("horizon"))
    .order_by(DEADLINES.c.due_at).limit(bindparam("limit"))
)
_OVERDUE_INTERNAL = (
    select(DEADLINES.c.id, DEADLINES.c.case_id, DEADLINES.c.task_id, DEADLINES.c.name, DEADLINES.c.unit,
           DEADLINES.c.due_at)
    .where(DEADLINES.c.kind == "interno", DEADLINES.c.met_at.is_(None), DEADLINES.c.escalated_at.is_(None),
           DEADLINES.c.due_at < bindparam("now"))
    .order_by(DEADLINES.c.due_at).limit(bindparam("limit"))
)
_MARK_WARNED = (update(DEADLINES).where(DEADLINES.c.id == bindparam("b_id"), DEADLINES.c.warned_at.is_(None))
                .values(warned_at=bindparam("now")))
_MARK_ESCALATED = (update(DEADLINES).where(DEADLINES.c.id == bindparam("b_id"), DEADLINES.c.escalated_at.is_(None))
                   .values(escalated_at=bindparam("now")))
_TASK_BY_ID = select(OPEN_TASKS.c.assignee, OPEN_TASKS.c.role, OPEN_TASKS.c.title).where(
    OPEN_TASKS.c.task_id == bindparam("task_id"))
_TASK_BY_SPEC = select(OPEN_TASKS.c.assignee, OPEN_TASKS.c.role, OPEN_TASKS.c.title).where(
    OPEN_TASKS.c.case_id == bindparam("case_id"), OPEN_TASKS.c.spec_name == bindparam("spec_name"))


class DeadlineNotices:
    """The worker's warning and escalation jobs (mixed into :class:`engine.worker.scheduler.DeadlineWorker`)."""

    runtime: Any
    config: Any

    holds_lease: Callable[..., bool]  # the worker's lease (SQLite: one worker at a time)

    def send_warnings(self) -> int:
        """"Prazo vencendo": notify the assignee (or the role queue) N business days before."""
        if not self.holds_lease():
            return 0
        now = clock.now()
        sent = 0
        with self.runtime.db.connect() as conn:
            candidates = list(conn.execute(_WARN_CANDIDATES, {"now": now, "horizon": now + WARNING_HORIZON,
                                                              "limit": self.config.batch}))
        for row in candidates:
            calendar = self.runtime.calendars.for_unit(row.unit or self.runtime.config.unit)
            zone = ZoneInfo(getattr(calendar, "timezone", "America/Sao_Paulo"))
            due_day = row.due_at.astimezone(zone).date()
            warn_from = calendar.add_working_days(due_day, -self.config.warn_business_days)
            if now.astimezone(zone).date() < warn_from:
                continue
            with self.runtime.db.begin() as conn:
                if conn.execute(_MARK_WARNED, {"b_id": row.id, "now": now}).rowcount != 1:
                    continue  # another worker warned first
                task = self._task_of(conn, row)
                if task is not None and task.assignee:
                    recipient, role = task.assignee, None
                else:
                    recipient, role = None, task.role if task is not None else None
                what = (f"o prazo interno da tarefa “{task.title}”" if row.kind == "interno" and task
                        else f"{row.name}" + (f" (tarefa “{task.title}”)" if task else ""))
                message = f"Prazo vencendo: {what} vence em {due_day.strftime('%d/%m/%Y')}."
                conn.execute(insert(NOTIFICATIONS).values(
                    case_id=row.case_id, deadline_id=row.id, recipient=recipient, role=role, unit=row.unit,
                    kind="aviso_prazo", message=message, created_at=now))
                audit_chain.append(conn, [dict(
                    case_id=row.case_id, at=now, actor="sistema", action="aviso_prazo", task_spec=None,
                    task_id=row.task_id, description=message[:500],
                    details={"para": recipient or f"fila de {role}"})])
            sent += 1
        return sent

    def escalate_overdue(self) -> int:
        """Overdue internal tasks go to the unit's managers (role ``gestor``), once."""
        if not self.holds_lease():
            return 0
        now = clock.now()
        escalated = 0
        with self.runtime.db.connect() as conn:
            overdue = list(conn.execute(_OVERDUE_INTERNAL, {"now": now, "limit": self.config.batch}))
        for row in overdue:
            with self.runtime.db.begin() as conn:
                if conn.execute(_MARK_ESCALATED, {"b_id": row.id, "now": now}).rowcount != 1:
                    continue
                task = conn.execute(_TASK_BY_ID, {"task_id": row.task_id}).first()
                holder = f", com {task.assignee}" if task and task.assignee else ""
                message = (f"Tarefa atrasada: {row.name.removeprefix('Prazo interno: ')} venceu em "
                           f"{row.due_at.astimezone(ZoneInfo('America/Sao_Paulo')).strftime('%d/%m/%Y')}{holder}.")
                conn.execute(insert(NOTIFICATIONS).values(
                    case_id=row.case_id, deadline_id=row.id, recipient=None, role="gestor", unit=row.unit,
                    kind="escalonamento", message=message, created_at=now))
                audit_chain.append(conn, [dict(
                    case_id=row.case_id, at=now, actor="sistema", action="escalonado", task_spec=None,
                    task_id=row.task_id, description=message[:500], details={"para": "gestor"})])
            escalated += 1
        return escalated

    @staticmethod
    def _task_of(conn: Connection, row: Any) -> Any:
        if row.kind == "interno":
            return conn.execute(_TASK_BY_ID, {"task_id": row.task_id}).first()
        if row.attached_to:
            return conn.execute(_TASK_BY_SPEC, {"case_id": row.case_id, "spec_name": row.attached_to}).first()
        return None
