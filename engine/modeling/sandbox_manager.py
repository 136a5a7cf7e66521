"""The sandboxes of every analyst ("Testar"): one per analyst + draft, each in its own folder, created
from the draft (deployed with the current library and a copy of the calendar), reopened from disk after
a restart, and removed with their folder when unused for longer than the time-to-live.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select

from engine import clock
from engine.actors import Actor
from engine.calendar.models import CalendarEntry, CalendarRevision, DeadlineSetting, Unit
from engine.errors import NotFound
from engine.modeling.definitions import DEFINITIONS, current_definitions
from engine.modeling.sandbox import META_FILE, Sandbox, SandboxError, SandboxMeta
from engine.modeling.versioning import ProcessCatalog
from engine.roles import STAFF_ROLES
from engine.runtime import EngineConfig, Runtime
from engine.schema import create_schema

#: Sandboxes unused for longer than this are removed.
SANDBOX_TTL = dt.timedelta(hours=6)

_DB = "sandbox.sqlite3"
_CALENDAR_TABLES = (Unit.__table__, DeadlineSetting.__table__, CalendarEntry.__table__, CalendarRevision.__table__)


def _slug(owner: str) -> str:
    readable = re.sub(r"[^a-z0-9_.-]+", "-", owner.lower())[:40].strip("-.") or "analista"
    return f"{readable}-{hashlib.sha256(owner.encode('utf-8')).hexdigest()[:8]}"


def _draft_hash(xml: str) -> str:
    return hashlib.sha256(xml.encode("utf-8")).hexdigest()


class SandboxManager:
    """The sandboxes of every analyst, one per analyst + draft, in folders under ``root``."""

    def __init__(self, runtime: Runtime, root: Path, ttl: dt.timedelta = SANDBOX_TTL) -> None:
        self.runtime = runtime
        self.catalog = ProcessCatalog(runtime)
        self.root = Path(root)
        self.ttl = ttl
        self._sandboxes: dict[tuple[str, int], Sandbox] = {}
        self._lock = threading.RLock()
        self._last_cleanup: dt.datetime | None = None

    def directory(self, owner: str, draft_id: int) -> Path:
        return self.root / f"{_slug(owner)}-{int(draft_id)}"

    def get(self, actor: Actor, draft_id: int) -> Sandbox | None:
        """The analyst's sandbox of this draft, when there is one (reopened from disk after a restart)."""
        self.cleanup_if_due()
        key = (actor.username, int(draft_id))
        with self._lock:
            sandbox = self._sandboxes.get(key)
            if sandbox is not None:
                return sandbox
            directory = self.directory(actor.username, draft_id)
            if not (directory / META_FILE).exists() or not (directory / _DB).exists():
                return None
            meta = SandboxMeta.load(directory)
            sandbox = Sandbox(directory, self._runtime_for(directory), meta, self._player(actor),
                              self._hash_of(draft_id))
            self._sandboxes[key] = sandbox
            return sandbox

    def open(self, actor: Actor, draft_id: int) -> Sandbox:
        """The analyst's sandbox of this draft, created (draft deployed, clock at real now) if needed.

        Raises :class:`SandboxError` (with ``problems``) when the draft is not valid, and
        :class:`~engine.errors.NotFound` when there is no such draft.
        """
        sandbox = self.get(actor, draft_id)
        if sandbox is not None:
            return sandbox
        with self._lock:
            sandbox = self._sandboxes.get((actor.username, int(draft_id)))
            return sandbox if sandbox is not None else self._create(actor, int(draft_id))

    def reset(self, actor: Actor, draft_id: int) -> Sandbox:
        """Throw the test away and start a fresh one from the draft as it is now (clock back to real now)."""
        with self._lock:
            self.discard(actor, draft_id)
            return self.open(actor, draft_id)

    def discard(self, actor: Actor | str, draft_id: int) -> bool:
        """Remove the sandbox (database and folder); False when there was none."""
        owner = actor.username if isinstance(actor, Actor) else actor
        with self._lock:
            sandbox = self._sandboxes.pop((owner, int(draft_id)), None)
            directory = self.directory(owner, draft_id)
            if sandbox is not None:
                with sandbox._lock:
                    sandbox.close()
            if directory.exists():
                shutil.rmtree(directory, ignore_errors=True)
                return True
            return sandbox is not None

    def cleanup_if_due(self) -> int:
        now = clock.process_now()
        if self._last_cleanup is not None and now - self._last_cleanup < dt.timedelta(minutes=1):
            return 0
        return self.cleanup()

    def cleanup(self) -> int:
        """Remove every sandbox unused for longer than the time-to-live; returns how many."""
        now = clock.process_now()
        self._last_cleanup = now
        if not self.root.exists():
            return 0
        removed = 0
        with self._lock:
            for directory in sorted(p for p in self.root.iterdir() if p.is_dir()):
                try:
                    meta = SandboxMeta.load(directory)
                    last_used = dt.datetime.fromisoformat(meta.last_used_at)
                except (OSError, ValueError, TypeError, json.JSONDecodeError):
                    meta, last_used = None, dt.datetime.fromtimestamp(directory.stat().st_mtime, dt.UTC)
                if now - last_used <= self.ttl:
                    continue
                if meta is not None:
                    sandbox = self._sandboxes.pop((meta.owner, meta.draft_id), None)
                    if sandbox is not None:
                        sandbox.close()
                shutil.rmtree(directory, ignore_errors=True)
                removed += 1
        return removed

    def close_all(self) -> None:
        with self._lock:
            for sandbox in self._sandboxes.values():
                sandbox.close()
            self._sandboxes.clear()

    # -- internals ------------------------------------------------------------------------------
    @staticmethod
    def _player(actor: Actor) -> Actor:
        """The analyst playing every lane of the diagram."""
        return Actor(actor.username, actor.full_name, frozenset(STAFF_ROLES), actor.unit)

    def _hash_of(self, draft_id: int) -> Callable[[], str | None]:
        def current() -> str | None:
            try:
                return _draft_hash(self.catalog.draft(draft_id).bpmn_xml)
            except NotFound:
                return None
        return current

    def _runtime_for(self, directory: Path) -> Runtime:
        real = self.runtime.config
        runtime = Runtime(EngineConfig(database_url=f"sqlite:///{directory / _DB}",
                                       workflows_dir=directory / "workflows", forms_dir=real.forms_dir,
                                       unit=real.unit, cache_size=64, services=real.services))
        runtime.forms = self.runtime.forms  # the same forms as the real application
        runtime.definitions.forms = self.runtime.forms
        return runtime

    def _create(self, actor: Actor, draft_id: int) -> Sandbox:
        draft = self.catalog.draft(draft_id)
        if draft.status != "rascunho":
            raise SandboxError(f"O rascunho {draft_id} já foi {draft.status}; só rascunhos abertos podem ser testados.")
        problems = self.catalog.validate_draft(draft_id)
        if problems:
            raise SandboxError(f"O rascunho tem {len(problems)} problema{'s' if len(problems) != 1 else ''} e não "
                               "pode ser testado; corrija-o no editor.", problems)
        with self.runtime.db.connect() as conn:
            library = conn.execute(current_definitions(DEFINITIONS.c.process_id, DEFINITIONS.c.filename,
                                                       DEFINITIONS.c.bpmn_xml)).all()
            calendar = {table.name: [dict(row._mapping) for row in conn.execute(select(table))]
                        for table in _CALENDAR_TABLES}
        files: dict[str, str] = {}
        draft_file = f"{Path(draft.process_id).name}.bpmn"
        for row in library:
            if row.process_id == draft.process_id:
                draft_file = row.filename
            else:
                files[row.filename] = row.bpmn_xml
        files[draft_file] = draft.bpmn_xml  # the draft replaces its procedure's current version
        directory = self.directory(actor.username, draft_id)
        shutil.rmtree(directory, ignore_errors=True)
        (directory / "workflows").mkdir(parents=True)
        runtime: Runtime | None = None
        try:
            for filename, xml in files.items():
                (directory / "workflows" / Path(filename).name).write_text(xml, encoding="utf-8")
            runtime = self._runtime_for(directory)
            create_schema(runtime.db)
            _copy_rows(runtime.db, calendar)
            runtime.init_db(actor.username)
            now = clock.process_now().isoformat()
            meta = SandboxMeta(actor.username, draft_id, draft.process_id, _draft_hash(draft.bpmn_xml),
                               created_at=now, last_used_at=now)
            meta.save(directory)
        except BaseException:
            if runtime is not None:
                runtime.db.dispose()
            shutil.rmtree(directory, ignore_errors=True)
            raise
        sandbox = Sandbox(directory, runtime, meta, self._player(actor), self._hash_of(draft_id))
        self._sandboxes[(actor.username, draft_id)] = sandbox
        return sandbox


def _copy_rows(engine: Engine, rows_by_table: dict[str, list[dict[str, Any]]]) -> None:
    """Copy the calendar (units, rules, holidays, closures) into the sandbox's database."""
    with engine.begin() as conn:
        for table in _CALENDAR_TABLES:
            rows = rows_by_table.get(table.name) or []
            if rows:
                conn.execute(insert(table), rows)
