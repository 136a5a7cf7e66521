"""SQLAlchemy 2.0 models: cases with their serialized workflow state, and the projections beside them.

The UI never deserializes a workflow to list work: it reads ``open_tasks``, ``deadlines`` and
``audit_events``, which :mod:`engine.runtime` rewrites in the same transaction as the case.
Nothing is ever deleted: cases are closed, tasks leave the projection but stay in the audit trail.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from engine import clock

#: Version of the stored case format (``cases.state``); bump it with a migration in engine.store.serialization.
CASE_STATE_FORMAT = 1


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("datas gravadas no banco precisam de fuso horário")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON}


class User(Base):
    """A person who works in the agency. Roles are a space-separated list (``atendente analista``)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(300))
    roles_text: Mapped[str] = mapped_column("roles", String(300), default="")
    unit: Mapped[str] = mapped_column(String(20), default="CAP")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(self.roles_text.split())

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles)) or "admin" in self.roles


class ProcessDefinition(Base):
    """A deployed version of one BPMN process: XML stored once per content hash."""

    __tablename__ = "process_definitions"
    __table_args__ = (UniqueConstraint("process_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    bpmn_xml: Mapped[str] = mapped_column(Text)
    deployed_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    deployed_by: Mapped[str] = mapped_column(String(80), default="sistema")


class Case(Base):
    """One running or closed procedure. ``state`` is the SpiffWorkflow instance without its spec."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    protocol: Mapped[str] = mapped_column(String(40), unique=True)
    unit: Mapped[str] = mapped_column(String(20), index=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"))
    process_id: Mapped[str] = mapped_column(String(100), index=True)
    title: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(20), default="aberto", index=True)
    outcome: Mapped[str | None] = mapped_column(String(200), default=None)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: Projection of the workflow's current data, so pages show a case without deserializing it.
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(Text)
    state_format: Mapped[int] = mapped_column(default=CASE_STATE_FORMAT)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    closed_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    definition: Mapped[ProcessDefinition] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}


class OpenTask(Base):
    """Projection: a user task waiting for a person (READY in SpiffWorkflow)."""

    __tablename__ = "open_tasks"
    __table_args__ = (
        Index("ix_open_tasks_role_due", "role", "due_at"),
        Index("ix_open_tasks_assignee_due", "assignee", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(36), unique=True)
    spec_name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(40))
    assignee: Mapped[str | None] = mapped_column(String(80), default=None)
    form_key: Mapped[str | None] = mapped_column(String(100), default=None)
    due_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    case: Mapped[Case] = relationship(lazy="joined")


class Deadline(Base):
    """Projection: a deadline on a case — a BPMN timer (``kind`` "legal") or a user task's internal
    SLA (``kind`` "interno"). ``fired_at`` once a timer went off; ``met_at`` once the work was done."""

    __tablename__ = "deadlines"
    __table_args__ = (Index("ix_deadlines_pending", "fired_at", "due_at"),
                      Index("ix_deadlines_unit_due", "unit", "due_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(36), unique=True)
    spec_name: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    attached_to: Mapped[str | None] = mapped_column(String(100), default=None)
    kind: Mapped[str] = mapped_column(String(20), default="legal")
    #: The unit's deadline setting it was counted with ("cip", "defesa"... or "prazo" for a plain count).
    legal_kind: Mapped[str | None] = mapped_column(String(40), default=None)
    legal_basis: Mapped[str] = mapped_column(String(300), default="")
    days: Mapped[int | None] = mapped_column(Integer, default=None)
    mode: Mapped[str | None] = mapped_column(String(10), default=None)
    unit: Mapped[str | None] = mapped_column(String(20), default=None, index=True)
    starts_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    due_at: Mapped[dt.datetime] = mapped_column()
    fired_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    met_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    warned_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    outcome: Mapped[str | None] = mapped_column(String(20), default=None)


class Notification(Base):
    """A message to a person (``recipient``) or to everyone with a role in a unit: deadline warnings
    and escalations. Marked read, never deleted."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_recipient", "recipient", "read_at"),
                      Index("ix_notifications_role", "role", "unit", "read_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), default=None)
    deadline_id: Mapped[int | None] = mapped_column(ForeignKey("deadlines.id"), default=None)
    recipient: Mapped[str | None] = mapped_column(String(80), default=None)
    role: Mapped[str | None] = mapped_column(String(40), default=None)
    unit: Mapped[str | None] = mapped_column(String(20), default=None)
    kind: Mapped[str] = mapped_column(String(30))
    message: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    read_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class ExternalJob(Base):
    """Projection + outbox: a service task waiting for a worker (Camunda "external task").

    ``pendente`` until a worker runs its handler and the engine completes the task (``concluido``);
    after the last failed attempt, or a permanent error, it is an ``incidente`` an admin can retry.
    ``payload`` is the task's data when it became ready: what the handler works on.
    """

    __tablename__ = "external_jobs"
    __table_args__ = (Index("ix_external_jobs_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(36), unique=True)
    spec_name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(100))
    unit: Mapped[str | None] = mapped_column(String(20), default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pendente")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    locked_by: Mapped[str | None] = mapped_column(String(120), default=None)
    locked_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(String(1000), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    incident_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    completed_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Document(Base):
    """An official document issued on a case, stored with its hash and a public verification code."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    verification_code: Mapped[str] = mapped_column(String(40), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    html: Mapped[str] = mapped_column(Text)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class SchedulerLease(Base):
    """Who runs a singleton job (on SQLite only one worker may fire timers)."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120))
    expires_at: Mapped[dt.datetime] = mapped_column()


class AuditEvent(Base):
    """Every change to a case, written in the same transaction as the change."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_case_at", "case_id", "at"), Index("ix_audit_action_at", "action", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40))
    task_spec: Mapped[str | None] = mapped_column(String(100), default=None)
    task_id: Mapped[str | None] = mapped_column(String(36), default=None)
    description: Mapped[str] = mapped_column(String(500), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ProtocolSequence(Base):
    """Last protocol number issued per unit and year."""

    __tablename__ = "protocol_sequences"

    unit: Mapped[str] = mapped_column(String(20), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


class Attachment(Base):
    """An uploaded file, stored with its SHA-256; referenced from case data by id and hash."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), default=None, index=True)
    uploaded_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    @classmethod
    def from_upload(cls, upload: Any, case_id: int | None, username: str) -> Attachment:
        """Build a row from an :class:`engine.forms.submission.UploadedFile`."""
        return cls(sha256=hashlib.sha256(upload.data).hexdigest(), filename=upload.filename[:255],
                   content_type=upload.content_type or "application/octet-stream", size=len(upload.data),
                   data=upload.data, case_id=case_id, uploaded_by=username, created_at=clock.now())

    def reference(self) -> dict[str, Any]:
        """What the case data keeps about the file (never the bytes)."""
        return {"anexo_id": self.id, "nome": self.filename, "sha256": self.sha256, "tamanho": self.size}
