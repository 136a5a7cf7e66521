"""The Painel's results: plain frozen dataclasses (with ``as_dict()``) ready for a template, a CSV export or
JSON. Field names are in Portuguese because they are the columns people read and export.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

NO_PERSON = "Sem responsável"


class _Row:
    def as_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload,no-any-return]


@dataclass(frozen=True)
class ComplianceRow(_Row):
    """Deadline counts of one group (a procedure, a step, a unit, a person or a period)."""

    chave: str | None
    rotulo: str
    no_prazo: int
    com_atraso: int
    vencidos: int
    pendentes: int
    cancelados: int

    @property
    def encerrados(self) -> int:
        return self.no_prazo + self.com_atraso + self.vencidos

    @property
    def taxa_no_prazo(self) -> float | None:
        return self.no_prazo / self.encerrados if self.encerrados else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "encerrados": self.encerrados, "taxa_no_prazo": self.taxa_no_prazo}


@dataclass(frozen=True)
class TrendPoint(_Row):
    periodo: str
    rotulo: str
    encerrados: int
    no_prazo: int
    taxa_no_prazo: float | None


@dataclass(frozen=True)
class NowItem(_Row):
    """A running deadline for the "now" lists."""

    deadline_id: int
    case_id: int
    protocolo: str
    unidade: str
    processo: str
    tarefa: str
    prazo: str
    tipo: str
    responsavel: str | None
    fila: str | None
    due_at: dt.datetime
    vencimento: dt.date
    #: calendar days past the due date (0 when not overdue)
    dias_atraso: int
    #: working days from today to the due date (negative when overdue)
    dias_uteis_restantes: int

    @property
    def com(self) -> str:
        """Who holds it: the person, else the queue (role)."""
        return self.responsavel or (f"Fila: {self.fila}" if self.fila else NO_PERSON)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "com": self.com}


@dataclass(frozen=True)
class NowLists(_Row):
    hoje: dt.date
    limite: dict[str, dt.date]
    atrasados: list[NowItem] = field(default_factory=list)
    vencem_hoje: list[NowItem] = field(default_factory=list)
    proximos: list[NowItem] = field(default_factory=list)
    #: how many items each list has in all (the lists stop at the limit)
    totais: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"hoje": self.hoje, "limite": dict(self.limite), "totais": dict(self.totais),
                "atrasados": [i.as_dict() for i in self.atrasados],
                "vencem_hoje": [i.as_dict() for i in self.vencem_hoje],
                "proximos": [i.as_dict() for i in self.proximos]}


@dataclass(frozen=True)
class WaitingCount(_Row):
    """Open tasks waiting on one BPMN element (for the heat map)."""

    elemento: str
    titulo: str
    aguardando: int
    atrasados: int


@dataclass(frozen=True)
class WaitingCase(_Row):
    case_id: int
    protocolo: str
    unidade: str
    titulo_caso: str
    tarefa: str
    responsavel: str | None
    fila: str
    due_at: dt.datetime | None
    atrasado: bool
    desde: dt.datetime


@dataclass(frozen=True)
class DurationStats(_Row):
    """Durations in hours."""

    chave: str
    quantidade: int
    media_horas: float | None
    mediana_horas: float | None
    p90_horas: float | None


@dataclass(frozen=True)
class BacklogPoint(_Row):
    periodo: str
    abertos: int
    encerrados: int


@dataclass(frozen=True)
class FlowTimes(_Row):
    por_etapa: list[DurationStats]
    por_processo: list[DurationStats]
    duracao_casos: list[DurationStats]
    backlog: list[BacklogPoint]

    def as_dict(self) -> dict[str, Any]:
        return {"por_etapa": [r.as_dict() for r in self.por_etapa],
                "por_processo": [r.as_dict() for r in self.por_processo],
                "duracao_casos": [r.as_dict() for r in self.duracao_casos],
                "backlog": [r.as_dict() for r in self.backlog]}


def rows_as_dicts(rows: Iterable[_Row]) -> list[dict[str, Any]]:
    """Any list of dashboard rows as dictionaries (CSV / JSON)."""
    return [row.as_dict() for row in rows]
