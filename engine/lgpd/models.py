"""The access log table: one row per read of a case's personal data (who, when, which case, from where, what).

Reads are not changes, so they are not audit events (the audit trail is the legal record of what was
done and is hash-chained); they are kept here, never deleted, and queried per person and per case.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from engine import clock
from engine.store.models import Base

#: ``reader_kind``: agency staff, or a portal account (a consumer or a supplier's representative)
STAFF = "equipe"
PORTAL = "portal"


class CaseAccess(Base):
    """One read of a case's personal data."""

    __tablename__ = "case_access_log"
    __table_args__ = (Index("ix_case_access_case_at", "case_id", "at"),
                      Index("ix_case_access_reader_at", "reader", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    #: the staff login or the portal account's e-mail, and the name shown to people (as it was then)
    reader: Mapped[str] = mapped_column(String(254))
    reader_name: Mapped[str] = mapped_column(String(200), default="")
    reader_kind: Mapped[str] = mapped_column(String(10), default=STAFF)
    unit: Mapped[str | None] = mapped_column(String(20), default=None)
    #: ``web`` (pages) or ``api``
    channel: Mapped[str] = mapped_column(String(10), default="web")
    #: the request's address (IPv4 or IPv6)
    address: Mapped[str] = mapped_column(String(64), default="")
    #: what was read: a key of :data:`engine.lgpd.access_log.WHAT`, and which item (a file's name...)
    what: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(String(300), default="")
