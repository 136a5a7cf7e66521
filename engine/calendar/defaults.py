"""The calendar's built-in data: the two counting modes and the default deadline of each kind — plain
values shared by the counting rules, the calendar service and the administrators' pages.
"""

from __future__ import annotations

from typing import Any

#: The two ways of counting a deadline (Lei 9.784/1999 art. 66; business days by analogy with CPC art. 219).
COUNTING_MODES: tuple[str, ...] = ("corridos", "uteis")

#: Deadlines used when a unit has no setting of its own for a kind: days, mode and legal basis.
#: Every one of them is a default an administrator can change per unit (see ``CalendarService.set_rule``).
DEFAULT_DEADLINES: dict[str, dict[str, Any]] = {
    "cip": {
        "days": 10,
        "mode": "corridos",
        "legal_basis": "CDC (Lei 8.078/1990), art. 55, § 4º — Carta de Informações Preliminares; prazo padrão do órgão",
    },
    "defesa": {
        "days": 20,
        "mode": "corridos",
        "legal_basis": "Decreto 2.181/1997, art. 44 (impugnação do auto de infração)",
    },
    "recurso": {
        "days": 10,
        "mode": "corridos",
        "legal_basis": "Decreto 2.181/1997, art. 49 (recurso da decisão de primeira instância)",
    },
    "pagamento": {
        "days": 10,
        "mode": "corridos",
        "legal_basis": "Decreto 2.181/1997, art. 46, § 2º (recolhimento da multa após a decisão)",
    },
    "divida_ativa": {
        "days": 30,
        "mode": "corridos",
        "legal_basis": "Decreto 2.181/1997, art. 55 (inscrição em dívida ativa da multa não recolhida)",
    },
    "prazo": {
        "days": 10,
        "mode": "corridos",
        "legal_basis": "Prazo geral do órgão; contagem conforme Lei 9.784/1999, art. 66",
    },
}
