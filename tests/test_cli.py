"""The ``procon`` command as a person runs it: validate diagrams, set up the database, demo data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.models import Case, Deadline, Notification, OpenTask, ProcessDefinition, User
from engine.runtime import EngineConfig, Runtime
from engine.validation import library_of

ROOT = Path(__file__).resolve().parent.parent
GOOD = ROOT / "workflows" / "reclamacao.bpmn"


def procon(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "webapp.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_validate_accepts_the_shipped_diagrams() -> None:
    result = procon("validate")
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout and "reclamacao.bpmn" in result.stdout


def test_validate_names_file_element_and_problem_for_a_broken_diagram(tmp_path: Path) -> None:
    broken = tmp_path / "quebrado.bpmn"
    broken.write_text(GOOD.read_text().replace('camunda:formKey="emitir_cip"', 'camunda:formKey="nao_existe"'))
    result = procon("validate", str(GOOD), str(broken))
    assert result.returncode == 1
    assert f"ok   {GOOD}" in result.stdout
    line = next(line for line in result.stderr.splitlines() if "quebrado.bpmn" in line)
    assert "[emitir_cip]" in line and "O formulário 'nao_existe' não existe" in line
    expected_line = _line_of(broken, 'id="emitir_cip"')
    assert f"quebrado.bpmn:{expected_line}:" in line


def test_validate_reports_malformed_xml_with_its_line(tmp_path: Path) -> None:
    broken = tmp_path / "malformado.bpmn"
    broken.write_text(GOOD.read_text().replace("</bpmn:process>", "</bpmn:processo>"))
    result = procon("validate", str(broken))
    assert result.returncode == 1
    assert "XML malformado" in result.stderr and "malformado.bpmn:" in result.stderr


def _line_of(path: Path, needle: str) -> int:
    return next(number for number, text in enumerate(path.read_text().splitlines(), 1) if needle in text)


@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="usa um arquivo SQLite próprio")
def test_init_db_is_idempotent_and_demo_prepares_users_and_cases(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    first = procon("init-db", "--database-url", url)
    assert first.returncode == 0, first.stderr
    assert "reclamacao: versão 1" in first.stdout
    again = procon("init-db", "--database-url", url)
    assert "reclamacao: versão 1" in again.stdout and "versão 2" not in again.stdout
    demo = procon("demo", "--no-serve", "--database-url", url)
    assert demo.returncode == 0, demo.stderr
    assert "6 casos de exemplo criados" in demo.stdout and "atendente" in demo.stdout
    runtime = Runtime(EngineConfig(database_url=url))
    with runtime.Session() as session:
        versions = {d.process_id: d.version for d in session.scalars(select(ProcessDefinition))}
        assert versions.keys() == library_of(ROOT / "workflows").keys()  # every procedure, deployed once
        assert set(versions.values()) == {1}
        assert session.scalar(select(func.count(User.id))) >= 8
        statuses = sorted(session.scalars(select(Case.status)))
        assert statuses.count("encerrado") == 1 and statuses.count("aberto") == 5
        waiting = {t.spec_name for t in session.scalars(select(OpenTask))}
        assert {"atendimento_preliminar", "registrar_resposta", "analisar_reclamacao",
                "realizar_audiencia"} <= waiting
        # The worker ran once: the oldest CIP fired, a close deadline was warned, an overdue task escalated.
        kinds = sorted(n.kind for n in session.scalars(select(Notification)))
        assert kinds == ["aviso_prazo", "escalonamento"]
        assert session.scalar(select(func.count(Deadline.id)).where(Deadline.outcome == "vencido")) == 1
    runtime.db.dispose()


def test_bench_engine_prints_one_json_object(tmp_path: Path) -> None:
    result = procon("bench", "engine", "--cases", "3", "--json",
                    env={"DATABASE_URL": f"sqlite:///{tmp_path / 'bench.sqlite3'}"})
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["cases"] == 3 and figures["database"] == "sqlite"
    for key in ("bare_ms_per_task", "engine_ms_per_task", "http_ms_per_task", "overhead_ratio"):
        assert figures[key] > 0
    assert figures["overhead_ratio"] == pytest.approx(figures["engine_ms_per_task"] / figures["bare_ms_per_task"],
                                                      rel=0.01)
