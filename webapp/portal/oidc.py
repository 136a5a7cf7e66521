"""Sign in to the consumers' portal with an OpenID Connect provider (gov.br or any compatible one).

Configured by ``OIDC_ISSUER`` (its ``/.well-known/openid-configuration`` is read), ``OIDC_CLIENT_ID``,
``OIDC_CLIENT_SECRET`` and optionally ``OIDC_LABEL`` (the button's text), ``OIDC_SCOPE`` and ``OIDC_CNPJ_CLAIM``
(the claim that lists the CNPJs the person answers for, ``cnpjs`` by default); without an issuer the button is
not shown and these routes answer 404. Authlib does the protocol (state, nonce, code exchange, ID token
signature against the provider's keys); the account is found or created, and its CPF proven, by
:func:`engine.parties.accounts.account_for_oidc`.

A signed-in supplier's representative may go through the same login to prove it acts for the CNPJ of its
pending request (``/portal/oidc/empresa/<id>``): the callback then proves that request when the claims carry
the CNPJ (:func:`engine.parties.companies.prove_by_govbr_claims`) and signs nobody else in.
"""

from __future__ import annotations

import os
from typing import Any

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, abort, current_app, flash, g, redirect, render_template, request, session, url_for

from engine.errors import NotFound
from engine.parties.accounts import AccountError, account_for_oidc
from engine.parties.companies import cnpjs_in_claims, open_requests, prove_by_govbr_claims
from engine.parties.models import PortalAccount
from engine.store.login_sessions import PORTAL
from webapp.cnpj_lookup import company_record
from webapp.portal.auth import home_for, party_required
from webapp.runtime_access import db_session, runtime
from webapp.security import public_base_url, public_url
from webapp.sign_in import sign_in

bp = Blueprint("portal_oidc", __name__, url_prefix="/portal/oidc")


def configure(app: Flask) -> None:
    """Read the provider's settings from the app config or the environment and register the client."""
    for key in ("OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_LABEL", "OIDC_SCOPE", "OIDC_CNPJ_CLAIM"):
        if not app.config.get(key) and os.environ.get(key):
            app.config[key] = os.environ[key]
    oauth = OAuth(app)  # one per app: each app may name its own provider
    app.extensions["procon_oauth"] = oauth
    issuer = app.config.get("OIDC_ISSUER")
    if issuer:
        oauth.register("provedor", client_id=app.config.get("OIDC_CLIENT_ID"),
                       client_secret=app.config.get("OIDC_CLIENT_SECRET"),
                       server_metadata_url=issuer.rstrip("/") + "/.well-known/openid-configuration",
                       client_kwargs={"scope": app.config.get("OIDC_SCOPE") or "openid email profile"},
                       overwrite=True)


def _client() -> Any:
    if not current_app.config.get("OIDC_ISSUER"):
        abort(404)
    return current_app.extensions["procon_oauth"].create_client("provedor")


@bp.route("/entrar")
def start() -> Any:
    return _client().authorize_redirect(public_url("portal_oidc.callback"))


COMPANY_KEY = "oidc_empresa"


@bp.route("/empresa/<int:member_id>")
@party_required("fornecedor")
def start_company(member_id: int) -> Any:
    """Go to the provider to prove the pending request ``member_id`` of the signed-in representative."""
    client = _client()
    if not any(found.member.id == member_id for found in open_requests(db_session(), g.party_account)):
        abort(404)
    session[COMPANY_KEY] = {"conta": g.party_account.id, "pedido": member_id}
    return client.authorize_redirect(public_url("portal_oidc.callback"))


def _company_callback(pending: dict[str, int], claims: dict[str, Any]) -> Any:
    account = g.party_account
    if account is None or account.id != pending.get("conta"):
        return render_template("portal/mensagem.html", titulo="Não foi possível comprovar",
                               mensagem="Entre de novo na conta da empresa e repita a comprovação."), 403
    member_id = int(pending.get("pedido") or 0)
    cnpjs = cnpjs_in_claims(claims, current_app.config.get("OIDC_CNPJ_CLAIM") or "cnpjs")
    cnpj = next((f.company.cnpj for f in open_requests(db_session(), account) if f.member.id == member_id), None)
    name = company_record(cnpj).name if cnpj is not None and cnpj in cnpjs else ""
    try:
        with runtime().Session.begin() as session_:
            proven = prove_by_govbr_claims(session_, session_.get(PortalAccount, account.id), member_id, cnpjs, name)
    except NotFound as error:
        return render_template("portal/mensagem.html", titulo="Não foi possível comprovar", mensagem=str(error)), 404
    if not proven:
        return render_template("portal/mensagem.html", titulo="Não foi possível comprovar",
                               mensagem="O provedor de identidade não informou este CNPJ entre as empresas de quem "
                                        "entrou. Use o código enviado ao e-mail da empresa ou envie os documentos "
                                        "para análise do Procon."), 422
    flash("Representação comprovada: agora você vê os casos da empresa e responde por ela.", "sucesso")
    return redirect(url_for("portal_supplier.index"))


@bp.route("/retorno")
def callback() -> Any:
    client = _client()
    pending = session.pop(COMPANY_KEY, None)
    if request.args.get("error"):
        flash("O login pelo provedor de identidade foi cancelado ou recusado.", "erro")
        return redirect(url_for("portal_company.index" if pending else "portal_auth.login"))
    try:
        token = client.authorize_access_token()
    except OAuthError as error:
        return render_template("portal/mensagem.html", titulo="Não foi possível entrar",
                               mensagem=f"O provedor de identidade não confirmou o login ({error.error}). "
                                        "Tente de novo."), 400
    claims = dict(token.get("userinfo") or {})
    if isinstance(pending, dict):
        return _company_callback(pending, claims)
    try:
        with runtime().Session.begin() as session_:
            account = account_for_oidc(session_, current_app.config["OIDC_ISSUER"], claims, public_base_url())
            account_id = account.id
    except AccountError as error:
        return render_template("portal/mensagem.html", titulo="Não foi possível entrar",
                               mensagem=" ".join(error.errors.values())), 422
    sign_in(PORTAL, account_id)
    account = db_session().get(type(account), account_id)
    return redirect(home_for(account))
