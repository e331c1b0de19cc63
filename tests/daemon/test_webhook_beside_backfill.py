"""Issue 18: a webhook naming a new customer while its pipeline's run is held mid-read runs
that record at once, beside the held run (restricted to it, no cursor, its own lease), and
after both the CRM holds the customer once."""

from __future__ import annotations

from emulators import FaultPlan
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
