"""The compliance page shows a real erasure request's status per system (headless Chromium)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlencode

import pytest

from consent.erasure_model import SubjectIds
from tests.audit._server import TOKEN, serving
from tests.consent.erasure_kit import make_kit

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed")


def _chromium(tmp_path: Path, *args: str) -> str:
    assert CHROMIUM is not None
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", *args,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def test_erasure_page_shows_each_system_of_a_request(tmp_path: Path) -> None:
    """While HubSpot is down the page shows it retrying with its next attempt, the others done."""
    kit = make_kit(tmp_path)
    kit.systems["hs"].mode = "down"
    kit.desk().file(SubjectIds(email="ada@example.com"))
    kit.processor().process()
    assert kit.keys is not None
    with serving(kit.db, kit.keys) as base:
        url = f"{base}/erasures?{urlencode({'token': TOKEN})}"
        dom = _chromium(tmp_path, "--dump-dom", url)
        shot = tmp_path / "erasures.png"
        _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,700", url)
    assert 'id="erasures"' in dom
    assert "hs: retrying (hs answered 503), next attempt 2026-03-01T12:01:00" in dom
    assert "sf: done (erased)" in dom and "shop: done (erased)" in dom
    assert "audit: pending" in dom and "local: done" in dom
    assert "in_progress" in dom and "ada@example.com" not in dom
    assert shot.read_bytes().startswith(b"\x89PNG")
