"""Helpers for driving the Flask app like a browser: log in, read CSRF tokens, post forms."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

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
