"""CRM deletions and restores carried to B2Connect: policy, breaker, re-linking."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from store.models import RunStatus
from tests.e2e.conftest import E2E
from tests.e2e.two_way_support import HS, SF, TwoWay, open_two_way, two_way_config


def _open(e2e: E2E, tmp_path: Path, **options: str) -> Iterator[TwoWay]:
    config, _ = two_way_config(tmp_path, **options)
    yield from open_two_way(e2e, config)


@pytest.fixture
def tw(e2e: E2E, tmp_path: Path) -> Iterator[TwoWay]:
    yield from _open(e2e, tmp_path)


@pytest.fixture
def ignoring(e2e: E2E, tmp_path: Path) -> Iterator[TwoWay]:
    yield from _open(e2e, tmp_path, hs_delete="ignore")


@pytest.fixture
def fragile(e2e: E2E, tmp_path: Path) -> Iterator[TwoWay]:
    yield from _open(e2e, tmp_path, breaker="{max_count: 2, max_share: 1.0}")


def _sf_contacts(tw: TwoWay, key: str) -> list[dict[str, object]]:
    return [c for c in tw.e2e.records("salesforce", "Contact") if c.get("B2Connect_Id__c") == key]


def test_a_salesforce_delete_deactivates_the_b2connect_customer(tw: TwoWay) -> None:
    """A Contact deleted in Salesforce (``to_b2connect: archive``) deactivates the customer."""
    tw.settle()
    key, contact = sorted(tw.linked(SF).items())[0]
    tw.stack.salesforce.admin_delete("Contact", contact)
    tw.settle()
    assert tw.customer(key)["isActive"] is False
    assert key not in tw.linked(SF)
    assert tw.writes_during(lambda: (tw.cycle(), tw.cycle())) == {}


def test_a_salesforce_undelete_re_links_and_reactivates(tw: TwoWay) -> None:
    """Undeleted, the same Contact is linked again (no duplicate) and the customer is active."""
    tw.settle()
    key, contact = sorted(tw.linked(SF).items())[0]
    tw.stack.salesforce.admin_delete("Contact", contact)
    tw.settle()
    tw.stack.salesforce.undelete("Contact", contact)
    tw.settle()
    assert tw.linked(SF)[key] == contact
    assert tw.customer(key)["isActive"] is True
    assert [c["Id"] for c in _sf_contacts(tw, key)] == [contact]
    tw.shopper(key, {"lastName": "Again"})
    tw.settle()
    assert tw.sf_contact(key)["LastName"] == "Again"


def test_a_hubspot_restore_re_links_instead_of_duplicating(ignoring: TwoWay) -> None:
    """Archived (``to_b2connect: ignore``) then restored, the contact is the customer's again."""
    tw = ignoring
    tw.settle()
    key, contact = sorted(tw.linked(HS).items())[0]
    tw.stack.hubspot.admin_patch("contacts", contact, {"archived": True})
    tw.settle()
    assert key not in tw.linked(HS)
    assert tw.customer(key)["isActive"] is True  # ignore: B2Connect keeps its customer
    tw.stack.hubspot.admin_patch("contacts", contact, {"archived": False})
    tw.settle()
    assert tw.linked(HS)[key] == contact
    tw.shopper(key, {"firstName": "Back"})
    tw.settle()
    holders = [
        c
        for c in tw.e2e.records("hubspot", "contacts")
        if c["properties"].get("b2connect_id") == key
    ]
    assert [c["id"] for c in holders] == [contact]
    assert holders[0]["properties"]["firstname"] == "Back"


def test_too_many_crm_deletes_trip_the_breaker(fragile: TwoWay) -> None:
    """Three Salesforce deletions against a limit of two: nothing is deactivated, paused."""
    tw = fragile
    tw.settle()
    doomed = sorted(tw.linked(SF).items())[:3]
    for _key, contact in doomed:
        tw.stack.salesforce.admin_delete("Contact", contact)
    summaries = tw.cycle()
    sf = next(s for s in summaries if s.pipeline == SF)
    assert sf.status is RunStatus.PAUSED
    assert "delete breaker" in (sf.error or "")
    assert all(tw.customer(key)["isActive"] is True for key, _ in doomed)
    [again] = [s for s in tw.cycle() if s.pipeline == SF]
    assert again.status is RunStatus.PAUSED
