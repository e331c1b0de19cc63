"""Webhooks cannot cross tenants or portals, and cannot be replayed — attacks made
with correctly signed deliveries against a running `b2sync run` (two B2Connect tenants)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from emulators.hubspot import sign_v3
from emulators.stack import EmulatorStack
from tests.daemon.conftest import DaemonProcess, daemon_config_text, fresh, wait_for

TENANT_B = "bbbbbbbb-0000-4000-8000-00000000000b"
SECRET_B = "tenant-b-webhook-secret"
#: a second tenant's connection (same emulator; its own secret), and the portal HubSpot is
SHOP_B = f"""  shop_b:
    type: b2connect
    url: ${{B2SYNC_B2CONNECT_URL}}
    token: ${{B2SYNC_B2CONNECT_TOKEN}}
    tenant_id: "{TENANT_B}"
    webhook_secret: ${{B2SYNC_TEST_SHOP_B_SECRET}}
    mode: orders_api
  hubspot:
"""
PORTAL = "4242"


def two_tenant_config(portal: bool) -> str:
    text = daemon_config_text().replace("  hubspot:\n", SHOP_B, 1)
    if not portal:
        return text
    return text.replace(
        "    app_secret: ${B2SYNC_HUBSPOT_APP_SECRET}\n",
        f'    app_secret: ${{B2SYNC_HUBSPOT_APP_SECRET}}\n    portal_id: "{PORTAL}"\n',
        1,
    )


@contextmanager
def _two_tenants(stack: EmulatorStack, tmp_path: Path, portal: bool) -> Iterator[DaemonProcess]:
    fresh(stack)
    proc = DaemonProcess(
        stack, tmp_path, config_text=two_tenant_config(portal),
        extra_env={"B2SYNC_TEST_SHOP_B_SECRET": SECRET_B},
    )  # fmt: skip
    try:
        proc.start()
        wait_for(proc.all_synced, 60, "the first backfill")
        yield proc
    finally:
        proc.close()


@pytest.fixture
def daemon(stack: EmulatorStack, tmp_path: Path) -> Iterator[DaemonProcess]:
    """A backfilled daemon serving tenant A (``shop``) and tenant B (``shop_b``)."""
    with _two_tenants(stack, tmp_path, portal=False) as proc:
        yield proc


@pytest.fixture
def portal_daemon(stack: EmulatorStack, tmp_path: Path) -> Iterator[DaemonProcess]:
    """The same, its HubSpot connection bound to the emulator's portal."""
    with _two_tenants(stack, tmp_path, portal=True) as proc:
        yield proc


def _rows(daemon: DaemonProcess, sql: str, **params: Any) -> list[dict[str, Any]]:
    with daemon.db.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]


def _erasure(tenant: str, email: str) -> dict[str, Any]:
    ref = f"er-{uuid.uuid4().hex[:12]}"
    data = {"id": ref, "email": email, "status": "pending", "origin": "b2connect"}
    return {"eventId": str(uuid.uuid4()), "eventType": "erasure.requested", "tenantId": tenant,
            "occurredAt": "2026-12-06T20:00:00Z", "data": data}  # fmt: skip


def _requests(daemon: DaemonProcess, origin: str, ref: str | None = None) -> list[str]:
    """Tenants of the requests of ``origin`` (and shop reference ``ref``) b2sync filed."""
    rows = _rows(
        daemon,
        "SELECT r.tenant_id, s.external_ref FROM erasure_requests r"
        " JOIN erasure_subjects s ON s.request_id = r.id WHERE s.origin = :origin",
        origin=origin,
    )
    return [r["tenant_id"] for r in rows if ref is None or r["external_ref"] == ref]


def _refusals(daemon: DaemonProcess) -> list[dict[str, Any]]:
    rows = _rows(daemon, "SELECT * FROM audit_events WHERE action = 'webhook.refused'")
    return [{**r, "details": json.loads(r["details"])} for r in rows]


def test_tenant_b_secret_cannot_erase_a_tenant_a_customer(daemon: DaemonProcess) -> None:
    """A delivery signed with tenant B's secret naming tenant A is refused (403), files no
    erasure anywhere, and the refusal is in the audit trail of tenant B."""
    tenant_a = daemon.stack.b2connect.tenant_id
    victim = daemon.stack.b2connect.admin_list("customers")[0]["email"]
    event = _erasure(tenant_a, victim)
    body, headers = daemon.signed_b2connect(event, event_id=event["eventId"], secret=SECRET_B)
    answer = daemon.post_raw("/webhooks/b2connect", body, headers)
    assert (answer.status_code, answer.json()["status"]) == (403, "tenant mismatch")
    # the same delivery aimed at tenant A's own route does not verify with B's secret either
    assert daemon.post_raw("/webhooks/b2connect/shop", body, headers).status_code == 401
    refusals = wait_for(lambda: _refusals(daemon), 10, "the audited refusal")
    assert [r["tenant_id"] for r in refusals] == [TENANT_B]
    assert refusals[0]["details"]["claimed"] == tenant_a
    assert _requests(daemon, "b2connect", event["data"]["id"]) == []
    assert _rows(daemon, "SELECT id FROM erasure_inbox") == []


def test_erasure_is_filed_for_the_tenant_of_the_verifying_secret(daemon: DaemonProcess) -> None:
    """The right tenant's secret and route file the request for that tenant only."""
    tenant_a = daemon.stack.b2connect.tenant_id
    email = f"ghost-{uuid.uuid4().hex[:8]}@example.com"
    event = _erasure(tenant_a, email)
    body, headers = daemon.signed_b2connect(event, event_id=event["eventId"])
    assert daemon.post_raw("/webhooks/b2connect/shop", body, headers).status_code == 202
    ref = event["data"]["id"]
    tenants = wait_for(lambda: _requests(daemon, "b2connect", ref), 30, "the filed request")
    assert tenants == [tenant_a]


def _hubspot_post(daemon: DaemonProcess, events: list[dict[str, Any]]) -> Any:
    body = json.dumps(events)
    stamp = str(int(time.time() * 1000))
    uri = f"{daemon.url}/webhooks/hubspot"
    secret = daemon.stack.env()["B2SYNC_HUBSPOT_APP_SECRET"]
    headers = {
        "Content-Type": "application/json",
        "X-HubSpot-Request-Timestamp": stamp,
        "X-HubSpot-Signature-v3": sign_v3(secret, "POST", uri, body, stamp),
    }
    return daemon.post_raw("/webhooks/hubspot", body.encode(), headers)


def _privacy_deletion(portal: str, contact_id: str) -> dict[str, Any]:
    return {"eventId": int(time.time() * 1000) % 10**9, "subscriptionType": "contact.privacyDeletion",
            "portalId": int(portal), "objectId": int(contact_id), "occurredAt": 1}  # fmt: skip


def test_hubspot_privacy_deletion_of_another_portal_is_refused(
    portal_daemon: DaemonProcess,
) -> None:
    """A correctly signed privacy deletion from a portal other than the connection's is 403
    and audited; the same event from the connection's portal is filed for its tenant."""
    daemon = portal_daemon
    contact = daemon.stack.hubspot.admin_list("contacts")[0]
    foreign = _hubspot_post(daemon, [_privacy_deletion("9999", contact["id"])])
    assert (foreign.status_code, foreign.json()["status"]) == (403, "portal mismatch")
    refusals = wait_for(lambda: _refusals(daemon), 10, "the audited refusal")
    assert refusals[0]["details"]["claimed"] == "9999"
    assert _rows(daemon, "SELECT id FROM erasure_inbox") == []
    assert _requests(daemon, "hubspot") == []
    own = _hubspot_post(daemon, [_privacy_deletion(PORTAL, contact["id"])])
    assert own.status_code == 202
    tenants = wait_for(lambda: _requests(daemon, "hubspot"), 30, "the filed request")
    assert tenants == [daemon.stack.b2connect.tenant_id]
