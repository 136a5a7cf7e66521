"""SQLAlchemy models of the working-day calendar: units, deadline settings and calendar entries.

They share :class:`engine.store.models.Base` (``engine.store.models`` imports this module at its end so that
``Base.metadata.create_all`` creates these tables too). Nothing here is ever deleted: a deadline
setting changes by inserting a newer row (the history says which rule applied to which deadline),
and a calendar entry is deactivated, keeping who did it and when.

The counting itself lives in :mod:`engine.calendar.rules` (its built-in defaults in
:mod:`engine.calendar.defaults`); this module only holds the data.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from engine import clock
from engine.store.models import Base

#: Kinds of calendar entry an administrator can record for a unit (or for every unit).
ENTRY_KINDS: dict[str, str] = {
    "feriado_municipal": "feriado municipal",
    "ponto_facultativo": "ponto facultativo",
    "fechamento": "fechamento",
    "suspensao": "suspensão de prazos",
}


class Unit(Base):
    """A Procon unit (the state agency or an adhering municipal Procon) with its own calendar.

    ``closes_on_optional``: the unit closes on every day of the ``holidays`` package's OPTIONAL
    category for Brazil (Carnaval, Quarta-feira de Cinzas, Corpus Christi, Dia do Servidor Público,
    Christmas Eve and New Year's Eve).
    """

    __tablename__ = "units"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(2))
    municipality: Mapped[str] = mapped_column(String(200), default="")
    timezone: Mapped[str] = mapped_column(String(60), default="America/Sao_Paulo")
    closes_on_optional: Mapped[bool] = mapped_column(default=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class DeadlineSetting(Base):
    """One version of a unit's rule for a kind of deadline; the newest one not after a deadline's start applies."""

    __tablename__ = "deadline_settings"
    __table_args__ = (Index("ix_deadline_settings_lookup", "unit", "kind", "effective_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit: Mapped[str] = mapped_column(ForeignKey("units.code"))
    kind: Mapped[str] = mapped_column(String(40))
    days: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(10))
    legal_basis: Mapped[str] = mapped_column(String(300), default="")
    effective_from: Mapped[dt.datetime] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class CalendarEntry(Base):
    """A municipal holiday, optional day, closure or deadline suspension (``unit`` NULL: every unit).

    ``starts_on`` and ``ends_on`` are both included. ``suspends`` lists the kinds of deadline a
    ``suspensao`` suspends; an empty list or ``["*"]`` suspends every kind.
    """

    __tablename__ = "calendar_entries"
    __table_args__ = (Index("ix_calendar_entries_unit_active", "unit", "active"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit: Mapped[str | None] = mapped_column(ForeignKey("units.code"), default=None)
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(30))
    description: Mapped[str] = mapped_column(String(300))
    suspends: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    active: Mapped[bool] = mapped_column(default=True)
    deactivated_by: Mapped[str | None] = mapped_column(String(80), default=None)
    deactivated_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class CalendarRevision(Base):
    """A counter bumped by every calendar or deadline-setting change, in the same transaction.

    Each process caches calendars; comparing this one number (at most once a second) tells a
    worker or another web process that an admin changed something elsewhere.
    """

    __tablename__ = "calendar_revision"

    id: Mapped[int] = mapped_column(primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
