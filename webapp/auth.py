"""Staff login and logout (server-side sessions, throttled: :mod:`webapp.sign_in`) and the
``login_required`` / ``role_required`` decorators."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for

from engine.store.login_sessions import STAFF
from engine.store.models import User
from webapp.runtime_access import close_db_session, db_session
from webapp.sign_in import end_all_sessions, record_failure, sign_in, signed_in, throttle_failures
from webapp.users import actor_for, authenticate

bp = Blueprint("auth", __name__)


@bp.before_app_request
def load_logged_in_user() -> None:
    user_id = signed_in(STAFF)
    g.user = db_session().get(User, user_id) if user_id is not None else None
    if g.user is not None and not g.user.active:
        g.user = None
    g.actor = actor_for(g.user) if g.user is not None else None


bp.teardown_app_request(close_db_session)


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapped(**kwargs: Any) -> Any:
        if g.user is None:
            return redirect(url_for("auth.login", next=request.full_path))
        return view(**kwargs)

    return wrapped


def role_required(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        @login_required
        def wrapped(**kwargs: Any) -> Any:
            if not g.actor.has_role(*roles):
                return render_template("erro.html", titulo="Acesso negado",
                                       mensagem="Seu perfil não permite acessar esta página."), 403
            return view(**kwargs)

        return wrapped

    return decorate


def _safe_next(target: str | None) -> str:
    if target and not urlsplit(target).netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("inbox.index")


@bp.route("/entrar", methods=["GET", "POST"])
@throttle_failures
def login() -> Any:
    if request.method == "POST":
        username = request.form.get("username", "")
        user = authenticate(db_session(), username, request.form.get("password", ""))
        if user is None:
            record_failure(STAFF, username)
            flash("Usuário ou senha incorretos.", "erro")
            return render_template("login.html", username=username), 401
        sign_in(STAFF, user.id)
        return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", username="")


@bp.route("/sair", methods=["POST"])
def logout() -> Any:
    if g.user is not None:
        end_all_sessions(STAFF, g.user.id, "saiu")
    session.clear()
    flash("Você saiu do Procon Flow.", "info")
    return redirect(url_for("auth.login"))
