"""Issue 13, finding 5: sign-in that an attacker cannot wear down or outlive.

- five wrong passwords for one login, or twenty from one address, answer 429 in Portuguese and are recorded;
- the API's token endpoint (HTTP Basic) is throttled the same way;
- logout, a password change and a deactivation end every session: a cookie copied before is refused after;
- an unknown user's password is checked against a hash too (same work as a known one);
- staff passwords: at least 12 characters and not easy to guess.
"""

from __future__ import annotations

import base64

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine.parties.accounts import confirm_email, register_consumer
from engine.runtime import Runtime
from engine.store.login_sessions import SignInEvent
from engine.store.models import User
from tests.support.web_helpers import PASSWORD, csrf_token
from webapp import create_app, users
from webapp.users import WeakPassword, change_password, create_user, deactivate

CONSUMER_PASSWORD = "segredo123"


@pytest.fixture
def app(runtime: Runtime) -> Flask:
    with runtime.Session.begin() as session:
        create_user(session, "ana", "Ana Atendente", ["atendente"], PASSWORD)
        signup = register_consumer(session, name="Maria Souza", cpf="529.982.247-25", email="maria@example.com",
                                   password=CONSUMER_PASSWORD)
        confirm_email(session, signup.token)
    return create_app({"RUNTIME": runtime, "SECRET_KEY": "teste", "TESTING": True, "WTF_CSRF_ENABLED": True})


def staff_login(client: FlaskClient, username: str, password: str) -> int:
    page = client.get("/entrar")
    return client.post("/entrar", data={"username": username, "password": password,
                                        "csrf_token": csrf_token(page.get_data(as_text=True))}).status_code


def portal_login(client: FlaskClient, login: str, password: str) -> int:
    page = client.get("/portal/entrar")
    return client.post("/portal/entrar", data={"login": login, "senha": password,
                                               "csrf_token": csrf_token(page.get_data(as_text=True))}).status_code


def copy_of(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding the same session cookie (stolen, or copied before logout)."""
    other = app.test_client()
    cookie = client.get_cookie("session")
    assert cookie is not None
    other.set_cookie("session", cookie.value)
    return other


def events(runtime: Runtime, action: str) -> list[SignInEvent]:
    with runtime.Session() as session:
        return list(session.scalars(select(SignInEvent).where(SignInEvent.action == action)))


def test_five_wrong_passwords_for_one_login_answer_429(app: Flask, runtime: Runtime) -> None:
    client = app.test_client()
    assert [staff_login(client, "ana", "errada-errada-1") for _ in range(5)] == [401] * 5
    page = client.get("/entrar")
    blocked = client.post("/entrar", data={"username": "ana", "password": PASSWORD,
                                           "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert blocked.status_code == 429
    assert "Muitas tentativas seguidas" in blocked.get_data(as_text=True)
    assert len(events(runtime, "senha_incorreta")) == 5
    [refusal] = events(runtime, "bloqueado_tentativas")
    assert refusal.login == "ana" and refusal.address == "127.0.0.1"
    # another login from the same address is not blocked yet; right answers never count
    assert staff_login(app.test_client(), "bia", "errada-errada-1") == 401


def test_twenty_failures_from_one_address_answer_429(app: Flask) -> None:
    client = app.test_client()
    assert {portal_login(client, f"pessoa{i}@example.com", "errada") for i in range(20)} == {401}
    assert portal_login(client, "outra@example.com", "errada") == 429
    other_address = app.test_client()
    other_address.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    assert portal_login(other_address, "maria@example.com", CONSUMER_PASSWORD) == 302


def test_token_requests_with_wrong_passwords_are_throttled(app: Flask) -> None:
    client = app.test_client()
    wrong = {"Authorization": "Basic " + base64.b64encode(b"maria@example.com:errada").decode()}
    body = {"name": "app", "scopes": ["casos:ler"]}
    statuses = [client.post("/api/v1/tokens", json=body, headers=wrong).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    answer = client.post("/api/v1/tokens", json=body, headers=wrong)
    assert answer.status_code == 429 and answer.mimetype == "application/problem+json"
    assert "Muitas tentativas" in answer.get_json()["detail"]


def test_logout_ends_every_session_of_the_person(app: Flask) -> None:
    first, second = app.test_client(), app.test_client()
    assert staff_login(first, "ana", PASSWORD) == 302 and staff_login(second, "ana", PASSWORD) == 302
    stolen = copy_of(app, first)
    assert stolen.get("/tarefas").status_code == 200
    page = first.get("/tarefas")
    assert first.post("/sair", data={"csrf_token": csrf_token(page.get_data(as_text=True))}).status_code == 302
    for client in (first, second, stolen):
        answer = client.get("/tarefas")
        assert answer.status_code == 302 and "/entrar" in answer.headers["Location"]


def test_portal_logout_refuses_a_copied_cookie(app: Flask) -> None:
    client = app.test_client()
    assert portal_login(client, "maria@example.com", CONSUMER_PASSWORD) == 302
    stolen = copy_of(app, client)
    assert stolen.get("/portal/consumidor/").status_code == 200
    page = client.get("/portal/consumidor/")
    client.post("/portal/sair", data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    answer = stolen.get("/portal/consumidor/")
    assert answer.status_code == 302 and "/portal/entrar" in answer.headers["Location"]


@pytest.mark.parametrize("how", ["senha", "desativacao"])
def test_password_change_and_deactivation_end_the_sessions(app: Flask, runtime: Runtime, how: str) -> None:
    client = app.test_client()
    assert staff_login(client, "ana", PASSWORD) == 302
    with runtime.Session.begin() as session:
        user = session.scalars(select(User).where(User.username == "ana")).one()
        ended = change_password(session, user, "outra-frase-bem-longa") if how == "senha" else deactivate(session, user)
    assert ended == 1
    answer = client.get("/tarefas")
    assert answer.status_code == 302 and "/entrar" in answer.headers["Location"]


def test_an_unknown_user_costs_a_password_check_too(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    with runtime.Session.begin() as session:
        create_user(session, "ana", "Ana Atendente", ["atendente"], PASSWORD)
    checked: list[str] = []
    real = users.check_password_hash
    monkeypatch.setattr(users, "check_password_hash", lambda hashed, password: checked.append(password)
                        or real(hashed, password))
    with runtime.Session() as session:
        assert users.authenticate(session, "ana", "errada") is None
        assert users.authenticate(session, "ninguem", "errada") is None
    assert checked == ["errada", "errada"]


@pytest.mark.parametrize(("password", "message"), [
    ("curta-123", "pelo menos 12 caracteres"),
    ("123qweasdzxc", "fácil de adivinhar"),
    ("qwertyuiop12", "fácil de adivinhar"),
    ("aaaaaaaaaaaa", "fácil de adivinhar"),
    ("AnaAtendente1", "fácil de adivinhar"),
])
def test_weak_staff_passwords_are_refused(runtime: Runtime, password: str, message: str) -> None:
    with runtime.Session.begin() as session, pytest.raises(WeakPassword, match=message):
        create_user(session, "ana", "Ana Atendente", ["atendente"], password)
    with runtime.Session() as session:
        assert session.scalars(select(User)).first() is None
