"""Unit calendars and deadline settings from the database: :class:`CalendarService` loads units, calendar
entries and deadline settings, caches each unit's :class:`~engine.calendar.rules.WorkingCalendar`, and
records administrators' changes (nothing is deleted). The counting itself is in :mod:`engine.calendar.rules`.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Callable, Iterable

from sqlalchemy import event, or_, select, update
from sqlalchemy.orm import Session

from engine import clock
from engine.calendar.defaults import COUNTING_MODES
from engine.calendar.models import ENTRY_KINDS, CalendarEntry, CalendarRevision, DeadlineSetting, Unit
from engine.calendar.rules import (
    ALL_KINDS,
    Closure,
    DeadlineRule,
    LookupMessage,
    Suspension,
    WorkingCalendar,
    default_rule,
    validate_state,
)
from engine.errors import NotFound

#: Largest deadline an administrator may configure, in days.
MAX_DEADLINE_DAYS = 3650
#: Largest span of a single calendar entry, in days.
MAX_ENTRY_SPAN_DAYS = 3660
_ONE_DAY = dt.timedelta(days=1)
_KIND_PATTERN = re.compile(r"^[a-z0-9_]{1,40}$")


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


class UnknownUnit(LookupMessage):
    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(f"Unidade desconhecida: {code!r}. Cadastre a unidade antes de usar o calendário.")


# --------------------------------------------------------------------------- database


def ensure_default_unit(session: Session, code: str = "CAP", name: str = "Procon Capital", state: str = "SP",
                        municipality: str = "São Paulo") -> Unit:
    """The unit ``code``, created with these values when it does not exist yet (an existing one is kept)."""
    if session.get(CalendarRevision, 1) is None:
        session.add(CalendarRevision(id=1, revision=0))
    unit = session.get(Unit, code)
    if unit is None:
        uf = validate_state(state)
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
