"""Handler of the external service jobs (Camunda-style external tasks): claim the due jobs, call the
registered service outside any transaction, then complete the task through the runtime, or retry
with exponential backoff, or record an incident for the administrators when retries ran out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from engine import clock
from engine.errors import ConflictError, TaskNotOpen
from engine.store import audit_chain
from engine.store.models import Case, Document, ExternalJob, Notification

log = logging.getLogger("procon.worker")

JOBS = ExternalJob.__table__
DOCUMENTS = Document.__table__
CASES = Case.__table__
NOTIFICATIONS = Notification.__table__

_DUE_JOBS = (select(JOBS.c.id).where(JOBS.c.status == "pendente", JOBS.c.next_attempt_at <= bindparam("now"),
                                     (JOBS.c.locked_until.is_(None)) | (JOBS.c.locked_until < bindparam("now")))
             .order_by(JOBS.c.next_attempt_at, JOBS.c.id).limit(bindparam("limit"))
             .with_for_update(skip_locked=True))
_LOCK_JOBS = (update(JOBS).where(JOBS.c.id.in_(bindparam("ids", expanding=True)))
              .values(locked_by=bindparam("holder"), locked_until=bindparam("until")))
_JOB_WITH_CASE = (select(JOBS, CASES.c.protocol).select_from(JOBS.join(CASES, CASES.c.id == JOBS.c.case_id))
                  .where(JOBS.c.id == bindparam("job_id")))


class ServiceJobs:
    """The worker's service-task job (mixed into :class:`engine.worker.scheduler.DeadlineWorker`)."""

    runtime: Any
    config: Any
    holder: str

    holds_lease: Callable[..., bool]  # the worker's lease (SQLite: one worker at a time)

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
            audit_chain.append(conn, [dict(
                case_id=job.case_id, at=now, actor="sistema", action="incidente", task_spec=job.spec_name,
                task_id=job.task_id, description=text[:500], details={"servico": job.topic, "tentativas": attempts})])
