"""No resurrection through the pull: stale CRM changes of an erased person, read by a
``direction: both`` pipeline after the erasure, are blocked and each attempt recorded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from audit import Filters, search
from consent.erasure.model import SubjectIds
from consent.erasure.service import desk_for, processor_for
from consent.erasure.tombstones import hits
from tests.e2e.conftest import E2E
from tests.e2e.two_way_support import HS, SF, TwoWay, open_two_way, tick, two_way_config

DOWN = [{"match": "*", "status": 503}]


@pytest.fixture
def tw(e2e: E2E, tmp_path: Path) -> Iterator[TwoWay]:
    config, _ = two_way_config(tmp_path)
    yield from open_two_way(e2e, config)


def _live_with_email(tw: TwoWay, email: str) -> dict[str, int]:
    """Live records carrying ``email`` in each system."""
    mail = email.lower()
    hs = [c for c in tw.e2e.records("hubspot", "contacts") if not c.get("archived")
          and (c["properties"].get("email") or "").lower() == mail]  # fmt: skip
    sf = [c for c in tw.e2e.records("salesforce", "Contact")
          if (c.get("Email") or "").lower() == mail]  # fmt: skip
    shop = [c for c in tw.e2e.records("b2connect", "customers")
            if (c.get("email") or "").lower() == mail and not c.get("deleted")]  # fmt: skip
    return {"hubspot": len(hs), "salesforce": len(sf), "b2connect": len(shop)}


def test_stale_crm_changes_pulled_after_an_erasure_are_blocked_and_recorded(tw: TwoWay) -> None:
    """CRM users' edits made before the erasure (one carrying the old B2Connect id, two with
    only the email) come back through the real pull while the CRMs' erase steps wait: none
    reaches B2Connect, each is a ``tombstone_hits`` row and a ``blocked.tombstone`` event, and
    once the CRMs recover the person is gone everywhere."""
    tw.settle()
    key = sorted(set(tw.linked(HS)) & set(tw.linked(SF)))[0]
    email = tw.customer(key)["email"]
    # before the erasure: a HubSpot user edits the contact and clears its B2Connect id, a
    # Salesforce user edits the linked contact, a sales rep enters a duplicate by email
    tw.hubspot_user(tw.linked(HS)[key], {"firstname": "Stale", "b2connect_id": ""})
    tw.salesforce_user(tw.linked(SF)[key], {"FirstName": "Stale"})
    tw.stack.salesforce.admin_create("Contact", {"LastName": "Rep entry", "Email": email})
    tick()
    runner = tw.runner
    tw.e2e.faults("hubspot", DOWN)
    tw.e2e.faults("salesforce", DOWN)
    intake = desk_for(runner).file(SubjectIds(email=email))
    assert intake.request_id is not None
    processor = processor_for(runner)
    processor.process(intake.request_id)
    tw.e2e.faults("hubspot", [])
    tw.e2e.faults("salesforce", [])
    summaries = tw.cycle()  # the pull runs before the CRM steps' next attempt
    with runner.db.connect() as conn:
        blocked = hits(conn)
        assert runner.audit_keys is not None
        events = search(conn, runner.audit_keys, Filters(action="blocked.tombstone"))
    pulled = {(h["pipeline"], h["origin"], h["reason"]) for h in blocked}
    assert pulled == {(HS, "crm", "stale_email"), (SF, "crm", "erased_id"),
                      (SF, "crm", "stale_email")}  # fmt: skip
    assert len([h for h in blocked if h["origin"] == "crm"]) == 3
    assert len(events) == len(blocked)
    assert all(e.outcome == "blocked" and e.target_system == "b2connect" for e in events)
    assert {s.pipeline: s.counts["pull_blocked"] for s in summaries} == {HS: 1, SF: 2}
    assert all(s.status.value == "succeeded" for s in summaries)
    assert tw.customer(key).get("firstName") != "Stale"
    processor.process(intake.request_id, force=True)
    assert _live_with_email(tw, email) == {"hubspot": 0, "salesforce": 0, "b2connect": 0}
