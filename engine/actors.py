"""Who is acting on a case: a person (with roles and unit), a party outside the agency, or the system.

A consumer or a supplier's representative is an actor with a party role (``consumidor`` /
``fornecedor``) and ``parties``: the (role, CPF or CNPJ) pairs they answer for. The runtime lets them
act only on tasks of their role in cases whose parties include one of those pairs. A consumer who has not
proven its CPF holds it in ``limited`` instead: it reaches only the cases it filed itself or proved one by
one (:mod:`engine.parties.case_parties`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.roles import CASE_ROLES, PARTY_ROLES, STATE_LEVEL_ROLES, may_perform, with_implied


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

    def __post_init__(self) -> None:
        # the roles a role carries count as held (a state manager is a manager): every check sees the same set
        object.__setattr__(self, "roles", with_implied(frozenset(self.roles)))

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
    def is_state_level(self) -> bool:
        """Staff who reach every unit's cases (``admin``, ``gestor_estadual``)."""
        return bool(self.roles & STATE_LEVEL_ROLES)

    def sees_unit(self, unit: str | None) -> bool:
        """Whether this staff member may see and work on the cases of ``unit``: a role that works on
        cases, and the same unit (any unit at the state level). Parties reach cases as parties, not by unit."""
        if self.is_party or not self.roles & CASE_ROLES:
            return False
        return self.is_state_level or unit == self.unit

    @property
    def display_name(self) -> str:
        return self.full_name or self.username


SYSTEM = Actor("sistema", "Procon Flow (automático)", frozenset({"admin"}))
