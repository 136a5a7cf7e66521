"""Official documents: Jinja2 templates (``tasks/templates/``) rendered to HTML and, with WeasyPrint, to PDF.

Kinds (``documento_tipo``) and the case data each one needs:

* ``notificacao`` — notification of the supplier, or Carta de Informações Preliminares (CIP) when
  ``notificacao_modalidade`` is ``"cip"`` (or ``cip_texto`` is present): ``fornecedor_nome``,
  ``fornecedor_cnpj``, ``fatos``, ``prazo_dias``, ``prazo_vencimento``.
* ``termo_audiencia`` — record of a conciliation hearing: ``consumidor_nome``, ``fornecedor_nome``,
  ``data_audiencia``, ``local_ou_link``, ``acordo`` (``sim``/``nao``), ``termo``; when there is an
  agreement, its deadline comes from ``prazo_cumprimento`` (or ``prazo_vencimento``), counted from
  the hearing.
* ``auto_infracao`` — Decreto 2.181/1997 art. 35: ``fornecedor_nome``, ``fornecedor_cnpj``,
  ``fornecedor_endereco``, ``local_infracao``, ``fatos``, ``dispositivo_infringido``,
  ``fiscal_nome``, ``fiscal_matricula``, ``orgao_julgador``, ``prazo_dias``, ``prazo_vencimento``.
* ``decisao`` — administrative decision: ``fornecedor_nome``, ``fornecedor_cnpj``,
  ``decisao_texto``, ``autoridade_nome``, ``prazo_dias``, ``prazo_vencimento``; ``multa_valor``
  when a fine is imposed.

Common optional data: ``unidade_nome``, ``unidade_endereco``, ``unidade_municipio``,
``fundamento_legal`` (replaces the kind's default legal basis), ``prazo_tipo`` (``corridos`` or
``uteis``), ``prazo_contagem`` (e.g. "contados da ciência"), ``prazo_finalidade``.

The deadline is written in figures, in words and as a date — "10 (dez) dias corridos, contados da
ciência, vencendo em 12/03/2026". The due date comes from the case data (the engine counts it on
the unit's calendar, e.g. with ``prazo('defesa')``); this module only writes it down.

Every document carries the protocol and a verification code (12 characters of an unambiguous
alphabet, grouped as ``K7Q4-M2XP-9TDA``) with the public address where anyone can check it. User
data is HTML-escaped (Jinja2 autoescape) and WeasyPrint fetches nothing but ``data:`` URLs, so
text typed into a case can neither run script nor read files while the PDF is made.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from num2words import num2words

from tasks.context import TaskContext
from tasks.errors import PermanentError, TaskError
from tasks.registry import register
from tasks.values import format_cnpj, format_date, format_money, parse_amount, parse_date

log = logging.getLogger(__name__)

AGENCY_TZ = ZoneInfo("America/Sao_Paulo")
#: No 0/O, 1/I/L or U: a code read aloud or typed from paper is not mistaken.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_GROUPS = 3
CODE_GROUP_SIZE = 4
MAX_DEADLINE_DAYS = 3650
TEMPLATES_DIR = Path(__file__).parent / "templates"

_MONTHS = ("janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro",
           "outubro", "novembro", "dezembro")
_CODE_GROUP = f"[{CODE_ALPHABET}]{{{CODE_GROUP_SIZE}}}"
_CODE_RE = re.compile(rf"^{_CODE_GROUP}(?:-{_CODE_GROUP}){{{CODE_GROUPS - 1}}}$")

#: What each piece of case data is called in messages to the administrator.
LABELS = {
    "fornecedor_nome": "nome do fornecedor",
    "fornecedor_cnpj": "CNPJ do fornecedor",
    "fornecedor_endereco": "endereço do fornecedor",
    "consumidor_nome": "nome do consumidor",
    "fatos": "relato dos fatos",
    "prazo_dias": "prazo em dias",
    "prazo_vencimento": "data de vencimento do prazo",
    "data_audiencia": "data da audiência",
    "local_ou_link": "sala ou link da audiência",
    "acordo": "resultado da audiência (houve acordo?)",
    "termo": "texto do termo de audiência",
    "local_infracao": "local da infração",
    "dispositivo_infringido": "dispositivo legal infringido",
    "fiscal_nome": "nome do agente fiscal",
    "fiscal_matricula": "matrícula do agente fiscal",
    "orgao_julgador": "órgão julgador",
    "decisao_texto": "texto da decisão",
    "autoridade_nome": "nome da autoridade julgadora",
    "multa_valor": "valor da multa",
    "prazo_cumprimento": "prazo para cumprir o acordo",
    "data_hora_lavratura": "data e hora da lavratura",
}


@dataclass(frozen=True)
class KindSpec:
    """What a kind of document needs and says by default."""

    title: str
    template: str
    required: tuple[str, ...]
    legal_basis: str
    deadline_purpose: str
    deadline_start: str = "contados da ciência"
    deadline_required: bool = True


KINDS: dict[str, KindSpec] = {
    "notificacao": KindSpec(
        title="Notificação",
        template="notificacao.html",
        required=("fornecedor_nome", "fornecedor_cnpj", "fatos"),
        legal_basis="Art. 55, § 4º, da Lei 8.078/1990 (Código de Defesa do Consumidor)",
        deadline_purpose="para prestar as informações solicitadas e apresentar resposta",
    ),
    "termo_audiencia": KindSpec(
        title="Termo de Audiência de Conciliação",
        template="termo_audiencia.html",
        required=("consumidor_nome", "fornecedor_nome", "data_audiencia", "local_ou_link", "acordo", "termo"),
        legal_basis="Lei 8.078/1990 (Código de Defesa do Consumidor) e Decreto 2.181/1997",
        deadline_purpose="para o cumprimento do acordo",
        deadline_start="contados da data desta audiência",
        deadline_required=False,
    ),
    "auto_infracao": KindSpec(
        title="Auto de Infração",
        template="auto_infracao.html",
        required=("fornecedor_nome", "fornecedor_cnpj", "fornecedor_endereco", "local_infracao", "fatos",
                  "dispositivo_infringido", "fiscal_nome", "fiscal_matricula", "orgao_julgador"),
        legal_basis="Arts. 55 a 60 da Lei 8.078/1990 (Código de Defesa do Consumidor) e arts. 33 a 35 do "
                    "Decreto 2.181/1997",
        deadline_purpose="para cumprir a determinação ou apresentar defesa",
    ),
    "decisao": KindSpec(
        title="Decisão Administrativa",
        template="decisao.html",
        required=("fornecedor_nome", "fornecedor_cnpj", "decisao_texto", "autoridade_nome"),
        legal_basis="Arts. 56 e 57 da Lei 8.078/1990 (Código de Defesa do Consumidor) e Decreto 2.181/1997",
        deadline_purpose="para interpor recurso à instância superior",
    ),
}


@dataclass
class DocumentDraft:
    """A rendered document, not yet stored: the engine's ``save_document`` keeps it with the case."""

    kind: str
    title: str
    html: str
    pdf: bytes
    verification_code: str
    sha256: str  # of ``pdf``, hex


# --------------------------------------------------------------------------- verification codes


def new_verification_code() -> str:
    """12 random characters from :data:`CODE_ALPHABET`, grouped: ``"K7Q4-M2XP-9TDA"`` (about 59 bits)."""
    groups = ("".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_GROUP_SIZE)) for _ in range(CODE_GROUPS))
    return "-".join(groups)


def normalize_verification_code(value: str) -> str | None:
    """What a person typed (``"k7q4 m2xp 9tda"``) → ``"K7Q4-M2XP-9TDA"``, or ``None`` if it cannot be a code."""
    chars = re.sub(r"[\s\-.]", "", value or "").upper()
    size = CODE_GROUPS * CODE_GROUP_SIZE
    if len(chars) != size:
        return None
    code = "-".join(chars[i:i + CODE_GROUP_SIZE] for i in range(0, size, CODE_GROUP_SIZE))
    return code if _CODE_RE.match(code) else None


def verification_url(public_base_url: str, code: str) -> str:
    return f"{public_base_url.rstrip('/')}/documentos/verificar/{code}"


# --------------------------------------------------------------------------- writing in pt-BR


def long_date(day: dt.date) -> str:
    """``12 de março de 2026`` (``1º de março`` on the first day, as official texts write it)."""
    first = "1º" if day.day == 1 else str(day.day)
    return f"{first} de {_MONTHS[day.month - 1]} de {day.year}"


def number_in_words(number: int) -> str:
    return num2words(number, lang="pt_BR")


def money_in_words(amount: Decimal) -> str:
    """``Decimal("1234.56")`` → "mil duzentos e trinta e quatro reais e cinquenta e seis centavos"."""
    amount = amount.quantize(Decimal("0.01"))
    reais = int(amount)
    cents = int((amount - reais) * 100)
    if reais == 0:
        words = f"{number_in_words(cents)} {'centavo' if cents == 1 else 'centavos'}"
    else:
        words = num2words(amount, lang="pt_BR", to="currency")
    return words.replace(", ", " ")


def deadline_text(days: int, mode: str, start: str, due: dt.date) -> str:
    """``10 (dez) dias corridos, contados da ciência, vencendo em 12/03/2026``."""
    unit = "dia" if days == 1 else "dias"
    if mode == "uteis":
        kind = "útil" if days == 1 else "úteis"
    else:
        kind = "corrido" if days == 1 else "corridos"
    return f"{days} ({number_in_words(days)}) {unit} {kind}, {start}, vencendo em {format_date(due)}"


def mask_cpf(value: str) -> str:
    """``123.456.789-09`` → ``***.456.789-**`` (LGPD: enough to identify, not to reuse)."""
    digits = re.sub(r"\D", "", value or "")
    if len(digits) != 11:
        return ""
    return f"***.{digits[3:6]}.{digits[6:9]}-**"


def paragraphs(value: Any) -> Markup:
    """Plain text → escaped ``<p>`` paragraphs (blank lines split them, single newlines become ``<br>``)."""
    text = str(value or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    blocks = [block.strip() for block in re.split(r"\n\s*\n", text) if block.strip()]
    return Markup("").join(
        Markup("<p>{}</p>").format(Markup("<br>").join(escape(line) for line in block.split("\n")))
        for block in blocks
    )


# --------------------------------------------------------------------------- reading case data


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value).strip()


def _problem(key: str, what: str) -> PermanentError:
    return PermanentError(f"O campo {LABELS.get(key, key)} ({key}) {what}")


def _date(data: dict[str, Any], key: str) -> dt.date:
    return parse_date(data.get(key), f"{LABELS.get(key, key)} ({key})")


def _moment(data: dict[str, Any], key: str, default: dt.datetime) -> dt.datetime:
    """A date and time shown in the agency's time zone."""
    value = data.get(key)
    if value in (None, ""):
        return default.astimezone(AGENCY_TZ)
    try:
        moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise _problem(key, f"não contém uma data e hora válidas: {value}.") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=AGENCY_TZ)
    return moment.astimezone(AGENCY_TZ)


def _days(data: dict[str, Any], key: str = "prazo_dias") -> int:
    value = data.get(key)
    try:
        days = int(str(value).strip()) if not isinstance(value, bool) else -1
    except ValueError:
        raise _problem(key, f"deve ser um número inteiro de dias: {value}.") from None
    if not 1 <= days <= MAX_DEADLINE_DAYS:
        raise _problem(key, f"deve estar entre 1 e {MAX_DEADLINE_DAYS} dias: {value}.")
    return days


def _cnpj(value: str) -> str:
    return format_cnpj(re.sub(r"[^0-9A-Za-z]", "", value).upper()) if value else ""


def _agreement(data: dict[str, Any]) -> bool:
    value = data.get("acordo")
    if isinstance(value, bool):
        return value
    text = _text(data, "acordo").lower()
    if text in ("sim", "s", "true", "1"):
        return True
    if text in ("nao", "não", "n", "false", "0"):
        return False
    raise _problem("acordo", f"deve ser “sim” ou “nao”: {text}.")


def _missing(spec: KindSpec, data: dict[str, Any]) -> list[str]:
    keys = list(spec.required)
    if spec.deadline_required:
        keys += ["prazo_dias", "prazo_vencimento"]
    return [key for key in keys if not _text(data, key) and not isinstance(data.get(key), bool)]


def _deadline(spec: KindSpec, kind: str, data: dict[str, Any], purpose: str) -> dict[str, Any] | None:
    """The deadline's parts and sentence, or ``None`` for a document without one."""
    due_key = "prazo_vencimento"
    if kind == "termo_audiencia":
        if not _agreement(data):
            return None
        due_key = "prazo_cumprimento" if _text(data, "prazo_cumprimento") else "prazo_vencimento"
        if not _text(data, due_key):
            return None
    due = _date(data, due_key)
    if due_key == "prazo_cumprimento":  # the agreement states a date: count the calendar days from the hearing
        days = (due - _date(data, "data_audiencia")).days
        if days < 1:
            raise _problem(due_key, "deve ser posterior à data da audiência.")
    elif _text(data, "prazo_dias"):
        days = _days(data)
    else:
        raise _problem("prazo_dias", "não foi informado.")
    mode = _text(data, "prazo_tipo").lower().replace("ú", "u") or "corridos"
    if mode not in ("corridos", "uteis"):
        raise _problem("prazo_tipo", f"deve ser “corridos” ou “uteis”: {mode}.")
    start = _text(data, "prazo_contagem") or spec.deadline_start
    return {
        "dias": days,
        "dias_extenso": number_in_words(days),
        "tipo": mode,
        "vencimento": format_date(due),
        "vencimento_extenso": long_date(due),
        "finalidade": _text(data, "prazo_finalidade") or purpose,
        "texto": deadline_text(days, mode, start, due),
    }


def _fine(data: dict[str, Any]) -> dict[str, str] | None:
    if not _text(data, "multa_valor"):
        return None
    amount = parse_amount(data["multa_valor"], "valor da multa (multa_valor)")
    return {"valor": format_money(amount), "extenso": money_in_words(amount)}


def build_model(kind: str, data: dict[str, Any], context: TaskContext, code: str) -> dict[str, Any]:
    """Everything a template shows, checked and formatted; :class:`PermanentError` on missing or bad data."""
    spec = KINDS[kind]
    missing = _missing(spec, data)
    if not context.protocol:
        missing.insert(0, "protocol")
    if missing:
        names = ", ".join("número de protocolo do caso" if key == "protocol" else f"{LABELS.get(key, key)} ({key})"
                          for key in missing)
        raise PermanentError(f"Faltam dados para gerar o documento “{spec.title}”: {names}.")

    issued = context.now.astimezone(AGENCY_TZ)
    settings = context.settings
    text = {key: _text(data, key) for key in (
        "fornecedor_nome", "fornecedor_nome_fantasia", "fornecedor_endereco", "fornecedor_email",
        "consumidor_nome", "fatos", "pedido", "local_ou_link", "hora_audiencia", "termo", "conciliador_nome",
        "preposto_nome", "local_infracao", "dispositivo_infringido", "determinacao", "fiscal_nome",
        "fiscal_matricula", "orgao_julgador", "orgao_julgador_endereco", "decisao_texto", "decisao_dispositivo",
        "autoridade_nome", "unidade_endereco", "unidade_municipio", "responsavel_nome", "responsavel_cargo",
        "auto_numero",
    )}
    title = spec.title
    cip = False
    if kind == "notificacao":
        modality = _text(data, "notificacao_modalidade").lower()
        cip = modality == "cip" or (not modality and bool(_text(data, "cip_texto")))
        if cip:
            title = "Carta de Informações Preliminares (CIP)"
    instance = "segunda" if _text(data, "instancia").lower() in ("2", "segunda", "2ª") else "primeira"
    purpose = spec.deadline_purpose
    if kind == "decisao":
        title = f"Decisão Administrativa de {instance.capitalize()} Instância"
        if instance == "segunda":
            purpose = "para pagamento da multa" if _text(data, "multa_valor") else "para cumprimento da decisão"
    if kind == "auto_infracao" and text["auto_numero"]:
        title = f"Auto de Infração nº {text['auto_numero']}"
    place = text["unidade_municipio"]
    model: dict[str, Any] = {
        **text,
        "kind": kind,
        "titulo": title,
        "cip": cip,
        "instancia": instance,
        "orgao": settings.agency_name,
        "unidade": _text(data, "unidade_nome") or context.unit,
        "protocolo": context.protocol,
        "fornecedor_cnpj": _cnpj(_text(data, "fornecedor_cnpj")),
        "consumidor_cpf": mask_cpf(_text(data, "consumidor_cpf")),
        "texto_notificacao": _text(data, "notificacao_texto") or _text(data, "cip_texto"),
        "fundamento_legal": _text(data, "fundamento_legal") or spec.legal_basis,
        "prazo": _deadline(spec, kind, data, purpose),
        "multa": _fine(data) if kind == "decisao" else None,
        "fiscal_cargo": _text(data, "fiscal_cargo") or "Agente fiscal",
        "autoridade_cargo": _text(data, "autoridade_cargo") or "Autoridade julgadora",
        "local_data": f"{place}, {long_date(issued.date())}" if place else long_date(issued.date()),
        "emitido_em": issued.strftime("%d/%m/%Y %H:%M"),
        "emitido_em_iso": issued.isoformat(timespec="seconds"),
        "codigo": code,
        "url_verificacao": verification_url(settings.public_base_url, code),
        "url_base_verificacao": f"{settings.public_base_url.rstrip('/')}/documentos/verificar",
    }
    if kind == "termo_audiencia":
        model["acordo"] = _agreement(data)
        hearing = _date(data, "data_audiencia")
        model["data_audiencia"] = format_date(hearing)
        model["data_audiencia_extenso"] = long_date(hearing)
    if kind == "auto_infracao":
        lavratura = _moment(data, "data_hora_lavratura", context.now)
        model["lavratura_data"] = format_date(lavratura.date())
        model["lavratura_extenso"] = long_date(lavratura.date())
        model["lavratura_hora"] = lavratura.strftime("%H:%M")
    return model


# --------------------------------------------------------------------------- rendering

_ENV = Environment(
    loader=FileSystemLoader(str(TEMPLATES_DIR)),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True, default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["paragrafos"] = paragraphs


def render_html(kind: str, model: dict[str, Any]) -> str:
    return _ENV.get_template(KINDS[kind].template).render(**model)


def render_pdf(html: str) -> bytes:
    """HTML → PDF with WeasyPrint, fetching nothing from outside (only ``data:`` URLs)."""
    try:
        from weasyprint import HTML
        from weasyprint.urls import URLFetcher
    except (ImportError, OSError) as error:  # Pango / HarfBuzz missing on this machine
        log.error("WeasyPrint indisponível: %s", error)
        raise PermanentError(
            "O gerador de PDF (WeasyPrint) não está disponível neste servidor: instale as bibliotecas do "
            "sistema libpango-1.0-0 e libpangoft2-1.0-0."
        ) from None
    fetcher = URLFetcher(allowed_protocols={"data"}, timeout=1)
    return HTML(string=html, base_url=str(TEMPLATES_DIR), url_fetcher=fetcher).write_pdf()


def render_document(kind: str, data: dict[str, Any], context: TaskContext) -> DocumentDraft:
    """Render ``kind`` for the case: HTML and PDF, with a new verification code and the PDF's SHA-256."""
    if kind not in KINDS:
        raise PermanentError(
            f"Tipo de documento desconhecido: “{kind}”. Tipos disponíveis: {', '.join(sorted(KINDS))}."
        )
    code = new_verification_code()
    model = build_model(kind, data, context, code)
    try:
        html = render_html(kind, model)
        pdf = render_pdf(html)
    except TaskError:
        raise
    except Exception as error:  # a template or layout bug: retrying will not fix it
        log.exception("falha ao gerar %s do caso %s", kind, context.case_id)
        raise PermanentError(
            f"Falha ao gerar o documento “{model['titulo']}” ({type(error).__name__}: {error})."
        ) from error
    return DocumentDraft(
        kind=kind,
        title=model["titulo"],
        html=html,
        pdf=pdf,
        verification_code=code,
        sha256=hashlib.sha256(pdf).hexdigest(),
    )


@register("gerar_documento")
def gerar_documento(payload: dict[str, Any], context: TaskContext) -> dict[str, Any]:
    """Render ``payload["documento_tipo"]``, store it through the engine, return ``{"documento_<tipo>": ref}``."""
    kind = _text(payload, "documento_tipo")
    if not kind:
        raise PermanentError(
            "Falta o tipo de documento (documento_tipo). Tipos disponíveis: " + ", ".join(sorted(KINDS)) + "."
        )
    draft = render_document(kind, payload, context)
    if context.save_document is None:
        raise PermanentError("O motor não forneceu onde guardar o documento gerado (save_document).")
    reference = context.save_document(draft)
    return {f"documento_{kind}": reference}
