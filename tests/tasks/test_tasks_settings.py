"""TaskSettings from the environment, and the task errors' messages."""

from __future__ import annotations

import pytest

from tasks.context import TaskSettings
from tasks.errors import PermanentError, RetryableError, TaskError


def test_defaults_when_nothing_is_configured() -> None:
    settings = TaskSettings.from_env({})

    assert settings == TaskSettings()
    assert settings.cnpj_api_url == "" and settings.smtp_host == "" and settings.divida_ativa_url == ""
    assert settings.smtp_port == 25
    assert settings.smtp_starttls is False
    assert settings.mail_from == "nao-responda@procon.example"
    assert settings.http_timeout_s == 5.0
    assert settings.public_base_url == "http://127.0.0.1:5000"


def test_reads_every_variable_and_hides_secrets() -> None:
    settings = TaskSettings.from_env({
        "PROCON_CNPJ_API_URL": "https://cnpj.example/v1/{cnpj}",
        "PROCON_SMTP_HOST": "smtp.example", "PROCON_SMTP_PORT": "587", "PROCON_SMTP_USER": "procon",
        "PROCON_SMTP_PASSWORD": "senha-smtp", "PROCON_SMTP_STARTTLS": "sim", "PROCON_MAIL_FROM": "avisos@procon.sp",
        "PROCON_DIVIDA_ATIVA_URL": "https://divida.example/inscricoes", "PROCON_DIVIDA_ATIVA_TOKEN": "token-secreto",
        "PROCON_HTTP_TIMEOUT_S": "2,5", "PROCON_PUBLIC_URL": "https://procon.example/",
        "PROCON_ORGAO_NOME": "Procon-SP",
    })

    assert settings.cnpj_api_url == "https://cnpj.example/v1/{cnpj}"
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_user) == ("smtp.example", 587, "procon")
    assert settings.smtp_password == "senha-smtp" and settings.smtp_starttls is True
    assert settings.mail_from == "avisos@procon.sp"
    assert settings.divida_ativa_token == "token-secreto"
    assert settings.http_timeout_s == 2.5
    assert settings.public_base_url == "https://procon.example"
    assert settings.agency_name == "Procon-SP"
    assert "senha-smtp" not in repr(settings) and "token-secreto" not in repr(settings)


@pytest.mark.parametrize(("name", "value"), [("PROCON_SMTP_PORT", "vinte e cinco"), ("PROCON_HTTP_TIMEOUT_S", "0"),
                                             ("PROCON_SMTP_STARTTLS", "talvez")])
def test_malformed_values_are_reported_in_portuguese(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"Valor inválido em {name}"):
        TaskSettings.from_env({name: value})


def test_errors_carry_their_message() -> None:
    error = RetryableError("O serviço de CNPJ não respondeu em 5 s.", retry_after_s=10)
    assert isinstance(error, TaskError) and str(error) == "O serviço de CNPJ não respondeu em 5 s."
    assert error.retry_after_s == 10
    assert issubclass(PermanentError, TaskError) and not issubclass(PermanentError, RetryableError)
