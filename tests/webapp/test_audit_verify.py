"""The audit chain as people meet it: ``procon audit verify`` run as a command, and the case page saying
whether the case's history verifies. Tampering is plain SQL on the database, behind the app's back."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import escape
from sqlalchemy import delete, select, text, update

from engine.actors import Actor
from engine.runtime import Runtime
from engine.store.audit_chain import SEALS
from engine.store.models import AuditEvent
from tests.support.web_helpers import client_for, staff_app
from tests.webapp.test_cli import procon

AUDIT = AuditEvent.__table__
SP = ZoneInfo("America/Sao_Paulo")
PRELIM = {"resultado_preliminar": "nao_resolvida", "contato_descricao": "Liguei para o SAC, sem solução."}


def events(rt: Runtime, case_id: int) -> list[Any]:
    with rt.db.connect() as conn:
        return list(conn.execute(select(AUDIT).where(AUDIT.c.case_id == case_id).order_by(AUDIT.c.id)))


def label(event: Any) -> str:
    return f"evento {event.id} ({event.at.astimezone(SP).strftime('%d/%m/%Y %H:%M')}, {event.action})"


def two_cases(rt: Runtime, atendente: Actor, complaint: dict[str, str]) -> tuple[Any, Any]:
    first = rt.start_case("reclamacao", atendente, complaint)
    rt.complete_task(first.case_id, first.open_tasks[0].task_id, atendente, PRELIM)
    second = rt.start_case("reclamacao", atendente, complaint)
    return first, second


def test_audit_verify_says_every_case_verifies_then_names_what_was_changed(
        database_url: str, runtime: Runtime, atendente: Actor, complaint: dict[str, str]) -> None:
    first, second = two_cases(runtime, atendente, complaint)
    ok = procon("audit", "verify", "--database-url", database_url)
    assert (ok.returncode, ok.stdout.strip()) == (0, "Todos os 2 casos conferem."), ok.stderr

    altered, gone = events(runtime, first.case_id)[1], events(runtime, second.case_id)[-1]
    kept = events(runtime, second.case_id)[-2]
    with runtime.db.begin() as conn:
        conn.execute(update(AUDIT).where(AUDIT.c.id == altered.id).values(description="Reescrito por fora"))
        conn.execute(delete(SEALS).where(SEALS.c.event_id == gone.id))
        conn.execute(delete(AUDIT).where(AUDIT.c.id == gone.id))
    result = procon("audit", "verify", "--database-url", database_url)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"caso {first.protocol}: {label(altered)} alterado",
        f"caso {second.protocol}: evento {gone.id} removido (era o último do histórico; depois do {label(kept)})",
    ]
    assert "2 de 2 casos com o histórico adulterado." in result.stderr


def test_audit_verify_asks_for_init_db_on_a_database_without_the_chain(
        database_url: str, runtime: Runtime, atendente: Actor, complaint: dict[str, str]) -> None:
    two_cases(runtime, atendente, complaint)
    with runtime.db.begin() as conn:
        conn.execute(text("DROP TABLE audit_seals"))
        conn.execute(text("DROP TABLE audit_heads"))
    result = procon("audit", "verify", "--database-url", database_url)
    assert result.returncode == 2 and "rode `procon init-db` antes" in result.stderr
    assert procon("init-db", "--database-url", database_url).returncode == 0  # seals the older history once
    again = procon("audit", "verify", "--database-url", database_url)
    assert (again.returncode, again.stdout.strip()) == (0, "Todos os 2 casos conferem."), again.stderr


def test_the_case_page_says_whether_its_history_verifies(
        runtime: Runtime, atendente: Actor, complaint: dict[str, str]) -> None:
    first, _ = two_cases(runtime, atendente, complaint)
    ana = client_for(staff_app(runtime, [("ana", "Ana Atendente", ["atendente"])]), "ana")
    page = ana.get(f"/casos/{first.case_id}").get_data(as_text=True)
    count = len(events(runtime, first.case_id))
    assert f"Histórico íntegro ({count} eventos conferidos)" in page
    assert "não confere" not in page

    target = events(runtime, first.case_id)[0]
    with runtime.db.begin() as conn:
        conn.execute(update(AUDIT).where(AUDIT.c.id == target.id).values(at=target.at - dt.timedelta(days=1)))
    page = ana.get(f"/casos/{first.case_id}").get_data(as_text=True)
    changed = events(runtime, first.case_id)[0]
    assert "Histórico íntegro" not in page
    assert "O histórico deste caso não confere com a cadeia de integridade" in page
    assert str(escape("E" + label(changed)[1:] + " alterado")) in page
    assert '<em class="selo selo-vencido">alterado</em>' in page
