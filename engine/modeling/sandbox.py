"""The "Testar" sandbox as the web process sees it: one analyst's test run of a process draft with sample
data on a movable clock, away from real cases — run by a separate process, shown from what it left.

A :class:`Sandbox` is a folder (made by :class:`~engine.modeling.sandbox_manager.SandboxManager`) holding
the draft, the deployed library (for call activities), the forms, a copy of the calendar and the
sandbox's own SQLite file. Every operation that runs the draft — start the test case, complete a task,
move the clock, mark a simulated service done or failed — is one request to a new child process
(:mod:`engine.modeling.sandbox_process`, started by :class:`~engine.modeling.sandbox_runner.SandboxRunner`):
the web process never opens the sandbox's database nor builds the draft's Runtime. Each answer carries
the state the page shows, saved in the folder (``state.json``), so reading — :meth:`Sandbox.view`, the
start form, the diagram — starts no process and runs no draft code.

The sandbox's clock is the real (process) time shifted by how far the analyst moved it
(``offset_seconds`` in ``sandbox.json``); :meth:`Sandbox.running` shows dates on it without leaking
it into other requests. Service tasks are never sent to outside services: the analyst sees what would
be sent and marks each one done (with an optional result) or failed. The analyst plays every lane.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine import clock
from engine.actors import Actor
from engine.errors import NotFound, TaskNotOpen
from engine.forms.schema import FormDefinition, FormRegistry
from engine.forms.submission import UploadedFile
from engine.modeling.sandbox_protocol import (
    MAX_ADVANCE_DAYS,
    SANDBOX_WORKER,
    SandboxError,
    SandboxFailure,
    dumps,
    files_out,
    loads,
    model_from,
    raise_error,
)
from engine.modeling.sandbox_runner import SandboxRunner
from engine.modeling.sandbox_samples import sample_values
from engine.runtime import CaseResult
from engine.runtime.projections import TaskInfo
from engine.store.models import AuditEvent, Case, Deadline, ExternalJob, OpenTask
from engine.store.protocol import AGENCY_TZ

__all__ = ["MAX_ADVANCE_DAYS", "SANDBOX_WORKER", "AdvanceResult", "Sandbox", "SandboxError", "SandboxFailure",
           "SandboxMeta", "SandboxView", "folder_lock"]

#: The file of the folder that holds its :class:`SandboxMeta`.
META_FILE = "sandbox.json"
#: What the last operation left for the page to show.
STATE_FILE = "state.json"
#: When the sandbox was last looked at (written by reads, apart from the meta file they must not rewrite).
USED_FILE = "uso.json"
_GONE = "Este teste foi descartado ou expirou; abra “Testar” de novo."


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


@contextmanager
def folder_lock(directory: Path) -> Iterator[None]:
    """One operation at a time on a sandbox, across threads and web processes (``flock`` on a file
    beside the folders, in ``.locks/``; not re-entrant)."""
    locks = directory.parent / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{directory.name}.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
    #: the draft's file under ``workflows/`` (the diagram the page draws)
    draft_file: str = ""

    def save(self, directory: Path) -> None:
        _write_atomic(directory / META_FILE, json.dumps(asdict(self)))

    @classmethod
    def load(cls, directory: Path) -> SandboxMeta:
        data = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in data.items() if key in known})


def last_used(directory: Path, meta: SandboxMeta) -> dt.datetime:
    """When the sandbox was last used: an operation (meta) or a look at its page, whichever is later."""
    moments = [dt.datetime.fromisoformat(meta.last_used_at)]
    try:
        moments.append(dt.datetime.fromisoformat(json.loads((directory / USED_FILE).read_text(encoding="utf-8"))))
    except (OSError, ValueError, TypeError):
        pass
    return max(moments)


@dataclass
class AdvanceResult:
    """What moving the sandbox clock did."""

    before: dt.datetime
    after: dt.datetime
    fired: list[str] = field(default_factory=list)


@dataclass
class SandboxView:
    """Everything the sandbox page shows (plain objects, never saved anywhere)."""

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
    """One analyst's test run of one draft: its folder, its clock and the child that runs it."""

    def __init__(self, directory: Path, meta: SandboxMeta, actor: Actor, current_hash: Callable[[], str | None],
                 runner: SandboxRunner) -> None:
        self.directory = directory
        self.meta = meta
        self.actor = actor
        self.runner = runner
        self.forms = FormRegistry(directory / "forms")
        self._current_hash = current_hash
        self._state: dict[str, Any] | None = None
        self._lock = threading.RLock()

    # -- clock ----------------------------------------------------------------------------------
    def clock(self) -> dt.datetime:
        """The sandbox's time: the real (process) time shifted by how far the analyst moved it."""
        return clock.process_now() + dt.timedelta(seconds=self.meta.offset_seconds)

    def now(self) -> dt.datetime:
        return self.clock()

    @contextmanager
    def running(self) -> Iterator[Sandbox]:
        """Run a block on this sandbox's clock (this context only), one operation at a time."""
        with self._lock, clock.use_clock(self.clock):
            try:
                yield self
            finally:
                try:
                    _write_atomic(self.directory / USED_FILE, json.dumps(clock.process_now().isoformat()))
                except OSError:
                    pass  # discarded meanwhile

    # -- reading (no process, no draft code) ----------------------------------------------------
    @property
    def process_id(self) -> str:
        return self.meta.process_id

    @property
    def started(self) -> bool:
        return self.meta.case_id is not None

    def _view_state(self) -> dict[str, Any]:
        if self._state is None:
            try:
                self._state = loads((self.directory / STATE_FILE).read_bytes())
            except FileNotFoundError:
                raise SandboxError(_GONE) from None
        return self._state

    def start_form(self) -> tuple[FormDefinition, str]:
        """The start form and its task's name, as the child found them when the test was prepared."""
        start = self._view_state().get("start")
        if start is None:
            raise SandboxError("O caso de teste já começou; use “Reiniciar teste” para começar de novo.")
        if "error" in start:
            raise SandboxError(f"O rascunho não chega à primeira tarefa: {start['error']}")
        return self.forms.get(start["form_key"]), str(start.get("title") or "")

    def sample_values(self, form: FormDefinition) -> dict[str, str]:
        return sample_values(form, self.now().astimezone(AGENCY_TZ).date())

    def form_for(self, task: OpenTask) -> FormDefinition:
        if not task.form_key:
            raise NotFound(f"A tarefa '{task.title}' não tem formulário.")
        return self.forms.get(task.form_key)

    def form_for_task(self, task_id: str) -> tuple[OpenTask, FormDefinition]:
        task = next((t for t in self.view().open_tasks if t.task_id == task_id), None)
        if task is None:
            raise TaskNotOpen("Esta tarefa não está aberta no teste.")
        return task, self.form_for(task)

    def diagram_xml(self) -> str:
        path = self.directory / "workflows" / Path(self.meta.draft_file).name
        if not self.meta.draft_file or not path.is_file():
            raise NotFound("O diagrama do teste não foi encontrado.")
        return path.read_text(encoding="utf-8")

    def view(self) -> SandboxView:
        state = self._view_state()
        stale = self._current_hash() not in (None, self.meta.draft_hash)
        case = model_from(Case, state["case"]) if state.get("case") else None
        return SandboxView(
            self.now(), case, [model_from(OpenTask, row) for row in state.get("open_tasks", ())],
            [model_from(AuditEvent, row) for row in state.get("timeline", ())],
            [model_from(Deadline, row) for row in state.get("deadlines", ())],
            [model_from(ExternalJob, row) for row in state.get("jobs", ())],
            list(state.get("current_elements", ())), list(state.get("done_elements", ())), stale)

    def jobs(self) -> list[ExternalJob]:
        """The case's service tasks waiting (what would be sent) or marked failed."""
        return self.view().jobs

    # -- commands (each one request to the child) -----------------------------------------------
    def start(self, values: Mapping[str, str], files: Mapping[str, UploadedFile] | None = None) -> CaseResult:
        """Start the test case, completing the start form with ``values`` (validated as usual)."""
        return _case_result(self._call("start", values=dict(values), files=files_out(dict(files or {}))))

    def complete(self, task_id: str, values: Mapping[str, str],
                 files: Mapping[str, UploadedFile] | None = None) -> CaseResult:
        """Complete an open task of the test case (form validation applies; every role allowed)."""
        return _case_result(self._call("complete", task_id=task_id, values=dict(values),
                                       files=files_out(dict(files or {}))))

    def complete_job(self, job_id: int, result: Mapping[str, Any] | None = None) -> CaseResult:
        """Mark a simulated service task done; ``result`` is merged into the case data, as a handler's would."""
        return _case_result(self._call("complete_job", job_id=int(job_id), result=dict(result or {})))

    def fail_job(self, job_id: int, message: str) -> None:
        """Mark a simulated service task failed: it becomes an incident, as after the last retry."""
        self._call("fail_job", job_id=int(job_id), message=message)

    def retry_job(self, job_id: int) -> None:
        """Put a job marked failed back to waiting."""
        self._call("retry_job", job_id=int(job_id))

    def advance(self, days: int = 0, business_days: int = 0, until: dt.date | None = None) -> AdvanceResult:
        """Move the sandbox clock forward by calendar days, working days (the unit's calendar) or to
        a date (same time of day), firing every timer that falls due on the way, in due order."""
        result = self._call("advance", days=days, business_days=business_days, until=until)
        return AdvanceResult(result["before"], result["after"], list(result["fired"]))

    def _call(self, op: str, **args: Any) -> Any:
        with self._lock, folder_lock(self.directory):
            try:
                self.meta = SandboxMeta.load(self.directory)  # another process may have moved it
            except FileNotFoundError:
                raise SandboxError(_GONE) from None
            return self.exchange(op, args)

    def exchange(self, op: str, args: dict[str, Any]) -> Any:
        """One request to a new child (the caller holds :func:`folder_lock`); saves what it left."""
        meta = self.meta
        answer = self.runner.call(self.directory, {
            "op": op, "now": clock.process_now(), "offset_seconds": meta.offset_seconds, "case_id": meta.case_id,
            "process_id": meta.process_id, "args": args})
        if answer.get("state") is not None:
            self._state = answer["state"]
            _write_atomic(self.directory / STATE_FILE, dumps(self._state))
        meta.offset_seconds = float(answer.get("offset_seconds") or 0.0)
        meta.case_id = answer.get("case_id")
        meta.last_used_at = clock.process_now().isoformat()
        meta.save(self.directory)
        if not answer["ok"]:
            raise_error(answer.get("error") or {})
        return answer.get("result")

    def close(self) -> None:
        """Nothing stays open between requests (kept for callers that close what they opened)."""


def _case_result(result: dict[str, Any]) -> CaseResult:
    return CaseResult(result["case_id"], result["protocol"], result["version"], result["status"],
                      [TaskInfo(**task) for task in result.get("open_tasks", ())])
