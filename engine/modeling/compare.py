"""Compare two BPMN diagrams element by element: what was added, removed or changed.

The comparison reads the parsed XML, never the text: attribute order, namespace prefixes,
indentation, element order and the diagram layout (BPMNDI) do not count, so a file re-saved by
another modeler compares equal. Elements are matched by id, which is what bpmn-js uses to place
markers, so :meth:`Comparison.markers` feeds two viewers side by side directly.

For each element the comparison reads what the engine reads and an analyst changes: name, type,
lane, form (``camunda:formKey``), candidate groups, due date (SLA), timer / message / signal
definitions, conditions, scripts, called process, external topic, attachment of boundary events,
source / target of flows, default flows, loop characteristics and extension elements; any other
attribute is compared too, under its own name.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from engine.errors import EngineError
from engine.modeling.parsing import CAMUNDA_NS, parse_xml

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

#: BPMN elements compared on their own (each with an id bpmn-js can mark), with a label for people.
ELEMENT_TYPES: dict[str, str] = {
    "process": "processo",
    "collaboration": "colaboração",
    "participant": "participante (pool)",
    "lane": "raia",
    "startEvent": "evento de início",
    "endEvent": "evento de fim",
    "intermediateCatchEvent": "evento intermediário de captura",
    "intermediateThrowEvent": "evento intermediário de lançamento",
    "boundaryEvent": "evento de borda",
    "task": "tarefa",
    "userTask": "tarefa de usuário",
    "manualTask": "tarefa manual",
    "serviceTask": "tarefa de serviço",
    "scriptTask": "tarefa de script",
    "businessRuleTask": "tarefa de regra de negócio",
    "sendTask": "tarefa de envio",
    "receiveTask": "tarefa de recebimento",
    "callActivity": "atividade de chamada",
    "subProcess": "subprocesso",
    "adHocSubProcess": "subprocesso ad hoc",
    "transaction": "transação",
    "exclusiveGateway": "gateway exclusivo",
    "inclusiveGateway": "gateway inclusivo",
    "parallelGateway": "gateway paralelo",
    "eventBasedGateway": "gateway baseado em eventos",
    "complexGateway": "gateway complexo",
    "sequenceFlow": "fluxo de sequência",
    "messageFlow": "fluxo de mensagem",
    "message": "mensagem",
    "signal": "sinal",
    "error": "erro",
    "escalation": "escalonamento",
    "dataObject": "objeto de dados",
    "dataObjectReference": "referência a objeto de dados",
    "dataStore": "repositório de dados",
    "dataStoreReference": "referência a repositório de dados",
    "textAnnotation": "anotação",
    "association": "associação",
    "group": "grupo",
}

FLOW_TYPES = frozenset({"sequenceFlow", "messageFlow"})

#: Event definitions, by BPMN local name.
EVENT_KINDS: dict[str, str] = {
    "timerEventDefinition": "temporizador",
    "messageEventDefinition": "mensagem",
    "signalEventDefinition": "sinal",
    "errorEventDefinition": "erro",
    "escalationEventDefinition": "escalonamento",
    "conditionalEventDefinition": "condicional",
    "terminateEventDefinition": "terminação",
    "cancelEventDefinition": "cancelamento",
    "compensateEventDefinition": "compensação",
    "linkEventDefinition": "link",
}

#: Camunda 7 attributes the engine reads, with their label.
CAMUNDA_ATTRIBUTES: dict[str, str] = {
    "formKey": "formulário (formKey)",
    "candidateGroups": "grupos (candidateGroups)",
    "candidateUsers": "usuários (candidateUsers)",
    "assignee": "responsável (assignee)",
    "dueDate": "prazo (dueDate)",
    "topic": "tópico do serviço (topic)",
    "type": "implementação (camunda:type)",
}

#: Child elements described by a dedicated field (or by the flows / lanes themselves).
_HANDLED_CHILDREN = frozenset({
    "incoming", "outgoing", "documentation", "extensionElements", "conditionExpression", "script",
    "flowNodeRef", "laneSet", "childLaneSet", "text", *EVENT_KINDS,
})
#: Attributes described by a dedicated field, or that only repeat what another element says.
_HANDLED_ATTRIBUTES = frozenset({
    "id", "name", "default", "sourceRef", "targetRef", "attachedToRef", "cancelActivity", "calledElement",
    "scriptFormat", "processRef",
})
_CHILD_LABELS = {
    "multiInstanceLoopCharacteristics": "multi-instância",
    "standardLoopCharacteristics": "repetição (loop)",
    "ioSpecification": "entradas e saídas",
    "dataInputAssociation": "associação de entrada de dados",
    "dataOutputAssociation": "associação de saída de dados",
    "property": "propriedade",
}
_SHORT = 80


@dataclass(frozen=True)
class ElementDescription:
    """What the comparison read about one element."""

    id: str
    type: str
    type_label: str
    name: str
    #: label -> normalized value (every compared property except name and type).
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def is_flow(self) -> bool:
        return self.type in FLOW_TYPES

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "type_label": self.type_label, "name": self.name,
                "fields": dict(self.fields)}


@dataclass(frozen=True)
class FlowChanges:
    """The part of a comparison that concerns sequence and message flows."""

    added: dict[str, ElementDescription]
    removed: dict[str, ElementDescription]
    changed: dict[str, list[str]]


@dataclass
class Comparison:
    """Differences from diagram A (before) to diagram B (after), keyed by element id."""

    added: dict[str, ElementDescription] = field(default_factory=dict)
    removed: dict[str, ElementDescription] = field(default_factory=dict)
    changed: dict[str, list[str]] = field(default_factory=dict)
    #: Every element of each side, for labels in the UI.
    before: dict[str, ElementDescription] = field(default_factory=dict, repr=False)
    after: dict[str, ElementDescription] = field(default_factory=dict, repr=False)

    @property
    def identical(self) -> bool:
        return not (self.added or self.removed or self.changed)

    @property
    def flows(self) -> FlowChanges:
        return FlowChanges(
            {k: v for k, v in self.added.items() if v.is_flow},
            {k: v for k, v in self.removed.items() if v.is_flow},
            {k: v for k, v in self.changed.items() if self.after[k].is_flow},
        )

    def markers(self) -> dict[str, dict[str, str]]:
        """Element id -> marker ("added", "removed", "changed") for the viewer of each side."""
        before = {element_id: "removed" for element_id in self.removed}
        after = {element_id: "added" for element_id in self.added}
        for element_id in self.changed:
            before[element_id] = after[element_id] = "changed"
        return {"before": before, "after": after}

    def summary(self) -> str:
        """One sentence for people, e.g. "2 elementos adicionados, 1 removido e 3 alterados"."""
        if self.identical:
            return "Nenhuma diferença entre as duas versões."
        parts = []
        for count, singular, plural in ((len(self.added), "adicionado", "adicionados"),
                                        (len(self.removed), "removido", "removidos"),
                                        (len(self.changed), "alterado", "alterados")):
            if count:
                parts.append(f"{count} {singular if count == 1 else plural}")
        text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " e " + parts[-1]
        return f"Elementos: {text}."

    def to_dict(self) -> dict[str, Any]:
        return {
            "identical": self.identical,
            "summary": self.summary(),
            "added": {k: v.to_dict() for k, v in self.added.items()},
            "removed": {k: v.to_dict() for k, v in self.removed.items()},
            "changed": {k: list(v) for k, v in self.changed.items()},
            "markers": self.markers(),
        }


# -- reading one diagram ---------------------------------------------------------------------------
def _local(node: Any) -> str:
    return etree.QName(node).localname if isinstance(node.tag, str) else ""


def _is_bpmn(node: Any) -> bool:
    return isinstance(node.tag, str) and etree.QName(node).namespace == BPMN_NS


def _raw_text(node: Any) -> str:
    return "".join(node.itertext()) if node is not None else ""


def _text(node: Any) -> str:
    return _raw_text(node).strip()


def _script(text: str) -> str:
    """A script with indentation and trailing spaces normalized (reformatting is not a change)."""
    lines = [line.rstrip() for line in textwrap.dedent(text.expandtabs(4)).strip("\n").splitlines()]
    return "\n".join(lines).strip()


def _groups(value: str) -> str:
    return ", ".join(part.strip() for part in value.split(",") if part.strip())


def _canonical(node: Any) -> str:
    """An order-stable text form of a subtree: tag, attributes (ids left out), text, children."""
    if not isinstance(node.tag, str):
        return ""
    attributes = sorted((etree.QName(k).localname, v.strip()) for k, v in node.attrib.items()
                        if etree.QName(k).localname != "id" and etree.QName(k).namespace != XSI_NS)
    own_text = " ".join((node.text or "").split())
    children = sorted(_canonical(child) for child in node if isinstance(child.tag, str))
    inner = ", ".join(filter(None, [own_text and repr(own_text), *children]))
    attrs = " ".join(f"{k}={v!r}" for k, v in attributes)
    return f"{_local(node)}({attrs}){{{inner}}}" if inner else f"{_local(node)}({attrs})"


def _read(content: bytes | str, side: str) -> dict[str, ElementDescription]:
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        root = parse_xml(data).getroot()
    except etree.XMLSyntaxError as error:
        line = f" (linha {error.lineno})" if getattr(error, "lineno", None) else ""
        raise EngineError(f"Não foi possível comparar: o diagrama {side} não é um XML válido{line}: "
                          f"{error.msg}") from None
    if not _is_bpmn(root) or _local(root) != "definitions":
        raise EngineError(f"Não foi possível comparar: o diagrama {side} não é BPMN 2.0 (bpmn:definitions).")

    return _Reader(root).describe_all()


class _Reader:
    """Describes every element of one parsed diagram."""

    def __init__(self, root: Any) -> None:
        self.by_id = {node.get("id"): node for node in root.iter() if _is_bpmn(node) and node.get("id")}
        self.lanes: dict[str, str] = {}
        for lane in root.iter(f"{{{BPMN_NS}}}lane"):  # document order: a nested lane overrides its parent
            for ref in lane.iter(f"{{{BPMN_NS}}}flowNodeRef"):
                self.lanes[_text(ref)] = lane.get("name") or lane.get("id", "")
        self.defaults = {node.get("default") for node in self.by_id.values() if node.get("default")}

    def name_of(self, ref: str | None) -> str:
        target = self.by_id.get(ref or "")
        return (target.get("name") or ref or "") if target is not None else (ref or "")

    def describe_all(self) -> dict[str, ElementDescription]:
        result: dict[str, ElementDescription] = {}
        for element_id, node in self.by_id.items():
            kind = _local(node)
            if kind in ELEMENT_TYPES:
                result[element_id] = ElementDescription(element_id, kind, ELEMENT_TYPES[kind],
                                                        (node.get("name") or "").strip(),
                                                        self.fields(element_id, node, kind))
        return result

    def fields(self, element_id: str, node: Any, kind: str) -> dict[str, str]:
        fields: dict[str, str] = {}

        def put(label: str, value: str | None) -> None:
            if value:
                fields[label] = value

        put("documentação", _text(node.find(f"{{{BPMN_NS}}}documentation")))
        if kind not in ("process", "lane", "participant", "collaboration") and kind not in FLOW_TYPES:
            put("raia", self.lanes.get(element_id))
        for attribute, label in CAMUNDA_ATTRIBUTES.items():
            value = (node.get(f"{{{CAMUNDA_NS}}}{attribute}") or "").strip()
            put(label, _groups(value) if attribute in ("candidateGroups", "candidateUsers") else value)
        if kind == "scriptTask":
            put("linguagem do script", (node.get("scriptFormat") or "").strip())
            put("script", _script(_raw_text(node.find(f"{{{BPMN_NS}}}script"))))
        if kind == "callActivity":
            put("processo chamado (calledElement)", (node.get("calledElement") or "").strip())
        if kind == "boundaryEvent":
            put("preso a", (node.get("attachedToRef") or "").strip())
            put("interrompe a tarefa", "não" if node.get("cancelActivity", "true").lower() == "false" else "sim")
        if kind == "participant":
            put("processo", node.get("processRef"))
        if kind == "textAnnotation":
            put("texto", _text(node.find(f"{{{BPMN_NS}}}text")))
        if kind in FLOW_TYPES:
            put("origem", (node.get("sourceRef") or "").strip())
            put("destino", (node.get("targetRef") or "").strip())
            put("condição", " ".join(_text(node.find(f"{{{BPMN_NS}}}conditionExpression")).split()))
            if kind == "sequenceFlow":
                put("fluxo padrão", "sim" if element_id in self.defaults else "não")
        events = []
        for definition in node:
            event_kind = EVENT_KINDS.get(_local(definition)) if _is_bpmn(definition) else None
            if event_kind is None:
                continue
            events.append(event_kind)
            if event_kind == "temporizador":
                for timer in definition:
                    if _is_bpmn(timer):
                        put(f"temporizador ({_local(timer)})", " ".join(_text(timer).split()))
            elif event_kind in ("mensagem", "sinal", "erro", "escalonamento"):
                ref = next((v for k, v in definition.attrib.items() if k.endswith("Ref")), None)
                put(event_kind, self.name_of(ref) or "(sem referência)")
            elif event_kind == "condicional":
                put("condição do evento", " ".join(_text(definition).split()))
            elif definition.attrib.keys() - {"id"} or len(definition):
                put(f"evento {event_kind}", _canonical(definition))
        put("definição do evento", ", ".join(sorted(events)))
        # Extensions and other details (loop characteristics, properties...): several of one kind
        # are compared as a set, so their order in the file does not count.
        details: dict[str, list[str]] = {}
        extensions = node.find(f"{{{BPMN_NS}}}extensionElements")
        for extension in extensions if extensions is not None else ():
            if isinstance(extension.tag, str):
                scripted = _local(extension) in ("preScript", "postScript") and not len(extension)
                details.setdefault(f"extensão {_local(extension)}", []).append(
                    _script(_raw_text(extension)) if scripted else _canonical(extension))
        for child in node:
            child_kind = _local(child)
            if (not isinstance(child.tag, str) or child_kind in _HANDLED_CHILDREN
                    or (_is_bpmn(child) and child_kind in ELEMENT_TYPES)):
                continue
            details.setdefault(_CHILD_LABELS.get(child_kind, child_kind), []).append(_canonical(child))
        for label, values in details.items():
            put(label, "\n".join(sorted(values)))
        for key, value in sorted(node.attrib.items()):
            qname = etree.QName(key)
            if qname.namespace == XSI_NS or (qname.namespace is None and qname.localname in _HANDLED_ATTRIBUTES):
                continue
            if qname.namespace == CAMUNDA_NS and qname.localname in CAMUNDA_ATTRIBUTES:
                continue
            prefix = "camunda:" if qname.namespace == CAMUNDA_NS else ""
            put(f"atributo {prefix}{qname.localname}", value.strip())
        return fields



# -- comparing -------------------------------------------------------------------------------------
def _show(value: str) -> str:
    return f"“{value}”" if value else "(vazio)"


def _differences(a: ElementDescription, b: ElementDescription) -> list[str]:
    differences = []
    if a.type != b.type:
        differences.append(f"tipo: {a.type_label} → {b.type_label}")
    if a.name != b.name:
        differences.append(f"nome: {_show(a.name)} → {_show(b.name)}")
    for label in list(a.fields) + [k for k in b.fields if k not in a.fields]:
        old, new = a.fields.get(label, ""), b.fields.get(label, "")
        if old == new:
            continue
        if not old:
            differences.append(f"{label}: incluído {_show(new)}" if len(new) <= _SHORT and "\n" not in new
                               else f"{label}: incluído")
        elif not new:
            differences.append(f"{label}: removido (era {_show(old)})" if len(old) <= _SHORT and "\n" not in old
                               else f"{label}: removido")
        elif max(len(old), len(new)) <= _SHORT and "\n" not in old + new:
            differences.append(f"{label}: {_show(old)} → {_show(new)}")
        else:
            differences.append(f"{label}: alterado")
    return differences


def compare(xml_a: bytes | str, xml_b: bytes | str) -> Comparison:
    """What changed from diagram A (e.g. the deployed version) to diagram B (e.g. a draft).

    Raises :class:`EngineError` (message in Portuguese) when either side is not a BPMN diagram.
    """
    before, after = _read(xml_a, "A"), _read(xml_b, "B")
    comparison = Comparison(before=before, after=after)
    for element_id, description in after.items():
        if element_id not in before:
            comparison.added[element_id] = description
    for element_id, description in before.items():
        if element_id not in after:
            comparison.removed[element_id] = description
            continue
        differences = _differences(description, after[element_id])
        if differences:
            comparison.changed[element_id] = differences
    return comparison
