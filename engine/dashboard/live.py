"""The Painel's live lists, read from the running projections (``deadlines``, ``open_tasks``) and bounded by the
running work: the deadlines overdue, due today and due soon (:func:`now_lists`), and where the cases of a
procedure wait (:func:`waiting_by_task` for the heat map over the diagram, :func:`cases_waiting_on`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select
from sqlalchemy.orm import Session, aliased

from engine import clock
from engine.calendar.models import Unit
from engine.calendar.rules import WorkingCalendar
from engine.dashboard.periods import TIMEZONE, Filters, count_where
from engine.dashboard.rows import NowItem, NowLists, WaitingCase, WaitingCount
from engine.store.models import Case, Deadline, OpenTask

#: Items shown in each "now" list (the CSV has them all).
NOW_LIMIT = 200


class CalendarSource(Protocol):
    """What :func:`now_lists` needs from :class:`engine.calendar.service.CalendarService`."""

    def for_unit(self, unit_code: str) -> WorkingCalendar: ...


# --------------------------------------------------------------------------- now


def now_lists(session: Session, filters: Filters | None = None, *, calendars: CalendarSource,
              business_days: int = 3, limit: int | None = NOW_LIMIT) -> NowLists:
    """Running deadlines that are overdue (oldest first), due today, and due in the next
    ``business_days`` working days of each case's unit calendar. The period filter does not apply.

    Each list holds at most ``limit`` items (``None``: all, for the CSV); ``totais`` counts them all.
    Three range reads of the running deadlines' partial index (``ix_deadlines_running``), bounded
    by ``limit``, plus three counts: never the whole history.
    """
    filters = filters or Filters()
    if business_days < 0:
        raise ValueError("O número de dias úteis não pode ser negativo.")
    now = clock.now()
    today = now.astimezone(ZoneInfo(TIMEZONE)).date()
    units = [filters.unit] if filters.unit is not None else list(session.scalars(select(Unit.code)))
    cals: dict[str, WorkingCalendar] = {code: calendars.for_unit(code) for code in units}
    limits = {code: cal.add_working_days(cal.local_date(now), business_days) for code, cal in cals.items()}

    def per_unit(bound_of: Any) -> ColumnElement[bool]:
        """``due_at <= bound`` with each unit's own bound (units sharing a bound grouped)."""
        groups: dict[dt.datetime, list[str]] = defaultdict(list)
        for code, cal in cals.items():
            groups[bound_of(code, cal)].append(code)
        if not groups:
            return false()
        if filters.unit is not None:
            return Deadline.due_at <= next(iter(groups))
        return and_(Deadline.due_at <= max(groups),  # one range of the index, then each unit's own bound
                    or_(*(and_(Deadline.unit.in_(codes), Deadline.due_at <= bound) for bound, codes in groups.items())))

    end_today = per_unit(lambda _code, cal: cal.end_of_day(cal.local_date(now)))
    within_limit = per_unit(lambda code, cal: cal.end_of_day(limits[code]))
    conditions = {"atrasados": Deadline.due_at < now,
                  "vencem_hoje": and_(Deadline.due_at >= now, end_today),
                  "proximos": and_(Deadline.due_at >= now, ~end_today, within_limit)}

    def running(query: Select[Any]) -> Select[Any]:
        # "running" is outcome IS NULL alone (a closed deadline always has an outcome): with fired_at /
        # met_at too, SQLite walks the timers' index (fired_at, due_at) over the whole history.
        query = query.where(Deadline.outcome.is_(None))
        if filters.unit is not None:
            query = query.where(Deadline.unit == filters.unit)
        if filters.kind is not None:
            query = query.where(Deadline.kind == filters.kind)
        if filters.process_id is not None:
            query = query.where(Deadline.case_id.in_(select(Case.id).where(Case.process_id == filters.process_id)))
        return query

    holder = aliased(OpenTask)
    result = NowLists(today, limits)
    for name, condition in conditions.items():
        result.totais[name] = int(session.scalar(running(select(func.count()).select_from(Deadline)
                                                         .where(condition))) or 0)
        query = (running(select(Deadline, Case.protocol, Case.unit, Case.process_id, holder.title, holder.assignee,
                                holder.role).where(condition))
                 .join(Case, Case.id == Deadline.case_id)
                 .outerjoin(holder, and_(holder.case_id == Deadline.case_id,
                                         or_(holder.task_id == Deadline.task_id,
                                             holder.spec_name == Deadline.attached_to)))
                 .order_by(Deadline.due_at, Deadline.id))
        if limit is not None:
            query = query.limit(limit)
        items: list[NowItem] = getattr(result, name)
        seen: set[int] = set()
        for deadline, protocol, unit, process_id, title, assignee, role in session.execute(query):
            if deadline.id in seen:
                continue
            seen.add(deadline.id)
            cal = cals.get(unit) or cals.setdefault(unit, calendars.for_unit(unit))
            local_today = cal.local_date(now)
            due_day = cal.local_date(deadline.due_at)
            items.append(NowItem(deadline.id, deadline.case_id, protocol, unit, process_id, title or deadline.name,
                                 deadline.name, deadline.kind, assignee, role, deadline.due_at, due_day,
                                 max((local_today - due_day).days, 0) if deadline.due_at < now else 0,
                                 cal.working_days_between(local_today, due_day)))
    return result


# --------------------------------------------------------------------------- where cases wait


def _waiting_query(process_id: str, unit: str | None) -> Select[Any]:
    query = select().select_from(OpenTask).join(Case, Case.id == OpenTask.case_id).where(
        Case.process_id == process_id)
    return query.where(Case.unit == unit) if unit is not None else query


def waiting_by_task(session: Session, process_id: str, unit: str | None = None) -> dict[str, WaitingCount]:
    """Per BPMN element id: how many open tasks wait there and how many of them are overdue."""
    now = clock.now()
    query = (_waiting_query(process_id, unit)
             .add_columns(OpenTask.spec_name, func.max(OpenTask.title).label("titulo"),
                          func.count().label("aguardando"),
                          count_where(and_(OpenTask.due_at.is_not(None), OpenTask.due_at < now)).label("atrasados"))
             .group_by(OpenTask.spec_name).order_by(OpenTask.spec_name))
    return {row.spec_name: WaitingCount(row.spec_name, row.titulo, int(row.aguardando), int(row.atrasados))
            for row in session.execute(query)}


def cases_waiting_on(session: Session, process_id: str, element_id: str, unit: str | None = None,
                     limit: int = 500) -> list[WaitingCase]:
    """The cases waiting on one BPMN element, most urgent first."""
    now = clock.now()
    query = (_waiting_query(process_id, unit)
             .add_columns(OpenTask.case_id, Case.protocol, Case.unit, Case.title, OpenTask.title.label("tarefa"),
                          OpenTask.assignee, OpenTask.role, OpenTask.due_at, OpenTask.created_at)
             .where(OpenTask.spec_name == element_id)
             .order_by(OpenTask.due_at.is_(None), OpenTask.due_at, OpenTask.created_at, OpenTask.id).limit(limit))
    return [WaitingCase(r.case_id, r.protocol, r.unit, r.title, r.tarefa, r.assignee, r.role, r.due_at,
                        r.due_at is not None and r.due_at < now, r.created_at) for r in session.execute(query)]
