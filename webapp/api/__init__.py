"""The JSON API at ``/api/v1``: everything the portal and the staff inbox do, for a mobile app.

- **Auth**: personal Bearer tokens (:mod:`webapp.api.auth`), per user or portal account, scoped
  (``casos:ler``, ``tarefas:escrever``, ``reclamacoes:criar``) and revocable; the first token of a
  person comes from ``POST /tokens`` with HTTP Basic (login and password). No cookies, so the API is
  exempt from CSRF.
- **Who sees what**: staff as in the staff pages (every case; tasks by role), a party only its own cases
  and the tasks of its role in them (:mod:`engine.parties.case_parties`); anything else is a 404.
- **Shape**: lists are paginated (``page``, ``per_page`` ≤ 100, ``total``, ``links``), dates are ISO 8601
  with offset, errors are ``application/problem+json`` (:mod:`webapp.api.problems`) in Portuguese.
- **Files**: form fields of type ``file`` are sent in the JSON body as ``{nome, tipo, conteudo_base64}``
  and checked by the same rules as the web forms (type, size).

The OpenAPI 3.1 document (``/api/v1/openapi.json``) is produced from the code by **flask-smorest**
(apispec + marshmallow): it is the most used and actively maintained Flask extension of that kind, it
works on a plain Flask app with ordinary blueprints (APIFlask and flask-openapi3 want their own app
class), its marshmallow schemas both serialize the responses and describe them, and apispec writes
OpenAPI 3.1 (``nullable`` as ``type: [..., "null"]``). flask-smorest's app-wide JSON error handler is
switched off: :mod:`webapp.api.problems` answers errors under ``/api/`` only, and the HTML pages keep theirs.
"""

from __future__ import annotations

from typing import Any

from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from flask_wtf.csrf import CSRFProtect

from engine.errors import EngineError
from webapp.api import cases, complaints, documents, idempotency, me, public, tasks, tokens
from webapp.api.problems import PROBLEM_JSON, ApiProblem, from_engine, from_problem, install
from webapp.api.schemas import ProblemSchema

BLUEPRINTS = [me.bp, cases.bp, tasks.bp, complaints.bp, documents.bp, tokens.bp, public.bp]

for _blueprint in BLUEPRINTS:  # once, before any app registers them
    _blueprint.register_error_handler(ApiProblem, from_problem)
    _blueprint.register_error_handler(EngineError, from_engine)


class ProconApi(Api):
    """flask-smorest's Api with errors documented as problem+json and without its app-wide error handler."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:
        """Errors are ours (:func:`webapp.api.problems.install`), scoped to ``/api/``."""

    def _register_responses(self) -> None:
        import http

        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Erro (application/problem+json)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


def init_app(app: Flask, csrf: CSRFProtect) -> ProconApi:
    """Register the API's blueprints, its OpenAPI document and its problem+json errors on ``app``."""
    app.config.setdefault("API_TITLE", "Procon Flow")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.1.0")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("API_SPEC_OPTIONS", {
        "info": {"description": "API do Procon Flow para o aplicativo do consumidor e do fornecedor e para a "
                                "equipe do Procon. Erros em application/problem+json, datas em ISO 8601."},
        "servers": [{"url": "/"}],
        "components": {"securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer",
                           "description": "Token pessoal (pf_...): crie em POST /api/v1/tokens"},
            "basicAuth": {"type": "http", "scheme": "basic",
                          "description": "Login e senha; só para criar um token"},
        }},
    })
    api = ProconApi(app, spec_kwargs={"marshmallow_plugin": MarshmallowPlugin()})
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
        csrf.exempt(blueprint)
    install(app)
    idempotency.install(app)
    return api
