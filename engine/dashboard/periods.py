"""The Painel's filters and periods: :class:`Filters`, the groupings, the local week / month buckets and how
a period is covered by the aggregate tables (:func:`split_period`, :func:`cover`), with the small SQL pieces
the queries share.

Periods (weeks starting on Monday, months) are computed in the agency's time zone
(``America/Sao_Paulo``): on PostgreSQL with ``timezone()``, on SQLite with the fixed UTC offset of
that zone (Brazil has had no daylight saving time since 2019). Buckets are ISO dates (``2026-03-02``)
of the first day of the week or month on both databases.

A custom period (``de`` / ``até``, whole local days) is read as its whole months, then the whole weeks
and the single days at its edges, all from the aggregate tables (:func:`cover`); only a bound that is
not at local midnight leaves a piece of a day, counted on the projections the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, case, func, or_
from sqlalchemy.orm import Session

from engine import clock
from engine.dashboard import aggregates as totals

#: The agency's time zone, used to bucket due dates and to tell "today".
TIMEZONE = "America/Sao_Paulo"

GROUPS = ("processo", "etapa", "unidade", "pessoa", "periodo_semana", "periodo_mes")
KINDS = ("legal", "interno")
BUCKETS = ("semana", "mes")

GROUP_LABELS = {"processo": "Procedimento", "etapa": "Etapa", "unidade": "Unidade", "pessoa": "Pessoa",
                "periodo_semana": "Semana", "periodo_mes": "Mês"}


@dataclass(frozen=True)
class Filters:
    """Dashboard filters. ``kind`` is "legal", "interno" or ``None`` (both)."""

    unit: str | None = None
    process_id: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    kind: str | None = None

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in KINDS:
            raise ValueError(f"Tipo de prazo inválido: {self.kind!r} (use legal ou interno).")
        for moment in (self.start, self.end):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("As datas do período precisam de fuso horário.")


# --------------------------------------------------------------------------- helpers


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _utc_offset_hours() -> int:
    offset = clock.now().astimezone(ZoneInfo(TIMEZONE)).utcoffset() or dt.timedelta()
    return int(offset.total_seconds() // 3600)


def period_bucket(session: Session, column: Any, bucket: str) -> ColumnElement[str]:
    """The first day (``YYYY-MM-DD``) of the local week (Monday) or month of a UTC timestamp column."""
    if bucket not in BUCKETS:
        raise ValueError(f"Período inválido: {bucket!r} (use semana ou mes).")
    if _dialect(session) == "postgresql":
        local = func.timezone(TIMEZONE, column)
        unit = "week" if bucket == "semana" else "month"
        return func.to_char(func.date_trunc(unit, local), "YYYY-MM-DD")
    shift = f"{_utc_offset_hours():+d} hours"
    # SQLite rounds fractional seconds to milliseconds: 23:59:59.999999 would become the next day.
    seconds = func.substr(column, 1, 19)
    if bucket == "semana":
        return func.date(seconds, shift, "weekday 0", "-6 days")
    return func.strftime("%Y-%m-01", seconds, shift)


def bucket_label(key: str | None, bucket: str) -> str:
    if not key:
        return "—"
    day = dt.date.fromisoformat(key)
    return f"Semana de {day:%d/%m/%Y}" if bucket == "semana" else f"{day:%m/%Y}"


def count_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """How many rows of the group meet ``condition`` (0, not NULL, for none)."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


# --------------------------------------------------------------------------- period split


@dataclass(frozen=True)
class PeriodSplit:
    """Whole periods of a grain inside ``[start, end)`` (``lo <= key < hi``; ``None`` = unbounded)
    and the edges they do not cover."""

    lo: str | None
    hi: str | None
    edges: tuple[tuple[dt.datetime | None, dt.datetime | None], ...]
    empty: bool = False


def split_period(start: dt.datetime | None, end: dt.datetime | None, grain: str) -> PeriodSplit:
    lo = hi = None
    if start is not None:
        key = totals.period_key(start, grain)
        lo = key if totals.period_start(key) == start else totals.next_key(key, grain)
    if end is not None:
        hi = totals.period_key(end, grain)
    if lo is not None and hi is not None and lo >= hi:
        return PeriodSplit(lo, hi, ((start, end),) if start is None or end is None or start < end else (), True)
    edges = []
    if start is not None and lo is not None and totals.period_start(lo) > start:
        edges.append((start, totals.period_start(lo)))
    if end is not None and hi is not None and totals.period_start(hi) < end:
        edges.append((totals.period_start(hi), end))
    return PeriodSplit(lo, hi, tuple(edges))


@dataclass(frozen=True)
class Cover:
    """A period as aggregate rows: ``pieces`` (grain, lo, hi) read from the aggregate tables, and
    what is left (pieces of a day, when a bound is not at local midnight) read from the projections."""

    pieces: tuple[tuple[str, str | None, str | None], ...]
    live: tuple[tuple[dt.datetime | None, dt.datetime | None], ...]


def cover(start: dt.datetime | None, end: dt.datetime | None, grains: tuple[str, ...] = ("mes", "semana", "dia"),
          whole: bool = True) -> Cover:
    """Whole months (or weeks) inside the period, then whole weeks and days at its edges; without a
    period (and unless the result is per period), the "tudo" rows: one per key, the whole history."""
    if start is None and end is None and whole:
        return Cover((("tudo", None, None),), ())
    pieces: list[tuple[str, str | None, str | None]] = []
    live: list[tuple[dt.datetime | None, dt.datetime | None]] = []

    def fill(a: dt.datetime | None, b: dt.datetime | None, level: int) -> None:
        if level == len(grains):
            if a is None or b is None or a < b:
                live.append((a, b))
            return
        split = split_period(a, b, grains[level])
        if not split.empty:
            pieces.append((grains[level], split.lo, split.hi))
        for edge in split.edges:
            fill(edge[0], edge[1], level + 1)

    fill(start, end, 0)
    return Cover(tuple(pieces), tuple(live))


def in_cover(query: Select[Any], table: Any, pieces: Iterable[tuple[str, str | None, str | None]]) -> Select[Any]:
    """``query`` limited to the rows of ``table`` inside the cover's pieces (grain, lo, hi)."""
    conditions = []
    for grain, lo, hi in pieces:
        terms = [table.grain == grain]
        if lo is not None:
            terms.append(table.period >= lo)
        if hi is not None:
            terms.append(table.period < hi)
        conditions.append(and_(*terms))
    return query.where(or_(*conditions))


def bucket_key(period: str, bucket: str) -> str:
    """The week or month (``bucket``) holding an aggregate row's ``period`` key (a day, a week or a month)."""
    return totals.bucket_of(dt.date.fromisoformat(period), "semana" if bucket == "semana" else "mes")


def filters_within(filters: Filters, edge: tuple[dt.datetime | None, dt.datetime | None]) -> Filters:
    """The same filters over one edge ``[start, end)`` of a period."""
    return Filters(unit=filters.unit, process_id=filters.process_id, start=edge[0], end=edge[1], kind=filters.kind)
