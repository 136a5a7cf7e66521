"""Form definitions for Procon Flow user tasks: loading from JSON and validating submissions.

Each BPMN user task points (through ``camunda:formKey``) at a form described by a JSON file
``forms/<key>.json``.  This module:

* parses and checks those JSON files (:func:`parse_form`, :class:`FormRegistry`), so that a broken
  form is reported to the analyst with the file name and the offending field;
* cleans and validates what a person typed in the HTML form (:func:`validate_submission`), turning
  the strings into JSON-serialisable values that become workflow variables, and producing error
  messages in Brazilian Portuguese.

It is pure Python (no web framework): the web layer passes in plain strings and
:class:`UploadedFile` objects and renders the :class:`ValidationResult`.
"""

from __future__ import annotations

import json
import keyword
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from validate_docbr import CNPJ, CPF

__all__ = [
    "FIELD_TYPES",
    "Choice",
    "FormDefinition",
    "FormError",
    "FormField",
    "FormNotFound",
    "FormRegistry",
    "UploadedFile",
    "ValidationResult",
    "format_brl",
    "parse_form",
    "validate_submission",
]

FIELD_TYPES = (
    "text", "textarea", "date", "money", "choice", "cpf", "cnpj", "email", "file", "phone", "number",
)

# ---------------------------------------------------------------------------
# Definitions
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """One option of a ``choice`` field: ``value`` is stored, ``label`` is shown."""

    value: str
    label: str


@dataclass(frozen=True)
class FormField:
    """One field of a form. ``name`` becomes a workflow variable."""

    name: str
    label: str
    type: str
    required: bool = False
    help: str = ""
    placeholder: str = ""
    choices: tuple[Choice, ...] = ()
    max_length: int | None = None
    min_value: Decimal | None = None
    max_value: Decimal | None = None
    accept: tuple[str, ...] = ()
    max_size_mb: int = 10


@dataclass(frozen=True)
class FormDefinition:
    """A whole form, as loaded from ``forms/<key>.json``."""

    key: str
    title: str
    description: str
    fields: tuple[FormField, ...]

    def field(self, name: str) -> FormField:
        """Return the field called ``name``; raise ``KeyError`` if the form has no such field."""
        for form_field in self.fields:
            if form_field.name == name:
                return form_field
        raise KeyError(f"O formulário '{self.key}' não tem o campo '{name}'.")


class FormError(Exception):
    """A form definition is broken (invalid JSON or structure). The message names the file."""


class FormNotFound(FormError):
    """No form definition exists for the requested key."""


# ---------------------------------------------------------------------------
# Parsing form definitions
# ---------------------------------------------------------------------------

_FORM_KEYS = {"key", "title", "description", "fields"}
_FIELD_KEYS = {
    "name", "label", "type", "required", "help", "placeholder", "choices",
    "max_length", "min_value", "max_value", "accept", "max_size_mb",
}
# Attributes that only make sense for some field types.
_TYPE_SPECIFIC: dict[str, tuple[str, ...]] = {
    "choices": ("choice",),
    "max_length": ("text", "textarea"),
    "min_value": ("money", "number"),
    "max_value": ("money", "number"),
    "accept": ("file",),
    "max_size_mb": ("file",),
}
_FORM_KEY_RE = re.compile(r"^[a-z0-9_]+$")
_EXTENSION_RE = re.compile(r"^\.[a-z0-9]+$")


def _require_str(value: Any, where: str, attr: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise FormError(f"{where}: '{attr}' deve ser um texto.")
    if not allow_empty and not value.strip():
        raise FormError(f"{where}: '{attr}' não pode ser vazio.")
    return value


def _require_positive_int(value: Any, where: str, attr: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise FormError(f"{where}: '{attr}' deve ser um número inteiro positivo.")
    return value


def _require_decimal(value: Any, where: str, attr: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise FormError(f"{where}: '{attr}' deve ser um número.")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise FormError(f"{where}: '{attr}' deve ser um número (recebido {value!r}).") from None
    if not number.is_finite():
        raise FormError(f"{where}: '{attr}' deve ser um número finito.")
    return number


def _parse_choices(raw: Any, where: str) -> tuple[Choice, ...]:
    if not isinstance(raw, list) or not raw:
        raise FormError(f"{where}: campo do tipo 'choice' precisa de uma lista 'choices' não vazia.")
    choices: list[Choice] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        item_where = f"{where}, opção {index + 1}"
        if not isinstance(item, dict):
            raise FormError(f"{item_where}: cada opção deve ser um objeto com 'value' e 'label'.")
        unknown = set(item) - {"value", "label"}
        if unknown:
            raise FormError(f"{item_where}: atributos desconhecidos: {', '.join(sorted(unknown))}.")
        value = _require_str(item.get("value"), item_where, "value")
        label = _require_str(item.get("label"), item_where, "label")
        if value != value.strip():
            raise FormError(f"{item_where}: 'value' não pode ter espaços nas pontas.")
        if value in seen:
            raise FormError(f"{item_where}: valor '{value}' repetido.")
        seen.add(value)
        choices.append(Choice(value=value, label=label))
    return tuple(choices)


def _parse_accept(raw: Any, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(ext, str) for ext in raw):
        raise FormError(f"{where}: 'accept' deve ser uma lista de extensões, como [\".pdf\", \".jpg\"].")
    extensions: list[str] = []
    for ext in raw:
        normalised = ext.strip().lower()
        if not _EXTENSION_RE.match(normalised):
            raise FormError(f"{where}: extensão '{ext}' inválida em 'accept' (use o formato \".pdf\").")
        if normalised not in extensions:
            extensions.append(normalised)
    return tuple(extensions)


def _parse_field(raw: Any, index: int, source: str) -> FormField:
    where = f"Formulário {source}, campo {index + 1}"
    if not isinstance(raw, dict):
        raise FormError(f"{where}: cada campo deve ser um objeto JSON.")
    name = raw.get("name")
    if not isinstance(name, str) or not name.isidentifier() or not name.isascii() or keyword.iskeyword(name):
        raise FormError(
            f"{where}: 'name' deve ser um identificador Python (letras sem acento, dígitos e _), "
            f"recebido {name!r}."
        )
    where = f"Formulário {source}, campo '{name}'"
    unknown = set(raw) - _FIELD_KEYS
    if unknown:
        raise FormError(f"{where}: atributos desconhecidos: {', '.join(sorted(unknown))}.")
    label = _require_str(raw.get("label"), where, "label")
    field_type = raw.get("type")
    if field_type not in FIELD_TYPES:
        raise FormError(
            f"{where}: tipo {field_type!r} desconhecido. Tipos válidos: {', '.join(FIELD_TYPES)}."
        )
    for attr, types in _TYPE_SPECIFIC.items():
        if attr in raw and field_type not in types:
            raise FormError(f"{where}: '{attr}' não se aplica a campos do tipo '{field_type}'.")

    required = raw.get("required", False)
    if not isinstance(required, bool):
        raise FormError(f"{where}: 'required' deve ser true ou false.")
    help_text = _require_str(raw.get("help", ""), where, "help", allow_empty=True)
    placeholder = _require_str(raw.get("placeholder", ""), where, "placeholder", allow_empty=True)

    choices: tuple[Choice, ...] = ()
    if field_type == "choice":
        choices = _parse_choices(raw.get("choices"), where)

    max_length = None
    if raw.get("max_length") is not None:
        max_length = _require_positive_int(raw["max_length"], where, "max_length")

    min_value = max_value = None
    if raw.get("min_value") is not None:
        min_value = _require_decimal(raw["min_value"], where, "min_value")
    if raw.get("max_value") is not None:
        max_value = _require_decimal(raw["max_value"], where, "max_value")
    if min_value is not None and max_value is not None and min_value > max_value:
        raise FormError(f"{where}: 'min_value' é maior que 'max_value'.")
    if field_type == "money" and min_value is not None and min_value < 0:
        raise FormError(f"{where}: 'min_value' de um campo 'money' não pode ser negativo.")

    accept: tuple[str, ...] = ()
    if "accept" in raw:
        accept = _parse_accept(raw["accept"], where)
    max_size_mb = 10
    if "max_size_mb" in raw:
        max_size_mb = _require_positive_int(raw["max_size_mb"], where, "max_size_mb")

    return FormField(
        name=name,
        label=label,
        type=field_type,
        required=required,
        help=help_text,
        placeholder=placeholder,
        choices=choices,
        max_length=max_length,
        min_value=min_value,
        max_value=max_value,
        accept=accept,
        max_size_mb=max_size_mb,
    )


def parse_form(key: str, data: dict, source: str = "") -> FormDefinition:
    """Build a :class:`FormDefinition` from decoded JSON, checking its structure.

    ``source`` (usually the file path) is used in error messages; it defaults to ``key``.
    Raises :class:`FormError` naming the source and, when relevant, the field.
    """
    source = source or key
    where = f"Formulário {source}"
    if not isinstance(data, dict):
        raise FormError(f"{where}: o conteúdo deve ser um objeto JSON.")
    unknown = set(data) - _FORM_KEYS
    if unknown:
        raise FormError(f"{where}: atributos desconhecidos: {', '.join(sorted(unknown))}.")
    declared_key = data.get("key", key)
    if declared_key != key:
        raise FormError(f"{where}: 'key' é {declared_key!r}, mas deveria ser {key!r} (o nome do arquivo).")
    title = _require_str(data.get("title"), where, "title")
    description = _require_str(data.get("description", ""), where, "description", allow_empty=True)
    raw_fields = data.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise FormError(f"{where}: 'fields' deve ser uma lista não vazia de campos.")
    fields: list[FormField] = []
    names: set[str] = set()
    for index, raw_field in enumerate(raw_fields):
        form_field = _parse_field(raw_field, index, source)
        if form_field.name in names:
            raise FormError(f"{where}: o nome de campo '{form_field.name}' aparece mais de uma vez.")
        names.add(form_field.name)
        fields.append(form_field)
    return FormDefinition(key=key, title=title, description=description, fields=tuple(fields))


class FormRegistry:
    """Loads ``<forms_dir>/<key>.json`` on demand and caches it until the file changes."""

    def __init__(self, forms_dir: Path) -> None:
        self.forms_dir = Path(forms_dir)
        self._cache: dict[str, tuple[tuple[int, int], FormDefinition]] = {}
        self._lock = threading.Lock()

    def _path(self, key: str) -> Path | None:
        if not isinstance(key, str) or not _FORM_KEY_RE.match(key):
            return None
        return self.forms_dir / f"{key}.json"

    def get(self, key: str) -> FormDefinition:
        """Return the form ``key``; raise :class:`FormNotFound` or :class:`FormError`."""
        path = self._path(key)
        try:
            if path is None:
                raise FileNotFoundError
            stat = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise FormNotFound(f"Formulário '{key}' não encontrado em {self.forms_dir}") from None
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            form = self._load(key, path)
            self._cache[key] = (stamp, form)
            return form

    def _load(self, key: str, path: Path) -> FormDefinition:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FormNotFound(f"Formulário '{key}' não encontrado em {self.forms_dir}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise FormError(f"Formulário {path}: não foi possível ler o arquivo ({exc}).") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FormError(
                f"Formulário {path}: JSON inválido na linha {exc.lineno}, coluna {exc.colno}: {exc.msg}."
            ) from exc
        return parse_form(key, data, source=str(path))

    def exists(self, key: str) -> bool:
        """True if a file for ``key`` exists (it may still be broken; :meth:`get` will say)."""
        path = self._path(key)
        return path is not None and path.is_file()

    def keys(self) -> list[str]:
        """Sorted keys of all ``*.json`` files in the forms directory."""
        if not self.forms_dir.is_dir():
            return []
        return sorted(
            path.stem for path in self.forms_dir.glob("*.json")
            if path.is_file() and _FORM_KEY_RE.match(path.stem)
        )


# ---------------------------------------------------------------------------
# Validating submissions
# ---------------------------------------------------------------------------


@dataclass
class UploadedFile:
    """A file sent through a ``file`` field, as handed over by the web layer."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class ValidationResult:
    """Outcome of :func:`validate_submission`.

    ``data`` holds cleaned, JSON-serialisable values for every non-file field that is valid
    (``None`` for an empty optional field); fields with errors are left out.  ``errors`` maps field
    names to messages in pt-BR.  ``raw`` keeps what was typed (for re-display) for every non-file
    field.  ``files`` holds the valid uploaded files by field name.
    """

    data: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


class _Invalid(Exception):
    """Internal: a value failed validation; the message is shown to the person."""


MSG_REQUIRED = "Campo obrigatório."
MSG_FILE_REQUIRED = "Anexe o arquivo."
MSG_DATE = "Data inválida. Use dd/mm/aaaa."
MSG_MONEY = "Valor inválido. Use o formato 1.234,56."
MSG_NUMBER = "Número inválido."
MSG_CHOICE = "Escolha uma das opções."
MSG_CPF = "CPF inválido."
MSG_CNPJ = "CNPJ inválido."
MSG_EMAIL = "E-mail inválido."
MSG_PHONE = "Telefone inválido. Informe DDD e número."
MSG_FILE_EMPTY = "O arquivo enviado está vazio."

_ISO_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_BR_DATE_RE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
# Money: "1.234,56" | "1234,56" | "1234.56" | "1.234" | "1234"
_MONEY_THOUSANDS_RE = re.compile(r"^\d{1,3}(?:\.\d{3})+(?:,\d{1,2})?$")
_MONEY_COMMA_RE = re.compile(r"^\d+(?:,\d{1,2})?$")
_MONEY_DOT_RE = re.compile(r"^\d+\.\d{1,2}$")
# Number: "-12", "12,5", "12.5", "1.234,5"
_NUMBER_RE = re.compile(r"^-?\d+(?:[.,]\d+)?$")
_NUMBER_THOUSANDS_RE = re.compile(r"^-?\d{1,3}(?:\.\d{3})+,\d+$")
_CPF_RE = re.compile(r"^\d{11}$")
_CNPJ_RE = re.compile(r"^[A-Z0-9]{12}\d{2}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$")
_ASCII_DIGITS = frozenset("0123456789")

_CPF_VALIDATOR = CPF()
_CNPJ_VALIDATOR = CNPJ()


def format_brl(value: Decimal) -> str:
    """Format a value as Brazilian currency: ``Decimal("1234.5")`` -> ``"R$ 1.234,50"``."""
    quantized = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    text = f"{abs(quantized):,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
    return f"{'-' if quantized < 0 else ''}R$ {text}"


def _format_number(value: Decimal) -> str:
    text = format(value.normalize(), "f") if value == value.to_integral_value() else format(value, "f")
    return text.replace(".", ",")


def _clean_text(form_field: FormField, value: str) -> str:
    if form_field.max_length is not None and len(value) > form_field.max_length:
        raise _Invalid(f"Use no máximo {form_field.max_length} caracteres.")
    return value


def _clean_date(value: str) -> str:
    match = _ISO_DATE_RE.match(value)
    if match:
        year, month, day = (int(part) for part in match.groups())
    else:
        match = _BR_DATE_RE.match(value)
        if not match:
            raise _Invalid(MSG_DATE)
        day, month, year = (int(part) for part in match.groups())
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        raise _Invalid(MSG_DATE) from None


def _check_range(form_field: FormField, number: Decimal, fmt: Any) -> None:
    if form_field.min_value is not None and number < form_field.min_value:
        raise _Invalid(f"O valor mínimo é {fmt(form_field.min_value)}.")
    if form_field.max_value is not None and number > form_field.max_value:
        raise _Invalid(f"O valor máximo é {fmt(form_field.max_value)}.")


def _parse_money(value: str) -> Decimal:
    text = value
    if text[:2].upper() == "R$":
        text = text[2:]
    text = text.replace(" ", "").replace("\u00a0", "")
    if not text or not set(text) <= _ASCII_DIGITS | {".", ","}:
        raise _Invalid(MSG_MONEY)
    if _MONEY_THOUSANDS_RE.match(text):
        normalised = text.replace(".", "").replace(",", ".")
    elif _MONEY_COMMA_RE.match(text):
        normalised = text.replace(",", ".")
    elif _MONEY_DOT_RE.match(text):
        normalised = text
    else:
        raise _Invalid(MSG_MONEY)
    try:
        return Decimal(normalised).quantize(Decimal("0.01"))
    except InvalidOperation:  # more digits than the decimal context can hold
        raise _Invalid(MSG_MONEY) from None


def _clean_money(form_field: FormField, value: str) -> str:
    amount = _parse_money(value)
    _check_range(form_field, amount, format_brl)
    return f"{amount:.2f}"


def _clean_number(form_field: FormField, value: str) -> int | float:
    text = value.replace(" ", "")
    if not set(text) <= _ASCII_DIGITS | {".", ",", "-"}:
        raise _Invalid(MSG_NUMBER)
    if _NUMBER_THOUSANDS_RE.match(text):
        text = text.replace(".", "").replace(",", ".")
    elif _NUMBER_RE.match(text):
        text = text.replace(",", ".")
    else:
        raise _Invalid(MSG_NUMBER)
    number = Decimal(text)
    _check_range(form_field, number, _format_number)
    if number == number.to_integral_value():
        return int(number)
    return float(number)


def _clean_choice(form_field: FormField, value: str) -> str:
    if value not in {choice.value for choice in form_field.choices}:
        raise _Invalid(MSG_CHOICE)
    return value


def _clean_cpf(value: str) -> str:
    digits = re.sub(r"[.\-\s]", "", value)
    if not _CPF_RE.match(digits) or not _CPF_VALIDATOR.validate(digits):
        raise _Invalid(MSG_CPF)
    return f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"


def _clean_cnpj(value: str) -> str:
    chars = re.sub(r"[./\-\s]", "", value.upper())
    if not _CNPJ_RE.match(chars) or not _CNPJ_VALIDATOR.validate(chars):
        raise _Invalid(MSG_CNPJ)
    return f"{chars[:2]}.{chars[2:5]}.{chars[5:8]}/{chars[8:12]}-{chars[12:]}"


def _clean_email(value: str) -> str:
    if len(value) > 254 or not _EMAIL_RE.match(value):
        raise _Invalid(MSG_EMAIL)
    return value


def _clean_phone(value: str) -> str:
    if not set(value) <= _ASCII_DIGITS | set(" ()-.+"):
        raise _Invalid(MSG_PHONE)
    digits = "".join(char for char in value if char in _ASCII_DIGITS)
    if value.lstrip().startswith("+"):
        if not digits.startswith("55"):
            raise _Invalid(MSG_PHONE)
        digits = digits[2:]
    if len(digits) not in (10, 11) or "0" in digits[:2]:
        raise _Invalid(MSG_PHONE)
    area, number = digits[:2], digits[2:]
    if len(number) == 9:
        if number[0] != "9":
            raise _Invalid(MSG_PHONE)
        return f"({area}) {number[:5]}-{number[5:]}"
    if number[0] in "019":
        raise _Invalid(MSG_PHONE)
    return f"({area}) {number[:4]}-{number[4:]}"


def _file_extension(filename: str) -> str:
    basename = filename.replace("\\", "/").rsplit("/", 1)[-1]
    if "." not in basename:
        return ""
    return "." + basename.rsplit(".", 1)[-1].lower()


def _clean_file(form_field: FormField, upload: UploadedFile) -> None:
    if form_field.accept and _file_extension(upload.filename) not in form_field.accept:
        raise _Invalid(f"Tipo de arquivo não aceito. Envie: {', '.join(form_field.accept)}")
    if len(upload.data) > form_field.max_size_mb * 1024 * 1024:
        raise _Invalid(f"Arquivo maior que {form_field.max_size_mb} MB.")
    if not upload.data:
        raise _Invalid(MSG_FILE_EMPTY)


def _clean_value(form_field: FormField, value: str) -> Any:
    kind = form_field.type
    if kind == "text":
        return _clean_text(form_field, value)
    if kind == "textarea":
        return _clean_text(form_field, value.replace("\r\n", "\n").replace("\r", "\n"))
    if kind == "date":
        return _clean_date(value)
    if kind == "money":
        return _clean_money(form_field, value)
    if kind == "number":
        return _clean_number(form_field, value)
    if kind == "choice":
        return _clean_choice(form_field, value)
    if kind == "cpf":
        return _clean_cpf(value)
    if kind == "cnpj":
        return _clean_cnpj(value)
    if kind == "email":
        return _clean_email(value)
    if kind == "phone":
        return _clean_phone(value)
    raise AssertionError(f"tipo de campo não tratado: {kind}")  # parse_form guarantees a known type


def validate_submission(
    form: FormDefinition,
    values: Mapping[str, str],
    files: Mapping[str, UploadedFile] | None = None,
) -> ValidationResult:
    """Clean and validate an HTML form submission against ``form``.

    ``values`` are the submitted strings (unknown keys are ignored); ``files`` the uploads for
    ``file`` fields.  See :class:`ValidationResult` for what comes back.
    """
    files = files or {}
    result = ValidationResult()
    for form_field in form.fields:
        name = form_field.name
        if form_field.type == "file":
            upload = files.get(name)
            if upload is None or not (upload.filename or "").strip():
                if form_field.required:
                    result.errors[name] = MSG_FILE_REQUIRED
                continue
            try:
                _clean_file(form_field, upload)
            except _Invalid as exc:
                result.errors[name] = str(exc)
            else:
                result.files[name] = upload
            continue

        typed = values.get(name)
        typed = "" if typed is None else str(typed)
        result.raw[name] = typed
        value = typed.strip()
        if not value:
            if form_field.required:
                result.errors[name] = MSG_REQUIRED
            else:
                result.data[name] = None
            continue
        try:
            result.data[name] = _clean_value(form_field, value)
        except _Invalid as exc:
            result.errors[name] = str(exc)
    return result


def canonical_cpf(value: str) -> str | None:
    """A CPF written the way forms store it (``000.000.000-00``), or ``None`` when it is not valid."""
    try:
        return _clean_cpf(value.strip())
    except _Invalid:
        return None


def canonical_cnpj(value: str) -> str | None:
    """A CNPJ (numeric or alphanumeric) written the way forms store it, or ``None`` when it is not valid."""
    try:
        return _clean_cnpj(value.strip())
    except _Invalid:
        return None
