"""“Painel” (gestor / admin): compliance with deadlines, what is due now, where cases wait, flow
times and backlog — every list exportable as CSV, every chart with its numbers as a table.

Filters travel in the query string so a view can be bookmarked and shared: ``processo``,
``unidade`` (state level only — admin, gestor estadual: a unit manager always sees their own unit),
``de`` / ``ate`` (dd/mm/aaaa or ISO; ``ate`` inclusive), ``tipo`` (legal | interno), ``agrupar``
(processo | etapa | unidade | pessoa | periodo_semana | periodo_mes) and ``dias`` (business days of the
"próximos" list).

CSV: UTF-8 with a BOM and ``;`` as separator, decimals with a comma — what Excel in pt-BR opens
correctly with a double click (with ``,`` it would put each row in a single column).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import and_, func, or_, select

from engine.calendar.models import Unit
from engine.dashboard.compliance import compliance, trend
from engine.dashboard.flow import backlog, flow_times
from engine.dashboard.live import cases_waiting_on, now_lists, waiting_by_task
from engine.dashboard.periods import GROUP_LABELS, GROUPS, KINDS, Filters
from engine.dashboard.rows import NowItem
from engine.errors import EngineError
from engine.store.models import Case, Deadline, OpenTask, ProcessDefinition, User
from engine.store.protocol import AGENCY_TZ
from webapp.auth import role_required
from webapp.csv_export import csv_response
from webapp.runtime_access import db_session, runtime

bp = Blueprint("dashboard", __name__, url_prefix="/painel")

DEFAULT_DAYS = 3
MAX_DAYS = 60
LISTS = ("conformidade", "tendencia", "atrasados", "hoje", "proximos", "tempos", "tempos_processo", "duracao_casos",
         "backlog", "espera", "etapa")
FILTER_KEYS = ("processo", "unidade", "de", "ate", "tipo", "agrupar", "dias", "periodo")
TREND_BUCKETS = {"mes": "Mês", "semana": "Semana"}


# --------------------------------------------------------------------------- filters


def _parse_day(value: str, label: str) -> dt.date:
    for pattern in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(value.strip(), pattern).date()  # noqa: DTZ007 - a calendar date
        except ValueError:
            continue
    raise ValueError(f"{label}: data inválida ({value}). Use dd/mm/aaaa.")


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=AGENCY_TZ).astimezone(dt.UTC)


def _is_admin() -> bool:
    """A state-level person (``admin``, ``gestor_estadual``): sees every unit and may pick one."""
    return g.actor.is_state_level


def _unit() -> str | None:
    """The unit whose data may be shown: a unit manager's own; for an admin, the chosen one or all."""
    if _is_admin():
        return (request.args.get("unidade") or "").strip() or None
    return g.user.unit


def _read_filters() -> tuple[Filters, dict[str, Any], list[str]]:
    """The engine filters, the values as typed (for the form and links) and the problems found."""
    args = request.args
    errors: list[str] = []
    start = end = None
    de, ate = (args.get("de") or "").strip(), (args.get("ate") or "").strip()
    try:
        if de:
            start = _start_of(_parse_day(de, "De"))
    except ValueError as error:
        errors.append(str(error))
    try:
        if ate:
            end = _start_of(_parse_day(ate, "Até") + dt.timedelta(days=1))
    except ValueError as error:
        errors.append(str(error))
    kind = args.get("tipo") or None
    if kind is not None and kind not in KINDS:
        errors.append("Tipo de prazo inválido: use legal ou interno.")
        kind = None
    group = args.get("agrupar") or "processo"
    if group not in GROUPS:
        errors.append("Agrupamento inválido.")
        group = "processo"
    days_text = (args.get("dias") or "").strip()
    days = DEFAULT_DAYS
    if days_text:
        if days_text.isdigit() and int(days_text) <= MAX_DAYS:
            days = int(days_text)
        else:
            errors.append(f"Dias úteis: informe um número inteiro de 0 a {MAX_DAYS}.")
    if start is not None and end is not None and start >= end:
        errors.append("Período inválido: a data final (até) é anterior à inicial (de).")
        start = end = None
    bucket = args.get("periodo") or "mes"
    if bucket not in TREND_BUCKETS:
        errors.append("Período da evolução inválido: use semana ou mes.")
        bucket = "mes"
    process = (args.get("processo") or "").strip() or None
    filters = Filters(unit=_unit(), process_id=process, start=start, end=end, kind=kind)
    values = {"processo": process or "", "unidade": filters.unit or "", "de": de, "ate": ate,
              "tipo": kind or "", "agrupar": group, "dias": days, "periodo": bucket}
    return filters, values, errors


def _query_args(values: dict[str, Any]) -> dict[str, Any]:
    """The filters for ``url_for`` (empty ones left out; the unit only for an admin)."""
    result = {k: v for k, v in values.items() if v not in ("", None) and k in FILTER_KEYS}
    if not _is_admin():
        result.pop("unidade", None)
    if result.get("agrupar") == "processo":
        result.pop("agrupar")
    if result.get("dias") == DEFAULT_DAYS:
        result.pop("dias")
    if result.get("periodo") == "mes":
        result.pop("periodo")
    return result


def _processes() -> list[tuple[str, str]]:
    """(process id, name of its latest version) of every deployed procedure."""
    latest = (select(ProcessDefinition.process_id, func.max(ProcessDefinition.version).label("v"))
              .group_by(ProcessDefinition.process_id).subquery())
    rows = db_session().execute(
        select(ProcessDefinition.process_id, ProcessDefinition.name)
        .join(latest, and_(latest.c.process_id == ProcessDefinition.process_id,
                           latest.c.v == ProcessDefinition.version))
        .order_by(ProcessDefinition.name))
    return [(r.process_id, r.name) for r in rows]


def _people(unit: str | None) -> list[User]:
    """Active people who may receive tasks (the unit's, or everyone's for an admin viewing all)."""
    query = select(User).where(User.active.is_(True)).order_by(User.full_name)
    if unit is not None:
        query = query.where(User.unit == unit)
    return list(db_session().scalars(query))


def _task_ids(items: list[NowItem]) -> dict[int, str]:
    """Deadline id → id of the open task that holds it (for the reassign checkboxes)."""
    ids = [i.deadline_id for i in items]
    if not ids:
        return {}
    rows = db_session().execute(
        select(Deadline.id, OpenTask.task_id).join(OpenTask, and_(
            OpenTask.case_id == Deadline.case_id,
            or_(OpenTask.task_id == Deadline.task_id, OpenTask.spec_name == Deadline.attached_to)))
        .where(Deadline.id.in_(ids)))
    return {r.id: r.task_id for r in rows}


# --------------------------------------------------------------------------- pages


@bp.route("/")
@role_required("gestor")
def index() -> Any:
    filters, values, errors = _read_filters()
    for error in errors:
        flash(error, "erro")
    session = db_session()
    rows = compliance(session, filters, values["agrupar"])
    points = trend(session, filters, values["periodo"])
    now = now_lists(session, filters, calendars=runtime().calendars, business_days=values["dias"])
    task_ids = _task_ids(now.atrasados + now.vencem_hoje + now.proximos)
    flow = flow_times(session, filters, values["periodo"])
    processes = _processes()
    diagram_process = values["processo"] or (processes[0][0] if processes else "")
    waiting = waiting_by_task(session, diagram_process, filters.unit) if diagram_process else {}
    units = list(session.scalars(select(Unit).order_by(Unit.code))) if _is_admin() else []
    chart = {"grupos": [{"rotulo": r.rotulo, "taxa": r.taxa_no_prazo} for r in rows],
             "tendencia": [{"rotulo": p.rotulo, "taxa": p.taxa_no_prazo} for p in points]}
    return render_template(
        "dashboard.html", rows=rows, trend=points, now=now, task_ids=task_ids, flow=flow, values=values,
        query=_query_args(values), processes=processes, diagram_process=diagram_process,
        waiting={k: w.as_dict() for k, w in waiting.items()}, units=units, is_admin=_is_admin(),
        people=_people(filters.unit), group_label=GROUP_LABELS[values["agrupar"]], chart=chart,
        kinds=KINDS, groups=GROUP_LABELS, trend_buckets=TREND_BUCKETS)


@bp.route("/diagrama/<process_id>.xml")
@role_required("gestor")
def diagram(process_id: str) -> Any:
    xml = db_session().scalars(select(ProcessDefinition.bpmn_xml).where(ProcessDefinition.process_id == process_id)
                               .order_by(ProcessDefinition.version.desc()).limit(1)).first()
    if xml is None:
        abort(404)
    return Response(xml, mimetype="application/xml")


@bp.route("/etapa")
@role_required("gestor")
def step() -> Any:
    filters, values, _errors = _read_filters()
    process, element = request.args.get("processo", ""), request.args.get("elemento", "")
    if not process or not element:
        abort(404)
    cases = cases_waiting_on(db_session(), process, element, filters.unit)
    task_ids = dict(db_session().execute(
        select(OpenTask.case_id, OpenTask.task_id).where(OpenTask.case_id.in_([c.case_id for c in cases]),
                                                         OpenTask.spec_name == element)).all()) if cases else {}
    return render_template("dashboard_step.html", cases=cases, process=process, element=element,
                           query=_query_args(values), task_ids=task_ids, people=_people(filters.unit))


@bp.route("/redistribuir", methods=["POST"])
@role_required("gestor")
def reassign() -> Any:
    form = request.form
    back = redirect(request.referrer if request.referrer and request.referrer.startswith(request.host_url)
                    else url_for("dashboard.index"))
    selected = form.getlist("tarefa")
    if not selected:
        flash("Selecione ao menos uma tarefa para redistribuir.", "erro")
        return back
    target = (form.get("para") or "").strip() or None
    reason = (form.get("motivo") or "").strip()
    if not reason:
        flash("Informe o motivo da redistribuição.", "erro")
        return back
    unit = None if _is_admin() else g.user.unit
    moved, problems = 0, []
    for value in selected:
        case_text, _, task_id = value.partition(":")
        row = None
        if case_text.isdigit() and task_id:
            row = db_session().execute(select(Case.protocol, Case.unit, OpenTask.title)
                                       .join(OpenTask, OpenTask.case_id == Case.id)
                                       .where(Case.id == int(case_text), OpenTask.task_id == task_id)).first()
        if row is None or (unit is not None and row.unit != unit):
            problems.append("Tarefa não encontrada (já concluída ou de outra unidade).")
            continue
        try:
            runtime().reassign(int(case_text), task_id, target, g.actor, reason)
            moved += 1
        except EngineError as error:
            problems.append(f"{row.protocol} — {row.title}: {error}")
    destination = target or "a fila do papel"
    if moved:
        flash(f"{moved} tarefa(s) redistribuída(s) para {destination}.", "sucesso")
    for problem in problems:
        flash(f"Não redistribuída: {problem}", "erro")
    return back


@bp.route("/atribuir", methods=["POST"])
@role_required("gestor")
def assign() -> Any:
    """Claim for someone: a manager gives a task waiting in its role's queue to a named person.

    Audited by the engine (``tarefa_redistribuida``, from nobody to the person, with the reason).
    A task someone already holds is refused (that is a redistribution, with its own reason).
    """
    form = request.form
    back = redirect(request.referrer if request.referrer and request.referrer.startswith(request.host_url)
                    else url_for("dashboard.index"))
    case_text, _, task_id = (form.get("tarefa") or "").partition(":")
    target = (form.get("para") or "").strip()
    if not target:
        flash("Escolha a pessoa que vai assumir a tarefa.", "erro")
        return back
    row = None
    if case_text.isdigit() and task_id:
        row = db_session().execute(select(Case.protocol, Case.unit, OpenTask.title, OpenTask.assignee)
                                   .join(OpenTask, OpenTask.case_id == Case.id)
                                   .where(Case.id == int(case_text), OpenTask.task_id == task_id)).first()
    if row is None or (not _is_admin() and row.unit != g.user.unit):
        flash("Tarefa não encontrada (já concluída ou de outra unidade).", "erro")
        return back
    if row.assignee:
        flash(f"{row.protocol} — {row.title}: a tarefa já está com {row.assignee}. Para tirá-la dessa pessoa, "
              "use “Redistribuir” e informe o motivo.", "erro")
        return back
    reason = (form.get("motivo") or "").strip() or "atribuída pelo gestor a partir da fila"
    try:
        runtime().reassign(int(case_text), task_id, target, g.actor, reason)
    except EngineError as error:
        flash(f"{row.protocol} — {row.title}: {error}", "erro")
        return back
    flash(f"{row.protocol} — {row.title}: atribuída a {target}.", "sucesso")
    return back


# --------------------------------------------------------------------------- CSV


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "sim" if value else "não"
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".").replace(".", ",")
    if isinstance(value, dt.datetime):
        return value.astimezone(AGENCY_TZ).strftime("%d/%m/%Y %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    return str(value)


def _export_rows(lista: str, filters: Filters, values: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    session = db_session()
    if lista == "conformidade":
        rows = compliance(session, filters, values["agrupar"])
        header = ["chave", "grupo", "no_prazo", "com_atraso", "vencidos", "pendentes", "cancelados", "encerrados",
                  "taxa_no_prazo"]
        return header, [[r.chave, r.rotulo, r.no_prazo, r.com_atraso, r.vencidos, r.pendentes, r.cancelados,
                         r.encerrados, r.taxa_no_prazo] for r in rows]
    if lista == "tendencia":
        points = trend(session, filters, values["periodo"])
        return (["periodo", "rotulo", "encerrados", "no_prazo", "taxa_no_prazo"],
                [[p.periodo, p.rotulo, p.encerrados, p.no_prazo, p.taxa_no_prazo] for p in points])
    if lista in ("atrasados", "hoje", "proximos"):
        now = now_lists(session, filters, calendars=runtime().calendars, business_days=values["dias"],
                        limit=None)
        items = {"atrasados": now.atrasados, "hoje": now.vencem_hoje, "proximos": now.proximos}[lista]
        header = ["protocolo", "unidade", "processo", "tarefa", "prazo", "tipo", "com", "vencimento", "dias_atraso",
                  "dias_uteis_restantes"]
        return header, [[i.protocolo, i.unidade, i.processo, i.tarefa, i.prazo, i.tipo, i.com, i.vencimento,
                         i.dias_atraso, i.dias_uteis_restantes] for i in items]
    if lista in ("tempos", "tempos_processo", "duracao_casos"):
        flow = flow_times(session, filters, values["periodo"])
        stats = {"tempos": flow.por_etapa, "tempos_processo": flow.por_processo,
                 "duracao_casos": flow.duracao_casos}[lista]
        return (["chave", "quantidade", "media_horas", "mediana_horas", "p90_horas"],
                [[s.chave, s.quantidade, s.media_horas, s.mediana_horas, s.p90_horas] for s in stats])
    if lista == "backlog":
        points = backlog(session, filters, values["periodo"])
        return ["periodo", "abertos", "encerrados"], [[p.periodo, p.abertos, p.encerrados] for p in points]
    if lista == "espera":
        if not values["processo"]:
            abort(404)
        waiting = waiting_by_task(session, values["processo"], filters.unit)
        return (["elemento", "etapa", "aguardando", "atrasados"],
                [[w.elemento, w.titulo, w.aguardando, w.atrasados] for w in waiting.values()])
    element = request.args.get("elemento", "")
    if not values["processo"] or not element:
        abort(404)
    cases = cases_waiting_on(session, values["processo"], element, filters.unit)
    return (["protocolo", "unidade", "caso", "tarefa", "responsavel", "fila", "vencimento", "atrasado", "desde"],
            [[c.protocolo, c.unidade, c.titulo_caso, c.tarefa, c.responsavel, c.fila, c.due_at, c.atrasado, c.desde]
             for c in cases])


@bp.route("/exportar.csv")
@role_required("gestor")
def export() -> Any:
    lista = request.args.get("lista", "")
    if lista not in LISTS:
        abort(404)
    filters, values, errors = _read_filters()
    if errors:
        return Response("; ".join(errors), status=400, mimetype="text/plain")
    header, rows = _export_rows(lista, filters, values)
    return csv_response(header, ([_cell(v) for v in row] for row in rows), f"painel-{lista}.csv")
