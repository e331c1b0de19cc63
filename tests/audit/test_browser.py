"""End to end in headless Chromium: the person's history and an erasure status render."""

from __future__ import annotations

import shutil
import subprocess
from html import escape
from pathlib import Path
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from audit import KeyRing
from tests.audit._server import TOKEN, seed, serving

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed")


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def _with_login_page(app: ASGIApp) -> ASGIApp:
    """``app`` plus ``/__test_login?next=...``: a test-only page (outside the app and its CSP)
    whose script posts the token to the real ``/login`` form, as a person would."""

    async def outer(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/__test_login":
            target = Request(scope).query_params["next"]
            page = (
                "<!doctype html><form id='f' method='post' action='/login'>"
                f"<input name='token' value='{escape(TOKEN, quote=True)}'>"
                f"<input name='next' value='{escape(target, quote=True)}'></form>"
                "<script>document.getElementById('f').submit()</script>"
            )
            await HTMLResponse(page)(scope, receive, send)
            return
        await app(scope, receive, send)

    return outer


def _dom_after_login(tmp_path: Path, base: str, target: str) -> subprocess.CompletedProcess[str]:
    url = f"{base}/__test_login?{urlencode({'next': target})}"
    return _chromium(
        tmp_path, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
        "--dump-dom", url,
    )  # fmt: skip


def test_page_in_headless_chromium(
    sqlite_store_engine: sa.Engine, keys: KeyRing, tmp_path: Path
) -> None:
    """After the login form, the DOM holds ada's history and the erasure status, the page's
    Content-Security-Policy blocks nothing it needs; a screenshot is taken."""
    seed(sqlite_store_engine, keys)
    with serving(sqlite_store_engine, keys, _with_login_page) as base:
        history = _dom_after_login(tmp_path, base, "/?subject=ada%40example.com")
        erasures = _dom_after_login(tmp_path, base, "/erasures")
        shot = tmp_path / "page.png"
        login = f"{base}/__test_login?{urlencode({'next': '/?subject=ada%40example.com'})}"
        _chromium(
            tmp_path, f"--screenshot={shot}", "--window-size=1280,900",
            "--virtual-time-budget=10000", login,
        )  # fmt: skip
    dom, erasure_dom = history.stdout, erasures.stdout
    assert 'id="history"' in dom
    assert dom.count("ada@example.com</td>") == 2
    assert "consent.change" in dom
    assert "bob@example.com" not in dom
    assert "hubspot: done" in erasure_dom
    assert "salesforce: retrying (HTTP 503)" in erasure_dom
    for run in (history, erasures):
        assert "Content Security Policy" not in run.stderr, run.stderr
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 10_000
