"""Which cases a staff member reaches: their own unit's, or every unit's at the state level.

The rule itself is :meth:`engine.actors.Actor.sees_unit` (a role that works on cases, and the case's
unit or a state-level role: :data:`engine.roles.STATE_LEVEL_ROLES`). Here it meets the database: the
commands ask :func:`require_case_unit` before they touch a case, and the read side (pages, lists,
the API) filters with :func:`unit_scope` / :func:`visible_to`. A case of another unit is *not found*
(never "forbidden"), so its existence leaks nothing. Parties (consumers, suppliers) reach cases as
parties (:mod:`engine.parties.case_parties`), never by unit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, false, select, true

from engine.actors import Actor
from engine.errors import NotFound
from engine.runtime.statements import CASES

NOT_FOUND = "Caso não encontrado."

CASE_UNIT = select(CASES.c.unit).where(CASES.c.id == bindparam("case_id"))


def unit_scope(actor: Actor) -> str | None:
    """The unit whose cases ``actor`` sees; ``None`` for every unit (state level)."""
    return None if actor.is_state_level else actor.unit


def visible_to(actor: Actor, unit_column: Any) -> Any:
    """A condition on a unit column: the rows of the units ``actor`` sees (staff only)."""
    if actor.is_party or not actor.sees_unit(actor.unit):
        return false()
    scope = unit_scope(actor)
    return true() if scope is None else unit_column == scope


def require_case_unit(conn: Connection, case_id: int, actor: Actor, unit: str | None = None) -> str:
    """The case's unit, when a staff ``actor`` may reach the case; :class:`NotFound` otherwise.

    ``unit`` is the case's unit when the caller already read it (no second query). Parties pass
    through: what they may do is decided by the case's parties.
    """
    if unit is None:
        unit = conn.scalar(CASE_UNIT, {"case_id": case_id})
        if unit is None:
            raise NotFound(NOT_FOUND)
    if not actor.is_party and not actor.sees_unit(unit):
        raise NotFound(NOT_FOUND)
    return unit
