"""What a service-task handler receives besides its payload: settings and facts about the case.

:class:`TaskSettings` is read once from the environment (``PROCON_*`` variables) by the engine's
worker; :class:`TaskContext` is built for each job. Secrets (SMTP password, dívida ativa token) are
kept out of ``repr`` so that logging a context never leaks them.

Environment variables (all optional; an empty value means "not configured"):

========================== ============================================================ ===========
variable                   meaning                                                      default
========================== ============================================================ ===========
PROCON_CNPJ_API_URL        URL template of the CNPJ lookup, with ``{cnpj}``             (none)
PROCON_SMTP_HOST           SMTP server                                                  (none)
PROCON_SMTP_PORT           SMTP port                                                    25
PROCON_SMTP_USER           SMTP login (no login when empty)                             (none)
PROCON_SMTP_PASSWORD       SMTP password                                                (none)
PROCON_SMTP_STARTTLS       ``1``/``true``/``sim``: upgrade the connection with STARTTLS false
PROCON_SMTP_SSL            ``1``/``true``/``sim``: implicit TLS (port 465)              false
PROCON_SMTP_TIMEOUT_S      SMTP timeout in seconds                                      10
PROCON_MAIL_FROM           sender address                                               nao-responda@procon.example
PROCON_DIVIDA_ATIVA_URL    endpoint that registers a fine in the dívida ativa           (none)
PROCON_DIVIDA_ATIVA_TOKEN  sent as ``Authorization: Bearer <token>``                    (none)
PROCON_HTTP_TIMEOUT_S      timeout of each outbound HTTP call, in seconds               5
PROCON_PUBLIC_URL          public address of the site, for document verification links http://127.0.0.1:5000
PROCON_ORGAO_NOME          name of the agency printed on documents                      Procon
========================== ============================================================ ===========
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tasks.documents import DocumentDraft

_TRUE = {"1", "true", "sim", "s", "yes", "y", "on"}
_FALSE = {"0", "false", "nao", "não", "n", "no", "off", ""}


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"Valor inválido em {name}: use 1/0, true/false ou sim/não (recebido: {raw!r}).")


def _number(environ: Mapping[str, str], name: str, default: float, kind: type) -> Any:
    raw = (environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = kind(raw.replace(",", ".") if kind is float else raw)
    except ValueError:
        raise ValueError(f"Valor inválido em {name}: esperado um número (recebido: {raw!r}).") from None
    if value <= 0:
        raise ValueError(f"Valor inválido em {name}: deve ser maior que zero (recebido: {raw!r}).")
    return value


@dataclass(frozen=True)
class TaskSettings:
    """Configuration of the outside services the handlers talk to (see the module docstring)."""

    cnpj_api_url: str = ""
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_timeout_s: float = 10.0
    mail_from: str = "nao-responda@procon.example"
    divida_ativa_url: str = ""
    divida_ativa_token: str = field(default="", repr=False)
    http_timeout_s: float = 5.0
    public_base_url: str = "http://127.0.0.1:5000"
    agency_name: str = "Procon"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> TaskSettings:
        """Read the ``PROCON_*`` variables; raises ``ValueError`` (pt-BR) on a malformed number or flag."""

        def text(name: str, default: str = "") -> str:
            return (environ.get(name) or "").strip() or default

        return cls(
            cnpj_api_url=text("PROCON_CNPJ_API_URL"),
            smtp_host=text("PROCON_SMTP_HOST"),
            smtp_port=_number(environ, "PROCON_SMTP_PORT", 25, int),
            smtp_user=text("PROCON_SMTP_USER"),
            smtp_password=environ.get("PROCON_SMTP_PASSWORD") or "",
            smtp_starttls=_bool(environ, "PROCON_SMTP_STARTTLS", False),
            smtp_ssl=_bool(environ, "PROCON_SMTP_SSL", False),
            smtp_timeout_s=_number(environ, "PROCON_SMTP_TIMEOUT_S", 10.0, float),
            mail_from=text("PROCON_MAIL_FROM", "nao-responda@procon.example"),
            divida_ativa_url=text("PROCON_DIVIDA_ATIVA_URL"),
            divida_ativa_token=(environ.get("PROCON_DIVIDA_ATIVA_TOKEN") or "").strip(),
            http_timeout_s=_number(environ, "PROCON_HTTP_TIMEOUT_S", 5.0, float),
            public_base_url=text("PROCON_PUBLIC_URL", "http://127.0.0.1:5000").rstrip("/"),
            agency_name=text("PROCON_ORGAO_NOME", "Procon"),
        )


@dataclass
class TaskContext:
    """Facts about the job a handler runs for; built by the engine for each attempt.

    ``now`` is the engine clock's time when the job was acquired (timezone-aware, UTC).
    ``save_document`` stores a rendered document with the case and returns its reference dict
    (``{"documento_id": ..., "codigo": ..., "sha256": ...}``).
    ``load_document`` (optional) gives back ``(filename, pdf_bytes)`` for such a reference; the
    e-mail handler needs it to attach a document.
    ``job_id`` (optional) identifies the job and stays the same across retries.
    """

    settings: TaskSettings
    case_id: int
    protocol: str
    unit: str
    now: datetime
    save_document: Callable[[DocumentDraft], dict[str, Any]] | None = None
    load_document: Callable[[dict[str, Any]], tuple[str, bytes]] | None = None
    job_id: str | None = None
