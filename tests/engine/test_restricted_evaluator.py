"""The restricted evaluator beyond the escape catalogue (tests/engine/test_restricted_payloads.py): what
diagrams legitimately do keeps working, and what only the data decide — a loop's end, a value's size —
is stopped at run time with a Portuguese reason, in any thread."""

from __future__ import annotations

import subprocess
import sys
import threading
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from engine.actors import Actor
from engine.errors import ProcedureError
from engine.forms.schema import FormRegistry
from engine.modeling.validation import library_of, validate_bytes, validate_path
from engine.runtime import Runtime
from engine.runtime.restricted import RestrictedEnvironment, _compiled, check
from engine.runtime.restricted_guards import ScriptRefused
from engine.runtime.restricted_names import catchable, guarded_getattr
from engine.runtime.scripting import SCRIPT_GLOBALS
from engine.store.models import OpenTask
from tasks.registry import default_registry
from tests.engine.test_restricted_payloads import CIP, deploy, diagram
from tests.support.paths import REPO_ROOT


@pytest.fixture
def environment() -> RestrictedEnvironment:
    return RestrictedEnvironment(dict(SCRIPT_GLOBALS), time_limit=0.3)


def run(environment: RestrictedEnvironment, script: str, **data: Any) -> dict[str, Any]:
    environment.execute(script, data)
    return data


def refused(environment: RestrictedEnvironment, script: str, **data: Any) -> str:
    with pytest.raises(ScriptRefused) as error:
        environment.execute(script, data)
    return str(error.value)


# -- what diagrams do ---------------------------------------------------------------------------------------
def test_what_the_shipped_diagrams_write_keeps_working(environment: RestrictedEnvironment) -> None:
    data = run(environment, """
def dia_local(momento):
    return (datetime.fromisoformat(momento) - timedelta(hours=12)).date().isoformat()


def reais(valor):
    texto = f"{Decimal(valor):,.2f}"
    return "R$ " + texto.replace(",", "X").replace(".", ",").replace("X", ".")

dia = dia_local('2026-03-13T02:59:59+00:00')
dias = (date.fromisoformat('2026-03-20') - date.fromisoformat(dia)).days
multa = str((Decimal('1000') * Decimal('1.0641')).quantize(Decimal('0.01'), ROUND_HALF_UP))
texto = reais(multa)
hora = f"{int('9'):02d}:{int('5'):02d}"
faltam = [nome for nome in ('a', 'b', 'c') if not dado(nome)]
opcional = dado('inexistente', 'padrão')
if existe('velho'):
    del velho
ocorrencias = {'acordo': 'Com acordo.'}
termo = 'Presentes: ' + ocorrencias['acordo']
termo += '\\n\\nObrigações.'
lista = sorted([3, 1, 2], key=lambda n: -n)
total = sum(n for n in range(4)) + max(1, 2) + min(abs(-3), 4) + len('abc') + round(2.5)
pares = dict(zip(['x', 'y'], [1, 2]))
primeiro, *resto = [1, 2, 3]
e_decimal = isinstance(Decimal(1), Decimal) and not isinstance(1, Decimal)
try:
    raise ValueError('sem dados')
except ValueError as erro:
    mensagem = str(erro)
porcento = '%05.1f%%' % 12.345
del ocorrencias
""", a=1, b="", velho="x")
    assert (data["dia"], data["dias"], data["multa"], data["texto"]) == ("2026-03-12", 8, "1064.10", "R$ 1.064,10")
    assert (data["hora"], data["faltam"], data["opcional"], "velho" in data) == ("09:05", ["b", "c"], "padrão", False)
    assert data["termo"] == "Presentes: Com acordo.\n\nObrigações."
    assert (data["lista"], data["total"], data["pares"], data["resto"]) == ([3, 2, 1], 16, {"x": 1, "y": 2}, [2, 3])
    assert (data["e_decimal"], data["mensagem"], data["porcento"]) == (True, "sem dados", "012.3%")
    assert "dia_local" not in data and "__builtins__" not in data  # functions and builtins are not case data


def test_conditions_and_timer_expressions(environment: RestrictedEnvironment) -> None:
    assert environment.evaluate("desfecho == 'audiencia' and not recurso", {"desfecho": "audiencia", "recurso": 0})
    assert environment.evaluate("multa_situacao in ('paga', 'inscrita_divida_ativa')", {"multa_situacao": "paga"})
    assert environment.evaluate("bool(pendencia)", {"pendencia": None}) is False
    assert environment.evaluate("f'{d:%Y}'", {"d": __import__("datetime").date(2026, 3, 2)}) == "2026"
    assert environment.evaluate("valor * 3", {"valor": Decimal("1.5")}) == Decimal("4.5")


def test_a_helper_still_cannot_be_overwritten_by_case_data(environment: RestrictedEnvironment) -> None:
    with pytest.raises(ValueError, match="prazo_dias"):
        environment.execute("x = 1", {"prazo_dias": 20})


def test_every_shipped_diagram_passes_validation() -> None:
    forms, library = FormRegistry(REPO_ROOT / "forms"), library_of(REPO_ROOT / "workflows")
    for path in sorted((REPO_ROOT / "workflows").glob("*.bpmn")):
        assert validate_path(path, forms, library, services=default_registry()) == [], path.name


def test_compiled_code_is_cached_per_text() -> None:
    check("cache_de_teste == 1")
    hits = _compiled.cache_info().hits
    assert check("cache_de_teste == 1") is None
    assert _compiled.cache_info().hits == hits + 1


# -- stopped at run time: time --------------------------------------------------------------------------------
TIME = "o código passou do tempo limite de 0.3 s"


@pytest.mark.parametrize("script", [
    "while n:\n    pass",
    "try:\n    while n:\n        pass\nexcept:\n    pass\nx = 1",
    "try:\n    while n:\n        pass\nexcept Exception:\n    pass\nx = 1",
    "try:\n    while n:\n        pass\nfinally:\n    while n:\n        pass",
    "def f():\n    try:\n        f()\n    except Exception:\n        f()\nf()",
    "def g():\n    while n:\n        yield 1\nx = sum(g())",
    "x = [1 for a in range(10**6) for b in range(10**6)]",
    "for a in range(10**6):\n    for b in range(10**6):\n        try:\n            pass\n"
    "        except Exception:\n            pass",
    "f = lambda k: f(k) if k else 0\ntry:\n    f(n)\nexcept RecursionError:\n    while n:\n        n = n",
], ids=["while", "bare-except", "except-exception", "finally", "recursion-tree", "generator", "comprehension",
        "nested-for", "lambda-then-loop"])
def test_endless_code_is_stopped_and_cannot_catch_the_stop(environment: RestrictedEnvironment, script: str) -> None:
    assert TIME in refused(environment, script, n=1)


def test_the_time_limit_works_in_any_thread(environment: RestrictedEnvironment) -> None:
    outcome: list[str] = []

    def worker() -> None:
        try:
            environment.execute("while n:\n    pass", {"n": 1})
        except ScriptRefused as error:
            outcome.append(str(error))

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(outcome) == 3 and all(TIME in message for message in outcome)


# -- stopped at run time: size ---------------------------------------------------------------------------------
@pytest.mark.parametrize("script", [
    "x = 'a' * n",
    "x = [0] * n",
    "x = n ** n",
    "x = 1 << n",
    "x = range(n)",
    "x = 'a'.ljust(n)",
    "x = '%*d' % (n, 1)",
    "x = f'{1:>{n}}'",
    "x = Decimal(grande)",
    "s = 'ab' * 1000\nwhile n:\n    s = s.replace('a', s)",
    "s = 'ab' * 1000\nwhile n:\n    s = f'{s}{s}'",
    "s = 'ab' * 1000\nwhile n:\n    s = s + s",
    "s = 'ab' * 1000\nwhile n:\n    s += s",
    "l = [0] * 1000\nwhile n:\n    l.extend(l)",
    "l = [0] * 1000\nwhile n:\n    l = [*l, *l]",
    "s = 'ab' * 1000\nwhile n:\n    s = '-'.join([s, s])",
    "x = sum([[0]] * 10, [])",
    "x = str.ljust('a', n)",
    "x = (1).to_bytes(n, 'big')",
], ids=["repeat-text", "repeat-list", "power", "shift", "range", "ljust", "percent-width", "fstring-width",
        "decimal-exponent", "replace-chain", "fstring-doubling", "concat-doubling", "iadd-doubling",
        "extend-doubling", "unpack-doubling", "join-doubling", "sum-of-lists", "unbound-method", "to-bytes"])
def test_values_sized_by_the_data_are_refused_before_they_grow(environment: RestrictedEnvironment,
                                                               script: str) -> None:
    message = refused(environment, script, n=10**10, grande="1e999999")
    assert TIME not in message
    reasons = ("grande demais", "não é permitid", "sum só soma", "no próprio valor")
    assert any(reason in message for reason in reasons), message


def test_memory_growth_stops_the_code() -> None:
    """In a fresh process (the peak memory of this one is unknown): 64 MB more than at the start is the end."""
    program = (
        "from engine.runtime.restricted_guards import Budget, ScriptRefused, run\n"
        "from engine.runtime.restricted import compile_restricted_code\n"
        "from engine.runtime.restricted_names import SAFE_BUILTINS\n"
        "import engine.runtime.restricted_guards as guards\n"
        "guards.MEMORY_BUDGET_BYTES = 64 * 2**20\n"
        "Budget.__init__.__defaults__ = (guards.MEMORY_BUDGET_BYTES,)\n"
        "code = compile_restricted_code(\"s = 'a' * 500000\\nl = []\\nwhile n:\\n    l.append(s + str(len(l)))\","
        " 'exec')\n"
        "try:\n"
        "    run(code, {'n': 1, '__builtins__': SAFE_BUILTINS}, 60)\n"
        "except ScriptRefused as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", program], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                          check=True)
    assert "passou do limite de memória (64 MB)" in done.stdout, done.stderr


# -- guards, directly --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["__class__", "__globals__", "gi_frame", "f_back", "tb_frame", "co_code", "format",
                                  "format_map", "mro"])
def test_the_attribute_guard_refuses_internals(name: str) -> None:
    with pytest.raises(ScriptRefused):
        guarded_getattr("texto", name)


def test_except_clauses_catch_exceptions_only() -> None:
    assert catchable(None) is Exception
    assert catchable((ValueError, BaseException, KeyboardInterrupt, 3)) == (ValueError,)


# -- through the Runtime -----------------------------------------------------------------------------------------
def test_a_case_whose_script_never_ends_fails_and_writes_nothing(runtime: Runtime, atendente: Actor,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime.definitions, "validate", lambda *args, **kwargs: [])
    monkeypatch.setattr(runtime.script_engine.environment, "time_limit", 0.2)
    deploy(runtime, diagram("sem_fim", script="n = 1\nwhile n:\n    pass"), "sem_fim")
    result = runtime.start_case("sem_fim", atendente)
    [abrir] = result.open_tasks
    with pytest.raises(ProcedureError, match="Roteiro.*Script recusado: o código passou do tempo limite de 0.2 s"):
        runtime.complete_task(result.case_id, abrir.task_id, atendente, CIP)
    with runtime.Session() as session:  # the case is where it was
        still = session.scalars(select(OpenTask.spec_name).where(OpenTask.case_id == result.case_id)).all()
    assert still == ["abrir"]


def test_code_inside_an_embedded_subprocess_is_validated_too() -> None:
    inner = """<bpmn:subProcess id="etapa" name="Etapa">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:startEvent id="etapa_inicio"><bpmn:outgoing>e1</bpmn:outgoing></bpmn:startEvent>
      <bpmn:scriptTask id="etapa_roteiro" name="Roteiro interno" scriptFormat="python">
        <bpmn:incoming>e1</bpmn:incoming><bpmn:outgoing>e2</bpmn:outgoing>
        <bpmn:script>import os</bpmn:script>
      </bpmn:scriptTask>
      <bpmn:endEvent id="etapa_fim"><bpmn:incoming>e2</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="e1" sourceRef="etapa_inicio" targetRef="etapa_roteiro" />
      <bpmn:sequenceFlow id="e2" sourceRef="etapa_roteiro" targetRef="etapa_fim" />
    </bpmn:subProcess>"""
    text = diagram().decode()
    closing = "</bpmn:scriptTask>"
    start, end = text.index('<bpmn:scriptTask id="roteiro"'), text.index(closing) + len(closing)
    text = (text[:start] + inner + text[end:]).replace('targetRef="roteiro"', 'targetRef="etapa"').replace(
        'sourceRef="roteiro"', 'sourceRef="etapa"')
    problems = validate_bytes(text.encode(), "carga.bpmn", FormRegistry(REPO_ROOT / "forms"),
                              services=default_registry())
    assert [(p.element_id, p.message.split(":")[0]) for p in problems] == [("etapa_roteiro", "Script não permitido")]
