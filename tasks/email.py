"""``enviar_email``: send one electronic notification through SMTP.

Payload: ``email_para`` (an address, several separated by commas or semicolons, or a list),
``email_assunto``, ``email_corpo`` (plain text) and, optionally, ``email_anexo_documento`` — a
document reference (``{"documento_id": ...}``, as returned by ``gerar_documento``) or a list of
them, attached as PDF through ``context.load_document`` (a job with an attachment fails with a
clear incident when the engine does not provide that loader: a notice is never sent without the
document it announces).

Sending: ``smtplib`` with STARTTLS (``PROCON_SMTP_STARTTLS``) or implicit TLS (``PROCON_SMTP_SSL``)
and login when a user is configured. Each message gets a Message-ID (stable across retries when the
engine gives a ``job_id``), a Date from the engine's clock, ``Auto-Submitted: auto-generated`` and
the case protocol in ``X-Procon-Protocolo``.

Failures: connection refused, timeouts, dropped connections and SMTP 4xx replies (e.g. 451
greylisting) are retryable; 5xx replies (e.g. 550 no such mailbox, 535 bad login), TLS errors and a
missing configuration are permanent. Once the server accepted the message, a failure to say QUIT is
ignored, so a retry never sends the same notice twice for that reason.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

from tasks.context import TaskContext, TaskSettings
from tasks.errors import PermanentError, RetryableError, TaskError
from tasks.registry import register

log = logging.getLogger(__name__)

_ADDRESS_RE = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
_FIELDS = {
    "email_para": "destinatário (email_para)",
    "email_assunto": "assunto (email_assunto)",
    "email_corpo": "texto da mensagem (email_corpo)",
}


def _recipients(value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple) else re.split(r"[,;]", str(value))
    addresses = [str(item).strip() for item in items if str(item).strip()]
    invalid = [address for address in addresses if not _ADDRESS_RE.match(address)]
    if invalid:
        raise PermanentError(f"Endereço de e-mail inválido no destinatário (email_para): {', '.join(invalid)}.")
    return addresses


def _missing(payload: dict[str, Any]) -> list[str]:
    return [label for key, label in _FIELDS.items() if not payload.get(key) or not str(payload[key]).strip()]


def _references(value: Any) -> list[dict[str, Any]]:
    if not value:
        return []
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, dict) and item.get("documento_id") is not None for item in items):
        raise PermanentError("O anexo informado (email_anexo_documento) não é uma referência de documento válida.")
    return items


def _server(settings: TaskSettings) -> str:
    return f"{settings.smtp_host}:{settings.smtp_port}"


def _reply(error: smtplib.SMTPResponseException) -> str:
    text = error.smtp_error.decode("utf-8", "replace") if isinstance(error.smtp_error, bytes) else str(error.smtp_error)
    text = " ".join(text.split())
    return f"{error.smtp_code} {text}".strip() if error.smtp_code and error.smtp_code > 0 else text


def _classify(error: Exception, settings: TaskSettings) -> TaskError:
    """Turn an smtplib / socket failure into a retryable or permanent task error (pt-BR)."""
    server = _server(settings)
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        replies = error.recipients.items()
        described = "; ".join(
            f"{address} ({code} {(msg.decode('utf-8', 'replace') if isinstance(msg, bytes) else str(msg)).strip()})"
            for address, (code, msg) in replies
        )
        message = f"O servidor de e-mail recusou o(s) destinatário(s): {described}."
        if all(500 <= code < 600 for _address, (code, _msg) in replies):
            return PermanentError(message)
        return RetryableError(message)
    if isinstance(error, smtplib.SMTPAuthenticationError):
        message = f"O servidor de e-mail recusou o usuário e a senha configurados ({_reply(error)})."
        return PermanentError(message) if error.smtp_code >= 500 else RetryableError(message)
    if isinstance(error, smtplib.SMTPResponseException):
        if isinstance(error, smtplib.SMTPSenderRefused):
            what = "recusou o remetente"
        elif isinstance(error, smtplib.SMTPDataError):
            what = "recusou a mensagem"
        else:
            what = "respondeu com erro"
        message = f"O servidor de e-mail ({server}) {what}: {_reply(error)}."
        return PermanentError(message) if 500 <= error.smtp_code < 600 else RetryableError(message)
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return PermanentError(
            f"O servidor de e-mail ({server}) não oferece o recurso configurado (STARTTLS ou autenticação)."
        )
    if isinstance(error, smtplib.SMTPServerDisconnected) and isinstance(error.__context__, TimeoutError):
        error = error.__context__  # smtplib reports a reply that never came as a disconnection
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return RetryableError(f"O servidor de e-mail ({server}) encerrou a conexão inesperadamente.")
    if isinstance(error, ssl.SSLError | ssl.CertificateError):
        return PermanentError(
            f"Falha na conexão segura (TLS) com o servidor de e-mail ({server}): verifique o certificado e a "
            "configuração de STARTTLS/SSL."
        )
    if isinstance(error, TimeoutError):
        timeout = f"{settings.smtp_timeout_s:g}".replace(".", ",")
        return RetryableError(f"O servidor de e-mail ({server}) não respondeu em {timeout} s.")
    if isinstance(error, OSError):
        return RetryableError(f"Não foi possível conectar ao servidor de e-mail ({server}).")
    return RetryableError(f"Falha no envio de e-mail pelo servidor {server} ({type(error).__name__}).")


def build_message(payload: dict[str, Any], context: TaskContext,
                  attachments: list[tuple[str, bytes]] | None = None) -> tuple[EmailMessage, str, list[str]]:
    """The message, the envelope sender and the recipients; :class:`PermanentError` on bad data."""
    missing = _missing(payload)
    if missing:
        raise PermanentError(f"Faltam dados para enviar o e-mail: {', '.join(missing)}.")
    recipients = _recipients(payload["email_para"])
    if not recipients:
        raise PermanentError("Falta o destinatário do e-mail (email_para).")
    settings = context.settings
    sender = parseaddr(settings.mail_from)[1]
    if not _ADDRESS_RE.match(sender):
        raise PermanentError(f"O remetente configurado (PROCON_MAIL_FROM) é inválido: {settings.mail_from}.")
    domain = sender.rsplit("@", 1)[1]
    if context.job_id:
        safe_job = re.sub(r"[^A-Za-z0-9.-]", "-", context.job_id)
        message_id = f"<procon.{context.case_id}.{safe_job}@{domain}>"
    else:
        message_id = make_msgid(idstring=f"procon.{context.case_id}", domain=domain)

    message = EmailMessage(policy=SMTP_POLICY)
    message["From"] = settings.mail_from
    message["To"] = ", ".join(recipients)
    message["Subject"] = " ".join(str(payload["email_assunto"]).split())
    message["Date"] = format_datetime(context.now)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    if context.protocol:
        message["X-Procon-Protocolo"] = context.protocol
    body = str(payload["email_corpo"]).replace("\r\n", "\n").replace("\r", "\n")
    message.set_content(body, charset="utf-8")
    for filename, content in attachments or []:
        message.add_attachment(content, maintype="application", subtype="pdf", filename=filename)
    return message, sender, recipients


def _load_attachments(payload: dict[str, Any], context: TaskContext) -> list[tuple[str, bytes]]:
    references = _references(payload.get("email_anexo_documento"))
    if not references:
        return []
    if context.load_document is None:
        raise PermanentError(
            "O e-mail tem um documento anexo (email_anexo_documento), mas o motor não forneceu acesso aos "
            "documentos do caso; a mensagem não foi enviada."
        )
    files = []
    for reference in references:
        try:
            files.append(context.load_document(reference))
        except TaskError:
            raise
        except Exception as error:  # the engine's loader: say which document, keep the cause in the log
            log.exception("anexo %s do caso %s", reference.get("documento_id"), context.case_id)
            raise PermanentError(
                f"Não foi possível carregar o documento {reference.get('documento_id')} para anexar ao e-mail "
                f"({type(error).__name__})."
            ) from error
    return files


def send_message(message: EmailMessage, sender: str, recipients: list[str], settings: TaskSettings) -> dict[str, Any]:
    """Deliver ``message`` to the configured SMTP server; returns the refused recipients, if some were."""
    if not settings.smtp_host:
        raise PermanentError("O envio de e-mail não está configurado (defina PROCON_SMTP_HOST).")
    accepted = False
    smtp: smtplib.SMTP | None = None
    try:
        if settings.smtp_ssl:
            smtp = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_s,
                                    context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_s)
        smtp.ehlo()
        if settings.smtp_starttls and not settings.smtp_ssl:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        refused = smtp.send_message(message, from_addr=sender, to_addrs=recipients)
        accepted = True
    except Exception as error:
        if isinstance(error, TaskError):
            raise
        raise _classify(error, settings) from None
    finally:
        if smtp is not None:
            if accepted:  # the message is delivered: a failing QUIT must not turn into a retry
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    smtp.close()
            else:
                smtp.close()
    return {address: code for address, (code, _msg) in refused.items()}


@register("enviar_email")
def enviar_email(payload: dict[str, Any], context: TaskContext) -> dict[str, Any]:
    """Send ``email_assunto`` / ``email_corpo`` to ``email_para``; returns when and with which Message-ID."""
    if not context.settings.smtp_host:
        raise PermanentError("O envio de e-mail não está configurado (defina PROCON_SMTP_HOST).")
    attachments = _load_attachments(payload, context)
    message, sender, recipients = build_message(payload, context, attachments)
    refused = send_message(message, sender, recipients, context.settings)
    log.info("e-mail %s do caso %s entregue ao servidor", message["Message-ID"], context.case_id)
    result: dict[str, Any] = {
        "email_enviado_em": context.now.isoformat(timespec="seconds"),
        "email_message_id": str(message["Message-ID"]),
    }
    if refused:
        result["email_recusados"] = sorted(refused)
    return result
