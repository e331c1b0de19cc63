"""Consent synced both ways through the emulators and the real SDK clients."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from consent.consent_service import consent_sync_for, consent_view
from consent.job import ConsentSummary
from store.models import metadata
from tests.e2e.conftest import E2E

V4_WRITE = "POST /communication-preferences/v4/statuses/{email}"
MARKETING = 101


def consent_sync(e2e: E2E) -> ConsentSummary:
    runner = e2e.runner()
    try:
        return consent_sync_for(runner).run()
    finally:
        runner.close()


def granted_person(e2e: E2E) -> tuple[str, str]:
    """(customer id, email) of a customer with email/marketing granted, in both CRMs."""
    hubspot = {c["properties"].get("email") for c in e2e.records("hubspot", "contacts")}
    salesforce = {str(c.get("Email") or "").lower() for c in e2e.records("salesforce", "Contact")}
    for row in e2e.records("b2connect", "consents"):
        email = str(row.get("email") or "").strip().lower()
        if (
            row["channel"] == "email"
            and row["purpose"] == "marketing"
            and row["status"] == "granted"
            and row.get("subjectId")
            and email in hubspot
            and email in salesforce
        ):
            return str(row["subjectId"]), email
    raise AssertionError("the seed has no granted marketing consent of a synced customer")


def shop_consent(e2e: E2E, customer: str, purpose: str = "marketing") -> dict[str, Any]:
    rows = [
        r
        for r in e2e.records("b2connect", "consents")
        if r.get("subjectId") == customer
        and r["channel"] == "email"
        and r["purpose"] == purpose
        and not r.get("deleted")
    ]
    assert len(rows) == 1, rows
    return rows[0]


def sf_contacts(e2e: E2E, email: str) -> list[dict[str, Any]]:
    return [
        c
        for c in e2e.records("salesforce", "Contact")
        if str(c.get("Email") or "").lower() == email and not c.get("IsDeleted")
    ]


def hubspot_state(e2e: E2E, email: str, sid: int = MARKETING) -> str:
    return e2e.stack.hubspot.commprefs.state(email, sid)


@pytest.fixture
def synced(e2e: E2E) -> tuple[str, str]:
    """Customers pushed to both CRMs, one consent sync run; a granted person."""
    e2e.sync("customers-to-hubspot", "customers-to-salesforce")
    first = consent_sync(e2e)
    assert first.ok, first.errors
    return granted_person(e2e)


def test_first_sync_subscribes_granted_people_in_hubspot(e2e: E2E, synced: tuple[str, str]) -> None:
    """A consent granted in B2Connect becomes a HubSpot subscription (v4)."""
    _, email = synced
    assert hubspot_state(e2e, email) == "SUBSCRIBED"


def test_hubspot_opt_out_reaches_b2connect_and_salesforce(
    e2e: E2E, synced: tuple[str, str]
) -> None:
    """An unsubscribe made in HubSpot withdraws the consent in B2Connect and Salesforce."""
    customer, email = synced
    e2e.stack.hubspot.admin_patch(
        "subscriptions", email, {"subscriptionId": MARKETING, "statusState": "UNSUBSCRIBED"}
    )
    summary = consent_sync(e2e)
    assert summary.ok, summary.errors
    row = shop_consent(e2e, customer)
    assert row["status"] == "withdrawn"
    assert row["source"] == "b2sync:hubspot"
    contacts = sf_contacts(e2e, email)
    assert contacts and all(c["HasOptedOutOfEmail"] is True for c in contacts)
    assert hubspot_state(e2e, email) == "UNSUBSCRIBED"


def test_older_opt_in_never_beats_newer_opt_out(e2e: E2E, synced: tuple[str, str]) -> None:
    """A late-arriving opt-in captured before the opt-out is overruled and corrected."""
    customer, email = synced
    e2e.stack.hubspot.admin_patch(
        "subscriptions", email, {"subscriptionId": MARKETING, "statusState": "UNSUBSCRIBED"}
    )
    consent_sync(e2e)
    row = shop_consent(e2e, customer)
    older = (datetime.now(UTC) - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    e2e.stack.b2connect.admin_patch(
        "consents", row["id"], {"status": "granted", "capturedAt": older}
    )
    before = e2e.calls("hubspot").get(V4_WRITE, 0)
    summary = consent_sync(e2e)
    assert summary.ok, summary.errors
    assert shop_consent(e2e, customer)["status"] == "withdrawn"
    assert hubspot_state(e2e, email) == "UNSUBSCRIBED"
    assert e2e.calls("hubspot").get(V4_WRITE, 0) == before
    assert all(c["HasOptedOutOfEmail"] is True for c in sf_contacts(e2e, email))


def test_simultaneous_decisions_resolve_to_opt_out(
    e2e: E2E, synced: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An opt-in in HubSpot and an opt-out in B2Connect at the same instant: opt-out."""
    customer, email = synced
    moment = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=5)
    row = shop_consent(e2e, customer, "newsletter")
    e2e.stack.b2connect.admin_patch(
        "consents",
        row["id"],
        {"status": "withdrawn", "capturedAt": moment.isoformat().replace("+00:00", "Z")},
    )
    monkeypatch.setattr(e2e.stack.hubspot, "clock", moment.timestamp)
    e2e.stack.hubspot.admin_patch(
        "subscriptions", email, {"subscriptionId": 102, "statusState": "SUBSCRIBED"}
    )
    summary = consent_sync(e2e)
    assert summary.ok, summary.errors
    assert shop_consent(e2e, customer, "newsletter")["status"] == "withdrawn"
    assert hubspot_state(e2e, email, 102) == "UNSUBSCRIBED"
    runner = e2e.runner()
    try:
        view = consent_view(runner, email)
    finally:
        runner.close()
    [newsletter] = [d for d in view.decisions if d.purpose == "newsletter"]
    assert newsletter.status.value == "withdrawn"
    assert newsletter.decided_at == moment


def test_decisions_are_audited_in_the_trail(e2e: E2E, synced: tuple[str, str]) -> None:
    """Each decision and each applied write is a consent.change audit event."""
    _, email = synced
    e2e.stack.hubspot.admin_patch(
        "subscriptions", email, {"subscriptionId": MARKETING, "statusState": "UNSUBSCRIBED"}
    )
    consent_sync(e2e)
    runner = e2e.runner()
    try:
        with runner.db.connect() as conn:
            events = metadata.tables["audit_events"]
            rows = conn.execute(
                sa.select(events.c.outcome, events.c.target_system, events.c.source_system).where(
                    events.c.action == "consent.change"
                )
            ).all()
    finally:
        runner.close()
    seen = {(o, t, s) for o, t, s in rows}
    assert ("decided", "b2sync", "hubspot") in seen
    assert ("applied", "b2connect", "hubspot") in seen
    assert ("applied", "salesforce", "hubspot") in seen
