"""Protocol numbers: one human-readable sequence per unit and year, e.g. ``CAP-2026-000123``."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import Connection, insert, update
from sqlalchemy.exc import IntegrityError

from engine import clock
from engine.store.models import ProtocolSequence

AGENCY_TZ = ZoneInfo("America/Sao_Paulo")


def format_protocol(unit: str, year: int, number: int) -> str:
    return f"{unit}-{year}-{number:06d}"


def next_protocol(session: Connection, unit: str) -> str:
    """Take the next number atomically (one UPDATE ... RETURNING; safe with concurrent writers)."""
    year = clock.now().astimezone(AGENCY_TZ).year
    for _attempt in range(3):
        number = session.execute(
            update(ProtocolSequence)
            .where(ProtocolSequence.unit == unit, ProtocolSequence.year == year)
            .values(last_value=ProtocolSequence.last_value + 1)
            .returning(ProtocolSequence.last_value)
        ).scalar()
        if number is not None:
            return format_protocol(unit, year, number)
        try:
            with session.begin_nested():
                session.execute(insert(ProtocolSequence).values(unit=unit, year=year, last_value=1))
            return format_protocol(unit, year, 1)
        except IntegrityError:
            continue  # another transaction created the row first: take the UPDATE path again
    raise RuntimeError("não foi possível gerar o número de protocolo")
