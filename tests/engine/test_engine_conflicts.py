"""Two people (or a person and the timer worker) acting on the same case at the same time.

Each "web process" is its own :class:`Runtime` on the same database, with its own workflow
cache. Threads are lined up with a barrier placed right after a command has loaded the case and
checked out its workflow, so both have read the same version before either writes.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from engine import clock
from engine.actors import Actor
from engine.errors import ConflictError, TaskNotOpen
from engine.runtime import CaseResult, EngineConfig, Runtime
from engine.store.models import AuditEvent, Case, Deadline, OpenTask
from tasks.registry import default_registry

PROCESS = "reclamacao"
PRELIM_RESOLVIDA = {"resultado_preliminar": "resolvida", "contato_descricao": "Resolvido por telefone (Ana)."}
PRELIM_NAO_RESOLVIDA = {"resultado_preliminar": "nao_resolvida", "contato_descricao": "Sem acordo (Caio)."}
CIP = {"cip_texto": "Solicitamos resposta em 10 dias.", "cip_email_fornecedor": "sac@lojaexemplo.com.br"}
RESPOSTA = {"resposta_fornecedor": "A loja vai trocar o produto.", "proposta_acordo": ""}  # no proposal: to analysis
# A CIP sent at the frozen clock's start (Monday 2 March 2026, 10:00 in São Paulo) is due at the end
# of its 10th day, Thursday 12 March (a working day), in São Paulo: 02:59:59.999999 UTC on the 13th.
CIP_DUE = dt.datetime.combine(dt.date(2026, 3, 12), dt.time.max,
                              tzinfo=ZoneInfo("America/Sao_Paulo")).astimezone(dt.UTC)
assert CIP_DUE == dt.datetime(2026, 3, 13, 2, 59, 59, 999999, tzinfo=dt.UTC)


@pytest.fixture
def make_runtime(database_url: str, frozen_clock: clock.FrozenClock) -> Iterator[Callable[[], Runtime]]:
    made: list[Runtime] = []

    def make() -> Runtime:
        rt = Runtime(EngineConfig(services=default_registry(), database_url=database_url))
        made.append(rt)
        return rt

    yield make
    for rt in made:
        rt.db.dispose()


def only_task(result: CaseResult, spec_name: str) -> OpenTask:
    assert [t.spec_name for t in result.open_tasks] == [spec_name]
    return result.open_tasks[0]


def load_case(rt: Runtime, case_id: int) -> Case:
    with rt.Session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case


def audit(rt: Runtime, case_id: int) -> list[AuditEvent]:
    with rt.Session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id)
                                    .order_by(AuditEvent.id)))


def open_rows(rt: Runtime, case_id: int) -> list[OpenTask]:
    with rt.Session() as session:
        return list(session.scalars(select(OpenTask).where(OpenTask.case_id == case_id).order_by(OpenTask.id)))


def cached_version(rt: Runtime, case_id: int) -> int | None:
    """The case version the runtime's in-memory cache holds (peeking, without taking it)."""
    entry = rt.cache._items.get(case_id)
    return None if entry is None else entry.version


def completions(rt: Runtime, case_id: int, task_id: str) -> list[AuditEvent]:
    return [e for e in audit(rt, case_id) if e.action == "tarefa_concluida" and e.task_id == task_id]


def deadline_rows(rt: Runtime, case_id: int) -> list[Deadline]:
    with rt.Session() as session:
        return list(session.scalars(select(Deadline).where(Deadline.case_id == case_id).order_by(Deadline.id)))


def legal_deadline(rt: Runtime, case_id: int) -> Deadline:
    """The case's single legal deadline (the CIP timer)."""
    [deadline] = [d for d in deadline_rows(rt, case_id) if d.kind == "legal"]
    return deadline


class Rendezvous:
    """Holds the named threads right after their first ``Runtime._checkout`` (the case is loaded
    and its workflow is in hand) until all of them got there; with ``first``, the other threads
    then also wait until ``first`` has finished its whole command, so who commits first is fixed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, names: tuple[str, ...], first: str | None = None) -> None:
        self.names = names
        self.first = first
        self.barrier = threading.Barrier(len(names), timeout=20)
        self.first_done = threading.Event()
        self.loaded_versions: dict[str, int] = {}
        self.results: dict[str, Any] = {}
        self.errors: dict[str, BaseException] = {}
        real_checkout = Runtime._checkout

        def checkout(rt: Runtime, *args: Any, **kwargs: Any) -> Any:
            loaded = real_checkout(rt, *args, **kwargs)
            name = threading.current_thread().name
            if name in self.names and name not in self.loaded_versions:
                self.loaded_versions[name] = loaded.version
                self.barrier.wait()
                if self.first is not None and name != self.first:
                    assert self.first_done.wait(20), "a primeira thread não terminou"
            return loaded

        monkeypatch.setattr(Runtime, "_checkout", checkout)

    def run(self, commands: Mapping[str, Callable[[], Any]]) -> None:
        def body(name: str, command: Callable[[], Any]) -> None:
            try:
                self.results[name] = command()
            except BaseException as error:  # noqa: BLE001 - reported to the test below
                self.errors[name] = error
            finally:
                if name == self.first:
                    self.first_done.set()

        threads = [threading.Thread(target=body, args=(name, command), name=name, daemon=True)
                   for name, command in commands.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
            assert not thread.is_alive(), f"thread {thread.name} travou"


# -- (a) sequential, two web processes ----------------------------------------------------------
def test_second_process_to_complete_a_task_is_told_who_did_it(
        runtime: Runtime, make_runtime: Callable[[], Runtime], atendente: Actor, atendente2: Actor,
        complaint: dict[str, str]) -> None:
    started = runtime.start_case(PROCESS, atendente, complaint)
    task = only_task(started, "atendimento_preliminar")
    web1, web2 = make_runtime(), make_runtime()
    # Both processes have shown the form (read the open task) before either submits.
    assert [t.task_id for t in open_rows(web1, started.case_id)] == [task.task_id]
    assert [t.task_id for t in open_rows(web2, started.case_id)] == [task.task_id]

    won = web1.complete_task(started.case_id, task.task_id, atendente, PRELIM_NAO_RESOLVIDA)
    with pytest.raises(ConflictError) as raised:
        web2.complete_task(started.case_id, task.task_id, atendente2, PRELIM_RESOLVIDA)
    assert isinstance(raised.value, TaskNotOpen)
    message = str(raised.value)
    assert "Ana Atendente" in message
    assert "02/03/2026 10:00" in message  # 13:00 UTC, shown in São Paulo time
    assert "Nada do que você enviou foi gravado" in message

    case = load_case(runtime, started.case_id)
    assert case.version == won.version
    assert case.status == "aberto"
    assert case.data["resultado_preliminar"] == "nao_resolvida"
    assert case.data["contato_descricao"] == PRELIM_NAO_RESOLVIDA["contato_descricao"]
    assert [t.spec_name for t in open_rows(runtime, started.case_id)] == ["emitir_cip"]
    [done] = completions(runtime, started.case_id, task.task_id)
    assert (done.actor, done.details["dados"]["resultado_preliminar"]) == ("ana", "nao_resolvida")
    assert "caio" not in {e.actor for e in audit(runtime, started.case_id)}


# -- (b) really at the same time -----------------------------------------------------------------
def test_concurrent_completion_has_exactly_one_winner(
        runtime: Runtime, make_runtime: Callable[[], Runtime], monkeypatch: pytest.MonkeyPatch,
        atendente: Actor, atendente2: Actor, complaint: dict[str, str]) -> None:
    started = runtime.start_case(PROCESS, atendente, complaint)
    task = only_task(started, "atendimento_preliminar")
    web1, web2 = make_runtime(), make_runtime()
    meeting = Rendezvous(monkeypatch, ("ana", "caio"), first="ana")
    meeting.run({
        "ana": lambda: web1.complete_task(started.case_id, task.task_id, atendente, PRELIM_NAO_RESOLVIDA),
        "caio": lambda: web2.complete_task(started.case_id, task.task_id, atendente2, PRELIM_RESOLVIDA),
    })

    # Both read the same version before either wrote.
    assert meeting.loaded_versions == {"ana": started.version, "caio": started.version}
    assert set(meeting.results) == {"ana"}
    assert set(meeting.errors) == {"caio"}
    assert isinstance(meeting.errors["caio"], ConflictError), repr(meeting.errors["caio"])

    won: CaseResult = meeting.results["ana"]
    case = load_case(runtime, started.case_id)
    assert case.version == won.version
    assert case.status == "aberto"  # caio's "resolvida" would have closed it
    assert case.data["resultado_preliminar"] == "nao_resolvida"
    assert [t.spec_name for t in open_rows(runtime, started.case_id)] == ["emitir_cip"]
    [done] = completions(runtime, started.case_id, task.task_id)
    assert done.actor == "ana"
    assert [e.action for e in audit(runtime, started.case_id)] == ["iniciado", "tarefa_concluida", "tarefa_concluida"]


@pytest.mark.parametrize("round_", range(3))
def test_free_race_advances_the_case_once(
        runtime: Runtime, make_runtime: Callable[[], Runtime], monkeypatch: pytest.MonkeyPatch,
        atendente: Actor, atendente2: Actor, complaint: dict[str, str], round_: int) -> None:
    """No ordering after the barrier: whoever the database lets write first wins."""
    started = runtime.start_case(PROCESS, atendente, complaint)
    task = only_task(started, "atendimento_preliminar")
    web1, web2 = make_runtime(), make_runtime()
    meeting = Rendezvous(monkeypatch, ("ana", "caio"))
    sent = {"ana": (atendente, PRELIM_NAO_RESOLVIDA), "caio": (atendente2, PRELIM_RESOLVIDA)}
    meeting.run({
        "ana": lambda: web1.complete_task(started.case_id, task.task_id, *sent["ana"]),
        "caio": lambda: web2.complete_task(started.case_id, task.task_id, *sent["caio"]),
    })

    assert meeting.loaded_versions == {"ana": started.version, "caio": started.version}
    assert len(meeting.results) == 1 and len(meeting.errors) == 1, (meeting.results, meeting.errors)
    [winner] = meeting.results
    [loser] = meeting.errors
    assert isinstance(meeting.errors[loser], ConflictError), repr(meeting.errors[loser])

    case = load_case(runtime, started.case_id)
    assert case.version == meeting.results[winner].version
    values = sent[winner][1]
    assert case.data["resultado_preliminar"] == values["resultado_preliminar"]
    assert case.data["contato_descricao"] == values["contato_descricao"]
    [done] = completions(runtime, started.case_id, task.task_id)
    assert done.actor == winner
    assert [e.actor for e in audit(runtime, started.case_id) if e.task_id == task.task_id] == [winner]
    if values is PRELIM_RESOLVIDA:
        assert (case.status, open_rows(runtime, started.case_id)) == ("encerrado", [])
    else:
        assert case.status == "aberto"
        assert [t.spec_name for t in open_rows(runtime, started.case_id)] == ["emitir_cip"]


@pytest.mark.parametrize("spec_name", ["atendimento_preliminar", "emitir_cip"])
def test_concurrent_identical_choices_conflict_cleanly(
        runtime: Runtime, make_runtime: Callable[[], Runtime], monkeypatch: pytest.MonkeyPatch,
        atendente: Actor, atendente2: Actor, complaint: dict[str, str], spec_name: str) -> None:
    """Both people take the same branch, so both runs open the same next task (and, after the CIP,
    the same deadline): the loser must get a ConflictError, not a database integrity error."""
    result = runtime.start_case(PROCESS, atendente, complaint)
    if spec_name == "emitir_cip":
        result = runtime.complete_task(result.case_id, only_task(result, "atendimento_preliminar").task_id,
                                       atendente, PRELIM_NAO_RESOLVIDA)
    task = only_task(result, spec_name)
    by_ana = {"atendimento_preliminar": {**PRELIM_NAO_RESOLVIDA, "contato_descricao": "Versão da Ana."},
              "emitir_cip": {**CIP, "cip_texto": "CIP escrita pela Ana."}}[spec_name]
    by_caio = {"atendimento_preliminar": {**PRELIM_NAO_RESOLVIDA, "contato_descricao": "Versão do Caio."},
               "emitir_cip": {**CIP, "cip_texto": "CIP escrita pelo Caio."}}[spec_name]
    web1, web2 = make_runtime(), make_runtime()
    meeting = Rendezvous(monkeypatch, ("ana", "caio"), first="ana")
    meeting.run({
        "ana": lambda: web1.complete_task(result.case_id, task.task_id, atendente, by_ana),
        "caio": lambda: web2.complete_task(result.case_id, task.task_id, atendente2, by_caio),
    })

    assert set(meeting.results) == {"ana"}, meeting.errors
    assert isinstance(meeting.errors.get("caio"), ConflictError), repr(meeting.errors.get("caio"))
    assert "Ana Atendente" in str(meeting.errors["caio"])
    case = load_case(runtime, result.case_id)
    assert case.version == meeting.results["ana"].version
    for key, value in by_ana.items():
        assert case.data[key] == value
    [done] = completions(runtime, result.case_id, task.task_id)
    assert done.actor == "ana"
    next_spec = {"atendimento_preliminar": "emitir_cip", "emitir_cip": "registrar_resposta"}[spec_name]
    [next_task] = open_rows(runtime, result.case_id)
    assert next_task.spec_name == next_spec
    # Each deadline exists once (the loser wrote none): the CIP's legal deadline once the CIP is sent...
    rows = deadline_rows(runtime, result.case_id)
    legal = [(d.spec_name, d.outcome) for d in rows if d.kind == "legal"]
    assert legal == ([("prazo_cip", None)] if spec_name == "emitir_cip" else [])
    # ...and one internal SLA per user task that opened: the ones done are met, the next one's runs.
    internal = sorted((d.spec_name, d.outcome) for d in rows if d.kind == "interno")
    if spec_name == "atendimento_preliminar":
        assert internal == [("atendimento_preliminar", "cumprido"), ("emitir_cip", None)]
        [running] = [d for d in rows if d.outcome is None]
        assert running.task_id == next_task.task_id
    else:
        assert internal == [("atendimento_preliminar", "cumprido"), ("emitir_cip", "cumprido")]
    ana_done = completions(runtime, result.case_id, task.task_id)[0].at
    [met] = [d for d in rows if d.kind == "interno" and d.spec_name == spec_name]
    assert met.met_at == ana_done


def test_timer_and_answer_at_the_same_moment(
        runtime: Runtime, make_runtime: Callable[[], Runtime], monkeypatch: pytest.MonkeyPatch,
        frozen_clock: clock.FrozenClock, atendente: Actor, complaint: dict[str, str]) -> None:
    """The deadline passes while the answer is being saved: the case takes one branch, never both."""
    result = runtime.start_case(PROCESS, atendente, complaint)
    result = runtime.complete_task(result.case_id, only_task(result, "atendimento_preliminar").task_id, atendente,
                                   PRELIM_NAO_RESOLVIDA)
    result = runtime.complete_task(result.case_id, only_task(result, "emitir_cip").task_id, atendente, CIP)
    answer = only_task(result, "registrar_resposta")
    frozen_clock.set(CIP_DUE + dt.timedelta(seconds=1))
    worker, web = make_runtime(), make_runtime()

    meeting = Rendezvous(monkeypatch, ("worker", "ana"), first="worker")
    meeting.run({
        "worker": worker.fire_due_timers,
        "ana": lambda: web.complete_task(result.case_id, answer.task_id, atendente, RESPOSTA),
    })
    assert meeting.results == {"worker": 1}
    assert isinstance(meeting.errors["ana"], ConflictError), repr(meeting.errors)

    events = [e.action for e in audit(runtime, result.case_id)]
    assert events.count("prazo_vencido") == 1
    assert completions(runtime, result.case_id, answer.task_id) == []
    case = load_case(runtime, result.case_id)
    assert case.data["resposta_fornecedor"] == "Fornecedor não respondeu à CIP no prazo."
    [analysis] = open_rows(runtime, result.case_id)
    assert analysis.spec_name == "analisar_reclamacao"
    deadline = legal_deadline(runtime, result.case_id)
    assert (deadline.outcome, deadline.met_at) == ("vencido", None)


@pytest.mark.parametrize("worker_held", ["after_listing", "after_loading"])
def test_answer_saved_first_makes_the_timer_skip_the_case(
        runtime: Runtime, make_runtime: Callable[[], Runtime], monkeypatch: pytest.MonkeyPatch,
        frozen_clock: clock.FrozenClock, atendente: Actor, complaint: dict[str, str], worker_held: str) -> None:
    """The worker found the case due, but the answer is saved first: the worker skips the case and
    writes nothing — whether it had only listed the case (its claim then finds the deadline met) or
    had already loaded the same version (its write then loses the version check)."""
    if worker_held == "after_loading" and runtime.db.dialect.name == "postgresql":
        pytest.skip("no PostgreSQL o trabalhador trava a linha do prazo (FOR UPDATE) antes de carregar o caso: "
                    "a resposta não pode ser gravada enquanto ele segura o caso carregado")
    result = runtime.start_case(PROCESS, atendente, complaint)
    result = runtime.complete_task(result.case_id, only_task(result, "atendimento_preliminar").task_id, atendente,
                                   PRELIM_NAO_RESOLVIDA)
    result = runtime.complete_task(result.case_id, only_task(result, "emitir_cip").task_id, atendente, CIP)
    answer = only_task(result, "registrar_resposta")
    frozen_clock.set(CIP_DUE + dt.timedelta(seconds=1))
    worker, web = make_runtime(), make_runtime()

    def save_answer() -> CaseResult:
        return web.complete_task(result.case_id, answer.task_id, atendente, RESPOSTA)

    if worker_held == "after_loading":
        meeting = Rendezvous(monkeypatch, ("worker", "ana"), first="ana")
        meeting.run({"worker": worker.fire_due_timers, "ana": save_answer})
        assert meeting.errors == {}
        results = meeting.results
    else:
        real_fire_case = Runtime._fire_case_timers
        saved: dict[str, CaseResult] = {}

        def answer_first(rt: Runtime, case_id: int) -> bool:
            if rt is worker and not saved:  # listed as due; the answer is saved before the worker acts
                saved["ana"] = save_answer()
            return real_fire_case(rt, case_id)

        monkeypatch.setattr(Runtime, "_fire_case_timers", answer_first)
        results = {"worker": worker.fire_due_timers()}
        results["ana"] = saved["ana"]
    assert results["worker"] == 0  # the case changed under it: skipped, nothing written
    assert results["ana"].version == load_case(runtime, result.case_id).version

    assert "prazo_vencido" not in [e.action for e in audit(runtime, result.case_id)]
    assert len(completions(runtime, result.case_id, answer.task_id)) == 1
    assert load_case(runtime, result.case_id).data["resposta_fornecedor"] == RESPOSTA["resposta_fornecedor"]
    deadline = legal_deadline(runtime, result.case_id)
    assert (deadline.outcome, deadline.fired_at) == ("cumprido", None)
    assert [t.spec_name for t in open_rows(runtime, result.case_id)] == ["analisar_reclamacao"]
    # The next run finds nothing left to fire.
    assert worker.fire_due_timers() == 0


def test_concurrent_claims_have_one_winner_named_in_the_error(
        runtime: Runtime, make_runtime: Callable[[], Runtime], monkeypatch: pytest.MonkeyPatch,
        atendente: Actor, atendente2: Actor, complaint: dict[str, str]) -> None:
    started = runtime.start_case(PROCESS, atendente, complaint)
    task = only_task(started, "atendimento_preliminar")
    web1, web2 = make_runtime(), make_runtime()

    # Line the claims up right after each has read the open task (still unassigned).
    barrier = threading.Barrier(2, timeout=20)
    first_done = threading.Event()
    real_open_task = Runtime._open_task

    def open_task(rt: Runtime, session: Any, case_id: int, task_id: str) -> OpenTask:
        row = real_open_task(rt, session, case_id, task_id)
        name = threading.current_thread().name
        if name in ("ana", "caio"):
            assert row.assignee is None
            barrier.wait()
            if name == "caio":
                assert first_done.wait(20)
        return row

    monkeypatch.setattr(Runtime, "_open_task", open_task)
    errors: dict[str, BaseException] = {}

    def claim(name: str, rt: Runtime, actor: Actor) -> None:
        try:
            rt.claim(started.case_id, task.task_id, actor)
        except BaseException as error:  # noqa: BLE001
            errors[name] = error
        finally:
            if name == "ana":
                first_done.set()

    threads = [threading.Thread(target=claim, args=("ana", web1, atendente), name="ana", daemon=True),
               threading.Thread(target=claim, args=("caio", web2, atendente2), name="caio", daemon=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive()

    assert set(errors) == {"caio"}
    assert isinstance(errors["caio"], ConflictError)
    assert "ana" in str(errors["caio"])
    assert "None" not in str(errors["caio"])
    [row] = open_rows(runtime, started.case_id)
    assert row.assignee == "ana"
    claimed = [e.actor for e in audit(runtime, started.case_id) if e.action == "tarefa_assumida"]
    assert claimed == ["ana"]


def test_concurrent_registrations_get_distinct_protocols(
        runtime: Runtime, make_runtime: Callable[[], Runtime], monkeypatch: pytest.MonkeyPatch,
        atendente: Actor, atendente2: Actor, complaint: dict[str, str]) -> None:
    """Two first registrations of the year at once: the protocol sequence row is created once."""
    import engine.runtime.cases as runtime_module

    web1, web2 = make_runtime(), make_runtime()
    barrier = threading.Barrier(2, timeout=20)
    real_next_protocol = runtime_module.next_protocol

    def next_protocol(session: Any, unit: str) -> str:
        if threading.current_thread().name in ("ana", "caio"):
            barrier.wait()
        return real_next_protocol(session, unit)

    monkeypatch.setattr(runtime_module, "next_protocol", next_protocol)
    results: dict[str, CaseResult] = {}
    errors: dict[str, BaseException] = {}

    def register(name: str, rt: Runtime, actor: Actor) -> None:
        try:
            results[name] = rt.start_case(PROCESS, actor, complaint)
        except BaseException as error:  # noqa: BLE001
            errors[name] = error

    threads = [threading.Thread(target=register, args=("ana", web1, atendente), name="ana", daemon=True),
               threading.Thread(target=register, args=("caio", web2, atendente2), name="caio", daemon=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive()

    assert errors == {}
    assert sorted(r.protocol for r in results.values()) == ["CAP-2026-000001", "CAP-2026-000002"]
    with runtime.Session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 2
    assert runtime.start_case(PROCESS, atendente, complaint).protocol == "CAP-2026-000003"


# -- (c) a stale cache never wins ------------------------------------------------------------------
def test_stale_cached_workflow_never_overwrites_a_newer_version(
        runtime: Runtime, make_runtime: Callable[[], Runtime], atendente: Actor, atendente2: Actor,
        complaint: dict[str, str]) -> None:
    web_a, web_b = make_runtime(), make_runtime()
    result = web_a.start_case(PROCESS, atendente, complaint)
    result = web_a.complete_task(result.case_id, only_task(result, "atendimento_preliminar").task_id, atendente,
                                 PRELIM_NAO_RESOLVIDA)
    stale_version = result.version
    cip_task = only_task(result, "emitir_cip")

    # B moves the case on; A's cache still holds the workflow at the old version.
    by_b = web_b.complete_task(result.case_id, cip_task.task_id, atendente2, CIP)
    assert by_b.version > stale_version
    assert cached_version(web_a, result.case_id) == stale_version

    # A acting on the task B already did: refused, B's work untouched.
    with pytest.raises(ConflictError, match="Caio Atendente"):
        web_a.complete_task(result.case_id, cip_task.task_id, atendente,
                            {"cip_texto": "Outro texto", "cip_email_fornecedor": "outro@loja.com.br"})
    case = load_case(runtime, result.case_id)
    assert case.version == by_b.version
    assert case.data["cip_texto"] == CIP["cip_texto"]

    # A acting on the task B's change opened: done on the fresh state, B's data kept.
    answer = only_task(by_b, "registrar_resposta")
    by_a = web_a.complete_task(result.case_id, answer.task_id, atendente, RESPOSTA)
    assert by_a.version > by_b.version
    only_task(by_a, "analisar_reclamacao")
    case = load_case(runtime, result.case_id)
    assert case.data["cip_texto"] == CIP["cip_texto"]
    assert case.data["cip_email_fornecedor"] == CIP["cip_email_fornecedor"]
    assert case.data["resposta_fornecedor"] == RESPOSTA["resposta_fornecedor"]
    assert [(e.action, e.task_spec, e.actor) for e in audit(runtime, result.case_id)] == [
        ("iniciado", None, "ana"),
        ("tarefa_concluida", "registrar_reclamacao", "ana"),
        ("tarefa_concluida", "atendimento_preliminar", "ana"),
        ("tarefa_concluida", "emitir_cip", "caio"),
        ("tarefa_concluida", "registrar_resposta", "ana"),
        ("etapas_automaticas", None, "ana"),  # the answer's date recorded
    ]

    # And B, whose cache is now the stale one, still sees A's change.
    assert cached_version(web_b, result.case_id) == by_b.version
    analysis = only_task(by_a, "analisar_reclamacao")
    analista = Actor("bia", "Bia Analista", frozenset({"analista"}))
    closed = web_b.complete_task(result.case_id, analysis.task_id, analista,
                                 {"desfecho": "resolvida", "fundamentacao": "Loja trocou o produto."})
    assert closed.status == "encerrado"
    case = load_case(runtime, result.case_id)
    assert case.outcome == "Encerrada: resolvida"
    assert case.data["resposta_fornecedor"] == RESPOSTA["resposta_fornecedor"]
    # Neither stale cache duplicated or reopened a deadline: each one once, all closed as met.
    assert sorted((d.kind, d.spec_name, d.outcome) for d in deadline_rows(runtime, result.case_id)) == [
        ("interno", "analisar_reclamacao", "cumprido"),
        ("interno", "atendimento_preliminar", "cumprido"),
        ("interno", "emitir_cip", "cumprido"),
        ("legal", "prazo_cip", "cumprido"),
    ]
