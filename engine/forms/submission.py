"""Validating what a person typed in a task's HTML form against its :class:`~engine.forms.schema.FormDefinition`.

:func:`validate_submission` cleans the submitted strings into JSON-serialisable values that become
workflow variables, with error messages in Brazilian Portuguese; :func:`canonical_cpf`,
:func:`canonical_cnpj` and :func:`format_brl` write documents and money the way the forms store them.
It is pure Python (no web framework): the web layer passes in plain strings and
:class:`UploadedFile` objects and renders the :class:`ValidationResult`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from validate_docbr import CNPJ, CPF

from engine.forms.schema import FormDefinition, FormField

__all__ = [
    "UploadedFile",
    "ValidationResult",
    "canonical_cnpj",
    "canonical_cpf",
    "format_brl",
    "validate_submission",
]


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
