"""The form editor's engine side on a real database: drafts (even malformed), validation messages,
publication used by task forms from then on, revert (to a version or to the file), the publishing log,
the diagram-condition guard, other processes noticing a publication, and the cost of a lookup."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.actors import Actor
from engine.errors import ConflictError, InvalidSubmission, NotFound, PermissionDenied
from engine.forms.catalog import FormCatalog, FormDraftError, InvalidForm
from engine.forms.checks import MAX_FORM_BYTES
from engine.forms.models import FormDraft, FormEvent, FormVersion
from engine.forms.registry import CatalogFormRegistry
from engine.runtime import EngineConfig, Runtime
from tasks.registry import default_registry
from tests.support.paths import REPO_ROOT

FORMS_DIR = REPO_ROOT / "forms"
PAULA = Actor("paula", "Paula Processos", frozenset({"analista_processos"}))
NEW_FIELD = {"name": "protocolo_fornecedor", "label": "Protocolo do atendimento no fornecedor", "type": "text",
             "required": True, "max_length": 40, "help": "O número que o fornecedor informou."}


def file_data(key: str) -> dict:
    return json.loads((FORMS_DIR / f"{key}.json").read_text(encoding="utf-8"))


def with_new_field(key: str = "atendimento_preliminar") -> str:
    data = file_data(key)
    data["fields"].append(NEW_FIELD)
    return json.dumps(data, ensure_ascii=False)


def count(runtime: Runtime, model: type) -> int:
    with runtime.Session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def catalog(runtime: Runtime) -> FormCatalog:
    return FormCatalog(runtime)


def test_runtime_uses_the_catalog_registry_and_files_until_something_is_published(runtime: Runtime) -> None:
    assert isinstance(runtime.forms, CatalogFormRegistry)
    form = runtime.forms.get("atendimento_preliminar")
    assert [f.name for f in form.fields] == ["resultado_preliminar", "contato_descricao"]
    assert runtime.forms.published_version("atendimento_preliminar") is None
    assert "atendimento_preliminar" in runtime.forms.keys()


def test_a_draft_keeps_malformed_json_and_validation_says_where(catalog: FormCatalog, runtime: Runtime) -> None:
    draft = catalog.start_draft("atendimento_preliminar", PAULA)
    assert json.loads(draft.content)["key"] == "atendimento_preliminar"
    assert draft.based_on_version is None
    assert catalog.start_draft("atendimento_preliminar", PAULA).id == draft.id  # one open draft, reused

    broken = '{"key": "atendimento_preliminar", "title": "X",\n "fields": [ {"name": "a" "label": "A"} ]}'
    saved = catalog.save_draft(draft.id, broken, PAULA, revision=draft.revision)
    assert saved.content == broken and saved.revision == draft.revision + 1
    problems = catalog.validate_draft(draft.id).problems
    assert problems == ["JSON inválido na linha 2, coluna 27: falta uma vírgula."]
    with pytest.raises(InvalidForm) as error:
        catalog.publish_draft(draft.id, PAULA)
    assert error.value.problems == problems
    assert count(runtime, FormVersion) == 0
    assert catalog.draft(draft.id).status == "rascunho"


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d["fields"][1].update(type="paragrafo"),
     "campo 'contato_descricao': tipo 'paragrafo' desconhecido. Tipos válidos: text, textarea"),
    (lambda d: d["fields"].append(dict(d["fields"][1])),
     "o nome de campo 'contato_descricao' aparece mais de uma vez"),
    (lambda d: d["fields"][0].pop("choices"),
     "campo 'resultado_preliminar': campo do tipo 'choice' precisa de uma lista 'choices' não vazia"),
    (lambda d: d["fields"][0].update(name="resultado preliminar"),
     "campo 1: 'name' deve ser um identificador Python"),
    (lambda d: d["fields"][1].update(min_value=3),
     "campo 'contato_descricao': 'min_value' não se aplica a campos do tipo 'textarea'"),
    (lambda d: d.update(fields=[]), "'fields' deve ser uma lista não vazia de campos"),
    (lambda d: d.update(key="outro"), "'key' é 'outro', mas deveria ser 'atendimento_preliminar'"),
])
def test_validation_names_the_field_and_publishes_nothing(catalog: FormCatalog, runtime: Runtime,
                                                          mutate, message: str) -> None:  # noqa: ANN001
    draft = catalog.start_draft("atendimento_preliminar", PAULA)
    data = file_data("atendimento_preliminar")
    mutate(data)
    catalog.save_draft(draft.id, json.dumps(data, ensure_ascii=False), PAULA)
    problems = catalog.validate_draft(draft.id).problems
    assert len(problems) == 1 and message in problems[0], problems
    with pytest.raises(InvalidForm):
        catalog.publish_draft(draft.id, PAULA)
    assert count(runtime, FormVersion) == 0
    assert runtime.forms.get("atendimento_preliminar").fields[-1].name == "contato_descricao"


def test_oversized_and_binary_drafts_are_refused_and_the_stored_text_stays(catalog: FormCatalog) -> None:
    draft = catalog.start_draft("atendimento_preliminar", PAULA)
    with pytest.raises(FormDraftError, match="o limite é 256 KB. Nada foi salvo"):
        catalog.save_draft(draft.id, "x" * (5 * 1024 * 1024), PAULA)
    with pytest.raises(FormDraftError, match="não está em UTF-8"):
        catalog.save_draft(draft.id, b"\xff\xfe{}", PAULA)
    with pytest.raises(FormDraftError, match="caracteres nulos"):
        catalog.save_draft(draft.id, '{"a": "\x00"}', PAULA)
    assert catalog.draft(draft.id).content == draft.content
    assert MAX_FORM_BYTES == 256 * 1024


def test_a_stale_save_is_refused_instead_of_overwriting(catalog: FormCatalog) -> None:
    draft = catalog.start_draft("atendimento_preliminar", PAULA)
    catalog.save_draft(draft.id, with_new_field(), Actor("rui", "Rui", frozenset({"admin"})), revision=1)
    with pytest.raises(ConflictError, match="rui salvou este rascunho depois que você o abriu"):
        catalog.save_draft(draft.id, "{}", PAULA, revision=1)
    assert NEW_FIELD["name"] in catalog.draft(draft.id).content


def test_only_process_analysts_and_admins_change_forms(catalog: FormCatalog) -> None:
    atendente = Actor("ana", "Ana", frozenset({"atendente"}))
    with pytest.raises(PermissionDenied, match="Só analistas de processos"):
        catalog.start_draft("atendimento_preliminar", atendente)
    draft = catalog.start_draft("atendimento_preliminar", Actor("root", "Root", frozenset({"admin"})))
    with pytest.raises(PermissionDenied):
        catalog.publish_draft(draft.id, atendente)
    with pytest.raises(PermissionDenied):
        catalog.revert("atendimento_preliminar", 0, atendente)


def test_published_version_is_the_task_form_from_then_on(catalog: FormCatalog, runtime: Runtime,
                                                         atendente: Actor, complaint: dict[str, str]) -> None:
    result = runtime.start_case("reclamacao", atendente, complaint)
    task = next(t for t in result.open_tasks if t.form_key == "atendimento_preliminar")
    assert NEW_FIELD["name"] not in [f.name for f in runtime.form_for(task).fields]

    draft = catalog.start_draft("atendimento_preliminar", PAULA)
    catalog.save_draft(draft.id, with_new_field(), PAULA)
    assert catalog.validate_draft(draft.id).ok
    version = catalog.publish_draft(draft.id, PAULA)
    assert (version.key, version.version, version.published_by, version.origin) == \
        ("atendimento_preliminar", 1, "paula", "rascunho")
    assert len(version.content_hash) == 64
    assert catalog.draft(draft.id).status == "publicado"

    form = runtime.form_for(task)
    assert form.fields[-1].name == NEW_FIELD["name"] and form.fields[-1].required
    assert runtime.forms.published_version("atendimento_preliminar") == 1
    # The server validates with the published form: the new required field is now demanded.
    values = {"resultado_preliminar": "nao_resolvida", "contato_descricao": "Liguei para a loja."}
    with pytest.raises(InvalidSubmission) as error:
        runtime.complete_task(result.case_id, task.task_id, atendente, values)
    assert error.value.result.errors == {NEW_FIELD["name"]: "Campo obrigatório."}
    done = runtime.complete_task(result.case_id, task.task_id, atendente,
                                 {**values, NEW_FIELD["name"]: "PROT-123"})
    with runtime.Session() as session:
        from engine.store.models import Case

        assert session.get(Case, done.case_id).data[NEW_FIELD["name"]] == "PROT-123"

    # Publishing the same content again is refused; the log says who published what.
    again = catalog.start_draft("atendimento_preliminar", PAULA)
    assert again.based_on_version == 1
    with pytest.raises(FormDraftError, match=r"igual à versão atual \(1\); nada foi publicado"):
        catalog.publish_draft(again.id, PAULA)
    events = catalog.events("atendimento_preliminar")
    assert [(e.action, e.actor, e.version) for e in events] == [("publicacao", "paula", 1)]
    assert events[0].details["descricao"] == f"Publicação da versão 1 a partir do rascunho {draft.id}"
    assert events[0].details["hash"] == version.content_hash


def test_revert_to_a_version_and_to_the_file_adds_versions(catalog: FormCatalog, runtime: Runtime) -> None:
    draft = catalog.start_draft("atendimento_preliminar", PAULA)
    catalog.save_draft(draft.id, with_new_field(), PAULA)
    v1 = catalog.publish_draft(draft.id, PAULA)
    second = json.loads(with_new_field())
    second["title"] = "Atendimento preliminar (revisado)"
    draft2 = catalog.start_draft("atendimento_preliminar", PAULA)
    catalog.save_draft(draft2.id, json.dumps(second, ensure_ascii=False), PAULA)
    catalog.publish_draft(draft2.id, PAULA)
    assert runtime.forms.get("atendimento_preliminar").title == "Atendimento preliminar (revisado)"

    v3 = catalog.revert("atendimento_preliminar", 1, PAULA)
    assert (v3.version, v3.origin, v3.content_hash) == (3, "reversao", v1.content_hash)
    assert runtime.forms.get("atendimento_preliminar").title == "Atendimento preliminar"
    assert runtime.forms.get("atendimento_preliminar").fields[-1].name == NEW_FIELD["name"]
    with pytest.raises(FormDraftError, match="nada foi publicado"):
        catalog.revert("atendimento_preliminar", 1, PAULA)

    v4 = catalog.revert("atendimento_preliminar", 0, PAULA)
    assert (v4.version, v4.origin) == (4, "arquivo")
    assert [f.name for f in runtime.forms.get("atendimento_preliminar").fields] == \
        ["resultado_preliminar", "contato_descricao"]
    with pytest.raises(NotFound, match="versão 9"):
        catalog.revert("atendimento_preliminar", 9, PAULA)
    events = catalog.events("atendimento_preliminar")
    assert [(e.action, e.version) for e in events] == [("reversao", 4), ("reversao", 3), ("publicacao", 2),
                                                       ("publicacao", 1)]
    assert events[0].details["descricao"] == "Versão 4: reversão para o arquivo forms/atendimento_preliminar.json"
    assert events[1].details["versao_origem"] == 1
    assert [v.version for v in catalog.versions("atendimento_preliminar")] == [4, 3, 2, 1]


def test_a_field_read_by_a_diagram_condition_cannot_be_removed(catalog: FormCatalog, runtime: Runtime) -> None:
    data = file_data("atendimento_preliminar")
    data["fields"] = [f for f in data["fields"] if f["name"] != "resultado_preliminar"]
    draft = catalog.start_draft("atendimento_preliminar", PAULA)
    catalog.save_draft(draft.id, json.dumps(data, ensure_ascii=False), PAULA)
    problems = catalog.validate_draft(draft.id).problems
    assert problems == ["O campo 'resultado_preliminar' não pode ser removido: a condição do fluxo "
                        f"'{_flow_with('resultado_preliminar')}' do processo 'reclamacao' usa a variável "
                        "'resultado_preliminar'. Mude o diagrama antes, ou mantenha o campo."]
    with pytest.raises(InvalidForm):
        catalog.publish_draft(draft.id, PAULA)
    # A field no condition reads may go.
    data = file_data("atendimento_preliminar")
    data["fields"] = [f for f in data["fields"] if f["name"] != "contato_descricao"]
    catalog.save_draft(draft.id, json.dumps(data, ensure_ascii=False), PAULA)
    assert catalog.validate_draft(draft.id).ok


def _flow_with(name: str) -> str:
    from lxml import etree

    tree = etree.parse(str(FORMS_DIR.parent / "workflows" / "reclamacao.bpmn"))
    for element in tree.iter("{http://www.omg.org/spec/BPMN/20100524/MODEL}conditionExpression"):
        if name in (element.text or ""):
            return element.getparent().get("id")
    raise AssertionError(name)


def test_a_new_form_can_be_created_published_and_found_by_diagram_validation(catalog: FormCatalog,
                                                                            runtime: Runtime) -> None:
    with pytest.raises(FormDraftError, match="letras minúsculas"):
        catalog.new_form("Vistoria Local", "Vistoria", PAULA)
    with pytest.raises(FormDraftError, match="já existe"):
        catalog.new_form("atendimento_preliminar", "Outro", PAULA)
    draft = catalog.new_form("vistoria_local", "Vistoria no local", PAULA)
    assert not runtime.forms.exists("vistoria_local")
    assert catalog.validate_draft(draft.id).ok
    catalog.publish_draft(draft.id, PAULA)
    assert runtime.forms.exists("vistoria_local")
    assert runtime.forms.get("vistoria_local").title == "Vistoria no local"
    assert "vistoria_local" in runtime.forms.keys()
    summary = next(s for s in catalog.overview() if s.key == "vistoria_local")
    assert (summary.has_file, summary.current_version, summary.source) == (False, 1, "versão 1 publicada")


def test_discard_is_logged_and_closes_the_draft(catalog: FormCatalog) -> None:
    draft = catalog.start_draft("emitir_cip", PAULA)
    catalog.discard_draft(draft.id, PAULA)
    with pytest.raises(FormDraftError, match="já foi descartado"):
        catalog.save_draft(draft.id, "{}", PAULA)
    assert [(e.action, e.actor) for e in catalog.events("emitir_cip")] == [("descarte", "paula")]
    assert catalog.start_draft("emitir_cip", PAULA).id != draft.id


def test_another_process_sees_a_publication_through_the_revision_check(catalog: FormCatalog, runtime: Runtime,
                                                                      database_url: str) -> None:
    other = Runtime(EngineConfig(services=default_registry(), database_url=database_url))
    try:
        assert other.forms.get("atendimento_preliminar").fields[-1].name == "contato_descricao"
        draft = catalog.start_draft("atendimento_preliminar", PAULA)
        catalog.save_draft(draft.id, with_new_field(), PAULA)
        catalog.publish_draft(draft.id, PAULA)
        # Within the check interval the other process may still answer from its cache ...
        other.forms._checked = time.monotonic() - other.forms.REVISION_CHECK_INTERVAL - 0.01  # type: ignore[attr-defined]
        # ... and once the interval has passed it reads the new version.
        assert other.forms.get("atendimento_preliminar").fields[-1].name == NEW_FIELD["name"]
    finally:
        other.db.dispose()


def test_lookups_stay_cheap_with_published_versions(catalog: FormCatalog, runtime: Runtime) -> None:
    draft = catalog.start_draft("atendimento_preliminar", PAULA)
    catalog.save_draft(draft.id, with_new_field(), PAULA)
    catalog.publish_draft(draft.id, PAULA)
    runtime.forms.get("atendimento_preliminar")
    runtime.forms.get("registro_reclamacao")
    started = time.perf_counter()
    for _ in range(5000):
        runtime.forms.get("atendimento_preliminar")  # published: from memory
        runtime.forms.get("registro_reclamacao")  # file: one stat, as before
    per_lookup_us = (time.perf_counter() - started) / 10000 * 1e6
    assert per_lookup_us < 100, f"{per_lookup_us:.1f} µs por consulta"


def test_tables_missing_fall_back_to_files(tmp_path: Path) -> None:
    rt = Runtime(EngineConfig(services=default_registry(), database_url=f"sqlite:///{tmp_path / 'vazio.sqlite3'}"))
    try:
        assert rt.forms.get("emitir_cip").key == "emitir_cip"
    finally:
        rt.db.dispose()


def test_drafts_and_versions_are_stored_rows(catalog: FormCatalog, runtime: Runtime) -> None:
    draft = catalog.start_draft("emitir_cip", PAULA)
    data = file_data("emitir_cip")
    data["description"] = "Nova descrição."
    catalog.save_draft(draft.id, json.dumps(data), PAULA)
    catalog.publish_draft(draft.id, PAULA)
    assert count(runtime, FormDraft) == 1 and count(runtime, FormVersion) == 1 and count(runtime, FormEvent) == 1
