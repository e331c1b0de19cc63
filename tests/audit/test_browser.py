"""End to end in headless Chromium: the history table, a person's timeline (1,000 events,
paginated), the erasure status; screenshots land in the test artefacts directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from audit import KeyRing, record_events
from tests.audit.browser_support import (
    CHROMIUM,
    chromium,
    dom_after_login,
    login_url,
    with_login_page,
)
from tests.audit.server import NAME, PERSON, many_events, seed, serving

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed")
ROOT = Path(__file__).resolve().parents[2]


def _artifacts() -> Path:
    """``$B2SYNC_TEST_ARTIFACTS`` (CI uploads it) or ``tests/artifacts`` (git-ignored)."""
    where = Path(os.environ.get("B2SYNC_TEST_ARTIFACTS") or ROOT / "tests" / "artifacts")
    out = where / "compliance-page"
    out.mkdir(parents=True, exist_ok=True)
    return out


def _shot(tmp_path: Path, base: str, target: str, name: str) -> Path:
    shot = _artifacts() / f"{name}.png"
    shot.unlink(missing_ok=True)
    chromium(
        tmp_path, f"--screenshot={shot}", "--window-size=1400,1000",
        "--virtual-time-budget=10000", login_url(base, target),
    )  # fmt: skip
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000, name
    return shot


def test_page_in_headless_chromium(
    sqlite_store_engine: sa.Engine, keys: KeyRing, tmp_path: Path
) -> None:
    """After the login form: the history is a table of one event a row, 50 a page; a
    person's page is their timeline with the name as text; the erasure status renders; the
    Content-Security-Policy blocks nothing; screenshots of each are kept."""
    seed(sqlite_store_engine, keys)
    with sqlite_store_engine.begin() as conn:
        record_events(conn, many_events(1000), keys=keys)
    person = f"/?subject={PERSON}"
    with serving(sqlite_store_engine, keys, with_login_page) as base:
        landing = dom_after_login(tmp_path, base, "/")
        timeline = dom_after_login(tmp_path, base, person)
        erasures = dom_after_login(tmp_path, base, "/erasures")
        for target, name in (("/", "history"), (person, "timeline"),
                             (person + "&page=2", "timeline-page-2"),
                             ("/erasures", "erasures")):  # fmt: skip
            _shot(tmp_path, base, target, name)
    assert 'id="history"' in landing.stdout
    assert landing.stdout.count("<tr>") == 51
    assert "events 1–50 of 1,006" in landing.stdout
    assert 'id="timeline"' in timeline.stdout
    assert timeline.stdout.count("<li>") == 50 and NAME in timeline.stdout
    assert "C-2" not in timeline.stdout
    assert "hubspot: done" in erasures.stdout
    assert "salesforce: retrying (HTTP 503)" in erasures.stdout
    for run in (landing, timeline, erasures):
        assert "Content Security Policy" not in run.stderr, run.stderr
