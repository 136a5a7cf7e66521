"""``procon bench engine``: the complaint's main path run three ways, per user task.

1. bare SpiffWorkflow in memory (the floor): parse once, run N instances;
2. through :mod:`engine.runtime` on the configured database (validation, persistence,
   projections, audit — everything a real completion does);
3. through the Flask app with the test client, logged in, CSRF on.

The database is a fresh temporary SQLite file unless ``--database-url`` / ``DATABASE_URL`` names
one (use a dedicated benchmark database: the run adds cases to it).
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.util.task import TaskState

from engine.actors import Actor
from engine.forms.submission import validate_submission
from engine.modeling.validation import parse_file
from engine.runtime import EngineConfig, Runtime
from engine.runtime.scripting import deadline_context
from tasks.registry import default_registry

REGISTRATION = {
    "consumidor_nome": "Consumidor de Teste", "consumidor_cpf": "529.982.247-25",
    "consumidor_email": "consumidor@example.com", "fornecedor_cnpj": "11.222.333/0001-81",
    "fornecedor_nome": "Fornecedor de Teste", "canal": "presencial", "valor": "100,00",
    "fatos": "Produto com defeito.", "pedido": "Troca.",
}
#: The main path after registration: (task id, form values).
MAIN_PATH: list[tuple[str, dict[str, str]]] = [
    ("atendimento_preliminar", {"resultado_preliminar": "nao_resolvida", "contato_descricao": "Sem acordo."}),
    ("emitir_cip", {"cip_texto": "Manifeste-se.", "cip_email_fornecedor": "sac@example.com"}),
    ("registrar_resposta", {"resposta_fornecedor": "Trocaremos.", "data_resposta": "2026-03-05",
                            "consumidor_aceitou": "sim"}),
    ("analisar_reclamacao", {"desfecho": "fundamentada_atendida", "fundamentacao": "Atendida."}),
]
TASKS_PER_CASE = 1 + len(MAIN_PATH)


def _progress(enabled: bool, label: str, done: int, total: int) -> None:
    if enabled and (done % max(1, total // 20) == 0 or done == total):
        print(f"\r{label}: {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)


def bench_bare(runtime: Runtime, cases: int, progress: bool) -> float:
    """ms per user task for SpiffWorkflow alone, with the same form cleaning the engine does."""
    path = runtime.config.workflows_dir / "reclamacao.bpmn"
    parsed, _ = parse_file(path.read_bytes(), str(path))
    assert parsed is not None
    spec = parsed.parser.get_spec("reclamacao")
    forms = {t.name: runtime.forms.get(t.extensions["formKey"]) for t in spec.task_specs.values()
             if isinstance(t, UserTask)}
    steps = [("registrar_reclamacao", REGISTRATION), *MAIN_PATH]
    context = deadline_context(runtime.calendars, runtime.config.unit)
    context.__enter__()  # the diagram's deadline helpers count on the unit's calendar, as in the engine
    started = time.perf_counter()
    for index in range(cases):
        workflow = BpmnWorkflow(spec, script_engine=runtime.script_engine)
        workflow.do_engine_steps()
        for name, values in steps:
            task = next(t for t in workflow.get_tasks(state=TaskState.READY) if t.task_spec.name == name)
            task.set_data(**validate_submission(forms[name], values).data)
            task.run()
            workflow.do_engine_steps()
        assert workflow.completed
        _progress(progress, "SpiffWorkflow puro", index + 1, cases)
    elapsed = time.perf_counter() - started
    context.__exit__(None, None, None)
    return elapsed * 1000 / (cases * TASKS_PER_CASE)


def bench_engine(runtime: Runtime, cases: int, progress: bool) -> float:
    actor = Actor("bench", "Benchmark", frozenset({"admin"}))
    started = time.perf_counter()
    for index in range(cases):
        result = runtime.start_case("reclamacao", actor, REGISTRATION)
        for name, values in MAIN_PATH:
            task = next(t for t in result.open_tasks if t.spec_name == name)
            result = runtime.complete_task(result.case_id, task.task_id, actor, values)
        assert result.status == "encerrado"
        _progress(progress, "motor", index + 1, cases)
    return (time.perf_counter() - started) * 1000 / (cases * TASKS_PER_CASE)


def bench_http(runtime: Runtime, cases: int, progress: bool) -> float:
    from webapp import create_app
    from webapp.users import create_user

    username = f"bench{time.time_ns()}"
    with runtime.Session.begin() as session:
        create_user(session, username, "Benchmark HTTP", ["admin"], "benchmark-senha")
    app = create_app({"RUNTIME": runtime, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": True})
    client = app.test_client()
    token_re = re.compile(r'name="csrf_token" value="([^"]+)"')
    token = token_re.search(client.get("/entrar").get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    response = client.post("/entrar", data={"username": username, "password": "benchmark-senha", "csrf_token": token})
    assert response.status_code == 302, "login do benchmark falhou"
    token = token_re.search(client.get("/reclamacoes/nova").get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    task_url = re.compile(r"/casos/(\d+)/tarefas/([0-9a-f-]{36})")
    started = time.perf_counter()
    for index in range(cases):
        response = client.post("/reclamacoes/nova", data={**REGISTRATION, "csrf_token": token})
        location = response.headers.get("Location", "")
        for _name, values in MAIN_PATH:
            match = task_url.match(location)
            if match is None:  # the next task belongs to someone else's queue: find it on the case page
                html = client.get(location).get_data(as_text=True)
                match = task_url.search(html)
            assert match, f"tarefa não encontrada em {location}"
            response = client.post(match.group(0), data={**values, "csrf_token": token})
            assert response.status_code == 302, response.get_data(as_text=True)[:500]
            location = response.headers["Location"]
        _progress(progress, "HTTP", index + 1, cases)
    return (time.perf_counter() - started) * 1000 / (cases * TASKS_PER_CASE)


def run_engine_bench(cases: int, database_url: str | None, progress: bool = True) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="procon-bench-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        runtime = Runtime(EngineConfig(services=default_registry(), database_url=url))
        runtime.init_db()
        bare = bench_bare(runtime, cases, progress)
        engine_ms = bench_engine(runtime, cases, progress)
        http_ms = bench_http(runtime, cases, progress)
        runtime.db.dispose()
    return {
        "benchmark": "engine",
        "cases": cases,
        "tasks_per_case": TASKS_PER_CASE,
        "database": runtime.db.dialect.name,
        "bare_ms_per_task": round(bare, 4),
        "engine_ms_per_task": round(engine_ms, 4),
        "http_ms_per_task": round(http_ms, 4),
        "overhead_ratio": round(engine_ms / bare, 3),
        "http_ratio": round(http_ms / bare, 3),
    }
