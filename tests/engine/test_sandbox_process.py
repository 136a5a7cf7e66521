"""The "Testar" sandbox runs a draft in a separate process: a clean environment (no secrets, no database
address), its own folder as working directory, CPU-time and memory limits set in the child, a wall-clock
timeout in the parent; a child that loops, sleeps, allocates too much or crashes gives the analyst a clear
message and leaves the web process as it was. The web process never holds the draft's Runtime.

The limits are proven with the child's test hooks (``SandboxRunner(test_hook=...)``): fixed behaviours
(loop, sleep, allocate, crash, report) run in the child before its operation, reachable only from code
that builds a runner itself — no request and no configuration key reaches them.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import resource
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from engine.actors import Actor
from engine.forms.schema import parse_form
from engine.modeling.sandbox import SandboxError
from engine.modeling.sandbox_manager import SandboxManager
from engine.modeling.sandbox_protocol import dumps, form_document, loads
from engine.modeling.sandbox_runner import SandboxLimits, SandboxRunner
from engine.modeling.versioning import ProcessCatalog
from engine.runtime import Runtime

PRELIM = {"resultado_preliminar": "nao_resolvida", "contato_descricao": "Sem solução no SAC."}
SECRETS = {"SECRET_KEY": "segredo-do-servidor", "DATABASE_URL": "postgresql://procon:senha@db/procon",
           "PROCON_SECRET_KEY": "outro-segredo", "PROCON_SMTP_PASSWORD": "senha-smtp"}
SMALL = SandboxLimits(cpu_seconds=2, memory_bytes=768 * 2**20, wall_seconds=6)


@pytest.fixture
def analyst() -> Actor:
    return Actor("paula", "Paula Processos", frozenset({"analista_processos"}))


@pytest.fixture
def draft_id(runtime: Runtime, analyst: Actor) -> int:
    return ProcessCatalog(runtime).draft_from_version("reclamacao", analyst).id


def manager_with(runtime: Runtime, root: Path, runner: SandboxRunner) -> SandboxManager:
    return SandboxManager(runtime, root, runner=runner)


@pytest.fixture
def sandboxes(runtime: Runtime, tmp_path: Path) -> Iterator[SandboxManager]:
    manager = SandboxManager(runtime, tmp_path / "sandboxes")
    yield manager
    manager.close_all()


def test_the_child_has_a_clean_environment_its_own_folder_and_limits(
        runtime: Runtime, tmp_path: Path, draft_id: int, analyst: Actor, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    runner = SandboxRunner(test_hook="report")
    manager = manager_with(runtime, tmp_path / "sandboxes", runner)
    sandbox = manager.open(analyst, draft_id)
    form, _title = sandbox.start_form()
    sandbox.start(sandbox.sample_values(form))
    assert runner.spawned == 2 and len(runner.reports) == 2
    for report in runner.reports:
        assert report["pid"] != os.getpid() and report["ppid"] == os.getpid()
        assert set(report["environ"]) <= {"PATH", "LANG", "LC_ALL", "HOME", "TZ"}, report["environ"]
        assert not set(report["environ"].values()) & set(SECRETS.values())
        assert Path(report["cwd"]) == sandbox.directory
        assert report["limits"]["cpu"] == [20, 21]
        assert report["limits"]["memory"] == [2**30, 2**30]
        assert report["limits"]["core"] == [0, 0]
        assert str(runtime.db.url.database) not in " ".join(report["argv"])
    real_database = Path(runtime.db.url.database).name if runtime.db.url.database else "procon"
    for path in sandbox.directory.rglob("*"):  # nothing in the folder says where the real database is
        if path.is_file() and path.suffix in (".json", ".bpmn"):
            assert real_database not in path.read_text(encoding="utf-8"), path
            assert "segredo" not in path.read_text(encoding="utf-8"), path


def test_the_web_process_never_holds_the_drafts_runtime(runtime: Runtime, sandboxes: SandboxManager,
                                                        draft_id: int, analyst: Actor) -> None:
    sandbox = sandboxes.open(analyst, draft_id)
    form, _title = sandbox.start_form()
    result = sandbox.start(sandbox.sample_values(form))
    sandbox.complete(result.open_tasks[0].task_id, PRELIM)
    sandbox.advance(days=3)
    assert [t.spec_name for t in sandbox.view().open_tasks] == ["emitir_cip"]
    gc.collect()
    engines = [obj for obj in gc.get_objects() if isinstance(obj, Engine)]
    assert engines, "the real runtime's engine is expected"
    inside = [e for e in engines if e.url.database and Path(e.url.database).is_relative_to(sandboxes.root)]
    assert inside == [], "the web process opened the sandbox's database"
    assert not hasattr(sandbox, "runtime")
    assert (sandbox.directory / "sandbox.sqlite3").is_file()  # the child's database, in its folder


def test_a_loop_is_stopped_by_the_cpu_limit(runtime: Runtime, tmp_path: Path, draft_id: int, analyst: Actor) -> None:
    runner = SandboxRunner(SMALL, test_hook="spin@start")
    manager = manager_with(runtime, tmp_path / "sandboxes", runner)
    sandbox = manager.open(analyst, draft_id)
    form, _title = sandbox.start_form()
    began = time.monotonic()
    with pytest.raises(SandboxError, match="excedeu o limite de tempo") as error:
        sandbox.start(sandbox.sample_values(form))
    assert time.monotonic() - began < SMALL.wall_seconds
    assert "2 s" in str(error.value)
    assert not sandbox.started and sandbox.view().case is None  # what the last good operation left
    _assert_gone(runner.last_pid)


def test_a_child_that_hangs_is_killed_by_the_wall_clock(runtime: Runtime, tmp_path: Path, draft_id: int,
                                                        analyst: Actor) -> None:
    runner = SandboxRunner(SandboxLimits(cpu_seconds=5, wall_seconds=2), test_hook="sleep")
    manager = manager_with(runtime, tmp_path / "sandboxes", runner)
    began = time.monotonic()
    with pytest.raises(SandboxError, match="excedeu o limite de tempo"):
        manager.open(analyst, draft_id)
    assert time.monotonic() - began < 10
    _assert_gone(runner.last_pid)
    assert not manager.directory(analyst.username, draft_id).exists()  # a failed creation leaves nothing
    assert manager.get(analyst, draft_id) is None


def test_a_huge_allocation_is_stopped_by_the_memory_limit(runtime: Runtime, tmp_path: Path, draft_id: int,
                                                          analyst: Actor) -> None:
    runner = SandboxRunner(SMALL, test_hook="allocate@advance")
    manager = manager_with(runtime, tmp_path / "sandboxes", runner)
    sandbox = manager.open(analyst, draft_id)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(SandboxError, match="excedeu o limite de memória") as error:
        sandbox.advance(days=1)
    assert "768 MB" in str(error.value)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024  # KB: the parent did not grow
    assert sandbox.meta.offset_seconds == 0  # the clock did not move


def test_a_crash_gives_a_clear_message_and_the_next_operation_works(
        runtime: Runtime, tmp_path: Path, draft_id: int, analyst: Actor) -> None:
    root = tmp_path / "sandboxes"
    crashing = manager_with(runtime, root, SandboxRunner(test_hook="crash@advance"))
    sandbox = crashing.open(analyst, draft_id)
    with pytest.raises(SandboxError, match="parou inesperadamente"):
        sandbox.advance(days=1)
    healthy = SandboxManager(runtime, root)  # the same folder, a normal child
    again = healthy.get(analyst, draft_id)
    assert again is not None
    assert again.advance(days=1).after == again.now()
    assert again.meta.offset_seconds == 86400


def _assert_gone(pid: int | None) -> None:
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_forms_and_values_cross_the_protocol_unchanged(runtime: Runtime) -> None:
    for key in runtime.forms.keys():
        form = runtime.forms.get(key)
        assert parse_form(key, json.loads(json.dumps(form_document(form)))) == form, key
    value = {"at": dt.datetime(2026, 3, 2, 13, tzinfo=dt.UTC), "day": dt.date(2026, 3, 2), "amount": Decimal("1.10"),
             "file": b"%PDF\x00", "text": "ação", "nested": [{"$procon": "not a tag"}]}
    assert loads(dumps(value)) == value
