"""The portal's front door for consumers and suppliers: sign-up, e-mail confirmation, invitations,
login and logout, and the ``party_required`` decorator the portal's pages use.

A sign-up answers "Confira seu e-mail" whether or not the CPF, CNPJ or e-mail already had an account
(:func:`engine.parties.accounts.register_consumer` tells the existing owner instead).

Portal accounts are not agency users: they sign in here, their cookie holds a portal session
(:mod:`webapp.sign_in`; never a staff one), and their engine actor
(:func:`engine.parties.accounts.actor_for_account`) carries only a party role and the CPF / CNPJs they
answer for.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for

from engine.errors import EngineError, NotFound
from engine.parties.accounts import (
    AccountError,
    accept_invite,
    actor_for_account,
    authenticate_account,
    confirm_email,
    pending_invite,
    register_consumer,
    register_supplier,
)
from engine.parties.models import PortalAccount, SupplierCompany
from engine.store.login_sessions import PORTAL
from webapp.runtime_access import db_session, runtime
from webapp.security import public_base_url
from webapp.sign_in import end_all_sessions, record_failure, sign_in, signed_in, throttle_failures, throttle_sign_ups

bp = Blueprint("portal_auth", __name__, url_prefix="/portal")


@bp.before_app_request
def load_party() -> None:
    account_id = signed_in(PORTAL)
    account = db_session().get(PortalAccount, account_id) if account_id is not None else None
    if account is not None and not account.active:
        account = None
    g.party_account = account
    g.party_actor = actor_for_account(db_session(), account) if account is not None else None


def party_required(kind: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Only a signed-in portal account (of ``kind``, when given) whose e-mail is confirmed."""
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapped(**kwargs: Any) -> Any:
            account = g.party_account
            if account is None:
                return redirect(url_for("portal_auth.login", next=request.full_path))
            if account.email_confirmed_at is None:
                return render_template("portal/mensagem.html", titulo="Confirme seu e-mail",
                                       mensagem=f"Enviamos um link de confirmação para {account.email}. "
                                                "Abra-o para ver seus casos."), 403
            if kind is not None and account.kind != kind:
                return render_template("portal/mensagem.html", titulo="Acesso negado",
                                       mensagem="Esta página é de outro tipo de conta."), 403
            return view(**kwargs)

        return wrapped

    return decorate


def home_for(account: PortalAccount) -> str:
    return url_for("portal_consumer.index") if account.kind == "consumidor" else url_for("portal_supplier.index")


def _safe_next(target: str | None, account: PortalAccount) -> str:
    if target and not urlsplit(target).netloc and target.startswith("/portal/") and not target.startswith("//"):
        return target
    return home_for(account)


def _sign_in(account: PortalAccount) -> None:
    sign_in(PORTAL, account.id)


@bp.route("/", methods=["GET"])
def index() -> Any:
    if g.party_account is not None:
        return redirect(home_for(g.party_account))
    return render_template("portal/entrar.html", login="")


@bp.route("/entrar", methods=["GET", "POST"])
@throttle_failures
def login() -> Any:
    if request.method == "POST":
        login_value = request.form.get("login", "")
        account = authenticate_account(db_session(), login_value, request.form.get("senha", ""))
        if account is None:
            record_failure(PORTAL, login_value)
            flash("E-mail, CPF ou senha incorretos.", "erro")
            return render_template("portal/entrar.html", login=login_value), 401
        _sign_in(account)
        return redirect(_safe_next(request.args.get("next"), account))
    return render_template("portal/entrar.html", login="")


@bp.route("/sair", methods=["POST"])
def logout() -> Any:
    if g.party_account is not None:
        end_all_sessions(PORTAL, g.party_account.id, "saiu")
    session.clear()
    flash("Você saiu do portal.", "info")
    return redirect(url_for("portal_auth.index"))


@bp.route("/cadastro", methods=["GET", "POST"])
@throttle_sign_ups
def signup_consumer() -> Any:
    values = {k: request.form.get(k, "") for k in ("nome", "cpf", "email", "telefone")}
    if request.method == "POST":
        try:
            with runtime().Session.begin() as session_:
                register_consumer(session_, name=values["nome"], cpf=values["cpf"], email=values["email"],
                                  phone=values["telefone"], password=request.form.get("senha", ""),
                                  base_url=public_base_url())
        except AccountError as error:
            return render_template("portal/cadastro_consumidor.html", valores=values, erros=error.errors), 422
        return render_template("portal/mensagem.html", titulo="Confira seu e-mail",
                               mensagem=f"Enviamos um link para {values['email'].strip().lower()}. "
                                        "Abra-o para ativar sua conta e acompanhar suas reclamações.")
    return render_template("portal/cadastro_consumidor.html", valores=values, erros={})


@bp.route("/fornecedor/cadastro", methods=["GET", "POST"])
@throttle_sign_ups
def signup_supplier() -> Any:
    values = {k: request.form.get(k, "") for k in ("cnpj", "razao_social", "nome", "email")}
    if request.method == "POST":
        try:
            with runtime().Session.begin() as session_:
                register_supplier(session_, cnpj=values["cnpj"], company_name=values["razao_social"],
                                  name=values["nome"], email=values["email"],
                                  password=request.form.get("senha", ""), base_url=public_base_url())
        except AccountError as error:
            return render_template("portal/cadastro_fornecedor.html", valores=values, erros=error.errors), 422
        return render_template("portal/mensagem.html", titulo="Confira seu e-mail",
                               mensagem=f"Enviamos um link para {values['email'].strip().lower()}. Abra-o para "
                                        "ativar sua conta; depois comprove que você representa a empresa (pelo "
                                        "gov.br, por um código enviado ao e-mail do cadastro do CNPJ ou enviando "
                                        "o contrato social ou a procuração para análise do Procon).")
    return render_template("portal/cadastro_fornecedor.html", valores=values, erros={})


@bp.route("/confirmar/<token>")
def confirm(token: str) -> Any:
    try:
        with runtime().Session.begin() as session_:
            account = confirm_email(session_, token)
            account_id = account.id
    except NotFound as error:
        return render_template("portal/mensagem.html", titulo="Link inválido", mensagem=str(error)), 404
    account = db_session().get(PortalAccount, account_id)
    assert account is not None
    _sign_in(account)
    flash("E-mail confirmado. Bem-vindo ao portal do Procon!", "sucesso")
    return redirect(home_for(account))


@bp.route("/fornecedor/convite/<token>", methods=["GET", "POST"])
def invitation(token: str) -> Any:
    try:
        invite = pending_invite(db_session(), token)
    except NotFound as error:
        return render_template("portal/mensagem.html", titulo="Convite inválido", mensagem=str(error)), 404
    company = db_session().get(SupplierCompany, invite.company_id)
    existing = db_session().query(PortalAccount).filter_by(email=invite.email).first()
    values = {"nome": request.form.get("nome", "")}
    if request.method == "POST":
        try:
            with runtime().Session.begin() as session_:
                account = accept_invite(session_, token, name=values["nome"], password=request.form.get("senha", ""))
                account_id = account.id
        except AccountError as error:
            return render_template("portal/convite.html", convite=invite, empresa=company, existente=existing,
                                   valores=values, erros=error.errors), 422
        except EngineError as error:
            return render_template("portal/mensagem.html", titulo="Convite inválido", mensagem=str(error)), 404
        account = db_session().get(PortalAccount, account_id)
        assert account is not None
        _sign_in(account)
        flash(f"Agora você representa {company.label if company else 'a empresa'} no portal.", "sucesso")
        return redirect(home_for(account))
    return render_template("portal/convite.html", convite=invite, empresa=company, existente=existing,
                           valores=values, erros={})
