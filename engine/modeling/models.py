"""SQLAlchemy models of the process analysts' workspace: drafts of diagrams and the deployment log.

They share :class:`engine.store.models.Base` (``engine.store.models`` imports this module at its end so that
``Base.metadata.create_all`` creates these tables too). Nothing here is ever deleted: a draft ends
"implantado" or "descartado", and every deployment, rollback and migration of running cases leaves
a :class:`DeploymentEvent`. The rules live in :mod:`engine.modeling.versioning`; this module only holds the data.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine import clock
from engine.store.models import Base

#: Life of a draft: edited while "rascunho"; it ends deployed or discarded, and is kept either way.
DRAFT_STATUSES: tuple[str, ...] = ("rascunho", "implantado", "descartado")

#: What a deployment event records.
DEPLOYMENT_ACTIONS: dict[str, str] = {
    "implantacao": "implantação",
    "reversao": "reversão",
    "migracao": "migração de casos",
}


class ProcessDraft(Base):
    """A diagram an analyst is working on; it may be invalid until it is deployed."""

    __tablename__ = "process_drafts"
    __table_args__ = (Index("ix_process_drafts_process_status", "process_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    bpmn_xml: Mapped[str] = mapped_column(Text)
    #: The deployed version the draft started from (None for a procedure not deployed yet).
    based_on_definition_id: Mapped[int | None] = mapped_column(ForeignKey("process_definitions.id"), default=None)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    updated_by: Mapped[str] = mapped_column(String(80))
    updated_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    status: Mapped[str] = mapped_column(String(20), default="rascunho")


class DeploymentEvent(Base):
    """One deployment, rollback or migration of running cases, with who did it and when."""

    __tablename__ = "deployment_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100), index=True)
    #: The version that became current (deploy, rollback) or that cases were moved to (migration).
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"))
    action: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(80))
    at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    #: ``descricao`` (a sentence for people) plus the numbers of the action (versions, draft, cases).
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
