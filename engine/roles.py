"""The agency's roles and how BPMN lanes map onto them."""

from __future__ import annotations

import unicodedata

#: Role code -> label shown to people.
ROLES: dict[str, str] = {
    "atendente": "Atendente",
    "analista": "Analista",
    "conciliador": "Conciliador",
    "fiscal": "Fiscal",
    "autoridade": "Autoridade julgadora",
    "gestor": "Gestor",
    "analista_processos": "Analista de processos",
    "admin": "Administrador",
}


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
