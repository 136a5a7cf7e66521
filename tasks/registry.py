"""The registry of service-task handlers, keyed by the name a diagram uses (``camunda:topic`` /
``implementation`` / the service task id), and the :class:`ServiceRegistry` handed to the engine.

Handlers register themselves with :func:`register`; the composition root (web app, CLI, tests)
builds a :class:`ServiceRegistry` with :func:`default_registry` and passes it to the engine, which
only asks it which topics exist and to run one: the engine never imports anything from ``tasks``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tasks.context import TaskContext, TaskSettings
from tasks.errors import PermanentError, RetryableError

log = logging.getLogger(__name__)

#: ``handler(payload, context)``: payload is the case data, the returned dict is merged into it.
Handler = Callable[[dict[str, Any], TaskContext], dict[str, Any] | None]

_HANDLERS: dict[str, Handler] = {}


def register(name: str) -> Callable[[Handler], Handler]:
    """Decorator: ``@register("consultar_cnpj")`` makes a function callable from a diagram."""

    def decorate(func: Handler) -> Handler:
        if name in _HANDLERS and _HANDLERS[name] is not func:
            raise ValueError(f"Já existe um serviço registrado com o nome '{name}'")
        _HANDLERS[name] = func
        return func

    return decorate


def get(name: str) -> Handler | None:
    return _HANDLERS.get(name)


def names() -> list[str]:
    return sorted(_HANDLERS)


_loaded = False


def load_handlers() -> None:
    """Import the handler modules once (``tasks.handlers`` registers every shipped handler)."""
    global _loaded
    if not _loaded:
        import importlib

        importlib.import_module("tasks.handlers")
        _loaded = True



@dataclass(frozen=True)
class Outcome:
    """How one call of a handler ended: ``values`` to merge into the case data, or an ``error``
    message (pt-BR, for an administrator) that is ``retryable`` or not."""

    values: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    retryable: bool = False


class ServiceRegistry:
    """What the composition root (the web app, the CLI, a test) hands the engine at start-up.

    The engine knows service tasks only through this object: which topics exist (validation) and how
    to run one (the worker), so it never imports a handler, a context or an error class of ``tasks``.
    """

    def __init__(self, handlers: Mapping[str, Handler] | None = None, settings: TaskSettings | None = None) -> None:
        self._handlers = _HANDLERS if handlers is None else handlers
        self._settings = settings

    def names(self) -> list[str]:
        return sorted(self._handlers)

    def __contains__(self, name: object) -> bool:
        return name in self._handlers

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    @staticmethod
    def permanent_error(message: str) -> Exception:
        """The error a callback of the engine (``load_document``) raises when retrying cannot help."""
        return PermanentError(message)

    def run(self, name: str, payload: dict[str, Any], *, case_id: int, protocol: str, unit: str, now: datetime,
            settings: TaskSettings | None = None, save_document: Callable[..., dict[str, Any]] | None = None,
            load_document: Callable[..., tuple[str, bytes]] | None = None, job_id: Any = None) -> Outcome:
        """Run the handler of ``name`` on ``payload`` and say how it went (never raises for the handler)."""
        handler = self._handlers.get(name)
        if handler is None:
            return Outcome(error=f"Nenhuma implementação registrada para o serviço “{name}”.")
        context = TaskContext(settings=settings or self._settings or TaskSettings.from_env(), case_id=case_id,
                              protocol=protocol, unit=unit, now=now, save_document=save_document,
                              load_document=load_document, job_id=job_id)
        try:
            return Outcome(values=dict(handler(payload, context) or {}))
        except RetryableError as error:
            return Outcome(error=str(error), retryable=True)
        except PermanentError as error:
            return Outcome(error=str(error))
        except Exception as error:  # a bug in a handler: keep the message for the admin, retry later
            log.exception("serviço %s falhou", name)
            return Outcome(error=f"Erro inesperado no serviço: {type(error).__name__}: {error}", retryable=True)


def default_registry(settings: TaskSettings | None = None) -> ServiceRegistry:
    """Every shipped handler (and any registered later with :func:`register`), settings from the environment."""
    load_handlers()
    return ServiceRegistry(settings=settings)
