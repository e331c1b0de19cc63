"""End to end in headless Chromium: the person's history and an erasure status render."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

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


def test_page_in_headless_chromium(
    sqlite_store_engine: sa.Engine, keys: KeyRing, tmp_path: Path
) -> None:
    """The DOM holds ada's history and the erasure status; a screenshot is taken."""
    seed(sqlite_store_engine, keys)
    with serving(sqlite_store_engine, keys) as base:
        history = f"{base}/?{urlencode({'token': TOKEN, 'subject': 'ada@example.com'})}"
        erasures = f"{base}/erasures?{urlencode({'token': TOKEN})}"
        dom = _chromium(tmp_path, "--dump-dom", history).stdout
        erasure_dom = _chromium(tmp_path, "--dump-dom", erasures).stdout
        shot = tmp_path / "page.png"
        _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,900", history)
    assert 'id="history"' in dom
    assert dom.count("ada@example.com</td>") == 2
    assert "consent.change" in dom
    assert "bob@example.com" not in dom
    assert "hubspot: done" in erasure_dom
    assert "salesforce: retrying (HTTP 503)" in erasure_dom
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 10_000
