"""Real deadlines in São Paulo (2026–2027), counted by hand, and the calendar service on a database.

The expected dates were written from the law (Lei 9.784/1999 art. 66: the day of the notice is
excluded, the last day included, a last day that is not a working day moves to the next one) and
the 2026/2027 calendar (weekdays checked with Python's ``calendar`` module; holidays checked in
the ``holidays`` package, see ``test_holidays_package_knows_the_dates_we_rely_on``):

    2026  Carnaval Mon 16 + Tue 17 Feb, Quarta-feira de Cinzas Wed 18 Feb (optional category)
          Sexta-feira Santa Fri 3 Apr; Tiradentes Tue 21 Apr; Corpus Christi Thu 4 Jun (optional)
          Revolução Constitucionalista (SP) Thu 9 Jul; Dia do Servidor Público Wed 28 Oct (optional)
          Finados Mon 2 Nov; Consciência Negra Fri 20 Nov; Véspera de Natal Thu 24 Dec (optional)
          Natal Fri 25 Dec; Véspera de Ano-Novo Thu 31 Dec (optional)
    2027  Confraternização Universal Fri 1 Jan; Aniversário de São Paulo Mon 25 Jan (municipal)

The unit "Procon Capital" closes on optional days and has a year-end recess from Sun 20 Dec 2026
to Wed 6 Jan 2027 that suspends defence and appeal deadlines, but not CIP deadlines.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import holidays
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine import clock
from engine.calendar.defaults import DEFAULT_DEADLINES
from engine.calendar.models import CalendarEntry, DeadlineSetting, Unit
from engine.calendar.rules import (
    Closure,
    DeadlineRule,
    Suspension,
    UnknownDeadlineKind,
    WorkingCalendar,
    default_rule,
)
from engine.calendar.service import CalendarService, UnknownUnit, ensure_default_unit
from engine.errors import NotFound
from engine.schema import create_schema
from engine.store.db import make_engine, make_session_factory

D = dt.date
RECESS = Suspension(D(2026, 12, 20), D(2027, 1, 6), "recesso de fim de ano", frozenset({"defesa", "recurso"}))
SP_ANNIVERSARY = {D(2027, 1, 25): "Aniversário de São Paulo"}


def capital(closes_on_optional: bool = True, state: str = "SP") -> WorkingCalendar:
    return WorkingCalendar(state, SP_ANNIVERSARY, [], [RECESS], closes_on_optional=closes_on_optional)


def test_holidays_package_knows_the_dates_we_rely_on() -> None:
    """If a new ``holidays`` release changes any of these, the hand-counted cases below need a look."""
    assert set(holidays.Brazil.supported_categories) == {"public", "optional"}
    for year in (2025, 2026, 2027):
        national = holidays.country_holidays("BR", years=year, language="pt_BR")
        sp = holidays.country_holidays("BR", subdiv="SP", years=year, language="pt_BR")
        optional = holidays.country_holidays("BR", subdiv="SP", years=year, language="pt_BR",
                                             categories=("optional",))
        assert D(year, 11, 20) in national  # Consciência Negra, national since Lei 14.759/2023
        assert D(year, 7, 9) in sp and D(year, 7, 9) not in national  # SP only
        assert len(optional.get_named("Carnaval", lookup="exact")) == 2  # Monday and Tuesday
        assert len(optional.get_named("Quarta-feira de Cinzas", lookup="exact")) == 1
        assert len(optional.get_named("Corpus Christi", lookup="exact")) == 1
    assert national_name(D(2026, 4, 3)) == "Sexta-feira Santa"  # Good Friday is national in the package
    assert national_name(D(2026, 4, 21)) == "Tiradentes"
    optional_2026 = holidays.country_holidays("BR", subdiv="SP", years=2026, categories=("optional",))
    assert sorted(optional_2026) == [D(2026, 2, 16), D(2026, 2, 17), D(2026, 2, 18), D(2026, 6, 4),
                                     D(2026, 10, 28), D(2026, 12, 24), D(2026, 12, 31)]
    optional_2027 = holidays.country_holidays("BR", subdiv="SP", years=2027, categories=("optional",))
    assert {D(2027, 2, 8), D(2027, 2, 9), D(2027, 2, 10), D(2027, 5, 27)} <= set(optional_2027)
    optional_2025 = holidays.country_holidays("BR", subdiv="SP", years=2025, categories=("optional",))
    assert {D(2025, 3, 3), D(2025, 3, 4), D(2025, 3, 5), D(2025, 6, 19)} <= set(optional_2025)


def national_name(day: dt.date) -> str | None:
    return holidays.country_holidays("BR", years=day.year, language="pt_BR").get(day)


# kind, days, mode, start (the notice), expected due date — and why.
CASES = [
    # --- Carnaval 2026 (Mon 16, Tue 17, Ash Wednesday 18 Feb: the unit is closed all three days)
    pytest.param("cip", 10, "corridos", D(2026, 2, 6), D(2026, 2, 19),
                 id="carnaval-corridos"),  # Fri 6 + 10 = Mon 16 (Carnaval) -> 17, 18 closed -> Thu 19
    pytest.param("cip", 5, "uteis", D(2026, 2, 12), D(2026, 2, 24),
                 id="carnaval-uteis"),  # Fri 13 (1), 16-18 closed, Thu 19 (2), Fri 20 (3), Mon 23 (4), Tue 24 (5)
    # --- Sexta-feira Santa, Fri 3 Apr 2026
    pytest.param("cip", 10, "corridos", D(2026, 3, 24), D(2026, 4, 6),
                 id="sexta-santa-corridos"),  # Tue 24 Mar + 10 = Fri 3 Apr (holiday) -> Sat, Sun -> Mon 6 Apr
    pytest.param("cip", 5, "uteis", D(2026, 3, 30), D(2026, 4, 7),
                 id="sexta-santa-uteis"),  # 31 (1), 1 Apr (2), 2 (3), Fri 3 holiday, Mon 6 (4), Tue 7 (5)
    # --- Tiradentes, Tue 21 Apr 2026
    pytest.param("defesa", 20, "corridos", D(2026, 4, 1), D(2026, 4, 22),
                 id="tiradentes-corridos"),  # Wed 1 Apr + 20 = Tue 21 Apr (holiday) -> Wed 22
    pytest.param("defesa", 10, "uteis", D(2026, 4, 8), D(2026, 4, 23),
                 id="tiradentes-uteis"),  # 9,10,13,14,15,16,17,20 (8), 21 holiday, Wed 22 (9), Thu 23 (10)
    # --- Corpus Christi, Thu 4 Jun 2026 (optional: the unit closes)
    pytest.param("cip", 10, "corridos", D(2026, 5, 25), D(2026, 6, 5),
                 id="corpus-christi-corridos"),  # Mon 25 May + 10 = Thu 4 Jun (closed) -> Fri 5 Jun
    # --- 9 de julho (SP state holiday), Thu 9 Jul 2026
    pytest.param("recurso", 10, "corridos", D(2026, 6, 29), D(2026, 7, 10),
                 id="9-de-julho-corridos"),  # Mon 29 Jun + 10 = Thu 9 Jul (SP holiday) -> Fri 10 Jul
    # --- Dia do Servidor Público, Wed 28 Oct 2026: in the package's optional category, so closed here
    pytest.param("cip", 10, "corridos", D(2026, 10, 18), D(2026, 10, 29),
                 id="servidor-publico-corridos"),  # Sun 18 Oct + 10 = Wed 28 Oct (closed) -> Thu 29
    # --- Finados, Mon 2 Nov 2026
    pytest.param("cip", 10, "corridos", D(2026, 10, 23), D(2026, 11, 3),
                 id="finados-corridos"),  # Fri 23 Oct + 10 = Mon 2 Nov (holiday) -> Tue 3 Nov
    # --- Consciência Negra, Fri 20 Nov 2026 (national since 2024)
    pytest.param("cip", 10, "corridos", D(2026, 11, 10), D(2026, 11, 23),
                 id="consciencia-negra-corridos"),  # Tue 10 + 10 = Fri 20 (holiday) -> Sat, Sun -> Mon 23
    pytest.param("cip", 5, "uteis", D(2026, 11, 16), D(2026, 11, 24),
                 id="consciencia-negra-uteis"),  # 17 (1), 18 (2), 19 (3), Fri 20 holiday, Mon 23 (4), Tue 24 (5)
    # --- Year end: CIP is not suspended by the recess
    pytest.param("cip", 10, "corridos", D(2026, 12, 15), D(2026, 12, 28),
                 id="natal-cip-corridos"),  # Tue 15 + 10 = Fri 25 Dec (Natal) -> Sat, Sun -> Mon 28
    pytest.param("cip", 3, "corridos", D(2026, 12, 21), D(2026, 12, 28),
                 id="vespera-natal-cip"),  # Mon 21 + 3 = Thu 24 (optional, closed) -> Fri 25 Natal -> Mon 28
    pytest.param("cip", 10, "corridos", D(2026, 12, 21), D(2027, 1, 4),
                 id="ano-novo-cip-corridos"),  # Mon 21 + 10 = Thu 31 (closed) -> Fri 1 Jan -> Mon 4 Jan
    pytest.param("cip", 5, "uteis", D(2026, 12, 21), D(2026, 12, 30),
                 id="fim-de-ano-cip-uteis"),  # 22 (1), 23 (2), 24 and 25 closed, 28 (3), 29 (4), Wed 30 (5)
    pytest.param("pagamento", 10, "corridos", D(2026, 12, 15), D(2026, 12, 28),
                 id="recesso-nao-suspende-pagamento"),  # same as CIP: the recess only suspends defesa and recurso
    # --- Year-end recess (20 Dec 2026 – 6 Jan 2027) suspends defesa and recurso: the count pauses
    pytest.param("defesa", 20, "corridos", D(2026, 12, 15), D(2027, 1, 22),
                 id="recesso-defesa-corridos"),  # 16–19 Dec count 4; paused; 7 Jan is day 5 -> day 20 = Fri 22 Jan
    pytest.param("recurso", 10, "corridos", D(2026, 12, 11), D(2027, 1, 8),
                 id="recesso-recurso-corridos"),  # 12–19 Dec count 8; paused; Thu 7 Jan (9), Fri 8 Jan (10)
    pytest.param("recurso", 10, "corridos", D(2026, 12, 22), D(2027, 1, 18),
                 id="notificado-no-recesso"),  # count starts 7 Jan (1) -> 16 Jan (10) is Sat -> Mon 18 Jan
    pytest.param("defesa", 15, "uteis", D(2026, 12, 17), D(2027, 1, 27),
                 id="recesso-defesa-uteis"),  # Fri 18 Dec (1); paused; 7,8,11..15,18..22 Jan (13); 25 municipal; 26, 27
    # --- Municipal holiday: Aniversário de São Paulo, Mon 25 Jan 2027
    pytest.param("recurso", 10, "corridos", D(2027, 1, 14), D(2027, 1, 26),
                 id="aniversario-sp"),  # Thu 14 + 10 = Sun 24 -> Mon 25 (municipal holiday) -> Tue 26 Jan
    # --- Zero days: due the same day, moved when it is not a working day
    pytest.param("prazo", 0, "corridos", D(2026, 3, 2), D(2026, 3, 2), id="zero-dias-dia-util"),
    pytest.param("prazo", 0, "uteis", D(2026, 3, 7), D(2026, 3, 9), id="zero-dias-sabado"),  # Sat -> Mon 9
]


@pytest.mark.parametrize(("kind", "days", "mode", "start", "expected"), CASES)
def test_real_deadlines_in_sao_paulo(kind: str, days: int, mode: str, start: dt.date, expected: dt.date) -> None:
    assert capital().due_date(start, DeadlineRule(kind, days, mode, "")) == expected


# The same unit if it did NOT close on optional days (closes_on_optional=False).
OPEN_ON_OPTIONAL_DAYS = [
    pytest.param("cip", 10, "corridos", D(2026, 2, 6), D(2026, 2, 16),
                 id="carnaval-aberto"),  # Fri 6 + 10 = Mon 16 Feb: Carnaval, but the unit is open
    pytest.param("cip", 5, "uteis", D(2026, 2, 12), D(2026, 2, 19),
                 id="carnaval-aberto-uteis"),  # 13 (1), 16 (2), 17 (3), 18 (4), Thu 19 (5)
    pytest.param("cip", 10, "corridos", D(2026, 5, 25), D(2026, 6, 4), id="corpus-christi-aberto"),
    pytest.param("cip", 10, "corridos", D(2026, 10, 18), D(2026, 10, 28), id="servidor-publico-aberto"),
    pytest.param("cip", 3, "corridos", D(2026, 12, 21), D(2026, 12, 24), id="vespera-natal-aberto"),
    pytest.param("cip", 5, "uteis", D(2026, 12, 21), D(2026, 12, 29),
                 id="fim-de-ano-aberto-uteis"),  # 22 (1), 23 (2), 24 (3), 25 Natal, 28 (4), Tue 29 (5)
    # Good Friday and Natal are holidays (public category), closed anyway:
    pytest.param("cip", 10, "corridos", D(2026, 3, 24), D(2026, 4, 6), id="sexta-santa-fechado"),
    pytest.param("cip", 10, "corridos", D(2026, 12, 15), D(2026, 12, 28), id="natal-fechado"),
]


@pytest.mark.parametrize(("kind", "days", "mode", "start", "expected"), OPEN_ON_OPTIONAL_DAYS)
def test_unit_open_on_optional_days(kind: str, days: int, mode: str, start: dt.date, expected: dt.date) -> None:
    assert capital(closes_on_optional=False).due_date(start, DeadlineRule(kind, days, mode, "")) == expected


def test_state_holidays_depend_on_the_state() -> None:
    rule = DeadlineRule("recurso", 10, "corridos", "")
    assert capital(state="SP").due_date(D(2026, 6, 29), rule) == D(2026, 7, 10)
    assert capital(state="RJ").due_date(D(2026, 6, 29), rule) == D(2026, 7, 9)  # 9 de julho is only SP's
    with pytest.raises(ValueError, match="UF desconhecida"):
        WorkingCalendar("XX", {}, [], [])


def test_reasons_in_portuguese() -> None:
    calendar = capital()
    assert calendar.why_not_working(D(2026, 4, 21)) == "feriado nacional: Tiradentes"
    assert calendar.why_not_working(D(2026, 4, 3)) == "feriado nacional: Sexta-feira Santa"
    assert calendar.why_not_working(D(2026, 7, 9)) == "feriado estadual: Revolução Constitucionalista"
    assert calendar.why_not_working(D(2026, 11, 20)) == (
        "feriado nacional: Dia Nacional de Zumbi e da Consciência Negra")
    assert calendar.why_not_working(D(2026, 2, 16)) == "ponto facultativo: Carnaval"
    assert calendar.why_not_working(D(2026, 2, 18)) == "ponto facultativo: Quarta-feira de Cinzas"
    assert calendar.why_not_working(D(2027, 1, 25)) == "feriado municipal: Aniversário de São Paulo"
    assert calendar.why_not_working(D(2026, 4, 18)) == "sábado"
    assert calendar.why_not_working(D(2026, 4, 19)) == "domingo"
    assert calendar.why_not_working(D(2026, 4, 22)) is None
    # A suspension does not close the unit; it stops the deadlines of its kinds.
    assert calendar.is_working_day(D(2026, 12, 22))
    assert calendar.is_suspended(D(2026, 12, 22), "defesa")
    assert not calendar.is_suspended(D(2026, 12, 22), "cip")
    closed = WorkingCalendar("SP", {}, [Closure(D(2026, 8, 10), D(2026, 8, 12), "mudança de sede")], [])
    assert closed.why_not_working(D(2026, 8, 11)) == "fechamento: mudança de sede"
    assert closed.is_working_day(D(2026, 8, 13))


def test_explanation_of_a_moved_deadline() -> None:
    lines = capital().explain(D(2026, 4, 1), DeadlineRule("defesa", 20, "corridos", "Decreto 2.181/1997, art. 44"))
    assert "prazo terminaria em 21/04/2026 (feriado nacional: Tiradentes); prorrogado para 22/04/2026" in lines
    assert any("20 dias corridos" in line and "Decreto 2.181/1997, art. 44" in line for line in lines)
    assert lines[-1].startswith("vencimento: 22/04/2026 (quarta-feira)")


def test_explanation_of_a_suspended_deadline() -> None:
    lines = capital().explain(D(2026, 12, 15), DeadlineRule("defesa", 20, "corridos", ""))
    assert ("suspensão de prazos: recesso de fim de ano: 18 dia(s) não contado(s), de 20/12/2026 a 06/01/2027"
            in lines)
    assert lines[-1].startswith("vencimento: 22/01/2027")


def test_due_at_uses_the_units_local_date_and_ends_the_day_there() -> None:
    rule = DeadlineRule("cip", 10, "corridos", "")
    # 23:00 on Fri 10 Apr 2026 in São Paulo is already Sat 11 Apr in UTC. The notice is on the 10th:
    # 10 + 10 = Mon 20 Apr (counting from the UTC date would give Tue 21, Tiradentes, -> Wed 22).
    start = dt.datetime(2026, 4, 11, 2, 0, tzinfo=dt.UTC)
    assert capital().due_at(start, rule) == dt.datetime(2026, 4, 21, 2, 59, 59, 999999, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="fuso horário"):
        capital().due_at(dt.datetime(2026, 4, 10, 23, 0), rule)  # noqa: DTZ001 (the error under test)


def test_working_days_helpers() -> None:
    calendar = capital()
    # "2 business days before" Wed 22 Apr 2026: Tue 21 is Tiradentes -> Mon 20 (1), Fri 17 (2).
    assert calendar.add_working_days(D(2026, 4, 22), -2) == D(2026, 4, 17)
    assert calendar.add_working_days(D(2026, 4, 17), 2) == D(2026, 4, 22)
    # Days left from Fri 13 Feb 2026 to Tue 24 Feb: 19, 20, 23, 24 (Carnaval and weekend not counted).
    assert calendar.working_days_between(D(2026, 2, 13), D(2026, 2, 24)) == 4
    assert calendar.working_days_between(D(2026, 2, 24), D(2026, 2, 13)) == -4
    assert calendar.working_days_between(D(2026, 2, 13), D(2026, 2, 13)) == 0
    # Suspended days count for the display only when asked for a kind.
    # (Fri 18 Dec 2026, Fri 8 Jan 2027]: 21, 22, 23, 28, 29, 30 Dec and 4–8 Jan (24, 25, 31 Dec and 1 Jan closed).
    assert calendar.working_days_between(D(2026, 12, 18), D(2027, 1, 8)) == 11
    assert calendar.working_days_between(D(2026, 12, 18), D(2027, 1, 8), kind="defesa") == 2
    with pytest.raises(TypeError):
        calendar.due_date(dt.datetime(2026, 4, 1, tzinfo=dt.UTC), DeadlineRule("cip", 1, "corridos", ""))


def test_rule_validation() -> None:
    with pytest.raises(ValueError, match="Modo de contagem inválido"):
        DeadlineRule("cip", 10, "semanas", "")
    with pytest.raises(ValueError, match="Prazo inválido"):
        DeadlineRule("cip", -1, "corridos", "")
    assert DeadlineRule("cip", 1, "uteis", "").describe() == "1 dia útil"
    assert DeadlineRule("cip", 10, "corridos", "").describe() == "10 dias corridos"


def test_default_deadlines() -> None:
    assert {k: (v["days"], v["mode"]) for k, v in DEFAULT_DEADLINES.items()} == {
        "cip": (10, "corridos"), "defesa": (20, "corridos"), "recurso": (10, "corridos"),
        "pagamento": (10, "corridos"), "divida_ativa": (30, "corridos"), "prazo": (10, "corridos"),
    }
    assert "art. 44" in default_rule("defesa").legal_basis
    assert "art. 49" in default_rule("recurso").legal_basis
    with pytest.raises(UnknownDeadlineKind) as error:
        default_rule("audiencia")
    assert str(error.value).startswith("Tipo de prazo desconhecido: 'audiencia'")


# --------------------------------------------------------------------------- database: CalendarService


@pytest.fixture
def sessions(database_url: str, frozen_clock: clock.FrozenClock) -> Iterator[sessionmaker[Session]]:
    """A clean database (SQLite, or PostgreSQL with DATABASE_URL) with the default unit "CAP"."""
    engine = make_engine(database_url)
    create_schema(engine)
    factory = make_session_factory(engine)
    with factory.begin() as session:
        ensure_default_unit(session)
    yield factory
    engine.dispose()


@pytest.fixture
def service(sessions: sessionmaker[Session]) -> CalendarService:
    return CalendarService(sessions)


def at(*args: Any) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def test_default_unit_and_unknown_units(sessions: sessionmaker[Session], service: CalendarService) -> None:
    with sessions.begin() as session:
        unit = ensure_default_unit(session)  # idempotent
        assert (unit.code, unit.state, unit.municipality, unit.timezone) == ("CAP", "SP", "São Paulo",
                                                                            "America/Sao_Paulo")
        assert unit.closes_on_optional and unit.active
        assert session.scalar(select(Unit).where(Unit.code == "CAP")) is unit
    calendar = service.for_unit("CAP")
    assert calendar.state == "SP" and calendar.closes_on_optional
    assert service.for_unit("CAP") is calendar  # cached
    with pytest.raises(UnknownUnit) as error:
        service.for_unit("XYZ")
    assert isinstance(error.value, KeyError) and isinstance(error.value, NotFound)
    assert str(error.value) == "Unidade desconhecida: 'XYZ'. Cadastre a unidade antes de usar o calendário."
    with pytest.raises(UnknownUnit):
        service.rule("XYZ", "cip", clock.now())


def test_rules_default_and_history(sessions: sessionmaker[Session], service: CalendarService,
                                   frozen_clock: clock.FrozenClock) -> None:
    before = clock.now()  # Mon 2 Mar 2026
    assert service.rule("CAP", "defesa", before) == default_rule("defesa")
    with pytest.raises(UnknownDeadlineKind, match="Tipo de prazo desconhecido"):
        service.rule("CAP", "audiencia", before)

    # Procon-SP uses 15 days for the defence: the change applies only to deadlines starting after it.
    frozen_clock.advance(dt.timedelta(days=1))
    with sessions.begin() as session:
        service.set_rule(session, "CAP", "defesa", 15, "corridos", "Portaria Procon-SP", "admin")
    changed = clock.now()
    assert service.rule("CAP", "defesa", before) == default_rule("defesa")
    assert service.rule("CAP", "defesa", changed) == DeadlineRule("defesa", 15, "corridos", "Portaria Procon-SP")
    assert service.rule("CAP", "defesa", at(2030, 1, 1)).days == 15

    frozen_clock.advance(dt.timedelta(days=30))
    with sessions.begin() as session:
        service.set_rule(session, "CAP", "defesa", 10, "uteis", "Portaria nova", "admin")
        service.set_rule(session, "CAP", "audiencia", 5, "uteis", "Regimento interno", "admin")
    later = clock.now()
    assert service.rule("CAP", "defesa", changed + dt.timedelta(days=2)).days == 15
    assert service.rule("CAP", "defesa", later) == DeadlineRule("defesa", 10, "uteis", "Portaria nova")
    assert service.rule("CAP", "audiencia", later).mode == "uteis"  # kinds beyond the defaults
    assert service.rule("CAP", "cip", later) == default_rule("cip")  # other kinds unchanged

    # A deadline started on Mon 2 Mar 2026 keeps the 20 days: + 20 = Sun 22 Mar -> Mon 23 Mar.
    assert service.due_at("CAP", "defesa", before) == at(2026, 3, 24, 2, 59, 59, 999999)
    with sessions() as session:
        history = session.scalars(select(DeadlineSetting).where(DeadlineSetting.kind == "defesa")
                                  .order_by(DeadlineSetting.id)).all()
        assert [(s.days, s.mode, s.created_by) for s in history] == [(15, "corridos", "admin"), (10, "uteis", "admin")]
        assert history[0].effective_from == changed


def test_set_rule_validation(sessions: sessionmaker[Session], service: CalendarService) -> None:
    problems = [
        (dict(days=-1), "entre 0 e 3650"),
        (dict(days=3651), "entre 0 e 3650"),
        (dict(days="10"), "entre 0 e 3650"),
        (dict(mode="semanas"), "Modo de contagem inválido"),
        (dict(legal_basis="  "), "Informe a base legal"),
        (dict(kind="Defesa Prévia"), "Tipo de prazo inválido"),
        (dict(actor=""), "Informe quem"),
    ]
    for change, message in problems:
        arguments: dict[str, Any] = dict(unit="CAP", kind="defesa", days=15, mode="corridos",
                                         legal_basis="Portaria", actor="admin") | change
        with sessions.begin() as session, pytest.raises(ValueError, match=message):
            service.set_rule(session, **arguments)
    with sessions.begin() as session, pytest.raises(UnknownUnit):
        service.set_rule(session, "XYZ", "defesa", 15, "corridos", "Portaria", "admin")
    with sessions() as session:
        assert session.scalars(select(DeadlineSetting)).all() == []


def test_municipal_holiday_entry_and_deactivation(sessions: sessionmaker[Session], service: CalendarService,
                                                  frozen_clock: clock.FrozenClock) -> None:
    rule = DeadlineRule("recurso", 10, "corridos", "")
    assert service.for_unit("CAP").due_date(D(2027, 1, 14), rule) == D(2027, 1, 25)  # Sun 24 -> Mon 25
    with sessions.begin() as session:
        entry = service.add_entry(session, unit="CAP", starts_on=D(2027, 1, 25), ends_on=D(2027, 1, 25),
                                  kind="feriado_municipal", description="Aniversário de São Paulo", actor="admin")
        entry_id = entry.id
    calendar = service.for_unit("CAP")
    assert calendar.why_not_working(D(2027, 1, 25)) == "feriado municipal: Aniversário de São Paulo"
    assert calendar.due_date(D(2027, 1, 14), rule) == D(2027, 1, 26)  # Mon 25 is now a holiday -> Tue 26

    frozen_clock.advance(dt.timedelta(hours=1))
    with sessions.begin() as session:
        service.deactivate_entry(session, entry_id, "gestor")
    assert service.for_unit("CAP").due_date(D(2027, 1, 14), rule) == D(2027, 1, 25)
    with sessions() as session:
        kept = session.get(CalendarEntry, entry_id)  # nothing is deleted
        assert kept is not None and not kept.active
        assert (kept.created_by, kept.deactivated_by, kept.deactivated_at) == ("admin", "gestor", clock.now())
    with sessions.begin() as session, pytest.raises(ValueError, match="já estava desativado"):
        service.deactivate_entry(session, entry_id, "gestor")
    with sessions.begin() as session, pytest.raises(NotFound, match="não encontrado"):
        service.deactivate_entry(session, 99999, "gestor")


def test_year_end_recess_entry(sessions: sessionmaker[Session], service: CalendarService) -> None:
    with sessions.begin() as session:
        service.add_entry(session, unit="CAP", starts_on=D(2026, 12, 20), ends_on=D(2027, 1, 6), kind="suspensao",
                          description="recesso de fim de ano", suspends=["defesa", "recurso"], actor="admin")
    calendar = service.for_unit("CAP")
    assert calendar.due_date(D(2026, 12, 15), DeadlineRule("defesa", 20, "corridos", "")) == D(2027, 1, 22)
    assert calendar.due_date(D(2026, 12, 15), DeadlineRule("cip", 10, "corridos", "")) == D(2026, 12, 28)
    # Through the service, with the rules in force: defence (20 corridos) notified on Tue 15 Dec 2026, 10:00.
    assert service.due_at("CAP", "defesa", at(2026, 12, 15, 13)) == at(2027, 1, 23, 2, 59, 59, 999999)


@pytest.mark.parametrize("suspends", [[], ["*"]])
def test_a_suspension_without_kinds_suspends_every_kind(sessions: sessionmaker[Session], service: CalendarService,
                                                        suspends: list[str]) -> None:
    with sessions.begin() as session:
        service.add_entry(session, unit="CAP", starts_on=D(2026, 12, 20), ends_on=D(2027, 1, 6), kind="suspensao",
                          description="recesso", suspends=suspends, actor="admin")
    # CIP notified Tue 15 Dec: 16–19 Dec count 4; paused; 7 Jan (5) ... 12 Jan (10), a Tuesday.
    assert service.for_unit("CAP").due_date(D(2026, 12, 15), DeadlineRule("cip", 10, "corridos", "")) == D(2027, 1, 12)


def test_entries_for_every_unit_and_closures(sessions: sessionmaker[Session], service: CalendarService) -> None:
    with sessions.begin() as session:
        ensure_default_unit(session, code="SAN", name="Procon Santos", state="SP", municipality="Santos")
        unit_open = ensure_default_unit(session, code="ABC", name="Procon Santo André", state="SP",
                                        municipality="Santo André")
        unit_open.closes_on_optional = False
    # Load (and cache) both calendars first: adding an entry for every unit must drop every cache.
    assert service.for_unit("SAN").is_working_day(D(2026, 8, 10))
    assert service.for_unit("ABC").is_working_day(D(2026, 2, 16))  # Carnaval, but this unit stays open
    with sessions.begin() as session:
        service.add_entry(session, unit=None, starts_on=D(2026, 8, 10), ends_on=D(2026, 8, 11), kind="fechamento",
                          description="falha no sistema estadual", actor="admin")
        service.add_entry(session, unit="SAN", starts_on=D(2026, 8, 12), ends_on=D(2026, 8, 12),
                          kind="ponto_facultativo", description="decreto municipal", actor="admin")
    for code in ("CAP", "SAN", "ABC"):
        assert service.for_unit(code).why_not_working(D(2026, 8, 10)) == "fechamento: falha no sistema estadual"
    assert service.for_unit("SAN").why_not_working(D(2026, 8, 12)) == "ponto facultativo: decreto municipal"
    assert service.for_unit("CAP").is_working_day(D(2026, 8, 12))
    # Santo André closes neither on Carnaval: Fri 6 Feb + 10 = Mon 16 Feb stays.
    assert service.for_unit("ABC").due_date(D(2026, 2, 6), default_rule("cip")) == D(2026, 2, 16)
    assert service.for_unit("CAP").due_date(D(2026, 2, 6), default_rule("cip")) == D(2026, 2, 19)


def test_invalidate_after_changes_made_elsewhere(sessions: sessionmaker[Session], service: CalendarService) -> None:
    cached = service.for_unit("CAP")
    assert service.rule("CAP", "cip", at(2030, 1, 1)).days == 10
    with sessions.begin() as session:  # an admin screen writing rows directly, not through the service
        session.add(CalendarEntry(unit="CAP", starts_on=D(2026, 8, 10), ends_on=D(2026, 8, 10), kind="fechamento",
                                  description="dedetização", suspends=[], created_by="admin"))
        session.add(DeadlineSetting(unit="CAP", kind="cip", days=5, mode="uteis", legal_basis="Portaria",
                                    effective_from=clock.now(), created_by="admin"))
    assert service.for_unit("CAP") is cached  # still the cached calendar
    assert service.rule("CAP", "cip", at(2030, 1, 1)).days == 10
    service.invalidate("SAN")  # another unit: no effect on CAP
    assert service.for_unit("CAP") is cached
    service.invalidate("CAP")
    assert not service.for_unit("CAP").is_working_day(D(2026, 8, 10))
    assert service.rule("CAP", "cip", at(2030, 1, 1)) == DeadlineRule("cip", 5, "uteis", "Portaria")
    service.invalidate()
    assert service.for_unit("CAP") is not cached


def test_caches_are_dropped_again_at_commit(sessions: sessionmaker[Session], service: CalendarService) -> None:
    """A calendar read while the admin's transaction is still open must not outlive the commit."""
    with sessions.begin() as session:
        service.add_entry(session, unit="CAP", starts_on=D(2026, 8, 10), ends_on=D(2026, 8, 10), kind="fechamento",
                          description="dedetização", actor="admin")
        service.set_rule(session, "CAP", "cip", 5, "uteis", "Portaria", "admin")
        # Another request reads (and caches) the committed state meanwhile: no closure, default rule.
        assert service.for_unit("CAP").is_working_day(D(2026, 8, 10))
        assert service.rule("CAP", "cip", at(2030, 1, 1)) == default_rule("cip")
    assert not service.for_unit("CAP").is_working_day(D(2026, 8, 10))
    assert service.rule("CAP", "cip", at(2030, 1, 1)).days == 5


def test_add_entry_validation(sessions: sessionmaker[Session], service: CalendarService) -> None:
    valid: dict[str, Any] = dict(unit="CAP", starts_on=D(2026, 8, 10), ends_on=D(2026, 8, 10), kind="fechamento",
                                 description="dedetização", actor="admin")
    problems = [
        (dict(ends_on=D(2026, 8, 9)), "A data final deve ser igual ou posterior à data inicial."),
        (dict(kind="feriado"), "Tipo de registro de calendário inválido"),
        (dict(description="   "), "Informe a descrição"),
        (dict(suspends=["defesa"]), "Só uma suspensão de prazos indica os tipos"),
        (dict(kind="suspensao", suspends=["Defesa!"]), "Tipo de prazo inválido na suspensão"),
        (dict(starts_on=dt.datetime(2026, 8, 10, tzinfo=dt.UTC)), "somente a data"),
        (dict(ends_on=D(2037, 8, 10)), "mais de 10 anos"),
        (dict(actor=" "), "Informe quem"),
    ]
    for change, message in problems:
        with sessions.begin() as session, pytest.raises(ValueError, match=message):
            service.add_entry(session, **(valid | change))
    with sessions.begin() as session, pytest.raises(UnknownUnit):
        service.add_entry(session, **(valid | dict(unit="XYZ")))
    with sessions() as session:
        assert session.scalars(select(CalendarEntry)).all() == []


def test_runtime_uses_the_calendar_of_its_default_unit(runtime: Any) -> None:
    calendar = runtime.calendars.for_unit(runtime.config.unit)
    assert calendar.why_not_working(D(2026, 4, 21)) == "feriado nacional: Tiradentes"
    assert runtime.calendars.rule(runtime.config.unit, "recurso", clock.now()) == default_rule("recurso")
