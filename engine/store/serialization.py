"""Stores a case's SpiffWorkflow state without its process definition, and loads it back.

SpiffWorkflow's ``serialize_json`` embeds the whole spec in every instance; here the spec lives
once per deployed definition (:mod:`engine.modeling.definitions`) and is shared by every workflow object.
The stored format carries ``CASE_STATE_FORMAT``; a future change adds a migration to
``MIGRATIONS`` keyed by the old format number.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from engine.store.models import CASE_STATE_FORMAT

#: old format number -> function upgrading the stored dict in place to the next format.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], None]] = {}


class SpecFreeWorkflowConverter(BpmnWorkflowConverter):
    """Workflow converter that leaves the specs out and takes them back as arguments."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        tasks = workflow.tasks
        workflow.tasks = {}  # converted below, reusing what did not change
        try:
            dct = WorkflowConverter.to_dict(self, workflow)
        finally:
            workflow.tasks = tasks
        dct["tasks"] = self._tasks_to_dict(workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def _tasks_to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        """Convert every task, reusing the dict of a finished task whose state has not changed.

        A finished (completed / cancelled) task no longer changes, so its conversion is kept on the
        workflow object between saves: only what changed is converted again.
        """
        memo: dict[Any, tuple[tuple[int, float], dict[str, Any]]] = workflow.__dict__.setdefault(
            "_procon_task_dicts", {})
        result = {}
        for task_id, task in workflow.tasks.items():
            if task.has_state(TaskState.FINISHED_MASK):
                key = (task.state, task.last_state_change)
                hit = memo.get(task_id)
                if hit is None or hit[0] != key:
                    hit = (key, self.registry.convert(task))
                    memo[task_id] = hit
                result[str(task_id)] = hit[1]
            else:
                result[str(task_id)] = self.registry.convert(task)
        return result

    def from_dict(self, dct: dict[str, Any], spec: BpmnProcessSpec | None = None,  # type: ignore[override]
                  subprocess_specs: dict[str, BpmnProcessSpec] | None = None) -> BpmnWorkflow:
        from uuid import UUID

        if spec is None:
            raise ValueError("o estado do caso precisa da definição do processo para ser carregado")
        workflow = self.target_class(spec, subprocess_specs or {}, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _make_registry() -> Any:
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = SpecFreeWorkflowConverter
    return BpmnWorkflowSerializer.configure(config)


_SERIALIZER = BpmnWorkflowSerializer(_make_registry())


def dump_state(workflow: BpmnWorkflow) -> str:
    """The instance state as JSON text (no spec)."""
    registry = _SERIALIZER.registry
    registry._encoder_mode = True
    try:
        dct = registry.convert(workflow)
    finally:
        registry._encoder_mode = False
    dct["format"] = CASE_STATE_FORMAT
    return json.dumps(dct, separators=(",", ":"), ensure_ascii=False, cls=_SERIALIZER._encoder_cls)


def load_state(text: str, spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec]) -> BpmnWorkflow:
    """Rebuild a workflow from :func:`dump_state` output and its (shared) spec."""
    dct = json.loads(text)
    stored_format = dct.pop("format", CASE_STATE_FORMAT)
    while stored_format < CASE_STATE_FORMAT:
        MIGRATIONS[stored_format](dct)
        stored_format += 1
    if stored_format > CASE_STATE_FORMAT:
        raise ValueError(f"estado de caso no formato {stored_format}, mais novo que este programa")
    return _SERIALIZER.registry.restore(dct, spec=spec, subprocess_specs=subprocess_specs)
