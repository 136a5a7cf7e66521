"""``consultar_cnpj``: look a supplier up by CNPJ in a public-CNPJ-style HTTP API.

The URL is a template from ``PROCON_CNPJ_API_URL`` with ``{cnpj}`` where the 14 characters go
(e.g. ``https://cnpj.example/api/cnpj/v1/{cnpj}``). The answer is the JSON of the common public CNPJ
APIs (``razao_social``, ``nome_fantasia``, ``logradouro``, ``numero``, ``complemento``, ``bairro``,
``municipio``, ``uf``, ``cep``, ``email``, ``ddd_telefone_1``, ``descricao_situacao_cadastral``);
any of them may be missing except ``razao_social``.

CNPJs are alphanumeric since July 2026 (12 characters A–Z/0–9 and two numeric check digits): the
value is uppercased, stripped of punctuation and checked with ``validate_docbr`` before any call.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from tasks.context import TaskContext
from tasks.errors import PermanentError
from tasks.http import request_json
from tasks.registry import register
from tasks.values import format_cnpj, normalize_cnpj

SERVICE = "CNPJ"


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    return " ".join(str(value).split())


def _format_cep(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    return f"{digits[:5]}-{digits[5:]}" if len(digits) == 8 else value


def _format_phone(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    if len(digits) == 10:
        return f"({digits[:2]}) {digits[2:6]}-{digits[6:]}"
    if len(digits) == 11:
        return f"({digits[:2]}) {digits[2:7]}-{digits[7:]}"
    return value


def format_address(data: dict[str, Any]) -> str:
    """One readable line: ``"Rua das Flores, 123, Sala 4 – Centro – São Paulo/SP – CEP 01001-000"``."""
    street = _text(data, "logradouro")
    street_type = _text(data, "descricao_tipo_de_logradouro")
    if street and street_type and not street.upper().startswith(street_type.upper()):
        street = f"{street_type} {street}"
    first = ", ".join(part for part in (street, _text(data, "numero"), _text(data, "complemento")) if part)
    city = _text(data, "municipio")
    state = _text(data, "uf")
    place = f"{city}/{state}" if city and state else city or state
    cep = _text(data, "cep")
    parts = [first, _text(data, "bairro"), place, f"CEP {_format_cep(cep)}" if cep else ""]
    return " – ".join(part for part in parts if part)


def parse_cnpj_response(data: dict[str, Any]) -> dict[str, Any]:
    """Map the public-CNPJ-API JSON to the case's ``fornecedor_*`` fields."""
    name = _text(data, "razao_social")
    if not name:
        raise PermanentError("A resposta do serviço de CNPJ não trouxe a razão social do fornecedor.")
    result: dict[str, Any] = {
        "fornecedor_nome": name,
        "fornecedor_nome_fantasia": _text(data, "nome_fantasia"),
        "fornecedor_endereco": format_address(data),
        "fornecedor_municipio": _text(data, "municipio"),
        "fornecedor_uf": _text(data, "uf").upper(),
        "fornecedor_situacao": _text(data, "descricao_situacao_cadastral"),
    }
    email = _text(data, "email").lower()
    if email and "@" in email:
        result["fornecedor_email"] = email
    phone = _text(data, "ddd_telefone_1")
    if phone:
        result["fornecedor_telefone"] = _format_phone(phone)
    return result


@register("consultar_cnpj")
def consultar_cnpj(payload: dict[str, Any], context: TaskContext) -> dict[str, Any]:
    """Look ``payload["fornecedor_cnpj"]`` up and return the supplier's registration data."""
    cnpj = normalize_cnpj(payload.get("fornecedor_cnpj"))
    template = context.settings.cnpj_api_url
    if not template:
        raise PermanentError("O serviço de consulta de CNPJ não está configurado (defina PROCON_CNPJ_API_URL).")
    if "{cnpj}" not in template:
        raise PermanentError("O endereço do serviço de CNPJ (PROCON_CNPJ_API_URL) deve conter o marcador {cnpj}.")
    url = template.replace("{cnpj}", quote(cnpj, safe=""))
    response = request_json(SERVICE, "GET", url, timeout_s=context.settings.http_timeout_s, handled=(404,))
    if response.status == 404:
        raise PermanentError(f"CNPJ {format_cnpj(cnpj)} não encontrado na base consultada.")
    result = parse_cnpj_response(response.json_object(SERVICE))
    result["cnpj_consultado_em"] = context.now.isoformat(timespec="seconds")
    return result
