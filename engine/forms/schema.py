"""Form definitions for Procon Flow user tasks: the schema of ``forms/<key>.json`` and its loading.

Each BPMN user task points (through ``camunda:formKey``) at a form described by a JSON file
``forms/<key>.json``. This module parses and checks those JSON files (:func:`parse_form`,
:class:`FormRegistry`), so that a broken form is reported to the analyst with the file name and the
offending field. What a person types in a form is validated in :mod:`engine.forms.submission`.
"""

from __future__ import annotations

import json
import keyword
import re
import threading
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

__all__ = [
    "FIELD_TYPES",
    "Choice",
    "FormDefinition",
    "FormError",
    "FormField",
    "FormNotFound",
    "FormRegistry",
    "parse_form",
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
