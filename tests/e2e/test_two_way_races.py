"""Edits that land while a cycle runs are merged, never overwritten or lost."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from connectors.records import Record
from mapping.config import Config, Pipeline
from sync.hooks import HookContext, RecordHook
from tests.e2e.conftest import E2E
from tests.e2e.two_way_support import HS, SF, TwoWay, open_two_way, two_way_config


@pytest.fixture
def tw(e2e: E2E, tmp_path: Path) -> Iterator[TwoWay]:
    config, _ = two_way_config(tmp_path)
    yield from open_two_way(e2e, config)


def _during_pull(
    tw: TwoWay, monkeypatch: pytest.MonkeyPatch, pipeline: str, action: Callable[[], None]
) -> list[int]:
    """Run ``action`` once, inside ``pipeline``'s next pull (after its read, before its writes)."""
    fired: list[int] = []

    def factory(_config: Config, pipe: Pipeline) -> RecordHook | None:
        if pipe.name != pipeline:
            return None

        def hook(context: HookContext, records: list[Record]) -> list[Record]:
            if context.origin == "crm" and not fired:
                fired.append(1)
                action()
            return records

        return hook

    monkeypatch.setattr(tw.runner, "hooks", (*tw.runner.hooks, factory))
    return fired


def test_an_edit_between_our_write_and_our_next_read_is_applied(
    tw: TwoWay, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Salesforce edit made while b2sync writes the same record (stamped by our user) is
    still pulled into B2Connect on the next cycle."""
    tw.settle()
    key, contact = sorted(tw.linked(SF).items())[0]
    tw.salesforce_user(contact, {"FirstName": "Read"})
    tw.shopper(key, {"lastName": "Written"})
    fired = _during_pull(
        tw, monkeypatch, SF, lambda: tw.salesforce_user(contact, {"MailingCity": "Racetown"})
    )
    tw.cycle()  # the pull reads FirstName, the user edits the city, the pull writes LastName
    assert fired
    ours = tw.stack.salesforce.integration_user_id
    assert tw.stack.salesforce.admin_get("Contact", contact)["LastModifiedById"] == ours
    tw.settle()
    customer = tw.customer(key)
    assert (customer["firstName"], customer["lastName"]) == ("Read", "Written")
    assert customer["billingAddress"]["city"] == "Racetown"
    assert tw.sf_contact(key)["MailingCity"] == "Racetown"


def test_push_does_not_overwrite_a_crm_edit_made_after_the_pull(
    tw: TwoWay, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A HubSpot edit landing between the pull and the push of the same field is merged by
    the field's rule (two_way: the newer HubSpot edit wins), not overwritten by push."""
    tw.settle()
    linked = sorted(tw.linked(HS).items())
    (key, contact), (_other, trigger) = linked[0], linked[1]
    tw.shopper(key, {"firstName": "Shopper"})
    tw.hubspot_user(trigger, {"lastname": "Trigger"})  # gives the pull something to read
    fired = _during_pull(
        tw, monkeypatch, HS, lambda: tw.hubspot_user(contact, {"firstname": "Seller"})
    )
    [hs, _sf] = tw.cycle()
    assert fired
    assert hs.counts["pull_deferred_to_pull"] == 1
    assert tw.hs_contact(key)["properties"]["firstname"] == "Seller"
    tw.settle()
    assert tw.customer(key)["firstName"] == "Seller"
    assert tw.hs_contact(key)["properties"]["firstname"] == "Seller"


def test_a_change_made_during_a_pull_is_read_by_the_next_one(
    tw: TwoWay, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pull's cursor stops at its start: an edit made while it runs is not skipped."""
    tw.settle()
    linked = sorted(tw.linked(HS).items())
    (key, contact), (_other, trigger) = linked[0], linked[1]
    tw.hubspot_user(trigger, {"lastname": "Trigger"})
    _during_pull(tw, monkeypatch, HS, lambda: tw.hubspot_user(contact, {"city": "Midrun"}))
    tw.cycle()
    tw.settle()
    assert tw.customer(key)["billingAddress"]["city"] == "Midrun"
