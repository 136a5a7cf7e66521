"""Portal do Fornecedor, "Comprovar representação" (/portal/fornecedor/comprovacao): how a pending representative
proves it acts for the CNPJ it signed up with (:mod:`engine.parties.companies`).

- a code sent to the e-mail the CNPJ service (``consultar_cnpj``, through the app's service registry) returns for
  the company, typed back here;
- the gov.br login, when configured, whose claims carry the CNPJ (:mod:`webapp.portal.oidc`);
- the contrato social or a procuração, sent here for the Procon's state staff to review (the Empresas queue).

Until then the account sees no case of the company; a refused request shows the staff's reason.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from engine.errors import NotFound
from engine.forms.submission import UploadedFile
from engine.parties.companies import (
    DOCUMENT_KINDS,
    DOCUMENT_MAX_MB,
    add_document,
    open_requests,
    refused_requests,
    send_company_code,
    verify_company_code,
    wrong_code_errors,
)
from engine.parties.identity import ProofError
from engine.parties.models import PortalAccount
from webapp.cnpj_lookup import company_record
from webapp.portal.auth import party_required
from webapp.runtime_access import db_session, runtime
from webapp.security import public_base_url

bp = Blueprint("portal_company", __name__, url_prefix="/portal/fornecedor/comprovacao")


def render(errors: dict[int, dict[str, str]] | None = None, values: dict[int, dict[str, str]] | None = None,
           code_sent: dict[int, str] | None = None, status: int = 200) -> Any:
    """The page; ``errors`` and ``values`` per membership sit next to its fields; ``code_sent``: where a code went."""
    account = g.party_account
    session = db_session()
    return render_template("portal/fornecedor_comprovacao.html", pedidos=open_requests(session, account),
                           recusados=refused_requests(session, account), erros=errors or {}, valores=values or {},
                           enviado=code_sent or {}, tipos=DOCUMENT_KINDS, max_mb=DOCUMENT_MAX_MB,
                           govbr=current_app.config.get("OIDC_ISSUER") and (current_app.config.get("OIDC_LABEL")
                                                                            or "gov.br")), status


def _cnpj_of(member_id: int) -> str:
    for found in open_requests(db_session(), g.party_account):
        if found.member.id == member_id:
            return found.company.cnpj
    raise NotFound("Pedido de representação não encontrado ou já decidido.")


@bp.route("/")
@party_required("fornecedor")
def index() -> Any:
    return render()


@bp.route("/<int:member_id>/codigo", methods=["POST"])
@party_required("fornecedor")
def send_code(member_id: int) -> Any:
    try:
        record = company_record(_cnpj_of(member_id))
    except NotFound:
        return render(status=404)
    if record.problem is not None:
        return render({member_id: {"codigo": f"{record.problem} Tente mais tarde, entre pelo gov.br ou envie os "
                                             "documentos da empresa."}}, status=422)
    try:
        with runtime().Session.begin() as session:
            account = session.get(PortalAccount, g.party_account.id)
            shown = send_company_code(session, account, member_id, record.email, record.name, public_base_url())
    except ProofError as error:
        return render({member_id: error.errors}, status=422)
    except NotFound:
        return render(status=404)
    return render(code_sent={member_id: shown})


@bp.route("/<int:member_id>/codigo/confirmar", methods=["POST"])
@party_required("fornecedor")
def confirm_code(member_id: int) -> Any:
    typed = request.form.get("codigo", "")
    try:
        with runtime().Session.begin() as session:  # a wrong try is saved too: the tries are counted
            proven = verify_company_code(session, session.get(PortalAccount, g.party_account.id), member_id, typed)
    except NotFound:
        return render(status=404)
    if not proven:
        return render({member_id: wrong_code_errors()}, {member_id: {"codigo": typed}}, {member_id: "o e-mail da "
                      "empresa"}, status=422)
    flash("Representação comprovada: agora você vê os casos da empresa e responde por ela.", "sucesso")
    return redirect(url_for("portal_supplier.index"))


@bp.route("/<int:member_id>/documentos", methods=["POST"])
@party_required("fornecedor")
def upload(member_id: int) -> Any:
    kind = request.form.get("tipo", "")
    storage = request.files.get("arquivo")
    file = UploadedFile(storage.filename or "", storage.mimetype or "", storage.read()) if storage else None
    try:
        with runtime().Session.begin() as session:
            document = add_document(session, session.get(PortalAccount, g.party_account.id), member_id, kind, file)
            name = document.filename
    except ProofError as error:
        return render({member_id: error.errors}, {member_id: {"tipo": kind}}, status=422)
    except NotFound:
        return render(status=404)
    flash(f"Documento “{name}” enviado. O Procon vai analisar o pedido e você receberá a resposta aqui.", "sucesso")
    return redirect(url_for(".index"))
