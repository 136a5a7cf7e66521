"""``GET /api/v1/me``: who the token belongs to, with roles, parties and the token's scopes."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from engine.parties.models import ApiToken
from webapp.api.auth import BEARER, current_caller, token_required
from webapp.api.schemas import MeSchema
from webapp.runtime_access import db_session

bp = Blueprint("api_me", __name__, url_prefix="/api/v1/me", description="Quem está usando o token")


@bp.route("")
@token_required()
@bp.doc(security=BEARER, summary="Quem sou eu")
@bp.response(200, MeSchema)
def me() -> Any:
    caller = current_caller()
    token = db_session().get(ApiToken, caller.token_id) if caller.token_id else None
    if caller.user is not None:
        kind, login, unit = "equipe", caller.user.username, caller.user.unit
    else:
        assert caller.account is not None
        kind, login, unit = caller.account.kind, caller.account.email, None
    return {
        "kind": kind, "name": caller.actor.display_name, "login": login, "roles": sorted(caller.actor.roles),
        "unit": unit, "parties": [{"role": r, "key": k} for r, k in sorted(caller.actor.parties)],
        "token": {"id": token.id, "name": token.name, "scopes": token.scopes.split(),
                  "expires_at": token.expires_at} if token else None,
    }
