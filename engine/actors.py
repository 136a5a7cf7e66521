"""Who is acting on a case: a person (with roles and unit), a party outside the agency, or the system.

A consumer or a supplier's representative is an actor with a party role (``consumidor`` /
``fornecedor``) and ``parties``: the (role, CPF or CNPJ) pairs they answer for. The runtime lets them
act only on tasks of their role in cases whose parties include one of those pairs. A consumer who has not
proven its CPF holds it in ``limited`` instead: it reaches only the cases it filed itself or proved one by
one (:mod:`engine.parties.case_parties`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.roles import PARTY_ROLES, may_perform


@dataclass(frozen=True)
class Actor:
    username: str
    full_name: str = ""
    roles: frozenset[str] = field(default_factory=frozenset)
    unit: str = "CAP"
    #: (party role, canonical CPF/CNPJ) pairs this person answers for; empty for staff
    parties: frozenset[tuple[str, str]] = frozenset()
    #: pairs claimed but not proven: they reach only the cases this person filed or proved one by one
    limited: frozenset[tuple[str, str]] = frozenset()

    def has_role(self, *roles: str) -> bool:
        return "admin" in self.roles or bool(self.roles.intersection(roles))

    def may_perform(self, role: str | None) -> bool:
        """Whether this person may work a task of ``role`` (a party role: as the party or on its behalf)."""
        return may_perform(self.roles, role)

    @property
    def is_party(self) -> bool:
        """A consumer or supplier (not agency staff)."""
        return bool(self.roles) and self.roles <= PARTY_ROLES.keys()

    @property
    def display_name(self) -> str:
        return self.full_name or self.username


SYSTEM = Actor("sistema", "Procon Flow (automático)", frozenset({"admin"}))
