"""The plain-language sentences of "o que acontece agora", the deadlines a party sees and its timeline
(engine.parties.party_view: a pure module, so these tests need no database)."""

from __future__ import annotations

import datetime as dt

from engine.parties.party_view import (
    DeadlineFact,
    TaskFact,
    concerning_deadlines,
    next_steps,
    remaining_text,
    timeline_entry,
)

# Monday 2 March 2026, 10:00 in São Paulo (13:00 UTC).
NOW = dt.datetime(2026, 3, 2, 13, 0, tzinfo=dt.UTC)


def end_of_day(day: int, month: int = 3) -> dt.datetime:
    """23:59 in São Paulo (UTC-3) of that day."""
    return dt.datetime(2026, month, day, 23, 59, tzinfo=dt.UTC) + dt.timedelta(hours=3)


def test_your_turn_first_with_the_date_and_days_left() -> None:
    tasks = [TaskFact("Analisar reclamação", "analista", end_of_day(20), "analisar_reclamacao", "t-staff"),
             TaskFact("Avaliar a proposta do fornecedor", "consumidor", end_of_day(12), "avaliar_proposta", "t-1")]
    steps = next_steps("consumidor", "aberto", None, tasks, [], NOW)
    assert [s.kind for s in steps] == ["sua_vez", "procon"]
    assert steps[0].text == ("É a sua vez: Avaliar a proposta do fornecedor. Responda até 12/03/2026 "
                             "(faltam 10 dias).")
    assert steps[0].days_left == 10 and steps[0].task_id == "t-1"
    assert steps[1].text == "Aguardando o Procon: Analisar reclamação, previsto até 20/03/2026."


def test_the_due_date_of_a_party_task_comes_from_its_boundary_timer() -> None:
    tasks = [TaskFact("Responder à CIP", "fornecedor", None, "registrar_resposta", "t-2")]
    deadlines = [DeadlineFact("Prazo de resposta à CIP", end_of_day(3), "registrar_resposta")]
    supplier = next_steps("fornecedor", "aberto", None, tasks, deadlines, NOW)
    assert supplier[0].text == "É a sua vez: Responder à CIP. Responda até 03/03/2026 (falta 1 dia)."
    consumer = next_steps("consumidor", "aberto", None, tasks, deadlines, NOW)
    assert [(s.kind, s.text) for s in consumer] == [
        ("outra_parte", "Aguardando a empresa: Responder à CIP, até 03/03/2026.")]


def test_due_today_and_overdue_are_said_plainly() -> None:
    today = [TaskFact("Confirmar presença na audiência", "consumidor", end_of_day(2), "confirmar", "t")]
    assert next_steps("consumidor", "aberto", None, today, [], NOW)[0].text.endswith("(vence hoje).")
    late = [TaskFact("Confirmar presença na audiência", "consumidor", end_of_day(27, 2), "confirmar", "t")]
    text = next_steps("consumidor", "aberto", None, late, [], NOW)[0].text
    assert text == ("É a sua vez: Confirmar presença na audiência. O prazo terminou em 27/02/2026 "
                    "(venceu há 3 dias); responda assim que puder.")
    assert remaining_text(end_of_day(1), NOW) == "venceu há 1 dia"


def test_the_supplier_reads_about_the_consumer_and_a_task_without_date() -> None:
    tasks = [TaskFact("Avaliar a proposta do fornecedor", "consumidor", None, "avaliar_proposta", "t")]
    steps = next_steps("fornecedor", "aberto", None, tasks, [], NOW)
    assert steps[0].text == "Aguardando o consumidor: Avaliar a proposta do fornecedor."
    assert steps[0].due_at is None and steps[0].days_left is None


def test_no_open_task_waits_for_the_deadline_or_for_the_procon() -> None:
    deadline = DeadlineFact("Prazo de ciência da notificação", end_of_day(12), None)
    steps = next_steps("consumidor", "aberto", None, [], [deadline], NOW)
    assert steps[0].kind == "prazo"
    assert steps[0].text == ("Aguardando o prazo “Prazo de ciência da notificação”, que termina em 12/03/2026. "
                             "Depois dele, o caso segue automaticamente.")
    nothing = next_steps("consumidor", "aberto", None, [], [], NOW)
    assert nothing[0].text.startswith("O Procon está dando andamento ao caso.")


def test_a_closed_case_says_when_and_how_it_ended() -> None:
    closed = dt.datetime(2026, 3, 6, 12, 0, tzinfo=dt.UTC)
    steps = next_steps("consumidor", "encerrado", "Encerrada: resolvida por acordo", [], [], NOW, closed_at=closed)
    assert [(s.kind, s.text) for s in steps] == [
        ("encerrado", "Este caso foi encerrado em 06/03/2026: resolvida por acordo.")]
    assert next_steps("consumidor", "encerrado", None, [], [], NOW)[0].text == "Este caso foi encerrado."


def test_deadlines_that_concern_the_party() -> None:
    tasks = [TaskFact("Avaliar a proposta do fornecedor", "consumidor", end_of_day(16), "avaliar_proposta", "t"),
             TaskFact("Analisar reclamação", "analista", end_of_day(20), "analisar_reclamacao", "s")]
    deadlines = [DeadlineFact("Prazo para avaliar a proposta", end_of_day(16), "avaliar_proposta"),
                 DeadlineFact("Prazo interno de análise", end_of_day(10), "analisar_reclamacao", kind="interno"),
                 DeadlineFact("Prazo de resposta à CIP", end_of_day(1), "registrar_resposta",
                              legal_basis="CDC, art. 55")]
    lines = concerning_deadlines("consumidor", tasks, deadlines, NOW)
    assert [(line.name, line.date, line.days_left, line.overdue, line.yours) for line in lines] == [
        ("Prazo de resposta à CIP", "01/03/2026", -1, True, False),
        ("Prazo para avaliar a proposta", "16/03/2026", 14, False, True),
    ]  # the internal deadline is not shown; the task's own due date is covered by its timer
    assert lines[0].legal_basis == "CDC, art. 55"
    own_only = concerning_deadlines("consumidor", tasks[:1], [], NOW)
    assert [(line.name, line.yours) for line in own_only] == [
        ("Prazo para: Avaliar a proposta do fornecedor", True)]


def test_timeline_hides_staff_names_and_internal_events() -> None:
    kinds = {"portal:1": "consumidor", "portal:2": "fornecedor"}
    entry = timeline_entry("tarefa_concluida", "Tarefa concluída: Registrar reclamação", NOW, "portal:1",
                           "portal:1", kinds)
    assert (entry.who, entry.text) == ("Você", "Registrar reclamação: concluído.")
    staff = timeline_entry("tarefa_concluida", "Tarefa concluída: Emitir CIP ao fornecedor", NOW, "ana",
                           "portal:1", kinds)
    assert (staff.who, staff.text) == ("Procon", "Emitir CIP ao fornecedor: concluído.")
    supplier = timeline_entry("tarefa_concluida", "Tarefa concluída: Responder à CIP", NOW, "portal:2",
                              "portal:1", kinds)
    assert supplier.who == "A empresa"
    assert timeline_entry("tarefa_assumida", "Tarefa assumida: Analisar", NOW, "bia", "portal:1", kinds) is None
    assert timeline_entry("tarefa_redistribuida", "Tarefa redistribuída para bia: motivo interno", NOW, "gil",
                          "portal:1", kinds) is None
    closed = timeline_entry("encerrado", "Encerrada: resolvida por acordo", NOW, "portal:1", "portal:1", kinds)
    assert (closed.who, closed.text) == ("Procon", "Encerrada: resolvida por acordo.")
