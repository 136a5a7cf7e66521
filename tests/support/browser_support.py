"""What the real-browser tests share: Debian's Chromium launched the way this machine allows,
the skip when it is missing, the artefacts folder, the app (with its staff) served on a free local port,
a page that collects the page's JavaScript errors, and signing in on ``/entrar``."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from engine.runtime import Runtime
from tests.support.paths import REPO_ROOT
from tests.support.web_helpers import PASSWORD
from webapp import create_app
from webapp.users import create_user

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason="Chromium não instalado (apt-get install chromium) — testes de navegador pulados"),
]


def launch(playwright: Any) -> Any:
    """Debian's Chromium (Playwright cannot download its own browser here)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """The app on a free port of 127.0.0.1 for as long as the block runs; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def browser_app(runtime: Runtime, users: Iterable[tuple[str, str, list[str]]] = (), **config: Any) -> Flask:
    """The app as the browser tests run it (CSRF on), after creating ``users`` — (username, name, roles),
    all with :data:`tests.support.web_helpers.PASSWORD`; ``config`` adds to or overrides the app's settings."""
    with runtime.Session.begin() as session:
        for username, name, roles in users:
            create_user(session, username, name, roles, PASSWORD)
    return create_app({"RUNTIME": runtime, "SECRET_KEY": "navegador", "WTF_CSRF_ENABLED": True, **config})


@contextmanager
def browser_page(base_url: str, width: int = 1400, height: int = 1000) -> Iterator[Any]:
    """A Chromium page (pt-BR) for as long as the block runs, with ``page.base_url`` set and the page's
    uncaught JavaScript errors gathered in ``page.js_errors``. Anything the Content-Security-Policy
    blocked on any page fails the test when the block ends."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(viewport={"width": width, "height": height}, locale="pt-BR")
        page = context.new_page()
        page.set_default_timeout(15000)
        page.base_url = base_url
        errors: list[str] = []
        blocked: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: blocked.append(message.text)
                if "Content Security Policy" in message.text else None)
        page.js_errors = errors
        try:
            yield page
        finally:
            context.close()
            browser.close()
        assert blocked == [], blocked


def login(page: Any, base_url: str, username: str, password: str = PASSWORD) -> None:
    """Sign in on the staff's ``/entrar`` and wait until the app has let the person in."""
    page.goto(f"{base_url}/entrar")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/entrar" not in url)
