"""``/api/v1/tokens``: the caller's own API tokens — list, create (with a token, or HTTP Basic for the
first one) and revoke. A token made with a token holds at most the scopes of the token that made it."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_smorest import Blueprint
from sqlalchemy import select

from engine.parties.accounts import SCOPES, issue_token, revoke_token
from engine.parties.models import ApiToken
from webapp.api.auth import BEARER, basic_caller, current_caller, token_required
from webapp.api.common import json_object, page_body, paginate_query
from webapp.api.problems import ApiProblem
from webapp.api.schemas import IssuedTokenSchema, NewTokenSchema, PageArgs, TokenPageSchema, TokenSchema
from webapp.runtime_access import db_session, runtime
from webapp.sign_in import throttle_failures

bp = Blueprint("api_tokens", __name__, url_prefix="/api/v1/tokens", description="Seus tokens de acesso à API")

MAX_DAYS = 365


def token_out(token: ApiToken) -> dict[str, Any]:
    return {"id": token.id, "name": token.name, "prefix": token.prefix, "scopes": token.scopes.split(),
            "created_at": token.created_at, "expires_at": token.expires_at, "last_used_at": token.last_used_at,
            "revoked_at": token.revoked_at}


@bp.route("")
@token_required()
@bp.doc(security=BEARER, summary="Meus tokens")
@bp.arguments(PageArgs, location="query")
@bp.response(200, TokenPageSchema)
def list_tokens(args: dict[str, Any]) -> Any:
    caller = current_caller()
    owner = caller.owner
    query = select(ApiToken).where(ApiToken.user_id.is_(None) if owner["user_id"] is None
                                   else ApiToken.user_id == owner["user_id"],
                                   ApiToken.account_id.is_(None) if owner["account_id"] is None
                                   else ApiToken.account_id == owner["account_id"]
                                   ).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    rows, total = paginate_query(db_session(), query, args["page"], args["per_page"])
    return page_body([token_out(t) for t in rows], total, args["page"], args["per_page"])


@bp.route("", methods=["POST"])
@bp.doc(security=[{"bearerAuth": []}, {"basicAuth": []}], summary="Criar um token",
        description="Com um token (Bearer) ou, para o primeiro, com login e senha (Basic). O segredo aparece só "
                    "nesta resposta.",
        requestBody={"required": True, "content": {"application/json": {"schema": NewTokenSchema}}})
@bp.response(201, IssuedTokenSchema)
@throttle_failures
def create_token() -> Any:
    authorization = request.headers.get("Authorization", "").strip().lower()
    by_token = not authorization.startswith("basic ")
    caller = current_caller() if by_token else basic_caller()
    body = json_object()
    errors: dict[str, str] = {}
    name = body.get("name")
    scopes = body.get("scopes")
    days = body.get("days", MAX_DAYS)
    if not isinstance(name, str) or not name.strip():
        errors["name"] = "Dê um nome ao token (por exemplo, o aplicativo que vai usá-lo)."
    if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) for s in scopes):
        errors["scopes"] = "Informe a lista de escopos: " + ", ".join(SCOPES) + "."
    elif unknown := [s for s in scopes if s not in SCOPES]:
        errors["scopes"] = "Escopos desconhecidos: " + ", ".join(unknown) + ". Use: " + ", ".join(SCOPES) + "."
    elif by_token and (beyond := [s for s in scopes if s not in caller.scopes]):
        errors["scopes"] = ("Um token só pode criar outro com os escopos que ele mesmo tem; faltam: "
                            + ", ".join(beyond) + ".")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        errors["days"] = f"Validade em dias: um número de 1 a {MAX_DAYS}."
    if errors:
        raise ApiProblem(422, "Há campos com erro. Corrija-os e envie novamente.", errors=errors,
                         values={k: body.get(k) for k in ("name", "scopes", "days") if k in body})
    with runtime().Session() as session:
        issued = issue_token(session, name=name, scopes=scopes, days=days, **caller.owner)
        session.commit()
        out = token_out(issued.token) | {"token": issued.secret}
    return out, 201


@bp.route("/<int(max=2147483647):token_id>", methods=["DELETE"])
@token_required()
@bp.doc(security=BEARER, summary="Revogar um token")
@bp.response(200, TokenSchema)
def delete_token(token_id: int) -> Any:
    caller = current_caller()
    with runtime().Session() as session:
        token = revoke_token(session, token_id, **caller.owner)
        session.commit()
        return token_out(token)
