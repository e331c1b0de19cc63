"""Two-way sync end to end: CRM edits flow back, echoes cost nothing, the systems settle."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from mapping.compiler import compile_fields
from store.models import RunStatus, metadata
from sync.run import RunSummary
from tests.e2e.conftest import E2E
from tests.e2e.two_way_support import HS, SF, TwoWay, open_two_way, two_way_config

FIELDS = {  # B2Connect path: (HubSpot property, Salesforce field)
    "firstName": ("firstname", "FirstName"),
    "lastName": ("lastname", "LastName"),
    "phone": ("phone", "Phone"),
    "billingAddress.city": ("city", "MailingCity"),
}


@pytest.fixture
def tw(e2e: E2E, tmp_path: Path) -> Iterator[TwoWay]:
    config, _ = two_way_config(tmp_path)
    yield from open_two_way(e2e, config)


def _b2c(customer: dict[str, object], path: str) -> object:
    node: object = customer
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def test_a_hubspot_edit_flows_back_to_b2connect(tw: TwoWay) -> None:
    """A HubSpot user's edit of a linked contact lands in the B2Connect customer."""
    tw.settle()
    key, contact_id = sorted(tw.linked(HS).items())[0]
    tw.hubspot_user(contact_id, {"firstname": "Zelda"})
    [hs, _sf] = tw.cycle()
    assert hs.status is RunStatus.SUCCEEDED
    assert hs.counts["pull_to_b2connect"] == 1
    assert tw.customer(key)["firstName"] == "Zelda"


def test_a_salesforce_edit_reaches_b2connect_and_hubspot(tw: TwoWay) -> None:
    """A Salesforce user's edit goes to B2Connect, and from there to HubSpot."""
    tw.settle()
    key, contact_id = sorted(tw.linked(SF).items())[0]
    tw.salesforce_user(contact_id, {"LastName": "Quist"})
    tw.settle()
    assert tw.customer(key)["lastName"] == "Quist"
    assert tw.hs_contact(key)["properties"]["lastname"] == "Quist"


def test_our_own_writes_come_back_as_free_echoes(tw: TwoWay) -> None:
    """After a backfill, the pull re-reads what push wrote and writes nothing for it."""
    tw.cycle()  # push creates the CRM records
    summaries = tw.cycle()  # the pulls read them back
    for summary in summaries:
        assert summary.counts["pull_to_b2connect"] == 0
        assert summary.counts["pull_echo"] + summary.counts["pull_echo_ours"] > 0
    sf = next(s for s in summaries if s.pipeline == SF)
    assert sf.counts["pull_echo_ours"] > 0, "Salesforce stamps our writes with our user"


def test_settled_systems_make_no_write_calls(tw: TwoWay) -> None:
    """Once settled, two more full cycles make zero write calls in all three systems."""
    tw.settle()
    assert tw.writes_during(lambda: (tw.cycle(), tw.cycle())) == {}


@pytest.mark.parametrize("seed", [5, 11, 23])
def test_random_edits_on_all_sides_settle_and_go_quiet(tw: TwoWay, seed: int) -> None:
    """Seeded random edits by shoppers and CRM users: the systems settle, agree and go quiet."""
    tw.settle()
    rng = random.Random(seed)
    linked_hs, linked_sf = tw.linked(HS), tw.linked(SF)
    keys = sorted(set(linked_hs) & set(linked_sf))
    expected: dict[tuple[str, str], object] = {}
    for n, key in enumerate(rng.sample(keys, min(24, len(keys)))):
        path = rng.choice(sorted(FIELDS))
        sides = rng.sample(["b2connect", "hubspot", "salesforce"], rng.choice([1, 1, 2]))
        edits: list[tuple[str, str]] = []
        for side in sides:
            value = _value(path, rng, n)
            edits.append((side, value))
            hs_name, sf_name = FIELDS[path]
            if side == "b2connect":
                tw.shopper(key, _nested(path, value))
            elif side == "hubspot":
                tw.hubspot_user(linked_hs[key], {hs_name: value})
            else:
                tw.salesforce_user(linked_sf[key], {sf_name: value})
        expected[(key, path)] = _winner(path, edits)
    tw.settle()
    assert tw.writes_during(lambda: (tw.cycle(), tw.cycle())) == {}
    hs_map = compile_fields(tw.runner.config.pipeline(HS).fields)
    sf_map = compile_fields(tw.runner.config.pipeline(SF).fields)
    for key in keys:
        customer, hs, sf = tw.customer(key), tw.hs_contact(key), tw.sf_contact(key)
        in_hs, in_sf = hs_map.apply(customer).payload, sf_map.apply(customer).payload
        for path, (hs_name, sf_name) in FIELDS.items():
            assert hs["properties"].get(hs_name) == in_hs[hs_name], (key, path)
            assert sf.get(sf_name) == in_sf[sf_name], (key, path)
            want = expected.get((key, path))
            if want is not None:
                assert _b2c(customer, path) == want, (key, path)


def _value(path: str, rng: random.Random, n: int) -> str:
    if path == "phone":
        return f"+49301{rng.randrange(10**6, 10**7)}"
    stem = rng.choice(["Ada", "Ben", "Cleo", "Dov", "Eli", "Fay"])
    return f"{stem}{n}{rng.randrange(100)}"


def _nested(path: str, value: str) -> dict[str, object]:
    if "." not in path:
        return {path: value}
    head, tail = path.split(".", 1)
    return {head: {tail: value}}


def _winner(path: str, edits: list[tuple[str, str]]) -> object:
    """What the field's rule says it ends as (None: the test checks agreement only)."""
    if len(edits) == 1:
        return edits[0][1]
    by_side = dict(edits)
    if "b2connect" not in by_side:
        return None  # two CRMs: whichever pipeline's pull reaches B2Connect first
    crm = next(v for side, v in edits if side != "b2connect")
    if path == "billingAddress.city":  # prefer_b2connect
        return by_side["b2connect"]
    if path == "phone":  # prefer_crm_unless_blank
        return crm
    return edits[-1][1]  # two_way: the newer edit


def test_a_pull_pipeline_brings_crm_edits_and_sends_nothing(
    e2e: E2E, tmp_path: Path, tw: TwoWay
) -> None:
    """``direction: pull``: HubSpot edits reach B2Connect; shopper edits stay in B2Connect."""
    tw.settle()
    key, contact = sorted(tw.linked(HS).items())[0]
    tw.runner.close()
    config, _ = two_way_config(tmp_path, salesforce=False, hs_direction="pull")
    for pull in open_two_way(e2e, config):
        tw.shopper(key, {"firstName": "ShopOnly"})
        tw.hubspot_user(contact, {"lastname": "CrmOnly"})
        writes = pull.writes_during(pull.cycle)
        assert set(writes) == {"b2connect PATCH /api/crm/customers/{rid}"}
        assert tw.customer(key)["lastName"] == "CrmOnly"
        assert tw.hs_contact(key)["properties"]["firstname"] != "ShopOnly"


def test_a_pulled_edit_is_audited_in_the_same_commit(tw: TwoWay) -> None:
    """The write-back is a ``b2connect.write`` event from HubSpot naming the changed field."""
    tw.settle()
    _key, contact = sorted(tw.linked(HS).items())[0]
    tw.hubspot_user(contact, {"lastname": "Audited"})
    tw.cycle()
    table = metadata.tables["audit_events"]
    with tw.runner.db.connect() as conn:
        rows = conn.execute(
            sa.select(table.c.source_system, table.c.target_system, table.c.changed_fields).where(
                table.c.action == "b2connect.write"
            )
        ).all()
    assert [tuple(r) for r in rows] == [("hubspot", "b2connect", ["lastname"])]


def test_a_dry_run_of_a_two_way_pipeline_writes_nothing(tw: TwoWay) -> None:
    """``--dry-run`` describes the write-back it would make and makes no write call."""
    tw.settle()
    key, contact = sorted(tw.linked(HS).items())[0]
    tw.hubspot_user(contact, {"firstname": "Maybe"})
    pipe = tw.runner.config.pipeline(HS)
    summaries: list[RunSummary] = []
    writes = tw.writes_during(lambda: summaries.append(tw.runner.run_pipeline(pipe, dry_run=True)))
    assert writes == {}
    rows = [r for r in summaries[0].dry_run_plan if r["action"] == "pull"]
    assert rows == [
        {"key": key, "action": "pull", "object": "customers", "fields": {"firstName": "Maybe"}}
    ]
    assert tw.customer(key)["firstName"] != "Maybe"
