"""The workflow cache: recently used cases kept deserialized in memory, each valid for one version."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow

from engine.runtime.projections import TimerInfo


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
