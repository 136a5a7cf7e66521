"""The agency's roles, the parties' roles, and how BPMN lanes map onto them.

Staff roles are given to agency users. The two party roles (``consumidor``, ``fornecedor``) are lanes
in the same diagrams: a task in those lanes is done by the case's own consumer or supplier through
the portal or the API, or registered on their behalf by staff (a reply that came by post, say) —
:func:`may_perform` says who may act on a task of a given role.
"""

from __future__ import annotations

import unicodedata

#: Staff role code -> label shown to people.
STAFF_ROLES: dict[str, str] = {
    "atendente": "Atendente",
    "analista": "Analista",
    "conciliador": "Conciliador",
    "fiscal": "Fiscal",
    "autoridade": "Autoridade julgadora",
    "gestor": "Gestor",
    "gestor_estadual": "Gestor estadual",
    "analista_processos": "Analista de processos",
    "admin": "Administrador",
}

#: Roles that reach the cases of every unit: the state agency's administrators and managers. Everyone else
#: on the staff works on the cases of their own unit (:mod:`engine.runtime.access`).
STATE_LEVEL_ROLES: frozenset[str] = frozenset({"admin", "gestor_estadual"})

#: Roles that work on cases, and so may read a case's data; a process analyst alone does not.
CASE_ROLES: frozenset[str] = frozenset(STAFF_ROLES) - {"analista_processos"}

#: A role that carries another's powers: a state manager is a manager (Painel, release, reassign) of every unit.
IMPLIED_ROLES: dict[str, frozenset[str]] = {"gestor_estadual": frozenset({"gestor"})}

#: Party role code -> label. Never given to agency users: portal accounts act in these lanes.
PARTY_ROLES: dict[str, str] = {
    "consumidor": "Consumidor",
    "fornecedor": "Fornecedor",
}

#: Every role a lane or a candidate group may name.
ROLES: dict[str, str] = {**STAFF_ROLES, **PARTY_ROLES}

#: Staff who may register a party's answer on the party's behalf (it came by post, by phone, in person).
PARTY_PROXIES: dict[str, frozenset[str]] = {
    "consumidor": frozenset({"atendente", "conciliador"}),
    "fornecedor": frozenset({"atendente", "analista"}),
}


def with_implied(roles: frozenset[str]) -> frozenset[str]:
    """``roles`` plus the roles they carry (:data:`IMPLIED_ROLES`)."""
    extra = [IMPLIED_ROLES[r] for r in roles if r in IMPLIED_ROLES]
    return roles.union(*extra) if extra else roles


def may_perform(roles: frozenset[str], role: str | None) -> bool:
    """Whether someone with ``roles`` may take or complete a task of ``role``.

    For a party role this only says the person may act *as that kind of party*; whether they are
    *this case's* party is checked against the case's parties (:mod:`engine.parties.case_parties`).
    """
    if role is None or "admin" in roles or role in roles:
        return True
    return bool(roles & PARTY_PROXIES.get(role, frozenset()))


def _normalise(text: str) -> str:
    stripped = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "_".join(stripped.lower().split())


def role_for_lane(lane_name: str | None) -> str | None:
    """The role a lane stands for: its name, accents and case ignored ("Atendente" -> atendente)."""
    if not lane_name:
        return None
    code = _normalise(lane_name)
    if code in ROLES:
        return code
    for role, label in ROLES.items():
        if _normalise(label) == code:
            return role
    return None
