"""Login sessions kept on the server, so that a person's sessions can be ended all at once, and the
record of sign-in attempts (failures, refusals for too many attempts).

The browser's signed cookie only carries the session's random id; the row says whose it is and
whether it still holds. Logging out, changing a password or being deactivated revokes every session
of that person (``revoke_all``): a cookie copied before is refused after, because its row is revoked.
Staff users (``equipe``) and portal accounts (``portal``) are kept apart by ``kind``. Rows are never
deleted: they are also the record of who signed in, when and from where.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import DateTime, Index, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine import clock
from engine.store.models import Base

STAFF = "equipe"
PORTAL = "portal"


class LoginSession(Base):
    __tablename__ = "login_sessions"
    __table_args__ = (Index("ix_login_sessions_subject", "kind", "subject_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    subject_id: Mapped[int] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    address: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    revoked_why: Mapped[str | None] = mapped_column(String(40), default=None)


def open_session(session: Session, kind: str, subject_id: int, address: str = "", user_agent: str = "") -> str:
    """Start a session for ``subject_id`` and return its id (what the cookie carries)."""
    token = secrets.token_urlsafe(32)
    session.add(LoginSession(id=token, kind=kind, subject_id=subject_id, created_at=clock.now(),
                             address=(address or "")[:64], user_agent=(user_agent or "")[:200]))
    return token


def live_subject(session: Session, kind: str, token: object) -> int | None:
    """Whose session ``token`` is, or ``None`` when it is unknown, of another kind or revoked."""
    if not isinstance(token, str) or not token:
        return None
    row = session.get(LoginSession, token)
    if row is None or row.kind != kind or row.revoked_at is not None:
        return None
    return row.subject_id


def revoke_all(session: Session, kind: str, subject_id: int, why: str) -> int:
    """End every open session of ``subject_id`` (logout, password change, deactivation); returns how many."""
    return session.execute(
        update(LoginSession).where(LoginSession.kind == kind, LoginSession.subject_id == subject_id,
                                   LoginSession.revoked_at.is_(None))
        .values(revoked_at=clock.now(), revoked_why=why[:40])).rowcount


def open_sessions(session: Session, kind: str, subject_id: int) -> list[LoginSession]:
    return list(session.scalars(select(LoginSession).where(
        LoginSession.kind == kind, LoginSession.subject_id == subject_id, LoginSession.revoked_at.is_(None))
        .order_by(LoginSession.created_at)))


class SignInEvent(Base):
    """A sign-in attempt worth keeping: a failure, a refusal for too many attempts, a sign-out of all sessions."""

    __tablename__ = "sign_in_events"
    __table_args__ = (Index("ix_sign_in_events_login_at", "login", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(10))
    action: Mapped[str] = mapped_column(String(30))
    login: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(64), default="")


def record_attempt(session: Session, kind: str, action: str, login: str, address: str) -> None:
    session.add(SignInEvent(at=clock.now(), kind=kind, action=action[:30], login=(login or "")[:200],
                            address=(address or "")[:64]))
