"""Erasure intake from webhooks: signed B2Connect erasure.requested and HubSpot
contact.privacyDeletion deliveries reach the daemon's erasure inbox; forged ones do not."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hubspot.utils.signature import Signature

from b2sync.service import build_app
from connectors.b2connect import sign_webhook
from consent.erasure.model import Origin
from consent.erasure.sources import IntakeItem, b2connect_webhook_erasures
from mapping.config import Config, parse_config
from tests.daemon.conftest import daemon_config_text
from tests.daemon.fake_service import FakeService

NOW = 1_790_000_000.0
B2_SECRET = "b2-secret"
HS_SECRET = "hs-secret"
TENANT = "11111111-2222-3333-4444-555555555555"
URI = "http://127.0.0.1/webhooks/hubspot"


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("B2SYNC_B2CONNECT_WEBHOOK_SECRET", B2_SECRET)
    monkeypatch.setenv("B2SYNC_HUBSPOT_APP_SECRET", HS_SECRET)
    monkeypatch.setenv("B2SYNC_B2CONNECT_TENANT_ID", TENANT)
    return parse_config(daemon_config_text(), "config.yaml")


def _post(service: FakeService, path: str, body: bytes, headers: dict[str, str]) -> int:
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http", "method": "POST", "path": path, "raw_path": path.encode(),
        "query_string": b"", "root_path": "", "scheme": "http", "server": ("127.0.0.1", 80),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }  # fmt: skip

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(build_app(service)(scope, receive, send))
    return int(sent[0]["status"])


def _shop_event(status: str = "pending", origin: str = "b2connect") -> bytes:
    data = {"id": "er-1", "subjectId": "c-1", "email": "Ada@Example.com", "status": status,
            "origin": origin, "requestedAt": "2026-09-01T10:00:00Z"}  # fmt: skip
    event = {"eventType": "erasure.requested", "tenantId": TENANT, "data": data}
    return json.dumps(event).encode()


def _b2_headers(body: bytes, secret: str = B2_SECRET) -> dict[str, str]:
    stamp = str(int(NOW))
    return {
        "X-B2Connect-Timestamp": stamp,
        "X-B2Connect-Signature": sign_webhook(secret, stamp, body),
        "X-B2Connect-Event-Id": "evt-1",
    }


def test_b2connect_erasure_requested_reaches_the_inbox(config: Config) -> None:
    """The shop's request arrives with its id, person, tenant and request time."""
    service = FakeService(config, now=lambda: NOW)
    body = _shop_event()
    assert _post(service, "/webhooks/b2connect", body, _b2_headers(body)) == 202
    [item] = service.erasures
    assert isinstance(item, IntakeItem) and item.origin is Origin.B2CONNECT
    assert (item.external_ref, item.ids.customer_id, item.ids.email) == (
        "er-1", "c-1", "ada@example.com"
    )  # fmt: skip
    assert item.tenant == TENANT and item.requested_at is not None


def test_forged_erasure_webhook_files_nothing(config: Config) -> None:
    """A delivery signed with another secret is 401 and reaches no inbox."""
    service = FakeService(config, now=lambda: NOW)
    body = _shop_event()
    assert _post(service, "/webhooks/b2connect", body, _b2_headers(body, "wrong")) == 401
    assert service.erasures == []


def test_our_own_crm_requests_and_finished_ones_are_ignored() -> None:
    """Requests b2sync filed for a CRM (origin crm) or already final are not new work."""
    for body in (_shop_event(origin="crm"), _shop_event(status="completed")):
        assert b2connect_webhook_erasures(json.loads(body)) == []


def test_hubspot_privacy_deletion_reaches_the_inbox(config: Config) -> None:
    """contact.privacyDeletion names the HubSpot contact id to erase elsewhere."""
    service = FakeService(config, now=lambda: NOW)
    body = json.dumps(
        [{"eventId": 9, "subscriptionType": "contact.privacyDeletion", "objectId": 501}]
    ).encode()
    stamp = str(int(NOW * 1000))
    signature = Signature.get_signature(
        HS_SECRET, body.decode(), "v3", http_uri=URI, http_method="POST", timestamp=stamp
    )
    headers = {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": stamp}
    assert _post(service, "/webhooks/hubspot", body, headers) == 202
    [item] = service.erasures
    assert item.origin is Origin.HUBSPOT and item.ids.crm_ids == {"hubspot": "501"}
