"""The script environment diagrams run in: conditions, scripts and timer / due-date expressions.

Analysts write legal deadlines in the diagram with three helpers, counted on the case's unit
calendar (:mod:`engine.calendar.service`) from the engine's clock:

- ``prazo('defesa')`` — the unit's configured deadline of that kind (days, calendar or business
  days, legal basis), as in force when the count starts;
- ``prazo_dias(10)`` — 10 calendar days (Lei 9.784/1999 art. 66: day of the notice excluded, a
  last day that is not a working day moves to the next one);
- ``prazo_uteis(10)`` — 10 working days.

Each takes an optional ``a_partir_de`` (an ISO date or date-time): the day of the notice the count
starts from, when it is not today (e.g. the date the recipient read an electronic notice).

Two more names give dates on the same clock and calendar: ``hoje()`` (the unit's local date) and
``momento_local(data, horario)`` (a local date and time as an aware ISO moment).

Each deadline helper returns the due moment as an ISO 8601 string (the end of the last day in the unit's time
zone), which is what a BPMN ``timeDate`` needs. It also records how it was counted on the task
being evaluated (``internal_data['prazo']``), so the deadline projection can show the legal basis
and a later suspension can recount it.

Diagram code is not trusted: it runs in the restricted evaluator (:mod:`engine.runtime.restricted`), with
these helpers, ``dado``/``existe``, dates, ``Decimal`` and an allow-list of builtins as its only names, no
imports, no attribute starting with ``_``, and bounded time and size. What the evaluator refuses at run
time becomes a ``WorkflowTaskException`` naming the task, with the reason in Portuguese.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine

from engine import clock
from engine.calendar.rules import DeadlineRule
from engine.runtime.restricted import RestrictedEnvironment
from engine.runtime.restricted_guards import TIME_LIMIT_SECONDS, ScriptRefused


@dataclass(frozen=True)
class DeadlineContext:
    """What the helpers need to count: the calendars and the case's unit."""

    calendars: Any  # engine.calendar.service.CalendarService
    unit: str


_CONTEXT: ContextVar[DeadlineContext | None] = ContextVar("procon_deadline_context", default=None)
_CURRENT_TASK: ContextVar[Any] = ContextVar("procon_current_task", default=None)


@contextlib.contextmanager
def deadline_context(calendars: Any, unit: str) -> Iterator[None]:
    """Run workflow steps of a case of ``unit`` with the deadline helpers available."""
    token = _CONTEXT.set(DeadlineContext(calendars, unit))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class DeadlineHelperError(Exception):
    """A deadline helper used where no case is being run, or with a bad argument."""


def _start(a_partir_de: Any, calendar: Any) -> dt.datetime:
    """When the count starts: now, or the day given (the day of the notice, itself excluded)."""
    if a_partir_de is None or a_partir_de == "":
        return clock.now()
    if isinstance(a_partir_de, dt.datetime):
        moment = a_partir_de
    else:
        try:
            moment = dt.datetime.fromisoformat(str(a_partir_de))
        except ValueError as error:
            raise DeadlineHelperError(f"data de início do prazo inválida: {a_partir_de!r}") from error
    if moment.tzinfo is None:  # a calendar date: noon of that day in the unit's time zone
        moment = dt.datetime.combine(moment.date(), dt.time(12), calendar.tz)
    return moment.astimezone(dt.UTC)


def count_deadline(rule: DeadlineRule, a_partir_de: Any = None) -> str:
    """Count ``rule`` on the current case's unit calendar from now (or from ``a_partir_de``, the
    day of the notice) and record how it was counted on the task being evaluated."""
    context = _CONTEXT.get()
    if context is None:
        raise DeadlineHelperError("prazo só pode ser calculado durante a execução de um caso")
    calendar = context.calendars.for_unit(context.unit)
    start = _start(a_partir_de, calendar)
    due = calendar.due_at(start, rule)
    task = _CURRENT_TASK.get()
    if task is not None:
        task._set_internal_data(prazo={
            "kind": rule.kind, "days": rule.days, "mode": rule.mode, "legal_basis": rule.legal_basis,
            "starts_at": start.isoformat(), "due_at": due.isoformat(), "unit": context.unit,
        })
    return due.isoformat()


def prazo(kind: str, a_partir_de: Any = None) -> str:
    context = _CONTEXT.get()
    if context is None:
        raise DeadlineHelperError("prazo só pode ser calculado durante a execução de um caso")
    calendar = context.calendars.for_unit(context.unit)
    rule = context.calendars.rule(context.unit, kind, _start(a_partir_de, calendar))
    return count_deadline(rule, a_partir_de)


def _days(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise DeadlineHelperError(f"número de dias inválido: {value!r}")
    return value


def prazo_dias(days: int, a_partir_de: Any = None) -> str:
    return count_deadline(DeadlineRule("prazo", _days(days), "corridos", "Lei 9.784/1999, art. 66"), a_partir_de)


def prazo_uteis(days: int, a_partir_de: Any = None) -> str:
    return count_deadline(DeadlineRule("prazo", _days(days), "uteis", "Lei 9.784/1999, art. 66"), a_partir_de)


def _unit_calendar() -> Any:
    context = _CONTEXT.get()
    if context is None:
        raise DeadlineHelperError("a data só pode ser calculada durante a execução de um caso")
    return context.calendars.for_unit(context.unit)


def hoje() -> str:
    """Today in the case's unit (ISO date), from the engine clock: the date a party's answer was sent."""
    return _unit_calendar().local_date(clock.now()).isoformat()


def momento_local(data: str, horario: str = "00:00") -> str:
    """The moment ``data`` (ISO date) ``horario`` ("14:30", "14h30", "14h") in the unit's time zone, as an ISO date-time
    (e.g. the start of a hearing, for a timer that ends a wait at that moment)."""
    calendar = _unit_calendar()
    written = re.fullmatch(r"\s*(\d{1,2})\s*(?:[:hH]\s*(\d{2})?)?\s*", str(horario or "00:00"))
    try:
        if written is None:
            raise ValueError(horario)
        day = dt.date.fromisoformat(str(data)[:10])
        moment = dt.datetime.combine(day, dt.time(int(written.group(1)), int(written.group(2) or 0)), calendar.tz)
    except ValueError as error:
        raise DeadlineHelperError(f"data ou horário inválido: {data!r} {horario!r}") from error
    return moment.astimezone(dt.UTC).isoformat()


#: Names every script, condition and timer expression can use.
SCRIPT_GLOBALS: dict[str, object] = {"prazo": prazo, "prazo_dias": prazo_dias, "prazo_uteis": prazo_uteis,
                                     "hoje": hoje, "momento_local": momento_local}


class ProconScriptEngine(PythonScriptEngine):
    """SpiffWorkflow's engine on the restricted environment, remembering which task an expression is
    evaluated for, and saying in Portuguese what the evaluator refused."""

    def evaluate(self, task: Any, expression: str, external_context: Any = None) -> Any:
        token = _CURRENT_TASK.set(task)
        try:
            return super().evaluate(task, expression, external_context)
        except WorkflowTaskException as error:
            _raise_if_refused(error, task, f"Expressão recusada ({expression})")
            raise
        finally:
            _CURRENT_TASK.reset(token)

    def execute(self, task: Any, script: str, external_context: Any = None) -> Any:
        try:
            return super().execute(task, script, external_context)
        except WorkflowTaskException as error:
            _raise_if_refused(error, task, "Script recusado")
            raise


def _raise_if_refused(error: WorkflowTaskException, task: Any, what: str) -> None:
    """When the evaluator refused the code, an error saying what it refused (SpiffWorkflow's own message
    would only say that the expression failed)."""
    cause = error.__context__
    if isinstance(cause, ScriptRefused):
        raise WorkflowTaskException(f"{what}: {cause}", task=task, exception=cause, line_number=cause.line) from cause


def make_script_engine(time_limit: float = TIME_LIMIT_SECONDS) -> PythonScriptEngine:
    return ProconScriptEngine(environment=RestrictedEnvironment(dict(SCRIPT_GLOBALS), time_limit=time_limit))
