"""The compliance page shows a real erasure request's status per system (headless Chromium)."""

from __future__ import annotations

from pathlib import Path

import pytest

from consent.erasure.model import SubjectIds
from tests.audit.browser_support import (
    CHROMIUM,
    chromium,
    dom_after_login,
    login_url,
    with_login_page,
)
from tests.audit.server import serving
from tests.consent.erasure_kit import make_kit

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed")


def test_erasure_page_shows_each_system_of_a_request(tmp_path: Path) -> None:
    """While HubSpot is down the page shows it retrying with its next attempt, the others done."""
    kit = make_kit(tmp_path)
    kit.systems["hs"].mode = "down"
    kit.desk().file(SubjectIds(email="ada@example.com"))
    kit.processor().process()
    assert kit.keys is not None
    with serving(kit.db, kit.keys, with_login_page) as base:
        dom = dom_after_login(tmp_path, base, "/erasures").stdout
        shot = tmp_path / "erasures.png"
        chromium(
            tmp_path, f"--screenshot={shot}", "--window-size=1280,700",
            "--virtual-time-budget=10000", login_url(base, "/erasures"),
        )  # fmt: skip
    assert 'id="erasures"' in dom
    assert "hs: retrying (hs answered 503), next attempt 2026-03-01T12:01:00" in dom
    assert "sf: done (erased)" in dom and "shop: done (erased)" in dom
    assert "audit: pending" in dom and "local: done" in dom
    assert "in_progress" in dom and "ada@example.com" not in dom
    assert shot.read_bytes().startswith(b"\x89PNG")
