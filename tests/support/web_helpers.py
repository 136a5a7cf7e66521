"""Helpers for driving the Flask app like a browser: the app with its staff, log in, read CSRF tokens,
post forms."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from engine.runtime import Runtime
from webapp import create_app
from webapp.users import create_user

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "senha-segura-123"


def csrf_token(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "página sem token CSRF"
    return match.group(1)


def login(client: FlaskClient, username: str, password: str = PASSWORD) -> Any:
    page = client.get("/entrar")
    return client.post("/entrar", data={"username": username, "password": password,
                                        "csrf_token": csrf_token(page.get_data(as_text=True))})


def staff_app(runtime: Runtime, staff: Iterable[tuple[str, str, list[str]]], **config: Any) -> Flask:
    """The app as the web tests run it (testing, CSRF on), after creating ``staff`` — (username, name,
    roles), all with :data:`PASSWORD`; ``config`` adds to or overrides the app's settings."""
    with runtime.Session.begin() as session:
        for username, name, roles in staff:
            create_user(session, username, name, roles, PASSWORD)
    return create_app({"RUNTIME": runtime, "SECRET_KEY": "teste", "TESTING": True, "WTF_CSRF_ENABLED": True,
                       **config})


def client_for(app: Flask, username: str) -> FlaskClient:
    """A test client already signed in as ``username``."""
    client = app.test_client()
    response = login(client, username)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def post_form(client: FlaskClient, url: str, data: dict[str, Any], **kwargs: Any) -> Any:
    """GET the page for its CSRF token, then POST ``data`` to it as the browser would."""
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    payload = dict(data)
    payload["csrf_token"] = csrf_token(page.get_data(as_text=True))
    return client.post(url, data=payload, **kwargs)


def task_links(html: str) -> list[tuple[int, str]]:
    """(case id, task id) of every task link on a page."""
    return [(int(c), t) for c, t in re.findall(r'href="/casos/(\d+)/tarefas/([0-9a-f-]{36})"', html)]
