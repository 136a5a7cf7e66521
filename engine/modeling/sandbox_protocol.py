"""What the web process and the sandbox's child process say to each other: one JSON request on the
child's stdin, one JSON answer on its stdout, and the encoding both sides share.

A request::

    {"protocol": 1, "op": "start", "now": <the web process's time>, "offset_seconds": 0.0,
     "case_id": null, "process_id": "reclamacao", "args": {...}}

An answer::

    {"protocol": 1, "ok": true, "result": {...}, "offset_seconds": 0.0, "case_id": 1, "state": {...}}
    {"protocol": 1, "ok": false, "error": {"kind": "InvalidSubmission", "message": "...", ...}, "state": ...}

``state`` is everything the "Testar" page shows (the case, open tasks, timeline, deadlines, simulated
service tasks, the diagram position, the start form's key): the web process stores it in the sandbox's
folder and a GET renders it without starting a process. Values that JSON lacks travel tagged
(:func:`dumps` / :func:`loads`): datetimes, dates, decimals and bytes. Database rows travel as their
mapped columns (:func:`row_of` / :func:`model_from`); errors travel by kind and come back as the same
exceptions, messages in Portuguese (:func:`error_of` / :func:`raise_error`).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import inspect

from engine.errors import (
    ConflictError,
    DefinitionError,
    EngineError,
    InvalidSubmission,
    NotFound,
    PermissionDenied,
    ProcedureError,
    TaskNotOpen,
)
from engine.forms.schema import FormDefinition
from engine.forms.submission import UploadedFile, ValidationResult
from engine.modeling.validation import Problem

PROTOCOL_VERSION = 1
#: The child's exit status after it ran out of memory and could still say so.
MEMORY_EXIT = 86
#: Largest single move of the sandbox clock.
MAX_ADVANCE_DAYS = 3650
#: The worker "holder" name written by the sandbox when it completes a simulated service.
SANDBOX_WORKER = "teste"
#: The operations a child accepts.
OPERATIONS = ("create", "refresh", "start", "complete", "complete_job", "fail_job", "retry_job", "advance")
#: Columns that never leave the child (the workflow's internal state is no page's business).
_LEFT_OUT = {"state"}

_TAG = "$procon"
Model = TypeVar("Model")


class SandboxError(EngineError):
    """A sandbox operation that cannot be done (the message says why, in Portuguese)."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class SandboxFailure(SandboxError):
    """The sandbox's process did not answer: it went over a limit, crashed or said something unreadable.
    Nothing in the web process is affected; the sandbox keeps what its last good operation left."""


# -- values ---------------------------------------------------------------------------------------
def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {_TAG: "datetime", "v": value.isoformat()}
    if isinstance(value, dt.date):
        return {_TAG: "date", "v": value.isoformat()}
    if isinstance(value, Decimal):
        return {_TAG: "decimal", "v": str(value)}
    if isinstance(value, bytes | bytearray):
        return {_TAG: "bytes", "v": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"valor que não cabe no protocolo do teste: {type(value).__name__}")


def _hook(item: dict[str, Any]) -> Any:
    kind = item.get(_TAG)
    if kind is None or len(item) != 2:
        return item
    text = item["v"]
    if kind == "datetime":
        return dt.datetime.fromisoformat(text)
    if kind == "date":
        return dt.date.fromisoformat(text)
    if kind == "decimal":
        return Decimal(text)
    if kind == "bytes":
        return base64.b64decode(text)
    return item


def dumps(value: Any) -> str:
    """JSON with datetimes, dates, decimals and bytes tagged (the inverse of :func:`loads`)."""
    return json.dumps(value, default=_default, ensure_ascii=False, separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    return json.loads(text, object_hook=_hook)


# -- rows -----------------------------------------------------------------------------------------
def row_of(obj: Any) -> dict[str, Any]:
    """A mapped object's columns (by attribute name), ``state`` left out."""
    return {attr.key: getattr(obj, attr.key) for attr in inspect(type(obj)).column_attrs
            if attr.key not in _LEFT_OUT}


def model_from(model: type[Model], row: dict[str, Any]) -> Model:
    """A transient (never saved) object of ``model`` with the columns of ``row`` it knows."""
    known = {attr.key for attr in inspect(model).column_attrs}
    obj = model()
    for key, value in row.items():
        if key in known:
            setattr(obj, key, value)
    return obj


# -- forms and files ------------------------------------------------------------------------------
def form_document(form: FormDefinition) -> dict[str, Any]:
    """The JSON document :func:`engine.forms.schema.parse_form` reads back into ``form``."""
    fields = []
    for f in form.fields:
        item: dict[str, Any] = {"name": f.name, "label": f.label, "type": f.type, "required": f.required,
                                "help": f.help, "placeholder": f.placeholder}
        if f.type == "choice":
            item["choices"] = [{"value": c.value, "label": c.label} for c in f.choices]
        if f.max_length is not None:
            item["max_length"] = f.max_length
        if f.min_value is not None:
            item["min_value"] = str(f.min_value)
        if f.max_value is not None:
            item["max_value"] = str(f.max_value)
        if f.type == "file":
            item["max_size_mb"] = f.max_size_mb
            if f.accept:
                item["accept"] = list(f.accept)
        fields.append(item)
    return {"key": form.key, "title": form.title, "description": form.description, "fields": fields}


def files_out(files: dict[str, UploadedFile] | None) -> dict[str, dict[str, Any]]:
    return {name: {"filename": f.filename, "content_type": f.content_type, "data": f.data}
            for name, f in (files or {}).items()}


def files_in(items: dict[str, dict[str, Any]] | None) -> dict[str, UploadedFile]:
    return {name: UploadedFile(str(f["filename"]), str(f["content_type"]), bytes(f["data"]))
            for name, f in (items or {}).items()}


# -- errors ---------------------------------------------------------------------------------------
_KINDS: dict[str, type[EngineError]] = {cls.__name__: cls for cls in (
    NotFound, PermissionDenied, ConflictError, TaskNotOpen, ProcedureError, EngineError)}


def _problem_out(problem: Any) -> dict[str, Any]:
    return {"file": getattr(problem, "file", ""), "element_id": getattr(problem, "element_id", ""),
            "line": getattr(problem, "line", None), "message": getattr(problem, "message", str(problem))}


def error_of(error: BaseException) -> dict[str, Any]:
    """An exception raised in the child, as the answer carries it."""
    if isinstance(error, InvalidSubmission):
        result = error.result
        return {"kind": "InvalidSubmission", "message": str(error), "errors": dict(result.errors),
                "raw": dict(result.raw), "data": dict(result.data)}
    if isinstance(error, SandboxError | DefinitionError):
        return {"kind": "SandboxError", "message": str(error) if isinstance(error, SandboxError) else
                "O rascunho não pôde ser carregado no teste; corrija-o no editor.",
                "problems": [_problem_out(p) for p in error.problems]}
    if isinstance(error, EngineError):
        kind = next(cls.__name__ for cls in type(error).__mro__ if cls.__name__ in _KINDS)
        return {"kind": kind, "message": str(error)}
    text = f"{type(error).__name__}: {error}"[:500]
    return {"kind": "SandboxError", "message": f"O teste parou com um erro inesperado ({text}).", "problems": []}


def raise_error(error: dict[str, Any]) -> None:
    """Raise, in the web process, the exception the child answered with."""
    kind, message = error.get("kind"), str(error.get("message") or "O teste falhou.")
    if kind == "InvalidSubmission":
        raise InvalidSubmission(ValidationResult(data=dict(error.get("data") or {}),
                                                 errors=dict(error.get("errors") or {}),
                                                 raw=dict(error.get("raw") or {})))
    if kind == "SandboxError":
        problems = [Problem(str(p.get("file", "")), str(p.get("element_id", "")), p.get("line"),
                            str(p.get("message", ""))) for p in error.get("problems") or []]
        raise SandboxError(message, problems)
    raise _KINDS.get(str(kind), EngineError)(message)

