"""Shared pieces of the analysts' editors (``/processos`` and ``/processos/formularios``): a per-blueprint
request-size limit with its Portuguese “too large” answer, and the JSON error replies
(``{"erro": ...}`` with a 4xx status) their scripts read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request
from werkzeug.exceptions import RequestEntityTooLarge

from engine.errors import ConflictError, EngineError, NotFound, PermissionDenied


def json_error(message: str, status: int, **extra: Any) -> tuple[Response, int]:
    """A JSON refusal: ``{"erro": message, **extra}`` with ``status``."""
    return jsonify({"erro": message, **extra}), status


def engine_error(error: EngineError, default_status: int) -> tuple[Response, int]:
    """An engine refusal as JSON: 404 not found, 403 not allowed, 409 conflict, else ``default_status``."""
    status = 404 if isinstance(error, NotFound) else 403 if isinstance(error, PermissionDenied) else \
        409 if isinstance(error, ConflictError) else default_status
    return json_error(str(error), status)


def limit_request_size(bp: Blueprint, max_bytes: int, message: str, title: str,
                       wants_json: Callable[[], bool]) -> None:
    """Refuse requests to ``bp`` larger than ``max_bytes`` with ``message`` (JSON or an error page).

    The limit is set in a URL value preprocessor, which runs before any ``before_request`` hook, so it
    holds before CSRFProtect reads the body (the app itself allows 25 MB for uploads).
    """

    def set_limit(_endpoint: str | None, _values: dict[str, Any] | None) -> None:
        request.max_content_length = max_bytes

    def too_large(_error: Any) -> Any:
        if wants_json():
            return json_error(message, 413)
        return render_template("erro.html", titulo=title, mensagem=message), 413

    bp.url_value_preprocessor(set_limit)
    bp.register_error_handler(RequestEntityTooLarge, too_large)
