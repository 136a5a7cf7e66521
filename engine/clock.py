"""The engine's single clock: every "what time is it" in Procon Flow goes through :func:`now`.

Tests move time with :func:`set_clock` / :class:`FrozenClock`. The clock is also installed into
SpiffWorkflow's timer module (which otherwise calls ``datetime.now`` itself), so BPMN timers see
the same time as everything else.

:func:`use_clock` overrides the clock for one context only (a ``contextvars`` variable): inside
``with use_clock(source):`` this thread (or asyncio task) — including SpiffWorkflow's timer
evaluation, which goes through :func:`now` — sees ``source``, while other requests and the worker
keep the process clock. The "Testar" sandbox runs a draft on its own clock this way.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

UTC = _dt.UTC


def system_now() -> _dt.datetime:
    """The machine's wall-clock time, whatever clock the engine runs on (benchmarks build theirs on it)."""
    return _dt.datetime.now(UTC)


_system_now = system_now
_source: Callable[[], _dt.datetime] = _system_now
#: A clock for the current context only (see :func:`use_clock`); ``None``: the process clock.
_override: ContextVar[Callable[[], _dt.datetime] | None] = ContextVar("procon_clock_override", default=None)


def _checked(value: _dt.datetime) -> _dt.datetime:
    if value.tzinfo is None:
        raise ValueError("O relógio do motor deve devolver datas com fuso horário")
    return value.astimezone(UTC)


def now() -> _dt.datetime:
    """The current time, timezone-aware in UTC (the context's clock when one is in use)."""
    return _checked((_override.get() or _source)())


def process_now() -> _dt.datetime:
    """The process clock (:func:`set_clock`), ignoring any context override: real time for
    bookkeeping that must not follow a sandbox's clock (e.g. when a sandbox was last used)."""
    return _checked(_source())


@contextmanager
def use_clock(source: Callable[[], _dt.datetime]) -> Iterator[Callable[[], _dt.datetime]]:
    """Make :func:`now` read ``source`` inside this block, in this context only (thread / task).

    Other threads — other requests, the deadline worker — keep the process clock. Blocks nest;
    leaving one restores the clock that was in use before it.
    """
    token = _override.set(source)
    try:
        yield source
    finally:
        _override.reset(token)


def overridden() -> bool:
    """Whether the current context runs on a clock of its own (inside :func:`use_clock`)."""
    return _override.get() is not None


def set_clock(source: Callable[[], _dt.datetime] | None) -> None:
    """Replace the time source (``None`` restores the system clock)."""
    global _source
    _source = source or _system_now


class FrozenClock:
    """A clock that stands still until moved; install it with :func:`set_clock`."""

    def __init__(self, start: _dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FrozenClock precisa de uma data com fuso horário")
        self.current = start.astimezone(UTC)

    def __call__(self) -> _dt.datetime:
        return self.current

    def advance(self, delta: _dt.timedelta) -> _dt.datetime:
        self.current = self.current + delta
        return self.current

    def set(self, moment: _dt.datetime) -> None:
        self.current = moment.astimezone(UTC)


class OffsetClock:
    """Real time shifted by a fixed offset: time keeps running, from another starting point."""

    def __init__(self, offset: _dt.timedelta) -> None:
        self.offset = offset

    def __call__(self) -> _dt.datetime:
        return system_now() + self.offset


class _EngineDatetime(_dt.datetime):
    """``datetime`` whose ``now()`` asks the engine's clock; used inside SpiffWorkflow only."""

    @classmethod
    def now(cls, tz: _dt.tzinfo | None = None) -> _dt.datetime:  # type: ignore[override]
        current = now()
        return current.astimezone(tz) if tz is not None else current.astimezone().replace(tzinfo=None)


_installed = False


def install_into_spiffworkflow() -> None:
    """Make SpiffWorkflow's timers read this clock. Idempotent; called once at engine import."""
    global _installed
    if _installed:
        return
    from SpiffWorkflow.bpmn.specs.event_definitions import timer

    timer.datetime = _EngineDatetime  # type: ignore[misc]
    _installed = True
