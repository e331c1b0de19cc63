"""The compliance page over HTTP: token, history search, erasure status, CSV download."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
import requests
import sqlalchemy as sa

from audit import KeyRing
from tests.audit._server import TOKEN, seed, serving


@pytest.fixture
def base(sqlite_store_engine: sa.Engine, keys: KeyRing) -> Iterator[str]:
    """The page on a seeded SQLite store."""
    seed(sqlite_store_engine, keys)
    with serving(sqlite_store_engine, keys) as url:
        yield url


def test_token_is_required(base: str) -> None:
    """Without the token every route answers 401."""
    for path in ("/", "/erasures", "/export.csv"):
        assert requests.get(base + path, timeout=10).status_code == 401
    assert requests.get(base + "/?token=wrong", timeout=10).status_code == 401


def test_bearer_token_is_accepted(base: str) -> None:
    """Authorization: Bearer works like ?token=."""
    response = requests.get(base + "/", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200


def test_history_of_a_person(base: str) -> None:
    """A subject search lists that person's events only."""
    response = requests.get(
        base + "/", params={"token": TOKEN, "subject": "Ada@example.com"}, timeout=10
    )
    assert response.status_code == 200
    assert response.text.count("ada@example.com</td>") == 2
    assert "bob@example.com" not in response.text


def test_bad_time_is_a_400(base: str) -> None:
    """An unparseable date answers 400 with the reason."""
    response = requests.get(base + "/", params={"token": TOKEN, "since": "yesterday"}, timeout=10)
    assert response.status_code == 400
    assert "not an ISO date" in response.text


def test_csv_download_parses_back(base: str) -> None:
    """The CSV link returns the same filtered events as CSV."""
    response = requests.get(
        base + "/export.csv", params={"token": TOKEN, "action": "consent.change"}, timeout=10
    )
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["subject"], r["action"]) for r in rows] == [("ada@example.com", "consent.change")]


def test_erasure_status_per_system(base: str) -> None:
    """The erasure view shows each system's status."""
    response = requests.get(base + "/erasures", params={"token": TOKEN}, timeout=10)
    assert "ER-77" in response.text
    assert "salesforce: retrying (HTTP 503)" in response.text
