"""The Painel's aggregate tables (:mod:`engine.dashboard.aggregates`) over the known data set of
:mod:`tests.engine.test_dashboard_queries`: kept in the commands' transactions, equal to a recount from the
projections, read by the dashboard instead of the projections, moved by claims and reassignments,
and combined exactly with the projections at the edges of a custom period."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import event, select

from engine.actors import Actor
from engine.dashboard import aggregates as dashboard_models
from engine.dashboard.aggregates import DeadlineTotal, PersonTotal
from engine.dashboard.compliance import _compliance_live, compliance, trend
from engine.dashboard.flow import backlog, flow_times
from engine.dashboard.periods import GROUPS, Filters, cover, split_period
from engine.runtime import CaseResult, Runtime
from engine.store.models import Case, OpenTask
from tests.engine.test_dashboard_queries import counts, dataset, local  # noqa: F401 - the known data set (fixture)

GIL = Actor("gil", "Gil Gestor", frozenset({"gestor"}))


def stored(runtime: Runtime) -> dict[str, Counter[tuple[Any, ...]]]:
    """The aggregate tables as counters (rows that went back to zero left out)."""
    result: dict[str, Counter[tuple[Any, ...]]] = {}
    with runtime.db.connect() as conn:
        for name, table, values in (("deadlines", dashboard_models.DEADLINE_TOTALS, ("n",)),
                                    ("people", dashboard_models.PERSON_TOTALS, ("n",)),
                                    ("steps", dashboard_models.STEP_TOTALS, ("n", "seconds")),
                                    ("cases", dashboard_models.CASE_TOTALS, ("n", "seconds"))):
            keys = [c for c in table.primary_key.columns]
            counter: Counter[tuple[Any, ...]] = Counter()
            for row in conn.execute(select(*keys, *(table.c[v] for v in values))):
                numbers = tuple(round(float(row[len(keys) + i]), 3) for i in range(len(values)))
                if any(numbers):
                    counter[tuple(row[: len(keys)]) + numbers] += 1
            result[name] = counter
    return result


def recount(runtime: Runtime) -> dict[str, Counter[tuple[Any, ...]]]:
    with runtime.db.connect() as conn:
        totals = dashboard_models.rebuild(conn, write=False)
    return {
        "deadlines": Counter(k + (float(n),) for k, n in totals.deadlines.items() if n),
        "people": Counter(k + (float(n),) for k, n in totals.people.items() if n),
        "steps": Counter(k + (float(v[0]), round(v[1], 3)) for k, v in totals.steps.items() if v[0]),
        "cases": Counter(k + (float(v[0]), round(v[1], 3)) for k, v in totals.cases.items() if v[0]),
    }


def test_totals_written_with_each_command_equal_a_recount(runtime: Runtime, dataset: dict[str, CaseResult]) -> None:  # noqa: F811
    assert stored(runtime) == recount(runtime)
    with runtime.Session() as session:
        rows = session.scalars(select(DeadlineTotal).where(DeadlineTotal.grain == "mes")).all()
        assert sum(r.n for r in rows) == 11  # every deadline of the data set, once per grain
        assert {(r.spec_name, r.outcome): r.n for r in rows if r.unit == "STS"} == {
            ("atendimento_preliminar", "cumprido_com_atraso"): 1, ("atendimento_preliminar", "pendente"): 1}
    # a database that predates the tables: rebuild gives the same numbers
    before = stored(runtime)
    with runtime.db.begin() as conn:
        dashboard_models.rebuild(conn)
    assert stored(runtime) == before


def test_dashboard_reads_the_aggregates_not_the_deadlines(runtime: Runtime, dataset: dict[str, CaseResult]) -> None:  # noqa: F811
    statements: list[str] = []

    def capture(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.lower())

    event.listen(runtime.db, "before_cursor_execute", capture)
    try:
        with runtime.Session() as session:
            for group in GROUPS:
                compliance(session, Filters(), group)
            trend(session, Filters(), "semana")
            # custom periods of whole days: months, weeks and days of the aggregates, no projection read
            for start, end in ((local(3, 1, 0), local(5, 1, 0)), (local(2, 26, 0), local(4, 3, 0)),
                               (local(3, 11, 0), local(3, 12, 0))):
                period = Filters(start=start, end=end)
                flow_times(session, period)
                for group in GROUPS:
                    compliance(session, period, group)
                backlog(session, period, "semana")
    finally:
        event.remove(runtime.db, "before_cursor_execute", capture)
    assert statements
    for statement in statements:
        assert " deadlines" not in statement and "audit_events" not in statement and "open_tasks" not in statement, \
            statement


PERIODS = [
    (None, None),
    (dt.datetime(2026, 3, 1, 3, tzinfo=dt.UTC), dt.datetime(2026, 4, 1, 3, tzinfo=dt.UTC)),  # March, whole
    (local(2, 20, 0), local(4, 3, 0)),  # edges in February and April, March whole
    (local(3, 9, 0), local(3, 16, 0)),  # one whole week, no whole month
    (local(3, 11, 15), local(4, 2, 9)),  # odd hours
    (None, local(3, 20, 0)),
    (local(3, 13, 0), None),
    (local(4, 10, 0), local(3, 10, 0)),  # inverted: nothing
]


@pytest.mark.parametrize("period", PERIODS)
def test_custom_periods_equal_the_projections(runtime: Runtime, dataset: dict[str, CaseResult],  # noqa: F811
                                              period: tuple[dt.datetime | None, dt.datetime | None]) -> None:
    with runtime.Session() as session:
        for unit in (None, "CAP", "STS"):
            for kind in (None, "legal", "interno"):
                filters = Filters(unit=unit, start=period[0], end=period[1], kind=kind)
                for group in GROUPS:
                    expected = counts(_compliance_live(session, filters, group))
                    assert counts(compliance(session, filters, group)) == expected, (filters, group)
            filters = Filters(unit=unit, start=period[0], end=period[1])
            for bucket in ("semana", "mes"):
                got = [(b.periodo, b.abertos, b.encerrados) for b in backlog(session, filters, bucket)]
                live = split_period(None, None, bucket)
                assert live.edges == ()
                opened: Counter[str] = Counter()
                closed: Counter[str] = Counter()
                for case in session.scalars(select(Case)):
                    if unit is not None and case.unit != unit:
                        continue
                    for moment, counter in ((case.created_at, opened), (case.closed_at, closed)):
                        if moment is None or (period[0] and moment < period[0]) or (period[1] and moment >= period[1]):
                            continue
                        counter[dashboard_models.period_key(moment, bucket)] += 1
                assert got == [(k, opened[k], closed[k]) for k in sorted(set(opened) | set(closed))]


def test_claims_and_reassignments_move_the_running_counts(runtime: Runtime,
                                                          dataset: dict[str, CaseResult]) -> None:  # noqa: F811
    def people() -> dict[str | None, tuple[int, int, int, int]]:
        with runtime.Session() as session:
            return counts(compliance(session, Filters(), "pessoa"))

    assert people()["bia"] == (0, 0, 0, 1)
    a = dataset["A"]
    with runtime.Session() as session:
        task = session.scalars(select(OpenTask).where(OpenTask.case_id == a.case_id)).one()
    runtime.release(a.case_id, task.task_id, GIL)
    assert "bia" not in people() and people()[None] == (0, 0, 1, 3)
    runtime.reassign(a.case_id, task.task_id, None, GIL)  # already in the queue: nothing moves
    runtime.claim(a.case_id, task.task_id, Actor("bia", "Bia", frozenset({"analista"})))
    assert people()["bia"] == (0, 0, 0, 1)
    with runtime.db.connect() as conn:
        rows = conn.execute(select(PersonTotal.person, PersonTotal.n).where(PersonTotal.n != 0)).all()
    assert all(n > 0 for _person, n in rows)
    assert stored(runtime) == recount(runtime)


def test_cover_uses_months_weeks_and_days() -> None:
    period = cover(local(2, 20, 0), local(4, 3, 0))
    # the week of 23/02 ends on 01/03, inside March: the February edge is read as its 9 days
    assert period.pieces == (("mes", "2026-03-01", "2026-04-01"), ("dia", "2026-02-20", "2026-03-01"),
                             ("dia", "2026-04-01", "2026-04-03"))
    long_edge = cover(local(3, 3, 0), local(4, 1, 0))
    assert long_edge.pieces == (("semana", "2026-03-09", "2026-03-30"), ("dia", "2026-03-03", "2026-03-09"),
                                ("dia", "2026-03-30", "2026-04-01"))
    assert period.live == ()
    odd = cover(local(3, 11, 15), None)
    assert odd.live == ((local(3, 11, 15), local(3, 12, 0)),)
    assert odd.pieces[0] == ("mes", "2026-04-01", None)
    assert cover(None, None).pieces == (("tudo", None, None),)
    assert cover(None, None, whole=False).pieces == (("mes", None, None),)


def test_split_period_keys() -> None:
    split = split_period(local(2, 20, 0), local(4, 3, 0), "mes")
    assert (split.lo, split.hi) == ("2026-03-01", "2026-04-01")
    assert split.edges == ((local(2, 20, 0), local(3, 1, 0)), (local(4, 1, 0), local(4, 3, 0)))
    whole = split_period(local(3, 1, 0), local(4, 1, 0), "mes")
    assert whole.edges == () and (whole.lo, whole.hi) == ("2026-03-01", "2026-04-01")
    week = split_period(local(3, 10, 0), local(3, 12, 0), "semana")
    assert week.empty and week.edges == ((local(3, 10, 0), local(3, 12, 0)),)
    assert dashboard_models.duration_bucket(59) == 0 and dashboard_models.duration_bucket(60) == 1


def test_init_db_backfills_a_database_from_before_the_aggregates(runtime: Runtime,
                                                                 dataset: dict[str, CaseResult]) -> None:  # noqa: F811
    expected = stored(runtime)
    with runtime.db.begin() as conn:
        for table in (dashboard_models.DEADLINE_TOTALS, dashboard_models.PERSON_TOTALS,
                      dashboard_models.STEP_TOTALS, dashboard_models.CASE_TOTALS):
            conn.execute(table.delete())
    runtime.init_db()
    assert stored(runtime) == expected
    with runtime.db.begin() as conn:
        assert dashboard_models.backfill(conn) is False  # already filled: left alone
