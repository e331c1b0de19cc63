"""Issue 18: the webhook intake records a delivery durably and answers it while another writer
holds the store's one SQLite write transaction (a backfill's batch commit, a consent run, a
`b2sync sync` beside the daemon). B2Connect delivers its webhooks one at a time, so a delivery
that waited for that lock held back every delivery behind it. The receipt goes to the intake
journal; a replay of the delivery is refused (it was recorded). Ordering, never timing."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime

from tests.daemon.conftest import DaemonProcess, wait_for
from tests.e2e.conftest import by_key


def _in_both_crms(daemon: DaemonProcess, key: str) -> bool:
    hubspot = by_key(daemon.stack.hubspot.admin_list("contacts"), "b2connect_id")
    salesforce = by_key(daemon.stack.salesforce.admin_list("Contact"), "B2Connect_Id__c")
    return len(hubspot.get(key, [])) == 1 and len(salesforce.get(key, [])) == 1


def test_a_webhook_is_answered_while_another_writer_holds_the_store(
    daemon: DaemonProcess,
) -> None:
    shop = daemon.stack.b2connect
    delivered = len(shop.webhooks.deliveries)
    holder = sqlite3.connect(daemon.tmp_path / "state.db", isolation_level=None, timeout=30)
    holder.execute("BEGIN IMMEDIATE")  # the store's write lock, held until we let go
    try:
        new = shop.admin_create("customers", {"email": "held.store@example.org"})
        wait_for(
            lambda: len(shop.webhooks.deliveries) > delivered, 25,
            "B2Connect's delivery answered while the store's write lock is held",
        )  # fmt: skip
        outcome = shop.webhooks.deliveries[delivered]
        assert (outcome["delivered"], outcome["attempts"]) == (True, 1), outcome
        event = {
            "eventType": "customer.updated", "eventId": "held-store-1",
            "occurredAt": datetime.now(UTC).isoformat(), "data": {"id": new["id"]},
        }  # fmt: skip
        body, headers = daemon.signed_b2connect(event, event_id="held-store-1", at=time.time())
        assert daemon.post_raw("/webhooks/b2connect", body, headers).status_code == 202
        assert holder.in_transaction, "answered only once the write transaction ended"
    finally:
        holder.rollback()
        holder.close()

    wait_for(lambda: _in_both_crms(daemon, str(new["id"])), 60, "the new customer in both CRMs")
    replay = daemon.post_raw("/webhooks/b2connect", body, headers)
    assert replay.status_code == 409, "the delivery answered beside the held store was not recorded"
