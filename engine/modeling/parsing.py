"""Parse BPMN with SpiffWorkflow, also reading the Camunda 7 attributes analysts' modelers write.

``camunda:formKey``, ``camunda:candidateGroups``, ``camunda:candidateUsers``, ``camunda:assignee``
and ``camunda:dueDate`` on a user task land in ``task_spec.extensions`` next to SpiffWorkflow's
own extensions, so the rest of the engine reads one dictionary.

A service task written the Camunda 7 way for external workers (``camunda:type="external"``,
``camunda:topic="consultar_cnpj"``) becomes an :class:`ExternalServiceTask`: a wait state, like a
user task, that the worker completes after running the handler registered under that topic
outside any database transaction (the I/O never holds a case locked, and a failure is retried).
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.parser.task_spec import ServiceTaskParser, UserTaskParser
from SpiffWorkflow.spiff.specs.defaults import ManualTask, ServiceTask, UserTask

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
CAMUNDA_USER_TASK_ATTRIBUTES = ("formKey", "candidateGroups", "candidateUsers", "assignee", "dueDate")


class CamundaAwareUserTaskParser(UserTaskParser):
    """SpiffWorkflow's user-task parser plus the Camunda 7 attributes listed above."""

    def parse_extensions(self, node: Any = None) -> dict[str, Any]:
        node = self.node if node is None else node
        extensions = super().parse_extensions(node)
        for attribute in CAMUNDA_USER_TASK_ATTRIBUTES:
            value = node.get(f"{{{CAMUNDA_NS}}}{attribute}")
            if value:
                extensions[attribute] = value.strip()
        return extensions


class ExternalServiceTask(ManualTask):
    """A service task done by a worker: waits (like a user task) until the engine completes it."""


class ExternalServiceTaskParser(ServiceTaskParser):
    """``camunda:type="external"`` + ``camunda:topic`` -> :class:`ExternalServiceTask`; other
    service tasks keep SpiffWorkflow's own parsing (``spiffworkflow:serviceTaskOperator``)."""

    def create_task(self) -> Any:
        topic = (self.node.get(f"{{{CAMUNDA_NS}}}topic") or "").strip()
        if self.node.get(f"{{{CAMUNDA_NS}}}type") != "external" and not topic:
            return super().create_task()
        extensions = self.parse_extensions()
        return ExternalServiceTask(self.spec, self.bpmn_id, prescript=extensions.get("preScript"),
                                   postscript=extensions.get("postScript"), **self.bpmn_attributes)

    def parse_extensions(self, node: Any = None) -> dict[str, Any]:
        node = self.node if node is None else node
        extensions = super().parse_extensions(node)
        topic = (node.get(f"{{{CAMUNDA_NS}}}topic") or "").strip()
        if topic:
            extensions["topic"] = topic
        return extensions


class ProconBpmnParser(SpiffBpmnParser):
    """The one parser the engine uses (a subclass: class attributes are never mutated)."""

    OVERRIDE_PARSER_CLASSES = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        full_tag("userTask"): (CamundaAwareUserTaskParser, UserTask),
        full_tag("serviceTask"): (ExternalServiceTaskParser, ServiceTask),
    }


def parse_xml(content: bytes) -> etree._ElementTree:
    """Parse XML keeping line numbers; raises ``etree.XMLSyntaxError``."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    return etree.ElementTree(etree.fromstring(content, parser=parser))
