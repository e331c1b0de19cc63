"""B2Connect connector in ``mode: orders_api``: rescan /api/v1/orders and diff on updatedAt."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import pytest
import requests
import responses

from connectors.b2connect import B2ConnectConnector
from connectors.errors import Fatal
from connectors.records import Page
from emulators.b2connect import B2ConnectEmulator

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def b2c_orders_server() -> Iterator[B2ConnectEmulator]:
    emu = B2ConnectEmulator()
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture
def emu(b2c_orders_server: B2ConnectEmulator) -> B2ConnectEmulator:
    b2c_orders_server.reset()
    return b2c_orders_server


def connect(emu: B2ConnectEmulator, **kw: Any) -> B2ConnectConnector:
    return B2ConnectConnector(
        url=emu.url, token=emu.token_for(), tenant_id=emu.tenant_id, mode="orders_api", **kw
    )


def add_order(emu: B2ConnectEmulator, age: timedelta) -> str:
    created = (NOW - age).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    order = emu.admin_create(
        "orders",
        {
            "customerId": str(uuid.uuid4()),
            "customerEmail": "shopper@example.com",
            "createdAt": created,
            "items": [{"productName": "Mug", "quantity": 2, "unitPrice": "9.90"}],
        },
    )
    return str(order["id"])


def emitted(pages: list[Page]) -> set[str]:
    return {r.key for p in pages for r in p.records}


def final_cursor(pages: list[Page]) -> dict[str, Any]:
    assert pages[-1].cursor is not None and not pages[-1].has_more
    return pages[-1].cursor


def test_first_run_emits_every_order(emu: B2ConnectEmulator) -> None:
    """Without a cursor every order is read, page by page."""
    ids = {add_order(emu, timedelta(days=d)) for d in (0, 1, 5, 30)}
    pages = list(connect(emu, orders_page_size=3).read_changes("orders", None))
    assert emitted(pages) == ids
    assert emu.calls["GET /api/v1/orders"] == 2


def test_unchanged_orders_are_not_emitted_again(emu: B2ConnectEmulator) -> None:
    """A second rescan with nothing changed emits nothing but still ends with a cursor."""
    for d in (0, 1):
        add_order(emu, timedelta(days=d))
    conn = connect(emu)
    cursor = final_cursor(list(conn.read_changes("orders", None)))
    pages = list(conn.read_changes("orders", cursor))
    assert emitted(pages) == set()
    assert final_cursor(pages)["scan_from"] == cursor["scan_from"]


def test_new_and_changed_orders_are_found(emu: B2ConnectEmulator) -> None:
    """A status change (admin PATCH) and a new order are emitted; the rest are not."""
    changed = add_order(emu, timedelta(hours=30))
    add_order(emu, timedelta(hours=20))
    conn = connect(emu)
    cursor = final_cursor(list(conn.read_changes("orders", None)))
    emu.admin_patch("orders", changed, {"status": "confirmed"})
    new = add_order(emu, timedelta(0))
    pages = list(conn.read_changes("orders", cursor))
    assert emitted(pages) == {changed, new}
    record = next(r for p in pages for r in p.records if r.key == changed)
    assert record.fields["status"] == "confirmed" and record.updated_at is not None


def test_rescan_starts_overlap_before_the_newest_order(emu: B2ConnectEmulator) -> None:
    """The next rescan asks for fromDate = newest createdAt - overlap."""
    add_order(emu, timedelta(hours=1))
    urls: list[str] = []
    session = requests.Session()
    session.hooks["response"].append(lambda r, *a, **k: urls.append(r.url))
    conn = connect(emu, orders_overlap=timedelta(days=2), session=session)
    cursor = final_cursor(list(conn.read_changes("orders", None)))
    list(conn.read_changes("orders", cursor))
    expected = (NOW - timedelta(hours=1, days=2)).strftime("%Y-%m-%dT%H:%M:%S")
    assert "fromDate" not in urls[0]
    assert f"fromDate={expected}" in unquote(urls[1])


def test_memory_keeps_only_the_overlap_window(emu: B2ConnectEmulator) -> None:
    """The cursor remembers orders inside the window only; older changes need --full."""
    recent = add_order(emu, timedelta(hours=1))
    old = add_order(emu, timedelta(days=10))
    conn = connect(emu)
    cursor = final_cursor(list(conn.read_changes("orders", None)))
    assert set(cursor["seen"]) == {recent}
    emu.admin_patch("orders", old, {"status": "confirmed"})
    assert emitted(list(conn.read_changes("orders", cursor))) == set()
    assert old in emitted(list(conn.read_changes("orders", None)))


def test_cursor_advances_only_after_the_whole_rescan(emu: B2ConnectEmulator) -> None:
    """Pages before the last carry the old cursor; a crash mid-rescan re-reads it all."""
    for h in (1, 2, 3):
        add_order(emu, timedelta(hours=h))
    conn = connect(emu, orders_page_size=1)
    pages = list(conn.read_changes("orders", None))
    assert [p.cursor for p in pages[:-1]] == [None, None]
    assert [p.has_more for p in pages] == [True, True, False]
    first = next(iter(conn.read_changes("orders", None)))
    assert len(emitted(list(conn.read_changes("orders", first.cursor)))) == 3


def test_orders_read_counts_calls_like_the_emulator(emu: B2ConnectEmulator) -> None:
    """The connector's call counter agrees with the emulator's for a rescan."""
    for h in (1, 2):
        add_order(emu, timedelta(hours=h))
    conn = connect(emu, orders_page_size=1)
    list(conn.read_changes("orders", None))
    assert conn.calls == emu.calls


@responses.activate
def test_malformed_listing_is_fatal() -> None:
    """A listing without items/totalPages stops the pipeline."""
    responses.get("http://b2c.test/api/v1/orders", json={"data": []})
    conn = B2ConnectConnector(url="http://b2c.test", token="t", tenant_id="t", mode="orders_api")
    with pytest.raises(Fatal, match="'items' is missing"):
        list(conn.read_changes("orders", None))


@responses.activate
def test_order_without_updated_at_is_an_invalid_record() -> None:
    """An order lacking updatedAt is yielded as invalid:<n> for dead-lettering."""
    listing = {
        "items": [{"id": "o1", "createdAt": "2026-01-01T00:00:00Z"}],
        "totalCount": 1,
        "page": 1,
        "pageSize": 100,
        "totalPages": 1,
    }
    responses.get("http://b2c.test/api/v1/orders", json=listing)
    conn = B2ConnectConnector(url="http://b2c.test", token="t", tenant_id="t", mode="orders_api")
    [page] = list(conn.read_changes("orders", None))
    assert page.records[0].key == "invalid:1"
    assert page.records[0].fields["id"] == "o1"
