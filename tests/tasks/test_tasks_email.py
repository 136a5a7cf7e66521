"""``enviar_email`` against a real local SMTP server (aiosmtpd on 127.0.0.1, a free port)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from engine import clock
from tasks.context import TaskContext, TaskSettings
from tasks.email import enviar_email
from tasks.errors import PermanentError, RetryableError
from tests.support.smtp_support import Sink, free_port, start

PROTOCOL = "CAP-2026-000123"
PAYLOAD = {
    "email_para": "sac@fornecedor.example",
    "email_assunto": "Notificação — reclamação\nnº CAP-2026-000123",
    "email_corpo": "Prezado fornecedor,\n\nRecebemos a reclamação de João Ninguém sobre a ação nº 12.\n"
                   "Atenção: prazo de 10 dias.",
}


@pytest.fixture
def sink() -> Iterator[tuple[Sink, Controller]]:
    handler = Sink()
    controller = start(handler)
    yield handler, controller
    controller.stop()


def make_context(port: int, **settings: Any) -> TaskContext:
    values = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_timeout_s": 2.0,
              "mail_from": "Procon Capital <nao-responda@procon.example>", **settings}
    return TaskContext(settings=TaskSettings(**values), case_id=7, protocol=PROTOCOL, unit="CAP", now=clock.now())


def test_message_arrives_with_headers_and_utf8_body(sink: tuple[Sink, Controller],
                                                    frozen_clock: clock.FrozenClock) -> None:
    handler, controller = sink

    result = enviar_email(dict(PAYLOAD), make_context(controller.port))

    assert len(handler.envelopes) == 1
    envelope = handler.envelopes[0]
    assert envelope.mail_from == "nao-responda@procon.example"
    assert envelope.rcpt_tos == ["sac@fornecedor.example"]
    message = handler.message()
    assert message["From"] == "Procon Capital <nao-responda@procon.example>"
    assert message["To"] == "sac@fornecedor.example"
    assert message["Subject"] == "Notificação — reclamação nº CAP-2026-000123"
    assert message["Message-ID"] == result["email_message_id"]
    assert result["email_message_id"].startswith("<") and result["email_message_id"].endswith("@procon.example>")
    assert message["Date"] == "Mon, 02 Mar 2026 13:00:00 +0000"
    assert message["X-Procon-Protocolo"] == PROTOCOL
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert message.get_content().replace("\r\n", "\n").rstrip("\n") == PAYLOAD["email_corpo"]
    assert result["email_enviado_em"] == "2026-03-02T13:00:00+00:00"


def test_several_recipients_and_stable_message_id_with_job_id(sink: tuple[Sink, Controller]) -> None:
    handler, controller = sink
    context = make_context(controller.port)
    context.job_id = "job-55"

    first = enviar_email(dict(PAYLOAD, email_para="a@x.example; b@y.example"), context)
    second = enviar_email(dict(PAYLOAD, email_para=["a@x.example", "b@y.example"]), context)

    assert handler.envelopes[0].rcpt_tos == ["a@x.example", "b@y.example"]
    assert first["email_message_id"] == second["email_message_id"] == "<procon.7.job-55@procon.example>"


def test_attachment_is_loaded_through_the_engine(sink: tuple[Sink, Controller]) -> None:
    handler, controller = sink
    context = make_context(controller.port)
    asked: list[dict] = []

    def load(reference: dict) -> tuple[str, bytes]:
        asked.append(reference)
        return "notificacao-CAP-2026-000123.pdf", b"%PDF-1.7 conteudo"

    context.load_document = load
    enviar_email(dict(PAYLOAD, email_anexo_documento={"documento_id": 3, "codigo": "K7Q4-M2XP-9TDA"}), context)

    assert asked == [{"documento_id": 3, "codigo": "K7Q4-M2XP-9TDA"}]
    attachments = list(handler.message().iter_attachments())
    assert [part.get_filename() for part in attachments] == ["notificacao-CAP-2026-000123.pdf"]
    assert attachments[0].get_content_type() == "application/pdf"
    assert attachments[0].get_content() == b"%PDF-1.7 conteudo"


def test_attachment_without_loader_is_permanent_and_sends_nothing(sink: tuple[Sink, Controller]) -> None:
    handler, controller = sink

    with pytest.raises(PermanentError, match="não foi enviada"):
        enviar_email(dict(PAYLOAD, email_anexo_documento={"documento_id": 3}), make_context(controller.port))
    assert handler.envelopes == []


def test_login_with_configured_credentials() -> None:
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        logins.append((auth_data.login, auth_data.password))
        ok = auth_data.password == b"senha-certa"
        return AuthResult(success=ok, handled=ok)  # handled=False: the server answers 535 itself

    handler = Sink()
    controller = start(handler, authenticator=authenticator, auth_require_tls=False)
    try:
        enviar_email(dict(PAYLOAD), make_context(controller.port, smtp_user="procon", smtp_password="senha-certa"))
        assert len(handler.envelopes) == 1

        with pytest.raises(PermanentError, match="recusou o usuário e a senha configurados") as caught:
            enviar_email(dict(PAYLOAD), make_context(controller.port, smtp_user="procon", smtp_password="errada"))
        assert "errada" not in str(caught.value)
    finally:
        controller.stop()
    assert logins[0] == (b"procon", b"senha-certa")


@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_temporary_refusal_451_is_retryable(stage: str) -> None:
    reply = "451 4.7.1 Greylisted, tente novamente mais tarde"
    handler = Sink(rcpt_reply=reply) if stage == "rcpt" else Sink(data_reply=reply)
    controller = start(handler)
    try:
        with pytest.raises(RetryableError, match="451"):
            enviar_email(dict(PAYLOAD), make_context(controller.port))
    finally:
        controller.stop()
    assert handler.envelopes == []


@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_permanent_refusal_550_is_permanent(stage: str) -> None:
    reply = "550 5.1.1 Mailbox unavailable"
    handler = Sink(rcpt_reply=reply) if stage == "rcpt" else Sink(data_reply=reply)
    controller = start(handler)
    try:
        with pytest.raises(PermanentError, match="550 5.1.1 Mailbox unavailable"):
            enviar_email(dict(PAYLOAD), make_context(controller.port))
    finally:
        controller.stop()


def test_recipient_refused_names_the_address() -> None:
    controller = start(Sink(rcpt_reply="550 5.1.1 Mailbox unavailable"))
    try:
        with pytest.raises(PermanentError, match=r"recusou o\(s\) destinatário\(s\): sac@fornecedor.example \(550"):
            enviar_email(dict(PAYLOAD), make_context(controller.port))
    finally:
        controller.stop()


def test_nothing_listening_is_retryable() -> None:
    port = free_port()

    with pytest.raises(RetryableError, match=f"Não foi possível conectar ao servidor de e-mail \\(127.0.0.1:{port}\\)"):
        enviar_email(dict(PAYLOAD), make_context(port))


def test_server_that_never_greets_times_out_as_retryable() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]

        with pytest.raises(RetryableError, match=r"não respondeu em 0,3 s"):
            enviar_email(dict(PAYLOAD), make_context(port, smtp_timeout_s=0.3))


def test_not_configured_and_bad_data_are_permanent(sink: tuple[Sink, Controller]) -> None:
    handler, controller = sink
    with pytest.raises(PermanentError, match="PROCON_SMTP_HOST"):
        enviar_email(dict(PAYLOAD), make_context(controller.port, smtp_host=""))
    with pytest.raises(PermanentError, match=r"assunto \(email_assunto\), texto da mensagem \(email_corpo\)"):
        enviar_email({"email_para": "a@x.example"}, make_context(controller.port))
    with pytest.raises(PermanentError, match="Endereço de e-mail inválido"):
        enviar_email(dict(PAYLOAD, email_para="sem-arroba"), make_context(controller.port))
    assert handler.envelopes == []
