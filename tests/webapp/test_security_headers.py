"""Issue 13, finding 5: what every response carries (CSP, nosniff, referrer policy; HSTS and Secure cookies on
HTTPS), links in e-mails built from PUBLIC_URL whatever the Host header says, and TRUSTED_HOSTS refusing others."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from engine.parties.models import OutboundEmail
from engine.runtime import Runtime
from tests.support.web_helpers import PASSWORD, csrf_token
from webapp import create_app
from webapp.users import create_user


def make_app(runtime: Runtime, **config: Any) -> Flask:
    return create_app({"RUNTIME": runtime, "SECRET_KEY": "teste", "TESTING": True, "WTF_CSRF_ENABLED": True,
                       **config})


@pytest.mark.parametrize("url", ["/entrar", "/portal/entrar", "/publico/cadastro", "/documentos/verificar",
                                 "/api/v1/openapi.json"])
def test_every_page_carries_the_security_headers(runtime: Runtime, url: str) -> None:
    response = make_app(runtime).test_client().get(url)
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    assert "object-src 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP: no HSTS


def test_no_template_has_inline_script_or_event_handler() -> None:
    """The policy forbids them: a page that used one would break in the browser."""
    from tests.support.paths import REPO_ROOT

    offenders = []
    for path in (REPO_ROOT / "webapp" / "templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        for tag in re.findall(r"<script\b[^>]*>", text):
            if "src=" not in tag and 'type="application/json"' not in tag:
                offenders.append(f"{path.name}: {tag}")
        offenders += [f"{path.name}: {m}" for m in re.findall(r"\son[a-z]+=\"", text)]
    assert offenders == []


def test_https_means_secure_cookies_and_hsts(runtime: Runtime) -> None:
    with runtime.Session.begin() as session:
        create_user(session, "ana", "Ana Atendente", ["atendente"], PASSWORD)
    client = make_app(runtime, PREFERRED_URL_SCHEME="https").test_client()
    page = client.get("/entrar", base_url="https://localhost")
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    answer = client.post("/entrar", base_url="https://localhost", headers={"Referer": "https://localhost/entrar"},
                         data={"username": "ana", "password": PASSWORD,
                               "csrf_token": csrf_token(page.get_data(as_text=True))})
    cookies = [value for key, value in answer.headers.items() if key == "Set-Cookie"]
    assert cookies and all("Secure" in cookie and "HttpOnly" in cookie for cookie in cookies)


def test_links_in_e_mails_come_from_public_url_not_from_the_host_header(runtime: Runtime) -> None:
    client = make_app(runtime, PUBLIC_URL="https://procon.sp.example/").test_client()
    page = client.get("/portal/cadastro", base_url="http://mal.example")
    response = client.post("/portal/cadastro", base_url="http://mal.example", data={
        "nome": "Maria Souza", "cpf": "529.982.247-25", "email": "maria@example.com", "telefone": "(11) 91234-5678",
        "senha": "segredo123", "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.status_code == 200
    with runtime.Session() as session:
        [email] = session.scalars(select(OutboundEmail)).all()
    assert "https://procon.sp.example/portal/confirmar/" in email.body
    assert "mal.example" not in email.body


def test_trusted_hosts_refuse_any_other_host(runtime: Runtime) -> None:
    client = make_app(runtime, TRUSTED_HOSTS="procon.sp.example, localhost").test_client()
    assert client.get("/entrar", base_url="http://procon.sp.example").status_code == 200
    assert client.get("/entrar", base_url="http://mal.example").status_code == 400
