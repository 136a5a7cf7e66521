"""Outbound HTTP for the handlers: one place that sets timeouts and turns failures into task errors.

Every call uses a fresh :class:`requests.Session` with retries switched off (the engine retries
with backoff, and must know about each attempt) and an explicit ``(connect, read)`` timeout.

How failures are classified (messages name the service, e.g. "O serviço de CNPJ não respondeu em
5 s."):

* timeout, connection refused or reset, DNS failure, HTTP 408, 429 and 5xx → :class:`RetryableError`;
* TLS certificate errors, a malformed URL, HTTP 401/403, other 4xx, an unexpected 3xx, or a body
  that is not the JSON expected → :class:`PermanentError`.

A handler lists the statuses it wants to interpret itself in ``handled`` (e.g. 404 for the CNPJ
lookup, 409 for the dívida ativa). Logs carry the method, the URL without query string or
credentials, the status and the elapsed time: never headers (tokens) nor bodies (personal data).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from tasks.errors import PermanentError, RetryableError

log = logging.getLogger(__name__)

USER_AGENT = "ProconFlow/0.1 (+servicos automaticos do Procon)"
_DETAIL_KEYS = ("message", "mensagem", "detail", "detalhe", "error", "erro", "title")
_MAX_DETAIL = 200


@dataclass(frozen=True)
class HttpResult:
    """A response the handler has to interpret: a 2xx, or a status it listed in ``handled``."""

    status: int
    body: Any  # the parsed JSON, or None when the body is empty or not JSON
    text: str

    def json_object(self, service: str) -> dict[str, Any]:
        """The body as a JSON object, or :class:`PermanentError` naming ``service``."""
        if not isinstance(self.body, dict):
            raise PermanentError(
                f"O serviço de {service} respondeu (HTTP {self.status}), mas a resposta não é o JSON esperado."
            )
        return self.body


def safe_url(url: str) -> str:
    """``url`` without user, password, query string and fragment: safe for logs and messages."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, "", ""))
    except ValueError:
        return "(URL inválida)"


def _seconds(value: float) -> str:
    """``5`` → "5", ``0.3`` → "0,3" (pt-BR decimal comma)."""
    return f"{value:g}".replace(".", ",")


def _detail(response: requests.Response) -> str:
    """A short explanation the remote service gave with an error, if it gave one."""
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = ""
    if isinstance(body, dict):
        for key in _DETAIL_KEYS:
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                detail = value.strip()
                break
    elif response.headers.get("Content-Type", "").startswith("text/plain"):
        detail = response.text.strip()
    detail = " ".join(detail.split())
    if len(detail) > _MAX_DETAIL:
        detail = detail[: _MAX_DETAIL - 1] + "…"
    return f": {detail}" if detail else ""


def _retry_after(response: requests.Response) -> float | None:
    raw = response.headers.get("Retry-After", "").strip()
    if raw.isdigit():
        return float(raw)
    return None


def request_json(
    service: str,
    method: str,
    url: str,
    *,
    timeout_s: float,
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
    handled: Collection[int] = (),
) -> HttpResult:
    """Send one request and return a 2xx (or ``handled``) response; raise a task error otherwise.

    ``service`` names the remote service in messages, in the form that follows "O serviço de"
    (e.g. ``"CNPJ"``, ``"dívida ativa"``). Redirects are followed for GET only.
    """
    shown = safe_url(url)
    all_headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
    started = time.monotonic()
    with requests.Session() as session:
        adapter = HTTPAdapter(max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        try:
            response = session.request(
                method,
                url,
                headers=all_headers,
                json=json_body,
                timeout=(timeout_s, timeout_s),
                allow_redirects=method.upper() == "GET",
            )
        except requests.exceptions.SSLError:
            log.warning("%s %s: erro de TLS", method, shown)
            raise PermanentError(
                f"O serviço de {service} ({shown}) apresentou um certificado TLS inválido ou não confiável."
            ) from None
        except requests.exceptions.Timeout:
            log.warning("%s %s: sem resposta em %s s", method, shown, timeout_s)
            raise RetryableError(f"O serviço de {service} não respondeu em {_seconds(timeout_s)} s.") from None
        except requests.exceptions.ConnectionError:
            log.warning("%s %s: falha de conexão", method, shown)
            raise RetryableError(f"Não foi possível conectar ao serviço de {service} ({shown}).") from None
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema, ValueError):
            raise PermanentError(f"O endereço configurado para o serviço de {service} é inválido ({shown}).") from None
        except requests.exceptions.RequestException as error:
            log.warning("%s %s: %s", method, shown, type(error).__name__)
            raise RetryableError(
                f"Falha na comunicação com o serviço de {service} ({type(error).__name__})."
            ) from None
        with response:
            status = response.status_code
            log.info("%s %s -> %s em %.0f ms", method, shown, status, (time.monotonic() - started) * 1000)
            if 200 <= status < 300 or status in handled:
                try:
                    body = response.json() if response.content else None
                except ValueError:
                    body = None
                return HttpResult(status=status, body=body, text=response.text)
            detail = _detail(response)
            if status == 429:
                raise RetryableError(
                    f"O serviço de {service} recusou por excesso de requisições (HTTP 429){detail}.",
                    retry_after_s=_retry_after(response),
                )
            if status == 408 or status >= 500:
                raise RetryableError(
                    f"O serviço de {service} respondeu com erro (HTTP {status}){detail}.",
                    retry_after_s=_retry_after(response),
                )
            if status in (401, 403):
                raise PermanentError(
                    f"O serviço de {service} recusou as credenciais (HTTP {status}){detail}. "
                    "Verifique o token ou usuário configurado."
                )
            if 300 <= status < 400:
                raise PermanentError(
                    f"O serviço de {service} respondeu com um redirecionamento inesperado (HTTP {status}). "
                    "Verifique o endereço configurado."
                )
            raise PermanentError(f"O serviço de {service} recusou a requisição (HTTP {status}){detail}.")
