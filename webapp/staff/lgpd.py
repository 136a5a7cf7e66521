"""“LGPD” (admin): the access log of cases — who read which case's personal data, when, from where —
per person and per case, and the report of everything the system holds about one person by CPF
(a page, a JSON file and a CSV file).

The CPF travels in a POST body, never in a URL (addresses end up in logs and browser histories);
producing the report is itself a read of those cases and is written in their access log.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import Blueprint, Response, g, render_template, request
from sqlalchemy import select

from engine.lgpd import access_log
from engine.lgpd.subject import InvalidCpf, report_rows, subject_cases, subject_report
from engine.store.models import Case, User
from engine.store.protocol import AGENCY_TZ
from webapp.auth import role_required
from webapp.csv_export import csv_response
from webapp.runtime_access import db_session, runtime
from webapp.staff.access import client_address

bp = Blueprint("lgpd", __name__, url_prefix="/admin/lgpd")

FORMATS = ("pagina", "json", "csv")


@bp.app_template_filter("data_hora_iso")
def data_hora_iso(value: str | None) -> str:
    """An ISO date-time of the report (UTC) as dd/mm/aaaa hh:mm in the agency's time zone."""
    if not value:
        return "—"
    return dt.datetime.fromisoformat(value).astimezone(AGENCY_TZ).strftime("%d/%m/%Y %H:%M")


def _day(text: str, label: str, errors: dict[str, str], key: str) -> dt.date | None:
    text = (text or "").strip()
    if not text:
        return None
    for pattern in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(text, pattern).date()  # noqa: DTZ007 - a calendar date
        except ValueError:
            continue
    errors[key] = f"{label}: data inválida. Use dd/mm/aaaa."
    return None


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=AGENCY_TZ).astimezone(dt.UTC)


@bp.route("/acessos")
@role_required("admin")
def accesses() -> Any:
    """The access log, narrowed by person (login), case (protocol) and period."""
    args = {key: (request.args.get(key) or "").strip() for key in ("pessoa", "protocolo", "de", "ate")}
    errors: dict[str, str] = {}
    start = _day(args["de"], "De", errors, "de")
    end = _day(args["ate"], "Até", errors, "ate")
    if start and end and end < start:
        errors["ate"] = "A data final é anterior à inicial."
    session = db_session()
    case_id = None
    if args["protocolo"]:
        case_id = session.scalars(select(Case.id).where(Case.protocol == args["protocolo"].upper())).first()
        if case_id is None:
            errors["protocolo"] = f"Nenhum caso com o protocolo {args['protocolo']}."
    rows: list[access_log.AccessRow] = []
    searched = any(args.values())
    if searched and not errors:
        rows = access_log.entries(session, reader=args["pessoa"] or None, case_id=case_id,
                                  start=_start_of(start) if start else None,
                                  end=_start_of(end + dt.timedelta(days=1)) if end else None)
    people = list(session.scalars(select(User).order_by(User.full_name)))
    status = 422 if errors else 200
    return render_template("lgpd_acessos.html", args=args, errors=errors, rows=rows, people=people,
                           searched=searched, limit=access_log.MAX_ROWS), status


@bp.route("/titular", methods=["GET", "POST"])
@role_required("admin")
def subject() -> Any:
    """Everything held about one person (by CPF): the page, or the JSON / CSV file."""
    if request.method == "GET":
        return render_template("lgpd_titular.html", cpf="", errors={}, report=None)
    cpf = (request.form.get("cpf") or "").strip()
    chosen = request.form.get("formato") or "pagina"
    if chosen not in FORMATS:
        chosen = "pagina"
    session = db_session()
    try:
        report = subject_report(session, cpf)
    except InvalidCpf as error:
        return render_template("lgpd_titular.html", cpf=cpf, errors={"cpf": str(error)}, report=None), 422
    _record_export(session, report["titular"]["cpf"], chosen)
    digits = "".join(ch for ch in report["titular"]["cpf"] if ch.isdigit())
    if chosen == "json":
        response = Response(json.dumps(report, ensure_ascii=False, indent=2), mimetype="application/json")
        response.headers["Content-Disposition"] = f'attachment; filename="titular-{digits}.json"'
        return response
    if chosen == "csv":
        return csv_response(["secao", "protocolo", "campo", "valor"], report_rows(report), f"titular-{digits}.csv")
    return render_template("lgpd_titular.html", cpf=report["titular"]["cpf"], errors={}, report=report)


def _record_export(session: Any, cpf: str, chosen: str) -> None:
    """The report read every case it names: one access-log entry per case."""
    ids = [case.id for case in subject_cases(session, cpf)]
    if not ids:
        return
    with runtime().db.begin() as conn:
        for case_id in ids:
            access_log.record(conn, case_id, g.actor, "exportacao", address=client_address(),
                              detail=f"formato {chosen}", unit=g.actor.unit or None)
