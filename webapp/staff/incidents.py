"""“Incidentes” (admin): service tasks that stopped after their retries (a CNPJ look-up that kept
timing out, a debt-registry endpoint answering 500…), with the error, and a button to retry."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, url_for
from sqlalchemy import select

from engine.errors import ConflictError, NotFound, PermissionDenied
from engine.store.models import Case, ExternalJob
from webapp.auth import role_required
from webapp.runtime_access import db_session, runtime

bp = Blueprint("incidents", __name__, url_prefix="/admin/incidentes")


@bp.route("/")
@role_required("admin")
def index() -> Any:
    session = db_session()
    rows = session.execute(
        select(ExternalJob, Case.protocol).join(Case, Case.id == ExternalJob.case_id)
        .where(ExternalJob.status.in_(("incidente", "pendente")))
        .order_by(ExternalJob.status.desc(), ExternalJob.incident_at.desc(), ExternalJob.next_attempt_at)
        .limit(500)).all()
    return render_template("incidents.html", rows=rows)


@bp.route("/<int:job_id>/reprocessar", methods=["POST"])
@role_required("admin")
def retry(job_id: int) -> Any:
    try:
        runtime().retry_incident(job_id, g.actor)
        flash("Serviço reenviado: o trabalhador vai executá-lo de novo em instantes.", "sucesso")
    except (ConflictError, NotFound, PermissionDenied) as error:
        flash(str(error), "erro")
    return redirect(url_for("incidents.index"))
