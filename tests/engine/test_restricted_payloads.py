"""Escape payloads against the restricted evaluator (issue 13, finding 1), in every place diagram code
can live: a script task, a pre-script and a post-script (``spiffworkflow:preScript``/``postScript``), a
gateway condition, a timer expression and ``camunda:dueDate``.

Each payload is refused three times: at "Validar" (the problem names the element and says why, in
Portuguese), by the evaluator itself, and in a real case run by the Runtime from a diagram that reached the
database without validation (as a version deployed before the evaluator existed would have).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import pytest
from SpiffWorkflow.exceptions import WorkflowException

from engine.actors import Actor
from engine.errors import ProcedureError
from engine.forms.schema import FormRegistry
from engine.modeling.validation import validate_bytes
from engine.runtime import Runtime
from engine.runtime.restricted import check
from engine.runtime.restricted_guards import ScriptRefused
from engine.runtime.scripting import make_script_engine
from tasks.registry import default_registry
from tests.support.paths import REPO_ROOT

#: Expressions: refused wherever code lives (in a script as ``x = <expression>``).
EXPRESSIONS = {
    "import_builtin": "__import__('os').system('id')",
    "class_mro_subclasses": "().__class__.__mro__[1].__subclasses__()",
    "class_bases": "''.__class__.__bases__[0].__subclasses__()",
    "helper_globals": "prazo.__globals__['__builtins__']['__import__']('os')",
    "helper_code": "prazo_dias.__code__.co_consts",
    "lambda_globals": "(lambda: 0).__globals__",
    "format_attribute": "'{0.__class__.__mro__}'.format(1)",
    "format_map_attribute": "'{x.__globals__}'.format_map({'x': prazo})",
    "str_format_unbound": "str.format('{0.__class__}', 1)",
    "generator_frame_back": "(x for x in [1]).gi_frame.f_back.f_globals",
    "generator_code": "(x for x in [1]).gi_code",
    "generator_yieldfrom": "(x for x in [1]).gi_yieldfrom",
    "breakpoint": "breakpoint()",
    "eval_string": "eval(\"__import__('os').system('id')\")",
    "exec_string": "exec('import os')",
    "compile_string": "compile('1', '<x>', 'eval')",
    "getattr_dunder": "getattr(prazo, '__glo' + 'bals__')",
    "type_new_class": "type('X', (), {})",
    "vars_helper": "vars(prazo)",
    "open_file": "open('/etc/passwd').read()",
    "globals_builtins": "globals()['__builtins__']",
    "locals": "locals()",
    "dir_helper": "dir(prazo)",
    "builtins_name": "__builtins__['open']",
    "dado_dunder": "dado('__builtins__')",
    "mro_method": "ValueError.mro()[-1]",
    "help": "help()",
    "input": "input()",
    "print": "print(prazo)",
    "huge_string": "'a' * 10**10",
    "huge_power": "10**10**10",
    "huge_list": "[0] * 10**10",
    "huge_shift": "1 << 10**10",
    "huge_range": "sum(range(10**10))",
    "huge_format_width": "f'{1:>999999999}'",
    "huge_percent_width": "'%0999999999d' % 1",
    "huge_decimal": "int(Decimal('1e999999'))",
    "huge_ljust": "'a'.ljust(10**10)",
    "huge_to_bytes": "(1).to_bytes(10**10, 'big')",
}

#: Statements: refused in every script (script task, pre-script, post-script).
STATEMENTS = {
    "import_os": "import os\nos.system('id')",
    "from_import": "from subprocess import run",
    "import_alias": "import builtins as b",
    "while_true": "while True:\n    pass",
    "while_one": "while 1:\n    x = 1",
    "class_def": "class A:\n    pass",
    "builtins_assign": "__builtins__ = {}",
    "guard_rebind": "_getattr_ = None",
    "generator_function_frame": "def g():\n    yield 1\nf = g().gi_frame",
    "traceback_frame": "try:\n    1 / 0\nexcept Exception as e:\n    t = e.__traceback__.tb_frame",
    "try_star": "try:\n    pass\nexcept* Exception:\n    pass",
    "async_def": "async def f():\n    pass",
    "nonlocal": "def f():\n    x = 1\n    def g():\n        nonlocal x\n        x = 2",
    "with_open": "with open('/etc/passwd') as f:\n    x = f.read()",
    "match": "match x:\n    case 1:\n        pass",
    "exec_in_function": "def f():\n    return exec('import os')",
}
assert len(EXPRESSIONS) + len(STATEMENTS) >= 25

#: place -> (element named by the problem, what the problem starts with)
PLACES = {
    "script": ("roteiro", "Script não permitido"),
    "pre": ("tarefa", "Pré-script (preScript) não permitido"),
    "post": ("tarefa", "Pós-script (postScript) não permitido"),
    "condition": ("decisao", "Condição não permitida no fluxo para 'fim_sim'"),
    "timer": ("prazo", "Expressão de temporizador não permitida"),
    "due": ("tarefa", "Expressão de prazo (camunda:dueDate) não permitida"),
}
SCRIPT_PLACES = ("script", "pre", "post")
SERVICES = default_registry()
CIP = {"cip_texto": "Texto da CIP.", "cip_email_fornecedor": "sac@lojaexemplo.com.br"}


def diagram(process_id: str = "carga", *, script: str = "x = 1", pre: str | None = None, post: str | None = None,
            condition: str = "x == 1", timer: str = "'2030-01-01T00:00:00+00:00'",
            due: str = "prazo_uteis(5)") -> bytes:
    """A small valid procedure: open -> script ``roteiro`` -> user task ``tarefa`` (dueDate, pre/post
    scripts, boundary timer ``prazo``) -> gateway ``decisao`` (``f_sim`` when ``condition``)."""
    scripts = "".join(f"<spiffworkflow:{tag}>{escape(code)}</spiffworkflow:{tag}>"
                      for tag, code in (("preScript", pre), ("postScript", post)) if code is not None)
    extensions = f"<bpmn:extensionElements>{scripts}</bpmn:extensionElements>" if scripts else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="Definitions_{process_id}"
    targetNamespace="http://procon.flow/bpmn">
  <bpmn:process id="{process_id}" name="Carga de teste" isExecutable="true">
    <bpmn:startEvent id="inicio"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="abrir" name="Abrir" camunda:formKey="emitir_cip" camunda:candidateGroups="atendente">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:scriptTask id="roteiro" name="Roteiro" scriptFormat="python">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:script>{escape(script)}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:userTask id="tarefa" name="Tarefa" camunda:formKey="emitir_cip" camunda:candidateGroups="atendente"
        camunda:dueDate={quoteattr(due)}>
      {extensions}<bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:boundaryEvent id="prazo" name="Prazo" attachedToRef="tarefa">
      <bpmn:outgoing>f_prazo</bpmn:outgoing>
      <bpmn:timerEventDefinition id="prazo_def">
        <bpmn:timeDate xsi:type="bpmn:tFormalExpression">{escape(timer)}</bpmn:timeDate>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:exclusiveGateway id="decisao" name="Decisão" default="f_nao">
      <bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f_sim</bpmn:outgoing><bpmn:outgoing>f_nao</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:endEvent id="fim_sim" name="Sim"><bpmn:incoming>f_sim</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="fim_nao" name="Não"><bpmn:incoming>f_nao</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="fim_prazo" name="Prazo vencido"><bpmn:incoming>f_prazo</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="inicio" targetRef="abrir" />
    <bpmn:sequenceFlow id="f2" sourceRef="abrir" targetRef="roteiro" />
    <bpmn:sequenceFlow id="f3" sourceRef="roteiro" targetRef="tarefa" />
    <bpmn:sequenceFlow id="f4" sourceRef="tarefa" targetRef="decisao" />
    <bpmn:sequenceFlow id="f_sim" sourceRef="decisao" targetRef="fim_sim">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{escape(condition)}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_nao" sourceRef="decisao" targetRef="fim_nao" />
    <bpmn:sequenceFlow id="f_prazo" sourceRef="prazo" targetRef="fim_prazo" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="Diagram_{process_id}">
    <bpmndi:BPMNPlane id="Plane_{process_id}" bpmnElement="{process_id}" />
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
""".encode()


def placed(place: str, code: str, *, statement: bool = False, process_id: str = "carga") -> bytes:
    """The diagram with ``code`` in ``place`` (an expression goes into a script as ``x = <code>``)."""
    script = code if statement else f"x = {code}"
    arguments: dict[str, Any] = {
        "script": {"script": script}, "pre": {"pre": script}, "post": {"post": script},
        "condition": {"condition": code}, "timer": {"timer": code}, "due": {"due": code},
    }[place]
    return diagram(process_id, **arguments)


CASES = [pytest.param(place, code, False, id=f"{place}-{name}")
         for name, code in EXPRESSIONS.items() for place in PLACES]
CASES += [pytest.param(place, code, True, id=f"{place}-{name}")
          for name, code in STATEMENTS.items() for place in SCRIPT_PLACES]


@pytest.fixture(scope="module")
def forms() -> FormRegistry:
    return FormRegistry(REPO_ROOT / "forms")


def test_the_template_itself_is_valid(forms: FormRegistry) -> None:
    assert validate_bytes(diagram(pre="y = 2", post="z = 3"), "carga.bpmn", forms, services=SERVICES) == []


# -- 1. at "Validar" -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("place", "code", "statement"), CASES)
def test_validation_refuses_it_naming_the_element(forms: FormRegistry, place: str, code: str,
                                                  statement: bool) -> None:
    problems = validate_bytes(placed(place, code, statement=statement), "carga.bpmn", forms, services=SERVICES)
    element, start = PLACES[place]
    assert [p.element_id for p in problems] == [element], problems
    assert problems[0].message.startswith(f"{start}: ")
    assert re.fullmatch(r": \S.+ \(linha \d+\)", problems[0].message.removeprefix(start))  # why, and where
    assert problems[0].line is not None


# -- 2. by the evaluator itself ---------------------------------------------------------------------------
@pytest.mark.parametrize("code", EXPRESSIONS.values(), ids=EXPRESSIONS.keys())
def test_the_evaluator_refuses_the_expression(code: str) -> None:
    environment = make_script_engine().environment
    with pytest.raises(ScriptRefused):
        environment.evaluate(code, {"x": 1})
    with pytest.raises(ScriptRefused):
        environment.execute(f"x = {code}", {})


@pytest.mark.parametrize("code", STATEMENTS.values(), ids=STATEMENTS.keys())
def test_the_evaluator_refuses_the_statement(code: str) -> None:
    data: dict[str, Any] = {"x": 1}
    with pytest.raises(ScriptRefused):
        make_script_engine().environment.execute(code, data)
    assert data == {"x": 1}  # nothing ran


# -- 3. in a case, from a diagram that skipped validation ---------------------------------------------------
@pytest.fixture
def unchecked(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """The runtime, deploying without validation (as before the evaluator): only run time can refuse."""
    monkeypatch.setattr(runtime.definitions, "validate", lambda *args, **kwargs: [])
    yield runtime


def deploy(rt: Runtime, content: bytes, process_id: str) -> None:
    with rt.Session.begin() as session:
        rt.definitions.deploy(session, content, f"{process_id}.bpmn", "teste")


def run_until_refused(rt: Runtime, actor: Actor, process_id: str, place: str) -> str:
    """Start a case and complete its tasks until the code in ``place`` runs; the refusal's message."""
    result = rt.start_case(process_id, actor)
    with pytest.raises((ProcedureError, WorkflowException)) as refused:
        [abrir] = result.open_tasks
        result = rt.complete_task(result.case_id, abrir.task_id, actor, CIP)
        assert place in ("post", "condition"), f"{place}: should have been refused when the task opened"
        [tarefa] = result.open_tasks
        rt.complete_task(result.case_id, tarefa.task_id, actor, CIP)
    return str(refused.value)


@pytest.mark.parametrize("place", PLACES)
def test_a_case_refuses_every_payload_at_run_time(unchecked: Runtime, atendente: Actor, place: str) -> None:
    payloads = [(name, code, False) for name, code in EXPRESSIONS.items()]
    if place in SCRIPT_PLACES:
        payloads += [(name, code, True) for name, code in STATEMENTS.items()]
    for number, (name, code, statement) in enumerate(payloads):
        process_id = f"carga_{number}"
        deploy(unchecked, placed(place, code, statement=statement, process_id=process_id), process_id)
        message = run_until_refused(unchecked, atendente, process_id, place)
        in_script = place in SCRIPT_PLACES
        refusal = check(code if statement or not in_script else f"x = {code}", "exec" if in_script else "eval")
        assert refusal is not None and not refusal.syntax
        assert ("Script recusado: " if in_script else "Expressão recusada (") in message, (name, message)
        assert str(refusal) in message, (name, message)  # what was refused, in Portuguese
