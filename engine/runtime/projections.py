"""What a workflow looks like from outside: its open user tasks, waiting timers, data and outcome.

Pure functions over a SpiffWorkflow instance; :mod:`engine.runtime` compares their result with
what the database already holds and writes only the difference.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from engine.modeling.parsing import ExternalServiceTask
from engine.roles import role_for_lane

#: Fields of a complaint copied into ``cases.summary`` for lists and titles.
SUMMARY_FIELDS = ("consumidor_nome", "consumidor_cpf", "fornecedor_nome", "fornecedor_cnpj")


@dataclass(frozen=True)
class TaskInfo:
    """An open user task as the inbox sees it (mirrors :class:`engine.store.models.OpenTask`)."""

    case_id: int
    task_id: str
    spec_name: str
    title: str
    role: str
    form_key: str | None
    due_at: dt.datetime | None
    assignee: str | None = None


@dataclass(frozen=True)
class TimerInfo:
    """A pending deadline (mirrors :class:`engine.store.models.Deadline`): a BPMN timer waiting to go off
    (``kind`` "legal") or a user task's internal SLA (``kind`` "interno", keyed by the task's id)."""

    task_id: str
    spec_name: str
    name: str
    attached_to: str | None
    due_at: dt.datetime
    kind: str = "legal"
    legal_kind: str | None = None
    legal_basis: str = ""
    days: int | None = None
    mode: str | None = None
    starts_at: dt.datetime | None = None


def _counted(task: Task) -> dict[str, Any]:
    """How a deadline helper counted this task's deadline (see engine.runtime.scripting), if it did."""
    value = task._get_internal_data("prazo")
    return value if isinstance(value, dict) else {}


def _moment(value: Any) -> dt.datetime | None:
    """An ISO string kept in a task's internal data as an aware UTC datetime (naive means UTC)."""
    if not isinstance(value, str):
        return None
    moment = dt.datetime.fromisoformat(value)
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def task_role(task_spec: Any) -> str | None:
    """The role that works a user task: ``camunda:candidateGroups`` first, else its lane."""
    groups = task_spec.extensions.get("candidateGroups")
    if groups:
        return groups.split(",")[0].strip()
    return role_for_lane(task_spec.lane)


def timer_due(task: Task) -> dt.datetime | None:
    """When a waiting timer task goes off (SpiffWorkflow keeps it as an ISO string)."""
    return _moment(task._get_internal_data("event_value"))


@dataclass(frozen=True)
class Scan:
    """One pass over a workflow's tasks: the READY user tasks and the WAITING timers."""

    ready: list[Task]
    timers: list[Task]
    jobs: list[Task]


def scan(workflow: BpmnWorkflow) -> Scan:
    """Walk every task once (top level and subprocesses) instead of one tree iteration per question."""
    ready, timers, jobs = [], [], []
    workflows = [workflow, *workflow.subprocesses.values()]
    for wf in workflows:
        for task in wf.tasks.values():
            state = task.state
            if state == TaskState.READY and isinstance(task.task_spec, UserTask):
                ready.append(task)
            elif state == TaskState.READY and isinstance(task.task_spec, ExternalServiceTask):
                jobs.append(task)
            elif state == TaskState.WAITING:
                spec = task.task_spec
                if isinstance(spec, CatchingEvent) and isinstance(spec.event_definition, TimerEventDefinition):
                    timers.append(task)
    return Scan(ready, timers, jobs)


def waiting_timers(workflow: BpmnWorkflow, scanned: Scan | None = None) -> dict[str, TimerInfo]:
    timers = {}
    for task in (scanned or scan(workflow)).timers:
        spec = task.task_spec
        due = timer_due(task)
        if due is None:
            continue
        siblings = [c for c in task.parent.children if c is not task] if task.parent is not None else []
        attached = next((s.task_spec.name for s in siblings if isinstance(s.task_spec, UserTask)), None)
        counted = _counted(task)
        timers[str(task.id)] = TimerInfo(
            str(task.id), spec.name, spec.bpmn_name or spec.name, attached, due, "legal", counted.get("kind"),
            counted.get("legal_basis", ""), counted.get("days"), counted.get("mode"), _moment(counted.get("starts_at")))
    return timers


def sla_deadlines(workflow: BpmnWorkflow, scanned: Scan | None = None) -> dict[str, TimerInfo]:
    """Internal SLAs (``camunda:dueDate``) of the READY user tasks, once evaluated by the runtime."""
    slas = {}
    for task in (scanned or scan(workflow)).ready:
        due = _moment(task._get_internal_data("sla_due"))
        if due is None:
            continue
        spec = task.task_spec
        counted = _counted(task)
        slas[str(task.id)] = TimerInfo(
            str(task.id), spec.name, f"Prazo interno: {spec.bpmn_name or spec.name}", spec.name, due, "interno",
            counted.get("kind"), counted.get("legal_basis", ""), counted.get("days"), counted.get("mode"),
            _moment(counted.get("starts_at")))
    return slas


def ready_user_tasks(workflow: BpmnWorkflow, case_id: int, timers: dict[str, TimerInfo],
                     scanned: Scan | None = None) -> dict[str, TaskInfo]:
    """READY user tasks; a task's due date is the earliest legal timer attached to it, else its SLA."""
    result = {}
    for task in (scanned or scan(workflow)).ready:
        spec = task.task_spec
        due = None
        if task.parent is not None:
            sibling_ids = {str(c.id) for c in task.parent.children if c is not task}
            dues = [timer.due_at for timer_id, timer in timers.items() if timer_id in sibling_ids]
            due = min(dues) if dues else None
        if due is None:
            due = _moment(task._get_internal_data("sla_due"))
        result[str(task.id)] = TaskInfo(case_id, str(task.id), spec.name, spec.bpmn_name or spec.name,
                                        task_role(spec) or "admin", spec.extensions.get("formKey"), due,
                                        spec.extensions.get("assignee"))
    return result


@dataclass(frozen=True)
class JobInfo:
    """A service task waiting for a worker (mirrors :class:`engine.store.models.ExternalJob`)."""

    task_id: str
    spec_name: str
    title: str
    topic: str
    payload: dict[str, Any]


def ready_jobs(scanned: Scan) -> dict[str, JobInfo]:
    return {str(t.id): JobInfo(str(t.id), t.task_spec.name, t.task_spec.bpmn_name or t.task_spec.name,
                               t.task_spec.extensions.get("topic", t.task_spec.name), dict(t.data))
            for t in scanned.jobs}


def current_data(workflow: BpmnWorkflow, scanned: Scan | None = None) -> dict[str, Any]:
    """The data the next person works on: the single open user task's, else the last task's.

    (``last_task`` alone can be a structural task, e.g. the join that completes after a timer.)
    """
    ready = (scanned or scan(workflow)).ready
    source = ready[0] if len(ready) == 1 else workflow.last_task
    return dict(source.data) if source is not None else {}


def outcome(workflow: BpmnWorkflow) -> str | None:
    """The name of the end event a finished workflow reached."""
    ends = [t for t in workflow.get_tasks(state=TaskState.COMPLETED)
            if isinstance(t.task_spec, EndEvent) and t.workflow is workflow]
    if not ends:
        return None
    return max(ends, key=lambda t: t.last_state_change).task_spec.bpmn_name


def summary_of(data: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    summary = dict(previous)
    for key in SUMMARY_FIELDS:
        if data.get(key):
            summary[key] = data[key]
    return summary
