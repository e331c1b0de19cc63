"""Issue 18: a webhook naming a new customer while its pipeline's run is held mid-read runs
that record at once, beside the held run (restricted to it, no cursor, its own lease), and
after both the CRM holds the customer once."""

from __future__ import annotations

import json
import time

from emulators import FaultPlan
from emulators.hubspot import sign_v3
from tests.daemon.conftest import DaemonProcess, wait_for
from tests.e2e.conftest import by_key

DELTA = "GET /api/crm/{entity}/delta"
#: how long one customers run's read is held: far longer than the new customer's path needs
#: (the test asserts an ordering, not a duration)
HOLD_S = 8.0
CRM_OF = {
    "customers-to-hubspot": ("hubspot", "contacts", "b2connect_id"),
    "customers-to-salesforce": ("salesforce", "Contact", "B2Connect_Id__c"),
}


def _customers_running(daemon: DaemonProcess) -> dict[str, str]:
    """run id -> pipeline of the customers runs in progress."""
    return {
        r["id"]: r["pipeline"]
        for r in daemon.runs()
        if r["pipeline"] in CRM_OF and r["status"] == "running"
    }


def _held_run(daemon: DaemonProcess, before: set[str]) -> tuple[str, str] | None:
    """The customers run held in its read: both customers pipelines share the source, so the
    webhook starts a run of each and only one read is held; the held run is the new one still
    running once the other new one has finished."""
    new = [r for r in daemon.runs() if r["pipeline"] in CRM_OF and r["id"] not in before]
    if {r["pipeline"] for r in new} != set(CRM_OF):
        return None
    running = [r for r in new if r["status"] == "running"]
    if len(running) != 1 or len(new) - len(running) < 1:
        return None
    return running[0]["id"], running[0]["pipeline"]


def _in_crm(daemon: DaemonProcess, pipeline: str, key: str) -> int:
    system, obj, prop = CRM_OF[pipeline]
    emulator = getattr(daemon.stack, system)
    return len(by_key(emulator.admin_list(obj), prop).get(key, []))


def test_new_customer_webhook_lands_beside_a_held_customers_run(daemon: DaemonProcess) -> None:
    shop = daemon.stack.b2connect
    edited = shop.admin_list("customers")[0]
    before = {r["id"] for r in daemon.runs()}
    shop.faults = FaultPlan.from_json(
        {"rules": [{"match": DELTA, "kind": "slow", "delay_s": HOLD_S, "times": 1}]}
    )
    shop.admin_patch("customers", edited["id"], {"firstName": "Held"})  # webhook: a run
    wait_for(lambda: shop.faults.rules[0].fired == 1, 30, "a customers run held in its read")
    run_id, held = wait_for(lambda: _held_run(daemon, before), 30, "the held run alone")

    new = shop.admin_create("customers", {"email": "beside.backfill@example.org"})
    wait_for(lambda: _in_crm(daemon, held, new["id"]), 30, "the new customer in the CRM")
    assert run_id in _customers_running(daemon), "it should land while the held run still runs"

    wait_for(lambda: not _customers_running(daemon), 60, "the held run's end")
    wait_for(daemon.all_synced, 60, "everything synced")
    for pipeline in CRM_OF:
        assert _in_crm(daemon, pipeline, new["id"]) == 1
        assert _in_crm(daemon, pipeline, edited["id"]) == 1
    assert "run.records_finished" in daemon.log()


SEARCH = "POST /crm/v3/objects/{object_type}/search"
UPSERT = "POST /crm/v3/objects/{object_type}/batch/upsert"


def _pulls_of(daemon: DaemonProcess, pipeline: str) -> int:
    return sum(
        1
        for e in daemon.events()
        if e.get("event") == "pull.committed" and e.get("pipeline") == pipeline
    )


def test_new_customer_webhook_does_not_wait_for_the_crm_read_of_the_run_it_starts(
    daemon: DaemonProcess,
) -> None:
    """A two-way pipeline's run reads the CRM's changes first (the pull half), then pushes.
    A webhook naming a new customer starts such a run, and its records also run on their own
    at once: the contact is in HubSpot while that run's HubSpot read is still held. Before,
    the webhook only started the whole run, so the contact waited for the pull half (a
    HubSpot search that a busy portal answers slowly) and every page of the B2Connect read."""
    hubspot = daemon.stack.hubspot
    pipeline = "customers-to-hubspot"
    pulls = _pulls_of(daemon, pipeline)
    hubspot.faults = FaultPlan.from_json(
        {"rules": [{"match": SEARCH, "kind": "slow", "delay_s": HOLD_S, "times": 1}]}
    )
    new = daemon.stack.b2connect.admin_create("customers", {"email": "not.after.pull@example.org"})
    wait_for(lambda: _in_crm(daemon, pipeline, new["id"]), 30, "the new contact in HubSpot")
    assert _pulls_of(daemon, pipeline) == pulls, "it should land before the held read returns"

    wait_for(lambda: hubspot.faults.rules[0].fired == 1, 30, "the run's HubSpot read held")
    wait_for(lambda: _pulls_of(daemon, pipeline) > pulls, 60, "the held run's pull half")
    wait_for(daemon.all_synced, 60, "everything synced")
    assert _in_crm(daemon, pipeline, new["id"]) == 1
    assert _in_crm(daemon, "customers-to-salesforce", new["id"]) == 1


def _contact_changed(daemon: DaemonProcess) -> None:
    """A signed HubSpot contact-change webhook: a run of the two-way customers pipeline."""
    uri = f"{daemon.url}/webhooks/hubspot"
    stamp = str(int(time.time() * 1000))
    body = json.dumps([{"eventId": 81, "subscriptionType": "contact.propertyChange"}])
    secret = daemon.stack.env()["B2SYNC_HUBSPOT_APP_SECRET"]
    headers = {
        "Content-Type": "application/json",
        "X-HubSpot-Request-Timestamp": stamp,
        "X-HubSpot-Signature-v3": sign_v3(secret, "POST", uri, body, stamp),
    }
    assert daemon.post_raw("/webhooks/hubspot", body.encode(), headers).status_code == 202


def test_a_second_new_customer_does_not_wait_for_the_first_ones_held_write(
    daemon: DaemonProcess,
) -> None:
    """Records runs of one pipeline go on side by side on disjoint records: while the
    pipeline's run is held in its HubSpot read and the first new customer's records run is
    held in its HubSpot write, a second new customer still reaches HubSpot. Before, the
    second one's records run queued behind the first's."""
    hubspot, shop = daemon.stack.hubspot, daemon.stack.b2connect
    pipeline = "customers-to-hubspot"
    hubspot.faults = FaultPlan.from_json(
        {
            "rules": [
                {"match": SEARCH, "kind": "slow", "delay_s": HOLD_S, "times": 1},
                {"match": UPSERT, "kind": "slow", "delay_s": HOLD_S, "times": 1},
            ]
        }
    )
    _contact_changed(daemon)
    wait_for(lambda: hubspot.faults.rules[0].fired == 1, 30, "the pipeline's run held")
    first = shop.admin_create("customers", {"email": "first.held@example.org"})
    wait_for(lambda: hubspot.faults.rules[1].fired == 1, 30, "the first one's write held")
    second = shop.admin_create("customers", {"email": "second.free@example.org"})
    wait_for(lambda: _in_crm(daemon, pipeline, second["id"]), 30, "the second one in HubSpot")
    assert not _in_crm(daemon, pipeline, first["id"]), "it should land while the first is held"

    wait_for(lambda: _in_crm(daemon, pipeline, first["id"]), 60, "the first one in HubSpot")
    wait_for(daemon.all_synced, 60, "everything synced")
    for key in (first["id"], second["id"]):
        assert _in_crm(daemon, pipeline, key) == 1
        assert _in_crm(daemon, "customers-to-salesforce", key) == 1
