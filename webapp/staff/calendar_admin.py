"""“Calendário” (admin): the unit's non-working days, closures and suspensions of deadlines, and the
length of every legal deadline. A closure or suspension recounts the pending deadlines it touches
(each case's history says why); a new deadline length applies only to deadlines that start later."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from engine import clock
from engine.calendar.defaults import DEFAULT_DEADLINES
from engine.calendar.models import ENTRY_KINDS, CalendarEntry, DeadlineSetting, Unit
from engine.errors import NotFound
from engine.store.protocol import AGENCY_TZ
from webapp.auth import role_required
from webapp.runtime_access import runtime

bp = Blueprint("calendar_admin", __name__, url_prefix="/admin/calendario")

MODES = {"corridos": "dias corridos", "uteis": "dias úteis"}


def _parse_date(value: str, label: str) -> dt.date:
    value = (value or "").strip()
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(value, pattern).date()  # noqa: DTZ007 - a calendar date, no time
        except ValueError:
            continue
    raise ValueError(f"{label}: data inválida. Use dd/mm/aaaa.")


def _unit_code() -> str:
    return request.values.get("unidade") or g.user.unit


def _year_non_working_days(unit: str, year: int) -> list[tuple[dt.date, str]]:
    calendar = runtime().calendars.for_unit(unit)
    day, end, result = dt.date(year, 1, 1), dt.date(year, 12, 31), []
    while day <= end:
        reason = calendar.why_not_working(day)
        if reason and day.weekday() < 5:
            result.append((day, reason))
        day += dt.timedelta(days=1)
    return result


@bp.route("/")
@role_required("admin")
def index() -> Any:
    code = _unit_code()
    with runtime().Session() as session:
        units = list(session.scalars(select(Unit).order_by(Unit.code)))
        unit = session.get(Unit, code)
        if unit is None:
            flash(f"Unidade {code} não encontrada.", "erro")
            return redirect(url_for("inbox.index"))
        entries = list(session.scalars(
            select(CalendarEntry).where((CalendarEntry.unit == code) | CalendarEntry.unit.is_(None))
            .order_by(CalendarEntry.active.desc(), CalendarEntry.starts_on.desc())))
        history = list(session.scalars(select(DeadlineSetting).where(DeadlineSetting.unit == code)
                                       .order_by(DeadlineSetting.kind, DeadlineSetting.effective_from.desc())))
    now = clock.now()
    rules = {kind: runtime().calendars.rule(code, kind, now) for kind in DEFAULT_DEADLINES}
    year = int(request.args.get("ano") or now.astimezone(AGENCY_TZ).year)
    return render_template("calendar_admin.html", units=units, unit=unit, entries=entries, history=history,
                           rules=rules, kinds=ENTRY_KINDS, modes=MODES, deadline_kinds=list(DEFAULT_DEADLINES),
                           year=year, non_working=_year_non_working_days(code, year), form=request.form)


@bp.route("/registros", methods=["POST"])
@role_required("admin")
def add_entry() -> Any:
    code = _unit_code()
    form = request.form
    try:
        starts_on = _parse_date(form.get("inicio", ""), "Início")
        ends_on = _parse_date(form.get("fim", "") or form.get("inicio", ""), "Fim")
        kind = form.get("tipo", "")
        suspends = form.getlist("suspende") if kind == "suspensao" else []
        with runtime().Session.begin() as session:
            entry = runtime().calendars.add_entry(
                session, unit=None if form.get("todas") else code, starts_on=starts_on, ends_on=ends_on,
                kind=kind, description=form.get("descricao", ""), actor=g.user.username, suspends=suspends)
            reason = f"{ENTRY_KINDS[entry.kind]} “{entry.description}” registrado por {g.user.full_name}"
            scope = entry.unit
    except (ValueError, NotFound) as error:
        flash(str(error), "erro")
        return redirect(url_for("calendar_admin.index", unidade=code))
    moved = runtime().recalculate_deadlines(scope, reason, g.actor)
    flash(f"Registro incluído. {moved} prazo(s) em andamento recalculado(s).", "sucesso")
    return redirect(url_for("calendar_admin.index", unidade=code))


@bp.route("/registros/<int:entry_id>/desativar", methods=["POST"])
@role_required("admin")
def deactivate_entry(entry_id: int) -> Any:
    code = _unit_code()
    try:
        with runtime().Session.begin() as session:
            entry = runtime().calendars.deactivate_entry(session, entry_id, g.user.username)
            reason = f"{ENTRY_KINDS[entry.kind]} “{entry.description}” desativado por {g.user.full_name}"
            scope = entry.unit
    except (ValueError, NotFound) as error:
        flash(str(error), "erro")
        return redirect(url_for("calendar_admin.index", unidade=code))
    moved = runtime().recalculate_deadlines(scope, reason, g.actor)
    flash(f"Registro desativado. {moved} prazo(s) em andamento recalculado(s).", "sucesso")
    return redirect(url_for("calendar_admin.index", unidade=code))


@bp.route("/prazos", methods=["POST"])
@role_required("admin")
def set_rule() -> Any:
    code = _unit_code()
    form = request.form
    try:
        days_text = (form.get("dias") or "").strip()
        if not days_text.isdigit():
            raise ValueError("Informe o prazo em dias, com um número inteiro.")
        with runtime().Session.begin() as session:
            runtime().calendars.set_rule(session, code, form.get("tipo", ""), int(days_text), form.get("modo", ""),
                                         form.get("base_legal", ""), g.user.username)
    except (ValueError, NotFound) as error:
        flash(str(error), "erro")
        return redirect(url_for("calendar_admin.index", unidade=code))
    flash("Prazo alterado. Vale para os prazos que começarem a partir de agora; os que já correm não mudam.",
          "sucesso")
    return redirect(url_for("calendar_admin.index", unidade=code))
