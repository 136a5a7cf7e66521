"""engine.modeling.versioning: the catalogue of procedures, drafts, deploy, rollback and migration of cases.

Every new version is the real ``workflows/reclamacao.bpmn`` with targeted text edits, so the
difference between versions is exactly the edit. Runs on SQLite by default and on PostgreSQL
when ``DATABASE_URL`` is set.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import pytest
from sqlalchemy import event, func, select

from engine import clock
from engine.actors import Actor
from engine.errors import DefinitionError, NotFound, PermissionDenied
from engine.modeling import migration
from engine.modeling.models import DeploymentEvent, ProcessDraft
from engine.modeling.versioning import DraftError, ProcessCatalog
from engine.runtime import CaseResult, Runtime
from engine.store.models import AuditEvent, Case, ExternalJob, OpenTask, ProcessDefinition
from tasks import registry
from tests.support.paths import REPO_ROOT

WORKFLOWS = REPO_ROOT / "workflows"
SOURCE = (WORKFLOWS / "reclamacao.bpmn").read_text(encoding="utf-8")
PROCESS = "reclamacao"
START = dt.datetime(2026, 3, 2, 13, 0, tzinfo=dt.UTC)  # tests/conftest.py's frozen clock

PRELIM_RESOLVIDA = {"resultado_preliminar": "resolvida",
                    "contato_descricao": "Liguei para o SAC em 03/03; a loja trocou a geladeira."}
PRELIM_NAO_RESOLVIDA = {"resultado_preliminar": "nao_resolvida",
                        "contato_descricao": "Liguei para o SAC em 03/03; a loja se recusou a trocar."}
CIP = {"cip_texto": "Solicitamos resposta em 10 dias sobre a geladeira entregue com defeito.",
       "cip_email_fornecedor": "sac@lojaexemplo.com.br"}
RESPOSTA = {"resposta_fornecedor": "A loja alega mau uso do produto.", "data_resposta": "05/03/2026",
            "proposta_acordo": "", "consumidor_aceitou": "sem_proposta"}
ANALISE_RESOLVIDA = {"desfecho": "resolvida", "fundamentacao": "Parecer resolvida: CDC art. 18."}


def edit(old: str, new: str, text: str = SOURCE) -> str:
    """The diagram with ``old`` (which must occur exactly once) replaced by ``new``."""
    assert text.count(old) == 1, f"{old!r} aparece {text.count(old)} vezes"
    return text.replace(old, new)


#: Version with a task renamed (nothing a running case depends on changes).
RENAMED = edit('name="Analisar reclamação"', 'name="Analisar reclamação (revisada)"')
#: Version where "Emitir CIP" passes to the analysts (its role changes).
CIP_BY_ANALYSTS = edit('camunda:formKey="emitir_cip" camunda:candidateGroups="atendente"',
                       'camunda:formKey="emitir_cip" camunda:candidateGroups="analista"')


def without_preliminary_task(text: str = SOURCE) -> str:
    """Version whose "Atendimento preliminar" has another id: the old task is gone."""
    for old, new in (('<bpmn:flowNodeRef>atendimento_preliminar<', '<bpmn:flowNodeRef>atendimento_inicial<'),
                     ('userTask id="atendimento_preliminar"', 'userTask id="atendimento_inicial"'),
                     ('targetRef="atendimento_preliminar"', 'targetRef="atendimento_inicial"'),
                     ('sourceRef="atendimento_preliminar"', 'sourceRef="atendimento_inicial"'),
                     ('bpmnElement="atendimento_preliminar"', 'bpmnElement="atendimento_inicial"')):
        text = edit(old, new, text)
    return text


# -- fixtures and helpers --------------------------------------------------------------------------
@pytest.fixture
def catalog(runtime: Runtime) -> ProcessCatalog:
    return ProcessCatalog(runtime)


@pytest.fixture
def modeler() -> Actor:
    return Actor("paula", "Paula Processos", frozenset({"analista_processos"}))


def deploy(catalog: ProcessCatalog, text: str, actor: Actor) -> ProcessDefinition:
    draft = catalog.save_draft(PROCESS, text, actor)
    return catalog.deploy_draft(draft.id, actor)


def only_task(result: CaseResult, spec_name: str) -> Any:
    assert [t.spec_name for t in result.open_tasks] == [spec_name]
    return result.open_tasks[0]


def step(rt: Runtime, result: CaseResult, spec_name: str, actor: Actor, values: Mapping[str, str]) -> CaseResult:
    return rt.complete_task(result.case_id, only_task(result, spec_name).task_id, actor, values)


def case_row(rt: Runtime, case_id: int) -> Case:
    with rt.Session() as session:
        found = session.get(Case, case_id)
        assert found is not None
        return found


def case_version(rt: Runtime, case_id: int) -> int:
    return case_row(rt, case_id).definition.version


def audit(rt: Runtime, case_id: int) -> list[AuditEvent]:
    with rt.Session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.id)))


def definitions(rt: Runtime) -> list[tuple[str, int, str]]:
    with rt.Session() as session:
        return [(d.process_id, d.version, d.content_hash)
                for d in session.scalars(select(ProcessDefinition).order_by(ProcessDefinition.id))]


def count(rt: Runtime, model: type[Any]) -> int:
    with rt.Session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def deployment_events(rt: Runtime) -> list[DeploymentEvent]:
    with rt.Session() as session:
        return list(session.scalars(select(DeploymentEvent).order_by(DeploymentEvent.id)))


def summary_of(catalog: ProcessCatalog, process_id: str = PROCESS) -> Any:
    [summary] = [p for p in catalog.catalog() if p.process_id == process_id]
    return summary


# -- catalogue -------------------------------------------------------------------------------------
def test_catalogue_lists_every_deployed_procedure(catalog: ProcessCatalog) -> None:
    summaries = {p.process_id: p for p in catalog.catalog()}
    expected = {"audiencia", "fiscalizacao", "notificacao", "processo_sancionatorio", "sancionatorio_emitir_documento",
                "reclamacao", "recurso_multa"}
    assert set(summaries) == expected
    complaint = summaries[PROCESS]
    assert (complaint.name, complaint.current_version, complaint.drafts) == ("Reclamação do consumidor", 1, [])
    [version] = complaint.versions
    assert version.version == 1 and version.current
    assert version.content_hash == hashlib.sha256((WORKFLOWS / "reclamacao.bpmn").read_bytes()).hexdigest()
    assert (version.deployed_by, version.deployed_at, version.filename) == ("sistema", START, "reclamacao.bpmn")
    assert (version.cases_total, version.cases_open) == (0, 0)
    # Both processes of one file are listed, each under the file it was deployed from.
    assert summaries["sancionatorio_emitir_documento"].versions[0].filename == "processo_sancionatorio.bpmn"


def test_catalogue_counts_cases_per_version_with_aggregate_queries(
        runtime: Runtime, catalog: ProcessCatalog, modeler: Actor, atendente: Actor,
        complaint: dict[str, str], frozen_clock: clock.FrozenClock) -> None:
    closed = runtime.start_case(PROCESS, atendente, complaint)
    step(runtime, closed, "atendimento_preliminar", atendente, PRELIM_RESOLVIDA)
    runtime.start_case(PROCESS, atendente, complaint)  # stays open on version 1
    frozen_clock.advance(dt.timedelta(hours=1))
    v2 = deploy(catalog, RENAMED, modeler)
    runtime.start_case(PROCESS, atendente, complaint)
    draft = catalog.save_draft(PROCESS, RENAMED, modeler)

    statements: list[str] = []

    def remember(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(runtime.db, "before_cursor_execute", remember)
    try:
        summary = summary_of(catalog)
    finally:
        event.remove(runtime.db, "before_cursor_execute", remember)
    assert len(statements) == 3, statements  # definitions, case counts, drafts: no per-case query
    assert not any("state" in s.split("FROM")[0] for s in statements), "no workflow state is read"

    assert summary.current_version == 2
    assert [(v.version, v.cases_total, v.cases_open, v.current) for v in summary.versions] == [
        (2, 1, 1, True), (1, 2, 1, False)]
    assert (summary.cases_total, summary.cases_open) == (3, 2)
    assert summary.versions[0].definition_id == v2.id
    assert (summary.versions[0].deployed_by, summary.versions[0].deployed_at) == ("paula", frozen_clock.current)
    assert [(d.id, d.based_on_version, d.created_by) for d in summary.drafts] == [(draft.id, 2, "paula")]


def test_a_procedure_with_only_a_draft_is_in_the_catalogue(catalog: ProcessCatalog, modeler: Actor) -> None:
    text = SOURCE.replace('id="reclamacao"', 'id="denuncia_coletiva"').replace(
        'name="Reclamação do consumidor" isExecutable', 'name="Denúncia coletiva" isExecutable')
    draft = catalog.save_draft("denuncia_coletiva", text, modeler)
    assert (draft.name, draft.based_on_definition_id) == ("Denúncia coletiva", None)
    summary = summary_of(catalog, "denuncia_coletiva")
    assert (summary.name, summary.current_version, summary.versions) == ("Denúncia coletiva", None, [])
    assert [d.id for d in summary.drafts] == [draft.id]
    definition = catalog.deploy_draft(draft.id, modeler)
    assert (definition.process_id, definition.version, definition.filename) == ("denuncia_coletiva", 1,
                                                                                "denuncia_coletiva.bpmn")
    summary = summary_of(catalog, "denuncia_coletiva")
    assert (summary.name, summary.current_version, summary.drafts) == ("Denúncia coletiva", 1, [])


# -- drafts ----------------------------------------------------------------------------------------
def test_save_and_update_a_draft(runtime: Runtime, catalog: ProcessCatalog, modeler: Actor,
                                 frozen_clock: clock.FrozenClock) -> None:
    draft = catalog.save_draft(PROCESS, RENAMED.encode("utf-8"), modeler)
    assert (draft.status, draft.created_by, draft.updated_by, draft.created_at) == ("rascunho", "paula", "paula", START)
    assert draft.name == "Reclamação do consumidor"
    assert draft.based_on_definition_id == catalog.definition(PROCESS).id
    frozen_clock.advance(dt.timedelta(minutes=5))
    other = Actor("rui", "Rui Processos", frozenset({"analista_processos"}))
    updated = catalog.save_draft(PROCESS, CIP_BY_ANALYSTS, other, draft_id=draft.id)
    assert updated.id == draft.id
    assert (updated.created_by, updated.updated_by, updated.updated_at) == ("paula", "rui", frozen_clock.current)
    assert catalog.draft(draft.id).bpmn_xml == CIP_BY_ANALYSTS
    assert count(runtime, ProcessDraft) == 1
    with pytest.raises(DraftError, match="é do processo 'reclamacao'"):
        catalog.save_draft("audiencia", (WORKFLOWS / "audiencia.bpmn").read_bytes(), modeler, draft_id=draft.id)


def test_draft_from_a_deployed_version(catalog: ProcessCatalog, modeler: Actor) -> None:
    draft = catalog.draft_from_version(PROCESS, modeler)
    assert draft.bpmn_xml == SOURCE
    assert draft.based_on_definition_id == catalog.definition(PROCESS, 1).id


@pytest.mark.parametrize(("size", "shown"), [(50 * 1024 * 1024, "50"), (5 * 1024 * 1024 + 512 * 1024, "5,5")])
def test_a_draft_over_5_mb_is_refused(runtime: Runtime, catalog: ProcessCatalog, modeler: Actor, size: int,
                                      shown: str) -> None:
    content = SOURCE.encode("utf-8") + b" " * (size - len(SOURCE.encode("utf-8")))
    with pytest.raises(DraftError) as raised:
        catalog.save_draft(PROCESS, content, modeler)
    assert str(raised.value) == f"O arquivo tem {shown} MB; o limite é 5 MB."
    assert count(runtime, ProcessDraft) == 0


def test_a_draft_of_exactly_5_mb_is_accepted(catalog: ProcessCatalog, modeler: Actor) -> None:
    content = SOURCE.encode("utf-8")
    content += b" " * (5 * 1024 * 1024 - len(content))
    assert catalog.save_draft(PROCESS, content, modeler).status == "rascunho"


def test_a_draft_not_in_utf8_is_refused(runtime: Runtime, catalog: ProcessCatalog, modeler: Actor) -> None:
    with pytest.raises(DraftError, match="UTF-8"):
        catalog.save_draft(PROCESS, SOURCE.encode("latin-1"), modeler)
    assert count(runtime, ProcessDraft) == 0


def test_a_draft_of_another_process_is_refused(runtime: Runtime, catalog: ProcessCatalog, modeler: Actor) -> None:
    with pytest.raises(DraftError) as raised:
        catalog.save_draft(PROCESS, (WORKFLOWS / "audiencia.bpmn").read_bytes(), modeler)
    assert "'audiencia'" in str(raised.value) and "'reclamacao'" in str(raised.value)
    renamed_process = edit('<bpmn:process id="reclamacao"', '<bpmn:process id="reclamacao_v2"')
    with pytest.raises(DraftError, match="reclamacao_v2"):
        catalog.save_draft(PROCESS, renamed_process, modeler)
    assert count(runtime, ProcessDraft) == 0


def test_a_file_with_two_processes_is_a_draft_of_either(catalog: ProcessCatalog, modeler: Actor) -> None:
    content = (WORKFLOWS / "processo_sancionatorio.bpmn").read_bytes()
    for process_id, name in (("processo_sancionatorio", "Processo sancionatório"),
                             ("sancionatorio_emitir_documento", "Emitir documento com prazo (processo auxiliar)")):
        draft = catalog.save_draft(process_id, content, modeler)
        assert draft.name == name
        assert catalog.validate_draft(draft.id) == []


def test_a_malformed_draft_is_saved_but_validation_reports_it(runtime: Runtime, catalog: ProcessCatalog,
                                                            modeler: Actor) -> None:
    broken = edit("</bpmn:process>", "</bpmn:processo>")
    draft = catalog.save_draft(PROCESS, broken, modeler)
    assert catalog.draft(draft.id).bpmn_xml == broken
    [problem] = catalog.validate_draft(draft.id)
    assert problem.message.startswith("XML malformado")
    assert problem.file == "reclamacao.bpmn"
    assert problem.line is not None


def test_only_process_analysts_change_procedures(catalog: ProcessCatalog, analista: Actor) -> None:
    with pytest.raises(PermissionDenied, match="analistas de processos"):
        catalog.save_draft(PROCESS, RENAMED, analista)
    admin = Actor("root", "Admin", frozenset({"admin"}))
    draft = catalog.save_draft(PROCESS, RENAMED, admin)
    with pytest.raises(PermissionDenied):
        catalog.deploy_draft(draft.id, analista)
    with pytest.raises(PermissionDenied):
        catalog.rollback(PROCESS, 1, analista)


def test_validation_uses_the_deployed_procedures_as_call_library(catalog: ProcessCatalog, modeler: Actor) -> None:
    hearing = (WORKFLOWS / "audiencia.bpmn").read_text(encoding="utf-8")
    assert catalog.validate_draft(catalog.save_draft("audiencia", hearing, modeler).id) == []
    broken = edit('calledElement="notificacao"', 'calledElement="notificacao_nova"', hearing)
    [problem] = catalog.validate_draft(catalog.save_draft("audiencia", broken, modeler).id)
    assert problem.element_id == "notificar_fornecedor"
    assert "notificacao_nova" in problem.message and "não existe" in problem.message


# -- deploy --------------------------------------------------------------------------------------
INVALID_DRAFTS = {
    "xml_malformado": (edit("</bpmn:process>", "</bpmn:processo>"), "", "XML malformado"),
    "spiffworkflow": (edit('<bpmn:timeDate xsi:type="bpmn:tFormalExpression">prazo(\'cip\')</bpmn:timeDate>', ""),
                      "prazo_cip", "Diagrama inválido"),
    "script": (edit("cip_respondida = False", "cip_respondida = = False"), "registrar_sem_resposta",
               "Erro de sintaxe no script"),
}


@pytest.mark.parametrize("kind", sorted(INVALID_DRAFTS))
def test_an_invalid_draft_deploys_nothing(runtime: Runtime, catalog: ProcessCatalog, modeler: Actor,
                                          kind: str) -> None:
    text, element_id, message = INVALID_DRAFTS[kind]
    before = definitions(runtime)
    draft = catalog.save_draft(PROCESS, text, modeler)
    with pytest.raises(DefinitionError) as raised:
        catalog.deploy_draft(draft.id, modeler)
    [problem] = raised.value.problems
    assert (problem.element_id, problem.message.startswith(message)) == (element_id, True), problem
    assert definitions(runtime) == before
    assert deployment_events(runtime) == []
    assert catalog.draft(draft.id).status == "rascunho"  # still there to be fixed


def test_deploy_a_valid_draft_new_cases_use_it_running_cases_keep_theirs(
        runtime: Runtime, catalog: ProcessCatalog, modeler: Actor, atendente: Actor, analista: Actor,
        complaint: dict[str, str]) -> None:
    running = runtime.start_case(PROCESS, atendente, complaint)
    draft = catalog.save_draft(PROCESS, RENAMED, modeler)
    assert catalog.validate_draft(draft.id) == []

    v2 = catalog.deploy_draft(draft.id, modeler)
    assert (v2.process_id, v2.version, v2.deployed_by, v2.bpmn_xml) == (PROCESS, 2, "paula", RENAMED)
    assert v2.content_hash == hashlib.sha256(RENAMED.encode("utf-8")).hexdigest()
    assert catalog.draft(draft.id).status == "implantado"
    [logged] = deployment_events(runtime)
    assert (logged.process_id, logged.definition_id, logged.action, logged.actor) == (PROCESS, v2.id, "implantacao",
                                                                                      "paula")
    assert logged.details["versao"] == 2 and logged.details["rascunho_id"] == draft.id
    assert [(p, v) for p, v, _ in definitions(runtime) if p == PROCESS] == [(PROCESS, 1), (PROCESS, 2)]

    new = runtime.start_case(PROCESS, atendente, complaint)
    assert case_version(runtime, new.case_id) == 2
    assert "(versão 2)" in audit(runtime, new.case_id)[0].description
    assert case_version(runtime, running.case_id) == 1

    def until_analysis(result: CaseResult) -> CaseResult:
        result = step(runtime, result, "atendimento_preliminar", atendente, PRELIM_NAO_RESOLVIDA)
        result = step(runtime, result, "emitir_cip", atendente, CIP)
        return step(runtime, result, "registrar_resposta", atendente, RESPOSTA)

    old_at_analysis, new_at_analysis = until_analysis(running), until_analysis(new)
    assert only_task(old_at_analysis, "analisar_reclamacao").title == "Analisar reclamação"
    assert only_task(new_at_analysis, "analisar_reclamacao").title == "Analisar reclamação (revisada)"
    done = step(runtime, old_at_analysis, "analisar_reclamacao", analista, ANALISE_RESOLVIDA)
    assert done.status == "encerrado"
    assert case_version(runtime, running.case_id) == 1

    with pytest.raises(DraftError, match="já foi implantado"):
        catalog.deploy_draft(draft.id, modeler)
    with pytest.raises(DraftError, match="já foi implantado"):
        catalog.save_draft(PROCESS, RENAMED, modeler, draft_id=draft.id)


def test_a_draft_equal_to_the_current_version_deploys_nothing(runtime: Runtime, catalog: ProcessCatalog,
                                                              modeler: Actor) -> None:
    draft = catalog.save_draft(PROCESS, SOURCE, modeler)
    with pytest.raises(DraftError, match=r"igual à versão atual \(1\)"):
        catalog.deploy_draft(draft.id, modeler)
    assert catalog.draft(draft.id).status == "rascunho"
    assert deployment_events(runtime) == []


def test_discarded_draft_is_kept(runtime: Runtime, catalog: ProcessCatalog, modeler: Actor) -> None:
    draft = catalog.save_draft(PROCESS, RENAMED, modeler)
    assert catalog.discard_draft(draft.id, modeler).status == "descartado"
    assert catalog.draft(draft.id).bpmn_xml == RENAMED
    assert summary_of(catalog).drafts == []
    with pytest.raises(DraftError, match="descartado"):
        catalog.deploy_draft(draft.id, modeler)
    with pytest.raises(NotFound):
        catalog.draft(draft.id + 100)


# -- rollback --------------------------------------------------------------------------------------
def test_rollback_makes_an_earlier_content_current_as_a_new_version(
        runtime: Runtime, catalog: ProcessCatalog, modeler: Actor, atendente: Actor,
        complaint: dict[str, str]) -> None:
    v1 = catalog.definition(PROCESS, 1)
    v2 = deploy(catalog, RENAMED, modeler)
    on_v2 = runtime.start_case(PROCESS, atendente, complaint)

    v3 = catalog.rollback(PROCESS, 1, modeler)
    assert (v3.version, v3.bpmn_xml, v3.content_hash, v3.deployed_by) == (3, v1.bpmn_xml, v1.content_hash, "paula")
    logged = deployment_events(runtime)[-1]
    assert (logged.action, logged.definition_id, logged.actor) == ("reversao", v3.id, "paula")
    assert "reversão para a versão 1" in logged.details["descricao"]
    assert (logged.details["versao_origem"], logged.details["versao_anterior"]) == (1, 2)

    assert case_version(runtime, runtime.start_case(PROCESS, atendente, complaint).case_id) == 3
    assert case_version(runtime, on_v2.case_id) == 2
    assert [v.version for v in summary_of(catalog).versions] == [3, 2, 1]

    with pytest.raises(DraftError, match="nada a reverter"):
        catalog.rollback(PROCESS, 1, modeler)  # version 3 already has version 1's content
    with pytest.raises(DraftError, match="nada a reverter"):
        catalog.rollback(PROCESS, 3, modeler)
    with pytest.raises(NotFound, match="versão 9"):
        catalog.rollback(PROCESS, 9, modeler)
    v4 = catalog.rollback(PROCESS, 2, modeler)
    assert (v4.version, v4.content_hash) == (4, v2.content_hash)


# -- migration of running cases ---------------------------------------------------------------------
def test_migrate_moves_cases_whose_position_is_unchanged(
        runtime: Runtime, catalog: ProcessCatalog, modeler: Actor, atendente: Actor, analista: Actor,
        complaint: dict[str, str]) -> None:
    at_preliminary = runtime.start_case(PROCESS, atendente, complaint)
    at_cip = step(runtime, runtime.start_case(PROCESS, atendente, complaint), "atendimento_preliminar", atendente,
                  PRELIM_NAO_RESOLVIDA)
    closed = step(runtime, runtime.start_case(PROCESS, atendente, complaint), "atendimento_preliminar", atendente,
                  PRELIM_RESOLVIDA)
    v2 = deploy(catalog, CIP_BY_ANALYSTS, modeler)
    version_before = case_row(runtime, at_preliminary.case_id).version

    report = catalog.migrate_cases(PROCESS, 1, 2, modeler)

    assert [c.case_id for c in report.moved] == [at_preliminary.case_id]
    [kept] = report.not_moved
    assert kept.case_id == at_cip.case_id
    assert "emitir_cip" in kept.reason and "mudou na versão 2" in kept.reason
    assert "grupos (candidateGroups): 'atendente' → 'analista'" in kept.reason
    assert closed.case_id not in [c.case_id for c in report.moved + report.not_moved]
    assert "1 caso migrado, 1 caso mantido na versão 1" in report.summary()

    moved = case_row(runtime, at_preliminary.case_id)
    assert (moved.definition_id, moved.version) == (v2.id, version_before + 1)
    last = audit(runtime, at_preliminary.case_id)[-1]
    assert (last.action, last.actor) == ("migrado_versao", "paula")
    assert last.description.startswith("Caso migrado da versão 1 para a versão 2")
    logged = deployment_events(runtime)[-1]
    assert (logged.action, logged.definition_id, logged.details["migrados"]) == ("migracao", v2.id,
                                                                                  [at_preliminary.case_id])
    assert logged.details["nao_migrados"][0]["caso"] == at_cip.case_id
    assert case_version(runtime, at_cip.case_id) == 1

    # The moved case continues on version 2: "Emitir CIP" is now the analysts' task.
    result = step(runtime, at_preliminary, "atendimento_preliminar", atendente, PRELIM_NAO_RESOLVIDA)
    assert only_task(result, "emitir_cip").role == "analista"
    result = step(runtime, result, "emitir_cip", analista, CIP)
    result = step(runtime, result, "registrar_resposta", atendente, RESPOSTA)
    result = step(runtime, result, "analisar_reclamacao", analista, ANALISE_RESOLVIDA)
    assert result.status == "encerrado"
    assert case_row(runtime, at_preliminary.case_id).definition_id == v2.id

    # The case that stayed continues on version 1, where the attendants emit the CIP.
    assert only_task(at_cip, "emitir_cip").role == "atendente"
    assert step(runtime, at_cip, "emitir_cip", atendente, CIP).open_tasks[0].spec_name == "registrar_resposta"


def test_migrate_keeps_cases_whose_position_or_history_is_gone(
        runtime: Runtime, catalog: ProcessCatalog, modeler: Actor, atendente: Actor,
        complaint: dict[str, str]) -> None:
    at_preliminary = runtime.start_case(PROCESS, atendente, complaint)
    at_cip = step(runtime, runtime.start_case(PROCESS, atendente, complaint), "atendimento_preliminar", atendente,
                  PRELIM_NAO_RESOLVIDA)
    deploy(catalog, without_preliminary_task(), modeler)

    report = catalog.migrate_cases(PROCESS, 1, 2, modeler)

    assert report.moved == []
    reasons = {c.case_id: c.reason for c in report.not_moved}
    assert "“Atendimento preliminar” (atendimento_preliminar)" in reasons[at_preliminary.case_id]
    assert "não existe na versão 2" in reasons[at_preliminary.case_id]
    assert "atendimento_preliminar" in reasons[at_cip.case_id] and "histórico" in reasons[at_cip.case_id]
    for case_id in (at_preliminary.case_id, at_cip.case_id):
        assert case_version(runtime, case_id) == 1
        assert "migrado_versao" not in [e.action for e in audit(runtime, case_id)]
    # Nothing of the kept cases changed: they go on as before.
    step(runtime, at_preliminary, "atendimento_preliminar", atendente, PRELIM_RESOLVIDA)


def test_migrate_does_not_move_a_case_changed_meanwhile(
        runtime: Runtime, catalog: ProcessCatalog, modeler: Actor, atendente: Actor, complaint: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    started = runtime.start_case(PROCESS, atendente, complaint)
    v2 = deploy(catalog, RENAMED, modeler)
    original = catalog.position_problem
    changed: list[CaseResult] = []

    def someone_works_on_the_case_meanwhile(*args: Any) -> str | None:
        reason = original(*args)  # the case may move (it waits on an unchanged task)...
        changed.append(step(runtime, started, "atendimento_preliminar", atendente, PRELIM_NAO_RESOLVIDA))
        return reason  # ...but it has changed before the migration writes it

    monkeypatch.setattr(migration, "position_problem", someone_works_on_the_case_meanwhile)
    report = catalog.migrate_cases(PROCESS, 1, 2, modeler)
    monkeypatch.undo()

    assert report.moved == []
    [kept] = report.not_moved
    assert kept.case_id == started.case_id and "alterado por outra pessoa" in kept.reason
    row = case_row(runtime, started.case_id)
    assert (row.definition.version, row.version) == (1, changed[0].version)
    assert "migrado_versao" not in [e.action for e in audit(runtime, started.case_id)]
    with runtime.Session() as session:
        assert [t.spec_name for t in session.scalars(select(OpenTask).where(OpenTask.case_id == started.case_id))] \
            == ["emitir_cip"]

    # Tried again, it moves (it now waits on "Emitir CIP", unchanged in version 2) and goes on there.
    again = catalog.migrate_cases(PROCESS, 1, 2, modeler)
    assert [c.case_id for c in again.moved] == [started.case_id]
    assert case_row(runtime, started.case_id).definition_id == v2.id
    after = step(runtime, changed[0], "emitir_cip", atendente, CIP)
    assert only_task(after, "registrar_resposta").spec_name == "registrar_resposta"


def test_migrate_refuses_unknown_or_equal_versions(catalog: ProcessCatalog, modeler: Actor) -> None:
    with pytest.raises(NotFound, match="versão 2"):
        catalog.migrate_cases(PROCESS, 1, 2, modeler)
    with pytest.raises(DraftError, match="versões diferentes"):
        catalog.migrate_cases(PROCESS, 1, 1, modeler)


def test_compare_a_draft_and_two_versions(catalog: ProcessCatalog, modeler: Actor) -> None:
    draft = catalog.save_draft(PROCESS, CIP_BY_ANALYSTS, modeler)
    assert list(catalog.compare_draft(draft.id).changed) == ["emitir_cip"]
    deploy(catalog, RENAMED, modeler)
    comparison = catalog.compare_versions(PROCESS, 1, 2)
    assert comparison.changed == {"analisar_reclamacao": [
        "nome: “Analisar reclamação” → “Analisar reclamação (revisada)”"]}


# -- a case inside a call activity ------------------------------------------------------------------
AGENDAMENTO = {"audiencia_data": "20/03/2026", "audiencia_horario": "14:30", "audiencia_modalidade": "videoconferencia",
               "audiencia_local": "https://video.procon.example/sala-7", "audiencia_observacoes": ""}
SENT = {"email_enviado_em": "2026-03-02T10:00:05-03:00", "email_message_id": "<1@procon>"}


def finish_job(rt: Runtime, case_id: int, spec_name: str) -> CaseResult:
    """Complete the single pending service task of the case, which must be ``spec_name``."""
    with rt.Session() as session:
        [job] = session.scalars(select(ExternalJob).where(ExternalJob.case_id == case_id,
                                                          ExternalJob.status == "pendente")).all()
    assert job.spec_name == spec_name
    return rt.complete_service_task(job.id, SENT, worker="teste")


def test_migrate_a_case_waiting_inside_a_called_procedure(
        runtime: Runtime, catalog: ProcessCatalog, modeler: Actor, atendente: Actor, conciliador: Actor) -> None:
    registry.load_handlers()
    hearing = (WORKFLOWS / "audiencia.bpmn").read_text(encoding="utf-8")
    started = runtime.start_case("audiencia", conciliador, AGENDAMENTO)
    inside = finish_job(runtime, started.case_id, "convidar_consumidor")  # now in the called "notificacao"
    draft = catalog.save_draft("audiencia", edit('name="Realizar audiência"', 'name="Realizar audiência (v2)"',
                                                 hearing), modeler)
    v2 = catalog.deploy_draft(draft.id, modeler)
    assert json.loads(case_row(runtime, started.case_id).state)["subprocesses"], "waits inside the call"

    report = catalog.migrate_cases("audiencia", 1, 2, modeler)

    assert ([c.case_id for c in report.moved], report.not_moved) == ([started.case_id], [])
    assert case_row(runtime, started.case_id).definition_id == v2.id
    result = finish_job(runtime, inside.case_id, "enviar_notificacao")
    result = step(runtime, result, "registrar_ciencia", atendente,
                  {"notificacao_ciencia_em": "03/03/2026", "notificacao_ciencia_meio": "confirmacao_leitura"})
    result = step(runtime, result, "confirmar_presenca", atendente, {"audiencia_presenca": "confirmada"})
    assert only_task(result, "realizar_audiencia").title == "Realizar audiência (v2)"
