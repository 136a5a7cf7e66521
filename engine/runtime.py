"""The only way to change a case: ``start_case``, ``claim``, ``release``, ``complete_task`` and
``fire_due_timers``.

Each command is one database transaction, read the way Camunda's command executor reads:
load the case -> take its workflow (from the in-memory cache when the version matches, else
deserialize) -> act -> ``do_engine_steps`` -> serialize -> rewrite the projections that changed ->
write the audit event -> commit. The case row's ``version`` column is an optimistic lock: a
concurrent change makes the commit fail with :class:`ConflictError` and nothing is written.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.script_task import ScriptTask
from SpiffWorkflow.bpmn.specs.mixins.service_task import ServiceTask
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from engine import clock
from engine.actors import SYSTEM, Actor
from engine.db import create_schema, make_engine, make_session_factory
from engine.definitions import DefinitionRepository
from engine.errors import (
    ConflictError,
    EngineError,
    InvalidSubmission,
    NotFound,
    PermissionDenied,
    TaskNotOpen,
)
from engine.forms import FormRegistry, UploadedFile, validate_submission
from engine.models import Attachment, AuditEvent, Case, Deadline, OpenTask, ProcessDefinition
from engine.protocol import AGENCY_TZ, next_protocol
from engine.roles import role_for_lane
from engine.scripting import make_script_engine
from engine.serialization import dump_state, load_state

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Fields of a complaint copied into ``cases.summary`` for lists and titles.
SUMMARY_FIELDS = ("consumidor_nome", "consumidor_cpf", "fornecedor_nome", "fornecedor_cnpj")


@dataclass
class EngineConfig:
    database_url: str | None = None
    workflows_dir: Path = REPO_ROOT / "workflows"
    forms_dir: Path = REPO_ROOT / "forms"
    unit: str = "CAP"
    cache_size: int = 512


@dataclass
class CaseResult:
    """What a command returns: the case after the change and the tasks now open on it."""

    case_id: int
    protocol: str
    version: int
    status: str
    open_tasks: list[OpenTask] = field(default_factory=list)


class WorkflowCache:
    """Recently used workflows, deserialized, keyed by case id and valid for one case version.

    ``take`` removes the entry, so a workflow object is only ever changed by one command at a
    time; ``put`` returns it after a successful commit.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[int, tuple[int, BpmnWorkflow]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, case_id: int, version: int) -> BpmnWorkflow | None:
        with self._lock:
            item = self._items.pop(case_id, None)
        if item is None or item[0] != version:
            return None
        return item[1]

    def put(self, case_id: int, version: int, workflow: BpmnWorkflow) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[case_id] = (version, workflow)
            self._items.move_to_end(case_id)
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


def task_role(task_spec: Any) -> str | None:
    groups = task_spec.extensions.get("candidateGroups")
    if groups:
        return groups.split(",")[0].strip()
    return role_for_lane(task_spec.lane)


def _timer_due(task: Task) -> dt.datetime | None:
    """When a waiting timer task goes off (SpiffWorkflow keeps it as an ISO string)."""
    value = task._get_internal_data("event_value")
    if not isinstance(value, str):
        return None
    moment = dt.datetime.fromisoformat(value)
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


class Runtime:
    """The engine: configuration, database, definitions and the commands that change cases."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        clock.install_into_spiffworkflow()
        self.db = make_engine(self.config.database_url)
        self.Session = make_session_factory(self.db)
        self.forms = FormRegistry(self.config.forms_dir)
        self.definitions = DefinitionRepository(self.config.workflows_dir, self.forms)
        self.cache = WorkflowCache(self.config.cache_size)
        self.script_engine = make_script_engine()

    # -- set-up -----------------------------------------------------------------------------
    def init_db(self, actor: str = "sistema") -> list[ProcessDefinition]:
        """Create the tables and deploy every diagram in ``workflows/`` (new versions only)."""
        create_schema(self.db)
        with self.Session.begin() as session:
            return self.definitions.deploy_directory(session, actor)

    # -- commands ---------------------------------------------------------------------------
    def start_case(self, process_id: str, actor: Actor, values: Mapping[str, str] | None = None,
                   files: Mapping[str, UploadedFile] | None = None, unit: str | None = None) -> CaseResult:
        """Start a case on the latest version of ``process_id``.

        With ``values``, the first user task (e.g. the registration form) is completed by
        ``actor`` in the same transaction, so an abandoned or invalid form leaves no case behind.
        """
        with self.Session() as session:
            definition = self.definitions.latest(session, process_id)
            assert definition is not None
            loaded = self.definitions.spec_for(definition)
            workflow = BpmnWorkflow(loaded.spec, loaded.subprocess_specs, script_engine=self.script_engine)
            workflow.do_engine_steps()
            first_task = None
            if values is not None:
                first_task = self._single_ready_user_task(workflow)
                self._require_role(actor, first_task)
                cleaned = self._validate(first_task, values, files)
            now = clock.now()
            case = Case(
                protocol=next_protocol(session, unit or actor.unit or self.config.unit),
                unit=unit or actor.unit or self.config.unit, definition_id=definition.id,
                process_id=process_id, title=definition.name, state="", created_by=actor.username,
                created_at=now, updated_at=now, summary={}, data={},
            )
            session.add(case)
            session.flush()
            changes = [_Change("iniciado", f"Caso iniciado: {definition.name} (versão {definition.version})",
                               details={"definition_version": definition.version})]
            if first_task is not None:
                changes.append(self._run_user_task(session, case, first_task, actor, cleaned, files))
            return self._finish(session, case, workflow, actor, changes)

    def claim(self, case_id: int, task_id: str, actor: Actor) -> None:
        """Take an open task from the role queue into ``actor``'s own list."""
        with self.Session() as session:
            open_task = self._open_task(session, case_id, task_id)
            if not actor.has_role(open_task.role):
                raise PermissionDenied(f"A tarefa '{open_task.title}' é do papel '{open_task.role}', "
                                       "que você não tem.")
            if open_task.assignee == actor.username:
                return
            claimed = session.execute(
                update(OpenTask).where(OpenTask.id == open_task.id, OpenTask.assignee.is_(None))
                .values(assignee=actor.username)
            ).rowcount
            if not claimed:
                session.rollback()
                raise ConflictError(f"A tarefa '{open_task.title}' já foi assumida por {open_task.assignee}.")
            self._audit(session, case_id, actor, _Change("tarefa_assumida", f"Tarefa assumida: {open_task.title}",
                                                         open_task.spec_name, task_id))
            session.commit()

    def release(self, case_id: int, task_id: str, actor: Actor) -> None:
        """Give an assigned task back to its role queue (its assignee or a manager)."""
        with self.Session() as session:
            open_task = self._open_task(session, case_id, task_id)
            if open_task.assignee is None:
                return
            if open_task.assignee != actor.username and not actor.has_role("gestor"):
                raise PermissionDenied(f"A tarefa '{open_task.title}' está com {open_task.assignee}; "
                                       "só essa pessoa ou um gestor pode liberá-la.")
            previous = open_task.assignee
            open_task.assignee = None
            self._audit(session, case_id, actor, _Change("tarefa_liberada", f"Tarefa devolvida à fila: "
                                                         f"{open_task.title}", open_task.spec_name, task_id,
                                                         {"assignee_anterior": previous}))
            session.commit()

    def complete_task(self, case_id: int, task_id: str, actor: Actor, values: Mapping[str, str],
                      files: Mapping[str, UploadedFile] | None = None) -> CaseResult:
        """Complete a user task with a form submission (validated here, on the server).

        Raises :class:`InvalidSubmission` (nothing saved, the typed values kept in the result),
        :class:`TaskNotOpen` / :class:`ConflictError` when someone else got there first.
        """
        with self.Session() as session:
            case = self._case(session, case_id)
            open_task = self._open_task(session, case_id, task_id)
            if open_task.assignee and open_task.assignee != actor.username:
                raise PermissionDenied(f"A tarefa '{open_task.title}' está com {open_task.assignee}. "
                                       "Peça para liberá-la antes de concluir.")
            workflow = self._checkout(case)
            try:
                task = workflow.get_task_from_id(UUID(task_id))
            except (WorkflowException, ValueError) as error:
                raise NotFound("Tarefa não encontrada neste caso.") from error
            if task.state != TaskState.READY or not isinstance(task.task_spec, UserTask):
                raise TaskNotOpen(self._already_done_message(session, case_id, task_id, open_task.title))
            self._require_role(actor, task)
            cleaned = self._validate(task, values, files)
            change = self._run_user_task(session, case, task, actor, cleaned, files)
            return self._finish(session, case, workflow, actor, [change])

    def fire_due_timers(self, limit: int = 100) -> int:
        """Fire the BPMN timers whose due time has passed; returns how many cases advanced.

        A case changed concurrently is skipped and picked up by the next call.
        """
        now = clock.now()
        with self.Session() as session:
            case_ids = list(session.scalars(
                select(Deadline.case_id).where(Deadline.fired_at.is_(None), Deadline.met_at.is_(None),
                                               Deadline.due_at <= now)
                .group_by(Deadline.case_id).order_by(Deadline.case_id).limit(limit)
            ))
        advanced = 0
        for case_id in case_ids:
            try:
                self._fire_case_timers(case_id)
                advanced += 1
            except ConflictError:
                continue
        return advanced

    # -- reading without changing -----------------------------------------------------------
    def form_for(self, open_task: OpenTask) -> Any:
        if not open_task.form_key:
            raise NotFound(f"A tarefa '{open_task.title}' não tem formulário.")
        return self.forms.get(open_task.form_key)

    def first_form(self, process_id: str) -> tuple[Any, str]:
        """The form of the first user task of a process (the start form) and that task's name."""
        with self.Session() as session:
            definition = self.definitions.latest(session, process_id)
            assert definition is not None
        loaded = self.definitions.spec_for(definition)
        workflow = BpmnWorkflow(loaded.spec, loaded.subprocess_specs, script_engine=self.script_engine)
        workflow.do_engine_steps()
        task = self._single_ready_user_task(workflow)
        return self.forms.get(task.task_spec.extensions["formKey"]), task.task_spec.bpmn_name or ""

    def form_order(self, definition: ProcessDefinition) -> list[str]:
        """The form keys of a process's user tasks in diagram order (to show case data in order)."""
        spec = self.definitions.spec_for(definition).spec
        keys = [t.extensions.get("formKey") for t in spec.task_specs.values() if isinstance(t, UserTask)]
        return list(dict.fromkeys(k for k in keys if k))

    # -- internals --------------------------------------------------------------------------
    def _fire_case_timers(self, case_id: int) -> None:
        with self.Session() as session:
            case = self._case(session, case_id)
            workflow = self._checkout(case)
            workflow.refresh_waiting_tasks()
            self._finish(session, case, workflow, SYSTEM, [])

    def _case(self, session: Session, case_id: int) -> Case:
        case = session.get(Case, case_id)
        if case is None:
            raise NotFound(f"Caso {case_id} não encontrado.")
        return case

    def _open_task(self, session: Session, case_id: int, task_id: str) -> OpenTask:
        open_task = session.scalars(select(OpenTask).where(OpenTask.task_id == task_id)).first()
        if open_task is None or open_task.case_id != case_id:
            raise TaskNotOpen(self._already_done_message(session, case_id, task_id, None))
        return open_task

    def _already_done_message(self, session: Session, case_id: int, task_id: str, title: str | None) -> str:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.case_id == case_id, AuditEvent.task_id == task_id,
                                     AuditEvent.action.in_(("tarefa_concluida", "prazo_vencido")))
            .order_by(AuditEvent.id.desc()).limit(1)
        ).first()
        if event is None:
            return "Esta tarefa não está mais aberta."
        when = event.at.astimezone(AGENCY_TZ).strftime("%d/%m/%Y %H:%M")
        who = event.details.get("actor_name") or event.actor
        what = f"A tarefa '{title}'" if title else "Esta tarefa"
        return f"{what} já foi concluída por {who} em {when}. Nada do que você enviou foi gravado."

    def _checkout(self, case: Case) -> BpmnWorkflow:
        workflow = self.cache.take(case.id, case.version)
        if workflow is None:
            loaded = self.definitions.spec_for(case.definition)
            workflow = load_state(case.state, loaded.spec, loaded.subprocess_specs)
            workflow.script_engine = self.script_engine
        return workflow

    @staticmethod
    def _single_ready_user_task(workflow: BpmnWorkflow) -> Task:
        ready = [t for t in workflow.get_tasks(state=TaskState.READY) if isinstance(t.task_spec, UserTask)]
        if len(ready) != 1:
            raise EngineError("O processo não começa com exatamente uma tarefa de usuário.")
        return ready[0]

    def _require_role(self, actor: Actor, task: Task) -> None:
        role = task_role(task.task_spec)
        if role and not actor.has_role(role):
            raise PermissionDenied(f"A tarefa '{task.task_spec.bpmn_name}' é do papel '{role}', que você não tem.")

    def _validate(self, task: Task, values: Mapping[str, str], files: Mapping[str, UploadedFile] | None
                  ) -> dict[str, Any]:
        form = self.forms.get(task.task_spec.extensions["formKey"])
        result = validate_submission(form, values, files or {})
        if not result.ok:
            raise InvalidSubmission(result)
        return result.data

    def _run_user_task(self, session: Session, case: Case, task: Task, actor: Actor, cleaned: dict[str, Any],
                       files: Mapping[str, UploadedFile] | None) -> _Change:
        data = dict(cleaned)
        form = self.forms.get(task.task_spec.extensions["formKey"])
        for name in [f.name for f in form.fields if f.type == "file"]:
            upload = (files or {}).get(name)
            if upload is None:
                continue
            attachment = Attachment.from_upload(upload, case.id, actor.username)
            session.add(attachment)
            session.flush()
            data[name] = attachment.reference()
        task.set_data(**data)
        task.run()
        return _Change("tarefa_concluida", f"Tarefa concluída: {task.task_spec.bpmn_name}", task.task_spec.name,
                       str(task.id), {"dados": data, "actor_name": actor.display_name})

    def _finish(self, session: Session, case: Case, workflow: BpmnWorkflow, actor: Actor,
                changes: list[_Change]) -> CaseResult:
        automatic: list[str] = []

        def record(task: Task) -> None:
            spec = task.task_spec
            if getattr(spec, "bpmn_name", None) and isinstance(spec, ScriptTask | ServiceTask):
                automatic.append(spec.bpmn_name)

        try:
            workflow.do_engine_steps(did_complete_task=record)
            now = clock.now()
            case.state = dump_state(workflow)
            case.updated_at = now
            self._update_summary(case, workflow)
            fired = self._sync_deadlines(session, case, workflow, now)
            opened = self._sync_open_tasks(session, case, workflow, now)
            for deadline in fired:
                changes.append(_Change("prazo_vencido", f"Prazo vencido: {deadline.name}", deadline.spec_name,
                                       deadline.task_id, {"due_at": deadline.due_at.isoformat()}))
            if automatic:
                changes.append(_Change("etapas_automaticas", "Etapas automáticas: " + "; ".join(automatic),
                                       details={"etapas": automatic}))
            if workflow.completed and case.status != "encerrado":
                case.status = "encerrado"
                case.closed_at = now
                case.outcome = self._outcome(workflow)
                changes.append(_Change("encerrado", case.outcome or "Caso encerrado"))
            for change in changes:
                self._audit(session, case.id, SYSTEM if change.action == "prazo_vencido" else actor, change)
            session.commit()
        except StaleDataError as error:
            session.rollback()
            raise ConflictError("Outra pessoa alterou este caso ao mesmo tempo que você. Nada do que você "
                                "enviou foi gravado; recarregue a página e confira.") from error
        except BaseException:
            session.rollback()
            raise
        self.cache.put(case.id, case.version, workflow)
        return CaseResult(case.id, case.protocol, case.version, case.status, opened)

    @staticmethod
    def _update_summary(case: Case, workflow: BpmnWorkflow) -> None:
        data = workflow.last_task.data if workflow.last_task is not None else {}
        if data != case.data:
            case.data = dict(data)
        summary = dict(case.summary or {})
        changed = False
        for key in SUMMARY_FIELDS:
            if data.get(key) and summary.get(key) != data[key]:
                summary[key] = data[key]
                changed = True
        if changed:
            case.summary = summary
            if summary.get("consumidor_nome") and summary.get("fornecedor_nome"):
                case.title = f"{summary['consumidor_nome']} × {summary['fornecedor_nome']}"[:300]

    @staticmethod
    def _outcome(workflow: BpmnWorkflow) -> str | None:
        ends = [t for t in workflow.get_tasks(state=TaskState.COMPLETED) if isinstance(t.task_spec, EndEvent)
                and t.workflow is workflow]
        if not ends:
            return None
        return max(ends, key=lambda t: t.last_state_change).task_spec.bpmn_name

    def _sync_deadlines(self, session: Session, case: Case, workflow: BpmnWorkflow, now: dt.datetime) -> list[Deadline]:
        waiting: dict[str, tuple[Task, dt.datetime]] = {}
        for task in workflow.get_tasks(state=TaskState.WAITING):
            spec = task.task_spec
            if isinstance(spec, CatchingEvent) and isinstance(spec.event_definition, TimerEventDefinition):
                due = _timer_due(task)
                if due:
                    waiting[str(task.id)] = (task, due)
        existing = {d.task_id: d for d in session.scalars(
            select(Deadline).where(Deadline.case_id == case.id, Deadline.fired_at.is_(None),
                                   Deadline.met_at.is_(None)))}
        fired: list[Deadline] = []
        for task_id, deadline in existing.items():
            if task_id in waiting:
                continue
            task = workflow.tasks.get(UUID(task_id))
            if task is not None and task.state == TaskState.COMPLETED:
                deadline.fired_at, deadline.outcome = now, "vencido"
                fired.append(deadline)
            else:
                deadline.met_at, deadline.outcome = now, "cumprido"
        for task_id, (task, due) in waiting.items():
            if task_id in existing:
                continue
            attached = task.parent.task_spec if task.parent is not None else None
            main = [c for c in (task.parent.children if task.parent else []) if c is not task]
            session.add(Deadline(
                case_id=case.id, task_id=task_id, spec_name=task.task_spec.name,
                name=task.task_spec.bpmn_name or task.task_spec.name,
                attached_to=main[0].task_spec.name if main and attached is not None else None,
                starts_at=now, due_at=due,
            ))
        return fired

    def _sync_open_tasks(self, session: Session, case: Case, workflow: BpmnWorkflow,
                         now: dt.datetime) -> list[OpenTask]:
        ready = {str(t.id): t for t in workflow.get_tasks(state=TaskState.READY, manual=True)
                 if isinstance(t.task_spec, UserTask)}
        existing = {o.task_id: o for o in session.scalars(select(OpenTask).where(OpenTask.case_id == case.id))}
        for task_id, row in existing.items():
            if task_id not in ready:
                session.delete(row)
        session.flush()
        due_by_task: dict[str, Any] = {}
        for deadline_task in workflow.get_tasks(state=TaskState.WAITING):
            spec = deadline_task.task_spec
            if isinstance(spec, CatchingEvent) and isinstance(spec.event_definition, TimerEventDefinition):
                due = _timer_due(deadline_task)
                if due and deadline_task.parent is not None:
                    for sibling in deadline_task.parent.children:
                        if str(sibling.id) in ready:
                            moment = due
                            previous = due_by_task.get(str(sibling.id))
                            due_by_task[str(sibling.id)] = min(previous, moment) if previous else moment
        result = []
        for task_id, task in ready.items():
            row = existing.get(task_id)
            if row is None or row not in session:
                spec = task.task_spec
                row = OpenTask(
                    case_id=case.id, task_id=task_id, spec_name=spec.name, title=spec.bpmn_name or spec.name,
                    role=task_role(spec) or "admin", form_key=spec.extensions.get("formKey"),
                    due_at=due_by_task.get(task_id), created_at=now,
                    assignee=spec.extensions.get("assignee"),
                )
                session.add(row)
            result.append(row)
        return result

    @staticmethod
    def _audit(session: Session, case_id: int, actor: Actor, change: _Change) -> None:
        session.add(AuditEvent(case_id=case_id, at=clock.now(), actor=actor.username, action=change.action,
                               task_spec=change.task_spec, task_id=change.task_id,
                               description=change.description[:500], details=change.details))
