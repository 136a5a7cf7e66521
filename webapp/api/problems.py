"""Errors of the JSON API as ``application/problem+json`` (RFC 9457), in Portuguese.

Every error under ``/api/`` — ours (:class:`ApiProblem`), the engine's (:class:`engine.errors.EngineError`),
webargs' validation of query strings, and Flask's own HTTP errors (unknown route, wrong method, body too
large, unhandled exception) — leaves as a problem document::

    {"type": "about:blank", "title": "Recurso não encontrado", "status": 404,
     "detail": "Caso não encontrado.", "instance": "/api/v1/cases/9"}

with ``errors`` (field -> message) and ``values`` (what was sent, kept for the person to fix) on 422.

The rest of the application keeps its HTML error pages: :func:`install` wraps the handlers the app
already has so that they answer as before outside ``/api/``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException, InternalServerError

from engine.errors import (
    ConflictError,
    EngineError,
    InvalidSubmission,
    NotFound,
    PermissionDenied,
    ProcedureError,
)
from engine.parties.accounts import AccountError

PROBLEM_JSON = "application/problem+json"
API_PREFIX = "/api/"

#: Status -> (title, default detail) in Portuguese.
TITLES: dict[int, tuple[str, str]] = {
    400: ("Requisição inválida", "A requisição não pôde ser entendida. Confira o corpo e os parâmetros enviados."),
    401: ("Autenticação necessária",
          "Envie um token válido no cabeçalho Authorization: Bearer <token>."),
    403: ("Acesso negado", "Seu token não permite esta operação."),
    404: ("Recurso não encontrado", "O endereço não existe ou o item não está visível para você."),
    405: ("Método não permitido", "Este endereço não aceita este método HTTP."),
    406: ("Formato não disponível", "Esta resposta só é produzida em JSON."),
    409: ("Conflito", "Outra pessoa alterou este item antes de você. Nada do que você enviou foi gravado."),
    413: ("Conteúdo grande demais", "O corpo da requisição passou do limite aceito."),
    415: ("Tipo de conteúdo não suportado", "Envie o corpo como application/json."),
    422: ("Dados inválidos", "Há campos com erro. Corrija-os e envie novamente."),
    429: ("Requisições demais", "Aguarde um pouco e tente novamente."),
    500: ("Erro interno", "Ocorreu um erro inesperado no servidor. Nada do que você enviou foi gravado."),
}


class ApiProblem(Exception):
    """Raised by API code: becomes a problem response with ``status`` and a Portuguese ``detail``."""

    def __init__(self, status: int, detail: str | None = None, *, errors: Mapping[str, str] | None = None,
                 values: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
                 title: str | None = None) -> None:
        super().__init__(detail or TITLES.get(status, ("", ""))[1])
        self.status = status
        self.detail = detail
        self.errors = dict(errors) if errors else None
        self.values = dict(values) if values is not None else None
        self.headers = dict(headers or {})
        self.title = title


def problem(status: int, detail: str | None = None, *, errors: Mapping[str, Any] | None = None,
            values: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
            title: str | None = None) -> Response:
    """A problem+json response."""
    default_title, default_detail = TITLES.get(status, ("Erro", "A requisição não pôde ser atendida."))
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or default_title,
        "status": status,
        "detail": detail or default_detail,
        "instance": request.path if request else None,
    }
    if errors:
        body["errors"] = {str(k): _message(v) for k, v in errors.items()}
    if values is not None:
        body["values"] = dict(values)
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_JSON)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _message(value: Any) -> str:
    """webargs gives lists (or nested dicts) of messages per field; one string per field here."""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return " ".join(_message(v) for v in value)
    if isinstance(value, dict):
        return " ".join(f"{k}: {_message(v)}" for k, v in value.items())
    return str(value)


def from_problem(error: ApiProblem) -> Response:
    return problem(error.status, error.detail, errors=error.errors, values=error.values, headers=error.headers,
                   title=error.title)


def from_engine(error: EngineError) -> Response:
    """Engine errors: their message is already written for the person (pt-BR)."""
    if isinstance(error, InvalidSubmission):
        return problem(422, str(error), errors=error.result.errors, values=error.result.raw)
    if isinstance(error, AccountError):
        return problem(422, str(error), errors=error.errors)
    if isinstance(error, NotFound):
        return problem(404, str(error))
    if isinstance(error, PermissionDenied):
        return problem(403, str(error))
    if isinstance(error, ConflictError):
        return problem(409, str(error))
    if isinstance(error, ProcedureError):
        return problem(500, str(error))
    return problem(400, str(error))


def from_http(error: HTTPException) -> Response:
    """Flask's / Werkzeug's HTTP errors, and webargs' validation errors (``error.data['messages']``)."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    if status == 422 and "messages" in data:
        messages = data["messages"]
        # webargs nests the messages by location: {"query": {"page": ["..."]}}
        flat: dict[str, Any] = {}
        for location in messages.values() if isinstance(messages, dict) else []:
            flat.update(location if isinstance(location, dict) else {"_": location})
        return problem(422, "Há parâmetros com erro. Corrija-os e envie novamente.", errors=flat)
    headers = {}
    if status == 405 and isinstance(error, HTTPException):
        allow = error.get_headers()
        headers = {k: v for k, v in allow if k.lower() == "allow"}
    detail = None
    if isinstance(error, InternalServerError):
        detail = None  # never leak the exception's text
    return problem(status, detail, headers=headers)


def is_api_request() -> bool:
    return request.path.startswith(API_PREFIX)


def install(app: Flask) -> None:
    """Answer problem+json for every error under ``/api/``; other paths keep the app's own handlers.

    Flask looks a handler up by status code first, then by exception class: the code-specific HTML
    handlers already registered (404, 403, 413, CSRF) are wrapped so that they defer to us for
    ``/api/`` paths, and a class handler for ``HTTPException`` covers the other codes.
    """
    handlers = app.error_handler_spec.setdefault(None, {})
    for code, by_class in list(handlers.items()):
        if code is None:
            continue
        for exc_class, handler in list(by_class.items()):
            by_class[exc_class] = _api_first(handler)

    previous_http = handlers.get(None, {}).get(HTTPException)

    def http_error(error: HTTPException) -> Any:
        if is_api_request():
            return from_http(error)
        if previous_http is not None:
            return previous_http(error)
        return error

    app.register_error_handler(HTTPException, http_error)

    previous_500 = handlers.get(500, {}).get(InternalServerError)

    def server_error(error: InternalServerError) -> Any:
        if is_api_request():
            app.logger.exception("Erro interno na API: %s", request.path)
            return problem(500)
        if previous_500 is not None:
            return previous_500(error)
        return error

    app.register_error_handler(InternalServerError, server_error)


def _api_first(handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def wrapped(error: Any) -> Any:
        if is_api_request() and isinstance(error, HTTPException):
            return from_http(error)
        return handler(error)

    wrapped.__wrapped__ = handler  # type: ignore[attr-defined]
    return wrapped
