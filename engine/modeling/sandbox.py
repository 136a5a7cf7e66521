"""The "Testar" sandbox: one analyst's test run of a process draft with sample data on a movable clock,
away from real cases.

A :class:`Sandbox` is an isolated :class:`~engine.runtime.Runtime` on its own SQLite file (one per
analyst and draft, made by :class:`~engine.modeling.sandbox_manager.SandboxManager` — never the real
database, even when the application runs on PostgreSQL). It holds the draft deployed together with
the current deployed library (for call activities), the real runtime's forms and a copy of the
calendar (units, deadline rules, holidays, closures). Its clock starts at the real time and only
moves forward when the analyst advances it; every operation runs inside :func:`engine.clock.use_clock`,
so the sandbox's time — SpiffWorkflow's timers included — never leaks into other requests or into
the worker.

Service tasks are never sent to outside services: their jobs stay in the sandbox's database, where
the analyst sees what would be sent (the payload) and marks each one done (with an optional result)
or failed (an incident). The analyst plays every lane (every staff role).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from engine import clock
from engine.actors import Actor
from engine.errors import EngineError, NotFound, TaskNotOpen
from engine.forms.schema import FormDefinition
from engine.forms.submission import UploadedFile
from engine.modeling.definitions import DEFINITIONS
from engine.modeling.sandbox_samples import sample_values, with_sample_files
from engine.modeling.validation import Problem
from engine.runtime import CaseResult, Runtime, queries
from engine.store import audit_chain
from engine.store.models import AuditEvent, Case, Deadline, ExternalJob, OpenTask
from engine.store.protocol import AGENCY_TZ

#: Largest single move of the sandbox clock.
MAX_ADVANCE_DAYS = 3650
#: The worker "holder" name written by the sandbox when it completes a simulated service.
SANDBOX_WORKER = "teste"
#: The file beside the sandbox's database that holds its :class:`SandboxMeta`.
META_FILE = "sandbox.json"
JOBS = ExternalJob.__table__
AUDIT = AuditEvent.__table__
DEADLINES = Deadline.__table__


class SandboxError(EngineError):
    """A sandbox operation that cannot be done (the message says why, in Portuguese)."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


# -- the sandbox ----------------------------------------------------------------------------------
@dataclass
class SandboxMeta:
    """What a sandbox keeps besides its database (``sandbox.json``)."""

    owner: str
    draft_id: int
    process_id: str
    draft_hash: str
    offset_seconds: float = 0.0
    case_id: int | None = None
    created_at: str = ""
    last_used_at: str = ""

    def save(self, directory: Path) -> None:
        path = directory / META_FILE
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self)), encoding="utf-8")
        temporary.replace(path)

    @classmethod
    def load(cls, directory: Path) -> SandboxMeta:
        return cls(**json.loads((directory / META_FILE).read_text(encoding="utf-8")))


@dataclass
class AdvanceResult:
    """What moving the sandbox clock did."""

    before: dt.datetime
    after: dt.datetime
    fired: list[str] = field(default_factory=list)


@dataclass
class SandboxView:
    """Everything the sandbox page shows, read in one go (plain objects, no open session)."""

    now: dt.datetime
    case: Case | None
    open_tasks: list[OpenTask]
    timeline: list[AuditEvent]
    deadlines: list[Deadline]
    jobs: list[ExternalJob]
    current_elements: list[str]
    done_elements: list[str]
    stale: bool


class Sandbox:
    """One analyst's test run of one draft, on its own database and clock."""

    def __init__(self, directory: Path, runtime: Runtime, meta: SandboxMeta, actor: Actor,
                 current_hash: Callable[[], str | None]) -> None:
        self.directory = directory
        self.runtime = runtime
        self.meta = meta
        self.actor = actor
        self._current_hash = current_hash
        self._lock = threading.RLock()

    # -- clock ----------------------------------------------------------------------------------
    def clock(self) -> dt.datetime:
        """The sandbox's time: the real (process) time shifted by how far the analyst moved it."""
        return clock.process_now() + dt.timedelta(seconds=self.meta.offset_seconds)

    def now(self) -> dt.datetime:
        return self.clock()

    @contextmanager
    def running(self) -> Iterator[Sandbox]:
        """Run a block on this sandbox's clock, one operation at a time; records the use."""
        with self._lock, clock.use_clock(self.clock):
            try:
                yield self
            finally:
                self.meta.last_used_at = clock.process_now().isoformat()
                self.meta.save(self.directory)

    # -- reading --------------------------------------------------------------------------------
    @property
    def process_id(self) -> str:
        return self.meta.process_id

    @property
    def started(self) -> bool:
        return self.meta.case_id is not None

    def start_form(self) -> tuple[FormDefinition, str]:
        with self.running():
            return self.runtime.first_form(self.process_id)

    def sample_values(self, form: FormDefinition) -> dict[str, str]:
        return sample_values(form, self.now().astimezone(AGENCY_TZ).date())

    def form_for_task(self, task_id: str) -> tuple[OpenTask, FormDefinition]:
        with self.running(), self.runtime.Session() as session:
            task = queries.open_task(session, task_id)
            if task is None or task.case_id != self.meta.case_id:
                raise TaskNotOpen("Esta tarefa não está aberta no teste.")
            return task, self.runtime.form_for(task)

    def diagram_xml(self) -> str:
        with self.runtime.db.connect() as conn:
            xml = conn.scalar(select(DEFINITIONS.c.bpmn_xml).where(DEFINITIONS.c.process_id == self.process_id)
                              .order_by(DEFINITIONS.c.version.desc()).limit(1))
        if xml is None:
            raise NotFound("O diagrama do teste não foi encontrado.")
        return xml

    def view(self) -> SandboxView:
        with self.running(), self.runtime.Session() as session:
            case_id = self.meta.case_id
            stale = self._current_hash() not in (None, self.meta.draft_hash)
            if case_id is None:
                return SandboxView(self.now(), None, [], [], [], [], [], [], stale)
            case = session.get(Case, case_id)
            open_tasks = queries.case_open_tasks(session, case_id)
            return SandboxView(
                self.now(), case, open_tasks, queries.case_timeline(session, case_id),
                queries.case_deadlines(session, case_id), self.jobs(session),
                sorted({t.spec_name for t in open_tasks} | set(self._waiting_elements(session))),
                sorted(queries.completed_elements(session, case_id)), stale)

    def jobs(self, session: Any = None) -> list[ExternalJob]:
        """The case's service tasks waiting (what would be sent) or marked failed."""
        if self.meta.case_id is None:
            return []
        if session is None:
            with self.runtime.Session() as own:
                return queries.case_jobs(own, self.meta.case_id)
        return queries.case_jobs(session, self.meta.case_id)

    def _waiting_elements(self, session: Any) -> list[str]:
        """Timers and service tasks the case waits on (part of its current position)."""
        timers = session.scalars(select(Deadline.spec_name).where(
            Deadline.case_id == self.meta.case_id, Deadline.kind == "legal", Deadline.fired_at.is_(None),
            Deadline.met_at.is_(None)))
        jobs = session.scalars(select(ExternalJob.spec_name).where(
            ExternalJob.case_id == self.meta.case_id, ExternalJob.status.in_(("pendente", "incidente"))))
        return [*timers, *jobs]

    # -- commands -------------------------------------------------------------------------------
    def start(self, values: Mapping[str, str], files: Mapping[str, UploadedFile] | None = None) -> CaseResult:
        """Start the test case, completing the start form with ``values`` (validated as usual)."""
        with self.running():
            if self.meta.case_id is not None:
                raise SandboxError("O teste já tem um caso em andamento; use “Reiniciar” para começar de novo.")
            form, _title = self.runtime.first_form(self.process_id)
            result = self.runtime.start_case(self.process_id, self.actor, values, with_sample_files(form, files))
            self.meta.case_id = result.case_id
            return result

    def complete(self, task_id: str, values: Mapping[str, str],
                 files: Mapping[str, UploadedFile] | None = None) -> CaseResult:
        """Complete an open task of the test case (form validation applies; every role allowed)."""
        with self.running():
            task, form = self.form_for_task(task_id)
            return self.runtime.complete_task(task.case_id, task_id, self.actor, values,
                                              with_sample_files(form, files))

    def complete_job(self, job_id: int, result: Mapping[str, Any] | None = None) -> CaseResult:
        """Mark a simulated service task done; ``result`` is merged into the case data, as a handler's would."""
        with self.running():
            job = self._job(job_id)
            return self.runtime.complete_service_task(job.id, dict(result or {}), worker=SANDBOX_WORKER)

    def fail_job(self, job_id: int, message: str) -> None:
        """Mark a simulated service task failed: it becomes an incident, as after the last retry."""
        reason = (message or "").strip() or "falha simulada no teste"
        with self.running():
            job = self._job(job_id)
            if job.status != "pendente":
                raise SandboxError(f"O serviço “{job.title}” não está aguardando (situação: {job.status}).")
            now = clock.now()
            text = f"Serviço “{job.title}” marcado como falha no teste: {reason}"[:1000]
            with self.runtime.db.begin() as conn:
                conn.execute(update(JOBS).where(JOBS.c.id == job.id).values(
                    attempts=job.attempts + 1, status="incidente", incident_at=now, last_error=text))
                audit_chain.append(conn, [dict(
                    case_id=job.case_id, at=now, actor=self.actor.username, action="incidente",
                    task_spec=job.spec_name, task_id=job.task_id, description=text[:500],
                    details={"servico": job.topic, "simulado": True})])

    def retry_job(self, job_id: int) -> None:
        """Put a job marked failed back to waiting."""
        with self.running():
            job = self._job(job_id)
            if job.status != "incidente":
                raise SandboxError(f"O serviço “{job.title}” não está com falha.")
            with self.runtime.db.begin() as conn:
                conn.execute(update(JOBS).where(JOBS.c.id == job.id).values(
                    status="pendente", incident_at=None, last_error=None))
                audit_chain.append(conn, [dict(
                    case_id=job.case_id, at=clock.now(), actor=self.actor.username,
                    action="incidente_reprocessado", task_spec=job.spec_name, task_id=job.task_id,
                    description=f"Serviço reenviado no teste: {job.title}", details={"simulado": True})])

    def _job(self, job_id: int) -> Any:
        with self.runtime.db.connect() as conn:
            job = conn.execute(select(JOBS).where(JOBS.c.id == job_id)).first()
        if job is None or job.case_id != self.meta.case_id:
            raise NotFound(f"Serviço {job_id} não encontrado neste teste.")
        if job.status == "concluido":
            raise TaskNotOpen(f"O serviço “{job.title}” já foi concluído.")
        return job

    def advance(self, days: int = 0, business_days: int = 0, until: dt.date | None = None) -> AdvanceResult:
        """Move the sandbox clock forward by calendar days, working days (the unit's calendar) or to
        a date (same time of day), firing every timer that falls due on the way, in due order."""
        with self.running():
            before = self.now()
            target = self._target(before, days, business_days, until)
            fired: list[str] = []
            for _round in range(1000):
                next_due = self._next_due()
                if next_due is None or next_due >= target:
                    break
                self._set_now(max(next_due + dt.timedelta(seconds=1), self.now()))
                fired.extend(self._fire())
            self._set_now(target)
            fired.extend(self._fire())
            return AdvanceResult(before, self.now(), fired)

    def _target(self, now: dt.datetime, days: int, business_days: int, until: dt.date | None) -> dt.datetime:
        chosen = [x for x in (days, business_days, until) if x]
        if len(chosen) != 1:
            raise SandboxError("Informe uma forma de avançar o relógio: dias corridos, dias úteis ou uma data.")
        if until is not None:
            local = now.astimezone(AGENCY_TZ)
            if until <= local.date():
                raise SandboxError(f"O relógio do teste só anda para a frente: escolha uma data depois de "
                                   f"{local:%d/%m/%Y}.")
            if (until - local.date()).days > MAX_ADVANCE_DAYS:
                raise SandboxError(f"Avance no máximo {MAX_ADVANCE_DAYS} dias de uma vez.")
            return dt.datetime.combine(until, local.timetz()).astimezone(dt.UTC)
        amount = days or business_days
        if amount < 1 or amount > MAX_ADVANCE_DAYS:
            raise SandboxError(f"Informe um número de dias entre 1 e {MAX_ADVANCE_DAYS}.")
        if days:
            return now + dt.timedelta(days=days)
        calendar = self.runtime.calendars.for_unit(self.actor.unit)
        today = now.astimezone(AGENCY_TZ).date()
        return now + (calendar.add_working_days(today, business_days) - today)

    def _next_due(self) -> dt.datetime | None:
        with self.runtime.db.connect() as conn:
            return conn.scalar(select(func.min(DEADLINES.c.due_at)).where(
                DEADLINES.c.kind == "legal", DEADLINES.c.fired_at.is_(None), DEADLINES.c.met_at.is_(None)))

    def _set_now(self, moment: dt.datetime) -> None:
        self.meta.offset_seconds = (moment - clock.process_now()).total_seconds()

    def _fire(self) -> list[str]:
        """Fire the due timers (as the worker would) and say which went off."""
        with self.runtime.db.connect() as conn:
            last = conn.scalar(select(func.max(AUDIT.c.id))) or 0
        for _round in range(20):
            if not self.runtime.fire_due_timers():
                break
        with self.runtime.db.connect() as conn:
            return list(conn.scalars(select(AUDIT.c.description).where(
                AUDIT.c.id > last, AUDIT.c.action == "prazo_vencido").order_by(AUDIT.c.id)))

    def close(self) -> None:
        self.runtime.db.dispose()
