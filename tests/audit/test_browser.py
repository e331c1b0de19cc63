"""End to end in headless Chromium: the person's history and an erasure status render."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from audit import KeyRing
from tests.audit.browser_support import (
    CHROMIUM,
    chromium,
    dom_after_login,
    login_url,
    with_login_page,
)
from tests.audit.server import seed, serving

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed")


def test_page_in_headlesschromium(
    sqlite_store_engine: sa.Engine, keys: KeyRing, tmp_path: Path
) -> None:
    """After the login form, the DOM holds ada's history and the erasure status, the page's
    Content-Security-Policy blocks nothing it needs; a screenshot is taken."""
    seed(sqlite_store_engine, keys)
    with serving(sqlite_store_engine, keys, with_login_page) as base:
        history = dom_after_login(tmp_path, base, "/?subject=ada%40example.com")
        erasures = dom_after_login(tmp_path, base, "/erasures")
        shot = tmp_path / "page.png"
        login = login_url(base, "/?subject=ada%40example.com")
        chromium(
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
