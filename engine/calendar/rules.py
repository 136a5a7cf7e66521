"""Counting rules of legal deadlines for ONE unit (Lei 9.784/1999 art. 66): pure functions over plain data.

:class:`WorkingCalendar` is built from plain data (no database): weekends, national and state holidays
(the ``holidays`` package, Brazil), the package's OPTIONAL days when the unit closes on them (Carnaval,
Corpus Christi...), municipal holidays, closures and deadline suspensions. The unit's calendar and
settings in the database are read by :mod:`engine.calendar.service`.

How a deadline is counted (see ``DOMAIN.md``, "Counting deadlines"): the day of the notice is
excluded and the last day included; ``corridos`` counts calendar days, ``uteis`` counts working
days; days inside a suspension covering the deadline's kind are not counted (the count pauses and
resumes); a last day that is not a working day, or is suspended, moves to the next working day.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from engine.calendar.defaults import COUNTING_MODES, DEFAULT_DEADLINES
from engine.errors import NotFound

#: In a suspension's list of kinds, this (or an empty list) means "every kind of deadline".
ALL_KINDS = "*"
#: Safety net: counting never scans more than this many days (a calendar suspended "forever").
_MAX_SCAN_DAYS = 20 * 366
_ONE_DAY = dt.timedelta(days=1)
_WEEKDAYS = ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado", "domingo")
_MODE_NAMES = {"corridos": "corridos", "uteis": "úteis"}


def format_date(day: dt.date) -> str:
    """``21/04/2026``: how dates are written to people."""
    return day.strftime("%d/%m/%Y")


def weekday_name(day: dt.date) -> str:
    return _WEEKDAYS[day.weekday()]


# --------------------------------------------------------------------------- plain data


@dataclass(frozen=True)
class DeadlineRule:
    """How one kind of deadline is counted in a unit: ``days`` in ``mode`` ("corridos" or "uteis")."""

    kind: str
    days: int
    mode: str
    legal_basis: str

    def __post_init__(self) -> None:
        if isinstance(self.days, bool) or not isinstance(self.days, int) or self.days < 0:
            raise ValueError(f"Prazo inválido: {self.days!r} dias (use um número inteiro, zero ou mais).")
        if self.mode not in COUNTING_MODES:
            raise ValueError(f"Modo de contagem inválido: {self.mode!r}. Use 'corridos' ou 'uteis'.")

    def describe(self) -> str:
        """``10 dias corridos`` / ``1 dia útil``."""
        if self.days == 1:
            return "1 dia " + ("corrido" if self.mode == "corridos" else "útil")
        return f"{self.days} dias {_MODE_NAMES[self.mode]}"


@dataclass(frozen=True)
class Closure:
    """Days (both ends included) the unit is closed; ``label`` is how the reason is shown."""

    starts_on: dt.date
    ends_on: dt.date
    description: str
    label: str = "fechamento"

    def contains(self, day: dt.date) -> bool:
        return self.starts_on <= day <= self.ends_on


@dataclass(frozen=True)
class Suspension:
    """Days (both ends included) on which deadlines of ``kinds`` do not run (empty kinds: every kind)."""

    starts_on: dt.date
    ends_on: dt.date
    description: str
    kinds: frozenset[str] = frozenset()

    def applies_to(self, kind: str) -> bool:
        return not self.kinds or ALL_KINDS in self.kinds or kind in self.kinds

    def covers(self, day: dt.date, kind: str) -> bool:
        return self.starts_on <= day <= self.ends_on and self.applies_to(kind)


# --------------------------------------------------------------------------- holidays package


def validate_state(state: str | None) -> str | None:
    if state is None or not state.strip():
        return None
    code = state.strip().upper()
    if code not in holidays.Brazil.subdivisions:
        raise ValueError(f"UF desconhecida: {state!r}. Use a sigla do estado (por exemplo, 'SP').")
    return code


@functools.lru_cache(maxsize=1024)
def _holiday_table(state: str | None, year: int, with_optional: bool) -> Mapping[dt.date, str]:
    """Reasons (pt-BR) for every national, state and (optionally) optional day of one year.

    ``language="pt_BR"`` is explicit on purpose: without it the package picks the language from the
    process's locale variables (``LANG=C.UTF-8`` gives English names).
    """
    table: dict[dt.date, str] = {}
    national = holidays.country_holidays("BR", years=year, language="pt_BR")
    for day, name in national.items():
        table[day] = f"feriado nacional: {name}"
    if state:
        regional = holidays.country_holidays("BR", subdiv=state, years=year, language="pt_BR")
        for day, name in regional.items():
            table.setdefault(day, f"feriado estadual: {name}")
    if with_optional:
        optional = holidays.country_holidays(
            "BR", subdiv=state, years=year, language="pt_BR", categories=(holidays.OPTIONAL,)
        )
        for day, name in optional.items():
            table.setdefault(day, f"ponto facultativo: {name}")
    return MappingProxyType(table)


# --------------------------------------------------------------------------- the calendar


class WorkingCalendar:
    """The working days of one unit, and how its deadlines are counted. Immutable once built."""

    def __init__(
        self,
        state: str | None,
        municipality_holidays: Mapping[dt.date, str],
        closures: Iterable[Closure],
        suspensions: Iterable[Suspension],
        closes_on_optional: bool = True,
        timezone: str = "America/Sao_Paulo",
    ) -> None:
        self.state = validate_state(state)
        self.municipality_holidays: Mapping[dt.date, str] = MappingProxyType(dict(municipality_holidays))
        self.closures: tuple[Closure, ...] = tuple(closures)
        self.suspensions: tuple[Suspension, ...] = tuple(suspensions)
        self.closes_on_optional = bool(closes_on_optional)
        self.timezone = timezone
        try:
            self.tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"Fuso horário desconhecido: {timezone!r}.") from exc
        self._years: dict[int, Mapping[dt.date, str]] = {}

    def __repr__(self) -> str:
        return (f"WorkingCalendar(state={self.state!r}, municipal={len(self.municipality_holidays)}, "
                f"closures={len(self.closures)}, suspensions={len(self.suspensions)}, "
                f"closes_on_optional={self.closes_on_optional})")

    # ---- single days

    def _holidays_of(self, year: int) -> Mapping[dt.date, str]:
        table = self._years.get(year)
        if table is None:
            table = _holiday_table(self.state, year, self.closes_on_optional)
            self._years[year] = table
        return table

    def why_not_working(self, day: dt.date) -> str | None:
        """Why ``day`` is not a working day (pt-BR), or ``None`` when it is one."""
        if day.weekday() >= 5:
            return weekday_name(day)
        reason = self._holidays_of(day.year).get(day)
        if reason is not None:
            return reason
        name = self.municipality_holidays.get(day)
        if name is not None:
            return f"feriado municipal: {name}"
        for closure in self.closures:
            if closure.contains(day):
                return f"{closure.label}: {closure.description}"
        return None

    def is_working_day(self, day: dt.date) -> bool:
        return self.why_not_working(day) is None

    def why_suspended(self, day: dt.date, kind: str) -> str | None:
        """The suspension (pt-BR) that stops deadlines of ``kind`` on ``day``, or ``None``."""
        for suspension in self.suspensions:
            if suspension.covers(day, kind):
                return f"suspensão de prazos: {suspension.description}"
        return None

    def is_suspended(self, day: dt.date, kind: str) -> bool:
        return any(suspension.covers(day, kind) for suspension in self.suspensions)

    def _is_due_day(self, day: dt.date, kind: str) -> bool:
        return self.is_working_day(day) and not self.is_suspended(day, kind)

    def _why_not_due(self, day: dt.date, kind: str) -> str | None:
        return self.why_not_working(day) or self.why_suspended(day, kind)

    # ---- deadlines

    def due_date(self, start: dt.date, rule: DeadlineRule) -> dt.date:
        """Last day of a deadline that starts (is notified) on ``start``; see the module docstring."""
        return self._count(start, rule, None)

    def explain(self, start: dt.date, rule: DeadlineRule) -> list[str]:
        """The count step by step, in pt-BR, for the case history and the screen."""
        trace: list[str] = []
        self._count(start, rule, trace)
        return trace

    def _count(self, start: dt.date, rule: DeadlineRule, trace: list[str] | None) -> dt.date:
        _require_date(start)
        limit = start + dt.timedelta(days=_MAX_SCAN_DAYS)
        day = start
        counted = 0
        suspended: list[dt.date] = []
        not_working: list[dt.date] = []
        while counted < rule.days:
            day += _ONE_DAY
            _check_limit(day, limit)
            if self.is_suspended(day, rule.kind):
                suspended.append(day)
            elif rule.mode == "uteis" and not self.is_working_day(day):
                not_working.append(day)
            else:
                counted += 1
        nominal = day
        moved_over: list[tuple[dt.date, str]] = []
        while (reason := self._why_not_due(day, rule.kind)) is not None:
            moved_over.append((day, reason))
            day += _ONE_DAY
            _check_limit(day, limit)
        if trace is not None:
            self._write_trace(trace, start, rule, suspended, not_working, nominal, moved_over, day)
        return day

    def _write_trace(self, trace: list[str], start: dt.date, rule: DeadlineRule, suspended: list[dt.date],
                     not_working: list[dt.date], nominal: dt.date, moved_over: list[tuple[dt.date, str]],
                     due: dt.date) -> None:
        trace.append(f"início: {format_date(start)} ({weekday_name(start)}); o dia do início é excluído e o do "
                     "vencimento incluído (Lei 9.784/1999, art. 66)")
        basis = f" — {rule.legal_basis}" if rule.legal_basis else ""
        trace.append(f"prazo de {rule.describe()} ({rule.kind}){basis}")
        for first, last in _runs(suspended):
            count = (last - first).days + 1
            reason = self.why_suspended(first, rule.kind) or "suspensão de prazos"
            trace.append(f"{reason}: {count} dia(s) não contado(s), de {format_date(first)} a {format_date(last)}")
        if not_working:
            weekend = sum(1 for d in not_working if d.weekday() >= 5)
            others = [d for d in not_working if d.weekday() < 5]
            parts = [f"{weekend} dia(s) de fim de semana"] if weekend else []
            parts += [f"{format_date(d)} ({self.why_not_working(d)})" for d in others]
            trace.append("dias não úteis não contados: " + "; ".join(parts))
        if rule.days == 0:
            trace.append(f"prazo de zero dias: vence no próprio dia do início, {format_date(nominal)}")
        if moved_over:
            first_day, first_reason = moved_over[0]
            text = f"prazo terminaria em {format_date(first_day)} ({first_reason})"
            if len(moved_over) > 1:
                text += "; também não são dias úteis: " + ", ".join(
                    f"{format_date(d)} ({r})" for d, r in moved_over[1:])
            trace.append(f"{text}; prorrogado para {format_date(due)}")
        trace.append(f"vencimento: {format_date(due)} ({weekday_name(due)}), até o fim do dia ({self.timezone})")

    def local_date(self, moment: dt.datetime) -> dt.date:
        """The unit's calendar date at ``moment`` (an aware datetime)."""
        if moment.tzinfo is None:
            raise ValueError("A data e hora do início do prazo precisa de fuso horário.")
        return moment.astimezone(self.tz).date()

    def end_of_day(self, day: dt.date) -> dt.datetime:
        """23:59:59.999999 of ``day`` in the unit's time zone, as an aware UTC datetime."""
        return dt.datetime.combine(day, dt.time.max, tzinfo=self.tz).astimezone(dt.UTC)

    def due_at(self, start: dt.datetime, rule: DeadlineRule) -> dt.datetime:
        """When a deadline started at ``start`` (aware) ends: the end of its due day, local time, in UTC."""
        return self.end_of_day(self.due_date(self.local_date(start), rule))

    # ---- working-day arithmetic for displays and warnings

    def _counts_as_working(self, day: dt.date, kind: str | None) -> bool:
        if not self.is_working_day(day):
            return False
        return kind is None or not self.is_suspended(day, kind)

    def working_days_between(self, a: dt.date, b: dt.date, kind: str | None = None) -> int:
        """Working days in ``(a, b]`` ("days left" from ``a`` to a due date ``b``); negative when ``b < a``.

        With ``kind``, days suspended for that kind of deadline are not counted either.
        """
        _require_date(a)
        _require_date(b)
        if b < a:
            return -self.working_days_between(b, a, kind)
        total = 0
        day = a
        while day < b:
            day += _ONE_DAY
            if self._counts_as_working(day, kind):
                total += 1
        return total

    def add_working_days(self, day: dt.date, n: int, kind: str | None = None) -> dt.date:
        """The ``n``-th working day after ``day`` (before it when ``n`` is negative); ``day`` itself for 0."""
        _require_date(day)
        step = _ONE_DAY if n > 0 else -_ONE_DAY
        remaining = abs(n)
        limit = abs(n) + _MAX_SCAN_DAYS
        while remaining:
            day += step
            limit -= 1
            if limit < 0:
                raise ValueError("Não foi possível contar os dias úteis: o calendário não tem dias úteis suficientes.")
            if self._counts_as_working(day, kind):
                remaining -= 1
        return day


def _require_date(value: Any) -> None:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise TypeError(f"Esperava uma data (sem hora), recebi {value!r}; para data e hora use due_at.")


def _check_limit(day: dt.date, limit: dt.date) -> None:
    if day > limit:
        raise ValueError("Não foi possível calcular o prazo: não há dia útil sem suspensão nos próximos 20 anos.")


def _runs(days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Group sorted days into runs of consecutive days."""
    runs: list[tuple[dt.date, dt.date]] = []
    for day in days:
        if runs and runs[-1][1] + _ONE_DAY == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


class LookupMessage(NotFound, KeyError):
    """A :class:`KeyError` whose ``str()`` is the plain pt-BR message (KeyError quotes it otherwise)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownDeadlineKind(LookupMessage):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        known = ", ".join(sorted(DEFAULT_DEADLINES))
        super().__init__(f"Tipo de prazo desconhecido: {kind!r}. Configure-o para a unidade ou use um destes: "
                         f"{known}.")


def default_rule(kind: str) -> DeadlineRule:
    """The built-in rule for ``kind`` (``DEFAULT_DEADLINES``); :class:`UnknownDeadlineKind` otherwise."""
    try:
        spec = DEFAULT_DEADLINES[kind]
    except KeyError:
        raise UnknownDeadlineKind(kind) from None
    return DeadlineRule(kind=kind, days=spec["days"], mode=spec["mode"], legal_basis=spec["legal_basis"])
