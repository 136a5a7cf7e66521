"""Public document verification (no login): is this code a document issued by the Procon? The page
shows only what the document itself shows — its kind, date, protocol and hash — and the PDF."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from sqlalchemy import select

from engine.store.models import Case, Document
from webapp.runtime_access import db_session

bp = Blueprint("verification", __name__)

CODE_RE = re.compile(r"^[A-Z0-9-]{6,40}$")


def _normalise(code: str) -> str:
    return code.strip().upper().replace(" ", "")


@bp.route("/documentos/verificar", methods=["GET"])
@bp.route("/documentos/verificar/<code>", methods=["GET"])
def verify(code: str | None = None) -> Any:
    """Public: is this code a document issued by the Procon? Shows its kind, date, protocol and hash."""
    code = _normalise(code or request.args.get("codigo", ""))
    if not code:
        return render_template("public/verificar_documento.html", code="", document=None, case=None, searched=False)
    document = None
    if CODE_RE.match(code):
        document = db_session().scalars(select(Document).where(Document.verification_code == code)).first()
    case = db_session().get(Case, document.case_id) if document else None
    status = 200 if document else 404
    page = render_template("public/verificar_documento.html", code=code, document=document, case=case, searched=True)
    return page, status


@bp.route("/documentos/verificar/<code>/documento.pdf")
def verified_pdf(code: str) -> Any:
    code = _normalise(code)
    document = db_session().scalars(select(Document).where(Document.verification_code == code)).first()
    if document is None:
        abort(404)
    return Response(document.pdf, mimetype="application/pdf")
