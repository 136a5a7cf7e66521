"""Retried API requests that must not act twice: what was answered to each ``Idempotency-Key``.

A client (the mobile app on a bad connection) sends ``POST`` with an ``Idempotency-Key``; the first
request claims the key for its caller and, once answered, stores the answer. A retry with the same
key and the same content gets the stored answer back and creates nothing; the same key with other
content is refused; a retry while the first is still running is told to wait. An answer that was a
server error is not kept (the key may be used again). Rows are never deleted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import DateTime, Integer, String, Text, UniqueConstraint, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine import clock
from engine.store.models import Base


class IdempotentRequest(Base):
    __tablename__ = "api_idempotency"
    __table_args__ = (UniqueConstraint("owner", "key", name="uq_api_idempotency_owner_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[int | None] = mapped_column(Integer, default=None)
    body: Mapped[str | None] = mapped_column(Text, default=None)
    content_type: Mapped[str | None] = mapped_column(String(100), default=None)
    location: Mapped[str | None] = mapped_column(String(500), default=None)
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)


@dataclass(frozen=True)
class Claim:
    """``new`` (go on), ``replay`` (answer with ``stored``), ``mismatch`` (other content) or ``running``."""

    outcome: str
    stored: IdempotentRequest | None = None


def claim(session: Session, owner: str, key: str, fingerprint: str) -> Claim:
    """Claim ``key`` for ``owner`` (commits), or say why the request must not run."""
    try:
        with session.begin_nested():
            session.add(IdempotentRequest(owner=owner, key=key, fingerprint=fingerprint, created_at=clock.now()))
        session.commit()
        return Claim("new")
    except IntegrityError:
        session.rollback()
    row = session.scalars(select(IdempotentRequest).where(IdempotentRequest.owner == owner,
                                                          IdempotentRequest.key == key)).one()
    if row.fingerprint != fingerprint:
        return Claim("mismatch", row)
    if row.status is None:
        return Claim("running", row)
    return Claim("replay", row)


def answer(session: Session, owner: str, key: str, status: int, body: str, content_type: str,
           location: str | None) -> None:
    """Keep the answer of a claimed request (commits); a server error frees the key instead."""
    table = IdempotentRequest.__table__
    where = (table.c.owner == owner) & (table.c.key == key) & table.c.status.is_(None)
    if status >= 500:
        session.execute(update(table).where(where).values(fingerprint="", key=f"{key}#erro-{clock.now().isoformat()}"))
    else:
        session.execute(update(table).where(where).values(status=status, body=body, content_type=content_type,
                                                          location=location, answered_at=clock.now()))
    session.commit()
