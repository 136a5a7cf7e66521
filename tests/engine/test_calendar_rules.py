"""Property tests of the deadline counting rules (Lei 9.784/1999 art. 66) on generated calendars.

Hypothesis generates a unit's calendar (state, municipal holidays, closures, suspensions), a start
date and a rule; the properties below must hold for every combination. They test the pure
:class:`engine.calendar.rules.WorkingCalendar` only: no database.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.calendar.rules import Closure, DeadlineRule, Suspension, WorkingCalendar, format_date

KINDS = ("cip", "defesa", "recurso")
FIRST_DAY = dt.date(2024, 1, 1)
LAST_DAY = dt.date(2028, 12, 31)
ONE_DAY = dt.timedelta(days=1)

#: Holiday tables are built on first use (per state and year), so no per-example deadline.
PROPERTY = settings(deadline=None, max_examples=150)

days_in_range = st.dates(min_value=FIRST_DAY, max_value=LAST_DAY)


@st.composite
def closures(draw: st.DrawFn) -> Closure:
    start = draw(days_in_range)
    return Closure(start, start + dt.timedelta(days=draw(st.integers(0, 12))), "fechamento gerado")


@st.composite
def suspensions(draw: st.DrawFn, kinds: st.SearchStrategy[frozenset[str]] | None = None) -> Suspension:
    start = draw(days_in_range)
    length = draw(st.integers(0, 45))
    if kinds is None:
        kinds = st.one_of(st.just(frozenset()), st.just(frozenset({"*"})),
                          st.frozensets(st.sampled_from(KINDS), min_size=1))
    return Suspension(start, start + dt.timedelta(days=length), "suspensão gerada", draw(kinds))


@st.composite
def calendars(draw: st.DrawFn, with_suspensions: bool = True) -> WorkingCalendar:
    municipal = draw(st.dictionaries(days_in_range, st.just("feriado municipal gerado"), max_size=6))
    return WorkingCalendar(
        state=draw(st.sampled_from(["SP", "RJ", "MG", "BA", "RS", None])),
        municipality_holidays=municipal,
        closures=draw(st.lists(closures(), max_size=4)),
        suspensions=draw(st.lists(suspensions(), max_size=3)) if with_suspensions else [],
        closes_on_optional=draw(st.booleans()),
    )


#: Aware UTC instants, any second of the day (late evening in São Paulo is already the next day in UTC).
moments = st.builds(lambda day, second: dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
                    + dt.timedelta(seconds=second), days_in_range, st.integers(0, 86399))

rules = st.builds(DeadlineRule, kind=st.sampled_from(KINDS), days=st.integers(0, 60),
                  mode=st.sampled_from(["corridos", "uteis"]), legal_basis=st.just("regra gerada"))


def with_suspensions(calendar: WorkingCalendar, extra: list[Suspension]) -> WorkingCalendar:
    return WorkingCalendar(calendar.state, calendar.municipality_holidays, calendar.closures,
                           [*calendar.suspensions, *extra], calendar.closes_on_optional, calendar.timezone)


def good_day(calendar: WorkingCalendar, day: dt.date, kind: str) -> bool:
    return calendar.is_working_day(day) and not calendar.is_suspended(day, kind)


def days_between(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every day in ``[first, last]``."""
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


@PROPERTY
@given(calendars(), days_in_range, rules)
def test_due_date_never_before_start_and_after_it_when_there_are_days(
        calendar: WorkingCalendar, start: dt.date, rule: DeadlineRule) -> None:
    due = calendar.due_date(start, rule)
    assert due >= start
    if rule.days > 0:
        assert due > start


@PROPERTY
@given(calendars(), days_in_range, rules)
def test_due_day_is_a_working_day_not_suspended_for_the_kind(
        calendar: WorkingCalendar, start: dt.date, rule: DeadlineRule) -> None:
    due = calendar.due_date(start, rule)
    assert calendar.is_working_day(due), calendar.why_not_working(due)
    assert not calendar.is_suspended(due, rule.kind)
    assert calendar.why_not_working(due) is None


@PROPERTY
@given(calendars(with_suspensions=False), days_in_range, st.integers(0, 60), st.sampled_from(KINDS))
def test_calendar_days_without_suspensions_move_only_over_non_working_days(
        calendar: WorkingCalendar, start: dt.date, days: int, kind: str) -> None:
    due = calendar.due_date(start, DeadlineRule(kind, days, "corridos", ""))
    nominal = start + dt.timedelta(days=days)
    assert due >= nominal
    # Every day from the nominal last day up to (not including) the due date is not a working day:
    # the deadline moved to the FIRST working day.
    for day in days_between(nominal, due - ONE_DAY):
        assert not calendar.is_working_day(day), day


@PROPERTY
@given(calendars(), days_in_range, rules.filter(lambda r: r.mode == "uteis" and r.days > 0))
def test_business_days_count_exactly_n_working_unsuspended_days(
        calendar: WorkingCalendar, start: dt.date, rule: DeadlineRule) -> None:
    due = calendar.due_date(start, rule)
    counted = [d for d in days_between(start + ONE_DAY, due) if good_day(calendar, d, rule.kind)]
    assert len(counted) == rule.days
    assert counted[-1] == due  # the due day itself is the N-th counted day


@PROPERTY
@given(calendars(), days_in_range, rules.filter(lambda r: r.mode == "corridos" and r.days > 0))
def test_calendar_days_count_exactly_n_unsuspended_days_before_moving(
        calendar: WorkingCalendar, start: dt.date, rule: DeadlineRule) -> None:
    due = calendar.due_date(start, rule)
    unsuspended = [d for d in days_between(start + ONE_DAY, due) if not calendar.is_suspended(d, rule.kind)]
    assert len(unsuspended) >= rule.days
    # After the N-th counted day, only days that cannot be a due day were passed over.
    for day in unsuspended[rule.days - 1:-1]:
        assert not good_day(calendar, day, rule.kind), day


@PROPERTY
@given(calendars(), days_in_range, st.sampled_from(KINDS), st.sampled_from(["corridos", "uteis"]))
def test_zero_days_is_due_on_the_first_possible_day_from_the_start(
        calendar: WorkingCalendar, start: dt.date, kind: str, mode: str) -> None:
    due = calendar.due_date(start, DeadlineRule(kind, 0, mode, ""))
    assert good_day(calendar, due, kind)
    assert all(not good_day(calendar, d, kind) for d in days_between(start, due - ONE_DAY))


@PROPERTY
@given(calendars(), days_in_range, rules, suspensions())
def test_adding_a_suspension_never_makes_a_deadline_earlier(
        calendar: WorkingCalendar, start: dt.date, rule: DeadlineRule, extra: Suspension) -> None:
    before = calendar.due_date(start, rule)
    after = with_suspensions(calendar, [extra]).due_date(start, rule)
    assert after >= before


@PROPERTY
@given(calendars(), days_in_range, rules, st.data())
def test_a_suspension_of_other_kinds_changes_nothing(
        calendar: WorkingCalendar, start: dt.date, rule: DeadlineRule, data: st.DataObject) -> None:
    others = [k for k in (*KINDS, "pagamento") if k != rule.kind]
    extra = data.draw(suspensions(kinds=st.frozensets(st.sampled_from(others), min_size=1)))
    assert with_suspensions(calendar, [extra]).due_date(start, rule) == calendar.due_date(start, rule)


@PROPERTY
@given(calendars(), days_in_range, days_in_range, rules)
def test_monotonic_in_the_start(
        calendar: WorkingCalendar, a: dt.date, b: dt.date, rule: DeadlineRule) -> None:
    first, second = sorted((a, b))
    assert calendar.due_date(first, rule) <= calendar.due_date(second, rule)


@PROPERTY
@given(calendars(), days_in_range, rules, st.integers(0, 30))
def test_monotonic_in_the_number_of_days(
        calendar: WorkingCalendar, start: dt.date, rule: DeadlineRule, more: int) -> None:
    longer = DeadlineRule(rule.kind, rule.days + more, rule.mode, rule.legal_basis)
    assert calendar.due_date(start, rule) <= calendar.due_date(start, longer)


@PROPERTY
@given(calendars(with_suspensions=False), days_in_range, st.integers(1, 40))
def test_business_days_match_add_working_days(calendar: WorkingCalendar, start: dt.date, days: int) -> None:
    due = calendar.due_date(start, DeadlineRule("cip", days, "uteis", ""))
    assert due == calendar.add_working_days(start, days)
    assert calendar.working_days_between(start, due) == days
    assert calendar.working_days_between(due, start) == -days


@PROPERTY
@given(calendars(), days_in_range, st.integers(1, 30), st.sampled_from([None, *KINDS]))
def test_add_working_days_backwards(calendar: WorkingCalendar, day: dt.date, n: int, kind: str | None) -> None:
    earlier = calendar.add_working_days(day, -n, kind)
    assert earlier < day
    assert calendar.is_working_day(earlier)
    in_window = [d for d in days_between(earlier, day - ONE_DAY)
                 if calendar.is_working_day(d) and (kind is None or not calendar.is_suspended(d, kind))]
    assert len(in_window) == n
    assert calendar.add_working_days(day, 0, kind) == day


@PROPERTY
@given(calendars(), days_in_range, rules)
def test_explanation_ends_with_the_due_date(calendar: WorkingCalendar, start: dt.date, rule: DeadlineRule) -> None:
    lines = calendar.explain(start, rule)
    assert lines[-1].startswith(f"vencimento: {format_date(calendar.due_date(start, rule))}")
    assert format_date(start) in lines[0]


@PROPERTY
@given(calendars(), moments, rules)
def test_due_at_is_the_end_of_the_due_day_in_the_units_time_zone(
        calendar: WorkingCalendar, start: dt.datetime, rule: DeadlineRule) -> None:
    due = calendar.due_at(start, rule)
    assert due.tzinfo is not None and due.utcoffset() == dt.timedelta(0)
    local = due.astimezone(calendar.tz)
    assert local.date() == calendar.due_date(start.astimezone(calendar.tz).date(), rule)
    assert (local.hour, local.minute, local.second, local.microsecond) == (23, 59, 59, 999999)
    assert due > start
