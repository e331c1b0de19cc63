"""Erasure through the emulators: fan-out, no resurrection, a new registration, HubSpot down."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from audit import ERASED, Filters, search, verify
from b2sync.runtime import build_runner
from b2sync.service import EVENT_ID_HEADER, SeenEvents, b2connect_delivery
from connectors.b2connect import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_webhook
from connectors.records import Record
from consent.erasure.model import StepStatus, SubjectIds
from consent.erasure.report import erasure_status
from consent.erasure.service import desk_for, processor_for
from consent.erasure.tombstones import hits
from store.models import metadata
from sync.replay import ReplaySource
from sync.runner import Runner
from tests.e2e.conftest import E2E, FAST_RETRY, by_key

PEOPLE = ["customers-to-hubspot", "customers-to-salesforce"]


def _runner(e2e: E2E, clock: Callable[[], datetime] | None = None) -> Runner:
    options = {"hubspot": {"waiter": e2e.waits.append}, "salesforce": {"bulk_wait_s": 0.01}}
    return build_runner(e2e.config, retry=FAST_RETRY, connector_options=options, clock=clock)


def _synced_person(e2e: E2E) -> dict[str, Any]:
    hubspot = by_key(e2e.records("hubspot", "contacts"), "b2connect_id")
    salesforce = by_key(e2e.records("salesforce", "Contact"), "B2Connect_Id__c")
    for customer in e2e.records("b2connect", "customers"):
        if customer["id"] in hubspot and customer["id"] in salesforce:
            return customer
    raise AssertionError("no customer was synced to both CRMs")


def _present(e2e: E2E, email: str) -> dict[str, int]:
    """How many live records with ``email`` each system holds."""
    mail = email.lower()
    hubspot = [
        r
        for r in e2e.records("hubspot", "contacts")
        if (r["properties"].get("email") or "").lower() == mail and not r.get("archived")
    ]
    salesforce = [
        r
        for r in e2e.records("salesforce", "Contact")
        if (r.get("Email") or "").lower() == mail and not r.get("IsDeleted")
    ]
    shop = [
        r
        for r in e2e.records("b2connect", "customers")
        if (r.get("email") or "").lower() == mail and not r.get("deleted")
    ]
    return {"hubspot": len(hubspot), "salesforce": len(salesforce), "b2connect": len(shop)}


def _erase(runner: Runner, **ids: Any) -> int:
    intake = desk_for(runner).file(SubjectIds(**ids))
    assert intake.status == "filed", intake
    assert intake.request_id is not None
    processor_for(runner).process(intake.request_id)
    return intake.request_id


def _request(runner: Runner, request_id: int) -> dict[str, Any]:
    with runner.db.connect() as conn:
        return erasure_status(conn, runner.clock(), request_id=request_id)[0]


def test_erasure_reaches_every_system_and_shreds_the_trail(e2e: E2E) -> None:
    """One request removes the person from HubSpot, Salesforce and B2Connect; their audit
    events stay in a chain that verifies, with values read as [erased]."""
    e2e.sync(*PEOPLE)
    person = _synced_person(e2e)
    runner = _runner(e2e)
    try:
        rid = _erase(runner, email=person["email"])
        request = _request(runner, rid)
        with runner.db.connect() as conn:
            assert runner.audit_keys is not None
            report = verify(conn, keys=runner.audit_keys)
            views = search(conn, runner.audit_keys, Filters(subject=person["id"]))
            links = conn.execute(
                sa.select(sa.func.count()).where(
                    metadata.tables["links"].c.b2connect_key == person["id"]
                )
            ).scalar()
    finally:
        runner.close()
    assert _present(e2e, person["email"]) == {"hubspot": 0, "salesforce": 0, "b2connect": 0}
    assert request["status"] == "completed"
    assert {s["system"]: s["status"] for s in request["steps"]} == {
        "local": "done", "hubspot": "done", "salesforce": "done", "shop": "done", "audit": "done"
    }  # fmt: skip
    assert links == 0
    assert report.ok
    assert views and all(v.subject == ERASED for v in views)
    assert {"crm.write", "erasure.step"} <= {v.action for v in views}


def _signed_webhook(
    e2e: E2E, event_type: str, data: dict[str, Any]
) -> tuple[dict[str, str], bytes]:
    body = json.dumps(
        {"eventType": event_type, "tenantId": e2e.stack.b2connect.tenant_id,
         "occurredAt": "2026-01-01T00:00:00Z", "data": data}
    ).encode()  # fmt: skip
    stamp = str(int(time.time()))
    secret = e2e.stack.env()["B2SYNC_B2CONNECT_WEBHOOK_SECRET"]
    headers = {
        SIGNATURE_HEADER: sign_webhook(secret, stamp, body),
        TIMESTAMP_HEADER: stamp,
        EVENT_ID_HEADER: f"evt-{data['id']}-{event_type}",
    }
    return headers, body


def test_no_resurrection_after_erasure(e2e: E2E) -> None:
    """A stale B2Connect update of the old id (delivered with a delayed webhook), a replay of
    old data and a stale CRM change read by the pull bring nobody back; each blocked attempt
    is recorded."""
    e2e.sync(*PEOPLE)
    person = _synced_person(e2e)
    runner = _runner(e2e)
    try:
        _erase(runner, customer_id=person["id"])
        erased_at = runner.clock()
        old = {k: v for k, v in person.items() if k not in ("deleted", "id", "tenantId")}
        old = {
            k: v for k, v in old.items() if k not in ("createdAt", "updatedAt", "customerNumber")
        }
        # 1. the shop restores the old record (a stale update under the old customer id) and its
        #    webhook arrives late: the webhook-triggered runs go through the tombstones
        e2e.stack.b2connect.admin_patch("customers", person["id"], {"deleted": False, **old})
        headers, body = _signed_webhook(e2e, "customer.updated", {"id": person["id"]})
        outcome = b2connect_delivery(e2e.config, headers, body, time.time(), SeenEvents())
        assert outcome.status == 202 and set(PEOPLE) <= set(outcome.pipelines)
        for name in outcome.pipelines:
            runner.run_pipeline(e2e.config.pipeline(name), trigger="webhook")
        # 2. a replay of the person's data as it was before the erasure
        stale = Record("customers", person["id"], person, updated_at=erased_at - timedelta(days=2))
        runner.run_pipeline(e2e.config.pipeline(PEOPLE[0]), source_override=ReplaySource([stale]))
        # 3. a stale CRM change: a HubSpot user re-enters the old record (old B2Connect id),
        #    read back by the real pull of the two-way pipeline (see test_erasure_pull.py for
        #    edits made before the erasure and records carrying only the email)
        e2e.stack.hubspot.admin_create(
            "contacts", {"b2connect_id": person["id"], "firstname": "Stale", "lastname": "Copy"}
        )
        pulled = runner.run_pipeline(e2e.config.pipeline(PEOPLE[0]))
        with runner.db.connect() as conn:
            blocked = hits(conn)
            assert runner.audit_keys is not None
            events = search(conn, runner.audit_keys, Filters(action="blocked.tombstone"))
    finally:
        runner.close()
    assert pulled.counts["pull_blocked"] == 1
    assert e2e.stack.b2connect.admin_get("customers", person["id"]).get("firstName") != "Stale"
    assert _present(e2e, person["email"])["hubspot"] == 0
    assert _present(e2e, person["email"])["salesforce"] == 0
    origins = {(h["pipeline"], h["origin"], h["reason"]) for h in blocked}
    assert {(PEOPLE[0], "b2connect", "erased_id"), (PEOPLE[1], "b2connect", "erased_id")} <= origins
    assert (PEOPLE[0], "crm", "erased_id") in origins
    assert len(events) == len(blocked)


def test_new_registration_after_erasure_syncs_as_a_new_person(e2e: E2E) -> None:
    """The same email under a new id, created after the erasure, reaches Salesforce as a new
    person; HubSpot's blocklist refusal is a dead letter with its reason, not retried."""
    e2e.sync(*PEOPLE)
    person = _synced_person(e2e)
    runner = _runner(e2e)
    try:
        _erase(runner, email=person["email"])
        fresh = e2e.stack.b2connect.admin_create(
            "customers", {"email": person["email"], "firstName": "Newcomer", "lastName": "Again"}
        )
        for name in PEOPLE:
            runner.run_pipeline(e2e.config.pipeline(name))
        with runner.db.connect() as conn:
            dead = [
                dict(r._mapping)
                for r in conn.execute(sa.select(metadata.tables["dead_letters"]))
                if r.record_key == fresh["id"]
            ]
            blocked = hits(conn)
    finally:
        runner.close()
    salesforce = by_key(e2e.records("salesforce", "Contact"), "B2Connect_Id__c")
    assert salesforce[fresh["id"]][0]["FirstName"] == "Newcomer"
    assert person["id"] not in salesforce
    assert [d["pipeline"] for d in dead] == [PEOPLE[0]]
    assert "GDPR" in dead[0]["error_message"] and dead[0]["next_attempt_at"] is None
    assert not blocked


def test_erasure_completes_after_an_hour_of_hubspot_503(e2e: E2E) -> None:
    """HubSpot answers 503 for an hour of emulated time: its step retries with growing
    waits, the other steps finish, and the request completes once HubSpot recovers."""
    e2e.sync(*PEOPLE)
    person = _synced_person(e2e)
    now = [datetime(2026, 3, 1, 9, 0, tzinfo=UTC)]
    start = now[0]
    runner = _runner(e2e, clock=lambda: now[0])
    e2e.faults(
        "hubspot",
        [{"match": "POST /crm/v3/objects/contacts/gdpr-delete", "status": 503}],
    )
    seen: list[dict[str, Any]] = []
    try:
        rid = _erase(runner, email=person["email"])
        processor = processor_for(runner)
        while now[0] < start + timedelta(hours=1):
            request = _request(runner, rid)
            seen.append(request)
            hubspot = next(s for s in request["steps"] if s["system"] == "hubspot")
            assert hubspot["status"] == StepStatus.RETRYING.value
            now[0] = datetime.fromisoformat(hubspot["next_attempt_at"])
            processor.process()
        e2e.faults("hubspot", [])
        now[0] += timedelta(hours=6)
        processor.process()
        final = _request(runner, rid)
    finally:
        runner.close()
    first = {s["system"]: s["status"] for s in seen[0]["steps"]}
    assert first == {"local": "done", "hubspot": "retrying", "salesforce": "done",
                     "shop": "done", "audit": "pending"}  # fmt: skip
    assert seen[0]["status"] == "in_progress"
    attempts = [next(s for s in r["steps"] if s["system"] == "hubspot")["attempts"] for r in seen]
    assert attempts == sorted(attempts) and attempts[-1] >= 5
    assert final["status"] == "completed"
    assert all(s["status"] == "done" for s in final["steps"])
    assert _present(e2e, person["email"])["hubspot"] == 0


def test_stale_crm_copy_is_not_pulled_back_into_b2connect(e2e: E2E) -> None:
    """With two-way sync, a CRM user re-entering the erased person's old data (old id, old
    email) brings nobody back: the pull finds no link, B2Connect stays erased and the blocked
    attempt is recorded."""
    assert e2e.config.pipeline("customers-to-salesforce").direction == "both"  # as shipped
    e2e.sync(*PEOPLE)
    person = _synced_person(e2e)
    runner = _runner(e2e)
    try:
        _erase(runner, customer_id=person["id"])
        e2e.stack.salesforce.admin_create(
            "Contact",
            {"LastName": person.get("lastName") or "Old", "Email": person["email"],
             "B2Connect_Id__c": person["id"]},
        )  # fmt: skip
        summary = runner.run_pipeline(e2e.config.pipeline(PEOPLE[1]))
        with runner.db.connect() as conn:
            blocked = [(h["pipeline"], h["origin"], h["reason"]) for h in hits(conn)]
    finally:
        runner.close()
    assert blocked == [(PEOPLE[1], "crm", "erased_id")]
    shop = e2e.stack.b2connect.admin_get("customers", person["id"])
    assert summary.status.value == "succeeded", summary.error
    assert shop.get("deleted") is True and not shop.get("email")
    assert _present(e2e, person["email"])["b2connect"] == 0
