"""Salesforce Individual privacy records through simple-salesforce against the emulator:
HasOptedOutProcessing / HasOptedOutTracking are consent purposes, ShouldForget an erasure."""

from __future__ import annotations

from typing import Any

from simple_salesforce.api import Salesforce

from consent.erasure.service import desk_for, processor_for
from consent.erasure.sources import poll_sources
from tests.e2e.conftest import E2E
from tests.e2e.test_consent_sync import consent_sync, sf_contacts, shop_consent
from tests.e2e.two_way_support import tick
from tests.fixtures.salesforce import salesforce_client


def _user(e2e: E2E) -> Salesforce:
    """A Salesforce user's session, through the real SDK."""
    return salesforce_client(e2e.stack.salesforce)


def _individual_of(e2e: E2E, sf: Salesforce, customer: str, email: str) -> str:
    """Give the customer's Contact an Individual (as a Salesforce user would); its Id."""
    [contact] = sf_contacts(e2e, email)
    assert contact["B2Connect_Id__c"] == customer
    individual = str(sf.Individual.create({"LastName": str(contact["LastName"])})["id"])
    sf.Contact.update(str(contact["Id"]), {"IndividualId": individual})
    return individual


def _synced(e2e: E2E) -> tuple[str, str]:
    """Both CRMs backfilled, one consent sync; (customer id, email) of a person whose email
    only their own, linked Contact carries in Salesforce."""
    e2e.sync("customers-to-hubspot", "customers-to-salesforce")
    first = consent_sync(e2e)
    assert first.ok, first.errors
    linked = {c.get("B2Connect_Id__c") for c in e2e.records("salesforce", "Contact")}
    for row in e2e.records("b2connect", "consents"):
        email = str(row.get("email") or "").strip().lower()
        if row.get("subjectId") in linked and len(sf_contacts(e2e, email)) == 1:
            return str(row["subjectId"]), email
    raise AssertionError("the seed has no customer with a single linked Contact")


def test_dont_process_ticked_in_salesforce_withdraws_processing_in_b2connect(e2e: E2E) -> None:
    """HasOptedOutProcessing ticked: B2Connect's email/processing consent is withdrawn;
    unticked later: granted again (a resubscribe); tracking stays untouched."""
    customer, email = _synced(e2e)
    sf = _user(e2e)
    individual = _individual_of(e2e, sf, customer, email)
    tick()
    sf.Individual.update(individual, {"HasOptedOutProcessing": True})
    summary = consent_sync(e2e)
    assert summary.ok, summary.errors
    assert summary.facts["salesforce_individual"] >= 2
    row = shop_consent(e2e, customer, "processing")
    assert (row["status"], row["source"]) == ("withdrawn", "b2sync:salesforce_individual")
    assert not [
        r
        for r in e2e.records("b2connect", "consents")
        if r.get("subjectId") == customer and r["purpose"] == "tracking"
    ], "an unticked box is no decision"
    tick()
    sf.Individual.update(individual, {"HasOptedOutProcessing": False})
    assert consent_sync(e2e).ok
    assert shop_consent(e2e, customer, "processing")["status"] == "granted"


def test_a_shop_objection_ticks_dont_track_on_the_individual(e2e: E2E) -> None:
    """A B2Connect email/tracking withdrawal ticks HasOptedOutTracking on the person's
    Individual (created and linked for a Contact without one)."""
    customer, email = _synced(e2e)
    assert all(not c.get("IndividualId") for c in sf_contacts(e2e, email))
    e2e.stack.b2connect.admin_create(
        "consents",
        {"subjectId": customer, "email": email, "channel": "email", "purpose": "tracking"}
        | {"status": "withdrawn", "legalBasis": "consent"},
    )
    summary = consent_sync(e2e)
    assert summary.ok, summary.errors
    assert summary.applied["salesforce_individual"] == 1
    individuals = {c.get("IndividualId") for c in sf_contacts(e2e, email)}
    assert individuals and None not in individuals
    for individual in individuals:
        record: dict[str, Any] = _user(e2e).Individual.get(str(individual))
        assert record["HasOptedOutTracking"] is True
        assert record["HasOptedOutProcessing"] is False
    again = consent_sync(e2e)
    assert again.applied.get("salesforce_individual", 0) == 0, "written once"


def test_should_forget_set_through_the_api_files_and_carries_out_an_erasure(e2e: E2E) -> None:
    """ShouldForget ticked by a Salesforce user: one erasure request, carried out, the
    person gone from B2Connect and Salesforce; polling again files nothing new."""
    customer, email = _synced(e2e)
    sf = _user(e2e)
    individual = _individual_of(e2e, sf, customer, email)
    runner = e2e.runner()
    try:
        poll_sources(runner, desk_for(runner))  # the shop's seeded requests, if any
        tick()
        sf.Individual.update(individual, {"ShouldForget": True})
        [intake] = poll_sources(runner, desk_for(runner))
        assert intake.ok
        processor_for(runner).process(intake.request_id)
        assert poll_sources(runner, desk_for(runner)) == []
    finally:
        runner.close()
    assert sf_contacts(e2e, email) == []
    assert e2e.stack.b2connect.admin_get("customers", customer).get("deleted") is True
