"""Procon Flow web application: ``create_app`` wires configuration, the engine and the blueprints.

Nothing else happens here (the Flask tutorial's shape): each audience has its own blueprint
(``auth``, ``inbox``, ``cases``) and no route talks to SpiffWorkflow directly — they call
:mod:`engine.runtime` commands and read projections.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from engine.runtime import EngineConfig, Runtime
from tasks.registry import default_registry
from webapp import security, sign_in

csrf = CSRFProtect()


def _secret_key(instance_path: str) -> str:
    """``SECRET_KEY`` from the environment, else one generated once and kept in instance/."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = Path(instance_path) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(
        DATABASE_URL=os.environ.get("DATABASE_URL"),
        MAX_CONTENT_LENGTH=25 * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        INIT_DB=False,
        **security.settings_from_environment(),
    )
    if config:
        app.config.update(config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(app.instance_path)

    runtime = app.config.get("RUNTIME") or Runtime(
        EngineConfig(services=default_registry(), database_url=app.config["DATABASE_URL"]))
    app.extensions["procon_runtime"] = runtime
    if app.config["INIT_DB"]:
        runtime.init_db()

    security.configure(app)
    csrf.init_app(app)

    from webapp import api, auth, errors, filters
    from webapp.modeling import form_editor, processes, sandbox
    from webapp.portal import auth as portal_auth
    from webapp.portal import cases as portal_cases
    from webapp.portal import company_proof as portal_company
    from webapp.portal import consumer as portal_consumer
    from webapp.portal import identity as portal_identity
    from webapp.portal import oidc as portal_oidc
    from webapp.portal import supplier as portal_supplier
    from webapp.public import pages as public
    from webapp.public import verification
    from webapp.staff import calendar_admin, cases, dashboard, documents, inbox, incidents, lgpd
    from webapp.staff import companies as staff_companies
    from webapp.staff import party_identity as staff_identity

    filters.register(app)
    errors.register(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(inbox.bp)
    app.register_blueprint(cases.bp)
    app.register_blueprint(calendar_admin.bp)
    app.register_blueprint(documents.bp)
    app.register_blueprint(incidents.bp)
    app.register_blueprint(lgpd.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(processes.bp)
    app.register_blueprint(sandbox.bp)
    app.register_blueprint(portal_auth.bp)
    portal_oidc.configure(app)
    app.register_blueprint(portal_oidc.bp)
    app.register_blueprint(portal_supplier.bp)
    app.register_blueprint(portal_cases.bp)
    app.register_blueprint(portal_consumer.bp)
    app.register_blueprint(portal_identity.bp)
    app.register_blueprint(portal_company.bp)
    app.register_blueprint(staff_companies.bp)
    app.register_blueprint(staff_identity.bp)
    app.register_blueprint(public.bp)
    app.register_blueprint(verification.bp)
    app.register_blueprint(form_editor.bp)
    api.init_app(app, csrf)  # JSON API at /api/v1 (token auth: exempt from CSRF)
    sign_in.init_app(app)  # after the API: its 429 handler answers problem+json itself and records the refusal
    return app
