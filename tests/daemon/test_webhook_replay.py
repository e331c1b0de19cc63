"""A captured B2Connect delivery cannot be replayed — not by re-sending it, not by
changing its unsigned event-id header, not after a daemon restart; stale ones are refused."""

from __future__ import annotations

import time
import uuid
from typing import Any

from tests.daemon.conftest import DaemonProcess


def _order_event() -> dict[str, Any]:
    return {"eventId": str(uuid.uuid4()), "eventType": "order.updated", "tenantId": "",
            "occurredAt": "2026-12-06T20:00:00Z", "data": {}}  # fmt: skip


def test_captured_delivery_cannot_be_replayed(daemon: DaemonProcess) -> None:
    """Re-sent as is, with a new X-B2Connect-Event-Id, or after a restart: 409 every time."""
    event = _order_event()
    body, headers = daemon.signed_b2connect(event, event_id="header-1")
    first = daemon.post_raw("/webhooks/b2connect", body, headers)
    assert first.status_code == 202
    assert first.json()["pipelines"] == ["orders-to-hubspot", "orders-to-salesforce"]
    again = daemon.post_raw("/webhooks/b2connect", body, headers)
    assert (again.status_code, again.json()["pipelines"]) == (409, [])
    renamed = daemon.post_raw(
        "/webhooks/b2connect", body, {**headers, "X-B2Connect-Event-Id": str(uuid.uuid4())}
    )
    assert (renamed.status_code, renamed.json()["pipelines"]) == (409, [])
    assert daemon.stop() == 0
    daemon.start()
    after_restart = daemon.post_raw("/webhooks/b2connect", body, headers)
    assert (after_restart.status_code, after_restart.json()["pipelines"]) == (409, [])


def test_stale_delivery_is_refused(daemon: DaemonProcess) -> None:
    """A correctly signed delivery whose signed timestamp is over five minutes old is 401."""
    event = _order_event()
    body, headers = daemon.signed_b2connect(event, event_id="x", at=time.time() - 301)
    answer = daemon.post_raw("/webhooks/b2connect", body, headers)
    assert (answer.status_code, answer.json()["status"]) == (401, "stale or missing timestamp")


def test_senders_retry_of_a_received_event_changes_nothing(daemon: DaemonProcess) -> None:
    """B2Connect re-signs a retry: the same signed event id with a new signature is answered
    200 (so the sender stops retrying) and makes nothing due a second time."""
    event = _order_event()
    body, headers = daemon.signed_b2connect(event, event_id="a", at=time.time() - 5)
    assert daemon.post_raw("/webhooks/b2connect", body, headers).status_code == 202
    body, headers = daemon.signed_b2connect(event, event_id="a")
    retry = daemon.post_raw("/webhooks/b2connect", body, headers)
    assert (retry.status_code, retry.json()["pipelines"]) == (200, [])
