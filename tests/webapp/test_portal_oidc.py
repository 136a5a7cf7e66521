"""Signing in to the consumers' portal through a real local OpenID Connect provider (gov.br-style: the
CPF in ``sub``), with Authlib checking the ID token's signature, nonce and audience."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from engine.parties.accounts import register_consumer
from engine.parties.models import PortalAccount
from engine.runtime import Runtime
from tests.support.browser_support import served
from tests.support.oidc_provider import Provider
from webapp import create_app

CPF_DIGITS = "52998224725"


@pytest.fixture
def provider() -> Iterator[Provider]:
    idp = Provider()
    with served(idp.app) as url:
        idp.issuer = url
        yield idp


@pytest.fixture
def app(runtime: Runtime, provider: Provider) -> Flask:
    return create_app({"RUNTIME": runtime, "SECRET_KEY": "teste", "TESTING": True, "OIDC_ISSUER": provider.issuer,
                       "OIDC_CLIENT_ID": "procon", "OIDC_CLIENT_SECRET": "segredo", "OIDC_LABEL": "gov.br"})


def sign_in(app: Flask) -> Any:
    client = app.test_client()
    assert "Entrar com gov.br" in client.get("/portal/entrar").get_data(as_text=True)
    started = client.get("/portal/oidc/entrar")
    assert started.status_code == 302
    # The browser goes to the provider, which sends it back with a code.
    back = requests.get(started.headers["Location"], allow_redirects=False, timeout=5)
    assert back.status_code == 302
    target = urlsplit(back.headers["Location"])
    return client, client.get(f"{target.path}?{target.query}")


def test_first_login_creates_a_confirmed_consumer_account(app: Flask, runtime: Runtime, provider: Provider) -> None:
    provider.person = {"sub": CPF_DIGITS, "name": "Maria Souza", "email": "Maria@Example.com", "email_verified": True}
    client, done = sign_in(app)
    assert done.status_code == 302 and done.headers["Location"].startswith("/portal/consumidor")
    with runtime.Session() as session:
        account = session.scalars(select(PortalAccount)).one()
        assert (account.cpf, account.email, account.name) == ("529.982.247-25", "maria@example.com", "Maria Souza")
        assert account.email_confirmed_at is not None and account.password_hash is None
        assert account.oidc_subject == f"{provider.issuer}|{CPF_DIGITS}"
    _client, again = sign_in(app)  # the second time, the same account
    assert again.status_code == 302
    with runtime.Session() as session:
        assert len(session.scalars(select(PortalAccount)).all()) == 1


def test_login_binds_to_the_existing_account_with_that_cpf(app: Flask, runtime: Runtime, provider: Provider) -> None:
    with runtime.Session.begin() as session:
        register_consumer(session, name="Maria", cpf=CPF_DIGITS, email="maria@example.com", password="segredo123")
    provider.person = {"sub": CPF_DIGITS, "email": "maria@example.com", "email_verified": True}
    _client, done = sign_in(app)
    assert done.status_code == 302
    with runtime.Session() as session:
        account = session.scalars(select(PortalAccount)).one()
        assert account.oidc_subject and account.email_confirmed_at is not None


def test_provider_without_a_valid_cpf_gets_a_clear_message(app: Flask, runtime: Runtime, provider: Provider) -> None:
    provider.person = {"sub": "usuario-123", "email": "x@example.com", "email_verified": True}
    _client, done = sign_in(app)
    assert done.status_code == 422
    assert "CPF válido" in done.get_data(as_text=True)
    with runtime.Session() as session:
        assert session.scalars(select(PortalAccount)).first() is None


def test_tampered_callback_is_refused(app: Flask, provider: Provider) -> None:
    provider.person = {"sub": CPF_DIGITS, "email": "m@example.com", "email_verified": True}
    client = app.test_client()
    client.get("/portal/oidc/entrar")
    refused = client.get("/portal/oidc/retorno?code=inventado&state=outro")
    assert refused.status_code == 400
    assert "não confirmou o login" in refused.get_data(as_text=True)


def test_without_an_issuer_the_button_and_routes_are_absent(runtime: Runtime) -> None:
    plain = create_app({"RUNTIME": runtime, "SECRET_KEY": "teste", "TESTING": True})
    client = plain.test_client()
    assert "gov.br" not in client.get("/portal/entrar").get_data(as_text=True)
    assert client.get("/portal/oidc/entrar").status_code == 404
