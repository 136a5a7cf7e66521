"""``inscrever_divida_ativa``: register an unpaid fine in the state's debt registry (dívida ativa).

``POST PROCON_DIVIDA_ATIVA_URL`` with ``Authorization: Bearer PROCON_DIVIDA_ATIVA_TOKEN`` (when a
token is set) and the JSON body::

    {"protocolo": "CAP-2026-000123", "cnpj": "12ABC34501DE35", "nome": "Loja Exemplo Ltda",
     "valor": "15000.00", "data_decisao": "2026-03-02", "data_vencimento": "2026-04-01",
     "origem": "Procon"}

from the payload fields ``fornecedor_cnpj``, ``fornecedor_nome``, ``multa_valor`` (a decimal
string such as ``"15000.00"``, or ``"15.000,00"``), ``data_decisao`` and ``data_vencimento`` (ISO
dates or ``dd/mm/aaaa``). The ``Idempotency-Key`` header is ``procon-<protocol>``, so a retry after
a timeout (the registry may have received the first request) never registers the debt twice.

The registry answers 201/200 with ``{"numero_inscricao": ...}``; a 409 "already registered" that
carries the number is taken as success.
"""

from __future__ import annotations

from typing import Any

from tasks.context import TaskContext
from tasks.errors import PermanentError
from tasks.http import request_json
from tasks.registry import register
from tasks.values import normalize_cnpj, parse_amount, parse_date

SERVICE = "dívida ativa"
_FIELDS = {
    "fornecedor_cnpj": "CNPJ do fornecedor (fornecedor_cnpj)",
    "fornecedor_nome": "nome do fornecedor (fornecedor_nome)",
    "multa_valor": "valor da multa (multa_valor)",
    "data_decisao": "data da decisão (data_decisao)",
    "data_vencimento": "data de vencimento (data_vencimento)",
}


def build_request(payload: dict[str, Any], protocol: str) -> dict[str, Any]:
    """The JSON body sent to the registry; :class:`PermanentError` naming missing or invalid fields."""
    missing = [label for key, label in _FIELDS.items() if payload.get(key) in (None, "")]
    if missing:
        raise PermanentError(f"Faltam dados para inscrever a multa na dívida ativa: {', '.join(missing)}.")
    return {
        "protocolo": protocol,
        "cnpj": normalize_cnpj(payload["fornecedor_cnpj"]),
        "nome": " ".join(str(payload["fornecedor_nome"]).split()),
        "valor": f"{parse_amount(payload['multa_valor'], 'valor da multa (multa_valor)'):.2f}",
        "data_decisao": parse_date(payload["data_decisao"], "data da decisão (data_decisao)").isoformat(),
        "data_vencimento": parse_date(payload["data_vencimento"], "data de vencimento (data_vencimento)").isoformat(),
        "origem": "Procon",
    }


def idempotency_key(protocol: str) -> str:
    return f"procon-{protocol}"


@register("inscrever_divida_ativa")
def inscrever_divida_ativa(payload: dict[str, Any], context: TaskContext) -> dict[str, Any]:
    """Register the case's fine; returns the registry's number and when it was registered."""
    settings = context.settings
    if not settings.divida_ativa_url:
        raise PermanentError("A integração com a dívida ativa não está configurada (defina PROCON_DIVIDA_ATIVA_URL).")
    if not context.protocol:
        raise PermanentError("O caso não tem número de protocolo; a inscrição na dívida ativa exige um.")
    body = build_request(payload, context.protocol)
    headers = {"Idempotency-Key": idempotency_key(context.protocol)}
    if settings.divida_ativa_token:
        headers["Authorization"] = f"Bearer {settings.divida_ativa_token}"
    response = request_json(SERVICE, "POST", settings.divida_ativa_url, timeout_s=settings.http_timeout_s,
                            headers=headers, json_body=body, handled=(409,))
    data = response.body if isinstance(response.body, dict) else {}
    number = data.get("numero_inscricao")
    if number in (None, ""):
        if response.status == 409:
            raise PermanentError(
                "O serviço de dívida ativa informou que a multa deste protocolo já está inscrita, "
                "mas não devolveu o número da inscrição."
            )
        raise PermanentError(
            f"O serviço de dívida ativa respondeu (HTTP {response.status}) sem o número da inscrição "
            "(numero_inscricao)."
        )
    return {
        "divida_ativa_numero": str(number),
        "divida_ativa_inscrita_em": context.now.isoformat(timespec="seconds"),
    }
