"""The sandboxes of every analyst ("Testar"): one per analyst + draft, each in its own folder, prepared
from the draft (the draft, the current library, the forms and a copy of the calendar written into the
folder, then deployed by the sandbox's own process on its own SQLite file), found again on disk after
a restart, and removed with their folder when unused for longer than the time-to-live.

Only what an operation needs reaches the folder: diagrams, forms, the calendar's rows, the unit, the
service topics' names and the analyst's name — never the application's settings or its database's
address. Finding a sandbox (:meth:`SandboxManager.get`) reads files only; preparing one
(:meth:`SandboxManager.open`, on a POST) is the first request to its child.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from engine import clock
from engine.actors import Actor
from engine.calendar.models import CalendarEntry, CalendarRevision, DeadlineSetting, Unit
from engine.errors import NotFound
from engine.forms.schema import FormError
from engine.modeling.definitions import DEFINITIONS, current_definitions
from engine.modeling.sandbox import META_FILE, STATE_FILE, Sandbox, SandboxError, SandboxMeta, folder_lock, last_used
from engine.modeling.sandbox_protocol import dumps, form_document
from engine.modeling.sandbox_runner import SandboxRunner
from engine.modeling.versioning import ProcessCatalog
from engine.runtime import Runtime

#: Sandboxes unused for longer than this are removed.
SANDBOX_TTL = dt.timedelta(hours=6)

_SEED = "seed.json"
_CALENDAR_TABLES = (Unit.__table__, DeadlineSetting.__table__, CalendarEntry.__table__, CalendarRevision.__table__)


def _slug(owner: str) -> str:
    readable = re.sub(r"[^a-z0-9_.-]+", "-", owner.lower())[:40].strip("-.") or "analista"
    return f"{readable}-{hashlib.sha256(owner.encode('utf-8')).hexdigest()[:8]}"


def _draft_hash(xml: str) -> str:
    return hashlib.sha256(xml.encode("utf-8")).hexdigest()


class SandboxManager:
    """The sandboxes of every analyst, one per analyst + draft, in folders under ``root``."""

    def __init__(self, runtime: Runtime, root: Path, ttl: dt.timedelta = SANDBOX_TTL,
                 runner: SandboxRunner | None = None) -> None:
        self.runtime = runtime
        self.catalog = ProcessCatalog(runtime)
        self.root = Path(root)
        self.ttl = ttl
        self.runner = runner or SandboxRunner()
        self._last_cleanup: dt.datetime | None = None

    def directory(self, owner: str, draft_id: int) -> Path:
        return self.root / f"{_slug(owner)}-{int(draft_id)}"

    def get(self, actor: Actor, draft_id: int) -> Sandbox | None:
        """The analyst's sandbox of this draft when one is ready (read from its folder; no process)."""
        self.cleanup_if_due()
        directory = self.directory(actor.username, draft_id)
        if not (directory / META_FILE).is_file() or not (directory / STATE_FILE).is_file():
            return None
        try:
            meta = SandboxMeta.load(directory)
        except (OSError, ValueError, TypeError):
            return None
        return Sandbox(directory, meta, actor, self._hash_of(draft_id), self.runner)

    def open(self, actor: Actor, draft_id: int) -> Sandbox:
        """The analyst's sandbox of this draft, prepared (draft deployed, clock at real now) if needed.

        Raises :class:`SandboxError` (with ``problems``) when the draft is not valid, and
        :class:`~engine.errors.NotFound` when there is no such draft.
        """
        sandbox = self.get(actor, draft_id)
        if sandbox is not None:
            return sandbox
        directory = self.directory(actor.username, draft_id)
        with folder_lock(directory):
            sandbox = self.get(actor, draft_id)  # prepared meanwhile by another request
            return sandbox if sandbox is not None else self._create(actor, int(draft_id))

    def reset(self, actor: Actor, draft_id: int) -> Sandbox:
        """Throw the test away and start a fresh one from the draft as it is now (clock back to real now)."""
        with folder_lock(self.directory(actor.username, draft_id)):
            self._remove(self.directory(actor.username, draft_id))
            return self._create(actor, int(draft_id))

    def discard(self, actor: Actor | str, draft_id: int) -> bool:
        """Remove the sandbox (database and folder); False when there was none."""
        owner = actor.username if isinstance(actor, Actor) else actor
        directory = self.directory(owner, draft_id)
        with folder_lock(directory):
            return self._remove(directory)

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
        for directory in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            with folder_lock(directory):
                try:
                    used = last_used(directory, SandboxMeta.load(directory))
                except (OSError, ValueError, TypeError, json.JSONDecodeError):
                    if not directory.exists():
                        continue
                    used = dt.datetime.fromtimestamp(directory.stat().st_mtime, dt.UTC)
                if now - used > self.ttl:
                    removed += self._remove(directory)
        return removed

    def close_all(self) -> None:
        """Nothing stays open: every operation is a process that has ended (kept for callers)."""

    # -- internals ------------------------------------------------------------------------------
    @staticmethod
    def _remove(directory: Path) -> bool:
        if not directory.exists():
            return False
        shutil.rmtree(directory, ignore_errors=True)
        return True

    def _hash_of(self, draft_id: int) -> Callable[[], str | None]:
        def current() -> str | None:
            try:
                return _draft_hash(self.catalog.draft(draft_id).bpmn_xml)
            except NotFound:
                return None
        return current

    def _forms(self) -> dict[str, dict[str, Any]]:
        """The forms the real application uses now (published versions first), as form documents."""
        documents = {}
        for key in self.runtime.forms.keys():
            try:
                documents[key] = form_document(self.runtime.forms.get(key))
            except FormError:
                continue  # a broken form: the draft's validation already said so where it is used
        return documents

    def _create(self, actor: Actor, draft_id: int) -> Sandbox:
        """Write the folder and have the child deploy it (the caller holds the folder's lock)."""
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
                draft_file = Path(row.filename).name
            else:
                files[Path(row.filename).name] = row.bpmn_xml
        files[draft_file] = draft.bpmn_xml  # the draft replaces its procedure's current version
        seed = {"unit": self.runtime.config.unit, "services": sorted(self.runtime.services or ()),
                "player": {"username": actor.username, "full_name": actor.full_name, "unit": actor.unit},
                "calendar": calendar}
        directory = self.directory(actor.username, draft_id)
        self._remove(directory)
        try:
            (directory / "workflows").mkdir(parents=True)
            (directory / "forms").mkdir()
            for filename, xml in files.items():
                (directory / "workflows" / filename).write_text(xml, encoding="utf-8")
            for key, document in self._forms().items():
                (directory / "forms" / f"{key}.json").write_text(json.dumps(document, ensure_ascii=False),
                                                                   encoding="utf-8")
            (directory / _SEED).write_text(dumps(seed), encoding="utf-8")
            now = clock.process_now().isoformat()
            meta = SandboxMeta(actor.username, draft_id, draft.process_id, _draft_hash(draft.bpmn_xml),
                               created_at=now, last_used_at=now, draft_file=draft_file)
            meta.save(directory)
            sandbox = Sandbox(directory, meta, actor, self._hash_of(draft_id), self.runner)
            sandbox.exchange("create", {"owner": actor.username})
        except BaseException:
            self._remove(directory)
            raise
        return sandbox
