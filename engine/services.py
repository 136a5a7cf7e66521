"""What the engine needs of the service-task registry the composition root hands it at start-up.

The engine never imports ``tasks``: the web app, the CLI or a test builds a registry
(``tasks.registry.default_registry()``) and passes it in :class:`engine.runtime.EngineConfig`.
Validation asks it which topics exist; the worker asks it to run one and reads the outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Protocol


class ServiceOutcome(Protocol):
    """How a call ended: ``values`` for the case data, or an ``error`` that is ``retryable`` or not."""

    values: dict[str, Any]
    error: str | None
    retryable: bool


class ServiceRegistry(Protocol):
    """The topics a diagram may name and how to run one of them."""

    def __contains__(self, name: object) -> bool: ...

    def __iter__(self) -> Iterator[str]: ...

    def permanent_error(self, message: str) -> Exception: ...

    def run(self, name: str, payload: dict[str, Any], *, case_id: int, protocol: str, unit: str, now: datetime,
            settings: Any = None, save_document: Callable[..., dict[str, Any]] | None = None,
            load_document: Callable[..., tuple[str, bytes]] | None = None, job_id: Any = None) -> ServiceOutcome: ...
