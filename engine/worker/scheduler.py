"""The deadline worker: acquires due work and hands each kind to its handler — timers to the runtime,
warnings and escalations to :mod:`engine.worker.deadline_notices`, service jobs to
:mod:`engine.worker.service_jobs`, account e-mails to :mod:`engine.worker.email_outbox`.

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

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError

from engine import clock
from engine.store.models import SchedulerLease
from engine.worker.deadline_notices import DeadlineNotices
from engine.worker.service_jobs import ServiceJobs

log = logging.getLogger("procon.worker")

LEASES = SchedulerLease.__table__


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


class DeadlineWorker(ServiceJobs, DeadlineNotices):
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

    def send_account_emails(self) -> int:
        """Deliver the portal's account e-mails (confirmations, invitations) from their outbox."""
        if not self.holds_lease("emails"):
            return 0
        from engine.worker.email_outbox import send_pending

        return send_pending(self.runtime.db, self.runtime.services, self.config.task_settings)

    def run_once(self) -> dict[str, int]:
        return {"disparados": self.fire_due(), "servicos": self.run_jobs(), "avisos": self.send_warnings(),
                "escalonados": self.escalate_overdue(), "emails": self.send_account_emails()}



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
