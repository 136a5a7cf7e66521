"""The "Testar" sandbox (engine side): a draft run on its own SQLite file and clock (by its own process,
see test_sandbox_process.py), sample data, timers fired by moving the clock, simulated service tasks,
isolation from the real database, per-analyst reuse and clean-up."""

from __future__ import annotations

import datetime as dt
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine import clock
from engine.actors import Actor
from engine.errors import InvalidSubmission
from engine.modeling.models import ProcessDraft
from engine.modeling.sandbox import SandboxError
from engine.modeling.sandbox_manager import SandboxManager
from engine.modeling.sandbox_samples import SAMPLE_CNPJ, SAMPLE_CPF
from engine.modeling.versioning import ProcessCatalog
from engine.runtime import Runtime
from engine.store.models import AuditEvent, Case, Deadline, ExternalJob, OpenTask, ProcessDefinition
from tests.conftest import START
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT / "tests"
PRELIM = {"resultado_preliminar": "nao_resolvida", "contato_descricao": "Sem solução no SAC."}
CIP = {"cip_texto": "Solicitamos resposta em 10 dias.", "cip_email_fornecedor": "sac@lojaexemplo.com.br"}
TABLES = (Case, AuditEvent, Deadline, OpenTask, ExternalJob, ProcessDefinition, ProcessDraft)


@pytest.fixture
def analyst() -> Actor:
    return Actor("paula", "Paula Processos", frozenset({"analista_processos"}))


@pytest.fixture
def manager(runtime: Runtime, tmp_path: Path) -> Iterator[SandboxManager]:
    sandboxes = SandboxManager(runtime, tmp_path / "sandboxes")
    yield sandboxes
    sandboxes.close_all()


@pytest.fixture
def draft_id(runtime: Runtime, analyst: Actor) -> int:
    return ProcessCatalog(runtime).draft_from_version("reclamacao", analyst).id


def counts(runtime: Runtime) -> dict[str, int]:
    with runtime.Session() as session:
        return {model.__tablename__: session.scalar(select(func.count()).select_from(model)) for model in TABLES}


def only(tasks: list, spec_name: str) -> str:
    assert [t.spec_name for t in tasks] == [spec_name]
    return tasks[0].task_id


def test_sample_data_starts_the_case_and_never_touches_the_real_database(
        runtime: Runtime, manager: SandboxManager, draft_id: int, analyst: Actor) -> None:
    before = counts(runtime)
    sandbox = manager.open(analyst, draft_id)
    database = sandbox.directory / "sandbox.sqlite3"
    assert database.is_file() and database.is_relative_to(manager.root)
    assert str(runtime.db.url) != f"sqlite:///{database}"
    form, title = sandbox.start_form()
    assert title == "Registrar reclamação"
    values = sandbox.sample_values(form)
    assert values["consumidor_cpf"] == SAMPLE_CPF and values["fornecedor_cnpj"] == SAMPLE_CNPJ
    assert values["canal"] == "presencial" and values["data_compra"] == "2026-03-02"
    result = sandbox.start(values)
    task_id = only(result.open_tasks, "atendimento_preliminar")
    sandbox.complete(task_id, PRELIM)
    view = sandbox.view()
    assert view.case is not None and view.case.status == "aberto"
    assert [t.spec_name for t in view.open_tasks] == ["emitir_cip"]
    assert "registrar_reclamacao" in view.done_elements
    assert counts(runtime) == before  # not one row written to the real database


def test_cip_timer_fires_after_advancing_the_legal_deadline(
        runtime: Runtime, manager: SandboxManager, draft_id: int, analyst: Actor,
        frozen_clock: clock.FrozenClock) -> None:
    sandbox = manager.open(analyst, draft_id)
    form, _ = sandbox.start_form()
    result = sandbox.start(sandbox.sample_values(form))
    result = sandbox.complete(only(result.open_tasks, "atendimento_preliminar"), PRELIM)
    result = sandbox.complete(only(result.open_tasks, "emitir_cip"), CIP)
    only(result.open_tasks, "registrar_resposta")
    [cip] = [d for d in sandbox.view().deadlines if d.kind == "legal"]
    assert cip.due_at == dt.datetime(2026, 3, 13, 2, 59, 59, 999999, tzinfo=dt.UTC)  # 10 days, end of 12/03

    moved = sandbox.advance(days=10)
    assert moved.fired == [] and moved.after == START + dt.timedelta(days=10)
    assert [t.spec_name for t in sandbox.view().open_tasks] == ["registrar_resposta"]

    moved = sandbox.advance(days=1)
    assert len(moved.fired) == 1 and "Prazo vencido" in moved.fired[0]
    view = sandbox.view()
    assert [t.spec_name for t in view.open_tasks] == ["analisar_reclamacao"]
    [cip] = [d for d in view.deadlines if d.kind == "legal"]
    assert cip.outcome == "vencido"
    assert cip.fired_at == cip.due_at + dt.timedelta(seconds=1)  # fired when it fell due, on the way
    assert view.now == START + dt.timedelta(days=11)
    assert clock.now() == START  # the rest of the process never moved


def test_real_clock_and_real_cases_unaffected_while_the_sandbox_moves(
        runtime: Runtime, manager: SandboxManager, draft_id: int, analyst: Actor, atendente: Actor,
        complaint: dict[str, str]) -> None:
    real = runtime.start_case("reclamacao", atendente, complaint)
    real = runtime.complete_task(real.case_id, only(real.open_tasks, "atendimento_preliminar"), atendente, PRELIM)
    real = runtime.complete_task(real.case_id, only(real.open_tasks, "emitir_cip"), atendente, CIP)
    sandbox = manager.open(analyst, draft_id)
    form, _ = sandbox.start_form()
    sandbox.start(sandbox.sample_values(form))
    seen: list[dt.datetime] = []
    inside = threading.Event()
    release = threading.Event()

    def other_request() -> None:
        inside.wait(5)
        seen.append(clock.now())
        release.set()

    thread = threading.Thread(target=other_request)
    thread.start()
    with sandbox.running():
        sandbox.advance(days=40)
        assert clock.now() >= START + dt.timedelta(days=40)
        inside.set()
        release.wait(5)
    thread.join(5)
    assert seen == [START]
    assert clock.now() == START
    assert runtime.fire_due_timers() == 0  # the real CIP timer is not due in real time
    with runtime.Session() as session:
        assert session.scalars(select(OpenTask.spec_name).where(OpenTask.case_id == real.case_id)).all() == [
            "registrar_resposta"]


def test_business_days_and_dates(manager: SandboxManager, draft_id: int, analyst: Actor) -> None:
    sandbox = manager.open(analyst, draft_id)
    assert sandbox.advance(business_days=5).after == START + dt.timedelta(days=7)  # Mon 2/3 -> Mon 9/3
    assert sandbox.advance(until=dt.date(2026, 3, 20)).after == START + dt.timedelta(days=18)
    with pytest.raises(SandboxError, match="só anda para a frente"):
        sandbox.advance(until=dt.date(2026, 3, 1))
    with pytest.raises(SandboxError, match="entre 1 e"):
        sandbox.advance(days=-3)
    with pytest.raises(SandboxError, match="Informe uma forma"):
        sandbox.advance()


def test_invalid_submission_keeps_the_case_as_it_was(manager: SandboxManager, draft_id: int,
                                                     analyst: Actor) -> None:
    sandbox = manager.open(analyst, draft_id)
    form, _ = sandbox.start_form()
    values = sandbox.sample_values(form)
    values["consumidor_cpf"] = "111.111.111-11"
    with pytest.raises(InvalidSubmission) as error:
        sandbox.start(values)
    assert error.value.result.errors == {"consumidor_cpf": "CPF inválido."}
    assert not sandbox.started
    result = sandbox.start(sandbox.sample_values(form))
    task_id = only(result.open_tasks, "atendimento_preliminar")
    with pytest.raises(InvalidSubmission):
        sandbox.complete(task_id, {"resultado_preliminar": ""})
    assert [t.task_id for t in sandbox.view().open_tasks] == [task_id]
    with pytest.raises(SandboxError, match="Reiniciar"):
        sandbox.start(sandbox.sample_values(form))


def test_invalid_draft_is_refused_with_its_problems(runtime: Runtime, manager: SandboxManager,
                                                    analyst: Actor) -> None:
    broken = ProcessCatalog(runtime).save_draft("reclamacao", "<bpmn:definitions", analyst)
    with pytest.raises(SandboxError) as error:
        manager.open(analyst, broken.id)
    assert error.value.problems
    assert not manager.directory(analyst.username, broken.id).exists()


def test_reuse_per_analyst_reopen_after_restart_reset_and_cleanup(
        runtime: Runtime, manager: SandboxManager, draft_id: int, analyst: Actor,
        frozen_clock: clock.FrozenClock) -> None:
    other = Actor("rui", "Rui Processos", frozenset({"analista_processos"}))
    sandbox = manager.open(analyst, draft_id)
    assert manager.open(analyst, draft_id).directory == sandbox.directory
    assert manager.open(other, draft_id).directory != sandbox.directory
    form, _ = sandbox.start_form()
    case_id = sandbox.start(sandbox.sample_values(form)).case_id
    sandbox.advance(days=3)

    restarted = SandboxManager(runtime, manager.root)  # a new process finds it on disk
    again = restarted.get(analyst, draft_id)
    assert again is not None and again.meta.case_id == case_id
    assert again.now() == START + dt.timedelta(days=3)
    restarted.close_all()

    fresh = manager.reset(analyst, draft_id)
    assert not fresh.started and fresh.now() == START

    frozen_clock.advance(dt.timedelta(hours=7))
    assert manager.cleanup() == 2  # both analysts' sandboxes, unused for more than 6 hours
    assert [p for p in manager.root.iterdir() if not p.name.startswith(".")] == []  # .locks stays
    assert manager.get(analyst, draft_id) is None
    assert manager.discard(analyst, draft_id) is False


class _Counter(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).hits += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"razao_social": "Loja Real"}')

    def log_message(self, *args: object) -> None:
        pass


def test_service_tasks_are_simulated_never_sent(runtime: Runtime, manager: SandboxManager, analyst: Actor,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("PROCON_CNPJ_API_URL", f"http://127.0.0.1:{server.server_port}/cnpj/{{cnpj}}")
    try:
        xml = (ROOT / "data" / "servico_cnpj.bpmn").read_text(encoding="utf-8")
        draft = ProcessCatalog(runtime).save_draft("servico_teste", xml, analyst)
        sandbox = manager.open(analyst, draft.id)
        form, _ = sandbox.start_form()
        result = sandbox.start(sandbox.sample_values(form))
        assert result.open_tasks == []
        [job] = sandbox.view().jobs
        assert job.topic == "consultar_cnpj" and job.status == "pendente"
        assert job.payload["fornecedor_cnpj"] == SAMPLE_CNPJ  # what would be sent
        assert "consultar_cnpj" in sandbox.view().current_elements

        sandbox.advance(days=2)  # time passing runs no service
        sandbox.fail_job(job.id, "CNPJ fora do ar")
        [failed] = sandbox.view().jobs
        assert failed.status == "incidente" and "CNPJ fora do ar" in failed.last_error
        with pytest.raises(SandboxError, match="não está aguardando"):
            sandbox.fail_job(job.id, "de novo")
        sandbox.retry_job(job.id)
        result = sandbox.complete_job(job.id, {"fornecedor_razao_social": "Loja Simulada"})
        assert [t.spec_name for t in result.open_tasks] == ["conferir"]
        view = sandbox.view()
        assert view.jobs == [] and view.case is not None
        assert view.case.data["fornecedor_razao_social"] == "Loja Simulada"
        assert _Counter.hits == 0
    finally:
        server.shutdown()
        server.server_close()
