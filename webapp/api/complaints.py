"""``POST /api/v1/complaints``: a consumer files a complaint (its name, CPF and e-mail come from its
account, the channel is the portal), or an attendant registers one for a consumer (every field sent)."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask_smorest import Blueprint

from engine.store.models import Case
from webapp.api.auth import BEARER, current_caller, token_required
from webapp.api.cases import case_out
from webapp.api.common import form_submission, json_object
from webapp.api.problems import ApiProblem
from webapp.api.schemas import CaseSummarySchema, ValuesSchema
from webapp.runtime_access import db_session, runtime

bp = Blueprint("api_complaints", __name__, url_prefix="/api/v1/complaints", description="Registrar reclamações")

COMPLAINT_PROCESS = "reclamacao"


@bp.route("", methods=["POST"])
@token_required("reclamacoes:criar")
@bp.doc(security=BEARER, summary="Registrar uma reclamação",
        description="Os campos são os do formulário 'registro_reclamacao' (veja GET /tasks/{id} para o formato "
                    "de um formulário). Para o consumidor, nome, CPF e e-mail vêm da conta.",
        requestBody={"required": True, "content": {"application/json": {"schema": ValuesSchema}}})
@bp.response(201, CaseSummarySchema)
def create_complaint() -> Any:
    caller = current_caller()
    if caller.is_party and "consumidor" not in caller.actor.roles:
        raise ApiProblem(403, "Só consumidores (ou atendentes do Procon) registram reclamações.")
    form, _title = runtime().first_form(COMPLAINT_PROCESS)
    values, files = form_submission(form, json_object())
    if caller.account is not None:
        account = caller.account
        values.update(consumidor_nome=account.name, consumidor_cpf=account.cpf or "",
                      consumidor_email=account.email, canal="portal")
        if not values.get("consumidor_telefone") and account.phone:
            values["consumidor_telefone"] = account.phone
    result = runtime().start_case(COMPLAINT_PROCESS, caller.actor, values, files)
    case = db_session().get(Case, result.case_id)
    assert case is not None
    return case_out(case), 201, {"Location": url_for("api_cases.get_case", case_id=case.id)}
