"""SQLAlchemy models of the form editor: published versions of forms, drafts and the publishing log.

They share :class:`engine.store.models.Base` (``engine.store.models`` imports this module at its end so that
``Base.metadata.create_all`` creates these tables too). Nothing here is ever deleted: a draft ends
"publicado" or "descartado", every publication (a revert too) is a new :class:`FormVersion`
and leaves a :class:`FormEvent`. The rules live in :mod:`engine.forms.catalog`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine import clock
from engine.store.models import Base

#: Life of a form draft: edited while "rascunho"; it ends published or discarded, and is kept either way.
FORM_DRAFT_STATUSES: tuple[str, ...] = ("rascunho", "publicado", "descartado")

#: What a form event records.
FORM_ACTIONS: dict[str, str] = {
    "publicacao": "publicação",
    "reversao": "reversão",
    "descarte": "rascunho descartado",
}


class FormVersion(Base):
    """One published version of a form: from then on, ``FormRegistry.get(key)`` returns it."""

    __tablename__ = "form_versions"
    __table_args__ = (UniqueConstraint("key", "version", name="uq_form_versions_key_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)
    #: The form's JSON, pretty-printed, exactly as validated.
    content: Mapped[str] = mapped_column(Text)
    #: SHA-256 of the canonical JSON (sorted keys, no spaces): equal forms have equal hashes.
    content_hash: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    published_by: Mapped[str] = mapped_column(String(80))
    published_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    #: "rascunho" (from a draft), "reversao" (an older version again) or "arquivo" (the file in forms/ again).
    origin: Mapped[str] = mapped_column(String(20), default="rascunho")
    draft_id: Mapped[int | None] = mapped_column(Integer, default=None)


class FormDraft(Base):
    """A form an analyst is editing; it may be invalid (even malformed JSON) until it is published."""

    __tablename__ = "form_drafts"
    __table_args__ = (Index("ix_form_drafts_key_status", "key", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100))
    content: Mapped[str] = mapped_column(Text)
    #: The published version the draft started from (None: from the file in forms/, or a new form).
    based_on_version: Mapped[int | None] = mapped_column(Integer, default=None)
    #: Bumped on every save: a save that read an older revision is refused instead of overwriting.
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    updated_by: Mapped[str] = mapped_column(String(80))
    updated_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    status: Mapped[str] = mapped_column(String(20), default="rascunho")


class FormEvent(Base):
    """One publication, revert or discard, with who did it and when (the form editor's audit log)."""

    __tablename__ = "form_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int | None] = mapped_column(Integer, default=None)
    action: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(80))
    at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    #: ``descricao`` (a sentence for people) plus the numbers of the action (versions, draft, hash).
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
