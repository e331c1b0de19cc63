"""No blanking: a mapping mistake or a mass clear in one system does
not blank a field of the other, and every write a run makes is counted in its summary."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from mapping.config import parse_config
from store.models import metadata
from tests.e2e.conftest import E2E
from tests.e2e.test_cli_sync import cli
from tests.e2e.two_way_support import HS, TwoWay, open_two_way, two_way_config

B2C_PATCH = "b2connect PATCH /api/crm/customers/{rid}"


@pytest.fixture
def tw(e2e: E2E, tmp_path: Path) -> Iterator[TwoWay]:
    config, path = two_way_config(tmp_path, salesforce=False)
    e2e.config_path = path
    yield from open_two_way(e2e, config)


def _first_names(tw: TwoWay) -> dict[str, str | None]:
    return {c["id"]: c.get("firstName") for c in tw.e2e.records("b2connect", "customers")}


def test_a_crm_field_empty_everywhere_blanks_nothing_in_b2connect(tw: TwoWay) -> None:
    """firstName remapped to a CRM property empty in every contact (as a typo would be):
    sync --full keeps every B2Connect first name, fills the CRM side and says so."""
    tw.settle()
    before = _first_names(tw)
    path = tw.e2e.config_path
    path.write_text(path.read_text().replace("crm: firstname,", "crm: jobtitle,"))
    run = {}
    writes = tw.writes_during(
        lambda: run.update(done=cli(tw.e2e, "sync", HS, "--full", "--json", "--config", str(path)))
    )
    assert run["done"].returncode == 0, run["done"].stderr
    assert B2C_PATCH not in writes
    assert _first_names(tw) == before
    [summary] = json.loads(run["done"].stdout)
    assert summary["writes"]["b2connect_updated"] == 0
    assert summary["writes"]["crm_updated"] > 0  # the names went to the empty CRM field
    named = {k for k, v in before.items() if v and v.strip()}
    filled = {
        c["properties"]["b2connect_id"]
        for c in tw.e2e.records("hubspot", "contacts")
        if c["properties"].get("jobtitle")
    }
    assert named & set(tw.linked(HS)) <= filled


def test_the_summary_counts_the_pulls_b2connect_writes(tw: TwoWay) -> None:
    """HubSpot users' edits written back to B2Connect show in the table and the JSON."""
    tw.settle()
    for key, contact in sorted(tw.linked(HS).items())[:3]:
        tw.hubspot_user(contact, {"lastname": f"Edited {key[:4]}"})
    path = str(tw.e2e.config_path)
    run = {}
    writes = tw.writes_during(
        lambda: run.update(done=cli(tw.e2e, "sync", HS, "--json", "--config", path))
    )
    [summary] = json.loads(run["done"].stdout)
    assert writes[B2C_PATCH] == 3
    assert summary["writes"]["b2connect_updated"] == 3
    table = cli(tw.e2e, "sync", HS, "--config", path)
    assert "b2connect" in table.stdout and "updated" in table.stdout


def test_a_mass_clear_in_the_crm_trips_the_blank_breaker(tw: TwoWay) -> None:
    """A HubSpot user clears 12 last names (limit: max(10, 10%)): nothing is blanked in
    B2Connect, the pipeline pauses until resumed, then the intended clears go through."""
    tw.settle()
    linked = sorted(tw.linked(HS).items())[:12]
    names = {c["id"]: c["lastName"] for c in tw.e2e.records("b2connect", "customers")}
    for _key, contact in linked:
        tw.hubspot_user(contact, {"lastname": ""})
    writes = tw.writes_during(tw.cycle)
    run = tw.summaries[-1]
    assert run.status.value == "paused" and "blank breaker" in (run.error or "")
    assert "lastname" in (run.error or "")
    assert B2C_PATCH not in writes
    assert all(tw.customer(key)["lastName"] == names[key] for key, _ in linked)
    assert tw.writes_during(tw.cycle) == {}  # still paused
    events = metadata.tables["audit_events"]
    with tw.runner.db.connect() as conn:
        query = sa.select(events.c.details).where(events.c.action == "pipeline.breaker_tripped")
        [details] = conn.execute(query).scalars()
    assert (details["breaker"], details["field"], details["count"]) == ("blank", "lastname", 12)
    path = str(tw.e2e.config_path)
    status = cli(tw.e2e, "status", "--json", "--config", path)
    [row] = [r for r in json.loads(status.stdout)["pipelines"] if r["pipeline"] == HS]
    assert row["delete_breaker"]["kind"] == "blank"
    assert "blank breaker tripped" in row["delete_breaker"]["message"]
    resumed = cli(tw.e2e, "pipelines", "resume", HS, "--allow-deletes", "--config", path)
    assert resumed.returncode == 0, resumed.stderr
    tw.settle()
    assert all(not tw.customer(key)["lastName"] for key, _ in linked)


def test_a_mass_clear_in_b2connect_does_not_spread_to_the_crm(tw: TwoWay) -> None:
    """12 first names cleared in the shop: push pauses instead of blanking the contacts."""
    tw.settle()
    linked = sorted(tw.linked(HS))[:12]
    for key in linked:
        tw.shopper(key, {"firstName": None})
    writes = tw.writes_during(tw.cycle)
    run = tw.summaries[-1]
    assert run.status.value == "paused" and "firstname" in (run.error or "")
    assert not any(k.startswith("hubspot") and "batch" in k for k in writes)
    assert all(tw.hs_contact(key)["properties"].get("firstname") for key in linked)


def test_push_does_not_blank_a_newly_mapped_crm_field(e2e: E2E, tmp_path: Path) -> None:
    """Push-only: a new mapping from an empty shop field to a filled CRM property writes
    nothing over the CRM's values (first sync), and a later shop value does go out."""
    config, path = two_way_config(tmp_path, salesforce=False, hs_direction="push")
    with contextlib.contextmanager(open_two_way)(e2e, config) as tw:
        tw.settle()
        contacts = sorted(tw.linked(HS).items())[:3]
        for _key, contact in contacts:
            tw.hubspot_user(contact, {"jobtitle": "Buyer"})
    text = path.read_text().replace(
        "      - {b2connect: lastName,", "      - {b2connect: salutation, crm: jobtitle}\n"
        "      - {b2connect: lastName,"
    )  # fmt: skip
    path.write_text(text)
    with contextlib.contextmanager(open_two_way)(e2e, parse_config(text, str(path))) as tw:
        full = [lambda p=p: tw.runner.run_pipeline(p, full=True) for p in tw.runner.select(None)]
        assert tw.writes_during(lambda: [run() for run in full]) == {}
        assert all(tw.hs_contact(k)["properties"]["jobtitle"] == "Buyer" for k, _ in contacts)
        key = contacts[0][0]
        tw.shopper(key, {"salutation": "Dr."})
        tw.settle()
        assert tw.hs_contact(key)["properties"]["jobtitle"] == "Dr."
