"""The parties of a case (its consumer and its supplier) and what each party may see.

A case's parties come from its data: ``consumidor_cpf`` and ``fornecedor_cnpj``, whichever form
filled them (the attendant's registration, the portal, an auto de infração). The runtime keeps them
in ``case_parties`` (:func:`write_case_parties`, same transaction as the case); the portal and the
API ask :func:`visible_case_ids` / :func:`is_party_of` and never read another party's case.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, or_, select, tuple_
from sqlalchemy.sql import Select

from engine.actors import Actor
from engine.forms.submission import canonical_cnpj, canonical_cpf
from engine.parties.models import CaseParty

CASE_PARTIES = CaseParty.__table__

#: Case data key -> (party role, how to write the key canonically)
PARTY_FIELDS = {
    "consumidor_cpf": ("consumidor", canonical_cpf),
    "fornecedor_cnpj": ("fornecedor", canonical_cnpj),
}


def parties_of(data: Mapping[str, Any]) -> set[tuple[str, str]]:
    """The (role, canonical CPF/CNPJ) pairs a case's data names."""
    found = set()
    for key, (role, canonical) in PARTY_FIELDS.items():
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            written = canonical(value)
            if written:
                found.add((role, written))
    return found


def write_case_parties(conn: Connection, case_id: int, data: Mapping[str, Any],
                       previous: Mapping[str, Any] | None) -> None:
    """Bring ``case_parties`` in line with the case data (only the rows that changed)."""
    now = parties_of(data)
    before = parties_of(previous or {})
    if now == before:
        return
    gone = before - now
    if gone:
        conn.execute(delete(CASE_PARTIES).where(
            CASE_PARTIES.c.case_id == case_id,
            tuple_(CASE_PARTIES.c.role, CASE_PARTIES.c.party_key).in_(sorted(gone))))
    added = now - before
    if added:
        conn.execute(insert(CASE_PARTIES), [{"case_id": case_id, "role": role, "party_key": key}
                                            for role, key in sorted(added)])


def _party_filter(parties: Iterable[tuple[str, str]]) -> Any:
    pairs = sorted(parties)
    if not pairs:
        return None
    return or_(*(and_(CASE_PARTIES.c.role == role, CASE_PARTIES.c.party_key == key) for role, key in pairs))


def visible_case_ids(actor: Actor, role: str | None = None) -> Select[Any]:
    """A select of the ids of the cases ``actor`` is a party of (optionally as ``role`` only)."""
    parties = [p for p in actor.parties if role is None or p[0] == role]
    condition = _party_filter(parties)
    query = select(CASE_PARTIES.c.case_id).distinct()
    if condition is None:
        return query.where(CASE_PARTIES.c.case_id.is_(None))
    return query.where(condition)


def is_party_of(conn: Connection, case_id: int, actor: Actor, role: str | None = None) -> bool:
    """Whether ``actor`` is the consumer or the supplier (or, with ``role``, that one) of the case."""
    parties = [p for p in actor.parties if role is None or p[0] == role]
    condition = _party_filter(parties)
    if condition is None:
        return False
    return conn.execute(select(CASE_PARTIES.c.id).where(CASE_PARTIES.c.case_id == case_id, condition)
                        .limit(1)).first() is not None


def may_work_on(conn: Connection, case_id: int, actor: Actor, role: str | None) -> bool:
    """Whether ``actor`` may work a task of ``role`` in this case.

    Staff follow their roles (:meth:`Actor.may_perform`, which lets an attendant register a party's
    answer on its behalf); a party must also be *this* case's party in that role.
    """
    if not actor.may_perform(role):
        return False
    if actor.is_party:
        return role is not None and is_party_of(conn, case_id, actor, role)
    return True


def backfill_case_parties(conn: Connection, batch: int = 1000) -> int:
    """Fill ``case_parties`` for a database that had cases before the table existed (run once, at init).

    Reads the ``cases.data`` projection only; returns how many party rows were written.
    """
    from engine.store.models import Case

    cases = Case.__table__
    if conn.execute(select(CASE_PARTIES.c.id).limit(1)).first() is not None:
        return 0
    written = 0
    last_id = 0
    while True:
        rows = conn.execute(select(cases.c.id, cases.c.data).where(cases.c.id > last_id)
                            .order_by(cases.c.id).limit(batch)).all()
        if not rows:
            return written
        values = [{"case_id": row.id, "role": role, "party_key": key}
                  for row in rows for role, key in sorted(parties_of(row.data or {}))]
        if values:
            conn.execute(insert(CASE_PARTIES), values)
            written += len(values)
        last_id = rows[-1].id
