"""Who is acting on a case: a person (with roles and unit) or the system itself (timers)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Actor:
    username: str
    full_name: str = ""
    roles: frozenset[str] = field(default_factory=frozenset)
    unit: str = "CAP"

    def has_role(self, *roles: str) -> bool:
        return "admin" in self.roles or bool(self.roles.intersection(roles))

    @property
    def display_name(self) -> str:
        return self.full_name or self.username


SYSTEM = Actor("sistema", "Procon Flow (automático)", frozenset({"admin"}))
