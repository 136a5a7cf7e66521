"""Public API, no token: check an official document by its verification code, and a supplier's count of
complaints classified fundamentada in a year (CDC art. 44) — never any consumer data."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import url_for
from flask_smorest import Blueprint
from sqlalchemy import func, select

from engine import clock
from engine.forms.submission import canonical_cnpj
from engine.parties.case_parties import CASE_PARTIES
from engine.store.models import Case, Document
from engine.store.protocol import AGENCY_TZ
from webapp.api.problems import ApiProblem
from webapp.api.schemas import PublicDocumentSchema, SupplierComplaintsSchema, YearArgs
from webapp.runtime_access import db_session

bp = Blueprint("api_public", __name__, url_prefix="/api/v1/public", description="Consultas públicas, sem token")

FUNDAMENTADAS = ("fundamentada_atendida", "fundamentada_nao_atendida")


@bp.route("/documents/<code>")
@bp.doc(security=[], summary="Verificar um documento pelo código")
@bp.response(200, PublicDocumentSchema)
def verify_document(code: str) -> Any:
    code = code.strip().upper().replace(" ", "")
    document = None
    if 6 <= len(code) <= 40:
        document = db_session().scalars(select(Document).where(Document.verification_code == code)).first()
    if document is None:
        raise ApiProblem(404, "Nenhum documento do Procon tem este código de verificação. Confira o código.")
    case = db_session().get(Case, document.case_id)
    return {"verification_code": document.verification_code, "kind": document.kind, "title": document.title,
            "protocol": case.protocol if case else "", "sha256": document.sha256, "created_at": document.created_at,
            "pdf_url": url_for("verification.verified_pdf", code=document.verification_code)}


@bp.route("/suppliers/<cnpj>/complaints")
@bp.doc(security=[], summary="Reclamações fundamentadas de um fornecedor no ano")
@bp.arguments(YearArgs, location="query")
@bp.response(200, SupplierComplaintsSchema)
def supplier_complaints(args: dict[str, Any], cnpj: str) -> Any:
    written = canonical_cnpj(cnpj)
    if written is None:
        raise ApiProblem(404, "CNPJ inválido: confira os 14 caracteres (com ou sem pontuação).")
    year = args.get("year") or clock.now().astimezone(AGENCY_TZ).year
    start = dt.datetime(year, 1, 1, tzinfo=AGENCY_TZ)
    end = dt.datetime(year + 1, 1, 1, tzinfo=AGENCY_TZ) if year < 9999 else dt.datetime.max.replace(tzinfo=dt.UTC)
    outcome = Case.data["desfecho"].as_string()
    rows = db_session().execute(
        select(outcome, func.count(Case.id)).join(CASE_PARTIES, CASE_PARTIES.c.case_id == Case.id)
        .where(CASE_PARTIES.c.role == "fornecedor", CASE_PARTIES.c.party_key == written,
               Case.process_id == "reclamacao", Case.status == "encerrado", outcome.in_(FUNDAMENTADAS),
               Case.closed_at >= start, Case.closed_at < end)
        .group_by(outcome)).all()
    counts = {key: count for key, count in rows}
    atendidas, nao = counts.get(FUNDAMENTADAS[0], 0), counts.get(FUNDAMENTADAS[1], 0)
    return {"cnpj": written, "year": year, "fundamentadas": atendidas + nao, "atendidas": atendidas,
            "nao_atendidas": nao}
