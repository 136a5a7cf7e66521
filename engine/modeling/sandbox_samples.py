"""Sample data for the "Testar" sandbox: a plausible value for every form field, as a person would type
it, and a small PDF for each required file field the analyst leaves empty.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal

from engine.forms.schema import FormDefinition, FormField
from engine.forms.submission import UploadedFile

_SAMPLE_TEXT = {
    "consumidor_nome": "Maria Exemplo da Silva",
    "fornecedor_nome": "Loja Exemplo Ltda",
    "denunciante_nome": "José Exemplo Souza",
}
SAMPLE_CPF = "529.982.247-25"
SAMPLE_CNPJ = "11.222.333/0001-81"
SAMPLE_EMAIL = "teste@exemplo.com.br"
SAMPLE_PHONE = "(11) 98765-4321"
#: A minimal PDF, attached to required file fields the analyst leaves empty.
SAMPLE_PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Count 0/Kids[]>>endobj\n"
              b"trailer<</Root 1 0 R>>\n%%EOF\n")


def _fit(text: str, form_field: FormField) -> str:
    return text[:form_field.max_length] if form_field.max_length else text


def _sample_number(form_field: FormField, default: Decimal) -> Decimal:
    value = default
    if form_field.min_value is not None and value < form_field.min_value:
        value = form_field.min_value
    if form_field.max_value is not None and value > form_field.max_value:
        value = form_field.max_value
    return value


def sample_value(form_field: FormField, today: dt.date) -> str | None:
    """A plausible value for one field, as a person would type it (``None`` for files)."""
    kind, name = form_field.type, form_field.name
    if kind == "text":
        if name in _SAMPLE_TEXT:
            return _fit(_SAMPLE_TEXT[name], form_field)
        if "nome" in name:
            return _fit("Pessoa Exemplo", form_field)
        return _fit(f"Exemplo: {form_field.label}", form_field)
    if kind == "textarea":
        return _fit(f"Texto de exemplo para testar o procedimento ({form_field.label.lower()}).", form_field)
    if kind == "date":
        return today.isoformat()
    if kind == "money":
        value = _sample_number(form_field, Decimal("150.00")).quantize(Decimal("0.01"))
        return f"{value:.2f}".replace(".", ",")
    if kind == "number":
        value = _sample_number(form_field, Decimal(1))
        return format(value.normalize(), "f").replace(".", ",")
    if kind == "choice":
        return form_field.choices[0].value if form_field.choices else ""
    if kind == "cpf":
        return SAMPLE_CPF
    if kind == "cnpj":
        return SAMPLE_CNPJ
    if kind == "email":
        return SAMPLE_EMAIL
    if kind == "phone":
        return SAMPLE_PHONE
    return None


def sample_values(form: FormDefinition, today: dt.date) -> dict[str, str]:
    """Plausible values for every field of a form (files excluded), editable by the analyst."""
    values = {}
    for form_field in form.fields:
        value = sample_value(form_field, today)
        if value is not None:
            values[form_field.name] = value
    return values



def with_sample_files(form: FormDefinition, files: Mapping[str, UploadedFile] | None) -> dict[str, UploadedFile]:
    """The uploaded files, plus a small sample PDF for each required file field left empty."""
    result = dict(files or {})
    for form_field in form.fields:
        if form_field.type == "file" and form_field.required and form_field.name not in result:
            accept = form_field.accept or (".pdf",)
            extension = ".pdf" if ".pdf" in accept else accept[0]
            result[form_field.name] = UploadedFile(f"exemplo{extension}", "application/pdf", SAMPLE_PDF)
    return result
