"""Official documents of a case: the PDF download the case page links to (staff of the case's unit,
or the state level; every download is written in the access log).

Anyone may check a document by its verification code: that public page is
:mod:`webapp.public.verification`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort

from engine.store.models import Document
from webapp.auth import login_required
from webapp.runtime_access import db_session
from webapp.staff.access import case_or_404, record_read

bp = Blueprint("documents", __name__)


@bp.route("/documentos/<int:document_id>.pdf")
@login_required
def download(document_id: int) -> Any:
    document = db_session().get(Document, document_id)
    if document is None:
        abort(404)
    record_read(case_or_404(document.case_id), "documento", document.title)
    response = Response(document.pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{document.kind}-{document.id}.pdf"'
    return response
