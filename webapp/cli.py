"""The ``procon`` command: set up the database, validate diagrams, demo, serve, check the audit chain, benchmark."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from engine.forms.schema import FormError
from tasks.registry import default_registry


def _runtime(database_url: str | None = None):  # noqa: ANN202
    from engine.runtime import EngineConfig, Runtime

    return Runtime(EngineConfig(services=default_registry(), database_url=database_url))


@click.group(help="Procon Flow: procedimentos do Procon em BPMN.")
def main() -> None:
    pass


@main.command("init-db", help="Cria as tabelas e implanta os diagramas de workflows/ (só versões novas).")
@click.option("--database-url", envvar="DATABASE_URL", default=None, help="Padrão: instance/procon.sqlite3")
def init_db(database_url: str | None) -> None:
    from engine.errors import DefinitionError

    runtime = _runtime(database_url)
    try:
        definitions = runtime.init_db()
    except DefinitionError as error:
        click.echo(f"Diagramas com problemas; nada foi implantado:\n{error}", err=True)
        sys.exit(1)
    for definition in definitions:
        click.echo(f"{definition.process_id}: versão {definition.version} ({definition.content_hash[:12]})")
    click.echo(f"Banco pronto: {runtime.db.url.render_as_string(hide_password=True)}")


@main.command(help="Valida diagramas BPMN (padrão: todos em workflows/). Sai com código 1 se houver problema.")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    from engine.forms.schema import FormRegistry
    from engine.modeling.validation import validate_path
    from engine.runtime import EngineConfig

    config = EngineConfig()
    forms = FormRegistry(config.forms_dir)
    paths = list(files) or sorted(config.workflows_dir.glob("*.bpmn"))
    if not paths:
        click.echo("Nenhum diagrama para validar.", err=True)
        sys.exit(1)
    failed = False
    for path in paths:
        try:
            problems = validate_path(path, forms, services=default_registry())
        except FormError as error:
            problems = [f"{path}: formulário com problema: {error}"]
        if problems:
            failed = True
            for problem in problems:
                click.echo(f"ERRO {problem}", err=True)
        else:
            click.echo(f"ok   {path}")
    sys.exit(1 if failed else 0)


@main.command("create-user", help="Cria uma pessoa da equipe.")
@click.argument("username")
@click.option("--name", "full_name", required=True)
@click.option("--role", "roles", multiple=True, required=True, help="Repita para vários papéis.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--unit", default="CAP")
@click.option("--database-url", envvar="DATABASE_URL", default=None)
def create_user_command(username: str, full_name: str, roles: tuple[str, ...], password: str, unit: str,
                        database_url: str | None) -> None:
    from webapp.users import create_user

    runtime = _runtime(database_url)
    runtime.init_db()
    try:
        with runtime.Session.begin() as session:
            create_user(session, username, full_name, list(roles), password, unit=unit)
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    click.echo(f"Usuário {username} criado.")


def _serve(runtime, host: str, port: int, with_worker: bool) -> None:  # noqa: ANN001
    from engine.worker.scheduler import DeadlineWorker, build_scheduler
    from webapp import create_app

    app = create_app({"RUNTIME": runtime})
    if with_worker:
        scheduler = build_scheduler(DeadlineWorker(runtime))
        scheduler.start()
        click.echo("Trabalhador de prazos rodando neste processo (temporizadores, avisos, escalonamento).")
    app.run(host=host, port=port, threaded=True, use_reloader=False)


@main.command(help="Cria o banco, pessoas de demonstração e casos de exemplo, e abre em http://127.0.0.1:5000.")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
@click.option("--database-url", envvar="DATABASE_URL", default=None)
@click.option("--no-serve", is_flag=True, help="Só prepara os dados, sem subir o servidor.")
def demo(host: str, port: int, database_url: str | None, no_serve: bool) -> None:
    from webapp.demo.accounts import DEMO_PASSWORD, DEMO_USERS, ensure_portal_accounts, ensure_users
    from webapp.demo.cases import create_demo_cases

    runtime = _runtime(database_url)
    runtime.init_db()
    actors = ensure_users(runtime)
    created = create_demo_cases(runtime, actors)
    portal = ensure_portal_accounts(runtime)
    click.echo(f"Banco: {runtime.db.url.render_as_string(hide_password=True)} ({created} casos de exemplo criados)")
    click.echo(f"\nProcon Flow em http://{host}:{port}  — senha de todos: {DEMO_PASSWORD}")
    for username, name, _roles in DEMO_USERS:
        click.echo(f"  {username:<12} {name}")
    click.echo(f"\nPortal do consumidor e do fornecedor em http://{host}:{port}/portal/  — mesma senha:")
    for kind, email, name in portal:
        click.echo(f"  {email:<30} {name} ({kind})")
    click.echo("")
    if not no_serve:
        _serve(runtime, host, port, with_worker=True)


@main.command(help="Sobe a aplicação web (servidor embutido).")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
@click.option("--database-url", envvar="DATABASE_URL", default=None)
@click.option("--with-worker/--without-worker", default=True, show_default=True,
              help="Rodar o trabalhador de prazos no mesmo processo (desligue quando houver 'procon worker').")
def serve(host: str, port: int, database_url: str | None, with_worker: bool) -> None:
    runtime = _runtime(database_url)
    runtime.init_db()
    _serve(runtime, host, port, with_worker)


@main.command(help="Trabalhador de prazos (APScheduler): dispara temporizadores vencidos, avisa e escalona.")
@click.option("--database-url", envvar="DATABASE_URL", default=None)
@click.option("--once", is_flag=True, help="Faz uma rodada (inclusive o atraso acumulado) e sai, imprimindo JSON.")
@click.option("--warn-days", default=2, show_default=True, type=int, help="Avisar N dias úteis antes do vencimento.")
def worker(database_url: str | None, once: bool, warn_days: int) -> None:
    from engine.worker.scheduler import DeadlineWorker, WorkerConfig, build_scheduler

    runtime = _runtime(database_url)
    runtime.init_db()
    deadline_worker = DeadlineWorker(runtime, WorkerConfig(warn_business_days=warn_days))
    if once:
        click.echo(json.dumps(deadline_worker.run_once(), ensure_ascii=False))
        return
    click.echo(f"Trabalhador de prazos em {runtime.db.url.render_as_string(hide_password=True)} "
               f"(identificação {deadline_worker.holder}). Ctrl+C para parar.")
    scheduler = build_scheduler(deadline_worker, blocking=True)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        deadline_worker.release_lease()


@main.group(help="Histórico dos casos (trilha de auditoria encadeada por hash).")
def audit() -> None:
    pass


@audit.command("verify", help="Confere a cadeia de hashes do histórico de todos os casos. Sai com código 1 se "
                              "algum evento foi alterado, removido ou inserido.")
@click.option("--database-url", envvar="DATABASE_URL", default=None, help="Padrão: instance/procon.sqlite3")
def audit_verify(database_url: str | None) -> None:
    from sqlalchemy import inspect

    from engine.store import audit_chain
    from engine.store.db import make_engine

    engine = make_engine(database_url)
    try:
        if not inspect(engine).has_table(audit_chain.HEADS.name):
            click.echo("Este banco ainda não tem a cadeia do histórico: rode `procon init-db` antes.", err=True)
            sys.exit(2)
        with engine.connect() as conn:
            checks = audit_chain.verify(conn)
    finally:
        engine.dispose()
    broken = [check for check in checks if not check.ok]
    for check in broken:
        for problem in check.problems:
            click.echo(f"caso {check.protocol}: {problem.describe()}")
    if broken:
        click.echo(f"{len(broken)} de {len(checks)} casos com o histórico adulterado.", err=True)
        sys.exit(1)
    click.echo(f"Todos os {len(checks)} casos conferem.")


@main.group(help="Medições de desempenho (imprimem JSON).")
def bench() -> None:
    pass


@bench.command("engine", help="Caminho principal da reclamação: SpiffWorkflow puro x motor x HTTP.")
@click.option("--cases", default=1000, type=int, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Imprime só o objeto JSON.")
@click.option("--database-url", envvar="DATABASE_URL", default=None)
def bench_engine(cases: int, as_json: bool, database_url: str | None) -> None:
    from webapp.bench.engine import run_engine_bench

    result = run_engine_bench(cases, database_url, progress=not as_json)
    click.echo(json.dumps(result, indent=None if as_json else 2, ensure_ascii=False))


@bench.command("deadlines", help="Prazos em escala: N pendentes, rajada de vencimentos, recuperação após parada.")
@click.option("--pending", default=1_000_000, type=int, show_default=True, help="Prazos pendentes no banco.")
@click.option("--burst", default=10_000, type=int, show_default=True,
              help="Casos com prazo vencendo no mesmo instante.")
@click.option("--outage", default=5_000, type=int, show_default=True, help="Prazos vencidos durante 1 hora de parada.")
@click.option("--workers", default=None, type=int,
              help="Processos trabalhadores (padrão: 1 no SQLite, 2 no PostgreSQL).")
@click.option("--json", "as_json", is_flag=True, help="Imprime só o objeto JSON.")
@click.option("--database-url", envvar="DATABASE_URL", default=None, help="Use um banco só para a medição.")
def bench_deadlines(pending: int, burst: int, outage: int, workers: int | None, as_json: bool,
                    database_url: str | None) -> None:
    from webapp.bench.deadlines import run_deadline_bench

    if database_url and "sqlite" in database_url and (workers or 1) > 1:
        raise click.UsageError("No SQLite só um trabalhador dispara prazos por vez.")
    result = run_deadline_bench(pending, burst, outage, database_url, workers, progress=not as_json)
    click.echo(json.dumps(result, indent=None if as_json else 2, ensure_ascii=False))


@bench.command("dashboard", help="Painel, caixa de entrada e página do caso com o histórico de um estado.")
@click.option("--cases", default=1_000_000, type=int, show_default=True, help="Casos sintéticos gerados.")
@click.option("--repeat", default=3, type=int, show_default=True, help="Repetições de cada consulta do painel.")
@click.option("--samples", default=200, type=int, show_default=True,
              help="Amostras da caixa de entrada e da página do caso.")
@click.option("--json", "as_json", is_flag=True, help="Imprime só o objeto JSON.")
@click.option("--database-url", envvar="DATABASE_URL", default=None, help="Use um banco só para a medição.")
def bench_dashboard(cases: int, repeat: int, samples: int, as_json: bool, database_url: str | None) -> None:
    from webapp.bench.dashboard import run_dashboard_bench

    result = run_dashboard_bench(cases, database_url, progress=not as_json, repeat=repeat, samples=samples)
    click.echo(json.dumps(result, indent=None if as_json else 2, ensure_ascii=False))


if __name__ == "__main__":
    main()
