"""“Testar” through the Flask app with CSRF on: who may enter, the start form with sample data, a
task completed, invalid input kept, the clock advanced until the CIP timer fires, service tasks,
reset and discard — and the real database untouched throughout. The draft runs only in the sandbox's
own process, only on a POST: a GET shows what the last POST left and starts no process; a draft over
the limits gets a message and the app goes on."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine.modeling.sandbox_manager import SandboxManager
from engine.modeling.sandbox_runner import SandboxLimits, SandboxRunner
from engine.modeling.sandbox_samples import SAMPLE_CPF
from engine.modeling.versioning import ProcessCatalog
from engine.runtime import Runtime
from engine.store.models import AuditEvent, Case, Deadline, OpenTask
from tests.support.paths import TEST_DATA
from tests.support.web_helpers import client_for, csrf_token, staff_app

STAFF = [("paula", "Paula Processos", ["analista_processos"]), ("root", "Rita Admin", ["admin"]),
         ("ana", "Ana Atendente", ["atendente"])]
PRELIM = {"resultado_preliminar": "nao_resolvida", "contato_descricao": "Sem solução no SAC."}
CIP = {"cip_texto": "Solicitamos resposta em 10 dias.", "cip_email_fornecedor": "sac@lojaexemplo.com.br"}
TASK_RE = re.compile(r"\?tarefa=([0-9a-f-]{36})$")


@pytest.fixture
def app(runtime: Runtime, tmp_path: Path) -> Iterator[Flask]:
    app = staff_app(runtime, STAFF, SANDBOX_ROOT=str(tmp_path / "testes"))
    yield app
    manager = app.extensions.get("procon_sandboxes")
    if manager is not None:
        manager.close_all()


@pytest.fixture
def draft_id(runtime: Runtime) -> int:
    return ProcessCatalog(runtime).draft_from_version("reclamacao", "paula").id


def real_counts(runtime: Runtime) -> tuple[int, ...]:
    with runtime.Session() as session:
        return tuple(session.scalar(select(func.count()).select_from(m)) for m in (Case, AuditEvent, Deadline,
                                                                                    OpenTask))


def post(client: FlaskClient, url: str, data: dict[str, str], page: str) -> object:
    token = csrf_token(client.get(page, follow_redirects=True).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


def current_task(client: FlaskClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    match = TASK_RE.search(response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def prepare(client: FlaskClient, url: str) -> object:
    return post(client, url, {"acao": "preparar"}, url)


def test_access(app: Flask, draft_id: int) -> None:
    url = f"/processos/rascunhos/{draft_id}/testar"
    anonymous = app.test_client().get(url)
    assert anonymous.status_code == 302 and "/entrar" in anonymous.headers["Location"]
    assert client_for(app, "ana").get(url).status_code == 403
    assert client_for(app, "root").get(url).status_code == 200
    paula = client_for(app, "paula")
    assert paula.get("/processos/rascunhos/9999/testar").status_code == 404
    catalogue = paula.get("/processos/").get_data(as_text=True)
    assert f'action="{url}"' in catalogue and 'name="acao" value="preparar"' in catalogue  # a POST, never a GET
    assert ">Testar</button>" in catalogue


def test_a_get_never_runs_the_draft(app: Flask, draft_id: int, complaint: dict[str, str], tmp_path: Path) -> None:
    paula = client_for(app, "paula")
    url = f"/processos/rascunhos/{draft_id}/testar"
    page = paula.get(url)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert not (tmp_path / "testes").exists() or list((tmp_path / "testes").iterdir()) == []  # nothing created
    assert "Preparar o teste" in html
    runner = app.extensions["procon_sandboxes"].runner
    assert runner.spawned == 0
    assert paula.get(f"{url}/diagrama.bpmn").status_code == 404
    assert prepare(paula, url).status_code == 302
    assert runner.spawned == 1  # the sandbox is prepared by its own process, on the POST
    for _round in range(3):
        assert "Iniciar o caso de teste" in paula.get(url).get_data(as_text=True)
        assert paula.get(f"{url}/diagrama.bpmn").status_code == 200
    assert runner.spawned == 1
    assert post(paula, url, complaint, url).status_code == 302
    assert runner.spawned == 2
    task_id = current_task(paula, url)
    for _round in range(3):
        assert "Atendimento preliminar" in paula.get(f"{url}?tarefa={task_id}").get_data(as_text=True)
    assert runner.spawned == 2


def test_a_draft_over_the_limits_gets_a_message_and_the_app_goes_on(
        app: Flask, runtime: Runtime, draft_id: int, complaint: dict[str, str], tmp_path: Path) -> None:
    limits = SandboxLimits(cpu_seconds=2, wall_seconds=8)
    app.extensions["procon_sandboxes"] = SandboxManager(runtime, tmp_path / "testes",
                                                        runner=SandboxRunner(limits, test_hook="spin@start"))
    paula = client_for(app, "paula")
    url = f"/processos/rascunhos/{draft_id}/testar"
    assert prepare(paula, url).status_code == 302
    response = post(paula, url, complaint, url)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "O teste excedeu o limite de tempo" in html
    assert 'value="João da Silva"' in html  # what was typed is kept
    again = paula.get(url)
    assert again.status_code == 200 and "Iniciar o caso de teste" in again.get_data(as_text=True)
    assert paula.get("/processos/").status_code == 200


def test_steps_clock_and_timer(app: Flask, runtime: Runtime, draft_id: int, complaint: dict[str, str],
                               tmp_path: Path) -> None:
    before = real_counts(runtime)
    paula = client_for(app, "paula")
    url = f"/processos/rascunhos/{draft_id}/testar"
    assert prepare(paula, url).status_code == 302
    page = paula.get(url)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Iniciar o caso de teste: Registrar reclamação" in html
    assert f'value="{SAMPLE_CPF}"' in html  # sample data, editable
    assert "Relógio do teste" in html and "02/03/2026 10:00" in html

    invalid = post(paula, url, {**complaint, "consumidor_cpf": "123"}, url)
    text = invalid.get_data(as_text=True)
    assert invalid.status_code == 422
    assert "CPF inválido." in text and 'value="João da Silva"' in text  # what was typed is kept

    started = post(paula, url, complaint, url)
    assert started.status_code == 302
    task_id = current_task(paula, url)
    task_page = paula.get(f"{url}?tarefa={task_id}").get_data(as_text=True)
    assert "Atendimento preliminar" in task_page and "Caso de teste iniciado" in task_page

    done = post(paula, f"{url}?tarefa={task_id}", PRELIM, f"{url}?tarefa={task_id}")
    assert done.status_code == 302
    cip_task = current_task(paula, url)
    assert cip_task != task_id
    stale = post(paula, f"{url}?tarefa={task_id}", PRELIM, url)  # the same task again: refused, explained
    assert stale.status_code == 302
    assert "não está aberta" in paula.get(f"{url}?tarefa={cip_task}").get_data(as_text=True)
    post(paula, f"{url}?tarefa={cip_task}", CIP, f"{url}?tarefa={cip_task}")

    wrong = post(paula, f"{url}/relogio", {"modo": "dias", "quantidade": "dez"}, url)
    assert wrong.status_code == 302
    reply_task = current_task(paula, url)
    assert "Informe quantos dias" in paula.get(f"{url}?tarefa={reply_task}").get_data(as_text=True)

    post(paula, f"{url}/relogio", {"modo": "dias", "quantidade": "10"}, url)
    assert "Nenhum prazo venceu" in paula.get(f"{url}?tarefa={reply_task}").get_data(as_text=True)
    post(paula, f"{url}/relogio", {"modo": "uteis", "quantidade": "1"}, url)
    analysis = current_task(paula, url)
    html = paula.get(f"{url}?tarefa={analysis}").get_data(as_text=True)
    assert "Disparou: Prazo vencido" in html
    assert "Analisar reclamação" in html and "selo-vencido" in html
    assert "13/03/2026" in html  # the sandbox clock: Friday after the CIP's last day

    back = post(paula, f"{url}/relogio", {"modo": "data", "data": "2026-03-01"}, url)
    assert back.status_code == 302
    assert "só anda para a frente" in paula.get(f"{url}?tarefa={analysis}").get_data(as_text=True)

    xml = paula.get(f"{url}/diagrama.bpmn")
    assert xml.status_code == 200 and b'id="reclamacao"' in xml.data
    assert real_counts(runtime) == before

    reset = post(paula, f"{url}/reiniciar", {}, url)
    assert reset.status_code == 302
    html = paula.get(url).get_data(as_text=True)
    assert "Iniciar o caso de teste" in html and "02/03/2026 10:00" in html  # the clock back to now
    gone = post(paula, f"{url}/descartar", {}, url)
    assert gone.status_code == 302 and gone.headers["Location"].endswith("/processos/")
    assert [p for p in (tmp_path / "testes").iterdir() if not p.name.startswith(".")] == []  # .locks stays
    assert real_counts(runtime) == before


def test_service_tasks_marked_by_hand(app: Flask, runtime: Runtime, complaint: dict[str, str]) -> None:
    xml = (TEST_DATA / "servico_cnpj.bpmn").read_text(encoding="utf-8")
    draft = ProcessCatalog(runtime).save_draft("servico_teste", xml, "paula")
    paula = client_for(app, "paula")
    url = f"/processos/rascunhos/{draft.id}/testar"
    assert post(paula, url, complaint, url).status_code == 302
    html = paula.get(url).get_data(as_text=True)
    assert "Serviços externos (simulados)" in html and "O que seria enviado" in html
    job_id = re.search(r"/servicos/(\d+)/concluir", html).group(1)
    bad = post(paula, f"{url}/servicos/{job_id}/concluir", {"resultado": "[1, 2"}, url)
    assert bad.status_code == 302
    assert "não é um JSON válido" in paula.get(url).get_data(as_text=True)
    post(paula, f"{url}/servicos/{job_id}/falhar", {"mensagem": "Receita fora do ar"}, url)
    assert "Receita fora do ar" in paula.get(url).get_data(as_text=True)
    post(paula, f"{url}/servicos/{job_id}/reenviar", {}, url)
    post(paula, f"{url}/servicos/{job_id}/concluir", {"resultado": '{"fornecedor_razao_social": "Loja X"}'}, url)
    task_id = current_task(paula, url)
    assert "Serviço concluído" in paula.get(f"{url}?tarefa={task_id}").get_data(as_text=True)


def test_invalid_draft_shows_its_problems(app: Flask, runtime: Runtime) -> None:
    draft = ProcessCatalog(runtime).save_draft("reclamacao", "<bpmn:definitions", "paula")
    url = f"/processos/rascunhos/{draft.id}/testar"
    response = prepare(client_for(app, "paula"), url)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "não pode ser testado" in html and 'id="problemas"' in html
