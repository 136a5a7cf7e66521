"""The HTTP handlers (CNPJ lookup, dívida ativa) against a real local HTTP server (pytest-httpserver)."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from engine import clock
from tasks.cnpj import consultar_cnpj, format_address
from tasks.context import TaskContext, TaskSettings
from tasks.divida_ativa import inscrever_divida_ativa
from tasks.errors import PermanentError, RetryableError
from tasks.http import request_json, safe_url

ALPHA_CNPJ = "12.abc.345/01de-35"
ALPHA_CNPJ_CHARS = "12ABC34501DE35"
TOKEN = "s3cr3t-token-do-estado"
PROTOCOL = "CAP-2026-000123"

CNPJ_ANSWER = {
    "cnpj": ALPHA_CNPJ_CHARS,
    "razao_social": "LOJA EXEMPLO COMERCIO LTDA",
    "nome_fantasia": "LOJA EXEMPLO",
    "logradouro": "RUA DAS FLORES",
    "numero": "123",
    "complemento": "SALA 4",
    "bairro": "CENTRO",
    "municipio": "SAO PAULO",
    "uf": "SP",
    "cep": "01001000",
    "email": "SAC@LOJAEXEMPLO.COM.BR",
    "ddd_telefone_1": "1133334444",
    "descricao_situacao_cadastral": "ATIVA",
}

FINE = {
    "fornecedor_cnpj": ALPHA_CNPJ,
    "fornecedor_nome": "Loja Exemplo Comércio Ltda",
    "multa_valor": "15000.5",
    "data_decisao": "2026-03-02",
    "data_vencimento": "2026-04-01T23:59:59-03:00",
}


def make_context(**settings: object) -> TaskContext:
    return TaskContext(settings=TaskSettings(**settings), case_id=7, protocol=PROTOCOL, unit="CAP",  # type: ignore[arg-type]
                       now=clock.now())


def slow(seconds: float, body: dict) -> object:
    def handler(request: Request) -> Response:
        time.sleep(seconds)
        return Response(json.dumps(body), status=200, content_type="application/json")

    return handler


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- CNPJ


def test_cnpj_lookup_returns_supplier_fields(httpserver: HTTPServer, frozen_clock: clock.FrozenClock) -> None:
    httpserver.expect_request(f"/api/cnpj/v1/{ALPHA_CNPJ_CHARS}", method="GET").respond_with_json(CNPJ_ANSWER)
    context = make_context(cnpj_api_url=httpserver.url_for("/api/cnpj/v1/{cnpj}"))

    result = consultar_cnpj({"fornecedor_cnpj": ALPHA_CNPJ}, context)

    httpserver.check_assertions()
    assert result == {
        "fornecedor_nome": "LOJA EXEMPLO COMERCIO LTDA",
        "fornecedor_nome_fantasia": "LOJA EXEMPLO",
        "fornecedor_endereco": "RUA DAS FLORES, 123, SALA 4 – CENTRO – SAO PAULO/SP – CEP 01001-000",
        "fornecedor_municipio": "SAO PAULO",
        "fornecedor_uf": "SP",
        "fornecedor_email": "sac@lojaexemplo.com.br",
        "fornecedor_telefone": "(11) 3333-4444",
        "fornecedor_situacao": "ATIVA",
        "cnpj_consultado_em": "2026-03-02T13:00:00+00:00",
    }


def test_cnpj_lookup_accepts_missing_fields(httpserver: HTTPServer, frozen_clock: clock.FrozenClock) -> None:
    httpserver.expect_request("/cnpj/11222333000181").respond_with_json(
        {"razao_social": "EMPRESA SEM DETALHES", "municipio": "CAMPINAS", "email": None})
    context = make_context(cnpj_api_url=httpserver.url_for("/cnpj/{cnpj}"))

    result = consultar_cnpj({"fornecedor_cnpj": "11.222.333/0001-81"}, context)

    assert result["fornecedor_nome"] == "EMPRESA SEM DETALHES"
    assert result["fornecedor_endereco"] == "CAMPINAS"
    assert result["fornecedor_nome_fantasia"] == ""
    assert "fornecedor_email" not in result


def test_cnpj_address_line_is_readable() -> None:
    assert format_address({"descricao_tipo_de_logradouro": "AVENIDA", "logradouro": "PAULISTA", "numero": "1000",
                           "municipio": "SAO PAULO", "uf": "SP"}) == "AVENIDA PAULISTA, 1000 – SAO PAULO/SP"


def test_cnpj_not_found_is_permanent(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/cnpj/{ALPHA_CNPJ_CHARS}").respond_with_json({"message": "não encontrado"}, status=404)
    context = make_context(cnpj_api_url=httpserver.url_for("/cnpj/{cnpj}"))

    with pytest.raises(PermanentError, match="CNPJ 12.ABC.345/01DE-35 não encontrado na base consultada"):
        consultar_cnpj({"fornecedor_cnpj": ALPHA_CNPJ}, context)


def test_cnpj_server_error_is_retryable(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/cnpj/{ALPHA_CNPJ_CHARS}").respond_with_data("erro", status=503)
    context = make_context(cnpj_api_url=httpserver.url_for("/cnpj/{cnpj}"))

    with pytest.raises(RetryableError, match=r"O serviço de CNPJ respondeu com erro \(HTTP 503\)"):
        consultar_cnpj({"fornecedor_cnpj": ALPHA_CNPJ}, context)


def test_cnpj_rate_limit_is_retryable_with_retry_after(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/cnpj/{ALPHA_CNPJ_CHARS}").respond_with_data(
        "", status=429, headers={"Retry-After": "30"})
    context = make_context(cnpj_api_url=httpserver.url_for("/cnpj/{cnpj}"))

    with pytest.raises(RetryableError) as caught:
        consultar_cnpj({"fornecedor_cnpj": ALPHA_CNPJ}, context)
    assert caught.value.retry_after_s == 30
    assert "excesso de requisições" in str(caught.value)


def test_cnpj_timeout_is_retryable(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/cnpj/{ALPHA_CNPJ_CHARS}").respond_with_handler(slow(1.0, CNPJ_ANSWER))
    context = make_context(cnpj_api_url=httpserver.url_for("/cnpj/{cnpj}"), http_timeout_s=0.3)

    started = time.monotonic()
    with pytest.raises(RetryableError, match=r"^O serviço de CNPJ não respondeu em 0,3 s\.$"):
        consultar_cnpj({"fornecedor_cnpj": ALPHA_CNPJ}, context)
    assert time.monotonic() - started < 0.9


def test_cnpj_connection_refused_is_retryable() -> None:
    context = make_context(cnpj_api_url=f"http://127.0.0.1:{free_port()}/cnpj/{{cnpj}}?chave=segredo")

    with pytest.raises(RetryableError, match="Não foi possível conectar ao serviço de CNPJ") as caught:
        consultar_cnpj({"fornecedor_cnpj": ALPHA_CNPJ}, context)
    assert "segredo" not in str(caught.value)


def test_cnpj_invalid_is_permanent_without_any_request(httpserver: HTTPServer) -> None:
    context = make_context(cnpj_api_url=httpserver.url_for("/cnpj/{cnpj}"))

    with pytest.raises(PermanentError, match=r"O CNPJ do fornecedor informado \(12.ABC.345/01DE-36\) é inválido"):
        consultar_cnpj({"fornecedor_cnpj": "12.ABC.345/01DE-36"}, context)
    with pytest.raises(PermanentError, match="não foi informado"):
        consultar_cnpj({}, context)
    assert httpserver.log == []


def test_cnpj_not_configured_is_permanent() -> None:
    with pytest.raises(PermanentError, match="PROCON_CNPJ_API_URL"):
        consultar_cnpj({"fornecedor_cnpj": ALPHA_CNPJ}, make_context())
    with pytest.raises(PermanentError, match="marcador"):
        consultar_cnpj({"fornecedor_cnpj": ALPHA_CNPJ}, make_context(cnpj_api_url="http://127.0.0.1:1/cnpj"))


def test_cnpj_non_json_answer_is_permanent(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/cnpj/{ALPHA_CNPJ_CHARS}").respond_with_data("<html>portal</html>")
    context = make_context(cnpj_api_url=httpserver.url_for("/cnpj/{cnpj}"))

    with pytest.raises(PermanentError, match="não é o JSON esperado"):
        consultar_cnpj({"fornecedor_cnpj": ALPHA_CNPJ}, context)


# --------------------------------------------------------------------------- dívida ativa


def expected_body() -> dict[str, str]:
    return {
        "protocolo": PROTOCOL,
        "cnpj": ALPHA_CNPJ_CHARS,
        "nome": "Loja Exemplo Comércio Ltda",
        "valor": "15000.50",
        "data_decisao": "2026-03-02",
        "data_vencimento": "2026-04-01",
        "origem": "Procon",
    }


def test_divida_ativa_registers_with_token_and_idempotency_key(
        httpserver: HTTPServer, frozen_clock: clock.FrozenClock) -> None:
    httpserver.expect_request(
        "/inscricoes", method="POST", json=expected_body(),
        headers={"Idempotency-Key": f"procon-{PROTOCOL}", "Authorization": f"Bearer {TOKEN}"},
    ).respond_with_json({"numero_inscricao": "DA-2026-998877"}, status=201)
    context = make_context(divida_ativa_url=httpserver.url_for("/inscricoes"), divida_ativa_token=TOKEN)

    result = inscrever_divida_ativa(dict(FINE), context)

    httpserver.check_assertions()
    assert result == {"divida_ativa_numero": "DA-2026-998877", "divida_ativa_inscrita_em": "2026-03-02T13:00:00+00:00"}


def test_divida_ativa_retry_after_timeout_sends_the_same_key(httpserver: HTTPServer) -> None:
    keys: list[str] = []
    first_done = threading.Event()

    def first_slow_then_conflict(request: Request) -> Response:
        keys.append(request.headers["Idempotency-Key"])
        if len(keys) == 1:  # the registry records it, but answers too late
            time.sleep(1.0)
            first_done.set()
            return Response(json.dumps({"numero_inscricao": "DA-1"}), status=201, content_type="application/json")
        return Response(json.dumps({"erro": "já inscrita", "numero_inscricao": "DA-1"}), status=409,
                        content_type="application/json")

    httpserver.expect_request("/inscricoes", method="POST").respond_with_handler(first_slow_then_conflict)
    context = make_context(divida_ativa_url=httpserver.url_for("/inscricoes"), http_timeout_s=0.3)

    with pytest.raises(RetryableError, match=r"O serviço de dívida ativa não respondeu em 0,3 s\."):
        inscrever_divida_ativa(dict(FINE), context)
    assert first_done.wait(5)  # the engine retries later, with backoff
    result = inscrever_divida_ativa(dict(FINE), context)

    assert result["divida_ativa_numero"] == "DA-1"
    assert keys == [f"procon-{PROTOCOL}", f"procon-{PROTOCOL}"]


def test_divida_ativa_conflict_without_number_is_permanent(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/inscricoes", method="POST").respond_with_json({"erro": "duplicada"}, status=409)
    context = make_context(divida_ativa_url=httpserver.url_for("/inscricoes"))

    with pytest.raises(PermanentError, match="já está inscrita, mas não devolveu o número"):
        inscrever_divida_ativa(dict(FINE), context)


def test_divida_ativa_rejected_credentials_do_not_leak_the_token(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/inscricoes", method="POST").respond_with_json({"message": "token expirado"}, status=401)
    context = make_context(divida_ativa_url=httpserver.url_for("/inscricoes"), divida_ativa_token=TOKEN)

    with pytest.raises(PermanentError, match=r"recusou as credenciais \(HTTP 401\): token expirado") as caught:
        inscrever_divida_ativa(dict(FINE), context)
    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(context)


def test_divida_ativa_bad_request_is_permanent_and_5xx_retryable(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/inscricoes", method="POST").respond_with_json(
        {"detail": "CNPJ não cadastrado no estado"}, status=422)
    httpserver.expect_oneshot_request("/inscricoes", method="POST").respond_with_data("falha", status=502)
    context = make_context(divida_ativa_url=httpserver.url_for("/inscricoes"))

    with pytest.raises(PermanentError, match=r"recusou a requisição \(HTTP 422\): CNPJ não cadastrado no estado"):
        inscrever_divida_ativa(dict(FINE), context)
    with pytest.raises(RetryableError, match=r"HTTP 502"):
        inscrever_divida_ativa(dict(FINE), context)


def test_divida_ativa_missing_data_names_the_fields(httpserver: HTTPServer) -> None:
    context = make_context(divida_ativa_url=httpserver.url_for("/inscricoes"))
    payload = {"fornecedor_cnpj": ALPHA_CNPJ, "fornecedor_nome": "Loja"}

    with pytest.raises(PermanentError) as caught:
        inscrever_divida_ativa(payload, context)
    message = str(caught.value)
    assert "valor da multa (multa_valor)" in message
    assert "data da decisão (data_decisao)" in message
    assert "data de vencimento (data_vencimento)" in message
    with pytest.raises(PermanentError, match="multa_valor"):
        inscrever_divida_ativa(dict(FINE, multa_valor="quinze mil"), context)
    with pytest.raises(PermanentError, match="data_vencimento"):
        inscrever_divida_ativa(dict(FINE, data_vencimento="31/02/2026"), context)
    assert httpserver.log == []


def test_divida_ativa_accepts_brazilian_money_and_dates(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/inscricoes", method="POST", json=expected_body()).respond_with_json(
        {"numero_inscricao": 42})
    context = make_context(divida_ativa_url=httpserver.url_for("/inscricoes"))

    result = inscrever_divida_ativa(
        dict(FINE, multa_valor="R$ 15.000,50", data_decisao="02/03/2026", data_vencimento=dt.date(2026, 4, 1)), context)

    assert result["divida_ativa_numero"] == "42"


def test_divida_ativa_not_configured_is_permanent() -> None:
    with pytest.raises(PermanentError, match="PROCON_DIVIDA_ATIVA_URL"):
        inscrever_divida_ativa(dict(FINE), make_context())


# --------------------------------------------------------------------------- the HTTP helper


def test_safe_url_drops_credentials_and_query() -> None:
    assert safe_url("https://user:senha@api.example:8443/v1/x?token=abc#frag") == "https://api.example:8443/v1/x"


def test_redirect_on_post_is_not_followed(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/old", method="POST").respond_with_data(
        "", status=307, headers={"Location": httpserver.url_for("/new")})

    with pytest.raises(PermanentError, match="redirecionamento inesperado"):
        request_json("teste", "POST", httpserver.url_for("/old"), timeout_s=1, json_body={})
    assert [entry[0].path for entry in httpserver.log] == ["/old"]


def test_no_automatic_retries(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/x").respond_with_data("", status=500)

    with pytest.raises(RetryableError):
        request_json("teste", "GET", httpserver.url_for("/x"), timeout_s=1)
    assert len(httpserver.log) == 1
