"""The parties of a case (its consumer and its supplier) and what each party may see.

A case's parties come from its data: ``consumidor_cpf`` and ``fornecedor_cnpj``, whichever form
filled them (the attendant's registration, the portal, an auto de infração). The runtime keeps them
in ``case_parties`` (:func:`write_case_parties`, same transaction as the case); the portal and the
API ask :func:`visible_case_ids` / :func:`is_party_of` and never read another party's case.

An actor reaches a case through one of its pairs in two ways (see :class:`engine.actors.Actor`):

- ``parties`` (proven in full): every case of that party, except those *held* for its account because the
  consumer's name on the case differs from the account's (:mod:`engine.parties.identity`);
- any pair, ``limited`` included: the cases the account filed itself (``cases.created_by``) and those it
  proved one by one (``identity_proofs`` with a case).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, insert, or_, select, tuple_
from sqlalchemy.sql import ColumnElement, Select

from engine.actors import Actor
from engine.forms.submission import canonical_cnpj, canonical_cpf
from engine.parties.identity import hold_divergences
from engine.parties.models import CaseParty
from engine.parties.proof_models import IdentityProof, PartyLinkHold
from engine.store.models import Case

CASE_PARTIES = CaseParty.__table__
CASES = Case.__table__
PROOFS = IdentityProof.__table__
HOLDS = PartyLinkHold.__table__

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
        hold_divergences(conn, case_id, {key for role, key in added if role == "consumidor"},
                         str(data.get("consumidor_nome") or ""))


def _party_filter(parties: Iterable[tuple[str, str]]) -> Any:
    pairs = sorted(parties)
    if not pairs:
        return None
    return or_(*(and_(CASE_PARTIES.c.role == role, CASE_PARTIES.c.party_key == key) for role, key in pairs))


def account_id_of(actor: Actor) -> int | None:
    """The portal account behind a party actor (``portal:<id>``, as :func:`actor_for_account` names it)."""
    prefix, _, number = actor.username.partition(":")
    return int(number) if actor.is_party and prefix == "portal" and number.isdigit() else None


def _reach(actor: Actor, role: str | None) -> ColumnElement[bool] | None:
    """The condition on a ``case_parties`` row that lets ``actor`` reach its case (``None``: reaches nothing)."""
    full = [p for p in actor.parties if role is None or p[0] == role]
    limited = [p for p in actor.limited if role is None or p[0] == role]
    account_id = account_id_of(actor)
    conditions = []
    if full:
        condition = _party_filter(full)
        if account_id is not None:
            held = select(HOLDS.c.case_id).where(HOLDS.c.account_id == account_id,
                                                 or_(HOLDS.c.resolution.is_(None), HOLDS.c.resolution != "vincular"))
            condition = and_(condition, CASE_PARTIES.c.case_id.not_in(held))
        conditions.append(condition)
    if full or limited:
        own = [exists().where(CASES.c.id == CASE_PARTIES.c.case_id, CASES.c.created_by == actor.username)]
        if account_id is not None:
            own.append(CASE_PARTIES.c.case_id.in_(select(PROOFS.c.case_id).where(
                PROOFS.c.account_id == account_id, PROOFS.c.case_id.is_not(None))))
        conditions.append(and_(_party_filter(full + limited), or_(*own)))
    return or_(*conditions) if conditions else None


def visible_case_ids(actor: Actor, role: str | None = None) -> Select[Any]:
    """A select of the ids of the cases ``actor`` is a party of (optionally as ``role`` only)."""
    condition = _reach(actor, role)
    query = select(CASE_PARTIES.c.case_id).distinct()
    if condition is None:
        return query.where(CASE_PARTIES.c.case_id.is_(None))
    return query.where(condition)


def is_party_of(conn: Connection, case_id: int, actor: Actor, role: str | None = None) -> bool:
    """Whether ``actor`` is the consumer or the supplier (or, with ``role``, that one) of the case."""
    condition = _reach(actor, role)
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
    cases = CASES
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
