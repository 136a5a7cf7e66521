"""The only way to change a case: ``start_case``, ``claim``, ``release``, ``complete_task`` and
``fire_due_timers``.

Each command is one database transaction, read the way Camunda's command executor reads:
read the case's version -> take its workflow (from the in-memory cache when the version matches,
else deserialize) -> act -> ``do_engine_steps`` -> serialize -> write the case with
``UPDATE ... WHERE version = :read_version`` -> write only the projection rows that changed and the
audit events -> commit. The version check is an optimistic lock: a concurrent change makes the
command fail with :class:`ConflictError` and nothing of it is written.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.mixins.script_task import ScriptTask
from SpiffWorkflow.bpmn.specs.mixins.service_task import ServiceTask
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from engine import clock
from engine.actors import SYSTEM, Actor
from engine.calendar.rules import DeadlineRule
from engine.calendar.service import CalendarService, ensure_default_unit
from engine.dashboard import aggregates as dashboard_totals
from engine.errors import (
    ConflictError,
    EngineError,
    InvalidSubmission,
    NotFound,
    PermissionDenied,
    ProcedureError,
    TaskNotOpen,
)
from engine.forms.registry import CatalogFormRegistry
from engine.forms.schema import FormDefinition, FormRegistry
from engine.forms.submission import UploadedFile, validate_submission
from engine.modeling.definitions import DefinitionRepository
from engine.parties.case_parties import backfill_case_parties, may_work_on, parties_of, write_case_parties
from engine.runtime.projections import (
    TaskInfo,
    TimerInfo,
    current_data,
    outcome,
    ready_jobs,
    ready_user_tasks,
    scan,
    sla_deadlines,
    summary_of,
    task_role,
    waiting_timers,
)
from engine.runtime.scripting import deadline_context, make_script_engine
from engine.schema import create_schema
from engine.services import ServiceRegistry
from engine.store.db import make_engine, make_session_factory
from engine.store.models import (
    Attachment,
    AuditEvent,
    Case,
    Deadline,
    ExternalJob,
    Notification,
    OpenTask,
    ProcessDefinition,
    User,
)
from engine.store.protocol import AGENCY_TZ, next_protocol
from engine.store.serialization import dump_state, load_state

REPO_ROOT = Path(__file__).resolve().parents[2]
CASES = Case.__table__
OPEN_TASKS = OpenTask.__table__
DEADLINES = Deadline.__table__
AUDIT = AuditEvent.__table__
ATTACHMENTS = Attachment.__table__
JOBS = ExternalJob.__table__
NOTIFICATIONS = Notification.__table__
USERS = User.__table__

# Statements built once: the hot path only binds parameters (SQLAlchemy's statement building
# and cache-key generation cost more than SQLite itself).
_TASK_FOR_COMPLETION = (
    select(OPEN_TASKS.c.case_id, OPEN_TASKS.c.title, OPEN_TASKS.c.role, OPEN_TASKS.c.assignee, CASES.c.version)
    .select_from(OPEN_TASKS.join(CASES, CASES.c.id == OPEN_TASKS.c.case_id))
    .where(OPEN_TASKS.c.task_id == bindparam("task_id"))
)
_OPEN_TASK = select(OPEN_TASKS).where(OPEN_TASKS.c.task_id == bindparam("task_id"))
_CASE = select(CASES).where(CASES.c.id == bindparam("case_id"))
_CASE_VERSION = select(CASES.c.version).where(CASES.c.id == bindparam("case_id"))
_OPEN_TASK_IDS = select(OPEN_TASKS.c.task_id, OPEN_TASKS.c.due_at).where(OPEN_TASKS.c.case_id == bindparam("case_id"))
_PENDING_DEADLINES = select(DEADLINES).where(DEADLINES.c.case_id == bindparam("case_id"),
                                             DEADLINES.c.fired_at.is_(None), DEADLINES.c.met_at.is_(None))
_DUE_CASES = (select(DEADLINES.c.case_id)
              .where(DEADLINES.c.kind == "legal", DEADLINES.c.fired_at.is_(None), DEADLINES.c.met_at.is_(None),
                     DEADLINES.c.due_at < bindparam("now"))
              .group_by(DEADLINES.c.case_id).order_by(DEADLINES.c.case_id).limit(bindparam("limit")))
_UPDATE_CASE = (
    update(CASES).where(CASES.c.id == bindparam("b_id"), CASES.c.version == bindparam("b_version"))
    .values(state=bindparam("state"), version=bindparam("version"), updated_at=bindparam("updated_at"),
            data=bindparam("data"), summary=bindparam("summary"), title=bindparam("title"),
            status=bindparam("status"), closed_at=bindparam("closed_at"), outcome=bindparam("outcome"))
)
_UPDATE_CASE_STATE = (
    update(CASES).where(CASES.c.id == bindparam("b_id"), CASES.c.version == bindparam("b_version"))
    .values(state=bindparam("state"), version=bindparam("version"), updated_at=bindparam("updated_at"))
)
_DELETE_OPEN_TASKS = delete(OPEN_TASKS).where(OPEN_TASKS.c.task_id.in_(bindparam("task_ids", expanding=True)))
_CLAIM_CASE = select(CASES.c.version).where(CASES.c.id == bindparam("case_id")).with_for_update(skip_locked=True)
_CLAIM_DUE_TIMERS = (select(DEADLINES.c.id)
                     .where(DEADLINES.c.case_id == bindparam("case_id"), DEADLINES.c.kind == "legal",
                            DEADLINES.c.fired_at.is_(None), DEADLINES.c.met_at.is_(None),
                            DEADLINES.c.due_at < bindparam("now"))
                     .with_for_update(skip_locked=True))
_MOVE_DEADLINE = (update(DEADLINES).where(DEADLINES.c.task_id == bindparam("b_task_id"))
                  .values(due_at=bindparam("due_at"), warned_at=None, escalated_at=None))  # warn again
_MOVE_OPEN_TASK = (update(OPEN_TASKS).where(OPEN_TASKS.c.task_id == bindparam("b_task_id"))
                   .values(due_at=bindparam("due_at")))
_CLOSE_DEADLINE = (update(DEADLINES).where(DEADLINES.c.task_id == bindparam("b_task_id"))
                   .values(fired_at=bindparam("fired_at"), met_at=bindparam("met_at"), outcome=bindparam("outcome")))
_OPEN_JOB_IDS = select(JOBS.c.task_id).where(JOBS.c.case_id == bindparam("case_id"),
                                            JOBS.c.status.in_(("pendente", "incidente")))
_JOB = select(JOBS).where(JOBS.c.id == bindparam("job_id"))
_CLOSE_JOBS = (update(JOBS).where(JOBS.c.task_id.in_(bindparam("task_ids", expanding=True)),
                                  JOBS.c.status.in_(("pendente", "incidente")))
               .values(status="concluido", completed_at=bindparam("now"), locked_by=None, locked_until=None))
_LAST_FIRED = (select(AUDIT.c.at, AUDIT.c.description)
               .where(AUDIT.c.case_id == bindparam("case_id"), AUDIT.c.action == "prazo_vencido")
               .order_by(AUDIT.c.id.desc()).limit(1))
_LAST_COMPLETION = (select(AUDIT.c.at, AUDIT.c.actor, AUDIT.c.details)
                    .where(AUDIT.c.case_id == bindparam("case_id"), AUDIT.c.task_id == bindparam("task_id"),
                           AUDIT.c.action.in_(("tarefa_concluida", "prazo_vencido")))
                    .order_by(AUDIT.c.id.desc()).limit(1))


@dataclass
class EngineConfig:
    database_url: str | None = None
    workflows_dir: Path = REPO_ROOT / "workflows"
    forms_dir: Path = REPO_ROOT / "forms"
    unit: str = "CAP"
    cache_size: int = 512
    #: the service-task registry handed in by the composition root (``tasks.registry.default_registry()``);
    #: without one, a diagram with a service task does not validate and no job can run
    services: ServiceRegistry | None = None


@dataclass
class CaseResult:
    """What a command returns: the case after the change and the user tasks now open on it."""

    case_id: int
    protocol: str
    version: int
    status: str
    open_tasks: list[TaskInfo] = field(default_factory=list)


@dataclass
class LoadedCase:
    """A case's workflow plus what the database holds about it, valid for one ``version``."""

    case_id: int
    protocol: str
    version: int
    status: str
    title: str
    data: dict[str, Any]
    summary: dict[str, Any]
    workflow: BpmnWorkflow
    #: open user task id -> its due date, as in ``open_tasks``
    open_task_dues: dict[str, Any]
    #: pending deadlines (timers and SLAs) by task id, as in ``deadlines``
    pending_timers: dict[str, TimerInfo]
    closed_at: Any = None
    outcome: str | None = None
    unit: str = "CAP"
    #: service tasks waiting for a worker (pending external jobs), by task id
    open_job_ids: set[str] = field(default_factory=set)


class WorkflowCache:
    """Recently used cases, deserialized, keyed by case id and valid for one case version.

    ``take`` removes the entry, so a workflow object is only ever changed by one command at a
    time; ``put`` returns it after a successful commit. A failed command never puts it back.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[int, LoadedCase] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, case_id: int, version: int) -> LoadedCase | None:
        with self._lock:
            item = self._items.pop(case_id, None)
        return item if item is not None and item.version == version else None

    def put(self, loaded: LoadedCase) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[loaded.case_id] = loaded
            self._items.move_to_end(loaded.case_id)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


@dataclass
class _Change:
    """What a command did, for the audit trail."""

    action: str
    description: str
    task_spec: str | None = None
    task_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    actor: Actor | None = None


class Runtime:
    """The engine: configuration, database, definitions and the commands that change cases."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        clock.install_into_spiffworkflow()
        self.db = make_engine(self.config.database_url)
        self.Session = make_session_factory(self.db)
        self.forms: FormRegistry = CatalogFormRegistry(self.config.forms_dir, self.Session)  # published versions first
        self.services: ServiceRegistry | None = self.config.services
        self.definitions = DefinitionRepository(self.config.workflows_dir, self.forms, self.services or ())
        self.cache = WorkflowCache(self.config.cache_size)
        self.script_engine = make_script_engine()
        self.calendars = CalendarService(self.Session)

    # -- set-up -----------------------------------------------------------------------------
    def init_db(self, actor: str = "sistema") -> list[ProcessDefinition]:
        """Create the tables and deploy every diagram in ``workflows/`` (new versions only)."""
        create_schema(self.db)
        with self.db.begin() as conn:
            backfill_case_parties(conn)
            dashboard_totals.backfill(conn)  # a database from before the Painel's aggregate tables
        with self.Session.begin() as session:
            ensure_default_unit(session, code=self.config.unit)
            return self.definitions.deploy_directory(session, actor)

    # -- commands ---------------------------------------------------------------------------
    def start_case(self, process_id: str, actor: Actor, values: Mapping[str, str] | None = None,
                   files: Mapping[str, UploadedFile] | None = None, unit: str | None = None) -> CaseResult:
        """Start a case on the latest version of ``process_id``.

        With ``values``, the first user task (e.g. the registration form) is completed by
        ``actor`` in the same transaction, so an abandoned or invalid form leaves no case behind.
        """
        case_unit = unit or actor.unit or self.config.unit
        self.calendars.for_unit(case_unit)  # an unknown unit is refused here, before anything is written
        with self.db.connect() as conn, deadline_context(self.calendars, case_unit):
            definition = self.definitions.latest_ref(conn, process_id)
            loaded_spec = self.definitions.spec_by_id(conn, definition.id)
            workflow = BpmnWorkflow(loaded_spec.spec, loaded_spec.subprocess_specs, script_engine=self.script_engine)
            workflow.do_engine_steps()
            first_task = None
            cleaned: dict[str, Any] = {}
            if values is not None:
                first_task = self._single_ready_user_task(workflow)
                self._require_role(actor, first_task)
                cleaned = self._validate(first_task, values, files)
                if actor.is_party and not parties_of(cleaned) & actor.parties:
                    raise PermissionDenied("Você só pode abrir um caso em seu próprio nome (o CPF ou CNPJ do "
                                           "formulário precisa ser o da sua conta).")
            now = clock.now()
            try:
                protocol = next_protocol(conn, case_unit)
                case_id = conn.execute(insert(CASES).values(
                    protocol=protocol, unit=case_unit, definition_id=definition.id, process_id=process_id,
                    title=definition.name, status="aberto", summary={}, data={}, state="", state_format=1,
                    version=0, created_by=actor.username, created_at=now, updated_at=now,
                ).returning(CASES.c.id)).scalar_one()
            except BaseException:
                conn.rollback()
                raise
            loaded = LoadedCase(case_id, protocol, 0, "aberto", definition.name, {}, {}, workflow, {}, {},
                                unit=case_unit)
            changes = [_Change("iniciado", f"Caso iniciado: {definition.name} (versão {definition.version})",
                               details={"definition_version": definition.version})]
            if first_task is not None:
                changes.append(self._run_user_task(conn, loaded, first_task, actor, cleaned, files))
            return self._commit(conn, loaded, actor, changes)

    def claim(self, case_id: int, task_id: str, actor: Actor) -> None:
        """Take an open task from the role queue into ``actor``'s own list."""
        with self.db.begin() as conn:
            open_task = self._open_task(conn, case_id, task_id)
            if not may_work_on(conn, case_id, actor, open_task.role):
                raise PermissionDenied(f"A tarefa '{open_task.title}' é do papel '{open_task.role}', "
                                       "que você não tem.")
            if open_task.assignee == actor.username:
                return
            claimed = conn.execute(
                update(OPEN_TASKS).where(OPEN_TASKS.c.id == open_task.id, OPEN_TASKS.c.assignee.is_(None))
                .values(assignee=actor.username)
            ).rowcount
            if not claimed:
                holder = conn.scalar(select(OPEN_TASKS.c.assignee).where(OPEN_TASKS.c.id == open_task.id))
                raise ConflictError(f"A tarefa '{open_task.title}' já foi assumida por {holder or 'outra pessoa'}.")
            dashboard_totals.holder_changed(conn, case_id, task_id, None, actor.username)
            self._write_audit(conn, case_id, actor, [_Change(
                "tarefa_assumida", f"Tarefa assumida: {open_task.title}", open_task.spec_name, task_id)])

    def release(self, case_id: int, task_id: str, actor: Actor) -> None:
        """Give an assigned task back to its role queue (its assignee or a manager)."""
        with self.db.begin() as conn:
            open_task = self._open_task(conn, case_id, task_id)
            if open_task.assignee is None:
                return
            if open_task.assignee != actor.username and not actor.has_role("gestor"):
                raise PermissionDenied(f"A tarefa '{open_task.title}' está com {open_task.assignee}; "
                                       "só essa pessoa ou um gestor pode liberá-la.")
            conn.execute(update(OPEN_TASKS).where(OPEN_TASKS.c.id == open_task.id).values(assignee=None))
            dashboard_totals.holder_changed(conn, case_id, task_id, open_task.assignee, None)
            self._write_audit(conn, case_id, actor, [_Change(
                "tarefa_liberada", f"Tarefa devolvida à fila: {open_task.title}", open_task.spec_name, task_id,
                {"assignee_anterior": open_task.assignee})])

    def reassign(self, case_id: int, task_id: str, to_username: str | None, actor: Actor, reason: str = "") -> None:
        """A manager gives an open task to someone with its role (or back to the queue: ``None``)."""
        if not actor.has_role("gestor"):
            raise PermissionDenied("Só um gestor pode redistribuir tarefas.")
        with self.db.begin() as conn:
            open_task = self._open_task(conn, case_id, task_id)
            if to_username is not None:
                person = conn.execute(select(USERS.c.username, USERS.c.full_name, USERS.c.roles, USERS.c.active)
                                      .where(USERS.c.username == to_username)).first()
                if person is None or not person.active:
                    raise NotFound(f"Pessoa “{to_username}” não encontrada ou inativa.")
                roles = set((person.roles or "").split())
                if open_task.role not in roles and "admin" not in roles:
                    raise PermissionDenied(f"{person.full_name} não tem o papel “{open_task.role}” exigido pela "
                                           f"tarefa “{open_task.title}”.")
            if open_task.assignee == to_username:
                return
            conn.execute(update(OPEN_TASKS).where(OPEN_TASKS.c.id == open_task.id).values(assignee=to_username))
            dashboard_totals.holder_changed(conn, case_id, task_id, open_task.assignee, to_username)
            target = to_username or f"fila de {open_task.role}"
            self._write_audit(conn, case_id, actor, [_Change(
                "tarefa_redistribuida", f"Tarefa “{open_task.title}” redistribuída para {target}"
                + (f": {reason.strip()}" if reason and reason.strip() else ""), open_task.spec_name, task_id,
                {"de": open_task.assignee, "para": to_username, "motivo": reason})])

    def complete_task(self, case_id: int, task_id: str, actor: Actor, values: Mapping[str, str],
                      files: Mapping[str, UploadedFile] | None = None) -> CaseResult:
        """Complete a user task with a form submission (validated here, on the server).

        Raises :class:`InvalidSubmission` (nothing saved, the typed values kept in the result),
        :class:`TaskNotOpen` / :class:`ConflictError` when someone else got there first, and
        :class:`PermissionDenied` when the task is not this person's to complete.
        """
        with self.db.connect() as conn:
            row = conn.execute(_TASK_FOR_COMPLETION, {"task_id": task_id}).first()
            if row is None or row.case_id != case_id:
                raise TaskNotOpen(self._already_done_message(conn, case_id, task_id, None))
            if row.assignee and row.assignee != actor.username:
                raise PermissionDenied(f"A tarefa '{row.title}' está com {row.assignee}. "
                                       "Peça para liberá-la antes de concluir.")
            if not may_work_on(conn, case_id, actor, row.role):
                raise PermissionDenied(f"A tarefa '{row.title}' é do papel '{row.role}', que você não tem.")
            loaded = self._checkout(conn, case_id, row.version)
            try:
                try:
                    task = loaded.workflow.get_task_from_id(UUID(task_id))
                except (WorkflowException, ValueError) as error:
                    raise NotFound("Tarefa não encontrada neste caso.") from error
                if task.state != TaskState.READY or not isinstance(task.task_spec, UserTask):
                    raise TaskNotOpen(self._already_done_message(conn, case_id, task_id, row.title))
                cleaned = self._validate(task, values, files)
            except EngineError:
                self.cache.put(loaded)  # nothing was changed: keep the workflow deserialized
                raise
            with deadline_context(self.calendars, loaded.unit):
                change = self._run_user_task(conn, loaded, task, actor, cleaned, files)
                return self._commit(conn, loaded, actor, [change])

    def complete_service_task(self, job_id: int, result: Mapping[str, Any], worker: str = "sistema") -> CaseResult:
        """Complete a service task with what its handler returned (merged into the case data)."""
        with self.db.connect() as conn:
            job = conn.execute(_JOB, {"job_id": job_id}).first()
            if job is None:
                raise NotFound(f"Serviço {job_id} não encontrado.")
            if job.status == "concluido":
                raise TaskNotOpen(f"O serviço “{job.title}” já foi concluído.")
            version = conn.scalar(_CASE_VERSION, {"case_id": job.case_id})
            loaded = self._checkout(conn, job.case_id, version)
            task = loaded.workflow.get_task_from_id(UUID(job.task_id))
            if task.state != TaskState.READY:
                conn.rollback()
                self.cache.put(loaded)
                raise TaskNotOpen(f"O serviço “{job.title}” não está mais aguardando.")
            with deadline_context(self.calendars, loaded.unit):
                task.set_data(**dict(result))
                task.run()
                change = _Change("servico_concluido", f"Serviço concluído: {job.title}", job.spec_name, job.task_id,
                                 {"servico": job.topic, "tentativas": job.attempts + 1, "resultado": dict(result),
                                  "worker": worker})
                return self._commit(conn, loaded, SYSTEM, [change])

    def retry_incident(self, job_id: int, actor: Actor) -> None:
        """Put a service task that stopped on an incident back in the worker's queue (admins)."""
        if not actor.has_role("admin"):
            raise PermissionDenied("Só um administrador pode reprocessar um serviço com incidente.")
        with self.db.begin() as conn:
            job = conn.execute(_JOB, {"job_id": job_id}).first()
            if job is None:
                raise NotFound(f"Serviço {job_id} não encontrado.")
            if job.status != "incidente":
                raise ConflictError(f"O serviço “{job.title}” não está com incidente (situação: {job.status}).")
            now = clock.now()
            conn.execute(update(JOBS).where(JOBS.c.id == job_id, JOBS.c.status == "incidente").values(
                status="pendente", attempts=0, next_attempt_at=now, incident_at=None, locked_by=None,
                locked_until=None))
            self._write_audit(conn, job.case_id, actor, [_Change(
                "incidente_reprocessado", f"Serviço reenviado para execução: {job.title}", job.spec_name, job.task_id,
                {"erro_anterior": job.last_error or ""})], now)

    def fire_due_timers(self, limit: int = 100) -> int:
        """Fire the BPMN timers whose due time has passed; returns how many cases advanced.

        A case changed concurrently is skipped and picked up by the next call.
        """
        with self.db.connect() as conn:
            case_ids = list(conn.scalars(_DUE_CASES, {"now": clock.now(), "limit": limit}))
        advanced = 0
        for case_id in case_ids:
            try:
                advanced += self._fire_case_timers(case_id)
            except ConflictError:
                continue
            except ProcedureError as error:  # one broken diagram must not stop every other case's timers
                self._report_procedure_error(case_id, str(error))
        return advanced

    def _report_procedure_error(self, case_id: int, message: str) -> None:
        """Tell the admins once (an unread notice per case) that a case is stuck on its diagram."""
        with self.db.begin() as conn:
            already = conn.scalar(select(NOTIFICATIONS.c.id).where(
                NOTIFICATIONS.c.case_id == case_id, NOTIFICATIONS.c.kind == "erro_procedimento",
                NOTIFICATIONS.c.read_at.is_(None)).limit(1))
            if already is None:
                conn.execute(insert(NOTIFICATIONS).values(
                    case_id=case_id, role="admin", kind="erro_procedimento", message=message[:500],
                    created_at=clock.now()))

    def recalculate_deadlines(self, unit: str | None, reason: str, actor: Actor) -> int:
        """Count the pending deadlines of ``unit`` (every unit: ``None``) again on the current calendar.

        Run after a closure or a suspension of deadlines is added or removed: a deadline whose
        last day moved gets its new due date (timer, task and projection), and the audit trail of
        its case says from when to when and why. Returns how many deadlines moved.
        """
        query = (select(DEADLINES.c.case_id).distinct()
                 .where(DEADLINES.c.fired_at.is_(None), DEADLINES.c.met_at.is_(None),
                        DEADLINES.c.legal_kind.is_not(None)))
        if unit is not None:
            query = query.where(DEADLINES.c.unit == unit)
        with self.db.connect() as conn:
            case_ids = sorted(conn.scalars(query))
        moved = 0
        for case_id in case_ids:
            for _attempt in range(3):
                try:
                    moved += self._recalculate_case(case_id, reason, actor)
                    break
                except ConflictError:
                    continue  # someone changed the case meanwhile: count again on the fresh state
        return moved

    def _recalculate_case(self, case_id: int, reason: str, actor: Actor) -> int:
        with self.db.connect() as conn:
            version = conn.scalar(_CASE_VERSION, {"case_id": case_id})
            if version is None:
                return 0
            loaded = self._checkout(conn, case_id, version)
            calendar = self.calendars.for_unit(loaded.unit)
            changes: list[_Change] = []
            for task_id, pending in loaded.pending_timers.items():
                if not (pending.legal_kind and pending.mode and pending.days is not None and pending.starts_at):
                    continue
                rule = DeadlineRule(pending.legal_kind, pending.days, pending.mode, pending.legal_basis)
                new_due = calendar.due_at(pending.starts_at, rule)
                if new_due == pending.due_at:
                    continue
                task = loaded.workflow.get_task_from_id(UUID(task_id))
                if pending.kind == "legal":
                    task._set_internal_data(event_value=new_due.isoformat(), event_fired=False)
                else:
                    task._set_internal_data(sla_due=new_due.isoformat())
                counted = dict(task._get_internal_data("prazo") or {})
                counted["due_at"] = new_due.isoformat()
                task._set_internal_data(prazo=counted)
                old_day = pending.due_at.astimezone(AGENCY_TZ).strftime("%d/%m/%Y")
                new_day = new_due.astimezone(AGENCY_TZ).strftime("%d/%m/%Y")
                changes.append(_Change(
                    "prazo_recalculado", f"{pending.name}: vencimento passou de {old_day} para {new_day} ({reason})",
                    pending.spec_name, task_id, {"de": pending.due_at.isoformat(), "para": new_due.isoformat(),
                                                 "motivo": reason}))
            if not changes:
                conn.rollback()
                self.cache.put(loaded)
                return 0
            with deadline_context(self.calendars, loaded.unit):
                self._commit(conn, loaded, actor, changes)
            return len(changes)

    # -- reading without changing -----------------------------------------------------------
    def form_for(self, open_task: OpenTask | TaskInfo) -> FormDefinition:
        if not open_task.form_key:
            raise NotFound(f"A tarefa '{open_task.title}' não tem formulário.")
        return self.forms.get(open_task.form_key)

    def first_form(self, process_id: str) -> tuple[FormDefinition, str]:
        """The form of the first user task of a process (the start form) and that task's name."""
        with self.db.connect() as conn:
            definition = self.definitions.latest_ref(conn, process_id)
            loaded = self.definitions.spec_by_id(conn, definition.id)
        workflow = BpmnWorkflow(loaded.spec, loaded.subprocess_specs, script_engine=self.script_engine)
        workflow.do_engine_steps()
        task = self._single_ready_user_task(workflow)
        return self.forms.get(task.task_spec.extensions["formKey"]), task.task_spec.bpmn_name or ""

    def form_order(self, definition: ProcessDefinition) -> list[str]:
        """The form keys of a process's user tasks in diagram order (to show case data in order)."""
        with self.db.connect() as conn:
            spec = self.definitions.spec_by_id(conn, definition.id).spec
        keys = [t.extensions.get("formKey") for t in spec.task_specs.values() if isinstance(t, UserTask)]
        return list(dict.fromkeys(k for k in keys if k))

    # -- internals --------------------------------------------------------------------------
    def _fire_case_timers(self, case_id: int) -> bool:
        """Let SpiffWorkflow fire the case's due timers; write only if one actually went off.

        The due deadline rows are claimed first (``FOR UPDATE SKIP LOCKED`` on PostgreSQL): a
        second worker on the same case skips it instead of waiting, and the version check makes
        a double firing impossible even without the lock (SQLite).
        """
        with self.db.connect() as conn:
            if conn.dialect.name == "postgresql":
                # A firing is re-run if lost, so it need not wait for the WAL flush: atomicity is
                # kept (all or nothing), only the last few milliseconds could be redone after a crash.
                conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
            # Lock order: the case row first, then its deadline rows — the order a person's command
            # writes them in — so a timer and a person acting at once never deadlock.
            version = conn.scalar(_CLAIM_CASE, {"case_id": case_id})
            if version is None:
                conn.rollback()
                return False  # a person's command holds the case now: the next round retries
            if not conn.execute(_CLAIM_DUE_TIMERS, {"case_id": case_id, "now": clock.now()}).first():
                conn.rollback()
                return False  # fired already, or another worker holds it
            loaded = self._checkout(conn, case_id, version)
            with deadline_context(self.calendars, loaded.unit):
                loaded.workflow.refresh_timers()
                legal = {k for k, t in loaded.pending_timers.items() if t.kind == "legal"}
                if legal <= waiting_timers(loaded.workflow).keys():
                    conn.rollback()
                    self.cache.put(loaded)  # nothing changed: the cached copy is still this version
                    return False
                self._commit(conn, loaded, SYSTEM, [])
            return True

    def _open_task(self, conn: Connection, case_id: int, task_id: str) -> Any:
        open_task = conn.execute(_OPEN_TASK, {"task_id": task_id}).first()
        if open_task is None or open_task.case_id != case_id:
            raise TaskNotOpen(self._already_done_message(conn, case_id, task_id, None))
        return open_task

    @staticmethod
    def _already_done_message(conn: Connection, case_id: int, task_id: str, title: str | None) -> str:
        event = conn.execute(_LAST_COMPLETION, {"case_id": case_id, "task_id": task_id}).first()
        if event is None:
            fired = conn.execute(_LAST_FIRED, {"case_id": case_id}).first()
            if fired is not None:
                when = fired.at.astimezone(AGENCY_TZ).strftime("%d/%m/%Y %H:%M")
                return (f"Esta tarefa não está mais aberta: {fired.description.removeprefix('Prazo vencido: ')} "
                        f"venceu e o caso seguiu adiante em {when}. Nada do que você enviou foi gravado.")
            return "Esta tarefa não está mais aberta."
        when = event.at.astimezone(AGENCY_TZ).strftime("%d/%m/%Y %H:%M")
        who = (event.details or {}).get("actor_name") or event.actor
        what = f"A tarefa '{title}'" if title else "Esta tarefa"
        return f"{what} já foi concluída por {who} em {when}. Nada do que você enviou foi gravado."

    def _checkout(self, conn: Connection, case_id: int, version: int) -> LoadedCase:
        """The case at ``version``: from the cache, or deserialized with its projections."""
        loaded = self.cache.take(case_id, version)
        if loaded is not None:
            return loaded
        case = conn.execute(_CASE, {"case_id": case_id}).first()
        if case is None:
            raise NotFound(f"Caso {case_id} não encontrado.")
        spec = self.definitions.spec_by_id(conn, case.definition_id)
        workflow = load_state(case.state, spec.spec, spec.subprocess_specs)
        workflow.script_engine = self.script_engine
        open_dues = {row.task_id: row.due_at for row in conn.execute(_OPEN_TASK_IDS, {"case_id": case_id})}
        open_jobs = set(conn.scalars(_OPEN_JOB_IDS, {"case_id": case_id}))
        pending = {d.task_id: TimerInfo(d.task_id, d.spec_name, d.name, d.attached_to, d.due_at, d.kind,
                                        d.legal_kind, d.legal_basis, d.days, d.mode, d.starts_at)
                   for d in conn.execute(_PENDING_DEADLINES, {"case_id": case_id})}
        return LoadedCase(case.id, case.protocol, case.version, case.status, case.title, dict(case.data or {}),
                          dict(case.summary or {}), workflow, open_dues, pending, case.closed_at, case.outcome,
                          case.unit, open_jobs)

    @staticmethod
    def _single_ready_user_task(workflow: BpmnWorkflow) -> Task:
        ready = [t for t in workflow.get_tasks(state=TaskState.READY) if isinstance(t.task_spec, UserTask)]
        if len(ready) != 1:
            raise EngineError("O processo não começa com exatamente uma tarefa de usuário.")
        return ready[0]

    @staticmethod
    def _require_role(actor: Actor, task: Task) -> None:
        groups = task.task_spec.extensions.get("candidateGroups") or ""
        roles = [g.strip() for g in groups.split(",") if g.strip()] or [task_role(task.task_spec)]
        if not any(actor.may_perform(role) for role in roles):
            raise PermissionDenied(f"A tarefa '{task.task_spec.bpmn_name}' é do papel '{roles[0]}', "
                                   "que você não tem.")

    def _validate(self, task: Task, values: Mapping[str, str], files: Mapping[str, UploadedFile] | None
                  ) -> dict[str, Any]:
        form = self.forms.get(task.task_spec.extensions["formKey"])
        result = validate_submission(form, values, files or {})
        if not result.ok:
            raise InvalidSubmission(result)
        return result.data

    def _run_user_task(self, conn: Connection, loaded: LoadedCase, task: Task, actor: Actor,
                       cleaned: dict[str, Any], files: Mapping[str, UploadedFile] | None) -> _Change:
        data = dict(cleaned)
        if files:
            form = self.forms.get(task.task_spec.extensions["formKey"])
            for form_field in form.fields:
                upload = files.get(form_field.name) if form_field.type == "file" else None
                if upload is None:
                    continue
                row = Attachment.from_upload(upload, loaded.case_id, actor.username)
                try:
                    row.id = conn.execute(insert(ATTACHMENTS).values(
                        sha256=row.sha256, filename=row.filename, content_type=row.content_type, size=row.size,
                        data=row.data, case_id=row.case_id, uploaded_by=row.uploaded_by, created_at=row.created_at,
                    ).returning(ATTACHMENTS.c.id)).scalar_one()
                except BaseException:
                    conn.rollback()
                    raise
                data[form_field.name] = row.reference()
        task.set_data(**data)
        try:
            task.run()
        except WorkflowException as error:
            conn.rollback()
            raise ProcedureError(_procedure_failure(task, error)) from error
        return _Change("tarefa_concluida", f"Tarefa concluída: {task.task_spec.bpmn_name}", task.task_spec.name,
                       str(task.id), {"dados": data, "actor_name": actor.display_name})

    def _commit(self, conn: Connection, loaded: LoadedCase, actor: Actor, changes: list[_Change]) -> CaseResult:
        """Run the engine, then write the case and the projection rows that changed, in one commit."""
        workflow = loaded.workflow
        automatic: list[str] = []

        def record(task: Task) -> None:
            spec = task.task_spec
            if getattr(spec, "bpmn_name", None) and isinstance(spec, ScriptTask | ServiceTask):
                automatic.append(spec.bpmn_name)

        try:
            try:
                workflow.do_engine_steps(did_complete_task=record)
            except WorkflowException as error:
                raise ProcedureError(_procedure_failure(getattr(error, "task", None), error)) from error
            for _round in range(10):
                # do_engine_steps ends by refreshing timers: one already due is now READY but not
                # yet run (e.g. a deadline recounted into the past). Run it now, in this commit.
                if not any(t.state == TaskState.READY and not t.task_spec.manual for t in workflow.tasks.values()):
                    break
                workflow.do_engine_steps(did_complete_task=record)
            now = clock.now()
            scanned = scan(workflow)
            self._evaluate_slas(scanned)
            data = current_data(workflow, scanned)
            summary, title = loaded.summary, loaded.title
            if data != loaded.data:
                summary = summary_of(data, loaded.summary)
                if summary != loaded.summary:
                    title = case_title(summary) or title
            timers = {**waiting_timers(workflow, scanned), **sla_deadlines(workflow, scanned)}
            ready = ready_user_tasks(workflow, loaded.case_id, timers, scanned)
            status, closed_at, case_outcome = loaded.status, loaded.closed_at, loaded.outcome
            if workflow.completed and status != "encerrado":
                status, closed_at, case_outcome = "encerrado", now, outcome(workflow)
            params: dict[str, Any] = {"b_id": loaded.case_id, "b_version": loaded.version,
                                      "version": loaded.version + 1, "state": dump_state(workflow), "updated_at": now}
            if (data, summary, title, status) == (loaded.data, loaded.summary, loaded.title, loaded.status):
                statement = _UPDATE_CASE_STATE  # only the state moved: write only that
            else:
                statement = _UPDATE_CASE
                params.update(data=data, summary=summary, title=title, status=status, closed_at=closed_at,
                              outcome=case_outcome)
            # The version check comes first: a concurrent command loses here, before touching anything else.
            if conn.execute(statement, params).rowcount != 1:
                raise _StaleCase()
            if data != loaded.data:
                write_case_parties(conn, loaded.case_id, data, loaded.data)
            dash_before = dashboard_totals.pending_snapshot(conn, loaded.case_id)  # the Painel's aggregates
            for fired in self._write_deadlines(conn, loaded, timers, now):
                changes.append(_Change("prazo_vencido", f"Prazo vencido: {fired.name}", fired.spec_name,
                                       fired.task_id, {"due_at": fired.due_at.isoformat()}, actor=SYSTEM))
            self._write_open_tasks(conn, loaded, ready, now)
            jobs = ready_jobs(scanned)
            self._write_jobs(conn, loaded, jobs, now)
            if automatic:
                changes.append(_Change("etapas_automaticas", "Etapas automáticas: " + "; ".join(automatic),
                                       details={"etapas": automatic}))
            if status == "encerrado" and loaded.status != "encerrado":
                changes.append(_Change("encerrado", case_outcome or "Caso encerrado"))
            self._write_audit(conn, loaded.case_id, actor, changes, now)
            dashboard_totals.record_commit(conn, loaded.case_id, dash_before, changes, actor, now)
            conn.commit()
        except (_StaleCase, IntegrityError):
            conn.rollback()
            raise ConflictError(self._conflict_message(conn, loaded, changes)) from None
        except OperationalError as error:
            conn.rollback()
            if "deadlock" not in str(error).lower():
                raise
            raise ConflictError("Outra operação alterou este caso ao mesmo tempo. Nada foi gravado; "
                                "tente de novo.") from None
        except BaseException:
            conn.rollback()
            raise
        loaded.version += 1
        loaded.status, loaded.closed_at, loaded.outcome = status, closed_at, case_outcome
        loaded.data, loaded.summary, loaded.title = data, summary, title
        loaded.open_task_dues = {task_id: task.due_at for task_id, task in ready.items()}
        loaded.pending_timers = timers
        loaded.open_job_ids = set(jobs)
        self.cache.put(loaded)
        return CaseResult(loaded.case_id, loaded.protocol, loaded.version, status, list(ready.values()))

    def _conflict_message(self, conn: Connection, loaded: LoadedCase, changes: list[_Change]) -> str:
        task_ids = [c.task_id for c in changes if c.action == "tarefa_concluida" and c.task_id]
        if task_ids and conn.execute(_OPEN_TASK, {"task_id": task_ids[0]}).first() is None:
            message = self._already_done_message(conn, loaded.case_id, task_ids[0], None)
        else:
            message = ("Outra pessoa alterou este caso ao mesmo tempo que você. Nada do que você enviou foi "
                       "gravado; recarregue a página e confira.")
        conn.rollback()
        return message

    def _evaluate_slas(self, scanned: Any) -> None:
        """Evaluate ``camunda:dueDate`` once, when a user task becomes ready (its internal SLA)."""
        for task in scanned.ready:
            expression = task.task_spec.extensions.get("dueDate")
            if expression and task._get_internal_data("sla_due") is None:
                value = self.script_engine.evaluate(task, expression)
                task._set_internal_data(sla_due=value.isoformat() if hasattr(value, "isoformat") else str(value))

    @staticmethod
    def _write_deadlines(conn: Connection, loaded: LoadedCase, timers: dict[str, TimerInfo],
                         now: Any) -> list[TimerInfo]:
        """Insert new deadlines, move the ones whose due date changed, and close the ones that are
        gone: a timer that went off is "vencido"; a cancelled timer or a finished task is "cumprido"
        (an SLA finished late is "cumprido_com_atraso")."""
        fired = []
        for task_id, timer in loaded.pending_timers.items():
            if task_id in timers:
                if timers[task_id].due_at != timer.due_at:
                    conn.execute(_MOVE_DEADLINE, {"b_task_id": task_id, "due_at": timers[task_id].due_at})
                continue
            task = _find_task(loaded.workflow, UUID(task_id))
            if task is not None:
                went_off = timer.kind == "legal" and task.state == TaskState.COMPLETED
            else:  # its call activity finished and was removed: a timer past due went off
                went_off = timer.kind == "legal" and now > timer.due_at
            if went_off:
                outcome_text = "vencido"
            elif timer.kind == "interno" and task is not None and task.state != TaskState.COMPLETED:
                outcome_text = "cancelado"  # the task was cancelled (e.g. by a timer), not done
            elif timer.kind == "interno" and now > timer.due_at:
                outcome_text = "cumprido_com_atraso"
            else:
                outcome_text = "cumprido"
            conn.execute(_CLOSE_DEADLINE, {"b_task_id": task_id, "fired_at": now if went_off else None,
                                           "met_at": None if went_off else now, "outcome": outcome_text})
            if went_off:
                fired.append(timer)
        new = [t for task_id, t in timers.items() if task_id not in loaded.pending_timers]
        if new:
            conn.execute(insert(DEADLINES), [
                {"case_id": loaded.case_id, "task_id": t.task_id, "spec_name": t.spec_name, "name": t.name,
                 "attached_to": t.attached_to, "kind": t.kind, "legal_kind": t.legal_kind,
                 "legal_basis": t.legal_basis or "", "days": t.days, "mode": t.mode, "unit": loaded.unit,
                 "starts_at": t.starts_at or now, "due_at": t.due_at, "fired_at": None, "met_at": None,
                 "warned_at": None, "escalated_at": None, "outcome": None}
                for t in new])
        return fired

    @staticmethod
    def _write_open_tasks(conn: Connection, loaded: LoadedCase, ready: dict[str, TaskInfo], now: Any) -> None:
        known = loaded.open_task_dues
        gone = known.keys() - ready.keys()
        if gone:
            conn.execute(_DELETE_OPEN_TASKS, {"task_ids": sorted(gone)})
        new = [t for task_id, t in ready.items() if task_id not in known]
        if new:
            conn.execute(insert(OPEN_TASKS), [
                {"case_id": t.case_id, "task_id": t.task_id, "spec_name": t.spec_name, "title": t.title,
                 "role": t.role, "assignee": t.assignee, "form_key": t.form_key, "due_at": t.due_at,
                 "created_at": now} for t in new])
        for task_id, task in ready.items():
            if task_id in known and known[task_id] != task.due_at:
                conn.execute(_MOVE_OPEN_TASK, {"b_task_id": task_id, "due_at": task.due_at})

    @staticmethod
    def _write_jobs(conn: Connection, loaded: LoadedCase, jobs: dict[str, Any], now: Any) -> None:
        """The outbox: a service task that became ready is a job for the worker; a finished one is closed."""
        gone = loaded.open_job_ids - jobs.keys()
        if gone:
            conn.execute(_CLOSE_JOBS, {"task_ids": sorted(gone), "now": now})
        new = [job for task_id, job in jobs.items() if task_id not in loaded.open_job_ids]
        if new:
            conn.execute(insert(JOBS), [
                {"case_id": loaded.case_id, "task_id": j.task_id, "spec_name": j.spec_name, "title": j.title,
                 "topic": j.topic, "unit": loaded.unit, "payload": j.payload, "status": "pendente", "attempts": 0,
                 "next_attempt_at": now, "created_at": now} for j in new])

    @staticmethod
    def _write_audit(conn: Connection, case_id: int, actor: Actor, changes: list[_Change], now: Any = None) -> None:
        if not changes:
            return
        at = now or clock.now()
        conn.execute(insert(AUDIT), [
            {"case_id": case_id, "at": at, "actor": (c.actor or actor).username, "action": c.action,
             "task_spec": c.task_spec, "task_id": c.task_id, "description": c.description[:500],
             "details": c.details} for c in changes])


def _procedure_failure(task: Any, error: Exception) -> str:
    step = getattr(getattr(task, "task_spec", None), "bpmn_name", None) or "uma etapa automática"
    return (f"O procedimento falhou ao executar “{step}”: {error}. Nada foi gravado; avise o analista de "
            "processos para corrigir o diagrama.")


def case_title(summary: dict[str, Any]) -> str | None:
    """"Consumer × supplier" for a complaint; the supplier alone where there is no consumer."""
    consumer, supplier = summary.get("consumidor_nome"), summary.get("fornecedor_nome")
    if consumer and supplier:
        return f"{consumer} × {supplier}"[:300]
    return str(supplier)[:300] if supplier else None


def _find_task(workflow: BpmnWorkflow, task_id: UUID) -> Task | None:
    """A task of the workflow or of any running call activity / subprocess."""
    for candidate in (workflow, *workflow.subprocesses.values()):
        task = candidate.tasks.get(task_id)
        if task is not None:
            return task
    return None


class _StaleCase(Exception):
    """The case's version changed between reading and writing."""
