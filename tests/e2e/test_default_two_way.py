"""The shipped config.yaml syncs Salesforce both ways, with HubSpot's per-field rules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import E2E
from tests.e2e.two_way_support import HS, SF, TwoWay, open_two_way


def _only(e2e: E2E, name: str) -> Iterator[TwoWay]:
    """A runner over the shipped config holding just the customers pipeline ``name``."""
    config = e2e.config.model_copy(update={"pipelines": [e2e.config.pipeline(name)]})
    yield from open_two_way(e2e, config)


@pytest.fixture
def shipped(request: pytest.FixtureRequest, e2e: E2E) -> Iterator[TwoWay]:
    yield from _only(e2e, request.param)


def _crm_edit(tw: TwoWay, pipeline: str, crm_id: str, field: str, value: str) -> None:
    names = {"firstName": ("firstname", "FirstName"), "phone": ("phone", "Phone")}[field]
    if pipeline == HS:
        tw.hubspot_user(crm_id, {names[0]: value})
    else:
        tw.salesforce_user(crm_id, {names[1]: value})


@pytest.mark.parametrize("shipped", [SF], indirect=True)
def test_a_salesforce_edit_reaches_b2connect_under_the_shipped_config(shipped: TwoWay) -> None:
    """A Salesforce user's edit of a linked Contact lands in the B2Connect customer."""
    tw = shipped
    assert tw.runner.config.pipeline(SF).direction == "both"
    tw.settle()
    key, contact = sorted(tw.linked(SF).items())[0]
    tw.salesforce_user(contact, {"LastName": "Quist"})
    [summary] = tw.cycle()
    assert summary.counts["pull_to_b2connect"] == 1
    assert tw.customer(key)["lastName"] == "Quist"
    assert tw.writes_during(lambda: (tw.cycle(), tw.cycle())) == {}


@pytest.mark.parametrize("shipped", [HS, SF], indirect=True)
def test_a_conflict_ends_the_same_way_in_both_crms(shipped: TwoWay) -> None:
    """CRM user edits, then the shopper edits later: phone keeps the CRM's value
    (prefer_crm_unless_blank), firstName the newer, shopper's one (two_way), in either CRM."""
    tw = shipped
    pipeline = tw.runner.config.pipelines[0].name
    tw.settle()
    key, crm_id = sorted(tw.linked(pipeline).items())[0]
    _crm_edit(tw, pipeline, crm_id, "phone", "+493012345678")
    _crm_edit(tw, pipeline, crm_id, "firstName", "Cee")
    tw.shopper(key, {"phone": "+493087654321", "firstName": "Bee"})
    tw.settle()
    customer = tw.customer(key)
    assert (customer["phone"], customer["firstName"]) == ("+493012345678", "Bee")
