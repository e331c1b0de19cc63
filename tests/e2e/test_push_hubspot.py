"""Push sync into HubSpot through the real hubspot-api-client and the emulators."""

from __future__ import annotations

import math

import sqlalchemy as sa

from store.models import RunStatus, metadata
from tests.e2e.conftest import E2E, by_key

HS_UPSERT = "POST /crm/v3/objects/{object_type}/batch/upsert"


def dead_letters(e2e: E2E, pipeline: str) -> list[dict[str, object]]:
    runner = e2e.runner()
    try:
        with runner.db.connect() as conn:
            table = metadata.tables["dead_letters"]
            query = sa.select(table).where(
                table.c.pipeline == pipeline, table.c.status == "pending"
            )
            return [dict(r._mapping) for r in conn.execute(query)]
    finally:
        runner.close()


def test_backfill_writes_each_customer_once_and_parks_bad_ones(e2e: E2E) -> None:
    """Every valid customer is one HubSpot contact; invalid emails are dead-lettered by field."""
    [summary] = e2e.sync("customers-to-hubspot")
    assert summary.status is RunStatus.SUCCEEDED
    customers = e2e.records("b2connect", "customers")
    contacts = by_key(e2e.records("hubspot", "contacts"), "b2connect_id")
    dead = {d["record_key"]: d for d in dead_letters(e2e, "customers-to-hubspot")}
    for customer in customers:
        if customer["id"] in dead:
            assert dead[customer["id"]]["error_field"] == "email"
            continue
        assert len(contacts[customer["id"]]) == 1, customer["id"]
        props = contacts[customer["id"]][0]["properties"]
        assert props["email"] == customer["email"].strip().lower()
    assert dead, "the seed has invalid emails; they must be parked, not dropped"
    by_email = by_key(e2e.records("hubspot", "contacts"), "email")
    assert all(len(v) == 1 for v in by_email.values()), "an email exists twice in HubSpot"


def test_existing_hubspot_contacts_are_linked_not_duplicated(e2e: E2E) -> None:
    """Seeded HubSpot contacts with a shop customer's email get that customer's id."""
    seeded = {c["email"].strip().lower() for c in e2e.stack.seed_data.hubspot_contacts}  # type: ignore[union-attr]
    [summary] = e2e.sync("customers-to-hubspot")
    assert summary.counts["matched"] >= 1
    contacts = e2e.records("hubspot", "contacts")
    matched = [
        c
        for c in contacts
        if c["properties"].get("email") in seeded and c["properties"].get("b2connect_id")
    ]
    assert len(matched) == summary.counts["matched"]
    assert len({c["id"] for c in contacts}) == len(contacts)


def test_api_calls_are_minimal_and_noop_rerun_writes_nothing(e2e: E2E) -> None:
    """Backfill upserts in ceil(n/100) calls; a rerun with no changes makes no write call."""
    before = e2e.calls("hubspot").get(HS_UPSERT, 0)
    [summary] = e2e.sync("customers-to-hubspot")
    created = summary.counts["created"]
    assert e2e.calls("hubspot")[HS_UPSERT] - before == math.ceil(created / 100)
    writes_before = {
        k: v for k, v in e2e.calls("hubspot").items() if "batch/" in k and "read" not in k
    }
    [again] = e2e.sync("customers-to-hubspot", full=True)
    writes_after = {
        k: v for k, v in e2e.calls("hubspot").items() if "batch/" in k and "read" not in k
    }
    assert again.counts["unchanged"] == summary.counts["written"]
    assert writes_after == writes_before


def test_incremental_change_updates_only_that_contact(e2e: E2E) -> None:
    """A shopper's name change reaches HubSpot in one upsert on the next run."""
    e2e.sync("customers-to-hubspot")
    customer = next(c for c in e2e.records("b2connect", "customers") if "@" in c["email"])
    e2e.stack.b2connect.admin_patch("customers", customer["id"], {"firstName": "Zoë-Renamed"})
    before = e2e.calls("hubspot").get(HS_UPSERT, 0)
    [summary] = e2e.sync("customers-to-hubspot")
    assert summary.counts["read"] == 1 and summary.counts["updated"] == 1
    assert e2e.calls("hubspot")[HS_UPSERT] == before + 1
    contact = by_key(e2e.records("hubspot", "contacts"), "b2connect_id")[customer["id"]][0]
    assert contact["properties"]["firstname"] == "Zoë-Renamed"


def test_partial_batch_failure_is_dead_lettered_then_replayed(e2e: E2E) -> None:
    """A 207 fails some inputs: they are parked with HubSpot's code and replay later."""
    e2e.faults("hubspot", [{"match": HS_UPSERT, "kind": "partial", "every": 4, "times": 1}])
    [summary] = e2e.sync("customers-to-hubspot")
    parked = [
        d for d in dead_letters(e2e, "customers-to-hubspot") if d["error_code"] != "MAPPING_ERROR"
    ]
    assert parked and summary.counts["written"] > 0
    assert all(d["error_code"] == "VALIDATION_ERROR" for d in parked)
    runner = e2e.runner()
    try:
        replayed = runner.replay(runner.config.pipeline("customers-to-hubspot"), everything=True)
    finally:
        runner.close()
    assert replayed is not None and replayed.counts["written"] == len(parked)
    contacts = by_key(e2e.records("hubspot", "contacts"), "b2connect_id")
    assert all(d["record_key"] in contacts for d in parked)


def test_rate_limit_storm_is_ridden_out(e2e: E2E) -> None:
    """Repeated 429s (TEN_SECONDLY_ROLLING) are retried; nothing is lost or duplicated."""
    e2e.faults("hubspot", [{"match": HS_UPSERT, "kind": "status", "status": 429, "times": 3}])
    [summary] = e2e.sync("customers-to-hubspot")
    assert summary.status is RunStatus.SUCCEEDED
    assert e2e.waits, "the rate governor should have waited out the 10-second window"
    customers = {c["id"] for c in e2e.records("b2connect", "customers")}
    contacts = by_key(e2e.records("hubspot", "contacts"), "b2connect_id")
    parked = {d["record_key"] for d in dead_letters(e2e, "customers-to-hubspot")}
    assert customers == set(contacts) | parked
    assert all(len(v) == 1 for v in contacts.values())


def test_daily_limit_pauses_the_pipeline_without_losing_records(e2e: E2E) -> None:
    """Daily limit hit → the run pauses (checkpointed, no hot loop); after the reset it finishes."""
    hub = e2e.stack.hubspot
    hub.limits.daily = 6  # the first calls of the run fit, then HubSpot answers 429 DAILY
    [summary] = e2e.sync("customers-to-hubspot")
    assert summary.status is RunStatus.PAUSED and summary.resume_at is not None
    [skipped] = e2e.sync("customers-to-hubspot")
    assert skipped.status is RunStatus.PAUSED and skipped.counts["read"] == 0  # no hot loop
    hub.limits.daily = 650_000
    hub.limits.reset()
    runner = e2e.runner()
    try:  # the daily window resets at midnight: simulate that by clearing the pause
        with runner.db.begin() as conn:
            settings = metadata.tables["settings"]
            conn.execute(sa.delete(settings).where(settings.c.name.like("paused_until:%")))
    finally:
        runner.close()
    [after] = e2e.sync("customers-to-hubspot")
    assert after.status is RunStatus.SUCCEEDED
    contacts = by_key(e2e.records("hubspot", "contacts"), "b2connect_id")
    parked = {d["record_key"] for d in dead_letters(e2e, "customers-to-hubspot")}
    assert {c["id"] for c in e2e.records("b2connect", "customers")} == set(contacts) | parked
    assert all(len(v) == 1 for v in contacts.values())


def test_orders_are_associated_to_contacts_with_line_items(e2e: E2E) -> None:
    """Orders land as HubSpot orders associated to their contact (507) and their lines (513)."""
    summaries = e2e.sync("customers-to-hubspot", "orders-to-hubspot")
    assert [s.status for s in summaries] == [RunStatus.SUCCEEDED, RunStatus.SUCCEEDED]
    orders = by_key(e2e.records("hubspot", "orders"), "b2connect_id")
    line_items = by_key(e2e.records("hubspot", "line_items"), "b2connect_id")
    shop_orders = e2e.records("b2connect", "orders")
    contacts = by_key(e2e.records("hubspot", "contacts"), "b2connect_id")
    edges = {
        (row["fromObjectId"], str(row["toObjectId"]))
        for row in e2e.records("hubspot", "associations")
        if row["fromObjectType"] in ("orders", "0-123")
        and row["toObjectType"] in ("contacts", "0-1")
    }
    associated = 0
    for shop_order in shop_orders:
        assert len(orders[shop_order["id"]]) == 1
        for item in shop_order.get("items", []):
            assert len(line_items[item["id"]]) == 1
        contact = contacts.get(shop_order["customerId"])
        if contact:
            order_id = orders[shop_order["id"]][0]["id"]
            assert (str(order_id), str(contact[0]["id"])) in {(str(a), b) for a, b in edges}
            associated += 1
    assert associated > 0
