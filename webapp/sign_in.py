"""Sign-in for staff and portal accounts: server-side sessions, throttled attempts, equal-time failures.

- A successful sign-in opens a row in ``login_sessions`` (:mod:`engine.store.login_sessions`); the
  cookie carries only its id. Logging out ends *every* session of the person, so a cookie copied
  before is refused after; so do a password change and a deactivation.
- Attempts are limited with Flask-Limiter, per address and per login typed, counting only failures
  (a person who signs in right is never slowed down); past the limit the answer is 429 with a message
  in Portuguese, and the refusal is recorded in ``sign_in_events`` with the login and the address.
  Sign-up is limited the same way, counting every attempt.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, render_template, request
from flask import session as cookie
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address

from engine.store.login_sessions import PORTAL, STAFF, live_subject, open_session, record_attempt, revoke_all
from webapp.runtime_access import db_session, runtime

COOKIE_KEYS = {STAFF: "sid", PORTAL: "portal_sid"}
#: failed sign-ins (or token requests) before a 429: per address, and per login typed
FAILURES_PER_ADDRESS = "20 per 10 minutes"
FAILURES_PER_LOGIN = "5 per 10 minutes"
SIGN_UPS_PER_ADDRESS = "20 per hour"
SIGN_UPS_PER_LOGIN = "5 per hour"
TOO_MANY = "Muitas tentativas seguidas. Por segurança, aguarde alguns minutos e tente novamente."

limiter = Limiter(key_func=get_remote_address, storage_uri="memory://", headers_enabled=True)


def typed_login() -> str:
    """The login the attempt names: the form's user / e-mail / CPF, or HTTP Basic's user (lower-case)."""
    form = request.form
    value = form.get("username") or form.get("login") or form.get("email") or form.get("cpf") or ""
    if not value and request.authorization is not None:
        value = request.authorization.username or ""
    return "".join(ch for ch in value.strip().lower() if ch.isalnum() or ch in "@._-+")


def _no_login() -> bool:
    """Nothing typed: only the per-address limit applies (no shared bucket for the empty login)."""
    return not typed_login()


def _failed(response: Response) -> bool:
    return response.status_code in (400, 401, 403, 422)


def throttle_failures(view: Callable[..., Any]) -> Callable[..., Any]:
    """Limit the failed POSTs of a sign-in view per address and per login."""
    view = limiter.limit(FAILURES_PER_LOGIN, key_func=lambda: "login:" + typed_login(), methods=["POST"],
                         deduct_when=_failed, exempt_when=_no_login)(view)
    return limiter.limit(FAILURES_PER_ADDRESS, methods=["POST"], deduct_when=_failed)(view)


def throttle_sign_ups(view: Callable[..., Any]) -> Callable[..., Any]:
    view = limiter.limit(SIGN_UPS_PER_LOGIN, key_func=lambda: "cadastro:" + typed_login(), methods=["POST"],
                         exempt_when=_no_login)(view)
    return limiter.limit(SIGN_UPS_PER_ADDRESS, methods=["POST"])(view)


def init_app(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", os.environ.get("RATELIMIT_STORAGE_URI", "memory://"))
    limiter.init_app(app)

    @app.errorhandler(RateLimitExceeded)
    def too_many(_error: RateLimitExceeded) -> Any:
        kind = PORTAL if request.path.startswith(("/portal", "/api")) else STAFF
        with runtime().Session.begin() as session:
            record_attempt(session, kind, "bloqueado_tentativas", typed_login(), request.remote_addr or "")
        if request.path.startswith("/api/"):
            from webapp.api.problems import problem

            return problem(429, TOO_MANY, headers={"Retry-After": "600"})
        return render_template("erro.html", titulo="Muitas tentativas", mensagem=TOO_MANY), 429


def record_failure(kind: str, login: str) -> None:
    with runtime().Session.begin() as session:
        record_attempt(session, kind, "senha_incorreta", login, request.remote_addr or "")


def sign_in(kind: str, subject_id: int) -> None:
    """Open a server-side session and put its id in the (cleared) cookie."""
    with runtime().Session.begin() as session:
        token = open_session(session, kind, subject_id, request.remote_addr or "", request.user_agent.string)
    cookie.clear()
    cookie[COOKIE_KEYS[kind]] = token


def signed_in(kind: str) -> int | None:
    """Who this request's cookie signs in (``kind``), if its session still holds."""
    return live_subject(db_session(), kind, cookie.get(COOKIE_KEYS[kind]))


def end_all_sessions(kind: str, subject_id: int, why: str) -> int:
    """End every session of the person (logout, password change, deactivation)."""
    with runtime().Session.begin() as session:
        return revoke_all(session, kind, subject_id, why)
