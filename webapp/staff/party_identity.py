"""“Contas do portal” (/contas-portal, attendants): confirm a consumer's identity in person and resolve name
divergences (:mod:`engine.parties.identity`).

- Confirmation in person: the attendant finds the account by CPF, checks a photo ID of the person in front of
  them and records which document it was; from then on the account sees every case of its CPF. Audited in the
  account's trail with the attendant's username.
- Divergences: "Nova reclamação" warns before saving a CPF that belongs to an account under another name
  (:func:`name_divergence`). A case whose consumer's name differs from the name of the account with its CPF
  is not shown to that account until an attendant says whether it is the same person. Unit staff see their
  unit's cases; the state level (``admin``, ``gestor_estadual``) sees every unit's.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from engine.errors import NotFound, PermissionDenied
from engine.forms.submission import canonical_cpf
from engine.parties.identity import (
    RESOLUTIONS,
    ProofError,
    confirm_in_person,
    divergent_account_name,
    open_holds,
    resolve_hold,
)
from engine.parties.models import PortalAccount
from engine.parties.proof_models import CONSUMER_METHODS, IdentityProof
from webapp.auth import role_required
from webapp.runtime_access import db_session, runtime

bp = Blueprint("party_identity", __name__, url_prefix="/contas-portal")


def _unit_scope() -> str | None:
    """``None`` (every unit) for the state level, else the attendant's own unit."""
    return None if g.actor.has_role("gestor_estadual") else g.actor.unit


def _render(cpf: str = "", values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
            status: int = 200) -> Any:
    session = db_session()
    written = canonical_cpf(cpf) if cpf else None
    account = session.scalars(select(PortalAccount).where(PortalAccount.cpf == written)).first() if written else None
    proofs = list(session.scalars(select(IdentityProof).where(IdentityProof.account_id == account.id)
                                  .order_by(IdentityProof.proven_at))) if account is not None else []
    if cpf and written is None:
        errors = {**(errors or {}), "cpf": "CPF inválido: confira os 11 dígitos."}
        status = 422 if status == 200 else status
    return render_template("party_identity.html", cpf=cpf, conta=account, provas=proofs,
                           comprovada=any(p.case_id is None for p in proofs), metodos=CONSUMER_METHODS,
                           divergencias=open_holds(session, _unit_scope()), resolucoes=RESOLUTIONS,
                           valores=values or {}, erros=errors or {}), status


@bp.route("/")
@role_required("atendente")
def index() -> Any:
    return _render(request.args.get("cpf", "").strip())


@bp.route("/<int:account_id>/confirmar", methods=["POST"])
@role_required("atendente")
def confirm(account_id: int) -> Any:
    cpf = request.form.get("cpf", "")
    values = {"documento": request.form.get("documento", "")}
    if request.form.get("conferido") != "sim":
        return _render(cpf, values, {"conferido": "Marque que você conferiu o documento com foto da pessoa."}, 422)
    try:
        with runtime().Session.begin() as session:
            proof = confirm_in_person(session, account_id, g.actor, values["documento"])
            name = session.get(PortalAccount, proof.account_id).name
    except ProofError as error:
        return _render(cpf, values, error.errors, 422)
    except NotFound:
        abort(404)
    except PermissionDenied:
        abort(403)
    flash(f"Identidade de {name} confirmada. Os atendimentos do CPF aparecem no portal para essa conta.", "sucesso")
    return redirect(url_for(".index", cpf=cpf))


@bp.route("/divergencias/<int:hold_id>", methods=["POST"])
@role_required("atendente")
def resolve(hold_id: int) -> Any:
    resolution = request.form.get("resolucao", "")
    try:
        with runtime().Session.begin() as session:
            resolve_hold(session, hold_id, g.actor, resolution, request.form.get("observacao", ""), _unit_scope())
    except ProofError as error:
        flash(" ".join(error.errors.values()), "erro")
        return _render(status=422)
    except NotFound:
        abort(404)
    except PermissionDenied:
        abort(403)
    flash(f"Divergência resolvida: {RESOLUTIONS[resolution].lower()}.", "sucesso")
    return redirect(url_for(".index"))


def name_divergence(values: dict[str, str]) -> dict[str, str]:
    """For "Nova reclamação": a warning next to the CPF when it belongs to a portal account under another name,
    unless the attendant ticked ``confirmar_divergencia`` (then the case is saved and held for that account)."""
    if request.form.get("confirmar_divergencia") == "sim":
        return {}
    other = divergent_account_name(db_session(), values.get("consumidor_cpf", ""), values.get("consumidor_nome", ""))
    if other is None:
        return {}
    return {"consumidor_cpf": f"Este CPF pertence a uma conta do portal em nome de “{other}”, diferente do nome "
                              "informado. Confira o CPF e o nome. Se estiverem certos, marque “Registrar mesmo "
                              "assim”: o caso não aparecerá para essa conta até a divergência ser resolvida em "
                              "Contas do portal."}
