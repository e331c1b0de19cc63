"""Pure parts of the connectors' consent support: B2Connect facts and payloads, legal bases."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.b2connect import consent_payload, to_fact
from connectors.base import ConsentWrite
from connectors.hubspot import from_hubspot_basis, to_hubspot_basis
from connectors.records import Record

AT = datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)


def consent_record(**fields: object) -> Record:
    data = {
        "id": "k1",
        "subjectId": "c1",
        "email": "a@b.de",
        "channel": "email",
        "purpose": "marketing",
        "status": "withdrawn",
        "legalBasis": "consent",
        "capturedAt": "2026-01-01T10:00:00Z",
        "wordingVersion": "2025-01",
        **fields,
    }
    return Record("consents", "k1", data, updated_at=AT)


def test_a_b2connect_change_is_a_fact_timed_by_its_capture() -> None:
    """capturedAt is the decision time; provenance fields come along."""
    fact = to_fact(consent_record())
    assert fact is not None
    assert (fact.status, fact.customer_id, fact.wording_version) == ("withdrawn", "c1", "2025-01")
    assert fact.decided_at == datetime(2026, 1, 1, 10, tzinfo=UTC)


def test_a_change_without_capture_time_takes_the_change_time() -> None:
    """No capturedAt: the feed's changedAt stands in."""
    fact = to_fact(consent_record(capturedAt=None))
    assert fact is not None and fact.decided_at == AT


def test_deleted_and_malformed_changes_are_no_facts() -> None:
    """Deletions (erasure) and changes without a valid status carry no decision."""
    deleted = Record("consents", "k1", {"id": "k1"}, deleted=True)
    assert to_fact(deleted) is None
    assert to_fact(consent_record(status="maybe")) is None


def test_payload_names_the_subject_the_origin_and_the_time() -> None:
    """The upsert carries subjectId (else email), capturedAt in UTC and source b2sync:<system>."""
    write = ConsentWrite(
        key="1:email:marketing",
        channel="email",
        purpose="marketing",
        status="withdrawn",
        decided_at=AT,
        email="a@b.de",
        customer_id="c1",
        legal_basis="consent",
        source_system="hubspot",
    )
    body = consent_payload(write)
    assert body["subjectId"] == "c1" and "email" not in body
    assert body["capturedAt"] == "2026-02-03T04:05:06Z"
    assert body["source"] == "b2sync:hubspot"


def test_legal_bases_map_both_ways() -> None:
    """Our legal bases become HubSpot's enum and back; NON_GDPR has no equivalent."""
    assert to_hubspot_basis("contract") == "PERFORMANCE_OF_CONTRACT"
    assert to_hubspot_basis(None) == "CONSENT_WITH_NOTICE"
    assert from_hubspot_basis("LEGITIMATE_INTEREST_PQL") == "legitimate_interest"
    assert from_hubspot_basis("NON_GDPR") is None
