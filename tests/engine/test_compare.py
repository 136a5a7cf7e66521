"""engine.modeling.compare on the real diagrams and on edited copies of them.

Each edited diagram is a real file from ``workflows/`` with one targeted text edit, so every
difference the comparison reports can only come from that edit.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from lxml import etree

from engine.errors import EngineError
from engine.modeling.compare import compare
from tests.support.paths import REPO_ROOT

WORKFLOWS = REPO_ROOT / "workflows"
SOURCE = (WORKFLOWS / "reclamacao.bpmn").read_text(encoding="utf-8")
HEARING = (WORKFLOWS / "audiencia.bpmn").read_text(encoding="utf-8")


def edit(old: str, new: str, text: str = SOURCE) -> str:
    """The diagram with ``old`` (which must occur exactly once) replaced by ``new``."""
    assert text.count(old) == 1, f"{old!r} aparece {text.count(old)} vezes"
    return text.replace(old, new)


def reformatted(text: str) -> bytes:
    """The same diagram as another tool would write it: other namespace prefix, attributes and
    elements in reverse order, no indentation, re-indented script."""
    text = text.replace("bpmn:", "bpmn2:").replace("xmlns:bpmn=", "xmlns:bpmn2=")
    text = text.replace("<bpmn2:script>cip_respondida", "<bpmn2:script>\n        cip_respondida")
    text = text.replace('resposta_fornecedor = "Fornecedor', '        resposta_fornecedor = "Fornecedor')
    root = etree.fromstring(text.encode("utf-8"), etree.XMLParser(remove_blank_text=True))
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        attributes = list(node.attrib.items())
        node.attrib.clear()
        for key, value in reversed(attributes):
            node.set(key, value)
        if etree.QName(node).localname in ("process", "laneSet", "lane"):
            node[:] = list(reversed(node))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.bpmn")), ids=lambda p: p.name)
def test_a_diagram_equals_itself_and_its_reformatted_copy(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert compare(text.encode("utf-8"), text.encode("utf-8")).identical
    again = reformatted(text)
    assert again != text.encode("utf-8")
    comparison = compare(text.encode("utf-8"), again)
    assert (comparison.added, comparison.removed, comparison.changed) == ({}, {}, {})
    assert comparison.summary() == "Nenhuma diferença entre as duas versões."


def test_reformatting_a_script_is_not_a_change() -> None:
    assert "\n        cip_respondida" in reformatted(SOURCE).decode("utf-8")


def test_rename() -> None:
    comparison = compare(SOURCE, edit('name="Analisar reclamação"', 'name="Analisar reclamação (revisada)"'))
    assert (comparison.added, comparison.removed) == ({}, {})
    assert comparison.changed == {"analisar_reclamacao": [
        "nome: “Analisar reclamação” → “Analisar reclamação (revisada)”"]}
    assert comparison.markers() == {"before": {"analisar_reclamacao": "changed"},
                                    "after": {"analisar_reclamacao": "changed"}}


def test_added_task() -> None:
    added = edit('<bpmn:sequenceFlow id="f_cip" sourceRef="emitir_cip" targetRef="registrar_resposta" />',
                 '<bpmn:sequenceFlow id="f_cip" sourceRef="emitir_cip" targetRef="revisar_cip" />\n'
                 '    <bpmn:userTask id="revisar_cip" name="Revisar CIP" camunda:formKey="emitir_cip" '
                 'camunda:candidateGroups="analista" />\n'
                 '    <bpmn:sequenceFlow id="f_revisao" sourceRef="revisar_cip" targetRef="registrar_resposta" />')
    added = edit("<bpmn:flowNodeRef>analisar_reclamacao</bpmn:flowNodeRef>",
                 "<bpmn:flowNodeRef>analisar_reclamacao</bpmn:flowNodeRef>\n"
                 "        <bpmn:flowNodeRef>revisar_cip</bpmn:flowNodeRef>", added)
    comparison = compare(SOURCE.encode("utf-8"), added.encode("utf-8"))
    assert sorted(comparison.added) == ["f_revisao", "revisar_cip"]
    task = comparison.added["revisar_cip"]
    assert (task.type, task.type_label, task.name) == ("userTask", "tarefa de usuário", "Revisar CIP")
    assert task.fields == {"raia": "Analista", "formulário (formKey)": "emitir_cip",
                           "grupos (candidateGroups)": "analista"}
    assert comparison.removed == {}
    assert comparison.changed == {"f_cip": ["destino: “registrar_resposta” → “revisar_cip”"]}
    assert list(comparison.flows.added) == ["f_revisao"]
    assert list(comparison.flows.changed) == ["f_cip"]
    assert comparison.markers()["after"] == {"revisar_cip": "added", "f_revisao": "added", "f_cip": "changed"}
    assert comparison.summary() == "Elementos: 2 adicionados e 1 alterado."


def test_removed_flow() -> None:
    removed = re.sub(r'\s*<bpmn:sequenceFlow id="f_prelim_sim".*?</bpmn:sequenceFlow>', "", SOURCE, flags=re.S)
    comparison = compare(SOURCE, removed)
    assert list(comparison.removed) == ["f_prelim_sim"]
    assert list(comparison.flows.removed) == ["f_prelim_sim"]
    flow = comparison.removed["f_prelim_sim"]
    assert flow.fields["condição"] == "resultado_preliminar == 'resolvida'"
    assert (comparison.added, comparison.changed) == ({}, {})
    assert comparison.markers() == {"before": {"f_prelim_sim": "removed"}, "after": {}}


def test_changed_condition() -> None:
    comparison = compare(SOURCE, edit("desfecho == 'resolvida'", "desfecho in ('resolvida', 'acordo')"))
    assert comparison.changed == {"f_analise_resolvida": [
        "condição: “desfecho == 'resolvida'” → “desfecho in ('resolvida', 'acordo')”"]}


def test_changed_timer() -> None:
    comparison = compare(SOURCE, edit("prazo('cip')</bpmn:timeDate>", "prazo('defesa')</bpmn:timeDate>"))
    assert comparison.changed == {"prazo_cip": ["temporizador (timeDate): “prazo('cip')” → “prazo('defesa')”"]}
    duration = edit('<bpmn:timeDate xsi:type="bpmn:tFormalExpression">prazo(\'cip\')</bpmn:timeDate>',
                    '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"P10D"</bpmn:timeDuration>')
    assert compare(SOURCE, duration).changed == {"prazo_cip": [
        "temporizador (timeDate): removido (era “prazo('cip')”)",
        "temporizador (timeDuration): incluído “\"P10D\"”"]}


def test_changed_form_groups_and_due_date() -> None:
    changed = edit('camunda:formKey="emitir_cip" camunda:candidateGroups="atendente" camunda:dueDate="prazo_uteis(2)"',
                   'camunda:formKey="emitir_cip_v2" camunda:candidateGroups="analista, gestor" '
                   'camunda:dueDate="prazo_uteis(3)"')
    assert compare(SOURCE, changed).changed == {"emitir_cip": [
        "formulário (formKey): “emitir_cip” → “emitir_cip_v2”",
        "grupos (candidateGroups): “atendente” → “analista, gestor”",
        "prazo (dueDate): “prazo_uteis(2)” → “prazo_uteis(3)”",
    ]}


def test_changed_script_type_and_lane() -> None:
    script = edit("cip_respondida = False", "cip_respondida = False\nprazo_encerrado = True")
    assert compare(SOURCE, script).changed == {"registrar_sem_resposta": ["script: alterado"]}
    manual = edit('<bpmn:userTask id="realizar_audiencia" name="Realizar audiência de conciliação" '
                  'camunda:formKey="audiencia_conciliacao" camunda:candidateGroups="conciliador">',
                  '<bpmn:manualTask id="realizar_audiencia" name="Realizar audiência de conciliação">')
    manual = edit("</bpmn:userTask>\n    <bpmn:exclusiveGateway id=\"gw_audiencia\"",
                  "</bpmn:manualTask>\n    <bpmn:exclusiveGateway id=\"gw_audiencia\"", manual)
    assert compare(SOURCE, manual).changed == {"realizar_audiencia": [
        "tipo: tarefa de usuário → tarefa manual",
        "formulário (formKey): removido (era “audiencia_conciliacao”)",
        "grupos (candidateGroups): removido (era “conciliador”)",
    ]}
    moved = edit("        <bpmn:flowNodeRef>emitir_cip</bpmn:flowNodeRef>\n", "")
    moved = edit("<bpmn:flowNodeRef>analisar_reclamacao</bpmn:flowNodeRef>",
                 "<bpmn:flowNodeRef>analisar_reclamacao</bpmn:flowNodeRef><bpmn:flowNodeRef>emitir_cip"
                 "</bpmn:flowNodeRef>", moved)
    assert compare(SOURCE, moved).changed == {"emitir_cip": ["raia: “Atendente” → “Analista”"]}


def test_changed_default_flow() -> None:
    comparison = compare(SOURCE, edit('id="gw_preliminar" name="Resolvida no contato direto?" default="f_prelim_nao"',
                                      'id="gw_preliminar" name="Resolvida no contato direto?" default="f_prelim_sim"'))
    assert comparison.changed == {"f_prelim_nao": ["fluxo padrão: “sim” → “não”"],
                                  "f_prelim_sim": ["fluxo padrão: “não” → “sim”"]}


def test_changed_called_process_and_service_topic() -> None:
    changed = edit('calledElement="notificacao"', 'calledElement="notificacao_v2"', HEARING)
    changed = edit('camunda:topic="enviar_email"', 'camunda:topic="enviar_sms"', changed)
    assert compare(HEARING, changed).changed == {
        "notificar_fornecedor": ["processo chamado (calledElement): “notificacao” → “notificacao_v2”"],
        "convidar_consumidor": ["tópico do serviço (topic): “enviar_email” → “enviar_sms”"],
    }


def test_layout_is_not_a_change() -> None:
    moved = re.sub(r'(<bpmndi:BPMNShape id="emitir_cip_di" bpmnElement="emitir_cip">\s*<dc:Bounds x=")(\d+)',
                   lambda m: m.group(1) + str(int(m.group(2)) + 40), SOURCE)
    assert moved != SOURCE
    assert compare(SOURCE, moved).identical


def test_result_is_json_for_the_viewers() -> None:
    comparison = compare(SOURCE, edit('camunda:formKey="emitir_cip"', 'camunda:formKey="emitir_cip_v2"'))
    data = json.loads(json.dumps(comparison.to_dict()))
    assert data["identical"] is False
    assert data["changed"] == {"emitir_cip": ["formulário (formKey): “emitir_cip” → “emitir_cip_v2”"]}
    assert data["markers"]["after"] == {"emitir_cip": "changed"}


def test_not_a_diagram() -> None:
    with pytest.raises(EngineError, match="diagrama B não é um XML válido"):
        compare(SOURCE, edit("</bpmn:process>", "</bpmn:processo>"))
    with pytest.raises(EngineError, match="diagrama A não é BPMN"):
        compare("<html><body/></html>", SOURCE)
