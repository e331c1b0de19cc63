"""B2Connect emulator: signed outgoing webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import random

import requests

from emulators.b2connect import B2ConnectEmulator, sign
from tests.fixtures.b2connect import WebhookSink


def _verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does: HMAC-SHA256 over "<timestamp>.<body>", constant-time compare."""
    mac = hmac.new(
        secret.encode(), headers["x-b2connect-timestamp"].encode() + b"." + body, hashlib.sha256
    )
    return hmac.compare_digest(headers["x-b2connect-signature"], "sha256=" + mac.hexdigest())


def test_admin_edit_sends_signed_webhook(
    b2connect_emulator: B2ConnectEmulator, b2connect_webhook_sink: WebhookSink
) -> None:
    """An admin edit of a customer is pushed as customer.updated, correctly signed."""
    b2connect_emulator.webhook_url = b2connect_webhook_sink.url
    cust = b2connect_emulator.admin_list("customers")[0]
    b2connect_emulator.admin_patch("customers", cust["id"], {"firstName": "Änne"})
    headers, body = b2connect_webhook_sink.next()
    assert _verify(b2connect_emulator.webhook_secret, headers, body)
    event = json.loads(body)
    assert set(event) == {"eventId", "eventType", "tenantId", "occurredAt", "data"}
    assert event["eventType"] == "customer.updated"
    assert event["tenantId"] == b2connect_emulator.tenant_id
    assert event["data"]["firstName"] == "Änne"
    assert headers["x-b2connect-event-id"] == event["eventId"]
    assert headers["x-b2connect-timestamp"].isdigit()


def test_signature_helper_matches_receiver_check() -> None:
    """sign() produces sha256=<hex HMAC of timestamp.body>."""
    expected = hmac.new(b"s3cret", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert sign("s3cret", "1700000000", b"{}") == f"sha256={expected}"


def test_tampered_body_fails_verification(
    b2connect_emulator: B2ConnectEmulator, b2connect_webhook_sink: WebhookSink
) -> None:
    """A changed byte breaks the signature (the receiver must use the raw body)."""
    b2connect_emulator.webhook_url = b2connect_webhook_sink.url
    b2connect_emulator.admin_create("customers", {"email": "signiert@example.com"})
    headers, body = b2connect_webhook_sink.next()
    assert json.loads(body)["eventType"] == "customer.created"
    assert not _verify(b2connect_emulator.webhook_secret, headers, body.replace(b"signiert", b"x"))


def test_delete_event_carries_keys_only(
    b2connect_emulator: B2ConnectEmulator, b2connect_webhook_sink: WebhookSink
) -> None:
    """customer.deleted reveals only id and tenantId."""
    b2connect_emulator.webhook_url = b2connect_webhook_sink.url
    cust = b2connect_emulator.admin_list("customers")[0]
    b2connect_emulator.admin_patch("customers", cust["id"], {"deleted": True})
    event = json.loads(b2connect_webhook_sink.next()[1])
    assert event["eventType"] == "customer.deleted"
    assert event["data"] == {"id": cust["id"], "tenantId": b2connect_emulator.tenant_id}


def test_failed_delivery_is_retried_with_same_event_id(
    b2connect_emulator: B2ConnectEmulator, b2connect_webhook_sink: WebhookSink
) -> None:
    """A 500 answer is retried; the retry keeps the event id."""
    b2connect_webhook_sink.statuses = [500]
    b2connect_emulator.webhook_url = b2connect_webhook_sink.url
    b2connect_emulator.webhooks.backoff_s = 0.01
    try:
        cust = b2connect_emulator.admin_list("customers")[0]
        b2connect_emulator.admin_patch("customers", cust["id"], {"lastName": "Zweiter"})
        first_headers, _ = b2connect_webhook_sink.next()
        second_headers, body = b2connect_webhook_sink.next()
    finally:
        b2connect_emulator.webhooks.backoff_s = 0.5
    assert first_headers["x-b2connect-event-id"] == second_headers["x-b2connect-event-id"]
    assert _verify(b2connect_emulator.webhook_secret, second_headers, body)
    assert b2connect_emulator.flush_webhooks(timeout=10)
    delivery = b2connect_emulator.webhooks.deliveries[-1]
    assert (delivery["attempts"], delivery["status"], delivery["delivered"]) == (2, 200, True)


def test_write_backs_send_no_webhook(
    b2connect_emulator: B2ConnectEmulator,
    b2connect_session: requests.Session,
    b2connect_webhook_sink: WebhookSink,
) -> None:
    """The integration's own PATCH is not echoed; the next admin edit is."""
    b2connect_emulator.webhook_url = b2connect_webhook_sink.url
    a, b = b2connect_emulator.admin_list("customers")[:2]
    b2connect_session.patch(
        f"{b2connect_emulator.url}/api/crm/customers/{a['id']}",
        json={"mobile": "0170 1"},
        timeout=10,
    ).raise_for_status()
    b2connect_emulator.admin_patch("customers", b["id"], {"mobile": "0170 2"})
    event = json.loads(b2connect_webhook_sink.next()[1])
    assert event["data"]["id"] == b["id"]
    assert b2connect_emulator.flush_webhooks(timeout=10)
    assert b2connect_webhook_sink.received.empty()


def test_shopper_simulation_sends_events(
    b2connect_emulator: B2ConnectEmulator, b2connect_webhook_sink: WebhookSink
) -> None:
    """simulate_shoppers changes records and pushes one webhook per change."""
    b2connect_emulator.webhook_url = b2connect_webhook_sink.url
    events = b2connect_emulator.simulate_shoppers(random.Random(5), 15)
    assert len(events) == 15
    assert b2connect_emulator.flush_webhooks(timeout=10)
    types = set()
    while not b2connect_webhook_sink.received.empty():
        types.add(json.loads(b2connect_webhook_sink.next()[1])["eventType"])
    assert types & {"order.created", "order.updated"}
    assert types <= {
        "customer.created",
        "customer.updated",
        "order.created",
        "order.updated",
        "consent.changed",
        "erasure.requested",
    }


def test_admin_webhook_log(
    b2connect_emulator: B2ConnectEmulator, b2connect_webhook_sink: WebhookSink
) -> None:
    """/_emulator/webhooks lists delivery outcomes."""
    b2connect_emulator.webhook_url = b2connect_webhook_sink.url
    b2connect_emulator.admin_create("companies", {"name": "Zweirad Huber OG"})
    assert b2connect_emulator.flush_webhooks(timeout=10)
    log = requests.get(f"{b2connect_emulator.url}/_emulator/webhooks", timeout=10).json()
    assert log[-1]["eventType"] == "company.created"
    assert log[-1]["delivered"] is True
