"""Erasure requests from B2Connect (feed, webhook), HubSpot (privacyDeletion) and
Salesforce (Individual.ShouldForget), carried through to every system."""

from __future__ import annotations

import json
import time
from typing import Any

from b2sync.runtime import build_runner
from b2sync.service import EVENT_ID_HEADER, SeenEvents, b2connect_delivery
from connectors.b2connect import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_webhook
from consent.erasure.daemon import PrivacyTasks
from consent.erasure.report import erasure_status
from consent.erasure.service import desk_for, processor_for
from consent.erasure.sources import file_all, hubspot_webhook_erasures, poll_sources
from sync.runner import Runner
from tests.e2e.conftest import E2E, FAST_RETRY, by_key

PEOPLE = ("customers-to-hubspot", "customers-to-salesforce")


def _runner(e2e: E2E) -> Runner:
    return build_runner(
        e2e.config, retry=FAST_RETRY, connector_options={"salesforce": {"bulk_wait_s": 0.01}}
    )


def _synced(e2e: E2E) -> dict[str, Any]:
    hubspot = by_key(e2e.records("hubspot", "contacts"), "b2connect_id")
    salesforce = by_key(e2e.records("salesforce", "Contact"), "B2Connect_Id__c")
    for customer in e2e.records("b2connect", "customers"):
        if customer["id"] in hubspot and customer["id"] in salesforce:
            return customer
    raise AssertionError("no customer synced to both CRMs")


def _statuses(runner: Runner) -> list[dict[str, Any]]:
    with runner.db.connect() as conn:
        return erasure_status(conn, runner.clock())


def _gone(e2e: E2E, key: str) -> bool:
    hubspot = by_key(e2e.records("hubspot", "contacts"), "b2connect_id")
    salesforce = by_key(e2e.records("salesforce", "Contact"), "B2Connect_Id__c")
    return key not in hubspot and key not in salesforce


def test_shop_request_from_the_feed_is_carried_out_and_reported_back(e2e: E2E) -> None:
    """A shop-originated request in B2Connect's erasures feed erases the CRMs, then tells
    B2Connect it is completed (which erases the shopper there)."""
    e2e.sync(*PEOPLE)
    person = _synced(e2e)
    runner = _runner(e2e)
    tasks = PrivacyTasks(lambda: runner)
    try:
        tasks.erasure_tick()  # the shop's seeded requests
        before = len(_statuses(runner))
        shop_request = e2e.stack.b2connect.admin_create("erasures", {"subjectId": person["id"]})
        tasks.erasure_tick()
        tasks.erasure_tick()  # the feed now holds our own update: nothing new is filed
        rows = _statuses(runner)
        assert len(rows) == before + 1
        row = rows[0]
    finally:
        runner.close()
    assert row["status"] == "completed"
    assert _gone(e2e, person["id"])
    after = e2e.stack.b2connect.admin_get("erasures", shop_request["id"])
    assert after["status"] == "completed"
    assert e2e.stack.b2connect.admin_get("customers", person["id"]).get("deleted") is True


def test_erasure_requested_webhook_files_the_request(e2e: E2E) -> None:
    """A signed erasure.requested webhook queues the request; the next tick carries it out."""
    e2e.sync(*PEOPLE)
    person = _synced(e2e)
    shop_request = e2e.stack.b2connect.admin_create("erasures", {"subjectId": person["id"]})
    body = json.dumps(
        {"eventType": "erasure.requested", "tenantId": e2e.stack.b2connect.tenant_id,
         "occurredAt": shop_request["createdAt"], "data": shop_request}
    ).encode()  # fmt: skip
    stamp = str(int(time.time()))
    secret = e2e.stack.env()["B2SYNC_B2CONNECT_WEBHOOK_SECRET"]
    headers = {
        SIGNATURE_HEADER: sign_webhook(secret, stamp, body),
        TIMESTAMP_HEADER: stamp,
        EVENT_ID_HEADER: "evt-erasure-1",
    }
    outcome = b2connect_delivery(e2e.config, headers, body, time.time(), SeenEvents())
    runner = _runner(e2e)
    desk = desk_for(runner)
    try:
        assert outcome.status == 202 and len(outcome.erasures) == 1
        [intake] = file_all(desk, outcome.erasures)
        processor_for(runner).process(intake.request_id)
        rows = _statuses(runner)
    finally:
        runner.close()
    assert [r["status"] for r in rows] == ["completed"]
    assert _gone(e2e, person["id"])


def test_hubspot_privacy_deletion_erases_the_person_elsewhere(e2e: E2E) -> None:
    """contact.privacyDeletion: Salesforce and B2Connect follow; HubSpot needs no call."""
    e2e.sync(*PEOPLE)
    person = _synced(e2e)
    contact = by_key(e2e.records("hubspot", "contacts"), "b2connect_id")[person["id"]][0]
    items = hubspot_webhook_erasures(
        [{"subscriptionType": "contact.privacyDeletion", "objectId": int(contact["id"])}]
    )
    runner = _runner(e2e)
    try:
        [intake] = file_all(desk_for(runner), items)
        processor_for(runner).process(intake.request_id)
        [row] = _statuses(runner)
    finally:
        runner.close()
    steps = {s["system"]: s for s in row["steps"]}
    assert row["status"] == "completed"
    assert steps["hubspot"]["attempts"] == 0 and steps["hubspot"]["status"] == "done"
    salesforce = by_key(e2e.records("salesforce", "Contact"), "B2Connect_Id__c")
    assert person["id"] not in salesforce
    assert e2e.stack.b2connect.admin_get("customers", person["id"]).get("deleted") is True


def test_salesforce_should_forget_is_polled_and_carried_out(e2e: E2E) -> None:
    """An Individual flagged ShouldForget: its Contact's person is erased everywhere."""
    e2e.sync(*PEOPLE)
    person = _synced(e2e)
    contact = by_key(e2e.records("salesforce", "Contact"), "B2Connect_Id__c")[person["id"]][0]
    individual = e2e.stack.salesforce.admin_create(
        "Individual", {"LastName": "Forget", "ShouldForget": False}
    )
    e2e.stack.salesforce.admin_patch("Contact", contact["Id"], {"IndividualId": individual["Id"]})
    runner = _runner(e2e)
    try:
        poll_sources(runner, desk_for(runner))  # the shop's seeded requests
        assert poll_sources(runner, desk_for(runner)) == []  # nothing flagged yet
        e2e.stack.salesforce.admin_patch("Individual", individual["Id"], {"ShouldForget": True})
        [intake] = poll_sources(runner, desk_for(runner))
        processor_for(runner).process(intake.request_id)
        row = _statuses(runner)[0]
    finally:
        runner.close()
    assert row["status"] == "completed"
    assert _gone(e2e, person["id"])
