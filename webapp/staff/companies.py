"""“Empresas” (/empresas): the queue of people asking to represent a company in the portal, for the Procon's state
level (``admin``, ``gestor_estadual``: a CNPJ is the whole state's, not one unit's).

Each request shows who asks (name and e-mail), the CNPJ, what the person typed as the company's name (never
public), what the CNPJ service says of the company and the documents sent (contrato social, procuração). The
reviewer approves — typing the company's public name, filled in from the CNPJ service — or refuses with a reason
the person reads in the portal (:mod:`engine.parties.companies`; each decision is in the account's trail).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for

from engine.errors import NotFound, PermissionDenied
from engine.parties.companies import DOCUMENT_KINDS, approve, may_review, refuse, review_item, review_queue
from engine.parties.identity import ProofError
from engine.parties.proof_models import REPRESENTATIVE_METHODS, RepresentativeDocument
from webapp.auth import login_required
from webapp.cnpj_lookup import company_record
from webapp.runtime_access import db_session, runtime

bp = Blueprint("companies", __name__, url_prefix="/empresas")


def reviewer_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    @login_required
    def wrapped(**kwargs: Any) -> Any:
        if not may_review(g.actor):
            return render_template("erro.html", titulo="Acesso negado",
                                   mensagem="Os pedidos de representação de empresas são analisados pela equipe "
                                            "estadual do Procon."), 403
        return view(**kwargs)

    return wrapped


@bp.route("/")
@reviewer_required
def index() -> Any:
    session = db_session()
    return render_template("companies.html", pendentes=review_queue(session),
                           comprovados=review_queue(session, "comprovado", 30),
                           recusados=review_queue(session, "recusado", 30), metodos=REPRESENTATIVE_METHODS)


def _render_item(proof_id: int, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                 status: int = 200) -> Any:
    try:
        item = review_item(db_session(), g.actor, proof_id)
    except NotFound:
        abort(404)
    record = company_record(item.company.cnpj) if item.proof.status == "pendente" else None
    values = values if values is not None else {"nome_publico": (record.name if record else "") or item.company.name}
    return render_template("company_review.html", item=item, cadastro=record, valores=values, erros=errors or {},
                           tipos=DOCUMENT_KINDS, metodos=REPRESENTATIVE_METHODS), status


@bp.route("/<int:proof_id>")
@reviewer_required
def review(proof_id: int) -> Any:
    return _render_item(proof_id)


@bp.route("/<int:proof_id>/documentos/<int:document_id>")
@reviewer_required
def document(proof_id: int, document_id: int) -> Any:
    found = db_session().get(RepresentativeDocument, document_id)
    if found is None or found.proof_id != proof_id:
        abort(404)
    response = Response(found.data, mimetype=found.content_type)
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(found.filename, safe='')}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _decide(proof_id: int, action: Callable[..., Any], *args: str) -> tuple[tuple[str, str] | None, Any]:
    """((who asked, CNPJ), None) once decided, or (None, the page with the messages next to the fields)."""
    values = {k: request.form.get(k, "") for k in ("nome_publico", "observacao", "motivo")}
    try:
        with runtime().Session.begin() as session:
            found = action(session, g.actor, proof_id, *(values[a] for a in args))
            decided = (found.account.name, found.company.cnpj)
    except ProofError as error:
        return None, _render_item(proof_id, values, error.errors, 422)
    except PermissionDenied:
        abort(403)
    except NotFound:
        abort(404)
    return decided, None


@bp.route("/<int:proof_id>/aprovar", methods=["POST"])
@reviewer_required
def approve_request(proof_id: int) -> Any:
    decided, page = _decide(proof_id, approve, "nome_publico", "observacao")
    if decided is None:
        return page
    flash(f"{decided[0]} agora representa o CNPJ {decided[1]} no portal.", "sucesso")
    return redirect(url_for(".index"))


@bp.route("/<int:proof_id>/recusar", methods=["POST"])
@reviewer_required
def refuse_request(proof_id: int) -> Any:
    decided, page = _decide(proof_id, refuse, "motivo")
    if decided is None:
        return page
    flash(f"Pedido de {decided[0]} para o CNPJ {decided[1]} recusado. A pessoa verá o motivo no portal.", "sucesso")
    return redirect(url_for(".index"))
