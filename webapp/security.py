"""What every response carries and what every request must be, for an application on the internet.

- Headers on every page: a Content-Security-Policy that only lets the site's own scripts run (bpmn-js,
  the Camunda modeler, Chart.js and the form editor are static files; no inline script, no inline
  event handler) and forbids framing, ``X-Content-Type-Options: nosniff``, a ``Referrer-Policy``.
- HTTPS (``PREFERRED_URL_SCHEME=https``): the session cookie is ``Secure`` and HSTS is sent.
- Links sent outside (e-mails) are built from the configured ``PUBLIC_URL``, never from the request's
  Host header; with ``TRUSTED_HOSTS`` set (comma-separated), Flask refuses any other Host.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, Response, current_app, url_for

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",  # bpmn-js and Chart.js set style attributes on what they draw
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
HSTS = "max-age=31536000; includeSubDomains"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:5000"


def settings_from_environment() -> dict[str, Any]:
    """``PUBLIC_URL`` (or ``PROCON_PUBLIC_URL``), ``TRUSTED_HOSTS``, ``PREFERRED_URL_SCHEME`` from the environment."""
    return {
        "PUBLIC_URL": os.environ.get("PUBLIC_URL") or os.environ.get("PROCON_PUBLIC_URL") or DEFAULT_PUBLIC_URL,
        "TRUSTED_HOSTS": os.environ.get("TRUSTED_HOSTS") or None,
        "PREFERRED_URL_SCHEME": os.environ.get("PREFERRED_URL_SCHEME") or "http",
    }


def configure(app: Flask) -> None:
    """Normalise the settings ``create_app`` ended with and add the headers to every response."""
    config = app.config
    trusted = config.get("TRUSTED_HOSTS")
    if isinstance(trusted, str):
        trusted = [host.strip() for host in trusted.split(",") if host.strip()]
    config["TRUSTED_HOSTS"] = trusted or None
    https = config["PREFERRED_URL_SCHEME"] == "https"
    if https:
        config["SESSION_COOKIE_SECURE"] = True

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        if https:
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response


def public_base_url() -> str:
    """The site's public address (``PUBLIC_URL``), without a trailing slash."""
    return str(current_app.config["PUBLIC_URL"]).rstrip("/")


def public_url(endpoint: str, **values: Any) -> str:
    """An absolute link to ``endpoint`` on the public address, whatever Host the request named."""
    return public_base_url() + url_for(endpoint, **values)
