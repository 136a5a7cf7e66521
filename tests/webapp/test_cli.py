"""The ``procon`` command as a person runs it: validate diagrams, set up the database, demo data."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.modeling.validation import library_of
from engine.runtime import EngineConfig, Runtime
from engine.store.models import Case, Deadline, Document, ExternalJob, Notification, OpenTask, ProcessDefinition, User
from tasks.registry import default_registry
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
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
    # No SMTP server (as on a fresh machine): the e-mail the demo leaves to the worker becomes an incident.
    demo = procon("demo", "--no-serve", "--database-url", url, env={"PROCON_SMTP_HOST": ""})
    assert demo.returncode == 0, demo.stderr
    created = re.search(r"\((\d+) casos de exemplo criados\)", demo.stdout)
    assert created and "atendente" in demo.stdout
    assert "maria.santos@example.com" in demo.stdout and "juridico@viagenssol.example" in demo.stdout
    runtime = Runtime(EngineConfig(services=default_registry(), database_url=url))
    with runtime.Session() as session:
        versions = {d.process_id: d.version for d in session.scalars(select(ProcessDefinition))}
        assert versions.keys() == library_of(ROOT / "workflows").keys()  # every procedure, deployed once
        assert set(versions.values()) == {1}
        assert session.scalar(select(func.count(User.id))) >= 8
        cases = {case.id: case for case in session.scalars(select(Case))}
        assert len(cases) == int(created.group(1))
        # The portal accounts answer for the demo cases' parties: Maria has the proposal to evaluate.
        from engine.parties.accounts import actor_for_account
        from engine.parties.case_parties import visible_case_ids
        from engine.parties.models import PortalAccount

        maria = session.scalars(select(PortalAccount).where(PortalAccount.email == "maria.santos@example.com")).one()
        mine = set(session.scalars(visible_case_ids(actor_for_account(session, maria))))
        assert any(t.spec_name == "avaliar_proposta" for t in session.scalars(select(OpenTask))
                   if t.case_id in mine)

        # A case in every procedure a person starts; the called ones (notificacao, recurso_multa, the document
        # helper) run inside them and are checked through their tasks, data and documents below.
        called = {name for path in (ROOT / "workflows").glob("*.bpmn")
                  for name in re.findall(r'calledElement="([^"]+)"', path.read_text())}
        started = (versions.keys() - called) | {"reclamacao", "fiscalizacao", "processo_sancionatorio", "audiencia"}
        assert started <= {case.process_id for case in cases.values()}

        # The complaints: one closed, six open, in their different steps (one waits for the consumer).
        complaints = sorted(c.status for c in cases.values() if c.process_id == "reclamacao")
        assert complaints.count("encerrado") == 1 and complaints.count("aberto") == 6
        open_tasks = list(session.scalars(select(OpenTask)))
        waiting = {(cases[t.case_id].process_id, t.role, t.spec_name) for t in open_tasks}
        assert {("reclamacao", "atendente", "atendimento_preliminar"),
                ("reclamacao", "fornecedor", "registrar_resposta"), ("reclamacao", "analista", "analisar_reclamacao"),
                ("reclamacao", "conciliador", "realizar_audiencia"),
                ("reclamacao", "consumidor", "avaliar_proposta")} <= waiting

        # What each role finds: denúncias to triage and to inspect, an auto to draw up, a notice to record as
        # read, the defence deadline running, a decision to take, an appeal window running, an appeal under
        # analysis (recurso_multa inside a sanctioning case) and a hearing scheduled.
        assert {("fiscalizacao", "analista", "triagem_denuncia"), ("fiscalizacao", "fiscal", "realizar_fiscalizacao"),
                ("fiscalizacao", "fiscal", "lavrar_auto"),
                ("processo_sancionatorio", "atendente", "registrar_ciencia"),
                ("processo_sancionatorio", "autoridade", "decidir_primeira_instancia"),
                ("processo_sancionatorio", "fornecedor", "receber_recurso"),
                ("processo_sancionatorio", "analista", "analisar_recurso"),
                ("audiencia", "conciliador", "realizar_audiencia")} <= waiting
        assert "registrar_defesa" in {spec for _process, role, spec in waiting if role == "fornecedor"}
        running = {d.spec_name for d in session.scalars(select(Deadline).where(
            Deadline.kind == "legal", Deadline.fired_at.is_(None), Deadline.met_at.is_(None)))}
        assert {"prazo_defesa", "prazo_recurso", "prazo_ciencia"} <= running
        [appeal] = [cases[t.case_id] for t in open_tasks if t.spec_name == "analisar_recurso"]
        assert (appeal.data["recurso_interposto"], appeal.data["recurso_tempestivo"]) == (True, True)
        assert (appeal.data["multa_suspensa"], appeal.data["multa_situacao"]) == (True, "suspensa_por_recurso")
        [window] = [cases[t.case_id] for t in open_tasks if t.spec_name == "receber_recurso"]
        assert Decimal(window.data["multa_valor"]) > 0

        # Real documents (autos de infração, decisions) with verification codes, referenced by their cases.
        documents = list(session.scalars(select(Document)))
        assert {"auto_infracao", "decisao"} <= {d.kind for d in documents}
        assert all(d.pdf.startswith(b"%PDF") and d.verification_code for d in documents)
        assert len({d.verification_code for d in documents}) == len(documents)
        referenced = {value["codigo"] for case in cases.values() for key, value in case.data.items()
                      if key.startswith("documento_") and isinstance(value, dict) and "codigo" in value}
        assert {d.verification_code for d in documents} <= referenced

        # The worker ran once: the oldest CIP fired, a close deadline was warned, an overdue task escalated, and
        # the e-mail left to it stopped on an incident (no SMTP) for the administrator's "Incidentes".
        kinds = sorted(n.kind for n in session.scalars(select(Notification)))
        assert kinds == ["aviso_prazo", "escalonamento", "incidente"]
        fired = list(session.scalars(select(Deadline).where(Deadline.outcome == "vencido")))
        assert [(cases[d.case_id].process_id, d.spec_name) for d in fired] == [("reclamacao", "prazo_cip")]
        [incident] = session.scalars(select(ExternalJob).where(ExternalJob.status != "concluido"))
        assert (incident.topic, incident.status) == ("enviar_email", "incidente")
        assert "PROCON_SMTP_HOST" in incident.last_error
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
