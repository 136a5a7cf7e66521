"""Checks a BPMN file before it is deployed: the same checks for ``procon validate`` and the UI.

A diagram is deployable when SpiffWorkflow parses it, every user task names a form that exists
and a role (its lane or ``camunda:candidateGroups``), every lane maps to a role, every service task
has a handler, and every expression — script tasks, pre/post scripts, gateway conditions, timer and
event expressions, ``camunda:dueDate``, multi-instance cardinality and completion, service-task
parameters — compiles under the restricted evaluator (:func:`engine.runtime.restricted.check`), so an
analyst learns at "Validar" what would be refused at run time. Embedded subprocesses are checked too.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask, MultiInstanceTask
from SpiffWorkflow.bpmn.specs.mixins.script_task import ScriptTask
from SpiffWorkflow.bpmn.specs.mixins.service_task import ServiceTask
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.specs.MultiChoice import MultiChoice

from engine.forms.schema import FormRegistry
from engine.modeling.parsing import ExternalServiceTask, ProconBpmnParser, parse_xml
from engine.roles import ROLES, role_for_lane
from engine.runtime.restricted import check

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a diagram, pointing at the element it concerns."""

    file: str
    element_id: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        element = f" [{self.element_id}]" if self.element_id else ""
        return f"{where}:{element} {self.message}"


@dataclass
class ParsedFile:
    """A diagram that parsed: its XML tree, parser and executable process ids."""

    filename: str
    tree: etree._ElementTree
    parser: ProconBpmnParser
    process_ids: list[str]


def _line_of(tree: etree._ElementTree, element_id: str) -> int | None:
    found = tree.getroot().xpath("//*[@id=$id]", id=element_id)
    return found[0].sourceline if found else None


def _executable_process_ids(tree: etree._ElementTree) -> list[str]:
    processes = tree.getroot().findall(f"{{{BPMN_NS}}}process")
    return [p.get("id") for p in processes if p.get("isExecutable", "false").lower() == "true"]


def called_elements(tree: etree._ElementTree) -> set[str]:
    """Process ids a diagram starts through call activities."""
    return {node.get("calledElement") for node in tree.getroot().iter(f"{{{BPMN_NS}}}callActivity")
            if node.get("calledElement")}


def parse_file(content: bytes, filename: str, library: Mapping[str, bytes] | None = None
               ) -> tuple[ParsedFile | None, list[Problem]]:
    """Parse one diagram; problems are returned, never raised.

    ``library`` holds the other procedures (process id -> BPMN bytes) that this one may start
    through call activities; only those it calls are added to the parser.
    """
    try:
        tree = parse_xml(content)
    except etree.XMLSyntaxError as error:
        line = error.lineno if hasattr(error, "lineno") else None
        return None, [Problem(filename, "", line, f"XML malformado: {error.msg}")]
    root = tree.getroot()
    if etree.QName(root).namespace != BPMN_NS or etree.QName(root).localname != "definitions":
        message = "O arquivo não é um diagrama BPMN 2.0 (bpmn:definitions)."
        return None, [Problem(filename, "", root.sourceline, message)]
    process_ids = _executable_process_ids(tree)
    if not process_ids:
        return None, [Problem(filename, "", root.sourceline, "Nenhum processo executável (isExecutable=\"true\").")]
    parser = ProconBpmnParser()
    try:
        parser.add_bpmn_xml(tree, filename=filename)
        pending, added = set(called_elements(tree)) - set(process_ids), set(process_ids)
        while pending:
            called = pending.pop()
            added.add(called)
            source = (library or {}).get(called)
            if source is None:
                node = tree.getroot().xpath("//*[@calledElement=$c]", c=called)
                element_id, line = (node[0].get("id", ""), node[0].sourceline) if node else ("", None)
                return None, [Problem(filename, element_id, line,
                                      f"A atividade de chamada inicia o processo '{called}', que não existe.")]
            called_tree = parse_xml(source)
            parser.add_bpmn_xml(called_tree, filename=f"{called}.bpmn")
            added |= set(_executable_process_ids(called_tree))  # a file may hold several processes
            pending -= added
            pending |= called_elements(called_tree) - added
        for process_id in process_ids:
            parser.get_spec(process_id)
            parser.get_subprocess_specs(process_id)
    except ValidationException as error:
        line = error.line_number if isinstance(error.line_number, int) else _line_of(tree, error.id)
        return None, [Problem(filename, error.id or "", line, f"Diagrama inválido: {error}")]
    except (SpiffWorkflowException, etree.LxmlError, KeyError, ValueError) as error:
        return None, [Problem(filename, "", None, f"O SpiffWorkflow não conseguiu ler o diagrama: {error}")]
    if not root.findall(f".//{{{BPMN_NS.replace('MODEL', 'DI')}}}BPMNDiagram"):
        return None, [Problem(filename, "", root.sourceline,
                              "Sem BPMNDI (BPMNDiagram): o diagrama não abre no modelador.")]
    return ParsedFile(filename, tree, parser, process_ids), []


def _check_expressions(task_spec: Any, problem: Any) -> None:
    """Every expression of one task spec, as the restricted evaluator would compile it."""
    name = task_spec.name

    def expression(source: Any, mode: str, invalid: str, refused: str) -> None:
        if not isinstance(source, str) or not source.strip():
            return
        refusal = check(source, mode)
        if refusal is not None:
            problem(name, f"{invalid if refusal.syntax else refused}: {refusal}")

    if isinstance(task_spec, UserTask):
        expression(task_spec.extensions.get("dueDate"), "eval", "Expressão de prazo (camunda:dueDate) inválida",
                   "Expressão de prazo (camunda:dueDate) não permitida")
    if isinstance(task_spec, ScriptTask):
        expression(task_spec.script, "exec", "Erro de sintaxe no script", "Script não permitido")
    expression(getattr(task_spec, "prescript", None), "exec", "Erro de sintaxe no pré-script (preScript)",
               "Pré-script (preScript) não permitido")
    expression(getattr(task_spec, "postscript", None), "exec", "Erro de sintaxe no pós-script (postScript)",
               "Pós-script (postScript) não permitido")
    if isinstance(task_spec, MultiChoice):
        for condition, target in task_spec.cond_task_specs:
            if condition is not None:
                expression(condition.args[0], "eval", f"Condição inválida no fluxo para '{target}'",
                           f"Condição não permitida no fluxo para '{target}'")
    event = getattr(task_spec, "event_definition", None)
    if isinstance(event, TimerEventDefinition):
        expression(event.expression, "eval", "Expressão de temporizador inválida",
                   "Expressão de temporizador não permitida")
    elif event is not None:
        expression(getattr(event, "expression", None), "eval", "Expressão do evento inválida",
                   "Expressão do evento não permitida")
    if isinstance(task_spec, MultiInstanceTask):
        expression(task_spec.cardinality, "eval", "Cardinalidade (loopCardinality) inválida",
                   "Cardinalidade (loopCardinality) não permitida")
    if isinstance(task_spec, LoopTask):
        expression(task_spec.condition, "eval", "Condição de conclusão do laço inválida",
                   "Condição de conclusão do laço não permitida")
    for parameter, value in (getattr(task_spec, "operation_params", None) or {}).items():
        source = value.get("value") if isinstance(value, dict) else None
        expression(source, "eval", f"Parâmetro '{parameter}' da tarefa de serviço inválido",
                   f"Parâmetro '{parameter}' da tarefa de serviço não permitido")


def _specs_of(parsed: ParsedFile) -> list[Any]:
    """The file's processes and their embedded subprocesses (called processes of other files are
    validated with their own file)."""
    specs: dict[str, Any] = {}
    for process_id in parsed.process_ids:
        specs.setdefault(process_id, parsed.parser.get_spec(process_id))
        for name, spec in parsed.parser.get_subprocess_specs(process_id).items():
            if spec is not None and spec.file == parsed.filename:
                specs.setdefault(name, spec)
    return list(specs.values())


def _check_references(tree: etree._ElementTree, problem: Any) -> None:
    """Flows and boundary events must point at elements of their own process.

    SpiffWorkflow silently drops a boundary event attached to a missing task (and a flow from a
    missing element) together with everything after it: a legal deadline would vanish unnoticed.
    """
    for process in tree.getroot().iter(f"{{{BPMN_NS}}}process"):
        ids = {element.get("id") for element in process.iter() if element.get("id")}
        for boundary in process.iter(f"{{{BPMN_NS}}}boundaryEvent"):
            if boundary.get("attachedToRef") not in ids:
                problem(boundary.get("id", ""), f"O evento de borda está preso a '{boundary.get('attachedToRef')}', "
                                                "que não existe neste processo.")
        for flow in process.iter(f"{{{BPMN_NS}}}sequenceFlow"):
            for end in ("sourceRef", "targetRef"):
                if flow.get(end) not in ids:
                    problem(flow.get("id", ""), f"O fluxo aponta para '{flow.get(end)}' ({end}), "
                                                "que não existe neste processo.")


def check_semantics(parsed: ParsedFile, forms: FormRegistry, services: Collection[str]) -> list[Problem]:
    """Checks beyond parsing: forms, roles, handlers (``services``: the registered topics), expressions."""
    problems: list[Problem] = []
    filename, tree = parsed.filename, parsed.tree

    def problem(element_id: str, message: str) -> None:
        problems.append(Problem(filename, element_id, _line_of(tree, element_id), message))

    for lane in tree.getroot().iter(f"{{{BPMN_NS}}}lane"):
        if role_for_lane(lane.get("name")) is None:
            problem(lane.get("id", ""), f"A raia '{lane.get('name') or ''}' não corresponde a nenhum papel "
                                        f"({', '.join(ROLES)}).")
    _check_references(tree, problem)
    for spec in _specs_of(parsed):
        for task_spec in spec.task_specs.values():
            name = task_spec.name
            if isinstance(task_spec, UserTask):
                ext = task_spec.extensions
                form_key = ext.get("formKey")
                if not form_key:
                    problem(name, "Tarefa de usuário sem formulário (camunda:formKey).")
                elif not forms.exists(form_key):
                    problem(name, f"O formulário '{form_key}' não existe em forms/.")
                groups = ext.get("candidateGroups")
                if groups:
                    unknown = [g.strip() for g in groups.split(",") if g.strip() not in ROLES]
                    if unknown:
                        problem(name, f"Grupo(s) desconhecido(s) em candidateGroups: {', '.join(unknown)}.")
                elif role_for_lane(task_spec.lane) is None:
                    problem(name, "Tarefa de usuário sem papel: coloque-a numa raia ou informe candidateGroups.")
            if isinstance(task_spec, ExternalServiceTask):
                topic = task_spec.extensions.get("topic", "")
                if not topic or topic not in services:
                    problem(name, f"Tarefa de serviço sem implementação registrada (camunda:topic '{topic}'); "
                                  f"serviços disponíveis: {', '.join(sorted(services)) or 'nenhum'}.")
            elif isinstance(task_spec, ServiceTask):
                handler = task_spec.extensions.get("serviceTaskOperator", {}) or {}
                handler_name = handler.get("name") if isinstance(handler, dict) else None
                if not handler_name or handler_name not in services:
                    problem(name, f"Tarefa de serviço sem implementação registrada ('{handler_name or ''}').")
            if isinstance(task_spec, MultiChoice) and not task_spec.cond_task_specs:  # SpiffWorkflow: at run time
                problem(name, "Gateway sem fluxo de saída: o caso pararia aqui.")
            _check_expressions(task_spec, problem)
    return problems


def validate_bytes(content: bytes, filename: str, forms: FormRegistry,
                   library: Mapping[str, bytes] | None = None, *, services: Collection[str]) -> list[Problem]:
    parsed, problems = parse_file(content, filename, library)
    if parsed is None:
        return problems
    return check_semantics(parsed, forms, services)


def library_of(directory: Path) -> dict[str, bytes]:
    """Every executable process in a folder of diagrams: process id -> the file's bytes."""
    library: dict[str, bytes] = {}
    for path in sorted(directory.glob("*.bpmn")):
        content = path.read_bytes()
        try:
            tree = parse_xml(content)
        except etree.XMLSyntaxError:
            continue
        for process_id in _executable_process_ids(tree):
            library[process_id] = content
    return library


def validate_path(path: Path, forms: FormRegistry, library: Mapping[str, bytes] | None = None, *,
                  services: Collection[str]) -> list[Problem]:
    try:
        content = path.read_bytes()
    except OSError as error:
        return [Problem(str(path), "", None, f"Não foi possível ler o arquivo: {error.strerror}")]
    if library is None:
        library = library_of(path.parent)
    return validate_bytes(content, str(path), forms, library, services=services)
