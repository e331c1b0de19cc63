"""The compliance page over HTTP: token, history search, erasure status, CSV download."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
import requests
import sqlalchemy as sa

from audit import KeyRing
from tests.audit.server import TOKEN, seed, serving


@pytest.fixture
def base(sqlite_store_engine: sa.Engine, keys: KeyRing) -> Iterator[str]:
    """The page on a seeded SQLite store."""
    seed(sqlite_store_engine, keys)
    with serving(sqlite_store_engine, keys) as url:
        yield url


BEARER = {"Authorization": f"Bearer {TOKEN}"}
HEADERS = {
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def test_token_is_required(base: str) -> None:
    """Without the token every route answers 401 with the login form."""
    for path in ("/", "/erasures", "/export.csv"):
        response = requests.get(base + path, timeout=10)
        assert response.status_code == 401
        assert "action='/login'" in response.text
    wrong = {"Authorization": "Bearer " + "x" * 40}
    assert requests.get(base + "/", headers=wrong, timeout=10).status_code == 401


def test_token_in_the_url_is_refused(base: str) -> None:
    """?token= is refused even when it is right: URLs end up in access logs."""
    for path in ("/", "/erasures", "/export.csv", "/login"):
        response = requests.get(base + path, params={"token": TOKEN}, timeout=10)
        assert response.status_code == 400, path
        assert "never accepted in the URL" in response.text
        assert TOKEN not in response.text


def test_bearer_token_is_accepted(base: str) -> None:
    """API clients send Authorization: Bearer."""
    response = requests.get(base + "/", headers=BEARER, timeout=10)
    assert response.status_code == 200
    assert TOKEN not in response.text


def test_browser_login_sets_an_http_only_session_cookie(base: str) -> None:
    """POST /login with the token sets a Strict, HttpOnly cookie that is not the token."""
    session = requests.Session()
    response = session.post(
        base + "/login", data={"token": TOKEN, "next": "/erasures"}, allow_redirects=False,
        timeout=10,
    )  # fmt: skip
    assert response.status_code == 303
    assert response.headers["location"] == "/erasures"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert TOKEN not in cookie
    page = session.get(base + response.headers["location"], timeout=10)
    assert page.status_code == 200 and "ER-77" in page.text
    session.post(base + "/logout", timeout=10)
    assert session.get(base + "/erasures", timeout=10).status_code == 401


def test_wrong_or_cross_site_login_gets_no_session(base: str) -> None:
    """A wrong token, a forged cookie or a login posted from another site set no session."""
    wrong = requests.post(base + "/login", data={"token": "y" * 40}, timeout=10)
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    forged = requests.get(base + "/", cookies={"b2sync_ui_session": "9999999999.abc"}, timeout=10)
    assert forged.status_code == 401
    cross = requests.post(
        base + "/login", data={"token": TOKEN}, headers={"Origin": "http://evil.example"},
        allow_redirects=False, timeout=10,
    )  # fmt: skip
    assert cross.status_code == 403 and "set-cookie" not in cross.headers


def test_login_is_no_open_redirect(base: str) -> None:
    """next= pointing at another site sends the browser home instead."""
    for target in ("//evil.example/x", "https://evil.example/", "javascript:alert(1)"):
        response = requests.post(
            base + "/login", data={"token": TOKEN, "next": target}, allow_redirects=False,
            timeout=10,
        )  # fmt: skip
        assert response.headers["location"] == "/", target


def test_bad_time_is_escaped_not_reflected(base: str) -> None:
    """A script in since= comes back as text in the 400 page, never as markup."""
    attack = "<script>alert(1)</script>"
    for name in ("since", "until"):
        response = requests.get(base + "/", params={name: attack}, headers=BEARER, timeout=10)
        assert response.status_code == 400
        assert "<script>" not in response.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


def test_every_response_carries_the_security_headers(base: str) -> None:
    """200s, 401s, 400s, 404s and 405s alike: no-store, CSP without inline script, no framing."""
    responses = [
        requests.get(base + "/", headers=BEARER, timeout=10),
        requests.get(base + "/export.csv", headers=BEARER, timeout=10),
        requests.get(base + "/", timeout=10),
        requests.get(base + "/", params={"token": "x"}, timeout=10),
        requests.get(base + "/nope", timeout=10),
        requests.delete(base + "/", timeout=10),
        requests.get(base + "/login", timeout=10),
    ]
    assert [r.status_code for r in responses] == [200, 200, 401, 400, 404, 405, 200]
    for response in responses:
        for name, value in HEADERS.items():
            assert response.headers.get(name) == value, (response.url, name)
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
        assert "unsafe-inline" not in csp and "script-src" not in csp


def test_history_of_a_person(base: str) -> None:
    """A subject search shows that person's timeline: their events only."""
    response = requests.get(
        base + "/", params={"subject": "Ada@example.com"}, headers=BEARER, timeout=10
    )
    assert response.status_code == 200
    assert "Timeline of Ada@example.com" in response.text
    assert response.text.count("<li>") == 2
    assert "bob@example.com" not in response.text


def test_bad_time_is_a_400(base: str) -> None:
    """An unparseable date answers 400 with the reason."""
    response = requests.get(base + "/", params={"since": "yesterday"}, headers=BEARER, timeout=10)
    assert response.status_code == 400
    assert "not an ISO date" in response.text


def test_csv_download_parses_back(base: str) -> None:
    """The CSV link returns the same filtered events as CSV."""
    response = requests.get(
        base + "/export.csv", params={"action": "consent.change"}, headers=BEARER, timeout=10
    )
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["subject"], r["action"]) for r in rows] == [("ada@example.com", "consent.change")]


def test_erasure_status_per_system(base: str) -> None:
    """The erasure view shows each system's status."""
    response = requests.get(base + "/erasures", headers=BEARER, timeout=10)
    assert "ER-77" in response.text
    assert "salesforce: retrying (HTTP 503)" in response.text
