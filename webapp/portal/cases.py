"""The party's case page and task page in the portal (consumers and suppliers' representatives).

``/portal/casos/<id>``: protocol, procedure, status, "o que acontece agora" in plain language
(:mod:`engine.parties.party_view`), the deadlines that concern the party, a plain timeline (no staff names, no
internal notes), the case data a party may read, the documents and the hearing. ``/portal/casos/<id>/tarefas/
<task_id>``: the task's form (the staff's field macros), completed through the runtime as the party.

A case the signed-in party is not a party of answers 404, never 403, so ids leak nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from engine import clock
from engine.errors import ConflictError, InvalidSubmission, NotFound, PermissionDenied, ProcedureError
from engine.forms.schema import FormDefinition
from engine.lgpd.access_log import staff_reads
from engine.parties.case_parties import is_party_of, may_work_on
from engine.parties.models import PortalAccount
from engine.parties.party_view import (
    DeadlineFact,
    Step,
    TaskFact,
    TimelineEntry,
    concerning_deadlines,
    next_steps,
    timeline_entry,
)
from engine.runtime import queries
from engine.store.models import Attachment, Case, Deadline, Document, OpenTask
from webapp.filters import data_iso
from webapp.portal.auth import party_required
from webapp.runtime_access import db_session, runtime
from webapp.staff.inbox import prefilled, submitted_values, uploaded_files
from webapp.staff.presenters import Section, describe

bp = Blueprint("portal_cases", __name__, url_prefix="/portal/casos")

#: Case data a party may read on its case page: what the parties themselves wrote or were sent.
#: Staff-only notes (the preliminary contact, the analysis, the classification) are left out.
PUBLIC_FIELDS = (
    "consumidor_nome", "fornecedor_nome", "fornecedor_cnpj", "canal", "data_compra", "valor", "fatos", "pedido",
    "nota_fiscal", "contrato", "fotos", "resposta_fornecedor", "proposta_acordo", "resposta_anexo",
    "resposta_anexo_2", "data_resposta", "proposta_resposta", "proposta_comentario", "audiencia_data",
    "audiencia_horario", "audiencia_modalidade", "audiencia_local", "audiencia_observacoes", "audiencia_presenca",
    "audiencia_presenca_motivo", "acordo_termos", "acordo_cumprido",
)

STATUS_LABELS = {"aberto": "Em andamento", "encerrado": "Encerrado"}


@dataclass(frozen=True)
class Hearing:
    date: str
    time: str
    modality: str
    place: str
    link: str | None
    notes: str


def viewer_role() -> str:
    return g.party_account.kind


def visible_case_or_404(case_id: int) -> Case:
    """The case, if the signed-in party is one of its parties; 404 otherwise (also for a missing case)."""
    session = db_session()
    if not is_party_of(session.connection(), case_id, g.party_actor):
        abort(404)
    case = session.get(Case, case_id)
    if case is None:
        abort(404)
    return case


def task_facts(tasks: list[OpenTask]) -> list[TaskFact]:
    return [TaskFact(t.title, t.role, t.due_at, t.spec_name, t.task_id) for t in tasks]


def pending_deadlines(case_id: int) -> list[DeadlineFact]:
    rows = db_session().scalars(select(Deadline).where(
        Deadline.case_id == case_id, Deadline.fired_at.is_(None), Deadline.met_at.is_(None))
        .order_by(Deadline.due_at, Deadline.id))
    return [DeadlineFact(d.name, d.due_at, d.attached_to, d.kind, d.legal_basis) for d in rows]


def steps_for(case: Case, tasks: list[OpenTask], role: str) -> list[Step]:
    """ "O que acontece agora" for one case (the consumer's list reuses it for each card)."""
    return next_steps(role, case.status, case.outcome, task_facts(tasks), pending_deadlines(case.id), clock.now(),
                      closed_at=case.closed_at)


#: Dates the diagrams' scripts write (not typed in any form): shown as dd/mm/aaaa.
SCRIPT_DATES = ("data_resposta",)


def public_data(case: Case) -> dict[str, Any]:
    data = case.data or {}
    shown = {key: data[key] for key in PUBLIC_FIELDS if key in data and data[key] not in (None, "")}
    for key in SCRIPT_DATES:
        if isinstance(shown.get(key), str):
            shown[key] = data_iso(shown[key])
    return shown


def public_sections(case: Case) -> list[Section]:
    return describe(runtime().forms, public_data(case), runtime().form_order(case.definition))


def public_attachment_ids(case: Case) -> set[int]:
    """Attachments referenced by the case data a party may read (the invoice, the supplier's answer...)."""
    found = set()
    for value in public_data(case).values():
        if isinstance(value, dict) and isinstance(value.get("anexo_id"), int):
            found.add(value["anexo_id"])
    return found


def hearing_of(case: Case) -> Hearing | None:
    """The hearing, when the case data schedules one; the link only for a virtual hearing with a web address."""
    data = case.data or {}
    if not data.get("audiencia_data"):
        return None
    modality = str(data.get("audiencia_modalidade") or "")
    place = str(data.get("audiencia_local") or "")
    virtual = modality in ("videoconferencia", "virtual")
    link = place if virtual and place.lower().startswith(("https://", "http://")) else None
    return Hearing(data_iso(data["audiencia_data"]), str(data.get("audiencia_horario") or ""),
                   "Videoconferência" if virtual else "Presencial", place, link,
                   str(data.get("audiencia_observacoes") or ""))


def plain_timeline(case_id: int) -> list[TimelineEntry]:
    events = queries.case_timeline(db_session(), case_id)
    account_ids = {int(e.actor.split(":", 1)[1]) for e in events
                   if e.actor.startswith("portal:") and e.actor.split(":", 1)[1].isdigit()}
    kinds: dict[str, str] = {}
    if account_ids:
        for account_id, kind in db_session().execute(select(PortalAccount.id, PortalAccount.kind)
                                                     .where(PortalAccount.id.in_(account_ids))):
            kinds[f"portal:{account_id}"] = kind
    entries = [timeline_entry(e.action, e.description, e.at, e.actor, g.party_actor.username, kinds)
               for e in events]
    return [entry for entry in entries if entry is not None]


@bp.route("/<int:case_id>")
@party_required()
def case(case_id: int) -> Any:
    found = visible_case_or_404(case_id)
    role = viewer_role()
    tasks = queries.case_open_tasks(db_session(), case_id)
    now = clock.now()
    return render_template(
        "portal/caso.html", case=found, status_label=STATUS_LABELS.get(found.status, found.status),
        steps=steps_for(found, tasks, role),
        my_tasks=[t for t in tasks if t.role == role],
        deadlines=concerning_deadlines(role, task_facts(tasks), pending_deadlines(case_id), now),
        timeline=plain_timeline(case_id), sections=public_sections(found),
        attachment_ids=public_attachment_ids(found), documents=queries.case_documents(db_session(), case_id),
        hearing=hearing_of(found),
        readers=staff_reads(db_session(), case_id) if role == "consumidor" else None)  # LGPD: who at the Procon


def _render_task(case_: Case, task: OpenTask, form: FormDefinition, raw: dict[str, str] | None = None,
                 errors: dict[str, str] | None = None, problem: str | None = None, status: int = 200,
                 locked: bool = False) -> Any:
    return render_template("portal/tarefa.html", case=case_, task=task, form=form, raw=raw or {},
                           errors=errors or {}, problem=problem, locked=locked, sections=public_sections(case_),
                           attachment_ids=public_attachment_ids(case_)), status


@bp.route("/<int:case_id>/tarefas/<task_id>", methods=["GET", "POST"])
@party_required()
def task(case_id: int, task_id: str) -> Any:
    found = visible_case_or_404(case_id)
    open_task = queries.open_task(db_session(), task_id)
    if open_task is None:
        flash("Esta tarefa já foi respondida ou não está mais aberta. Veja abaixo o andamento do caso.", "aviso")
        return redirect(url_for("portal_cases.case", case_id=case_id))
    if open_task.case_id != case_id or open_task.role != viewer_role() or \
            not may_work_on(db_session().connection(), case_id, g.party_actor, open_task.role):
        abort(404)
    form = runtime().form_for(open_task)
    if open_task.assignee and open_task.assignee != g.party_actor.username:
        return _render_task(found, open_task, form, problem="O Procon está registrando esta resposta em seu "
                            "nome (ela chegou por outro canal). Aguarde a atualização do caso.", locked=True)
    if request.method == "GET":
        return _render_task(found, open_task, form, prefilled(form, found.data or {}))
    values = submitted_values()
    try:
        result = runtime().complete_task(case_id, task_id, g.party_actor, values, uploaded_files(form))
    except InvalidSubmission as error:
        return _render_task(found, open_task, form, error.result.raw, error.result.errors, status=422)
    except ConflictError:
        return _render_task(found, open_task, form, values, status=409,
                            problem="Esta tarefa foi respondida ou o caso mudou enquanto você preenchia. "
                                    "Confira o andamento do caso antes de enviar de novo.")
    except (PermissionDenied, NotFound):
        return _render_task(found, open_task, form, values, status=403,
                            problem="Esta tarefa não pode mais ser respondida por você. Confira o andamento do caso.")
    except ProcedureError:
        return _render_task(found, open_task, form, values, status=500,
                            problem="Não foi possível registrar a resposta por um erro no procedimento. O Procon "
                                    "foi avisado; tente de novo mais tarde. O que você digitou continua abaixo.")
    flash(f"Resposta enviada: {open_task.title}.", "sucesso")
    if result.status == "encerrado":
        flash(f"O caso {result.protocol} foi encerrado.", "sucesso")
    return redirect(url_for("portal_cases.case", case_id=case_id))


@bp.route("/<int:case_id>/documentos/<int:document_id>.pdf")
@party_required()
def document(case_id: int, document_id: int) -> Any:
    visible_case_or_404(case_id)
    found = db_session().get(Document, document_id)
    if found is None or found.case_id != case_id:
        abort(404)
    response = Response(found.pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{found.kind}-{found.id}.pdf"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/<int:case_id>/anexos/<int:attachment_id>")
@party_required()
def attachment(case_id: int, attachment_id: int) -> Any:
    found_case = visible_case_or_404(case_id)
    if attachment_id not in public_attachment_ids(found_case):
        abort(404)
    item = db_session().get(Attachment, attachment_id)
    if item is None or item.case_id != case_id:
        abort(404)
    response = Response(item.data, mimetype=item.content_type)
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(item.filename, safe='')}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
