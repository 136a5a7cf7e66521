"""How views reach the engine: the app's :class:`engine.runtime.Runtime` and a request's session."""

from __future__ import annotations

from flask import current_app, g
from sqlalchemy.orm import Session

from engine.runtime import Runtime


def runtime() -> Runtime:
    return current_app.extensions["procon_runtime"]


def db_session() -> Session:
    """A read-only session for this request, closed at teardown."""
    if "db_session" not in g:
        g.db_session = runtime().Session()
    return g.db_session


def close_db_session(_error: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
