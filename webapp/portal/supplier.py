"""Portal do Fornecedor (/portal/fornecedor): what a supplier's representative works on.

- ``index``: the inbox — open tasks of role ``fornecedor`` (CIPs, notifications, hearings, defences,
  appeals) in the cases of every company the person represents, most urgent first, overdue marked,
  each linking to the party task page ``portal_cases.task``; below it, the companies' cases.
- ``fines``: the fines of the companies' sanctioning processes, read from the case data the diagrams
  keep (``multa_valor``, ``multa_situacao``, ``pagamento_vence_em``, ``prazo_recurso_vence_em``), with the
  total owed (fines due and fines registered in the dívida ativa).
- A representative not proven yet for any company is sent to "Comprovar representação"
  (:mod:`webapp.portal.company_proof`): a pending membership answers for nothing.
- ``company``: representatives, pending invitations; the company's administrator invites by e-mail and
  removes representatives (:mod:`engine.parties.accounts` enforces it; removal cuts access at once
  because the actor's parties are read from the active memberships on every request).

Everything reads projections (``open_tasks``, ``cases``, ``case_parties``); no workflow is deserialized.
A representative of several companies sees all of them, each row labelled with its company.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from engine import clock
from engine.errors import NotFound, PermissionDenied
from engine.parties.accounts import AccountError, active_memberships, invite_representative, remove_representative
from engine.parties.case_parties import CASE_PARTIES
from engine.parties.companies import open_requests, refused_requests
from engine.parties.models import PortalAccount, SupplierCompany, SupplierInvite, SupplierMember
from engine.parties.proof_models import RepresentativeProof
from engine.store.models import Case, OpenTask, ProcessDefinition
from engine.store.protocol import AGENCY_TZ
from webapp.portal.auth import party_required
from webapp.runtime_access import db_session, runtime
from webapp.security import public_base_url

bp = Blueprint("portal_supplier", __name__, url_prefix="/portal/fornecedor")

LIST_LIMIT = 300

#: ``multa_situacao`` (set by processo_sancionatorio / recurso_multa) -> whether it is owed now.
OWED = frozenset({"exigivel", "inscrita_divida_ativa"})


def _companies() -> dict[str, SupplierCompany]:
    """CNPJ -> company, for every company the signed-in representative still represents."""
    return {company.cnpj: company for _member, company in active_memberships(db_session(), g.party_account.id)}


def _company_cases(cnpjs: list[str]) -> Any:
    """(case_id, party_key) of the cases whose supplier is one of ``cnpjs``."""
    return (select(CASE_PARTIES.c.case_id, CASE_PARTIES.c.party_key)
            .where(CASE_PARTIES.c.role == "fornecedor", CASE_PARTIES.c.party_key.in_(cnpjs)))


def _process_names(session: Session) -> dict[str, str]:
    rows = session.execute(select(ProcessDefinition.process_id, ProcessDefinition.name)
                           .order_by(ProcessDefinition.version)).all()
    return {process_id: name for process_id, name in rows}


@bp.route("/")
@party_required("fornecedor")
def index() -> Any:
    session = db_session()
    companies = _companies()
    pending = open_requests(session, g.party_account)
    if not companies and (pending or refused_requests(session, g.party_account)):
        return redirect(url_for("portal_company.index"))  # nothing to see until the representation is proven
    tasks: list[tuple[OpenTask, str]] = []
    cases: list[Any] = []
    if companies:
        mine = _company_cases(sorted(companies)).subquery()
        task_rows = session.execute(
            select(OpenTask, mine.c.party_key).join(mine, mine.c.case_id == OpenTask.case_id)
            .options(joinedload(OpenTask.case).load_only(Case.id, Case.protocol, Case.process_id)
                     .lazyload(Case.definition))
            .where(OpenTask.role == "fornecedor")
            .order_by(OpenTask.due_at.is_(None), OpenTask.due_at, OpenTask.created_at, OpenTask.id)
            .limit(LIST_LIMIT)).all()
        tasks = [(task, cnpj) for task, cnpj in task_rows]
        cases = list(session.execute(
            select(Case.id, Case.protocol, Case.process_id, Case.status, Case.outcome, Case.created_at,
                   Case.updated_at, mine.c.party_key).join(mine, mine.c.case_id == Case.id)
            .order_by(Case.status == "encerrado", Case.updated_at.desc(), Case.id.desc()).limit(LIST_LIMIT)).all())
    return render_template("portal/fornecedor.html", empresas=companies, tarefas=tasks, casos=cases,
                           processos=_process_names(session), pendentes=len(pending))


@dataclass(frozen=True)
class Fine:
    case_id: int
    protocol: str
    cnpj: str
    value: Decimal
    situation: str
    #: what the portal says of the fine, e.g. "A pagar até 10/04/2026"
    status: str
    owed: bool
    overdue: bool


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _br(day: dt.date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else ""


def describe_fine(data: dict[str, Any], today: dt.date) -> tuple[str, bool]:
    """The fine's status in plain Portuguese and whether its payment deadline has passed."""
    situation = data.get("multa_situacao")
    if situation == "em_prazo_recursal":
        until = _date(data.get("prazo_recurso_vence_em"))
        return (f"Prazo para recorrer até {_br(until)}" if until else "Em prazo para recorrer"), False
    if situation == "suspensa_por_recurso":
        return "Em recurso (cobrança suspensa)", False
    if situation == "exigivel":
        due = _date(data.get("pagamento_vence_em") or data.get("data_vencimento"))
        if due is None:
            return "A pagar (aguardando a notificação de cobrança)", False
        if due < today:
            return f"Vencida em {_br(due)}: será inscrita em dívida ativa", True
        return f"A pagar até {_br(due)}", False
    if situation == "paga":
        paid = _date(data.get("pagamento_data"))
        return (f"Paga em {_br(paid)}" if paid else "Paga"), False
    if situation == "inscrita_divida_ativa":
        return "Inscrita em dívida ativa", True
    if situation == "anulada":
        return "Anulada em recurso", False
    return "Sem multa aplicada", False


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None


FINE_KEYS = ("multa_situacao", "multa_valor", "pagamento_vence_em", "data_vencimento", "prazo_recurso_vence_em",
             "pagamento_data")


def company_fines(session: Session, cnpjs: list[str]) -> list[Fine]:
    """The fines applied in the cases of these suppliers (cases with ``multa_valor`` and a situation)."""
    if not cnpjs:
        return []
    mine = _company_cases(cnpjs).subquery()
    situation = Case.data["multa_situacao"].as_string()
    columns = [Case.data[key].as_string().label(key) for key in FINE_KEYS]
    rows = session.execute(
        select(Case.id, Case.protocol, mine.c.party_key, *columns).join(mine, mine.c.case_id == Case.id)
        .where(situation.is_not(None), situation != "nao_aplicada").order_by(Case.created_at, Case.id)).all()
    today = clock.now().astimezone(AGENCY_TZ).date()
    fines = []
    for row in rows:
        data = {key: getattr(row, key) for key in FINE_KEYS}
        value = _decimal(data["multa_valor"])
        if value is None:
            continue
        status, overdue = describe_fine(data, today)
        fines.append(Fine(row.id, row.protocol, row.party_key, value, str(data["multa_situacao"]), status,
                          data["multa_situacao"] in OWED, overdue))
    return fines


@bp.route("/multas")
@party_required("fornecedor")
def fines() -> Any:
    companies = _companies()
    found = company_fines(db_session(), sorted(companies))
    owed = sum((f.value for f in found if f.owed), Decimal("0"))
    suspended = sum((f.value for f in found if f.situation == "suspensa_por_recurso"), Decimal("0"))
    per_company = {cnpj: sum((f.value for f in found if f.owed and f.cnpj == cnpj), Decimal("0"))
                   for cnpj in companies}
    return render_template("portal/fornecedor_multas.html", empresas=companies, multas=found, total=owed,
                           suspenso=suspended, por_empresa=per_company)


# -- the company account -----------------------------------------------------------------------------------
def _company_view(session: Session, member: SupplierMember, company: SupplierCompany) -> dict[str, Any]:
    members = session.execute(
        select(SupplierMember, PortalAccount, RepresentativeProof.status)
        .join(PortalAccount, PortalAccount.id == SupplierMember.account_id)
        .outerjoin(RepresentativeProof, RepresentativeProof.member_id == SupplierMember.id)
        .where(SupplierMember.company_id == company.id, SupplierMember.removed_at.is_(None))
        .order_by(SupplierMember.is_admin.desc(), PortalAccount.name)).all()
    invites = list(session.scalars(
        select(SupplierInvite).where(SupplierInvite.company_id == company.id, SupplierInvite.accepted_at.is_(None),
                                     SupplierInvite.expires_at > clock.now())
        .order_by(SupplierInvite.created_at.desc())))
    return {"empresa": company, "admin": member.is_admin, "membros": members, "convites": invites}


def _render_company(errors: dict[int, str] | None = None, values: dict[int, str] | None = None,
                    notices: dict[int, str] | None = None, status: int = 200) -> Any:
    """The company page; ``errors`` sit next to a company's invite field, ``notices`` above its section."""
    session = db_session()
    views = [_company_view(session, member, company)
             for member, company in active_memberships(session, g.party_account.id)]
    return render_template("portal/fornecedor_empresa.html", empresas=views, erros=errors or {},
                           valores=values or {}, avisos=notices or {}), status


def _membership(company_id: int) -> SupplierMember:
    """The signed-in person's membership of a company; 404 when they do not represent it."""
    for member, _company in active_memberships(db_session(), g.party_account.id):
        if member.company_id == company_id:
            return member
    abort(404)


@bp.route("/empresa")
@party_required("fornecedor")
def company() -> Any:
    return _render_company()


@bp.route("/empresa/<int:company_id>/convites", methods=["POST"])
@party_required("fornecedor")
def invite(company_id: int) -> Any:
    _membership(company_id)
    email = request.form.get("email", "")
    try:
        with runtime().Session.begin() as session:
            admin = session.get(PortalAccount, g.party_account.id)
            invitation = invite_representative(session, admin, company_id, email, base_url=public_base_url())
            sent_to = invitation.invite.email
    except AccountError as error:
        return _render_company({company_id: error.errors.get("email", str(error))}, {company_id: email}, status=422)
    except PermissionDenied as error:
        return _render_company(values={company_id: email}, notices={company_id: str(error)}, status=403)
    flash(f"Convite enviado para {sent_to}. O link vale por 7 dias.", "sucesso")
    return redirect(url_for(".company"))


@bp.route("/empresa/<int:company_id>/representantes/<int:account_id>/remover", methods=["POST"])
@party_required("fornecedor")
def remove(company_id: int, account_id: int) -> Any:
    _membership(company_id)
    try:
        with runtime().Session.begin() as session:
            admin = session.get(PortalAccount, g.party_account.id)
            removed = session.get(PortalAccount, account_id)
            remove_representative(session, admin, company_id, account_id)
            name = removed.name if removed else ""
    except PermissionDenied as error:
        return _render_company(notices={company_id: str(error)}, status=403)
    except NotFound as error:
        return _render_company(notices={company_id: str(error)}, status=404)
    flash(f"{name} não representa mais a empresa.", "sucesso")
    return redirect(url_for(".company"))
