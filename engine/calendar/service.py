"""Working days and legal deadlines per unit (Lei 9.784/1999 art. 66).

Two layers:

* :class:`WorkingCalendar` — pure counting for ONE unit, built from plain data (no database):
  weekends, national and state holidays (the ``holidays`` package, Brazil), the package's OPTIONAL
  days when the unit closes on them (Carnaval, Corpus Christi...), municipal holidays, closures and
  deadline suspensions.
* :class:`CalendarService` — loads units, calendar entries and deadline settings from the database,
  caches the calendars, and records administrators' changes (nothing is deleted).

How a deadline is counted (see ``DOMAIN.md``, "Counting deadlines"): the day of the notice is
excluded and the last day included; ``corridos`` counts calendar days, ``uteis`` counts working
days; days inside a suspension covering the deadline's kind are not counted (the count pauses and
resumes); a last day that is not a working day, or is suspended, moves to the next working day.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from sqlalchemy import event, or_, select, update
from sqlalchemy.orm import Session

from engine import clock
from engine.calendar.models import (
    COUNTING_MODES,
    DEFAULT_DEADLINES,
    ENTRY_KINDS,
    CalendarEntry,
    CalendarRevision,
    DeadlineSetting,
    Unit,
)
from engine.errors import NotFound

#: In a suspension's list of kinds, this (or an empty list) means "every kind of deadline".
ALL_KINDS = "*"
#: Largest deadline an administrator may configure, in days.
MAX_DEADLINE_DAYS = 3650
#: Largest span of a single calendar entry, in days.
MAX_ENTRY_SPAN_DAYS = 3660
#: Safety net: counting never scans more than this many days (a calendar suspended "forever").
_MAX_SCAN_DAYS = 20 * 366
_ONE_DAY = dt.timedelta(days=1)
_WEEKDAYS = ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado", "domingo")
_KIND_PATTERN = re.compile(r"^[a-z0-9_]{1,40}$")
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


def _validate_state(state: str | None) -> str | None:
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
        self.state = _validate_state(state)
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


def default_rule(kind: str) -> DeadlineRule:
    """The built-in rule for ``kind`` (``DEFAULT_DEADLINES``); :class:`UnknownDeadlineKind` otherwise."""
    try:
        spec = DEFAULT_DEADLINES[kind]
    except KeyError:
        raise UnknownDeadlineKind(kind) from None
    return DeadlineRule(kind=kind, days=spec["days"], mode=spec["mode"], legal_basis=spec["legal_basis"])


def build_calendar(unit: Unit, entries: Iterable[CalendarEntry]) -> WorkingCalendar:
    """A unit's calendar from its row and the calendar entries (inactive and other units' are ignored)."""
    municipal: dict[dt.date, str] = {}
    closures: list[Closure] = []
    suspensions: list[Suspension] = []
    for entry in entries:
        if not entry.active or entry.unit not in (None, unit.code):
            continue
        if entry.kind == "feriado_municipal":
            day = entry.starts_on
            while day <= entry.ends_on:
                municipal.setdefault(day, entry.description)
                day += _ONE_DAY
        elif entry.kind in ("ponto_facultativo", "fechamento"):
            closures.append(Closure(entry.starts_on, entry.ends_on, entry.description, ENTRY_KINDS[entry.kind]))
        elif entry.kind == "suspensao":
            suspensions.append(Suspension(entry.starts_on, entry.ends_on, entry.description,
                                          frozenset(entry.suspends or ())))
    return WorkingCalendar(unit.state, municipal, closures, suspensions,
                           closes_on_optional=unit.closes_on_optional, timezone=unit.timezone)


# --------------------------------------------------------------------------- errors


class _LookupMessage(NotFound, KeyError):
    """A :class:`KeyError` whose ``str()`` is the plain pt-BR message (KeyError quotes it otherwise)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownUnit(_LookupMessage):
    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(f"Unidade desconhecida: {code!r}. Cadastre a unidade antes de usar o calendário.")


class UnknownDeadlineKind(_LookupMessage):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        known = ", ".join(sorted(DEFAULT_DEADLINES))
        super().__init__(f"Tipo de prazo desconhecido: {kind!r}. Configure-o para a unidade ou use um destes: "
                         f"{known}.")


# --------------------------------------------------------------------------- database


def ensure_default_unit(session: Session, code: str = "CAP", name: str = "Procon Capital", state: str = "SP",
                        municipality: str = "São Paulo") -> Unit:
    """The unit ``code``, created with these values when it does not exist yet (an existing one is kept)."""
    if session.get(CalendarRevision, 1) is None:
        session.add(CalendarRevision(id=1, revision=0))
    unit = session.get(Unit, code)
    if unit is None:
        uf = _validate_state(state)
        if uf is None:
            raise ValueError("Informe a UF da unidade.")
        unit = Unit(code=code, name=name, state=uf, municipality=municipality, timezone="America/Sao_Paulo",
                    closes_on_optional=True, active=True, created_at=clock.now())
        session.add(unit)
        session.flush()
    return unit


class CalendarService:
    """Calendars and deadline rules per unit, read from the database and cached until invalidated.

    Thread-safe: the web app and the scheduler share one instance. The methods that change data take
    the caller's session (the caller commits) and drop the affected caches now and again at commit.
    """

    ensure_default_unit = staticmethod(ensure_default_unit)

    #: how often (seconds) a process asks the database whether another process changed the calendar
    REVISION_CHECK_INTERVAL = 1.0

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self._session_factory = session_factory
        self._lock = threading.Lock()
        self._generation = 0
        self._revision: int | None = None
        self._revision_checked = float("-inf")
        self._calendars: dict[str, WorkingCalendar] = {}
        #: unit -> kind -> [(effective_from, id, rule)] sorted by (effective_from, id).
        self._settings: dict[str, dict[str, list[tuple[dt.datetime, int, DeadlineRule]]]] = {}

    # ---- reading

    def _check_revision(self) -> None:
        """Drop every cache when another process changed the calendar (checked at most once a second)."""
        moment = time.monotonic()
        if moment - self._revision_checked < self.REVISION_CHECK_INTERVAL:
            return
        with self._session_factory() as session:
            revision = session.scalar(select(CalendarRevision.revision).where(CalendarRevision.id == 1)) or 0
        with self._lock:
            self._revision_checked = moment
            changed = self._revision is not None and revision != self._revision
            self._revision = revision
        if changed:
            self.invalidate()

    def for_unit(self, unit_code: str) -> WorkingCalendar:
        self._check_revision()
        with self._lock:
            cached = self._calendars.get(unit_code)
            generation = self._generation
        if cached is not None:
            return cached
        with self._session_factory() as session:
            unit = session.get(Unit, unit_code)
            if unit is None:
                raise UnknownUnit(unit_code)
            entries = session.scalars(
                select(CalendarEntry)
                .where(CalendarEntry.active.is_(True),
                       or_(CalendarEntry.unit == unit_code, CalendarEntry.unit.is_(None)))
                .order_by(CalendarEntry.starts_on, CalendarEntry.id)
            ).all()
            calendar = build_calendar(unit, entries)
        with self._lock:
            if generation == self._generation:
                self._calendars[unit_code] = calendar
        return calendar

    def _settings_of(self, unit_code: str) -> dict[str, list[tuple[dt.datetime, int, DeadlineRule]]]:
        self._check_revision()
        with self._lock:
            cached = self._settings.get(unit_code)
            generation = self._generation
        if cached is not None:
            return cached
        history: dict[str, list[tuple[dt.datetime, int, DeadlineRule]]] = {}
        with self._session_factory() as session:
            if session.get(Unit, unit_code) is None:
                raise UnknownUnit(unit_code)
            rows = session.scalars(
                select(DeadlineSetting).where(DeadlineSetting.unit == unit_code)
                .order_by(DeadlineSetting.effective_from, DeadlineSetting.id)
            ).all()
            for row in rows:
                rule = DeadlineRule(kind=row.kind, days=row.days, mode=row.mode, legal_basis=row.legal_basis)
                history.setdefault(row.kind, []).append((row.effective_from, row.id, rule))
        with self._lock:
            if generation == self._generation:
                self._settings[unit_code] = history
        return history

    def rule(self, unit_code: str, kind: str, at: dt.datetime) -> DeadlineRule:
        """The rule for ``kind`` in force at ``at`` (the deadline's start): the latest setting with
        ``effective_from <= at``, else the built-in default."""
        if at.tzinfo is None:
            raise ValueError("A data e hora do início do prazo precisa de fuso horário.")
        chosen: DeadlineRule | None = None
        for effective_from, _id, rule in self._settings_of(unit_code).get(kind, ()):
            if effective_from <= at:
                chosen = rule
            else:
                break
        return chosen if chosen is not None else default_rule(kind)

    def due_at(self, unit_code: str, kind: str, start: dt.datetime) -> dt.datetime:
        """End of the due day of a ``kind`` deadline that starts at ``start`` in the unit (aware UTC)."""
        return self.for_unit(unit_code).due_at(start, self.rule(unit_code, kind, start))

    def explain(self, unit_code: str, kind: str, start: dt.datetime) -> list[str]:
        calendar = self.for_unit(unit_code)
        return calendar.explain(calendar.local_date(start), self.rule(unit_code, kind, start))

    def invalidate(self, unit_code: str | None = None) -> None:
        """Drop cached calendars and rules (of one unit, or of every unit when ``None``)."""
        with self._lock:
            self._generation += 1
            if unit_code is None:
                self._calendars.clear()
                self._settings.clear()
            else:
                self._calendars.pop(unit_code, None)
                self._settings.pop(unit_code, None)

    def _invalidate_with(self, session: Session, unit_code: str | None) -> None:
        bumped = session.execute(update(CalendarRevision).where(CalendarRevision.id == 1)
                                 .values(revision=CalendarRevision.revision + 1)).rowcount
        if not bumped:
            session.add(CalendarRevision(id=1, revision=1))
            session.flush()
        self.invalidate(unit_code)
        event.listen(session, "after_commit", lambda _session: self.invalidate(unit_code), once=True)

    # ---- changing (administrators)

    def set_rule(self, session: Session, unit: str, kind: str, days: int, mode: str, legal_basis: str,
                 actor: str) -> DeadlineSetting:
        """Record a new rule for ``kind`` in ``unit``, in force from now on (earlier deadlines keep theirs)."""
        kind = (kind or "").strip()
        if not _KIND_PATTERN.match(kind):
            raise ValueError("Tipo de prazo inválido: use letras minúsculas, números e '_' (até 40 caracteres).")
        if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_DEADLINE_DAYS:
            raise ValueError(f"O prazo deve ser um número inteiro de dias entre 0 e {MAX_DEADLINE_DAYS}.")
        if mode not in COUNTING_MODES:
            raise ValueError("Modo de contagem inválido: use 'corridos' (dias corridos) ou 'uteis' (dias úteis).")
        legal_basis = (legal_basis or "").strip()
        if not legal_basis:
            raise ValueError("Informe a base legal do prazo (por exemplo, 'Decreto 2.181/1997, art. 44').")
        if len(legal_basis) > 300:
            raise ValueError("A base legal deve ter no máximo 300 caracteres.")
        _require_actor(actor)
        if session.get(Unit, unit) is None:
            raise UnknownUnit(unit)
        moment = clock.now()
        setting = DeadlineSetting(unit=unit, kind=kind, days=days, mode=mode, legal_basis=legal_basis,
                                  effective_from=moment, created_by=actor, created_at=moment)
        session.add(setting)
        session.flush()
        self._invalidate_with(session, unit)
        return setting

    def add_entry(self, session: Session, *, unit: str | None, starts_on: dt.date, ends_on: dt.date, kind: str,
                  description: str, actor: str, suspends: Iterable[str] | None = None) -> CalendarEntry:
        """Record a municipal holiday, optional day, closure or suspension (``unit=None``: every unit)."""
        if kind not in ENTRY_KINDS:
            raise ValueError(f"Tipo de registro de calendário inválido: {kind!r}. Use um destes: "
                             f"{', '.join(ENTRY_KINDS)}.")
        for value in (starts_on, ends_on):
            if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
                raise ValueError("Informe as datas de início e de fim (somente a data, sem hora).")
        if ends_on < starts_on:
            raise ValueError("A data final deve ser igual ou posterior à data inicial.")
        if (ends_on - starts_on).days >= MAX_ENTRY_SPAN_DAYS:
            raise ValueError("Um registro de calendário não pode abranger mais de 10 anos.")
        description = (description or "").strip()
        if not description:
            raise ValueError("Informe a descrição do registro (por exemplo, 'Aniversário da cidade').")
        if len(description) > 300:
            raise ValueError("A descrição deve ter no máximo 300 caracteres.")
        kinds: list[str] = []
        for item in suspends or ():
            value = str(item).strip()
            if value != ALL_KINDS and not _KIND_PATTERN.match(value):
                raise ValueError(f"Tipo de prazo inválido na suspensão: {item!r}.")
            if value not in kinds:
                kinds.append(value)
        if kinds and kind != "suspensao":
            raise ValueError("Só uma suspensão de prazos indica os tipos de prazo suspensos.")
        _require_actor(actor)
        if unit is not None and session.get(Unit, unit) is None:
            raise UnknownUnit(unit)
        entry = CalendarEntry(unit=unit, starts_on=starts_on, ends_on=ends_on, kind=kind, description=description,
                              suspends=kinds, created_by=actor, created_at=clock.now(), active=True)
        session.add(entry)
        session.flush()
        self._invalidate_with(session, unit)
        return entry

    def deactivate_entry(self, session: Session, entry_id: int, actor: str) -> CalendarEntry:
        """Stop applying a calendar entry; the row stays, with who deactivated it and when."""
        _require_actor(actor)
        entry = session.get(CalendarEntry, entry_id)
        if entry is None:
            raise NotFound(f"Registro de calendário {entry_id} não encontrado.")
        if not entry.active:
            raise ValueError(f"O registro de calendário {entry_id} já estava desativado.")
        entry.active = False
        entry.deactivated_by = actor
        entry.deactivated_at = clock.now()
        session.flush()
        self._invalidate_with(session, entry.unit)
        return entry


def _require_actor(actor: str) -> None:
    if not actor or not str(actor).strip():
        raise ValueError("Informe quem está fazendo a alteração.")
