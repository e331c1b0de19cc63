"""A webhook-triggered change is not stuck behind a backfill: while another pipeline's run is
held inside a B2Connect read, a shopper's edit still reaches both CRMs."""

from __future__ import annotations

import pytest

from emulators import FaultPlan
from tests.daemon.conftest import DaemonProcess, first_names, synced_customer, wait_for

DELTA = "GET /api/crm/{entity}/delta"
#: how long the orders run's read is held: longer than the customer's path needs by far (the
#: test asserts an ordering, not a duration)
HOLD_S = 8.0


def _orders_running(daemon: DaemonProcess) -> list[str]:
    return [
        r["pipeline"]
        for r in daemon.runs()
        if r["pipeline"].startswith("orders-to-") and r["status"] == "running"
    ]


@pytest.mark.slow
def test_webhook_edit_lands_while_an_orders_run_is_held_in_a_read(daemon: DaemonProcess) -> None:
    """The orders run holds a B2Connect read; the customer edit's run reads the same B2Connect
    connection and writes both CRMs before that read returns."""
    customer = synced_customer(daemon)
    order = daemon.stack.b2connect.admin_list("orders")[0]
    shop = daemon.stack.b2connect
    shop.faults = FaultPlan.from_json(
        {"rules": [{"match": DELTA, "kind": "slow", "delay_s": HOLD_S, "times": 1}]}
    )
    shop.admin_patch("orders", order["id"], {"status": "shipped"})  # webhook: orders runs
    wait_for(lambda: shop.faults.rules[0].fired == 1, 30, "an orders run held in its read")
    held = wait_for(lambda: _orders_running(daemon), 30, "the held orders run")

    shop.admin_patch("customers", customer["id"], {"firstName": "Laned"})  # webhook: customers
    wait_for(
        lambda: first_names(daemon, customer["id"]) == ("Laned", "Laned"),
        30,
        "the edit in both CRMs",
    )
    still = _orders_running(daemon)
    assert set(held) & set(still), "the edit should land while the orders read is still held"
