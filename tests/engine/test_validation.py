"""engine.modeling.validation on the real complaint diagram and on broken copies of it.

Each broken diagram is the real ``workflows/reclamacao.bpmn`` with one targeted text edit, so it
stays valid in every other respect and the problem reported can only come from that edit.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.errors import DefinitionError
from engine.forms.schema import FormRegistry
from engine.modeling.validation import Problem, validate_bytes, validate_path
from engine.runtime import Runtime
from engine.store.models import ProcessDefinition
from tasks.registry import default_registry
from tests.support.paths import REPO_ROOT

BPMN_PATH = REPO_ROOT / "workflows" / "reclamacao.bpmn"
SOURCE = BPMN_PATH.read_text(encoding="utf-8")
FILENAME = "reclamacao.bpmn"

SERVICES = default_registry()


@pytest.fixture(scope="module")
def forms() -> FormRegistry:
    return FormRegistry(REPO_ROOT / "forms")


def edit(old: str, new: str, text: str = SOURCE) -> str:
    """The diagram with ``old`` (which must occur exactly once) replaced by ``new``."""
    assert text.count(old) == 1, f"{old!r} aparece {text.count(old)} vezes"
    return text.replace(old, new)


def line_of(text: str, fragment: str) -> int:
    """1-based line of the first line containing ``fragment``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if fragment in line:
            return number
    raise AssertionError(f"{fragment!r} não encontrado")


def check(text: str, forms: FormRegistry) -> list[Problem]:
    return validate_bytes(text.encode("utf-8"), FILENAME, forms, services=SERVICES)


def single(text: str, forms: FormRegistry) -> Problem:
    problems = check(text, forms)
    assert len(problems) == 1, problems
    assert problems[0].file == FILENAME
    return problems[0]


# -- the real diagram ------------------------------------------------------------------------------
def test_the_real_diagram_has_no_problems(forms: FormRegistry) -> None:
    assert check(SOURCE, forms) == []
    assert validate_path(BPMN_PATH, forms, services=SERVICES) == []


def test_runtime_forms_registry_gives_the_same_answer(runtime: Runtime) -> None:
    assert validate_bytes(SOURCE.encode(), FILENAME, runtime.forms, services=runtime.services) == []
    broken = edit('camunda:formKey="emitir_cip"', 'camunda:formKey="emitir_cip_antigo"')
    problems = validate_bytes(broken.encode(), FILENAME, runtime.forms, services=runtime.services)
    assert [p.element_id for p in problems] == ["emitir_cip"]


def test_unreadable_path(forms: FormRegistry, tmp_path: Path) -> None:
    missing = tmp_path / "nao_existe.bpmn"
    [problem] = validate_path(missing, forms, services=SERVICES)
    assert problem.file == str(missing)
    assert "Não foi possível ler o arquivo" in problem.message


# -- not a usable BPMN file ------------------------------------------------------------------------
def test_malformed_xml_reports_the_line(forms: FormRegistry) -> None:
    broken = edit("</bpmn:process>", "</bpmn:processo>")
    problem = single(broken, forms)
    assert problem.message.startswith("XML malformado")
    assert problem.line == line_of(broken, "</bpmn:processo>")
    assert problem.element_id == ""
    assert f"{FILENAME}:{problem.line}:" in str(problem)


def test_malformed_attribute_reports_its_line(forms: FormRegistry) -> None:
    broken = edit('<bpmn:endEvent id="fim_acordo" name="Encerrada: acordo em audiência">',
                  '<bpmn:endEvent id="fim_acordo" name="Encerrada: acordo em audiência>')
    problem = single(broken, forms)
    assert problem.message.startswith("XML malformado")
    # lxml reports where it gave up: at or just after the broken tag, never before it.
    assert problem.line is not None
    assert line_of(broken, 'id="fim_acordo"') <= problem.line <= line_of(broken, 'id="fim_acordo"') + 2


def test_not_bpmn(forms: FormRegistry) -> None:
    html = "<?xml version='1.0' encoding='UTF-8'?>\n<html><body><p>Reclamação</p></body></html>\n"
    problem = single(html, forms)
    assert "não é um diagrama BPMN" in problem.message
    assert problem.line == 2


def test_bpmn_in_the_wrong_namespace_is_not_bpmn(forms: FormRegistry) -> None:
    broken = SOURCE.replace('xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"',
                            'xmlns:bpmn="http://example.com/not-bpmn"')
    assert "não é um diagrama BPMN" in single(broken, forms).message


def test_no_executable_process(forms: FormRegistry) -> None:
    broken = edit('isExecutable="true"', 'isExecutable="false"')
    problem = single(broken, forms)
    assert "Nenhum processo executável" in problem.message
    assert problem.line == line_of(broken, "<bpmn:definitions")


def test_missing_bpmndi(forms: FormRegistry) -> None:
    broken, removed = re.subn(r"\s*<bpmndi:BPMNDiagram.*</bpmndi:BPMNDiagram>", "", SOURCE, flags=re.S)
    assert removed == 1 and "BPMNShape" not in broken
    problem = single(broken, forms)
    assert "BPMNDI" in problem.message
    assert "modelador" in problem.message


# -- user tasks, lanes and roles -------------------------------------------------------------------
def test_user_task_with_a_form_that_does_not_exist(forms: FormRegistry) -> None:
    broken = edit('camunda:formKey="emitir_cip"', 'camunda:formKey="emitir_cip_v2"')
    problem = single(broken, forms)
    assert problem.element_id == "emitir_cip"
    assert "emitir_cip_v2" in problem.message
    assert "não existe" in problem.message
    assert problem.line == line_of(broken, '<bpmn:userTask id="emitir_cip"')
    assert str(problem).startswith(f"{FILENAME}:{problem.line}: [emitir_cip]")


def test_user_task_without_form_key(forms: FormRegistry) -> None:
    broken = edit(' camunda:formKey="analise_reclamacao"', "")
    problem = single(broken, forms)
    assert problem.element_id == "analisar_reclamacao"
    assert "sem formulário" in problem.message
    assert problem.line == line_of(broken, '<bpmn:userTask id="analisar_reclamacao"')


def test_lane_without_a_role(forms: FormRegistry) -> None:
    broken = edit('name="Conciliador"', 'name="Marketing"')
    problem = single(broken, forms)
    assert problem.element_id == "Lane_conciliador"
    assert "'Marketing'" in problem.message
    assert problem.line == line_of(broken, 'name="Marketing"')


def test_lane_names_match_roles_ignoring_case_and_accents(forms: FormRegistry) -> None:
    assert check(edit('name="Analista"', 'name="ANALISTA"'), forms) == []
    assert check(edit('name="Conciliador"', 'name="Autoridade Julgadora"'), forms) == []


def test_unknown_candidate_group(forms: FormRegistry) -> None:
    broken = edit('camunda:formKey="classificacao_reclamacao" camunda:candidateGroups="analista"',
                  'camunda:formKey="classificacao_reclamacao" camunda:candidateGroups="analista, juiz"')
    problem = single(broken, forms)
    assert problem.element_id == "classificar_reclamacao"
    assert "juiz" in problem.message
    assert "analista" not in problem.message.split(":")[-1]


def test_user_task_without_group_takes_its_lanes_role(forms: FormRegistry) -> None:
    # Without candidateGroups the lane ("Analista") gives the role: still valid.
    assert check(edit('camunda:formKey="analise_reclamacao" camunda:candidateGroups="analista"',
                      'camunda:formKey="analise_reclamacao"'), forms) == []


def test_user_task_with_neither_group_nor_role_lane(forms: FormRegistry) -> None:
    broken = edit('camunda:formKey="audiencia_conciliacao" camunda:candidateGroups="conciliador"',
                  'camunda:formKey="audiencia_conciliacao"')
    broken = edit('name="Conciliador"', 'name="Marketing"', broken)
    problems = check(broken, forms)
    assert {(p.element_id, "Marketing" in p.message) for p in problems} == {
        ("Lane_conciliador", True), ("realizar_audiencia", False)}
    [task_problem] = [p for p in problems if p.element_id == "realizar_audiencia"]
    assert "sem papel" in task_problem.message


# -- expressions -----------------------------------------------------------------------------------
def test_condition_with_a_syntax_error(forms: FormRegistry) -> None:
    broken = edit("desfecho == 'audiencia'", "desfecho = 'audiencia'")
    problem = single(broken, forms)
    assert problem.element_id == "gw_analise"
    assert "Condição inválida" in problem.message
    assert "realizar_audiencia" in problem.message
    assert problem.line == line_of(broken, '<bpmn:exclusiveGateway id="gw_analise"')


def test_script_with_a_syntax_error(forms: FormRegistry) -> None:
    broken = edit("cip_respondida = False", "cip_respondida = = False")
    problem = single(broken, forms)
    assert problem.element_id == "registrar_sem_resposta"
    assert "Erro de sintaxe no script" in problem.message
    assert problem.line == line_of(broken, '<bpmn:scriptTask id="registrar_sem_resposta"')


def test_script_error_on_a_later_line_names_that_line(forms: FormRegistry) -> None:
    broken = edit('resposta_fornecedor = "Fornecedor não respondeu à CIP no prazo."',
                  'resposta_fornecedor = "Fornecedor não respondeu à CIP no prazo.')
    problem = single(broken, forms)
    assert problem.element_id == "registrar_sem_resposta"
    assert "(linha 2)" in problem.message


def test_timer_expression_with_a_syntax_error(forms: FormRegistry) -> None:
    broken = edit("prazo('cip')</bpmn:timeDate>", "prazo('cip'</bpmn:timeDate>")
    problem = single(broken, forms)
    assert problem.element_id == "prazo_cip"
    assert "temporizador" in problem.message
    assert problem.line == line_of(broken, '<bpmn:boundaryEvent id="prazo_cip"')


def test_due_date_expression_with_a_syntax_error(forms: FormRegistry) -> None:
    broken = edit('camunda:dueDate="prazo_uteis(15)"', 'camunda:dueDate="prazo_uteis(15"')
    problem = single(broken, forms)
    assert problem.element_id == "analisar_reclamacao"
    assert "camunda:dueDate" in problem.message
    assert problem.line == line_of(broken, '<bpmn:userTask id="analisar_reclamacao"')


def test_several_problems_are_all_reported(forms: FormRegistry) -> None:
    broken = edit('camunda:formKey="emitir_cip"', 'camunda:formKey="nao_existe"')
    broken = edit("cip_respondida = False", "cip_respondida = = False", broken)
    broken = edit('name="Conciliador"', 'name="Marketing"', broken)
    assert sorted(p.element_id for p in check(broken, forms)) == [
        "Lane_conciliador", "emitir_cip", "registrar_sem_resposta"]


# -- what SpiffWorkflow itself refuses --------------------------------------------------------------
def test_sequence_flow_to_a_missing_element(forms: FormRegistry) -> None:
    broken = edit('targetRef="fim_resolvida"', 'targetRef="fim_inexistente"')
    problem = single(broken, forms)
    assert problem.message.startswith("Diagrama inválido")
    assert "fim_inexistente" in problem.message
    assert problem.element_id == "gw_analise"
    assert problem.line == line_of(broken, '<bpmn:exclusiveGateway id="gw_analise"')


def test_timer_without_a_time_definition(forms: FormRegistry) -> None:
    broken = edit('<bpmn:timeDate xsi:type="bpmn:tFormalExpression">prazo(\'cip\')</bpmn:timeDate>', "")
    problem = single(broken, forms)
    assert problem.element_id == "prazo_cip"
    assert problem.message.startswith("Diagrama inválido")


def without_hearing_outcomes(text: str) -> str:
    """The diagram with both flows out of ``gw_audiencia`` removed (and their references/DI)."""
    text, flows = re.subn(r'\s*<bpmn:sequenceFlow id="f_(?:acordo|sem_acordo)".*?</bpmn:sequenceFlow>|'
                          r'\s*<bpmn:sequenceFlow id="f_(?:acordo|sem_acordo)"[^>]*/>', "", text, flags=re.S)
    text, edges = re.subn(r'\s*<bpmndi:BPMNEdge id="f_(?:acordo|sem_acordo)_di".*?</bpmndi:BPMNEdge>', "", text,
                          flags=re.S)
    text, refs = re.subn(r"\s*<bpmn:(?:outgoing|incoming)>f_(?:acordo|sem_acordo)</bpmn:(?:outgoing|incoming)>",
                         "", text)
    assert (flows, edges, refs) == (2, 2, 4)
    return text


def test_gateway_without_outgoing_flow(forms: FormRegistry) -> None:
    """SpiffWorkflow parses it but fails at run time ("At least one output required") when the
    hearing is recorded; the validator must refuse it before deployment."""
    broken = without_hearing_outcomes(SOURCE)
    problems = check(broken, forms)
    assert "gw_audiencia" in [p.element_id for p in problems], problems
    [problem] = [p for p in problems if p.element_id == "gw_audiencia"]
    assert problem.line == line_of(broken, '<bpmn:exclusiveGateway id="gw_audiencia"')


def test_boundary_event_attached_to_a_missing_task(forms: FormRegistry) -> None:
    broken = edit('attachedToRef="registrar_resposta"', 'attachedToRef="registrar_respostas"')
    assert [p.element_id for p in check(broken, forms)] == ["prazo_cip"]


def test_sequence_flow_from_a_missing_element(forms: FormRegistry) -> None:
    broken = edit('sourceRef="emitir_cip"', 'sourceRef="emitir_cips"')
    problems = check(broken, forms)
    assert "f_cip" in [p.element_id for p in problems]
    assert any("emitir_cips" in p.message for p in problems)


# -- deployment refuses broken files -----------------------------------------------------------------
def test_deploy_refuses_a_broken_file_and_writes_nothing(runtime: Runtime) -> None:
    def definitions() -> list[tuple[str, int, str]]:
        with runtime.Session() as session:
            return [(d.process_id, d.version, d.content_hash) for d in
                    session.scalars(select(ProcessDefinition).order_by(ProcessDefinition.id))]

    before = definitions()
    assert [(p, v) for p, v, _ in before if p == "reclamacao"] == [("reclamacao", 1)]
    broken = edit('camunda:formKey="emitir_cip"', 'camunda:formKey="emitir_cip_v2"')
    broken = edit("cip_respondida = False", "cip_respondida = = False", broken)

    with runtime.Session.begin() as session, pytest.raises(DefinitionError) as raised:
        runtime.definitions.deploy(session, broken.encode("utf-8"), FILENAME, "gil")
    assert sorted(p.element_id for p in raised.value.problems) == ["emitir_cip", "registrar_sem_resposta"]
    assert "emitir_cip_v2" in str(raised.value)
    assert definitions() == before

    with runtime.Session.begin() as session, pytest.raises(DefinitionError):
        runtime.definitions.deploy(session, b"<bpmn:definitions", FILENAME, "gil")
    assert definitions() == before
    with runtime.Session() as session:
        assert session.scalar(select(func.count()).select_from(ProcessDefinition)) == len(before)


def test_deploy_directory_is_all_or_nothing(runtime: Runtime, tmp_path: Path) -> None:
    (tmp_path / "reclamacao.bpmn").write_text(SOURCE.replace('name="Encerrada: resolvida"',
                                                             'name="Encerrada: resolvida (v2)"'), encoding="utf-8")
    (tmp_path / "zz_quebrado.bpmn").write_text(edit('name="Conciliador"', 'name="Marketing"'), encoding="utf-8")
    runtime.definitions.workflows_dir = tmp_path
    with runtime.Session.begin() as session, pytest.raises(DefinitionError) as raised:
        runtime.definitions.deploy_directory(session, "gil")
    assert [p.element_id for p in raised.value.problems] == ["Lane_conciliador"]
    assert raised.value.problems[0].file.endswith("zz_quebrado.bpmn")
    with runtime.Session() as session:
        assert {d.version for d in session.scalars(select(ProcessDefinition))} == {1}  # nothing new deployed
