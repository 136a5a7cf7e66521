"""The service-task commands: complete a service task with its handler's result, retry one on an incident."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import update

from engine import clock
from engine.actors import SYSTEM, Actor
from engine.errors import ConflictError, NotFound, PermissionDenied, TaskNotOpen
from engine.runtime.cycle import CaseCycle, CaseResult, Change
from engine.runtime.scripting import deadline_context
from engine.runtime.statements import CASE_VERSION, JOB, JOBS


class ServiceTaskCommands(CaseCycle):
    """Complete a service task; put one that stopped on an incident back in the queue."""

    def complete_service_task(self, job_id: int, result: Mapping[str, Any], worker: str = "sistema") -> CaseResult:
        """Complete a service task with what its handler returned (merged into the case data)."""
        with self.db.connect() as conn:
            job = conn.execute(JOB, {"job_id": job_id}).first()
            if job is None:
                raise NotFound(f"Serviço {job_id} não encontrado.")
            if job.status == "concluido":
                raise TaskNotOpen(f"O serviço “{job.title}” já foi concluído.")
            version = conn.scalar(CASE_VERSION, {"case_id": job.case_id})
            loaded = self._checkout(conn, job.case_id, version)
            task = loaded.workflow.get_task_from_id(UUID(job.task_id))
            if task.state != TaskState.READY:
                conn.rollback()
                self.cache.put(loaded)
                raise TaskNotOpen(f"O serviço “{job.title}” não está mais aguardando.")
            with deadline_context(self.calendars, loaded.unit):
                task.set_data(**dict(result))
                task.run()
                change = Change("servico_concluido", f"Serviço concluído: {job.title}", job.spec_name, job.task_id,
                                {"servico": job.topic, "tentativas": job.attempts + 1, "resultado": dict(result),
                                 "worker": worker})
                return self._commit(conn, loaded, SYSTEM, [change])

    def retry_incident(self, job_id: int, actor: Actor) -> None:
        """Put a service task that stopped on an incident back in the worker's queue (admins)."""
        if not actor.has_role("admin"):
            raise PermissionDenied("Só um administrador pode reprocessar um serviço com incidente.")
        with self.db.begin() as conn:
            job = conn.execute(JOB, {"job_id": job_id}).first()
            if job is None:
                raise NotFound(f"Serviço {job_id} não encontrado.")
            if job.status != "incidente":
                raise ConflictError(f"O serviço “{job.title}” não está com incidente (situação: {job.status}).")
            now = clock.now()
            conn.execute(update(JOBS).where(JOBS.c.id == job_id, JOBS.c.status == "incidente").values(
                status="pendente", attempts=0, next_attempt_at=now, incident_at=None, locked_by=None,
                locked_until=None))
            self._write_audit(conn, job.case_id, actor, [Change(
                "incidente_reprocessado", f"Serviço reenviado para execução: {job.title}", job.spec_name, job.task_id,
                {"erro_anterior": job.last_error or ""})], now)
