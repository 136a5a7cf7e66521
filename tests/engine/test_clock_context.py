"""The context-local clock override (``clock.use_clock``): one block on its own time, the rest of
the process — other threads, SpiffWorkflow timers outside the block — on the process clock."""

from __future__ import annotations

import datetime as dt
import threading

from SpiffWorkflow.bpmn.specs.event_definitions import timer

from engine import clock
from tests.conftest import START


def test_override_applies_inside_the_block_only(frozen_clock: clock.FrozenClock) -> None:
    sandbox = clock.FrozenClock(START + dt.timedelta(days=30))
    assert clock.now() == START
    assert not clock.overridden()
    with clock.use_clock(sandbox):
        assert clock.overridden()
        assert clock.now() == START + dt.timedelta(days=30)
        assert clock.process_now() == START  # bookkeeping keeps the process clock
        sandbox.advance(dt.timedelta(hours=2))
        assert clock.now() == START + dt.timedelta(days=30, hours=2)
    assert clock.now() == START
    assert not clock.overridden()


def test_blocks_nest_and_restore(frozen_clock: clock.FrozenClock) -> None:
    outer = clock.FrozenClock(START + dt.timedelta(days=1))
    inner = clock.FrozenClock(START + dt.timedelta(days=2))
    with clock.use_clock(outer):
        with clock.use_clock(inner):
            assert clock.now() == inner.current
        assert clock.now() == outer.current
    assert clock.now() == START


def test_restored_after_an_exception(frozen_clock: clock.FrozenClock) -> None:
    try:
        with clock.use_clock(clock.FrozenClock(START + dt.timedelta(days=5))):
            raise RuntimeError("falhou")
    except RuntimeError:
        pass
    assert clock.now() == START


def test_naive_source_refused_inside_block(frozen_clock: clock.FrozenClock) -> None:
    with clock.use_clock(lambda: dt.datetime(2026, 1, 1)):  # noqa: DTZ001 - the point of the test
        try:
            clock.now()
        except ValueError as error:
            assert "fuso horário" in str(error)
        else:
            raise AssertionError("uma data sem fuso deveria ser recusada")


def test_other_thread_keeps_the_real_clock_while_a_block_is_open(frozen_clock: clock.FrozenClock) -> None:
    clock.install_into_spiffworkflow()
    entered, checked = threading.Event(), threading.Event()
    seen: dict[str, dt.datetime] = {}

    def sandbox_thread() -> None:
        with clock.use_clock(clock.FrozenClock(START + dt.timedelta(days=100))):
            seen["sandbox_before"] = clock.now()
            entered.set()
            checked.wait(5)
            seen["sandbox_after"] = clock.now()

    def real_thread() -> None:
        entered.wait(5)
        seen["real"] = clock.now()
        seen["real_timer"] = timer.datetime.now(dt.UTC)
        checked.set()

    threads = [threading.Thread(target=sandbox_thread), threading.Thread(target=real_thread)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen["sandbox_before"] == seen["sandbox_after"] == START + dt.timedelta(days=100)
    assert seen["real"] == START
    assert seen["real_timer"] == START


def test_spiffworkflow_timers_follow_the_context_clock(frozen_clock: clock.FrozenClock) -> None:
    clock.install_into_spiffworkflow()
    later = START + dt.timedelta(days=11)
    with clock.use_clock(clock.FrozenClock(later)):
        assert timer.datetime.now(dt.UTC) == later
        assert timer.TimerEventDefinition.get_datetime(START.isoformat()) < timer.datetime.now(dt.UTC)
    assert timer.datetime.now(dt.UTC) == START


def test_set_clock_still_works_and_offset_clock_unchanged(frozen_clock: clock.FrozenClock) -> None:
    clock.set_clock(clock.FrozenClock(START + dt.timedelta(days=3)))
    assert clock.now() == START + dt.timedelta(days=3)
    clock.set_clock(None)
    real = clock.now()
    assert abs((real - clock.system_now()).total_seconds()) < 5
    shifted = clock.OffsetClock(dt.timedelta(days=1))
    assert abs((shifted() - clock.system_now() - dt.timedelta(days=1)).total_seconds()) < 5
