"""Portal do Consumidor: "Meus casos" (most urgent first, each with its next step) and "Nova reclamação".

The consumer files the complaint on the same registration form the attendants use: name, CPF and e-mail
come from the account (not editable), the supplier is found by CNPJ (the ``consultar_cnpj`` service task
handler, called through the task registry) or by name among the suppliers the Procon already knows, and
the case starts through :meth:`engine.runtime.Runtime.start_case` as the consumer, with canal "portal".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, current_app, flash, g, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import lazyload, load_only

from engine import clock
from engine.errors import InvalidSubmission, PermissionDenied, ProcedureError
from engine.forms.schema import FormDefinition
from engine.forms.submission import canonical_cnpj
from engine.parties.case_parties import visible_case_ids
from engine.parties.companies import public_names, verified_company_ids
from engine.parties.models import SupplierCompany
from engine.parties.party_view import DeadlineFact, Step, TaskFact, next_steps
from engine.store.models import Case, Deadline, OpenTask
from tasks import registry
from tasks.context import TaskContext, TaskSettings
from tasks.errors import TaskError
from webapp.portal.auth import party_required
from webapp.public.pages import search_suppliers
from webapp.runtime_access import db_session, runtime
from webapp.staff.inbox import submitted_values, uploaded_files

bp = Blueprint("portal_consumer", __name__, url_prefix="/portal/consumidor")

COMPLAINT_PROCESS = "reclamacao"
#: Filled from the account (or fixed): never typed by the consumer.
ACCOUNT_FIELDS = ("consumidor_nome", "consumidor_cpf", "consumidor_email", "canal")
SUPPLIER_SEARCH_LIMIT = 10


@dataclass(frozen=True)
class CaseCard:
    case: Case
    step: Step | None
    your_turn: bool


@dataclass(frozen=True)
class SupplierMatch:
    cnpj: str
    name: str


# -- Meus casos ---------------------------------------------------------------------------------------------
def _far() -> dt.datetime:
    return dt.datetime.max.replace(tzinfo=dt.UTC)


def _aware(moment: dt.datetime | None) -> dt.datetime:
    if moment is None:
        return _far()
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def case_cards(role: str) -> list[CaseCard]:
    """The party's cases as cards, most urgent first: their own turn (earliest due first), then the open cases
    waiting for someone else (earliest expected date first), then the closed ones (latest first)."""
    session = db_session()
    cases = list(session.scalars(
        select(Case).options(load_only(Case.id, Case.protocol, Case.title, Case.status, Case.outcome,
                                       Case.created_at, Case.updated_at, Case.closed_at), lazyload(Case.definition))
        .where(Case.id.in_(visible_case_ids(g.party_actor, role))).order_by(Case.id.desc()).limit(500)))
    ids = [c.id for c in cases]
    tasks: dict[int, list[TaskFact]] = {i: [] for i in ids}
    deadlines: dict[int, list[DeadlineFact]] = {i: [] for i in ids}
    if ids:
        for t in session.execute(select(OpenTask.case_id, OpenTask.title, OpenTask.role, OpenTask.due_at,
                                        OpenTask.spec_name, OpenTask.task_id).where(OpenTask.case_id.in_(ids))):
            tasks[t.case_id].append(TaskFact(t.title, t.role, t.due_at, t.spec_name, t.task_id))
        for d in session.execute(select(Deadline.case_id, Deadline.name, Deadline.due_at, Deadline.attached_to,
                                        Deadline.kind, Deadline.legal_basis)
                                 .where(Deadline.case_id.in_(ids), Deadline.fired_at.is_(None),
                                        Deadline.met_at.is_(None))):
            deadlines[d.case_id].append(DeadlineFact(d.name, d.due_at, d.attached_to, d.kind, d.legal_basis))
    now = clock.now()
    cards = []
    for case in cases:
        steps = next_steps(role, case.status, case.outcome, tasks[case.id], deadlines[case.id], now,
                           closed_at=case.closed_at)
        first = steps[0] if steps else None
        cards.append(CaseCard(case, first, first is not None and first.kind == "sua_vez"))

    def urgency(card: CaseCard) -> tuple[int, dt.datetime, float]:
        due = _aware(card.step.due_at if card.step else None)
        if card.your_turn:
            return 0, due, 0.0
        if card.case.status != "encerrado":
            return 1, due, 0.0
        return 2, _far(), -_aware(card.case.closed_at or card.case.updated_at).timestamp()

    return sorted(cards, key=urgency)


@bp.route("/")
@party_required("consumidor")
def index() -> Any:
    return render_template("portal/consumidor.html", cards=case_cards("consumidor"))


# -- supplier look-up ---------------------------------------------------------------------------------------
def task_settings() -> TaskSettings:
    configured = current_app.config.get("TASK_SETTINGS")
    return configured if isinstance(configured, TaskSettings) else TaskSettings.from_env()


def lookup_cnpj(value: str) -> tuple[str | None, str | None]:
    """(supplier name, None) from the CNPJ service, or (None, a message for the consumer)."""
    cnpj = canonical_cnpj(value or "")
    if cnpj is None:
        return None, "CNPJ inválido: confira os 14 caracteres (números, ou letras e números no CNPJ novo)."
    known = public_names(db_session(), [cnpj]).get(cnpj)  # a proven company's name, never a pending one's
    try:
        settings = task_settings()
    except ValueError:
        settings = TaskSettings()
    if not settings.cnpj_api_url:
        if known:
            return known, None
        return None, "A consulta automática de CNPJ não está disponível agora. Digite o nome da empresa."
    registry.load_handlers()
    handler = registry.get("consultar_cnpj")
    if handler is None:
        return (known, None) if known else (None, "A consulta automática de CNPJ não está disponível agora. "
                                                  "Digite o nome da empresa.")
    context = TaskContext(settings=settings, case_id=0, protocol="", unit="", now=clock.now())
    try:
        result = handler({"fornecedor_cnpj": cnpj}, context) or {}
    except TaskError as error:
        if known:
            return known, None
        return None, f"Não conseguimos consultar este CNPJ agora ({error}). Digite o nome da empresa."
    name = str(result.get("fornecedor_nome") or "").strip()
    if not name:
        return (known, None) if known else (None, "O serviço de CNPJ não informou o nome. Digite o nome da empresa.")
    return name, None


def find_suppliers(text: str) -> list[SupplierMatch]:
    """Suppliers the Procon already knows whose name (or CNPJ) matches: proven company accounts and complaints."""
    text = text.strip()
    if len(text) < 3:
        return []
    session = db_session()
    found: dict[str, str] = {}
    pattern = f"%{text[:100]}%"
    for cnpj, name in session.execute(select(SupplierCompany.cnpj, SupplierCompany.name)
                                      .where(SupplierCompany.name.ilike(pattern), SupplierCompany.name != "",
                                             SupplierCompany.id.in_(verified_company_ids()))
                                      .order_by(SupplierCompany.name).limit(SUPPLIER_SEARCH_LIMIT)):
        found[cnpj] = name
    for match in search_suppliers(session, text):
        found.setdefault(match.cnpj, match.name)
    return [SupplierMatch(cnpj, name) for cnpj, name in list(found.items())[:SUPPLIER_SEARCH_LIMIT]]


@bp.route("/fornecedores/cnpj")
@party_required("consumidor")
def cnpj_lookup() -> Any:
    """JSON for the "Buscar" button: ``{"nome": ...}`` or ``{"erro": ...}`` (the person then types the name)."""
    name, problem = lookup_cnpj(request.args.get("cnpj", ""))
    if name is None:
        return jsonify({"erro": problem}), 200
    return jsonify({"nome": name, "cnpj": canonical_cnpj(request.args.get("cnpj", ""))})


@bp.route("/fornecedores")
@party_required("consumidor")
def supplier_search() -> Any:
    """JSON: known suppliers whose name contains ``q`` (at least 3 characters)."""
    matches = find_suppliers(request.args.get("q", ""))
    return jsonify({"fornecedores": [{"cnpj": m.cnpj, "nome": m.name} for m in matches]})


# -- Nova reclamação ----------------------------------------------------------------------------------------
def _typed_fields(form: FormDefinition) -> list[Any]:
    return [f for f in form.fields if f.name not in ACCOUNT_FIELDS]


def _render(form: FormDefinition, raw: dict[str, str], errors: dict[str, str], status: int = 200, **extra: Any) -> Any:
    account = g.party_account
    return render_template("portal/consumidor_nova.html", form=form, fields=_typed_fields(form), raw=raw,
                           errors=errors, account=account, **extra), status


def _account_values() -> dict[str, str]:
    account = g.party_account
    return {"consumidor_nome": account.name, "consumidor_cpf": account.cpf or "", "consumidor_email": account.email,
            "canal": "portal"}


@bp.route("/reclamacoes/nova", methods=["GET", "POST"])
@party_required("consumidor")
def new_complaint() -> Any:
    form, _title = runtime().first_form(COMPLAINT_PROCESS)
    if request.method == "GET":
        return _render(form, {"consumidor_telefone": g.party_account.phone or ""}, {})
    typed = {k: v for k, v in submitted_values().items() if k not in ACCOUNT_FIELDS and k not in ("acao", "busca")}
    action = request.form.get("acao", "enviar")
    if action == "buscar_cnpj":
        name, problem = lookup_cnpj(typed.get("fornecedor_cnpj", ""))
        if name is not None:
            typed["fornecedor_nome"] = name
            typed["fornecedor_cnpj"] = canonical_cnpj(typed.get("fornecedor_cnpj", "")) or typed["fornecedor_cnpj"]
            flash(f"Empresa encontrada: {name}. Confira e continue.", "sucesso")
            return _render(form, typed, {})
        return _render(form, typed, {"fornecedor_cnpj": problem or ""}, 422)
    if action == "buscar_nome":
        search = request.form.get("busca", "")
        matches = find_suppliers(search)
        if not matches:
            flash("Nenhuma empresa conhecida com esse nome. Informe o CNPJ e o nome da empresa.", "aviso")
        return _render(form, typed, {}, busca=search, encontrados=matches)
    if action.startswith("escolher:"):
        cnpj = canonical_cnpj(action.removeprefix("escolher:"))
        chosen = next((m for m in find_suppliers(request.form.get("busca", "")) if m.cnpj == cnpj), None)
        if chosen is not None:
            typed["fornecedor_cnpj"], typed["fornecedor_nome"] = chosen.cnpj, chosen.name
        return _render(form, typed, {})
    files = uploaded_files(form)
    try:
        result = runtime().start_case(COMPLAINT_PROCESS, g.party_actor, {**typed, **_account_values()}, files)
    except InvalidSubmission as error:
        errors = dict(error.result.errors)
        flash("Confira os campos marcados: a reclamação ainda não foi registrada.", "erro")
        for name in ACCOUNT_FIELDS:
            if name in errors:
                flash(f"Os dados da sua conta não puderam ser usados ({errors.pop(name)}). "
                      "Fale com o Procon para corrigi-los.", "erro")
        return _render(form, typed, errors, 422, arquivos_enviados=bool(files))
    except PermissionDenied as error:
        flash(str(error), "erro")
        return _render(form, typed, {}, 403)
    except ProcedureError:
        flash("Não foi possível registrar a reclamação agora por um erro no procedimento. O Procon foi avisado; "
              "tente de novo mais tarde.", "erro")
        return _render(form, typed, {}, 500)
    flash(f"Reclamação registrada com o protocolo {result.protocol}. Acompanhe o andamento por aqui.", "sucesso")
    return redirect(url_for("portal_cases.case", case_id=result.case_id))
