"""Tests for engine.forms.schema: loading the JSON form definitions and validating submissions."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.forms.schema import (
    FIELD_TYPES,
    Choice,
    FormDefinition,
    FormError,
    FormField,
    FormNotFound,
    FormRegistry,
    parse_form,
)
from engine.forms.submission import UploadedFile, ValidationResult, validate_submission
from tests.support.paths import REPO_ROOT

FORMS_DIR = REPO_ROOT / "forms"

EXPECTED_FORMS = {
    "registro_reclamacao",
    "atendimento_preliminar",
    "emitir_cip",
    "resposta_fornecedor",
    "analise_reclamacao",
    "audiencia_conciliacao",
    "classificacao_reclamacao",
}

VALID_CPF = "529.982.247-25"
VALID_CNPJ_NUMERIC = "11.222.333/0001-81"
VALID_CNPJ_ALNUM = "12.ABC.345/01DE-35"


def one_field_form(**field: Any) -> FormDefinition:
    """A form with a single field ``x`` of the given attributes."""
    spec = {"name": "x", "label": "Campo X", **field}
    return parse_form("teste", {"key": "teste", "title": "Teste", "fields": [spec]})


def check(field_type: str, value: str, **attrs: Any) -> ValidationResult:
    form = one_field_form(type=field_type, **attrs)
    return validate_submission(form, {"x": value})


def write_form(directory: Path, key: str, content: Any) -> Path:
    path = directory / f"{key}.json"
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------
# The real forms in forms/
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry() -> FormRegistry:
    return FormRegistry(FORMS_DIR)


def test_every_form_file_loads(registry: FormRegistry) -> None:
    keys = registry.keys()
    assert EXPECTED_FORMS <= set(keys)
    assert keys == sorted(path.stem for path in FORMS_DIR.glob("*.json"))
    for key in keys:
        form = registry.get(key)
        assert form.key == key
        assert form.title.strip()
        assert form.fields
        for form_field in form.fields:
            assert form_field.type in FIELD_TYPES
            assert form_field.label.strip()
            if form_field.type == "choice":
                assert form_field.choices


def test_registro_reclamacao_definition(registry: FormRegistry) -> None:
    form = registry.get("registro_reclamacao")
    assert [f.name for f in form.fields] == [
        "consumidor_nome", "consumidor_cpf", "consumidor_email", "consumidor_telefone",
        "fornecedor_cnpj", "fornecedor_nome", "canal", "data_compra", "valor", "fatos", "pedido",
        "nota_fiscal", "contrato", "fotos",
    ]
    required = {f.name for f in form.fields if f.required}
    assert required == {
        "consumidor_nome", "consumidor_cpf", "consumidor_email", "fornecedor_cnpj",
        "fornecedor_nome", "canal", "fatos", "pedido",
    }
    assert form.field("canal").choices == (
        Choice("presencial", "Presencial"),
        Choice("telefone", "Telefone"),
        Choice("portal", "Portal"),
        Choice("email", "E-mail"),
    )
    assert form.field("valor").type == "money"
    assert form.field("valor").label == "Valor envolvido (R$)"
    assert form.field("fatos").max_length == 5000
    assert form.field("pedido").max_length == 2000
    nota = form.field("nota_fiscal")
    assert nota.type == "file" and not nota.required
    assert nota.accept == (".pdf", ".jpg", ".jpeg", ".png")
    assert nota.max_size_mb == 10


@pytest.mark.parametrize(
    ("key", "field_name", "values"),
    [
        ("atendimento_preliminar", "resultado_preliminar", ["resolvida", "nao_resolvida"]),
        ("avaliacao_proposta", "proposta_resposta", ["aceita", "recusada"]),
        (
            "analise_reclamacao",
            "desfecho",
            ["resolvida", "audiencia", "fundamentada_atendida", "fundamentada_nao_atendida", "arquivada"],
        ),
        ("audiencia_conciliacao", "acordo", ["sim", "nao"]),
        (
            "classificacao_reclamacao",
            "desfecho",
            ["fundamentada_atendida", "fundamentada_nao_atendida", "arquivada"],
        ),
    ],
)
def test_choice_values_used_by_the_workflow(
    registry: FormRegistry, key: str, field_name: str, values: list[str]
) -> None:
    form_field = registry.get(key).field(field_name)
    assert form_field.required
    assert [choice.value for choice in form_field.choices] == values


def test_a_full_valid_registro_submission(registry: FormRegistry) -> None:
    form = registry.get("registro_reclamacao")
    values = {
        "consumidor_nome": "  Maria da Silva ",
        "consumidor_cpf": "52998224725",
        "consumidor_email": "maria@example.com.br",
        "consumidor_telefone": "11987654321",
        "fornecedor_cnpj": "12abc34501de35",
        "fornecedor_nome": "Loja Exemplo Ltda.",
        "canal": "portal",
        "data_compra": "05/03/2026",
        "valor": "R$ 1.234,56",
        "fatos": "Comprei um produto que veio com defeito.",
        "pedido": "Troca do produto.",
        "csrf_token": "abc",
    }
    upload = UploadedFile("nota.PDF", "application/pdf", b"%PDF-1.4 ...")
    result = validate_submission(form, values, {"nota_fiscal": upload})
    assert result.ok, result.errors
    assert result.data == {
        "consumidor_nome": "Maria da Silva",
        "consumidor_cpf": "529.982.247-25",
        "consumidor_email": "maria@example.com.br",
        "consumidor_telefone": "(11) 98765-4321",
        "fornecedor_cnpj": "12.ABC.345/01DE-35",
        "fornecedor_nome": "Loja Exemplo Ltda.",
        "canal": "portal",
        "data_compra": "2026-03-05",
        "valor": "1234.56",
        "fatos": "Comprei um produto que veio com defeito.",
        "pedido": "Troca do produto.",
    }
    assert result.files == {"nota_fiscal": upload}
    json.dumps(result.data)  # JSON-serialisable


def test_empty_registro_submission_lists_every_required_field(registry: FormRegistry) -> None:
    form = registry.get("registro_reclamacao")
    result = validate_submission(form, {})
    assert not result.ok
    assert result.errors == {
        name: "Campo obrigatório."
        for name in ("consumidor_nome", "consumidor_cpf", "consumidor_email", "fornecedor_cnpj",
                     "fornecedor_nome", "canal", "fatos", "pedido")
    }
    assert result.data == {"consumidor_telefone": None, "data_compra": None, "valor": None}
    assert "nota_fiscal" not in result.data


# ---------------------------------------------------------------------------
# FormRegistry behaviour
# ---------------------------------------------------------------------------

MINIMAL = {"key": "simples", "title": "Simples", "fields": [{"name": "a", "label": "A", "type": "text"}]}


def test_registry_get_unknown_form_raises_form_not_found(tmp_path: Path) -> None:
    registry = FormRegistry(tmp_path)
    with pytest.raises(FormNotFound) as info:
        registry.get("nao_existe")
    assert str(info.value) == f"Formulário 'nao_existe' não encontrado em {tmp_path}"
    assert isinstance(info.value, FormError)
    assert not registry.exists("nao_existe")


def test_registry_rejects_path_like_keys(tmp_path: Path) -> None:
    forms = tmp_path / "forms"
    forms.mkdir()
    write_form(tmp_path, "fora", {**MINIMAL, "key": "fora"})
    registry = FormRegistry(forms)
    assert not registry.exists("../fora")
    with pytest.raises(FormNotFound):
        registry.get("../fora")


def test_registry_exists_keys_and_missing_directory(tmp_path: Path) -> None:
    write_form(tmp_path, "simples", MINIMAL)
    (tmp_path / "leiame.txt").write_text("não é formulário", encoding="utf-8")
    registry = FormRegistry(tmp_path)
    assert registry.exists("simples")
    assert registry.keys() == ["simples"]
    assert FormRegistry(tmp_path / "nada").keys() == []


def test_registry_caches_and_reloads_when_file_changes(tmp_path: Path) -> None:
    path = write_form(tmp_path, "simples", MINIMAL)
    registry = FormRegistry(tmp_path)
    first = registry.get("simples")
    assert registry.get("simples") is first  # cached

    changed = {**MINIMAL, "title": "Simples, versão 2"}
    write_form(tmp_path, "simples", changed)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    second = registry.get("simples")
    assert second is not first
    assert second.title == "Simples, versão 2"


def test_registry_forgets_deleted_file(tmp_path: Path) -> None:
    path = write_form(tmp_path, "simples", MINIMAL)
    registry = FormRegistry(tmp_path)
    registry.get("simples")
    path.unlink()
    with pytest.raises(FormNotFound):
        registry.get("simples")


# ---------------------------------------------------------------------------
# Broken form definitions
# ---------------------------------------------------------------------------


def broken_form_error(tmp_path: Path, content: Any, key: str = "quebrado") -> str:
    path = write_form(tmp_path, key, content)
    with pytest.raises(FormError) as info:
        FormRegistry(tmp_path).get(key)
    assert not isinstance(info.value, FormNotFound)
    message = str(info.value)
    assert str(path) in message
    return message


def test_broken_form_invalid_json(tmp_path: Path) -> None:
    message = broken_form_error(tmp_path, '{"key": "quebrado", "title": "X", "fields": [}')
    assert "JSON inválido" in message
    assert "linha 1" in message


def test_broken_form_unknown_type(tmp_path: Path) -> None:
    content = {"key": "quebrado", "title": "X", "fields": [
        {"name": "ok", "label": "Ok", "type": "text"},
        {"name": "quando", "label": "Quando", "type": "datetime"},
    ]}
    message = broken_form_error(tmp_path, content)
    assert "'quando'" in message
    assert "datetime" in message


def test_broken_form_duplicate_names(tmp_path: Path) -> None:
    content = {"key": "quebrado", "title": "X", "fields": [
        {"name": "nome", "label": "Nome", "type": "text"},
        {"name": "nome", "label": "Outro nome", "type": "text"},
    ]}
    message = broken_form_error(tmp_path, content)
    assert "'nome'" in message
    assert "mais de uma vez" in message


@pytest.mark.parametrize("choices", [None, [], "sim,nao"])
def test_broken_form_choice_without_choices(tmp_path: Path, choices: Any) -> None:
    spec: dict[str, Any] = {"name": "opcao", "label": "Opção", "type": "choice"}
    if choices is not None:
        spec["choices"] = choices
    message = broken_form_error(tmp_path, {"key": "quebrado", "title": "X", "fields": [spec]})
    assert "'opcao'" in message
    assert "choices" in message


@pytest.mark.parametrize("name", ["nome-completo", "1campo", "class", "ação", "", None])
def test_broken_form_name_not_identifier(tmp_path: Path, name: Any) -> None:
    content = {"key": "quebrado", "title": "X", "fields": [{"name": name, "label": "L", "type": "text"}]}
    message = broken_form_error(tmp_path, content)
    assert "identificador" in message


def test_broken_form_key_mismatch(tmp_path: Path) -> None:
    message = broken_form_error(tmp_path, {**MINIMAL, "key": "outro"})
    assert "'outro'" in message and "'quebrado'" in message


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"name": "a", "label": "A", "type": "text", "maxlength": 10}, "maxlength"),
        ({"name": "a", "label": "A", "type": "text", "accept": [".pdf"]}, "accept"),
        ({"name": "a", "label": "A", "type": "text", "max_length": 0}, "max_length"),
        ({"name": "a", "label": "A", "type": "text", "required": "sim"}, "required"),
        ({"name": "a", "label": "", "type": "text"}, "label"),
        ({"name": "a", "label": "A", "type": "file", "accept": ["pdf"]}, "pdf"),
        ({"name": "a", "label": "A", "type": "money", "min_value": 10, "max_value": 5}, "min_value"),
        ({"name": "a", "label": "A", "type": "choice",
          "choices": [{"value": "x", "label": "X"}, {"value": "x", "label": "Y"}]}, "repetido"),
    ],
)
def test_broken_form_other_structure_errors(tmp_path: Path, spec: dict[str, Any], expected: str) -> None:
    message = broken_form_error(tmp_path, {"key": "quebrado", "title": "X", "fields": [spec]})
    assert "'a'" in message
    assert expected in message


@pytest.mark.parametrize(
    "content",
    [[], {"key": "quebrado", "fields": MINIMAL["fields"]}, {"key": "quebrado", "title": "X", "fields": []},
     {**MINIMAL, "key": "quebrado", "campos": []}],
)
def test_broken_form_top_level(tmp_path: Path, content: Any) -> None:
    broken_form_error(tmp_path, content)


def test_parse_form_uses_key_as_source_by_default() -> None:
    with pytest.raises(FormError, match="meu_form"):
        parse_form("meu_form", {"title": "X", "fields": [{"name": "a", "label": "A", "type": "nada"}]})


def test_parse_form_builds_typed_definition() -> None:
    form = parse_form("f", {"title": "T", "description": "D", "fields": [
        {"name": "valor", "label": "Valor", "type": "money", "min_value": "10.50", "max_value": 1000},
        {"name": "anexo", "label": "Anexo", "type": "file", "accept": [".PDF"], "max_size_mb": 2},
    ]})
    assert form.key == "f" and form.title == "T" and form.description == "D"
    assert form.field("valor") == FormField(
        name="valor", label="Valor", type="money", min_value=Decimal("10.50"), max_value=Decimal("1000"),
    )
    assert form.field("anexo").accept == (".pdf",)
    assert form.field("anexo").max_size_mb == 2
    with pytest.raises(KeyError):
        form.field("nao_existe")


# ---------------------------------------------------------------------------
# Required / optional / unknown keys / raw
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("field_type", [t for t in FIELD_TYPES if t not in ("file", "choice")])
@pytest.mark.parametrize("value", ["", "   "])
def test_required_missing(field_type: str, value: str) -> None:
    result = check(field_type, value, required=True)
    assert result.errors == {"x": "Campo obrigatório."}
    assert "x" not in result.data
    assert not result.ok


@pytest.mark.parametrize("field_type", [t for t in FIELD_TYPES if t not in ("file", "choice")])
def test_optional_missing_is_none(field_type: str) -> None:
    result = check(field_type, "  ")
    assert result.ok
    assert result.data == {"x": None}


def test_required_key_absent() -> None:
    form = one_field_form(type="text", required=True)
    assert validate_submission(form, {}).errors == {"x": "Campo obrigatório."}


def test_unknown_keys_are_dropped() -> None:
    form = one_field_form(type="text")
    result = validate_submission(form, {"x": "olá", "is_admin": "1", "csrf_token": "t"})
    assert result.ok
    assert result.data == {"x": "olá"}
    assert result.raw == {"x": "olá"}


def test_raw_keeps_typed_values_on_error() -> None:
    form = parse_form("f", {"title": "T", "fields": [
        {"name": "cpf", "label": "CPF", "type": "cpf", "required": True},
        {"name": "nome", "label": "Nome", "type": "text", "required": True},
        {"name": "quando", "label": "Quando", "type": "date"},
    ]})
    result = validate_submission(form, {"cpf": "123.456.789-00", "nome": " Ana ", "quando": "31/02/2026"})
    assert result.errors == {"cpf": "CPF inválido.", "quando": "Data inválida. Use dd/mm/aaaa."}
    assert result.raw == {"cpf": "123.456.789-00", "nome": " Ana ", "quando": "31/02/2026"}
    assert result.data == {"nome": "Ana"}


# ---------------------------------------------------------------------------
# text / textarea
# ---------------------------------------------------------------------------


def test_text_strips_and_respects_max_length() -> None:
    assert check("text", "  abc  ", max_length=3).data == {"x": "abc"}
    assert check("text", "abcd", max_length=3).errors == {"x": "Use no máximo 3 caracteres."}


def test_textarea_max_length_and_line_endings() -> None:
    result = check("textarea", "linha 1\r\nlinha 2", max_length=15)
    assert result.data == {"x": "linha 1\nlinha 2"}
    assert check("textarea", "a" * 5001, max_length=5000).errors == {"x": "Use no máximo 5000 caracteres."}


# ---------------------------------------------------------------------------
# date
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("2026-03-05", "2026-03-05"), ("05/03/2026", "2026-03-05"), ("5/3/2026", "2026-03-05"),
     ("29/02/2024", "2024-02-29"), (" 31/12/2025 ", "2025-12-31")],
)
def test_date_valid(typed: str, stored: str) -> None:
    assert check("date", typed).data == {"x": stored}


@pytest.mark.parametrize(
    "typed", ["31/02/2026", "29/02/2025", "2026-13-01", "05-03-2026", "05/03/26", "amanhã", "2026/03/05"]
)
def test_date_invalid(typed: str) -> None:
    assert check("date", typed).errors == {"x": "Data inválida. Use dd/mm/aaaa."}


# ---------------------------------------------------------------------------
# money
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("1.234,56", "1234.56"),
        ("1234,56", "1234.56"),
        ("1234.56", "1234.56"),
        ("R$ 1.234,56", "1234.56"),
        ("R$1.234,56", "1234.56"),
        ("1.234.567,8", "1234567.80"),
        ("1.234", "1234.00"),
        ("100", "100.00"),
        ("0,5", "0.50"),
        ("0", "0.00"),
    ],
)
def test_money_valid(typed: str, stored: str) -> None:
    result = check("money", typed)
    assert result.ok, result.errors
    assert result.data == {"x": stored}


@pytest.mark.parametrize(
    "typed", ["-10,00", "R$ -5", "abc", "1,234.56", "12,345", "1.23.4", "10,5,0", "1e3", "R$", "1.2345,00"]
)
def test_money_invalid(typed: str) -> None:
    assert check("money", typed).errors == {"x": "Valor inválido. Use o formato 1.234,56."}


def test_money_min_and_max_messages() -> None:
    attrs = {"min_value": "10", "max_value": "1234.56"}
    assert check("money", "9,99", **attrs).errors == {"x": "O valor mínimo é R$ 10,00."}
    assert check("money", "1.234,57", **attrs).errors == {"x": "O valor máximo é R$ 1.234,56."}
    assert check("money", "1.234,56", **attrs).data == {"x": "1234.56"}
    assert check("money", "10", **attrs).data == {"x": "10.00"}


# ---------------------------------------------------------------------------
# number
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"), [("42", 42), ("-3", -3), ("2,5", 2.5), ("2.5", 2.5), ("1.234,5", 1234.5), ("7,0", 7)]
)
def test_number_valid(typed: str, stored: int | float) -> None:
    result = check("number", typed)
    assert result.ok, result.errors
    assert result.data == {"x": stored}
    assert type(result.data["x"]) is type(stored)


@pytest.mark.parametrize("typed", ["dez", "1,2,3", "1e5", "--1", "2,"])
def test_number_invalid(typed: str) -> None:
    assert check("number", typed).errors == {"x": "Número inválido."}


def test_number_range() -> None:
    assert check("number", "0", min_value=1, max_value=10).errors == {"x": "O valor mínimo é 1."}
    assert check("number", "10,5", min_value=1, max_value=10).errors == {"x": "O valor máximo é 10."}
    assert check("number", "0,25", min_value="0.5").errors == {"x": "O valor mínimo é 0,5."}
    assert check("number", "10", min_value=1, max_value=10).data == {"x": 10}


# ---------------------------------------------------------------------------
# choice
# ---------------------------------------------------------------------------

CHOICES = [{"value": "sim", "label": "Sim"}, {"value": "nao", "label": "Não"}]


def test_choice_valid_stores_value() -> None:
    assert check("choice", " nao ", choices=CHOICES).data == {"x": "nao"}


@pytest.mark.parametrize("typed", ["talvez", "Não", "SIM"])
def test_choice_invalid(typed: str) -> None:
    assert check("choice", typed, choices=CHOICES).errors == {"x": "Escolha uma das opções."}


def test_choice_required_and_optional() -> None:
    assert check("choice", "", choices=CHOICES, required=True).errors == {"x": "Campo obrigatório."}
    assert check("choice", "", choices=CHOICES).data == {"x": None}


# ---------------------------------------------------------------------------
# cpf / cnpj
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["529.982.247-25", "52998224725", " 529 982 247 25 "])
def test_cpf_valid_is_formatted(typed: str) -> None:
    assert check("cpf", typed).data == {"x": VALID_CPF}


@pytest.mark.parametrize(
    "typed", ["529.982.247-26", "111.111.111-11", "5299822472", "529982247250", "52998224x25"]
)
def test_cpf_invalid(typed: str) -> None:
    assert check("cpf", typed).errors == {"x": "CPF inválido."}


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("12.ABC.345/01DE-35", VALID_CNPJ_ALNUM),
        ("12abc34501de35", VALID_CNPJ_ALNUM),
        (" 12.abc.345/01de-35 ", VALID_CNPJ_ALNUM),
        ("11.222.333/0001-81", VALID_CNPJ_NUMERIC),
        ("11222333000181", VALID_CNPJ_NUMERIC),
    ],
)
def test_cnpj_valid_is_formatted_text(typed: str, stored: str) -> None:
    result = check("cnpj", typed)
    assert result.data == {"x": stored}
    assert isinstance(result.data["x"], str)


@pytest.mark.parametrize(
    "typed",
    [
        "12.ABC.345/01DE-36",   # wrong check digit (alphanumeric)
        "11.222.333/0001-82",   # wrong check digit (numeric)
        "12.ABC.345/01DE-3A",   # letters are not allowed in the check digits
        "00.000.000/0000-00",
        "12.ABC.345/01DE",
        "12.ABC.345/01DE-355",
        "12#ABC345/01DE-35",
    ],
)
def test_cnpj_invalid(typed: str) -> None:
    assert check("cnpj", typed).errors == {"x": "CNPJ inválido."}


# ---------------------------------------------------------------------------
# email / phone
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed", ["maria@example.com", "a.b+c@sub.dominio.com.br", " joao@procon.sp.gov.br "]
)
def test_email_valid(typed: str) -> None:
    assert check("email", typed).data == {"x": typed.strip()}


@pytest.mark.parametrize(
    "typed", ["maria", "maria@", "maria@localhost", "ma ria@example.com", "a@@example.com", "a@b@c.com",
              "a@example..com", "a@.com", "@example.com"]
)
def test_email_invalid(typed: str) -> None:
    assert check("email", typed).errors == {"x": "E-mail inválido."}


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("11987654321", "(11) 98765-4321"),
        ("(11) 98765-4321", "(11) 98765-4321"),
        ("+55 11 98765-4321", "(11) 98765-4321"),
        ("(21) 3333-4444", "(21) 3333-4444"),
        ("2133334444", "(21) 3333-4444"),
    ],
)
def test_phone_valid(typed: str, stored: str) -> None:
    assert check("phone", typed).data == {"x": stored}


@pytest.mark.parametrize(
    "typed",
    ["98765-4321", "123456789012", "(01) 98765-4321", "(11) 88765-43210", "(11) 0333-4444", "11 9876a4321"],
)
def test_phone_invalid(typed: str) -> None:
    assert check("phone", typed).errors == {"x": "Telefone inválido. Informe DDD e número."}


# ---------------------------------------------------------------------------
# file
# ---------------------------------------------------------------------------

FILE_ATTRS = {"accept": [".pdf", ".jpg"], "max_size_mb": 1}


def check_file(upload: UploadedFile | None, **attrs: Any) -> ValidationResult:
    form = one_field_form(type="file", **{**FILE_ATTRS, **attrs})
    files = {} if upload is None else {"x": upload}
    return validate_submission(form, {"x": "ignorado"}, files)


def test_file_valid_goes_to_files_not_data() -> None:
    upload = UploadedFile("Comprovante.JPG", "image/jpeg", b"\xff\xd8\xff" + b"0" * 100)
    result = check_file(upload)
    assert result.ok
    assert result.files == {"x": upload}
    assert result.data == {}
    assert result.raw == {}


def test_file_required_missing() -> None:
    assert check_file(None, required=True).errors == {"x": "Anexe o arquivo."}
    empty_part = UploadedFile("", "application/octet-stream", b"")
    assert check_file(empty_part, required=True).errors == {"x": "Anexe o arquivo."}


def test_file_optional_missing_is_omitted() -> None:
    result = check_file(None)
    assert result.ok
    assert result.data == {} and result.files == {}


@pytest.mark.parametrize("filename", ["virus.exe", "nota.pdf.exe", "semextensao", "foto.png"])
def test_file_wrong_type(filename: str) -> None:
    result = check_file(UploadedFile(filename, "application/octet-stream", b"abc"))
    assert result.errors == {"x": "Tipo de arquivo não aceito. Envie: .pdf, .jpg"}
    assert result.files == {}


def test_file_too_large() -> None:
    limit = 1024 * 1024
    assert check_file(UploadedFile("a.pdf", "application/pdf", b"0" * limit)).ok
    result = check_file(UploadedFile("a.pdf", "application/pdf", b"0" * (limit + 1)))
    assert result.errors == {"x": "Arquivo maior que 1 MB."}
    assert result.files == {}


def test_file_without_accept_list_takes_any_extension() -> None:
    form = one_field_form(type="file")
    result = validate_submission(form, {}, {"x": UploadedFile("dados.csv", "text/csv", b"a;b")})
    assert result.ok


def test_file_empty_content_rejected() -> None:
    result = check_file(UploadedFile("a.pdf", "application/pdf", b""))
    assert result.errors == {"x": "O arquivo enviado está vazio."}
