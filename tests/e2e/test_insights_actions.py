"""The connectors' rule actions against the emulators: lists, campaigns and tasks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from connectors.base import SupportsActions, TaskSpec
from sync.runner import Runner
from tests.e2e.conftest import E2E


@pytest.fixture
def runner(e2e: E2E) -> Iterator[Runner]:
    made = e2e.runner()
    yield made
    made.close()


def _actions(runner: Runner, connection: str) -> SupportsActions:
    connector = runner.connector(connection)
    assert isinstance(connector, SupportsActions)
    return connector


def test_hubspot_list_by_name_and_missing_contacts(e2e: E2E, runner: Runner) -> None:
    """A list is found by name; members are added once; unknown contact ids fail alone."""
    hubspot = _actions(runner, "hubspot")
    contact = e2e.records("hubspot", "contacts")[0]["id"]
    list_id = hubspot.resolve_list("B2C VIP")
    assert list_id is not None

    first = hubspot.add_to_list(list_id, [contact, "999999"])
    again = hubspot.add_to_list(list_id, [contact])

    assert [r.ok for r in first] == [True, False]
    assert first[1].error is not None and first[1].error.code == "RECORD_NOT_FOUND"
    assert again[0].ok
    members = e2e.stack.hubspot.lists.lists[list_id].members
    assert list(members) == [contact]
    assert hubspot.resolve_list("No such list") is None


def test_hubspot_task_is_associated_with_the_contact(e2e: E2E, runner: Runner) -> None:
    """The task goes to the contact's owner with subject, priority, due date; type 204."""
    hubspot = _actions(runner, "hubspot")
    contact = e2e.records("hubspot", "contacts")[0]["id"]
    e2e.stack.hubspot.admin_patch("contacts", contact, {"properties": {"hubspot_owner_id": "77"}})

    result = hubspot.create_task(contact, TaskSpec("Call them", "VIP", "high", date(2026, 12, 1)))

    assert result.ok
    [task] = e2e.records("hubspot", "tasks")
    props = task["properties"]
    assert (props["hs_task_subject"], props["hs_task_priority"], props["hs_task_status"]) == (
        "Call them", "HIGH", "NOT_STARTED",
    )  # fmt: skip
    assert props["hs_timestamp"].startswith("2026-12-01")
    assert props["hubspot_owner_id"] == "77"  # the contact's owner
    links = [
        a
        for a in e2e.records("hubspot", "associations")
        if (a["fromObjectType"], str(a["fromObjectId"])) == ("tasks", task["id"])
    ]
    assert [(a["toObjectType"], str(a["toObjectId"]), a["associationTypeIds"]) for a in links] == [
        ("contacts", contact, [204])
    ]


def test_salesforce_campaign_membership_is_idempotent(e2e: E2E, runner: Runner) -> None:
    """CampaignMember by campaign name; adding the same contact again is not a duplicate."""
    salesforce = _actions(runner, "salesforce")
    contact = e2e.records("salesforce", "Contact")[0]["Id"]
    campaign = salesforce.resolve_list("B2C Win-back")
    assert campaign is not None and campaign.startswith("701")

    first = salesforce.add_to_list(campaign, [contact])
    again = salesforce.add_to_list(campaign, [contact])

    assert first[0].ok and again[0].ok
    members = [m for m in e2e.records("salesforce", "CampaignMember") if not m["IsDeleted"]]
    assert [(m["CampaignId"], m["ContactId"]) for m in members] == [(campaign, contact)]


def test_salesforce_task_goes_to_the_contact_owner(e2e: E2E, runner: Runner) -> None:
    """The Task is on the contact (WhoId), owned by the contact's owner, due as asked."""
    salesforce = _actions(runner, "salesforce")
    contact = e2e.records("salesforce", "Contact")[0]

    result = salesforce.create_task(
        contact["Id"], TaskSpec("Check in", None, "low", date(2026, 12, 3))
    )

    assert result.ok
    [task] = [t for t in e2e.records("salesforce", "Task") if t["WhoId"] == contact["Id"]]
    assert (task["OwnerId"], task["Priority"], task["Status"]) == (
        contact["OwnerId"], "Low", "Not Started",
    )  # fmt: skip
    assert task["ActivityDate"] == "2026-12-03"
