"""Headless Chromium for the compliance page's browser tests: a run helper and a test-only
login page that posts the token to the real ``/login`` form, as a person would."""

from __future__ import annotations

import shutil
import subprocess
from html import escape
from pathlib import Path
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.audit.server import TOKEN

__all__ = ["CHROMIUM", "chromium", "dom_after_login", "login_url", "with_login_page"]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
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


def with_login_page(app: ASGIApp) -> ASGIApp:
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


def dom_after_login(tmp_path: Path, base: str, target: str) -> subprocess.CompletedProcess[str]:
    url = login_url(base, target)
    return chromium(
        tmp_path, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
        "--dump-dom", url,
    )  # fmt: skip


def login_url(base: str, target: str) -> str:
    """The test-only page that logs in and then opens ``target``."""
    return f"{base}/__test_login?{urlencode({'next': target})}"
