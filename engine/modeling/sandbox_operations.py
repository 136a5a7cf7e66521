"""What the sandbox's child process does with one request: the draft's :class:`~engine.runtime.Runtime` on
the folder's own SQLite file, one operation on it, and the page's state read back.

Runs only inside :mod:`engine.modeling.sandbox_process` (the web process never imports this module):
the folder holds the draft and the deployed library (``workflows/``), the forms (``forms/``) and a
seed (``seed.json``: the calendar's rows, the unit, the service topics, the analyst playing every
lane), all written by the web process; nothing here knows the real database. The child's clock is
frozen at the web process's time plus the sandbox's offset and moves only when the analyst advances it.
Service tasks are never sent anywhere: their jobs wait in the sandbox's database until the analyst marks
them done or failed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, update

from engine import clock
from engine.actors import Actor
from engine.calendar.models import CalendarEntry, CalendarRevision, DeadlineSetting, Unit
from engine.errors import EngineError, NotFound, TaskNotOpen
from engine.forms.schema import FormError
from engine.modeling.sandbox_protocol import (
    MAX_ADVANCE_DAYS,
    PROTOCOL_VERSION,
    SANDBOX_WORKER,
    SandboxError,
    error_of,
    files_in,
    row_of,
)
from engine.modeling.sandbox_samples import with_sample_files
from engine.roles import STAFF_ROLES
from engine.runtime import CaseResult, EngineConfig, Runtime, queries
from engine.schema import create_schema
from engine.store import audit_chain
from engine.store.models import AuditEvent, Case, Deadline, ExternalJob
from engine.store.protocol import AGENCY_TZ

DB_FILE = "sandbox.sqlite3"
SEED_FILE = "seed.json"
CALENDAR_TABLES = (Unit.__table__, DeadlineSetting.__table__, CalendarEntry.__table__, CalendarRevision.__table__)
JOBS = ExternalJob.__table__
AUDIT = AuditEvent.__table__
DEADLINES = Deadline.__table__
CASES = Case.__table__


class SimulatedServices:
    """The service registry of the sandbox: every real topic exists (the draft validates as in
    production), and none is ever called."""

    def __init__(self, names: list[str]) -> None:
        self._names = frozenset(names)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._names))

    def permanent_error(self, message: str) -> Exception:
        return SandboxError(message)

    def run(self, name: str, payload: dict[str, Any], **_context: Any) -> Any:
        raise SandboxError(f"O serviço “{name}” não é chamado no teste: marque-o como concluído ou como falha.")


class Operations:
    """One request's work on the sandbox's database (the child builds one per request)."""

    def __init__(self, directory: Path, request: dict[str, Any], seed: dict[str, Any]) -> None:
        self.process_id = str(request["process_id"])
        self.base: dt.datetime = request["now"]
        self.clock = clock.FrozenClock(self.base + dt.timedelta(seconds=float(request.get("offset_seconds") or 0)))
        clock.set_clock(self.clock)
        self.runtime = Runtime(EngineConfig(
            database_url=f"sqlite:///{directory / DB_FILE}", workflows_dir=directory / "workflows",
            forms_dir=directory / "forms", unit=str(seed["unit"]), cache_size=8,
            services=SimulatedServices(list(seed.get("services") or ()))))
        player = seed["player"]
        self.actor = Actor(str(player["username"]), str(player.get("full_name") or ""), frozenset(STAFF_ROLES),
                           str(player.get("unit") or seed["unit"]))
        self.seed = seed
        self.case_id: int | None = None

    # -- the request ----------------------------------------------------------------------------
    def answer(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        """Run ``op`` and say how it went, with the state the page shows afterwards."""
        try:
            handler: Callable[..., Any] = getattr(self, f"op_{op}")
            if op != "create":
                self.case_id = self._case_id()
            result = handler(**args)
            answer: dict[str, Any] = {"ok": True, "result": result}
        except MemoryError:
            raise
        except Exception as error:  # noqa: BLE001 - every failure goes back to the analyst as a message
            answer = {"ok": False, "error": error_of(error)}
        try:
            self.case_id = self._case_id()
            answer["state"] = self.state()
        except MemoryError:
            raise
        except Exception:  # noqa: BLE001 - a draft that fails even to show itself: keep the last state
            answer["state"] = None
        offset = (self.clock.current - self.base).total_seconds()
        self.runtime.db.dispose()
        return {"protocol": PROTOCOL_VERSION, **answer, "offset_seconds": offset, "case_id": self.case_id}

    def _case_id(self) -> int | None:
        with self.runtime.db.connect() as conn:
            return conn.scalar(select(func.max(CASES.c.id)))

    # -- operations -----------------------------------------------------------------------------
    def op_create(self, owner: str) -> None:
        """Create the database: tables, the calendar's rows, the draft and the library deployed."""
        create_schema(self.runtime.db)
        with self.runtime.db.begin() as conn:
            for table in CALENDAR_TABLES:
                rows = (self.seed.get("calendar") or {}).get(table.name) or []
                if rows:
                    conn.execute(insert(table), rows)
        self.runtime.init_db(owner)

    def op_refresh(self) -> None:
        """Nothing to do: the answer carries the state."""

    def op_start(self, values: dict[str, str], files: dict[str, Any] | None = None) -> dict[str, Any]:
        if self.case_id is not None:
            raise SandboxError("O teste já tem um caso em andamento; use “Reiniciar” para começar de novo.")
        form, _title = self.runtime.first_form(self.process_id)
        result = self.runtime.start_case(self.process_id, self.actor, values, with_sample_files(form, files_in(files)))
        return _result(result)

    def op_complete(self, task_id: str, values: dict[str, str], files: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.runtime.Session() as session:
            task = queries.open_task(session, task_id)
            if task is None or task.case_id != self.case_id:
                raise TaskNotOpen("Esta tarefa não está aberta no teste.")
            form = self.runtime.form_for(task)
        result = self.runtime.complete_task(task.case_id, task_id, self.actor, values,
                                            with_sample_files(form, files_in(files)))
        return _result(result)

    def op_complete_job(self, job_id: int, result: dict[str, Any] | None = None) -> dict[str, Any]:
        job = self._job(job_id)
        return _result(self.runtime.complete_service_task(job.id, dict(result or {}), worker=SANDBOX_WORKER))

    def op_fail_job(self, job_id: int, message: str) -> None:
        reason = (message or "").strip() or "falha simulada no teste"
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

    def op_retry_job(self, job_id: int) -> None:
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
            job = conn.execute(select(JOBS).where(JOBS.c.id == int(job_id))).first()
        if job is None or job.case_id != self.case_id:
            raise NotFound(f"Serviço {job_id} não encontrado neste teste.")
        if job.status == "concluido":
            raise TaskNotOpen(f"O serviço “{job.title}” já foi concluído.")
        return job

    def op_advance(self, days: int = 0, business_days: int = 0, until: dt.date | None = None) -> dict[str, Any]:
        """Move the clock forward by calendar days, working days (the unit's calendar) or to a date (same
        time of day), firing every timer that falls due on the way, in due order."""
        before = self.clock.current
        target = self._target(before, int(days or 0), int(business_days or 0), until)
        fired: list[str] = []
        for _round in range(1000):
            next_due = self._next_due()
            if next_due is None or next_due >= target:
                break
            self.clock.set(max(next_due + dt.timedelta(seconds=1), self.clock.current))
            fired.extend(self._fire())
        self.clock.set(target)
        fired.extend(self._fire())
        return {"before": before, "after": self.clock.current, "fired": fired}

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

    # -- what the page shows --------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """The case and everything around it, as plain rows; before the case, the start form's key."""
        case_id = self.case_id
        if case_id is None:
            return {"case": None, "open_tasks": [], "timeline": [], "deadlines": [], "jobs": [],
                    "current_elements": [], "done_elements": [], "start": self._start()}
        with self.runtime.Session() as session:
            case = session.get(Case, case_id)
            open_tasks = queries.case_open_tasks(session, case_id)
            timers = session.scalars(select(Deadline.spec_name).where(
                Deadline.case_id == case_id, Deadline.kind == "legal", Deadline.fired_at.is_(None),
                Deadline.met_at.is_(None)))
            waiting = session.scalars(select(ExternalJob.spec_name).where(
                ExternalJob.case_id == case_id, ExternalJob.status.in_(("pendente", "incidente"))))
            return {
                "case": row_of(case) if case is not None else None,
                "open_tasks": [row_of(t) for t in open_tasks],
                "timeline": [row_of(e) for e in queries.case_timeline(session, case_id)],
                "deadlines": [row_of(d) for d in queries.case_deadlines(session, case_id)],
                "jobs": [row_of(j) for j in queries.case_jobs(session, case_id)],
                "current_elements": sorted({t.spec_name for t in open_tasks} | {*timers, *waiting}),
                "done_elements": sorted(queries.completed_elements(session, case_id)),
                "start": None,
            }

    def _start(self) -> dict[str, Any]:
        try:
            form, title = self.runtime.first_form(self.process_id)
        except (EngineError, FormError) as error:
            return {"error": str(error)}
        return {"form_key": form.key, "title": title}


def _result(result: CaseResult) -> dict[str, Any]:
    return {"case_id": result.case_id, "protocol": result.protocol, "version": result.version,
            "status": result.status, "open_tasks": [asdict(t) for t in result.open_tasks]}
