"""The compliance page for reading: server-side pages, a person's timeline, filters that keep
their values, Unicode as text; a person with 1,000 events stays a small page."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests
import sqlalchemy as sa

from audit import KeyRing, record_events
from tests.audit.server import NAME, PERSON, TOKEN, many_events, serving

BEARER = {"Authorization": f"Bearer {TOKEN}"}
EVENTS = 1000
MAX_PAGE_BYTES = 200_000


@pytest.fixture
def base(sqlite_store_engine: sa.Engine, keys: KeyRing) -> Iterator[str]:
    with sqlite_store_engine.begin() as conn:
        record_events(conn, many_events(EVENTS), keys=keys)
    with serving(sqlite_store_engine, keys) as url:
        yield url


def _get(base: str, **params: str) -> requests.Response:
    response = requests.get(base + "/", params=params, headers=BEARER, timeout=30)
    assert response.status_code == 200, response.text[:500]
    return response


def test_a_person_with_1000_events_is_a_small_paginated_timeline(base: str) -> None:
    """The person field (email or id) shows their timeline 50 events a page, newest first,
    with a total and next/previous links; the page stays under 200 KB (it was 1.3 MB)."""
    for who in ("person@example.org", PERSON):
        first = _get(base, subject=who)
        assert len(first.content) < MAX_PAGE_BYTES
        assert f"Timeline of {who}" in first.text
        assert "events 1–50 of 1,000" in first.text
        assert first.text.count("<li>") == 50
        assert "page 1 of 20" in first.text and "id='prev'" not in first.text
    newest = re.findall(r"person\.(\d+)@example\.org", first.text)
    assert newest[0] == str(EVENTS - 1)
    href = re.search(r"id='next' rel='next' href='([^']+)'", first.text)
    assert href is not None
    second = requests.get(base + href.group(1).replace("&amp;", "&"), headers=BEARER, timeout=30)
    assert "events 51–100 of 1,000" in second.text and "id='prev'" in second.text
    last = _get(base, subject=PERSON, page="999")  # past the end: the last page
    assert "events 951–1,000 of 1,000" in last.text and "id='next'" not in last.text
    landing = _get(base)
    assert len(landing.content) < MAX_PAGE_BYTES
    assert "events 1–50 of 1,003" in landing.text
    assert landing.text.count("<tr>") == 51  # header + one row per event


def test_filters_keep_their_values_across_pages(base: str) -> None:
    """Each filter comes back filled in, the action stays selected, and the pager's links
    carry the filters."""
    page = _get(
        base, subject=PERSON, since="2026-03-01", action="crm.write",
        pipeline="customers-to-hubspot", system="hubspot",
    ).text  # fmt: skip
    for name, value in (("subject", PERSON), ("since", "2026-03-01"),
                        ("pipeline", "customers-to-hubspot"), ("system", "hubspot")):  # fmt: skip
        assert f"name='{name}' id='{name}' value='{value}'" in page
    assert "<option value='crm.write' selected>" in page
    href = re.search(r"id='next' rel='next' href='([^']+)'", page)
    assert href is not None
    assert "action=crm.write" in href.group(1) and "system=hubspot" in href.group(1)
    assert "page=2" in href.group(1)


def test_unicode_is_text_not_escapes(base: str) -> None:
    """Values read as written (UTF-8 page), never as \\u00eb escapes."""
    response = _get(base, subject=PERSON)
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert NAME in response.text
    assert "\\u00" not in response.text


def test_a_bad_page_number_is_a_400(base: str) -> None:
    response = requests.get(base + "/", params={"page": "-1"}, headers=BEARER, timeout=10)
    assert response.status_code == 400
    assert "page must be a whole number" in response.text
