"""The registry of service-task handlers, keyed by the name a diagram uses (``camunda:type`` /
``implementation`` / the service task id)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tasks.context import TaskContext

#: ``handler(payload, context)``: payload is the case data, the returned dict is merged into it.
Handler = Callable[[dict[str, Any], "TaskContext"], dict[str, Any] | None]

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

