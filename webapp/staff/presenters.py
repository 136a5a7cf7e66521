"""Turns case data into what a person reads: labels from the forms, values formatted per type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.forms.schema import FormDefinition, FormRegistry
from webapp import filters


@dataclass(frozen=True)
class Item:
    name: str
    label: str
    value: str
    kind: str
    attachment_id: int | None = None


@dataclass(frozen=True)
class Section:
    title: str
    items: list[Item]


def _display(form_field: Any, value: Any) -> tuple[str, int | None]:
    if value is None or value == "":
        return "—", None
    if form_field.type == "choice":
        labels = {c.value: c.label for c in form_field.choices}
        return labels.get(value, str(value)), None
    if form_field.type == "date":
        return filters.data_iso(value), None
    if form_field.type == "money":
        return filters.dinheiro(value), None
    if form_field.type == "file" and isinstance(value, dict):
        return f"{value.get('nome', 'arquivo')} ({int(value.get('tamanho', 0)) // 1024 + 1} KB)", value.get("anexo_id")
    return str(value), None


def describe(forms: FormRegistry, data: dict[str, Any], order: list[str] | None = None) -> list[Section]:
    """Sections of labelled values, one per form that filled any of ``data``."""
    shown: set[str] = set()
    sections: list[Section] = []
    keys = order or forms.keys()
    definitions: list[FormDefinition] = [forms.get(k) for k in keys if forms.exists(k)]
    for form in definitions:
        items = []
        for form_field in form.fields:
            if form_field.name in data and form_field.name not in shown:
                shown.add(form_field.name)
                text, attachment_id = _display(form_field, data[form_field.name])
                items.append(Item(form_field.name, form_field.label, text, form_field.type, attachment_id))
        if items:
            sections.append(Section(form.title, items))
    extra = [Item(k, k.replace("_", " ").capitalize(), str(v), "text") for k, v in data.items()
             if k not in shown and not k.startswith("_") and isinstance(v, str | int | float | bool)]
    if extra:
        sections.append(Section("Outros dados do processo", extra))
    return sections
