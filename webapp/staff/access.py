"""The request side of staff access to cases: the case a person may see (or a 404 that says nothing about
whether it exists), and the access-log record of each read of a case's personal data (LGPD).

The rule is the engine's (:meth:`engine.actors.Actor.sees_unit`: the person's unit, every unit at the
state level); the pages and the API call :func:`case_or_404` before they read a case, and
:func:`record_read` when what they show carries personal data (the case page, a task's form, an
attachment, a document, the API's case reads).
"""

from __future__ import annotations

from typing import Any

from flask import abort, g, request
from sqlalchemy import select

from engine.actors import Actor
from engine.lgpd import access_log
from engine.parties.models import PortalAccount
from engine.store.models import Case, User
from webapp.runtime_access import db_session, runtime


def client_address() -> str:
    """Where the request came from (the proxy's address unless the deployment sets up ProxyFix)."""
    return request.remote_addr or ""


def case_or_404(case_id: int, actor: Actor | None = None) -> Case:
    """The case, if ``actor`` (the signed-in person) may see it; 404 otherwise, as for a case that does not exist."""
    who = actor or g.actor
    case = db_session().get(Case, case_id)
    if case is None or who is None or not who.sees_unit(case.unit):
        abort(404)
    return case


def record_read(case: Case, what: str, detail: str = "", actor: Actor | None = None, channel: str = "web") -> None:
    """Write in the access log that ``actor`` read ``what`` of ``case`` now, from this request's address."""
    who = actor or g.actor
    with runtime().db.begin() as conn:
        access_log.record(conn, case.id, who, what, address=client_address(), channel=channel, detail=detail,
                          unit=who.unit or None)


def names_of(logins: Any) -> dict[str, str]:
    """Login -> the person's name, for staff logins (``portal:<id>`` accounts by their name too)."""
    wanted = {login for login in logins if login}
    if not wanted:
        return {}
    session = db_session()
    names = dict(session.execute(select(User.username, User.full_name).where(User.username.in_(wanted))).all())
    accounts = {int(login.split(":", 1)[1]): login for login in wanted
                if login.startswith("portal:") and login.split(":", 1)[1].isdigit()}
    if accounts:
        for account_id, name in session.execute(select(PortalAccount.id, PortalAccount.name)
                                                .where(PortalAccount.id.in_(accounts))):
            names[accounts[account_id]] = name
    return names
