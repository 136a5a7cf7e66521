"""Service tasks end to end: the worker calls a real local HTTP server, retries timeouts and 500s
with backoff, records an incident an admin sees and retries in the UI, then completes the task."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from werkzeug import Request, Response

from engine import clock
from engine.actors import Actor
from engine.errors import ConflictError, PermissionDenied
from engine.runtime import EngineConfig, Runtime
from engine.store.models import AuditEvent, Case, ExternalJob, Notification, OpenTask
from engine.worker.scheduler import DeadlineWorker, WorkerConfig
from tasks.context import TaskSettings
from tasks.registry import default_registry
from tests.support.paths import TEST_DATA
from tests.support.web_helpers import PASSWORD, csrf_token, login
from webapp import create_app
from webapp.users import create_user

DATA = TEST_DATA
CNPJ_BODY = {"razao_social": "LOJA EXEMPLO LTDA", "nome_fantasia": "Loja Exemplo", "logradouro": "Rua A",
             "numero": "10", "bairro": "Centro", "municipio": "São Paulo", "uf": "SP", "cep": "01000000",
             "descricao_situacao_cadastral": "ATIVA"}


@pytest.fixture
def service_runtime(database_url: str, frozen_clock: clock.FrozenClock) -> Iterator[Runtime]:
    runtime = Runtime(EngineConfig(services=default_registry(), database_url=database_url, workflows_dir=DATA))
    runtime.init_db()
    yield runtime
    runtime.db.dispose()


def worker_for(runtime: Runtime, httpserver: HTTPServer, timeout_s: float = 0.3) -> DeadlineWorker:
    settings = TaskSettings(cnpj_api_url=httpserver.url_for("/cnpj/{cnpj}"), http_timeout_s=timeout_s)
    config = WorkerConfig(max_attempts=3, retry_base=dt.timedelta(seconds=30), task_settings=settings)
    return DeadlineWorker(runtime, config, holder="servicos")


def start(runtime: Runtime, complaint: dict[str, str], cnpj: str) -> int:
    """A complaint registered by an attendant; its supplier's CNPJ is what the service looks up."""
    actor = Actor("ana", "Ana", frozenset({"atendente"}))
    return runtime.start_case("servico_teste", actor, dict(complaint, fornecedor_cnpj=cnpj)).case_id


def job_of(runtime: Runtime, case_id: int) -> ExternalJob:
    with runtime.Session() as session:
        return session.scalars(select(ExternalJob).where(ExternalJob.case_id == case_id)).one()


def test_a_lookup_that_answers_completes_the_task_with_the_supplier_data(
        service_runtime: Runtime, httpserver: HTTPServer, complaint: dict[str, str]) -> None:
    httpserver.expect_request("/cnpj/12ABC34501DE35").respond_with_json(CNPJ_BODY)
    case_id = start(service_runtime, complaint, "12.ABC.345/01DE-35")
    assert job_of(service_runtime, case_id).payload["fornecedor_cnpj"] == "12.ABC.345/01DE-35"
    assert worker_for(service_runtime, httpserver).run_jobs() == 1
    job = job_of(service_runtime, case_id)
    assert job.status == "concluido" and job.attempts == 0
    with service_runtime.Session() as session:
        case = session.get(Case, case_id)
        assert case.data["fornecedor_nome"] == "LOJA EXEMPLO LTDA"
        assert case.data["fornecedor_uf"] == "SP"
        assert [t.spec_name for t in session.scalars(select(OpenTask).where(OpenTask.case_id == case_id))] == [
            "conferir"]
        actions = [e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id)
                                                     .order_by(AuditEvent.id))]
    assert actions == ["iniciado", "tarefa_concluida", "servico_concluido"]


def test_500s_and_timeouts_are_retried_with_backoff_then_an_incident_the_admin_retries(
        service_runtime: Runtime, httpserver: HTTPServer, frozen_clock: clock.FrozenClock,
        complaint: dict[str, str]) -> None:
    calls: list[str] = []

    def flaky(request: Request) -> Response:
        calls.append(request.path)
        if len(calls) == 1:
            return Response("erro interno", status=500)
        if len(calls) == 2:
            time.sleep(0.6)  # longer than the 0.3 s timeout
            return Response("{}", status=200)
        if len(calls) == 3:
            return Response("indisponível", status=503)
        return Response(json.dumps(CNPJ_BODY), status=200, content_type="application/json")

    httpserver.expect_request(re.compile(r"/cnpj/.*")).respond_with_handler(flaky)
    case_id = start(service_runtime, complaint, "11.222.333/0001-81")
    worker = worker_for(service_runtime, httpserver)

    assert worker.run_jobs() == 0  # 500
    job = job_of(service_runtime, case_id)
    assert (job.status, job.attempts) == ("pendente", 1)
    assert job.next_attempt_at == frozen_clock.current + dt.timedelta(seconds=30)
    assert "Tentativa 1 de 3" in job.last_error
    assert worker.run_jobs() == 0 and len(calls) == 1  # not before the backoff
    frozen_clock.advance(dt.timedelta(seconds=31))
    assert worker.run_jobs() == 0  # timeout
    job = job_of(service_runtime, case_id)
    assert job.attempts == 2 and job.next_attempt_at == frozen_clock.current + dt.timedelta(seconds=60)
    frozen_clock.advance(dt.timedelta(seconds=61))
    assert worker.run_jobs() == 0  # 503: the third and last attempt
    job = job_of(service_runtime, case_id)
    assert job.status == "incidente" and job.incident_at == frozen_clock.current
    assert "parou após 3 tentativa(s)" in job.last_error
    with service_runtime.Session() as session:
        notice = session.scalars(select(Notification).where(Notification.kind == "incidente")).one()
        assert notice.role == "admin" and "Consultar CNPJ" in notice.message
    frozen_clock.advance(dt.timedelta(hours=2))
    assert worker.run_jobs() == 0 and len(calls) == 3  # an incident is not retried by itself

    # The admin sees it in "Incidentes" and retries it; the service answers now.
    with service_runtime.Session.begin() as session:
        create_user(session, "admin", "Administração", ["admin"], PASSWORD)
        create_user(session, "ana", "Ana Atendente", ["atendente"], PASSWORD)
    app: Flask = create_app({"RUNTIME": service_runtime, "SECRET_KEY": "t", "WTF_CSRF_ENABLED": True})
    ana = app.test_client()
    login(ana, "ana")
    assert ana.get("/admin/incidentes/").status_code == 403
    admin = app.test_client()
    login(admin, "admin")
    page = admin.get("/admin/incidentes/").get_data(as_text=True)
    assert "Consultar CNPJ" in page and "parou após 3 tentativa(s)" in page and "Reprocessar" in page
    response = admin.post(f"/admin/incidentes/{job.id}/reprocessar", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    assert job_of(service_runtime, case_id).status == "pendente"
    assert worker.run_jobs() == 1
    assert job_of(service_runtime, case_id).status == "concluido"
    with service_runtime.Session() as session:
        assert session.get(Case, case_id).data["fornecedor_nome"] == "LOJA EXEMPLO LTDA"
        actions = [e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id)
                                                     .order_by(AuditEvent.id))]
    assert actions == ["iniciado", "tarefa_concluida", "incidente", "incidente_reprocessado", "servico_concluido"]
    page = admin.get("/admin/incidentes/").get_data(as_text=True)
    assert "Nenhum serviço pendente ou com incidente." in page


def test_a_404_is_an_incident_at_once(service_runtime: Runtime, httpserver: HTTPServer,
                                      complaint: dict[str, str]) -> None:
    httpserver.expect_request(re.compile(r"/cnpj/.*")).respond_with_data("não encontrado", status=404)
    case_id = start(service_runtime, complaint, "11.222.333/0001-81")
    worker_for(service_runtime, httpserver).run_jobs()
    job = job_of(service_runtime, case_id)
    assert (job.status, job.attempts) == ("incidente", 1)
    assert "não encontrado" in job.last_error


def test_retry_of_something_that_is_not_an_incident_is_refused(service_runtime: Runtime,
                                                               complaint: dict[str, str]) -> None:
    case_id = start(service_runtime, complaint, "11.222.333/0001-81")
    job = job_of(service_runtime, case_id)
    admin = Actor("admin", roles=frozenset({"admin"}))
    with pytest.raises(ConflictError, match="não está com incidente"):
        service_runtime.retry_incident(job.id, admin)
    with pytest.raises(PermissionDenied):
        service_runtime.retry_incident(job.id, Actor("ana", roles=frozenset({"atendente"})))


def test_a_generated_document_is_listed_on_the_case_and_verifiable_by_anyone(
        service_runtime: Runtime, frozen_clock: clock.FrozenClock, complaint: dict[str, str]) -> None:
    from tasks.context import TaskContext
    from tasks.documents import render_document

    case_id = start(service_runtime, complaint, "11.222.333/0001-81")
    worker = DeadlineWorker(service_runtime, holder="documentos")
    context = TaskContext(settings=TaskSettings(public_base_url="http://procon.test"), case_id=case_id,
                          protocol="CAP-2026-000001", unit="CAP", now=frozen_clock.current)
    draft = render_document("notificacao", dict(complaint, fornecedor_cnpj="11.222.333/0001-81", prazo_dias="10",
                                                 prazo_vencimento="2026-03-12"), context)
    reference = worker._save_document(case_id, draft)
    assert reference["codigo"] == draft.verification_code

    with service_runtime.Session.begin() as session:
        create_user(session, "ana", "Ana Atendente", ["atendente"], PASSWORD)
    app = create_app({"RUNTIME": service_runtime, "SECRET_KEY": "t", "WTF_CSRF_ENABLED": True})
    ana = app.test_client()
    login(ana, "ana")
    case_page = ana.get(f"/casos/{case_id}").get_data(as_text=True)
    assert "Notificação" in case_page and draft.verification_code in case_page
    pdf = ana.get(f"/documentos/{reference['documento_id']}.pdf")
    assert pdf.status_code == 200 and pdf.data == draft.pdf

    public = app.test_client()  # not logged in
    page = public.get(f"/documentos/verificar/{draft.verification_code.lower()}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Documento autêntico." in html
    assert "CAP-2026-000001" in html and draft.sha256 in html
    assert "João da Silva" not in html  # the public page shows no personal data
    original = public.get(f"/documentos/verificar/{draft.verification_code}/documento.pdf")
    assert original.status_code == 200 and original.data == draft.pdf
    missing = public.get("/documentos/verificar?codigo=AAAA-BBBB-CCCC")
    assert missing.status_code == 404 and "Nenhum documento encontrado" in missing.get_data(as_text=True)
    assert public.get(f"/documentos/{reference['documento_id']}.pdf").status_code == 302  # staff only
