"""``Idempotency-Key`` on the API's POSTs: a retried request gets the first answer and creates nothing.

The key is scoped to the caller (a hash of its ``Authorization`` header: the raw credential is never
stored) and bound to the request's content (method, path and body, hashed): the same key with other
content is refused (422), and a retry while the first request still runs is told to wait (409). The
replayed answer carries ``Idempotent-Replayed: true``. Keys are optional; without one nothing changes.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Flask, Response, g, request

from engine.store.idempotency import answer, claim
from webapp.api.problems import problem
from webapp.runtime_access import runtime

HEADER = "Idempotency-Key"
MAX_KEY = 128


def _applies() -> bool:
    return request.method == "POST" and request.path.startswith("/api/v1/") and HEADER in request.headers


def _owner() -> str:
    return hashlib.sha256(request.headers.get("Authorization", "").encode()).hexdigest()


def _fingerprint() -> str:
    digest = hashlib.sha256(f"{request.method} {request.path}?{request.query_string.decode()}\n".encode())
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def install(app: Flask) -> None:
    @app.before_request
    def replay_or_claim() -> Any:
        if not _applies():
            return None
        key = request.headers[HEADER].strip()
        if not key or len(key) > MAX_KEY or not key.isprintable():
            return problem(400, f"O cabeçalho {HEADER} deve ter de 1 a {MAX_KEY} caracteres visíveis.")
        with runtime().Session() as session:
            result = claim(session, _owner(), key, _fingerprint())
            stored = result.stored
            if result.outcome == "mismatch":
                return problem(422, f"Esta {HEADER} já foi usada com outro conteúdo. Use uma chave nova para um "
                                    "pedido novo.")
            if result.outcome == "running":
                return problem(409, f"O pedido com esta {HEADER} ainda está em andamento. Tente de novo em "
                                    "alguns segundos.", headers={"Retry-After": "5"})
            if result.outcome == "replay" and stored is not None:
                replayed = Response(stored.body or "", status=stored.status, content_type=stored.content_type)
                if stored.location:
                    replayed.headers["Location"] = stored.location
                replayed.headers["Idempotent-Replayed"] = "true"
                return replayed
        g.idempotency_key = key
        return None

    @app.after_request
    def keep_answer(response: Response) -> Response:
        key = g.pop("idempotency_key", None)
        if key is not None:
            with runtime().Session() as session:
                answer(session, _owner(), key, response.status_code, response.get_data(as_text=True),
                       response.content_type, response.headers.get("Location"))
        return response
