"""B2Connect webhooks against a running `b2sync run`: real-time sync, forgeries, replays."""

from __future__ import annotations

import uuid

from tests.daemon.conftest import DaemonProcess, first_names, synced_customer, wait_for


def _webhook_runs(daemon: DaemonProcess, pipeline: str) -> int:
    return sum(1 for r in daemon.runs() if r["pipeline"] == pipeline and r["trigger"] == "webhook")


def test_webhook_makes_a_shopper_edit_appear_in_both_crms(daemon: DaemonProcess) -> None:
    """A signed B2Connect webhook triggers runs that carry the edit to HubSpot and Salesforce."""
    customer = synced_customer(daemon)
    daemon.stack.b2connect.admin_patch("customers", customer["id"], {"firstName": "Webhooked"})
    wait_for(
        lambda: first_names(daemon, customer["id"]) == ("Webhooked", "Webhooked"),
        30,
        "the edit in both CRMs",
    )
    assert _webhook_runs(daemon, "customers-to-hubspot") >= 1


def test_forged_signature_is_refused_and_triggers_nothing(daemon: DaemonProcess) -> None:
    """A webhook signed with the wrong secret gets 401 and starts no run."""
    event = {"eventType": "customer.updated", "tenantId": "x", "occurredAt": "now", "data": {}}
    answer = daemon.post_b2connect(event, event_id=str(uuid.uuid4()), secret="not-the-secret")
    assert answer.status_code == 401
    sentinel = {"eventType": "company.updated", "tenantId": "", "occurredAt": "now", "data": {}}
    assert daemon.post_b2connect(sentinel, event_id=str(uuid.uuid4())).status_code == 202
    wait_for(lambda: _webhook_runs(daemon, "companies-to-salesforce"), 30, "the sentinel run")
    wait_for(daemon.all_synced, 30, "idle")
    assert _webhook_runs(daemon, "customers-to-hubspot") == 0


def test_replayed_event_id_is_rejected(daemon: DaemonProcess) -> None:
    """The same signed delivery sent twice is accepted once, then refused with 409."""
    event = {"eventType": "order.updated", "tenantId": "", "occurredAt": "now", "data": {}}
    body, headers = daemon.signed_b2connect(event, event_id=str(uuid.uuid4()))
    first = daemon.post_raw("/webhooks/b2connect", body, headers)
    again = daemon.post_raw("/webhooks/b2connect", body, headers)
    assert first.status_code == 202
    assert first.json()["pipelines"] == ["orders-to-hubspot", "orders-to-salesforce"]
    assert again.status_code == 409
    assert again.json()["pipelines"] == []


def test_oversized_body_is_refused(daemon: DaemonProcess) -> None:
    """A webhook body over 1 MiB is answered 413 without being read."""
    answer = daemon.http.post(
        f"{daemon.url}/webhooks/b2connect", data=b"x" * (1024 * 1024 + 1), timeout=10
    )
    assert answer.status_code == 413
