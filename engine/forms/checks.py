"""Checking a form's JSON text before it is stored or published, and writing it the same way every time.

:func:`decode_form` runs the checks that need nothing but the text (size, UTF-8, JSON syntax with
the parser's messages in Brazilian Portuguese, :func:`engine.forms.schema.parse_form`);
:func:`fields_read_by_diagrams` says which variables the deployed diagrams using a form read, so that
publishing does not remove a field a condition or script still needs. :func:`canonical_hash` and
:func:`pretty` are how a published version is hashed and stored.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from engine.forms.schema import FormDefinition, FormError, parse_form

__all__ = [
    "MAX_FORM_BYTES",
    "CheckResult",
    "canonical_hash",
    "decode_form",
    "fields_read_by_diagrams",
    "pretty",
]

#: Largest form JSON accepted (the biggest form in forms/ has about 6 KB).
MAX_FORM_BYTES = 256 * 1024

_BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_CAMUNDA = "http://camunda.org/schema/1.0/bpmn"


def canonical_hash(data: Any) -> str:
    """SHA-256 of the form's JSON with sorted keys and no spaces: the same form, the same hash."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def pretty(data: Any) -> str:
    """The form's JSON as stored and shown to analysts."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


@dataclass
class CheckResult:
    """Outcome of :func:`check_form`: the parsed form when valid, else the problems (pt-BR)."""

    form: FormDefinition | None = None
    data: Any = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.form is not None and not self.problems


def decode_form(key: str, content: str | bytes) -> CheckResult:
    """JSON syntax and :func:`parse_form` — the checks that need nothing but the text."""
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8")
        except UnicodeDecodeError as error:
            return CheckResult(problems=[f"O texto não está em UTF-8 (byte inválido na posição {error.start})."])
    if len(content.encode("utf-8")) > MAX_FORM_BYTES:
        return CheckResult(problems=[f"O formulário tem mais de {MAX_FORM_BYTES // 1024} KB; "
                                     "um formulário não precisa de tanto."])
    if not content.strip():
        return CheckResult(problems=["O formulário está vazio: escreva o JSON do formulário."])
    try:
        data = json.loads(content)
    except json.JSONDecodeError as error:
        return CheckResult(problems=[f"JSON inválido na linha {error.lineno}, coluna {error.colno}: "
                                     f"{_json_message(error.msg)}."])
    try:
        form = parse_form(key, data, source=key)
    except FormError as error:
        return CheckResult(data=data, problems=[str(error)])
    return CheckResult(form=form, data=data)


_JSON_MESSAGES = {
    "Expecting value": "falta um valor",
    "Expecting property name enclosed in double quotes": "esperava o nome de um atributo entre aspas duplas",
    "Expecting ',' delimiter": "falta uma vírgula",
    "Expecting ':' delimiter": "faltam os dois-pontos",
    "Unterminated string starting at": "texto sem aspas de fechamento",
    "Extra data": "há conteúdo depois do fim do JSON",
    "Invalid control character at": "caractere de controle inválido (use \\n para quebras de linha)",
}


def _json_message(message: str) -> str:
    return _JSON_MESSAGES.get(message, message)


def fields_read_by_diagrams(key: str, library: dict[str, bytes]) -> dict[str, list[str]]:
    """Field name -> places (“fluxo 'x' do processo 'y'”) where a deployed diagram that uses form
    ``key`` reads a variable of that name in a condition or script."""
    found: dict[str, list[str]] = {}
    for process_id, xml in library.items():
        try:
            tree = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True))
        except etree.XMLSyntaxError:
            continue
        uses = tree.iter(f"{{{_BPMN}}}userTask")
        if not any(task.get(f"{{{_CAMUNDA}}}formKey") == key for task in uses):
            continue
        for element in tree.iter(f"{{{_BPMN}}}conditionExpression", f"{{{_BPMN}}}script"):
            text = element.text or ""
            owner = element.getparent()
            owner_id = owner.get("id", "") if owner is not None else ""
            kind = "condição do fluxo" if element.tag.endswith("conditionExpression") else "script da tarefa"
            for name in set(re.findall(r"(?<![\w.'\"])([A-Za-z_]\w*)", text)):
                found.setdefault(name, []).append(f"{kind} '{owner_id}' do processo '{process_id}'")
    return found
