"""Parse BPMN with SpiffWorkflow, also reading the Camunda 7 attributes analysts' modelers write.

``camunda:formKey``, ``camunda:candidateGroups``, ``camunda:candidateUsers``, ``camunda:assignee``
and ``camunda:dueDate`` on a user task land in ``task_spec.extensions`` next to SpiffWorkflow's
own extensions, so the rest of the engine reads one dictionary.
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.parser.task_spec import UserTaskParser
from SpiffWorkflow.spiff.specs.defaults import UserTask

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


class ProconBpmnParser(SpiffBpmnParser):
    """The one parser the engine uses (a subclass: class attributes are never mutated)."""

    OVERRIDE_PARSER_CLASSES = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        full_tag("userTask"): (CamundaAwareUserTaskParser, UserTask),
    }


def parse_xml(content: bytes) -> etree._ElementTree:
    """Parse XML keeping line numbers; raises ``etree.XMLSyntaxError``."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    return etree.ElementTree(etree.fromstring(content, parser=parser))
