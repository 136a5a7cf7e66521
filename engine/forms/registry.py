"""The form registry the runtime uses: the latest published version of each form first, else its file.

:class:`CatalogFormRegistry` is the :class:`~engine.forms.schema.FormRegistry` the runtime uses: ``get(key)``
returns the latest *published* version of a form when the database has one, else the file
``forms/<key>.json``. The published forms are cached in memory; the cache is dropped at once in
the process that publishes, and other processes (worker, other web servers) notice a publication
by one cheap indexed query (``max(form_versions.id)``) made at most once a second.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from engine.forms.checks import decode_form
from engine.forms.models import FormVersion
from engine.forms.schema import FormDefinition, FormError, FormRegistry

__all__ = ["CatalogFormRegistry"]


class CatalogFormRegistry(FormRegistry):
    """``forms/<key>.json`` overlaid with the latest published version of each form in the database."""

    #: Seconds between two checks for publications made by other processes.
    REVISION_CHECK_INTERVAL = 1.0

    def __init__(self, forms_dir: Path, session_factory: sessionmaker[Session]) -> None:
        super().__init__(forms_dir)
        self._session_factory = session_factory
        self._published: dict[str, tuple[int, FormDefinition | FormError]] = {}
        self._revision: int | None = None
        self._checked = float("-inf")
        self._overlay_lock = threading.Lock()

    def invalidate(self) -> None:
        """Forget the published forms; the next lookup reads them again."""
        with self._overlay_lock:
            self._revision = None
            self._checked = float("-inf")

    def _overlay(self) -> dict[str, tuple[int, FormDefinition | FormError]]:
        moment = time.monotonic()
        with self._overlay_lock:
            if moment - self._checked < self.REVISION_CHECK_INTERVAL:
                return self._published
        try:
            with self._session_factory() as session:
                revision = session.scalar(select(func.max(FormVersion.id))) or 0
                if revision == self._revision:
                    rows = None
                else:
                    latest = select(func.max(FormVersion.id)).group_by(FormVersion.key)
                    rows = session.execute(select(FormVersion.key, FormVersion.version, FormVersion.content)
                                           .where(FormVersion.id.in_(latest))).all()
        except (OperationalError, ProgrammingError):  # tables not created yet (before init_db)
            return {}
        with self._overlay_lock:
            self._checked = moment
            if rows is not None:
                published: dict[str, tuple[int, FormDefinition | FormError]] = {}
                for key, version, content in rows:
                    result = decode_form(key, content)
                    published[key] = (version, result.form if result.form is not None else
                                      FormError(f"Formulário '{key}' versão {version}: {' '.join(result.problems)}"))
                self._published, self._revision = published, revision
            return self._published

    def published_version(self, key: str) -> int | None:
        """Number of the published version ``get(key)`` returns (None: the file is used)."""
        entry = self._overlay().get(key)
        return entry[0] if entry else None

    def get(self, key: str) -> FormDefinition:
        entry = self._overlay().get(key)
        if entry is None:
            return super().get(key)
        if isinstance(entry[1], FormError):
            raise entry[1]
        return entry[1]

    def file_form(self, key: str) -> FormDefinition:
        """The form as in ``forms/<key>.json``, ignoring published versions."""
        return super().get(key)

    def file_exists(self, key: str) -> bool:
        return super().exists(key)

    def exists(self, key: str) -> bool:
        return key in self._overlay() or super().exists(key)

    def keys(self) -> list[str]:
        return sorted(set(super().keys()) | set(self._overlay()))
