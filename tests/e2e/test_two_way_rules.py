"""Each per-field rule, end to end on HubSpot: concurrent edits of one field, and blanks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import E2E
from tests.e2e.two_way_support import HS, TwoWay, open_two_way, two_way_config

#: rule → (B2Connect firstName, HubSpot firstname) after the shopper wrote "Bee" and then a
#: HubSpot user wrote "Cee" into the same field of the same person
CONCURRENT = {
    "two_way": ("Cee", "Cee"),  # both changed: the newer edit (HubSpot's) wins
    "prefer_b2connect": ("Bee", "Bee"),
    "prefer_crm": ("Cee", "Cee"),
    "prefer_b2connect_unless_blank": ("Bee", "Bee"),
    "prefer_crm_unless_blank": ("Cee", "Cee"),
    "b2connect_only": ("Bee", "Bee"),  # CRM edits are never pulled; push sends B2Connect's
    "crm_only": ("Cee", "Cee"),  # B2Connect edits are never pushed; the pull sends HubSpot's
    "manual": ("Bee", "Cee"),  # parked for a person: both stay as they are
}


def _tw(e2e: E2E, tmp_path: Path, rule: str) -> Iterator[TwoWay]:
    config, _ = two_way_config(tmp_path, first_rule=rule, salesforce=False)
    yield from open_two_way(e2e, config)


@pytest.fixture
def rule_tw(request: pytest.FixtureRequest, e2e: E2E, tmp_path: Path) -> Iterator[TwoWay]:
    yield from _tw(e2e, tmp_path, request.param)


def _person(tw: TwoWay) -> tuple[str, str]:
    tw.settle()
    return sorted(tw.linked(HS).items())[0]


@pytest.mark.parametrize(("rule_tw", "rule"), [(r, r) for r in CONCURRENT], indirect=["rule_tw"])
def test_concurrent_edits_of_one_field_follow_the_rule(rule_tw: TwoWay, rule: str) -> None:
    """Shopper and HubSpot user edit the same field: the rule picks; then all is quiet."""
    tw = rule_tw
    key, contact = _person(tw)
    tw.shopper(key, {"firstName": "Bee"})
    tw.hubspot_user(contact, {"firstname": "Cee"})
    tw.settle()
    got = (tw.customer(key)["firstName"], tw.hs_contact(key)["properties"].get("firstname"))
    assert got == CONCURRENT[rule]
    assert tw.writes_during(lambda: (tw.cycle(), tw.cycle())) == {}


@pytest.mark.parametrize("rule_tw", ["manual"], indirect=True)
def test_a_manual_clash_is_parked_with_hashes_only(rule_tw: TwoWay) -> None:
    """A ``manual`` clash is one open conflict row naming the field, holding no values."""
    tw = rule_tw
    key, contact = _person(tw)
    tw.shopper(key, {"firstName": "Bee"})
    tw.hubspot_user(contact, {"firstname": "Cee"})
    tw.settle()
    [row] = [r for r in tw.rows("conflicts") if r["kind"] == "manual_rule"]
    assert (row["record_key"], row["field"], row["status"]) == (key, "firstname", "open")
    details = row["details"]
    assert details["crm_id"] == contact and details["b2connect_field"] == "firstName"
    assert details["b2connect_hash"] != details["crm_hash"]
    assert "Bee" not in str(details) and "Cee" not in str(details)


@pytest.mark.parametrize("rule_tw", ["manual"], indirect=True)
def test_an_open_manual_conflict_keeps_push_off_the_field(rule_tw: TwoWay) -> None:
    """While the conflict is open, a new shopper edit of that field is not pushed."""
    tw = rule_tw
    key, contact = _person(tw)
    tw.shopper(key, {"firstName": "Bee"})
    tw.hubspot_user(contact, {"firstname": "Cee"})
    tw.settle()
    tw.shopper(key, {"firstName": "Dee", "lastName": "Later"})
    tw.settle()
    props = tw.hs_contact(key)["properties"]
    assert (props["firstname"], props["lastname"]) == ("Cee", "Later")


@pytest.mark.parametrize(
    ("rule_tw", "b2c", "crm"),
    [
        ("prefer_crm_unless_blank", "Old", None),  # a blank from the preferred CRM is not spread
        ("prefer_b2connect_unless_blank", None, None),  # the CRM changed alone: it wins
        ("two_way", None, None),
    ],
    indirect=["rule_tw"],
)
def test_a_crm_blank_follows_the_rule(rule_tw: TwoWay, b2c: str | None, crm: str | None) -> None:
    """A HubSpot user clears the field: spread or not, as the rule says."""
    tw = rule_tw
    key, contact = _person(tw)
    tw.shopper(key, {"firstName": "Old"})
    tw.settle()
    tw.hubspot_user(contact, {"firstname": ""})
    tw.settle()
    assert tw.customer(key)["firstName"] == b2c
    assert tw.hs_contact(key)["properties"].get("firstname") == crm
