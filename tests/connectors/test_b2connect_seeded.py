"""B2Connect connector against the shared, seeded emulator fixtures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from connectors.b2connect import B2ConnectConnector
from emulators.b2connect import DEFAULT_WEBHOOK_SECRET, B2ConnectEmulator
from tests.fixtures.b2connect import WebhookSink

ENTITIES = ("customers", "companies", "orders", "consents", "erasures")


def connect(emu: B2ConnectEmulator, **kw: Any) -> B2ConnectConnector:
    return B2ConnectConnector(url=emu.url, token=emu.token_for(), tenant_id=emu.tenant_id, **kw)


@pytest.mark.parametrize("entity", ENTITIES)
def test_full_read_returns_every_seeded_record(
    b2connect_emulator: B2ConnectEmulator, entity: str
) -> None:
    """Reading a feed to its end yields a record for every seeded record of that entity."""
    pages = list(connect(b2connect_emulator, batch_size=7).read_changes(entity, None))
    seen = {r.key for p in pages for r in p.records}
    assert seen == {rec["id"] for rec in b2connect_emulator.admin_list(entity)}
    assert not any(r.key.startswith("invalid:") for p in pages for r in p.records)


def test_orders_api_first_run_then_only_the_changed_order(
    b2connect_emulator: B2ConnectEmulator,
) -> None:
    """orders_api reads all seeded orders once; after an admin edit only that order."""
    emu = b2connect_emulator
    conn = connect(emu, mode="orders_api", orders_page_size=25)
    first = list(conn.read_changes("orders", None))
    live = [o for o in emu.admin_list("orders") if not o.get("deleted")]
    assert {r.key for p in first for r in p.records} == {o["id"] for o in live}
    cursor = first[-1].cursor
    assert [r for p in conn.read_changes("orders", cursor) for r in p.records] == []
    newest = max(live, key=lambda o: o["createdAt"])
    emu.admin_patch("orders", newest["id"], {"notes": "gift wrap"})
    again = [r for p in conn.read_changes("orders", cursor) for r in p.records]
    assert [r.key for r in again] == [newest["id"]]


def test_orders_api_window_follows_the_newest_order(b2connect_emulator: B2ConnectEmulator) -> None:
    """The cursor's memory holds only orders created within the overlap of the newest."""
    conn = connect(b2connect_emulator, mode="orders_api", orders_overlap=timedelta(days=3))
    cursor = list(conn.read_changes("orders", None))[-1].cursor
    assert cursor is not None
    live = [o for o in b2connect_emulator.admin_list("orders") if not o.get("deleted")]
    assert 0 < len(cursor["seen"]) < len(live)


def test_webhook_delivery_verifies(
    b2connect_emulator: B2ConnectEmulator, b2connect_webhook_sink: WebhookSink
) -> None:
    """A real signed delivery from the emulator verifies with the webhook secret."""
    emu = b2connect_emulator
    emu.webhook_url = b2connect_webhook_sink.url
    customer = emu.admin_list("customers")[0]
    emu.admin_patch("customers", customer["id"], {"firstName": "Webhook"})
    headers, body = b2connect_webhook_sink.next()
    stamp, sig = headers["x-b2connect-timestamp"], headers["x-b2connect-signature"]
    conn = connect(emu, webhook_secret=DEFAULT_WEBHOOK_SECRET)
    assert conn.verify_webhook(stamp, body, sig, now=int(stamp) + 1)
    assert not conn.verify_webhook(stamp, body.replace(b"Webhook", b"Webhoof"), sig, now=int(stamp))
