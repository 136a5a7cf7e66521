"""``GET /api/v1/documents/{id}``: an official document's PDF, for whoever may see its case (each download is
written in the access log)."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_smorest import Blueprint

from engine.store.models import Document
from webapp.api.auth import BEARER, current_caller, token_required
from webapp.api.common import case_or_404
from webapp.api.problems import ApiProblem
from webapp.runtime_access import db_session
from webapp.staff.access import record_read

bp = Blueprint("api_documents", __name__, url_prefix="/api/v1/documents", description="Documentos oficiais (PDF)")

PDF = {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}, "description": "O PDF"}


@bp.route("/<int(max=2147483647):document_id>")
@token_required("casos:ler")
@bp.doc(security=BEARER, summary="Baixar um documento (PDF)", responses={"200": PDF})
@bp.alt_response(200, description="O PDF", content_type="application/pdf", success=True)
def get_document(document_id: int) -> Any:
    caller = current_caller()
    document = db_session().get(Document, document_id)
    if document is None:
        raise ApiProblem(404, "Documento não encontrado.")
    try:
        case = case_or_404(caller, document.case_id)
    except ApiProblem as error:
        raise ApiProblem(404, "Documento não encontrado.") from error
    record_read(case, "documento", document.title, actor=caller.actor, channel="api")
    response = Response(document.pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{document.kind}-{document.id}.pdf"'
    return response
