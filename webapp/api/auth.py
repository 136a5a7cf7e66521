"""Bearer-token authentication and scopes of the JSON API.

A request carries ``Authorization: Bearer pf_...``; :func:`engine.parties.accounts.resolve_token` finds
the live token (not revoked, not expired) and records its use. The token's owner becomes the request's
actor: a staff :class:`engine.store.models.User` acts with their roles (:func:`webapp.users.actor_for`), a portal
account as its party (:func:`engine.parties.accounts.actor_for_account`). Missing, unknown, revoked and
expired tokens get ``401`` with ``WWW-Authenticate: Bearer``; a call outside the token's scopes gets ``403``.

``POST /tokens`` also accepts HTTP Basic (e-mail or CPF and password of a portal account, or a staff
username and password), so that a mobile app can obtain its first token without a browser.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import g, request

from engine.actors import Actor
from engine.parties.accounts import actor_for_account, authenticate_account, resolve_token
from engine.parties.models import ApiToken, PortalAccount
from engine.store.models import User
from webapp.api.problems import ApiProblem
from webapp.runtime_access import runtime
from webapp.users import actor_for, authenticate

BEARER_CHALLENGE = 'Bearer realm="procon-api"'
BASIC_CHALLENGE = 'Basic realm="procon-api", charset="UTF-8"'

#: OpenAPI security requirement of the token-protected operations.
BEARER = [{"bearerAuth": []}]


@dataclass(frozen=True)
class Caller:
    """Who is calling: the actor plus the staff user or the portal account behind it."""

    actor: Actor
    scopes: frozenset[str]
    token_id: int | None = None
    user: User | None = None
    account: PortalAccount | None = None

    @property
    def is_party(self) -> bool:
        return self.account is not None

    @property
    def owner(self) -> dict[str, int | None]:
        """The keyword arguments that name this caller as a token's owner."""
        return {"user_id": self.user.id if self.user else None,
                "account_id": self.account.id if self.account else None}


def _unauthorized(detail: str, challenge: str = BEARER_CHALLENGE) -> ApiProblem:
    return ApiProblem(401, detail, headers={"WWW-Authenticate": challenge})


def _caller_for_owner(session: Any, user_id: int | None, account_id: int | None, scopes: frozenset[str],
                      token_id: int | None) -> Caller:
    if user_id is not None:
        user = session.get(User, user_id)
        if user is None or not user.active:
            raise _unauthorized("A conta dona deste token está desativada.")
        return Caller(actor_for(user), scopes, token_id, user=user)
    account = session.get(PortalAccount, account_id)
    if account is None or not account.active:
        raise _unauthorized("A conta dona deste token está desativada.")
    if account.email_confirmed_at is None:
        raise ApiProblem(403, f"Confirme seu e-mail ({account.email}) pelo link que enviamos antes de usar a API.")
    return Caller(actor_for_account(session, account), scopes, token_id, account=account)


def _bearer_secret() -> str:
    header = request.headers.get("Authorization", "")
    if not header.strip():
        raise _unauthorized("Envie seu token no cabeçalho Authorization: Bearer <token>.")
    kind, _, secret = header.strip().partition(" ")
    if kind.lower() != "bearer" or not secret.strip():
        raise _unauthorized("O cabeçalho Authorization precisa ter a forma: Bearer <token>.")
    return secret.strip()


def current_caller() -> Caller:
    """The caller of this request by its Bearer token (401 when there is no live token)."""
    if "api_caller" in g:
        return g.api_caller
    secret = _bearer_secret()
    with runtime().Session() as session:
        token = resolve_token(session, secret)
        if token is None:
            raise _unauthorized("Token inválido, revogado ou expirado. Crie um novo token.")
        caller = _caller_for_owner(session, token.user_id, token.account_id, frozenset(token.scopes.split()),
                                   token.id)
        session.commit()  # last_used_at
        session.expunge_all()
    g.api_caller = caller
    return caller


def basic_caller() -> Caller:
    """The caller by HTTP Basic credentials (only for creating a token). Portal accounts first, then staff."""
    header = request.headers.get("Authorization", "")
    kind, _, encoded = header.strip().partition(" ")
    if kind.lower() != "basic":
        raise _unauthorized("Envie seu token (Bearer) ou seu login e senha (Basic).", BASIC_CHALLENGE)
    try:
        login, _, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError) as error:
        raise _unauthorized("Credenciais Basic mal formadas.", BASIC_CHALLENGE) from error
    with runtime().Session() as session:
        account = authenticate_account(session, login, password) if login else None
        if account is not None:
            caller = _caller_for_owner(session, None, account.id, frozenset(), None)
        else:
            user = authenticate(session, login, password) if login and "@" not in login else None
            if user is None:
                raise _unauthorized("Login ou senha incorretos.", BASIC_CHALLENGE)
            caller = Caller(actor_for(user), frozenset(), None, user=user)
        session.expunge_all()
    return caller


def token_required(*scopes: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The view needs a live Bearer token holding every one of ``scopes``."""
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            caller = current_caller()
            missing = [s for s in scopes if s not in caller.scopes]
            if missing:
                raise ApiProblem(403, "Seu token não tem o escopo necessário para esta operação: "
                                      + ", ".join(missing) + ".")
            return view(*args, **kwargs)

        return wrapped

    return decorate


def token_owner(token: ApiToken, caller: Caller) -> bool:
    return token.user_id == caller.owner["user_id"] and token.account_id == caller.owner["account_id"]
