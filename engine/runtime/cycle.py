"""The checkout -> act -> commit cycle every command that changes a case runs in.

Read the way Camunda's command executor reads: read the case's version -> take its workflow (from
the in-memory cache when the version matches, else deserialize) -> act -> ``do_engine_steps`` ->
serialize -> write the case with ``UPDATE ... WHERE version = :read_version`` -> write only the
projection rows that changed and the audit events -> commit. The version check is an optimistic
lock: a concurrent change makes the command fail with :class:`ConflictError` and nothing of it is
written. :class:`CaseCycle` is the base the command families build on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.specs.mixins.script_task import ScriptTask
from SpiffWorkflow.bpmn.specs.mixins.service_task import ServiceTask
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Connection, Engine, insert
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import sessionmaker

from engine import clock
from engine.actors import SYSTEM, Actor
from engine.calendar.service import CalendarService
from engine.dashboard import aggregates as dashboard_totals
from engine.errors import ConflictError, NotFound, ProcedureError
from engine.forms.schema import FormRegistry
from engine.modeling.definitions import DefinitionRepository
from engine.parties.case_parties import write_case_parties
from engine.runtime.cache import LoadedCase, WorkflowCache
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
    waiting_timers,
)
from engine.runtime.statements import (
    CASE,
    CLOSE_DEADLINE,
    CLOSE_JOBS,
    DEADLINES,
    DELETE_OPEN_TASKS,
    JOBS,
    LAST_COMPLETION,
    LAST_FIRED,
    MOVE_DEADLINE,
    MOVE_OPEN_TASK,
    OPEN_JOB_IDS,
    OPEN_TASK,
    OPEN_TASK_IDS,
    OPEN_TASKS,
    PENDING_DEADLINES,
    UPDATE_CASE,
    UPDATE_CASE_STATE,
)
from engine.services import ServiceRegistry
from engine.store import audit_chain
from engine.store.protocol import AGENCY_TZ
from engine.store.serialization import dump_state, load_state

if TYPE_CHECKING:
    from engine.runtime.commands import EngineConfig


@dataclass
class CaseResult:
    """What a command returns: the case after the change and the user tasks now open on it."""

    case_id: int
    protocol: str
    version: int
    status: str
    open_tasks: list[TaskInfo] = field(default_factory=list)


@dataclass
class Change:
    """What a command did, for the audit trail."""

    action: str
    description: str
    task_spec: str | None = None
    task_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    actor: Actor | None = None


class CaseCycle:
    """What every command family shares: the engine's parts (set by :class:`engine.runtime.Runtime`)
    and the cycle's steps."""

    config: EngineConfig
    db: Engine
    Session: sessionmaker[OrmSession]
    forms: FormRegistry
    services: ServiceRegistry | None
    definitions: DefinitionRepository
    cache: WorkflowCache
    script_engine: PythonScriptEngine
    calendars: CalendarService

    def _checkout(self, conn: Connection, case_id: int, version: int) -> LoadedCase:
        """The case at ``version``: from the cache, or deserialized with its projections."""
        loaded = self.cache.take(case_id, version)
        if loaded is not None:
            return loaded
        case = conn.execute(CASE, {"case_id": case_id}).first()
        if case is None:
            raise NotFound(f"Caso {case_id} não encontrado.")
        spec = self.definitions.spec_by_id(conn, case.definition_id)
        workflow = load_state(case.state, spec.spec, spec.subprocess_specs)
        workflow.script_engine = self.script_engine
        open_dues = {row.task_id: row.due_at for row in conn.execute(OPEN_TASK_IDS, {"case_id": case_id})}
        open_jobs = set(conn.scalars(OPEN_JOB_IDS, {"case_id": case_id}))
        pending = {d.task_id: TimerInfo(d.task_id, d.spec_name, d.name, d.attached_to, d.due_at, d.kind,
                                        d.legal_kind, d.legal_basis, d.days, d.mode, d.starts_at)
                   for d in conn.execute(PENDING_DEADLINES, {"case_id": case_id})}
        return LoadedCase(case.id, case.protocol, case.version, case.status, case.title, dict(case.data or {}),
                          dict(case.summary or {}), workflow, open_dues, pending, case.closed_at, case.outcome,
                          case.unit, open_jobs)

    def _commit(self, conn: Connection, loaded: LoadedCase, actor: Actor, changes: list[Change]) -> CaseResult:
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
                raise ProcedureError(procedure_failure(getattr(error, "task", None), error)) from error
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
                statement = UPDATE_CASE_STATE  # only the state moved: write only that
            else:
                statement = UPDATE_CASE
                params.update(data=data, summary=summary, title=title, status=status, closed_at=closed_at,
                              outcome=case_outcome)
            # The version check comes first: a concurrent command loses here, before touching anything else.
            if conn.execute(statement, params).rowcount != 1:
                raise _StaleCase()
            if data != loaded.data:
                write_case_parties(conn, loaded.case_id, data, loaded.data)
            dash_before = dashboard_totals.pending_snapshot(conn, loaded.case_id)  # the Painel's aggregates
            for fired in self._write_deadlines(conn, loaded, timers, now):
                changes.append(Change("prazo_vencido", f"Prazo vencido: {fired.name}", fired.spec_name,
                                      fired.task_id, {"due_at": fired.due_at.isoformat()}, actor=SYSTEM))
            self._write_open_tasks(conn, loaded, ready, now)
            jobs = ready_jobs(scanned)
            self._write_jobs(conn, loaded, jobs, now)
            if automatic:
                changes.append(Change("etapas_automaticas", "Etapas automáticas: " + "; ".join(automatic),
                                      details={"etapas": automatic}))
            if status == "encerrado" and loaded.status != "encerrado":
                changes.append(Change("encerrado", case_outcome or "Caso encerrado"))
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

    def _conflict_message(self, conn: Connection, loaded: LoadedCase, changes: list[Change]) -> str:
        task_ids = [c.task_id for c in changes if c.action == "tarefa_concluida" and c.task_id]
        if task_ids and conn.execute(OPEN_TASK, {"task_id": task_ids[0]}).first() is None:
            message = self._already_done_message(conn, loaded.case_id, task_ids[0], None)
        else:
            message = ("Outra pessoa alterou este caso ao mesmo tempo que você. Nada do que você enviou foi "
                       "gravado; recarregue a página e confira.")
        conn.rollback()
        return message

    @staticmethod
    def _already_done_message(conn: Connection, case_id: int, task_id: str, title: str | None) -> str:
        event = conn.execute(LAST_COMPLETION, {"case_id": case_id, "task_id": task_id}).first()
        if event is None:
            fired = conn.execute(LAST_FIRED, {"case_id": case_id}).first()
            if fired is not None:
                when = fired.at.astimezone(AGENCY_TZ).strftime("%d/%m/%Y %H:%M")
                return (f"Esta tarefa não está mais aberta: {fired.description.removeprefix('Prazo vencido: ')} "
                        f"venceu e o caso seguiu adiante em {when}. Nada do que você enviou foi gravado.")
            return "Esta tarefa não está mais aberta."
        when = event.at.astimezone(AGENCY_TZ).strftime("%d/%m/%Y %H:%M")
        who = (event.details or {}).get("actor_name") or event.actor
        what = f"A tarefa '{title}'" if title else "Esta tarefa"
        return f"{what} já foi concluída por {who} em {when}. Nada do que você enviou foi gravado."

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
                    conn.execute(MOVE_DEADLINE, {"b_task_id": task_id, "due_at": timers[task_id].due_at})
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
            conn.execute(CLOSE_DEADLINE, {"b_task_id": task_id, "fired_at": now if went_off else None,
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
            conn.execute(DELETE_OPEN_TASKS, {"task_ids": sorted(gone)})
        new = [t for task_id, t in ready.items() if task_id not in known]
        if new:
            conn.execute(insert(OPEN_TASKS), [
                {"case_id": t.case_id, "task_id": t.task_id, "spec_name": t.spec_name, "title": t.title,
                 "role": t.role, "assignee": t.assignee, "form_key": t.form_key, "due_at": t.due_at,
                 "created_at": now} for t in new])
        for task_id, task in ready.items():
            if task_id in known and known[task_id] != task.due_at:
                conn.execute(MOVE_OPEN_TASK, {"b_task_id": task_id, "due_at": task.due_at})

    @staticmethod
    def _write_jobs(conn: Connection, loaded: LoadedCase, jobs: dict[str, Any], now: Any) -> None:
        """The outbox: a service task that became ready is a job for the worker; a finished one is closed."""
        gone = loaded.open_job_ids - jobs.keys()
        if gone:
            conn.execute(CLOSE_JOBS, {"task_ids": sorted(gone), "now": now})
        new = [job for task_id, job in jobs.items() if task_id not in loaded.open_job_ids]
        if new:
            conn.execute(insert(JOBS), [
                {"case_id": loaded.case_id, "task_id": j.task_id, "spec_name": j.spec_name, "title": j.title,
                 "topic": j.topic, "unit": loaded.unit, "payload": j.payload, "status": "pendente", "attempts": 0,
                 "next_attempt_at": now, "created_at": now} for j in new])

    @staticmethod
    def _write_audit(conn: Connection, case_id: int, actor: Actor, changes: list[Change], now: Any = None) -> None:
        if not changes:
            return
        at = now or clock.now()
        audit_chain.append(conn, [
            {"case_id": case_id, "at": at, "actor": (c.actor or actor).username, "action": c.action,
             "task_spec": c.task_spec, "task_id": c.task_id, "description": c.description[:500],
             "details": c.details} for c in changes])


def procedure_failure(task: Any, error: Exception) -> str:
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
