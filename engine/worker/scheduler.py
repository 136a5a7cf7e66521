"""The deadline worker: fires due BPMN timers, warns before deadlines, escalates overdue tasks.

Read the way Camunda's job executor reads: *acquiring* due work is one indexed query per job
type; *handling* it goes through :class:`engine.runtime.Runtime` (timers) or a single guarded
``UPDATE ... WHERE warned_at IS NULL`` (warnings, escalations), so running the same job twice,
in two workers at once, or again after a crash never fires, warns or escalates twice.

APScheduler runs the three jobs on intervals, with its job store in the same database
(``apscheduler_jobs``): the schedule survives restarts, and since acquisition is a query for
everything already due, a restarted worker catches up on what fell due while it was down.
On PostgreSQL any number of workers may run (timer rows are claimed with ``FOR UPDATE SKIP
LOCKED``); on SQLite a lease row lets only one worker act at a time.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from engine import clock
from engine.errors import ConflictError, TaskNotOpen
from engine.store.models import (
    AuditEvent,
    Case,
    Deadline,
    Document,
    ExternalJob,
    Notification,
    OpenTask,
    SchedulerLease,
)

log = logging.getLogger("procon.worker")

DEADLINES = Deadline.__table__
OPEN_TASKS = OpenTask.__table__
NOTIFICATIONS = Notification.__table__
AUDIT = AuditEvent.__table__
LEASES = SchedulerLease.__table__
JOBS = ExternalJob.__table__
DOCUMENTS = Document.__table__
CASES = Case.__table__

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


_DUE_JOBS = (select(JOBS.c.id).where(JOBS.c.status == "pendente", JOBS.c.next_attempt_at <= bindparam("now"),
                                     (JOBS.c.locked_until.is_(None)) | (JOBS.c.locked_until < bindparam("now")))
             .order_by(JOBS.c.next_attempt_at, JOBS.c.id).limit(bindparam("limit"))
             .with_for_update(skip_locked=True))
_LOCK_JOBS = (update(JOBS).where(JOBS.c.id.in_(bindparam("ids", expanding=True)))
              .values(locked_by=bindparam("holder"), locked_until=bindparam("until")))
_JOB_WITH_CASE = (select(JOBS, CASES.c.protocol).select_from(JOBS.join(CASES, CASES.c.id == JOBS.c.case_id))
                  .where(JOBS.c.id == bindparam("job_id")))


@dataclass
class WorkerConfig:
    warn_business_days: int = 2
    batch: int = 500
    fire_interval_s: float = 1.0
    housekeeping_interval_s: float = 30.0
    lease_ttl: dt.timedelta = dt.timedelta(seconds=30)
    #: service tasks: attempts before an incident, first retry delay (doubles each time), cap
    max_attempts: int = 5
    retry_base: dt.timedelta = dt.timedelta(seconds=30)
    retry_cap: dt.timedelta = dt.timedelta(hours=1)
    job_lock: dt.timedelta = dt.timedelta(minutes=5)
    #: tasks.context.TaskSettings for the handlers (default: from the environment)
    task_settings: Any = None


def _default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


class DeadlineWorker:
    """Acquires due deadline work and hands it to its handler."""

    def __init__(self, runtime: Any, config: WorkerConfig | None = None, holder: str | None = None) -> None:
        self.runtime = runtime
        self.config = config or WorkerConfig()
        self.holder = holder or _default_holder()
        self.single_worker = runtime.db.dialect.name == "sqlite"

    # -- the lease (SQLite: one worker at a time) ----------------------------------------------
    def holds_lease(self, name: str = "prazos") -> bool:
        """Take or renew the lease; PostgreSQL needs none (rows are claimed with SKIP LOCKED)."""
        if not self.single_worker:
            return True
        now = clock.now()
        expires = now + self.config.lease_ttl
        with self.runtime.db.begin() as conn:
            renewed = conn.execute(
                update(LEASES).where(LEASES.c.name == name,
                                     (LEASES.c.holder == self.holder) | (LEASES.c.expires_at < now))
                .values(holder=self.holder, expires_at=expires)
            ).rowcount
            if renewed:
                return True
        try:
            with self.runtime.db.begin() as conn:
                conn.execute(insert(LEASES).values(name=name, holder=self.holder, expires_at=expires))
            return True
        except IntegrityError:
            return False

    def release_lease(self, name: str = "prazos") -> None:
        if self.single_worker:
            with self.runtime.db.begin() as conn:
                conn.execute(update(LEASES).where(LEASES.c.name == name, LEASES.c.holder == self.holder)
                             .values(expires_at=clock.now()))

    # -- jobs ----------------------------------------------------------------------------------
    def fire_due(self) -> int:
        """Fire every timer already due, batch after batch (this is also the catch-up)."""
        if not self.holds_lease():
            return 0
        fired = 0
        while True:
            advanced = self.runtime.fire_due_timers(limit=self.config.batch)
            fired += advanced
            if advanced < self.config.batch:
                return fired

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
                conn.execute(insert(AUDIT).values(
                    case_id=row.case_id, at=now, actor="sistema", action="aviso_prazo", task_spec=None,
                    task_id=row.task_id, description=message[:500],
                    details={"para": recipient or f"fila de {role}"}))
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
                conn.execute(insert(AUDIT).values(
                    case_id=row.case_id, at=now, actor="sistema", action="escalonado", task_spec=None,
                    task_id=row.task_id, description=message[:500], details={"para": "gestor"}))
            escalated += 1
        return escalated

    def run_jobs(self) -> int:
        """Run the service tasks that are due: claim them, call their handlers outside any
        transaction, then complete them through the runtime or record the failure."""
        if not self.holds_lease("servicos"):
            return 0
        done = 0
        while True:
            now = clock.now()
            with self.runtime.db.begin() as conn:
                ids = list(conn.scalars(_DUE_JOBS, {"now": now, "limit": min(self.config.batch, 50)}))
                if ids:
                    conn.execute(_LOCK_JOBS, {"ids": ids, "holder": self.holder, "until": now + self.config.job_lock})
            if not ids:
                return done
            for job_id in ids:
                done += self._run_job(job_id)

    def _run_job(self, job_id: int) -> int:
        with self.runtime.db.connect() as conn:
            job = conn.execute(_JOB_WITH_CASE, {"job_id": job_id}).first()
        if job is None or job.status != "pendente":
            return 0
        services = self.runtime.services
        if services is None or job.topic not in services:
            self._fail(job, f"Nenhuma implementação registrada para o serviço “{job.topic}”.", retryable=False)
            return 0
        outcome = services.run(job.topic, dict(job.payload or {}), case_id=job.case_id, protocol=job.protocol,
                               unit=job.unit or "", now=clock.now(), settings=self.config.task_settings,
                               save_document=lambda draft: self._save_document(job.case_id, draft),
                               load_document=self._load_document, job_id=job.id)
        if outcome.error is not None:
            self._fail(job, outcome.error, retryable=outcome.retryable)
            return 0
        result = outcome.values
        try:
            self.runtime.complete_service_task(job.id, result, worker=self.holder)
        except TaskNotOpen:
            return 0
        except ConflictError:
            with self.runtime.db.begin() as conn:  # the case moved meanwhile: run again right away
                conn.execute(update(JOBS).where(JOBS.c.id == job.id).values(locked_by=None, locked_until=None))
            return 0
        return 1

    def _save_document(self, case_id: int, draft: Any) -> dict[str, Any]:
        with self.runtime.db.begin() as conn:
            document_id = conn.execute(insert(DOCUMENTS).values(
                case_id=case_id, kind=draft.kind, title=draft.title, verification_code=draft.verification_code,
                sha256=draft.sha256, html=draft.html, pdf=draft.pdf, created_at=clock.now(),
            ).returning(DOCUMENTS.c.id)).scalar_one()
        return {"documento_id": document_id, "codigo": draft.verification_code, "sha256": draft.sha256,
                "titulo": draft.title}

    def _load_document(self, reference: dict[str, Any]) -> tuple[str, bytes]:
        """A stored document's file name and PDF bytes (for e-mail attachments)."""
        with self.runtime.db.connect() as conn:
            row = conn.execute(select(DOCUMENTS.c.kind, DOCUMENTS.c.id, DOCUMENTS.c.pdf)
                               .where(DOCUMENTS.c.id == int(reference["documento_id"]))).first()
        if row is None:
            message = f"Documento {reference.get('documento_id')} não encontrado para anexar."
            raise self.runtime.services.permanent_error(message)
        return f"{row.kind}-{row.id}.pdf", row.pdf

    def _fail(self, job: Any, message: str, retryable: bool) -> None:
        """Schedule a retry with backoff, or record an incident when retries ran out."""
        now = clock.now()
        attempts = job.attempts + 1
        config = self.config
        with self.runtime.db.begin() as conn:
            if retryable and attempts < config.max_attempts:
                delay = min(config.retry_base * (2 ** (attempts - 1)), config.retry_cap)
                conn.execute(update(JOBS).where(JOBS.c.id == job.id).values(
                    attempts=attempts, next_attempt_at=now + delay, locked_by=None, locked_until=None,
                    last_error=f"Tentativa {attempts} de {config.max_attempts}: {message}"[:1000]))
                return
            text = (f"Serviço “{job.title}” parou após {attempts} tentativa(s): {message}")[:1000]
            conn.execute(update(JOBS).where(JOBS.c.id == job.id).values(
                attempts=attempts, status="incidente", incident_at=now, locked_by=None, locked_until=None,
                last_error=text))
            conn.execute(insert(NOTIFICATIONS).values(
                case_id=job.case_id, recipient=None, role="admin", unit=None, kind="incidente",
                message=text[:500], created_at=now))
            conn.execute(insert(AUDIT).values(
                case_id=job.case_id, at=now, actor="sistema", action="incidente", task_spec=job.spec_name,
                task_id=job.task_id, description=text[:500], details={"servico": job.topic, "tentativas": attempts}))

    def send_account_emails(self) -> int:
        """Deliver the portal's account e-mails (confirmations, invitations) from their outbox."""
        if not self.holds_lease("emails"):
            return 0
        from engine.worker.email_outbox import send_pending

        return send_pending(self.runtime.db, self.runtime.services, self.config.task_settings)

    def run_once(self) -> dict[str, int]:
        return {"disparados": self.fire_due(), "servicos": self.run_jobs(), "avisos": self.send_warnings(),
                "escalonados": self.escalate_overdue(), "emails": self.send_account_emails()}

    @staticmethod
    def _task_of(conn: Connection, row: Any) -> Any:
        if row.kind == "interno":
            return conn.execute(_TASK_BY_ID, {"task_id": row.task_id}).first()
        if row.attached_to:
            return conn.execute(_TASK_BY_SPEC, {"case_id": row.case_id, "spec_name": row.attached_to}).first()
        return None


# -- APScheduler wiring -------------------------------------------------------------------------
_PROCESS_WORKER: dict[str, DeadlineWorker] = {}


def run_job(job: str) -> int:
    """Entry point stored in the job store (a module-level function: jobs are persisted by name).

    Every worker process shares the stored schedule and runs it with its own worker object.
    """
    worker = _PROCESS_WORKER.get("current")
    if worker is None:
        return 0
    try:
        return {"fire": worker.fire_due, "jobs": worker.run_jobs, "warn": worker.send_warnings,
                "escalate": worker.escalate_overdue, "mail": worker.send_account_emails}[job]()
    except Exception:  # one failed run must not stop the schedule; the next run retries
        log.exception("falha no trabalho %s", job)
        return 0


def build_scheduler(worker: DeadlineWorker, blocking: bool = False) -> Any:
    """An APScheduler scheduler with a persistent SQLAlchemy job store and the three jobs."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler

    _PROCESS_WORKER["current"] = worker
    scheduler_class = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = scheduler_class(
        jobstores={"default": SQLAlchemyJobStore(engine=worker.runtime.db, tablename="apscheduler_jobs")},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=dt.UTC,
    )
    config = worker.config
    scheduler.add_job(run_job, "interval", seconds=config.fire_interval_s, args=["fire"],
                      id="disparar_prazos", name="Disparar temporizadores vencidos", replace_existing=True)
    scheduler.add_job(run_job, "interval", seconds=config.fire_interval_s, args=["jobs"],
                      id="executar_servicos", name="Executar tarefas de serviço", replace_existing=True)
    scheduler.add_job(run_job, "interval", seconds=config.housekeeping_interval_s, args=["warn"],
                      id="avisar_prazos", name="Avisos de prazo vencendo", replace_existing=True)
    scheduler.add_job(run_job, "interval", seconds=config.housekeeping_interval_s, args=["escalate"],
                      id="escalonar_atrasos", name="Escalonar tarefas atrasadas", replace_existing=True)
    scheduler.add_job(run_job, "interval", seconds=config.fire_interval_s, args=["mail"],
                      id="enviar_emails_conta", name="Enviar e-mails de conta do portal", replace_existing=True)
    return scheduler
