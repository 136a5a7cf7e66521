"""Sign in to the consumers' portal with an OpenID Connect provider (gov.br or any compatible one).

Configured by ``OIDC_ISSUER`` (its ``/.well-known/openid-configuration`` is read), ``OIDC_CLIENT_ID``,
``OIDC_CLIENT_SECRET`` and optionally ``OIDC_LABEL`` (the button's text) and ``OIDC_SCOPE``; without an
issuer the button is not shown and these routes answer 404. Authlib does the protocol (state, nonce,
code exchange, ID token signature against the provider's keys); the account is found or created by
:func:`engine.parties.accounts.account_for_oidc`.
"""

from __future__ import annotations

import os
from typing import Any

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, url_for

from engine.parties.accounts import AccountError, account_for_oidc
from engine.store.login_sessions import PORTAL
from webapp.portal.auth import home_for
from webapp.runtime_access import db_session, runtime
from webapp.security import public_base_url, public_url
from webapp.sign_in import sign_in

bp = Blueprint("portal_oidc", __name__, url_prefix="/portal/oidc")


def configure(app: Flask) -> None:
    """Read the provider's settings from the app config or the environment and register the client."""
    for key in ("OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_LABEL", "OIDC_SCOPE"):
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


@bp.route("/retorno")
def callback() -> Any:
    client = _client()
    if request.args.get("error"):
        flash("O login pelo provedor de identidade foi cancelado ou recusado.", "erro")
        return redirect(url_for("portal_auth.login"))
    try:
        token = client.authorize_access_token()
    except OAuthError as error:
        return render_template("portal/mensagem.html", titulo="Não foi possível entrar",
                               mensagem=f"O provedor de identidade não confirmou o login ({error.error}). "
                                        "Tente de novo."), 400
    claims = dict(token.get("userinfo") or {})
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
