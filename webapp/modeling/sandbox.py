"""“Testar”: the process analyst runs a draft in a sandbox — sample data, every task's form, a clock
that moves forward to see deadlines fire — without touching real cases.

One page, ``/processos/rascunhos/<draft_id>/testar``: the draft's diagram with the current position,
the start form (before the test case exists) or the selected open task's form (``?tarefa=<id>``;
the form posts back to the same address), the sandbox clock with the buttons to advance it, the
simulated service tasks, the deadlines and the timeline. The draft runs only in the sandbox's own
process (:mod:`engine.modeling.sandbox`), and only on a POST: preparing the test (``acao=preparar``,
the catalogue's “Testar” button), starting the case, completing a task, moving the clock, marking a
service. A GET shows what the last POST left and starts nothing. These views translate requests and
errors into Portuguese messages, keeping what was typed.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, g, redirect, render_template, request, url_for

from engine.errors import ConflictError, EngineError, InvalidSubmission, NotFound, PermissionDenied, TaskNotOpen
from engine.modeling.sandbox import Sandbox, SandboxError, SandboxFailure
from engine.modeling.sandbox_manager import SandboxManager
from engine.modeling.sandbox_runner import SandboxLimits, SandboxRunner
from engine.modeling.versioning import ANALYST_ROLE
from engine.store.protocol import AGENCY_TZ
from webapp.auth import role_required
from webapp.filters import data_hora
from webapp.staff.inbox import prefilled, submitted_values, uploaded_files

bp = Blueprint("sandbox", __name__, url_prefix="/processos/rascunhos")

ROLES = (ANALYST_ROLE, "admin")
_create_lock = threading.Lock()


def _limits() -> SandboxLimits:
    """Per-operation limits (``SANDBOX_CPU_SECONDS``, ``SANDBOX_MEMORY_MB``, ``SANDBOX_TIMEOUT_SECONDS``)."""
    config, default = current_app.config, SandboxLimits()
    return SandboxLimits(cpu_seconds=int(config.get("SANDBOX_CPU_SECONDS") or default.cpu_seconds),
                         memory_bytes=int(config.get("SANDBOX_MEMORY_MB") or default.memory_bytes // 2**20) * 2**20,
                         wall_seconds=float(config.get("SANDBOX_TIMEOUT_SECONDS") or default.wall_seconds))


def manager() -> SandboxManager:
    """The application's sandboxes (folder: ``SANDBOX_ROOT``, else ``instance/sandboxes``)."""
    found = current_app.extensions.get("procon_sandboxes")
    if found is None:
        with _create_lock:
            found = current_app.extensions.get("procon_sandboxes")
            if found is None:
                root = current_app.config.get("SANDBOX_ROOT") or Path(current_app.instance_path) / "sandboxes"
                found = SandboxManager(current_app.extensions["procon_runtime"], Path(root),
                                       runner=SandboxRunner(_limits()))
                current_app.extensions["procon_sandboxes"] = found
    return found


def _cannot_test(draft_id: int, error: SandboxError) -> tuple[str, int]:
    return render_template("sandbox_error.html", draft_id=draft_id, message=str(error),
                           problems=error.problems), 422


def _sandbox(draft_id: int) -> Sandbox | tuple[str, int]:
    """The analyst's sandbox for the draft, prepared if needed (POST only), or the page explaining why not."""
    try:
        return manager().open(g.actor, draft_id)
    except NotFound:
        abort(404)
    except SandboxError as error:
        return _cannot_test(draft_id, error)


def _back(draft_id: int, task_id: str | None = None) -> Response:
    return redirect(url_for("sandbox.page", draft_id=draft_id, **({"tarefa": task_id} if task_id else {})))


def _render(sandbox: Sandbox, draft_id: int, task_id: str | None = None, raw: dict[str, str] | None = None,
            errors: dict[str, str] | None = None, status: int = 200) -> tuple[str, int]:
    with sandbox.running():  # dates and "vencido" badges on the sandbox's clock
        view = sandbox.view()
        selected, start_error = None, ""
        form, form_title = None, ""
        if view.case is None:
            try:
                form, form_title = sandbox.start_form()
            except SandboxError as error:
                start_error = str(error)
        elif view.open_tasks:
            selected = next((t for t in view.open_tasks if t.task_id == task_id), view.open_tasks[0])
            form, form_title = (sandbox.form_for(selected) if selected.form_key else None), selected.title
        if form is not None and raw is None:
            raw = {**sandbox.sample_values(form), **(prefilled(form, view.case.data or {}) if view.case else {})}
        html = render_template(
            "sandbox.html", draft_id=draft_id, sandbox=sandbox, view=view, form=form, form_title=form_title,
            selected=selected, raw=raw or {}, errors=errors or {}, start_error=start_error,
            today=view.now.astimezone(AGENCY_TZ).date().isoformat())
    return html, status


def _show(draft_id: int, task_id: str | None) -> Any:
    """The GET: what the last POST left, or the button that prepares the test. Starts no process."""
    sandbox = manager().get(g.actor, draft_id)
    if sandbox is None:
        try:
            draft = manager().catalog.draft(draft_id)
        except NotFound:
            abort(404)
        return render_template("sandbox_prepare.html", draft_id=draft_id, draft=draft)
    try:
        if sandbox.started:
            # The task's form posts back to this address: it must name an open task.
            open_ids = [t.task_id for t in sandbox.view().open_tasks]
            if open_ids and task_id not in open_ids:
                return _back(draft_id, open_ids[0])
        return _render(sandbox, draft_id, task_id)
    except SandboxError as error:  # discarded by another request meanwhile
        flash(str(error), "erro")
        return redirect(url_for("processes.index"))


@bp.route("/<int:draft_id>/testar", methods=["GET", "POST"])
@role_required(*ROLES)
def page(draft_id: int) -> Any:
    task_id = request.args.get("tarefa") or None
    if request.method == "GET":
        return _show(draft_id, task_id)
    sandbox = _sandbox(draft_id)
    if not isinstance(sandbox, Sandbox):
        return sandbox
    if request.form.get("acao") == "preparar":
        return _back(draft_id)
    values = submitted_values()
    try:
        if not sandbox.started:
            form, _title = sandbox.start_form()
            result = sandbox.start(values, uploaded_files(form))
            flash(f"Caso de teste iniciado: {result.protocol}.", "sucesso")
        else:
            if task_id is None:
                flash("Escolha a tarefa a concluir.", "erro")
                return _back(draft_id)
            _task, form = sandbox.form_for_task(task_id)
            sandbox.complete(task_id, values, uploaded_files(form))
            flash(f"Tarefa concluída: {_task.title}.", "sucesso")
    except InvalidSubmission as error:
        flash(str(error), "erro")
        return _render(sandbox, draft_id, task_id, error.result.raw, error.result.errors, 422)
    except SandboxFailure as error:  # over a limit or crashed: say so, keep what was typed
        flash(str(error), "erro")
        return _render(sandbox, draft_id, task_id, values, {}, 422)
    except (TaskNotOpen, ConflictError, PermissionDenied, SandboxError) as error:
        flash(str(error), "erro")
        return _back(draft_id)
    except EngineError as error:  # e.g. a ProcedureError: the draft fails while running
        flash(str(error), "erro")
        return _render(sandbox, draft_id, task_id, values, {}, 422)
    return _back(draft_id)


def _integer(text: str) -> int | None:
    try:
        value = int(text.strip())
    except (ValueError, AttributeError):
        return None
    return value


@bp.route("/<int:draft_id>/testar/relogio", methods=["POST"])
@role_required(*ROLES)
def advance(draft_id: int) -> Any:
    sandbox = _sandbox(draft_id)
    if not isinstance(sandbox, Sandbox):
        return sandbox
    mode = request.form.get("modo", "dias")
    try:
        if mode == "data":
            text = request.form.get("data", "").strip()
            try:
                until = dt.date.fromisoformat(text)
            except ValueError:
                flash("Data inválida: escolha o dia para onde o relógio do teste deve ir.", "erro")
                return _back(draft_id)
            moved = sandbox.advance(until=until)
        else:
            amount = _integer(request.form.get("quantidade", ""))
            if amount is None:
                flash("Informe quantos dias o relógio do teste deve avançar (um número inteiro).", "erro")
                return _back(draft_id)
            moved = sandbox.advance(**({"business_days": amount} if mode == "uteis" else {"days": amount}))
    except EngineError as error:
        flash(str(error), "erro")
        return _back(draft_id)
    when = data_hora(moved.after)
    fired = "; ".join(moved.fired)
    flash(f"Relógio do teste em {when}. " + (f"Disparou: {fired}." if fired else "Nenhum prazo venceu."),
          "sucesso")
    return _back(draft_id)


@bp.route("/<int:draft_id>/testar/servicos/<int:job_id>/<action>", methods=["POST"])
@role_required(*ROLES)
def service(draft_id: int, job_id: int, action: str) -> Any:
    if action not in ("concluir", "falhar", "reenviar"):
        abort(404)
    sandbox = _sandbox(draft_id)
    if not isinstance(sandbox, Sandbox):
        return sandbox
    try:
        if action == "concluir":
            text = request.form.get("resultado", "").strip()
            try:
                result = json.loads(text) if text else {}
            except json.JSONDecodeError as error:
                flash(f"O resultado não é um JSON válido (linha {error.lineno}, coluna {error.colno}). "
                      "Use um objeto, como {\"campo\": \"valor\"}, ou deixe em branco.", "erro")
                return _back(draft_id)
            if not isinstance(result, dict):
                flash("O resultado precisa ser um objeto JSON, como {\"campo\": \"valor\"}.", "erro")
                return _back(draft_id)
            sandbox.complete_job(job_id, result)
            flash("Serviço marcado como concluído no teste.", "sucesso")
        elif action == "falhar":
            sandbox.fail_job(job_id, request.form.get("mensagem", ""))
            flash("Serviço marcado como falha no teste.", "sucesso")
        else:
            sandbox.retry_job(job_id)
            flash("Serviço voltou a aguardar.", "sucesso")
    except EngineError as error:
        flash(str(error), "erro")
    return _back(draft_id)


@bp.route("/<int:draft_id>/testar/reiniciar", methods=["POST"])
@role_required(*ROLES)
def reset(draft_id: int) -> Any:
    try:
        manager().reset(g.actor, draft_id)
    except NotFound:
        abort(404)
    except SandboxError as error:
        return _cannot_test(draft_id, error)
    flash("Teste reiniciado: o rascunho atual foi carregado e o relógio voltou para agora.", "sucesso")
    return _back(draft_id)


@bp.route("/<int:draft_id>/testar/descartar", methods=["POST"])
@role_required(*ROLES)
def discard(draft_id: int) -> Any:
    manager().discard(g.actor, draft_id)
    flash("Teste descartado. Nenhum caso real foi afetado.", "sucesso")
    return redirect(url_for("processes.index"))


@bp.route("/<int:draft_id>/testar/diagrama.bpmn")
@role_required(*ROLES)
def diagram(draft_id: int) -> Any:
    sandbox = manager().get(g.actor, draft_id)
    if sandbox is None:
        abort(404)
    try:
        return Response(sandbox.diagram_xml(), mimetype="application/xml")
    except NotFound:
        abort(404)
