"""The access log: record each read of a case's personal data, and read the log back per person and per case.

Who records: the web app, after it decided the reader may see the case (staff pages, attachments,
documents, the API's case reads); the engine has no request, so the address comes from the caller.
Each record is its own small transaction: a read changes nothing else.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session

from engine import clock
from engine.actors import Actor
from engine.lgpd.models import PORTAL, STAFF, CaseAccess
from engine.store.models import Case

ACCESS = CaseAccess.__table__

#: what was read -> how it is shown to people
WHAT: dict[str, str] = {
    "caso": "Página do caso",
    "tarefa": "Tarefa do caso",
    "anexo": "Anexo",
    "documento": "Documento oficial",
    "historico": "Histórico do caso",
    "documentos": "Lista de documentos",
    "exportacao": "Exportação dos dados do titular (LGPD)",
}

#: the most rows one query of the log returns (the admin page narrows by person, case and period)
MAX_ROWS = 500


def record(conn: Connection, case_id: int, actor: Actor, what: str, *, address: str = "", channel: str = "web",
           detail: str = "", unit: str | None = None) -> None:
    """One read of case ``case_id`` by ``actor`` (in the caller's transaction)."""
    if what not in WHAT:
        raise ValueError(f"leitura desconhecida: {what}")
    conn.execute(insert(ACCESS).values(
        at=clock.now(), case_id=case_id, reader=actor.username[:254], reader_name=actor.display_name[:200],
        reader_kind=PORTAL if actor.is_party else STAFF, unit=unit or (actor.unit or None), channel=channel,
        address=(address or "")[:64], what=what, detail=(detail or "")[:300]))


@dataclass(frozen=True)
class AccessRow:
    """One entry as the admin page and the exports show it."""

    at: dt.datetime
    case_id: int
    protocol: str
    reader: str
    reader_name: str
    reader_kind: str
    unit: str | None
    channel: str
    address: str
    what: str
    what_label: str
    detail: str

    def as_dict(self) -> dict[str, object]:
        return {"em": self.at.isoformat(), "protocolo": self.protocol, "quem": self.reader_name,
                "login": self.reader, "tipo": self.reader_kind, "unidade": self.unit, "canal": self.channel,
                "endereco": self.address, "o_que": self.what_label, "detalhe": self.detail}


def entries(session: Session, *, reader: str | None = None, case_id: int | None = None,
            case_ids: list[int] | None = None, start: dt.datetime | None = None, end: dt.datetime | None = None,
            limit: int = MAX_ROWS) -> list[AccessRow]:
    """Log entries, the most recent first: of one person (``reader``: login), of one case or several,
    from ``start`` (inclusive) to ``end`` (exclusive)."""
    query = (select(CaseAccess, Case.protocol).join(Case, Case.id == CaseAccess.case_id)
             .order_by(CaseAccess.at.desc(), CaseAccess.id.desc()).limit(limit))
    if reader:
        query = query.where(CaseAccess.reader == reader)
    if case_id is not None:
        query = query.where(CaseAccess.case_id == case_id)
    if case_ids is not None:
        query = query.where(CaseAccess.case_id.in_(case_ids or [-1]))
    if start is not None:
        query = query.where(CaseAccess.at >= start)
    if end is not None:
        query = query.where(CaseAccess.at < end)
    return [AccessRow(row.at, row.case_id, protocol, row.reader, row.reader_name, row.reader_kind, row.unit,
                      row.channel, row.address, row.what, WHAT.get(row.what, row.what), row.detail)
            for row, protocol in session.execute(query)]


@dataclass(frozen=True)
class StaffRead:
    """Who at the Procon opened a case, and when (what a consumer sees on the portal)."""

    name: str
    at: dt.datetime
    what: str


def staff_reads(session: Session, case_id: int, limit: int = 100) -> list[StaffRead]:
    """The staff's reads of a case, the most recent first (names, never logins or addresses)."""
    rows = session.execute(select(CaseAccess.reader_name, CaseAccess.reader, CaseAccess.at, CaseAccess.what)
                           .where(CaseAccess.case_id == case_id, CaseAccess.reader_kind == STAFF)
                           .order_by(CaseAccess.at.desc(), CaseAccess.id.desc()).limit(limit))
    return [StaffRead(r.reader_name or r.reader, r.at, WHAT.get(r.what, r.what)) for r in rows]
