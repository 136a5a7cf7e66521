"""Errors the engine raises; each message is written for the person who caused it (pt-BR)."""

from __future__ import annotations

from typing import Any


class EngineError(Exception):
    """Base class: ``str(error)`` is a message a person can act on."""


class NotFound(EngineError):
    pass


class PermissionDenied(EngineError):
    pass


class ConflictError(EngineError):
    """Someone else changed the case first; nothing of this attempt was saved."""


class TaskNotOpen(ConflictError):
    """The task was already completed (or cancelled) when this person tried to act on it."""


class InvalidSubmission(EngineError):
    """A form submission with errors; ``result`` (an :class:`engine.forms.submission.ValidationResult`) has
    the errors and what the person typed."""

    def __init__(self, result: Any) -> None:
        super().__init__("Há campos com erro no formulário. Corrija-os e envie novamente.")
        self.result = result


class ProcedureError(EngineError):
    """The diagram failed while running (a script or expression raised): nothing was saved."""


class DefinitionError(EngineError):
    """A diagram that cannot be deployed; ``problems`` lists every problem found (each an
    :class:`engine.modeling.validation.Problem`)."""

    def __init__(self, problems: list[Any]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
