"""The "Testar" sandbox: run a process draft with sample data on a movable clock, away from real cases.

A :class:`Sandbox` is an isolated :class:`~engine.runtime.Runtime` on its own SQLite file (one per
analyst and draft, under the manager's folder — never the real database, even when the application
runs on PostgreSQL). It holds the draft deployed together with the current deployed library (for
call activities), the real runtime's forms and a copy of the calendar (units, deadline rules,
holidays, closures). Its clock starts at the real time and only moves forward when the analyst
advances it; every operation runs inside :func:`engine.clock.use_clock`, so the sandbox's time —
SpiffWorkflow's timers included — never leaks into other requests or into the worker.

Service tasks are never sent to outside services: their jobs stay in the sandbox's database, where
the analyst sees what would be sent (the payload) and marks each one done (with an optional result)
or failed (an incident). The analyst plays every lane (every staff role).

A :class:`SandboxManager` keeps the sandboxes per analyst + draft and removes the ones unused for
longer than its time-to-live (folder and file included).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select, update

from engine import clock
from engine.actors import Actor
from engine.calendar.models import CalendarEntry, CalendarRevision, DeadlineSetting, Unit
from engine.errors import EngineError, NotFound, TaskNotOpen
from engine.forms.schema import FormDefinition, FormField
from engine.forms.submission import UploadedFile
from engine.modeling.definitions import DEFINITIONS, current_definitions
from engine.modeling.validation import Problem
from engine.modeling.versioning import ProcessCatalog
from engine.roles import STAFF_ROLES
from engine.runtime import CaseResult, EngineConfig, Runtime, queries
from engine.schema import create_schema
from engine.store.models import AuditEvent, Case, Deadline, ExternalJob, OpenTask
from engine.store.protocol import AGENCY_TZ

#: Sandboxes unused for longer than this are removed.
SANDBOX_TTL = dt.timedelta(hours=6)
#: Largest single move of the sandbox clock.
MAX_ADVANCE_DAYS = 3650
#: The worker "holder" name written by the sandbox when it completes a simulated service.
SANDBOX_WORKER = "teste"

_META = "sandbox.json"
_DB = "sandbox.sqlite3"
_CALENDAR_TABLES = (Unit.__table__, DeadlineSetting.__table__, CalendarEntry.__table__, CalendarRevision.__table__)
JOBS = ExternalJob.__table__
AUDIT = AuditEvent.__table__
DEADLINES = Deadline.__table__


class SandboxError(EngineError):
    """A sandbox operation that cannot be done (the message says why, in Portuguese)."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


# -- sample data ----------------------------------------------------------------------------------
_SAMPLE_TEXT = {
    "consumidor_nome": "Maria Exemplo da Silva",
    "fornecedor_nome": "Loja Exemplo Ltda",
    "denunciante_nome": "José Exemplo Souza",
}
SAMPLE_CPF = "529.982.247-25"
SAMPLE_CNPJ = "11.222.333/0001-81"
SAMPLE_EMAIL = "teste@exemplo.com.br"
SAMPLE_PHONE = "(11) 98765-4321"
#: A minimal PDF, attached to required file fields the analyst leaves empty.
SAMPLE_PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Count 0/Kids[]>>endobj\n"
              b"trailer<</Root 1 0 R>>\n%%EOF\n")


def _fit(text: str, form_field: FormField) -> str:
    return text[:form_field.max_length] if form_field.max_length else text


def _sample_number(form_field: FormField, default: Decimal) -> Decimal:
    value = default
    if form_field.min_value is not None and value < form_field.min_value:
        value = form_field.min_value
    if form_field.max_value is not None and value > form_field.max_value:
        value = form_field.max_value
    return value


def sample_value(form_field: FormField, today: dt.date) -> str | None:
    """A plausible value for one field, as a person would type it (``None`` for files)."""
    kind, name = form_field.type, form_field.name
    if kind == "text":
        if name in _SAMPLE_TEXT:
            return _fit(_SAMPLE_TEXT[name], form_field)
        if "nome" in name:
            return _fit("Pessoa Exemplo", form_field)
        return _fit(f"Exemplo: {form_field.label}", form_field)
    if kind == "textarea":
        return _fit(f"Texto de exemplo para testar o procedimento ({form_field.label.lower()}).", form_field)
    if kind == "date":
        return today.isoformat()
    if kind == "money":
        value = _sample_number(form_field, Decimal("150.00")).quantize(Decimal("0.01"))
        return f"{value:.2f}".replace(".", ",")
    if kind == "number":
        value = _sample_number(form_field, Decimal(1))
        return format(value.normalize(), "f").replace(".", ",")
    if kind == "choice":
        return form_field.choices[0].value if form_field.choices else ""
    if kind == "cpf":
        return SAMPLE_CPF
    if kind == "cnpj":
        return SAMPLE_CNPJ
    if kind == "email":
        return SAMPLE_EMAIL
    if kind == "phone":
        return SAMPLE_PHONE
    return None


def sample_values(form: FormDefinition, today: dt.date) -> dict[str, str]:
    """Plausible values for every field of a form (files excluded), editable by the analyst."""
    values = {}
    for form_field in form.fields:
        value = sample_value(form_field, today)
        if value is not None:
            values[form_field.name] = value
    return values


def _with_sample_files(form: FormDefinition, files: Mapping[str, UploadedFile] | None) -> dict[str, UploadedFile]:
    """The uploaded files, plus a small sample PDF for each required file field left empty."""
    result = dict(files or {})
    for form_field in form.fields:
        if form_field.type == "file" and form_field.required and form_field.name not in result:
            accept = form_field.accept or (".pdf",)
            extension = ".pdf" if ".pdf" in accept else accept[0]
            result[form_field.name] = UploadedFile(f"exemplo{extension}", "application/pdf", SAMPLE_PDF)
    return result


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
        path = directory / _META
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self)), encoding="utf-8")
        temporary.replace(path)

    @classmethod
    def load(cls, directory: Path) -> SandboxMeta:
        return cls(**json.loads((directory / _META).read_text(encoding="utf-8")))


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
            result = self.runtime.start_case(self.process_id, self.actor, values, _with_sample_files(form, files))
            self.meta.case_id = result.case_id
            return result

    def complete(self, task_id: str, values: Mapping[str, str],
                 files: Mapping[str, UploadedFile] | None = None) -> CaseResult:
        """Complete an open task of the test case (form validation applies; every role allowed)."""
        with self.running():
            task, form = self.form_for_task(task_id)
            return self.runtime.complete_task(task.case_id, task_id, self.actor, values,
                                              _with_sample_files(form, files))

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
                conn.execute(insert(AUDIT).values(
                    case_id=job.case_id, at=now, actor=self.actor.username, action="incidente",
                    task_spec=job.spec_name, task_id=job.task_id, description=text[:500],
                    details={"servico": job.topic, "simulado": True}))

    def retry_job(self, job_id: int) -> None:
        """Put a job marked failed back to waiting."""
        with self.running():
            job = self._job(job_id)
            if job.status != "incidente":
                raise SandboxError(f"O serviço “{job.title}” não está com falha.")
            with self.runtime.db.begin() as conn:
                conn.execute(update(JOBS).where(JOBS.c.id == job.id).values(
                    status="pendente", incident_at=None, last_error=None))
                conn.execute(insert(AUDIT).values(
                    case_id=job.case_id, at=clock.now(), actor=self.actor.username,
                    action="incidente_reprocessado", task_spec=job.spec_name, task_id=job.task_id,
                    description=f"Serviço reenviado no teste: {job.title}", details={"simulado": True}))

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


# -- the manager ----------------------------------------------------------------------------------
def _slug(owner: str) -> str:
    readable = re.sub(r"[^a-z0-9_.-]+", "-", owner.lower())[:40].strip("-.") or "analista"
    return f"{readable}-{hashlib.sha256(owner.encode('utf-8')).hexdigest()[:8]}"


def _draft_hash(xml: str) -> str:
    return hashlib.sha256(xml.encode("utf-8")).hexdigest()


class SandboxManager:
    """The sandboxes of every analyst, one per analyst + draft, in folders under ``root``."""

    def __init__(self, runtime: Runtime, root: Path, ttl: dt.timedelta = SANDBOX_TTL) -> None:
        self.runtime = runtime
        self.catalog = ProcessCatalog(runtime)
        self.root = Path(root)
        self.ttl = ttl
        self._sandboxes: dict[tuple[str, int], Sandbox] = {}
        self._lock = threading.RLock()
        self._last_cleanup: dt.datetime | None = None

    def directory(self, owner: str, draft_id: int) -> Path:
        return self.root / f"{_slug(owner)}-{int(draft_id)}"

    def get(self, actor: Actor, draft_id: int) -> Sandbox | None:
        """The analyst's sandbox of this draft, when there is one (reopened from disk after a restart)."""
        self.cleanup_if_due()
        key = (actor.username, int(draft_id))
        with self._lock:
            sandbox = self._sandboxes.get(key)
            if sandbox is not None:
                return sandbox
            directory = self.directory(actor.username, draft_id)
            if not (directory / _META).exists() or not (directory / _DB).exists():
                return None
            meta = SandboxMeta.load(directory)
            sandbox = Sandbox(directory, self._runtime_for(directory), meta, self._player(actor),
                              self._hash_of(draft_id))
            self._sandboxes[key] = sandbox
            return sandbox

    def open(self, actor: Actor, draft_id: int) -> Sandbox:
        """The analyst's sandbox of this draft, created (draft deployed, clock at real now) if needed.

        Raises :class:`SandboxError` (with ``problems``) when the draft is not valid, and
        :class:`~engine.errors.NotFound` when there is no such draft.
        """
        sandbox = self.get(actor, draft_id)
        if sandbox is not None:
            return sandbox
        with self._lock:
            sandbox = self._sandboxes.get((actor.username, int(draft_id)))
            return sandbox if sandbox is not None else self._create(actor, int(draft_id))

    def reset(self, actor: Actor, draft_id: int) -> Sandbox:
        """Throw the test away and start a fresh one from the draft as it is now (clock back to real now)."""
        with self._lock:
            self.discard(actor, draft_id)
            return self.open(actor, draft_id)

    def discard(self, actor: Actor | str, draft_id: int) -> bool:
        """Remove the sandbox (database and folder); False when there was none."""
        owner = actor.username if isinstance(actor, Actor) else actor
        with self._lock:
            sandbox = self._sandboxes.pop((owner, int(draft_id)), None)
            directory = self.directory(owner, draft_id)
            if sandbox is not None:
                with sandbox._lock:
                    sandbox.close()
            if directory.exists():
                shutil.rmtree(directory, ignore_errors=True)
                return True
            return sandbox is not None

    def cleanup_if_due(self) -> int:
        now = clock.process_now()
        if self._last_cleanup is not None and now - self._last_cleanup < dt.timedelta(minutes=1):
            return 0
        return self.cleanup()

    def cleanup(self) -> int:
        """Remove every sandbox unused for longer than the time-to-live; returns how many."""
        now = clock.process_now()
        self._last_cleanup = now
        if not self.root.exists():
            return 0
        removed = 0
        with self._lock:
            for directory in sorted(p for p in self.root.iterdir() if p.is_dir()):
                try:
                    meta = SandboxMeta.load(directory)
                    last_used = dt.datetime.fromisoformat(meta.last_used_at)
                except (OSError, ValueError, TypeError, json.JSONDecodeError):
                    meta, last_used = None, dt.datetime.fromtimestamp(directory.stat().st_mtime, dt.UTC)
                if now - last_used <= self.ttl:
                    continue
                if meta is not None:
                    sandbox = self._sandboxes.pop((meta.owner, meta.draft_id), None)
                    if sandbox is not None:
                        sandbox.close()
                shutil.rmtree(directory, ignore_errors=True)
                removed += 1
        return removed

    def close_all(self) -> None:
        with self._lock:
            for sandbox in self._sandboxes.values():
                sandbox.close()
            self._sandboxes.clear()

    # -- internals ------------------------------------------------------------------------------
    @staticmethod
    def _player(actor: Actor) -> Actor:
        """The analyst playing every lane of the diagram."""
        return Actor(actor.username, actor.full_name, frozenset(STAFF_ROLES), actor.unit)

    def _hash_of(self, draft_id: int) -> Callable[[], str | None]:
        def current() -> str | None:
            try:
                return _draft_hash(self.catalog.draft(draft_id).bpmn_xml)
            except NotFound:
                return None
        return current

    def _runtime_for(self, directory: Path) -> Runtime:
        real = self.runtime.config
        runtime = Runtime(EngineConfig(database_url=f"sqlite:///{directory / _DB}",
                                       workflows_dir=directory / "workflows", forms_dir=real.forms_dir,
                                       unit=real.unit, cache_size=64, services=real.services))
        runtime.forms = self.runtime.forms  # the same forms as the real application
        runtime.definitions.forms = self.runtime.forms
        return runtime

    def _create(self, actor: Actor, draft_id: int) -> Sandbox:
        draft = self.catalog.draft(draft_id)
        if draft.status != "rascunho":
            raise SandboxError(f"O rascunho {draft_id} já foi {draft.status}; só rascunhos abertos podem ser testados.")
        problems = self.catalog.validate_draft(draft_id)
        if problems:
            raise SandboxError(f"O rascunho tem {len(problems)} problema{'s' if len(problems) != 1 else ''} e não "
                               "pode ser testado; corrija-o no editor.", problems)
        with self.runtime.db.connect() as conn:
            library = conn.execute(current_definitions(DEFINITIONS.c.process_id, DEFINITIONS.c.filename,
                                                       DEFINITIONS.c.bpmn_xml)).all()
            calendar = {table.name: [dict(row._mapping) for row in conn.execute(select(table))]
                        for table in _CALENDAR_TABLES}
        files: dict[str, str] = {}
        draft_file = f"{Path(draft.process_id).name}.bpmn"
        for row in library:
            if row.process_id == draft.process_id:
                draft_file = row.filename
            else:
                files[row.filename] = row.bpmn_xml
        files[draft_file] = draft.bpmn_xml  # the draft replaces its procedure's current version
        directory = self.directory(actor.username, draft_id)
        shutil.rmtree(directory, ignore_errors=True)
        (directory / "workflows").mkdir(parents=True)
        runtime: Runtime | None = None
        try:
            for filename, xml in files.items():
                (directory / "workflows" / Path(filename).name).write_text(xml, encoding="utf-8")
            runtime = self._runtime_for(directory)
            create_schema(runtime.db)
            _copy_rows(runtime.db, calendar)
            runtime.init_db(actor.username)
            now = clock.process_now().isoformat()
            meta = SandboxMeta(actor.username, draft_id, draft.process_id, _draft_hash(draft.bpmn_xml),
                               created_at=now, last_used_at=now)
            meta.save(directory)
        except BaseException:
            if runtime is not None:
                runtime.db.dispose()
            shutil.rmtree(directory, ignore_errors=True)
            raise
        sandbox = Sandbox(directory, runtime, meta, self._player(actor), self._hash_of(draft_id))
        self._sandboxes[(actor.username, draft_id)] = sandbox
        return sandbox


def _copy_rows(engine: Engine, rows_by_table: dict[str, list[dict[str, Any]]]) -> None:
    """Copy the calendar (units, rules, holidays, closures) into the sandbox's database."""
    with engine.begin() as conn:
        for table in _CALENDAR_TABLES:
            rows = rows_by_table.get(table.name) or []
            if rows:
                conn.execute(insert(table), rows)
