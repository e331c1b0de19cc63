"""HubSpot emulator: outgoing webhooks, v3 signatures, batching and retries."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import hubspot
import pytest
from hubspot.crm.contacts import PublicGdprDeleteInput
from hubspot.utils.signature import Signature

from emulators.hubspot import HubSpotEmulator
from tests.fixtures.hubspot import hubspot_client_for

SECRET = "receiver-secret"


class Receiver:
    """A tiny webhook endpoint recording requests; answers ``statuses`` in turn, then 204."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                outer.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                self.send_response(outer.statuses.pop(0) if outer.statuses else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hubspot/webhooks"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def events(self) -> list[dict[str, Any]]:
        return [e for r in self.requests for e in json.loads(r["body"])]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running webhook receiver."""
    rec = Receiver()
    yield rec
    rec.close()


@pytest.fixture
def emu(
    hubspot_emulator_factory: Callable[..., HubSpotEmulator], receiver: Receiver
) -> HubSpotEmulator:
    """An emulator that posts webhooks to :func:`receiver`."""
    return hubspot_emulator_factory(app_secret=SECRET, webhook_url=receiver.url, portal_id=77)


def test_admin_patch_sends_signed_property_change(emu: HubSpotEmulator, receiver: Receiver) -> None:
    """A CRM-user edit posts a contact.propertyChange that Signature.is_valid accepts."""
    rec = emu.admin_create("contacts", {"properties": {"email": "w@example.com"}})
    assert emu.flush_webhooks()
    receiver.requests.clear()
    emu.admin_patch("contacts", rec["id"], {"properties": {"firstname": "Wanda"}})
    assert emu.flush_webhooks()
    request = receiver.requests[0]
    headers = request["headers"]
    assert headers["X-HubSpot-Signature-Version"] == "v3"
    assert Signature.is_valid(
        signature=headers["X-HubSpot-Signature-v3"],
        client_secret=SECRET,
        request_body=request["body"],
        http_uri=receiver.url,
        http_method="POST",
        signature_version="v3",
        timestamp=headers["X-HubSpot-Request-Timestamp"],
    )
    (event,) = json.loads(request["body"])
    assert event["subscriptionType"] == "contact.propertyChange"
    assert (event["propertyName"], event["propertyValue"]) == ("firstname", "Wanda")
    assert event["objectId"] == int(rec["id"]) and event["portalId"] == 77
    assert event["changeSource"] == "CRM_UI" and event["attemptNumber"] == 0
    assert {"eventId", "subscriptionId", "appId", "occurredAt"} <= set(event)


def test_admin_create_sends_creation(emu: HubSpotEmulator, receiver: Receiver) -> None:
    """A CRM-user create posts contact.creation (plus property changes) in one batch."""
    emu.admin_create("contacts", {"properties": {"email": "c@example.com", "firstname": "C"}})
    assert emu.flush_webhooks()
    types = [e["subscriptionType"] for e in receiver.events()]
    assert types[0] == "contact.creation" and receiver.events()[0]["changeFlag"] == "CREATED"
    assert types.count("contact.propertyChange") == 2
    assert len(receiver.requests) == 1


def test_orders_use_generic_object_events(emu: HubSpotEmulator, receiver: Receiver) -> None:
    """Orders produce object.* events with objectTypeId 0-123."""
    emu.admin_create("orders", {"properties": {"hs_order_name": "#5"}})
    assert emu.flush_webhooks()
    event = receiver.events()[0]
    assert event["subscriptionType"] == "object.creation" and event["objectTypeId"] == "0-123"


def test_api_writes_do_not_send_but_deletes_do(emu: HubSpotEmulator, receiver: Receiver) -> None:
    """The integration's own creates are silent; its archive sends contact.deletion."""
    client = hubspot_client_for(emu)
    rec = client.crm.contacts.basic_api.create(
        hubspot.crm.contacts.SimplePublicObjectInputForCreate(
            properties={"email": "api@example.com"}
        )
    )
    assert emu.flush_webhooks()
    assert receiver.requests == []
    client.crm.contacts.basic_api.archive(rec.id)
    assert emu.flush_webhooks()
    assert [e["subscriptionType"] for e in receiver.events()] == ["contact.deletion"]
    assert receiver.events()[0]["changeSource"] == "INTEGRATION"


def test_gdpr_delete_sends_privacy_deletion_and_deletion(
    emu: HubSpotEmulator, receiver: Receiver
) -> None:
    """GDPR delete fires contact.privacyDeletion and contact.deletion."""
    client = hubspot_client_for(emu)
    rec = client.crm.contacts.basic_api.create(
        hubspot.crm.contacts.SimplePublicObjectInputForCreate(properties={"email": "p@example.com"})
    )
    client.crm.contacts.basic_api.purge(PublicGdprDeleteInput(object_id=rec.id))
    assert emu.flush_webhooks()
    assert [e["subscriptionType"] for e in receiver.events()] == [
        "contact.privacyDeletion",
        "contact.deletion",
    ]


def test_failures_are_retried_with_attempt_number(emu: HubSpotEmulator, receiver: Receiver) -> None:
    """A 500 then 503 are retried; attemptNumber counts up and the event id stays."""
    receiver.statuses = [500, 503]
    emu.admin_create("companies", {"properties": {}})
    assert emu.flush_webhooks()
    attempts = [json.loads(r["body"])[0] for r in receiver.requests]
    assert [a["attemptNumber"] for a in attempts] == [0, 1, 2]
    assert len({a["eventId"] for a in attempts}) == 1
    assert attempts[0]["subscriptionType"] == "company.creation"
    assert [d.status for d in emu.webhook_deliveries] == [500, 503, 204]


def test_client_errors_are_not_retried(emu: HubSpotEmulator, receiver: Receiver) -> None:
    """A 400 answer is final."""
    receiver.statuses = [400]
    emu.admin_create("deals", {"properties": {"dealname": "D"}})
    assert emu.flush_webhooks()
    assert len(receiver.requests) == 1


def test_batches_hold_at_most_100_events(emu: HubSpotEmulator, receiver: Receiver) -> None:
    """Many queued events go out as JSON arrays of up to 100."""
    assert emu.webhooks is not None
    emu.webhooks.hold()
    for _ in range(120):
        emu.admin_create("line_items", {"properties": {}})
    emu.webhooks.release()
    assert emu.flush_webhooks()
    sizes = [len(json.loads(r["body"])) for r in receiver.requests]
    assert sum(sizes) == 120 and max(sizes) == 100


def test_api_writes_send_when_enabled(emu: HubSpotEmulator, receiver: Receiver) -> None:
    """With webhook_api_changes on, the integration's own writes send INTEGRATION events."""
    emu.webhook_api_changes = True
    client = hubspot_client_for(emu)
    client.crm.contacts.basic_api.create(
        hubspot.crm.contacts.SimplePublicObjectInputForCreate(properties={"email": "i@example.com"})
    )
    assert emu.flush_webhooks()
    assert {e["changeSource"] for e in receiver.events()} == {"INTEGRATION"}


def test_unsubscribe_in_hubspot_sends_optout_change(
    emu: HubSpotEmulator, receiver: Receiver
) -> None:
    """A person opting out in HubSpot changes hs_email_optout and sends a propertyChange."""
    emu.admin_create("contacts", {"properties": {"email": "out@example.com"}})
    assert emu.flush_webhooks()
    receiver.requests.clear()
    emu.admin_patch("subscriptions", "out@example.com", {"unsubscribeAll": True})
    assert emu.flush_webhooks()
    changes = {e["propertyName"]: e["propertyValue"] for e in receiver.events()}
    assert changes["hs_email_optout"] == "true"
