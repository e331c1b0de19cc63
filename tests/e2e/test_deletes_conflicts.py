"""`b2sync conflicts` against the emulators: an ambiguous Salesforce match resolved by hand."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from typer.testing import CliRunner

from b2sync.cli import app
from store.models import metadata
from tests.e2e.conftest import E2E
from tests.e2e.test_deletes_restore import table

SF_PIPE = "customers-to-salesforce"
HS_UPSERT = "POST /crm/v3/objects/{object_type}/batch/upsert"


def cli(e2e: E2E, *args: str) -> Any:
    return CliRunner().invoke(app, list(args), env={"B2SYNC_CONFIG": str(e2e.config_path)})


def ambiguous(e2e: E2E) -> dict[str, Any]:
    [summary] = e2e.sync(SF_PIPE)
    assert summary.counts["conflicts"] >= 1
    return next(c for c in table(e2e, "conflicts") if c["kind"] == "ambiguous_match")


def test_list_json_shows_the_ambiguous_match(e2e: E2E) -> None:
    """`conflicts list --json` lists the open ambiguous match with its candidates."""
    conflict = ambiguous(e2e)
    result = cli(e2e, "conflicts", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    row = rows[conflict["id"]]
    assert row["kind"] == "ambiguous_match"
    assert len(row["details"]["candidates"]) == 2


def test_take_candidate_links_that_contact(e2e: E2E) -> None:
    """`--take <Contact Id>` links the customer to that Contact and writes it at once."""
    conflict = ambiguous(e2e)
    chosen = conflict["details"]["candidates"][1]
    result = cli(e2e, "conflicts", "resolve", str(conflict["id"]), "--take", chosen)
    assert result.exit_code == 0, result.output
    contacts = {c["Id"]: c for c in e2e.records("salesforce", "Contact")}
    assert contacts[chosen]["B2Connect_Id__c"] == conflict["record_key"]
    other = conflict["details"]["candidates"][0]
    assert contacts[other].get("B2Connect_Id__c") in (None, "")
    [link] = [r for r in table(e2e, "links") if r["b2connect_key"] == conflict["record_key"]]
    assert link["crm_id"] == chosen
    [row] = [c for c in table(e2e, "conflicts") if c["id"] == conflict["id"]]
    assert json.loads(row["resolution"])["applied"] is True


def test_resolution_is_audited_as_the_operator(e2e: E2E) -> None:
    """Resolving writes a conflict.resolved audit event with actor operator:<name>."""
    conflict = ambiguous(e2e)
    chosen = conflict["details"]["candidates"][0]
    result = cli(
        e2e, "conflicts", "resolve", str(conflict["id"]), "--take", chosen, "--actor", "ann"
    )
    assert result.exit_code == 0, result.output
    events = [e for e in table(e2e, "audit_events") if e["action"] == "conflict.resolved"]
    assert [e["actor"] for e in events] == ["operator:ann"]
    assert events[0]["details"]["conflict_id"] == conflict["id"]


def test_second_resolve_exits_2(e2e: E2E) -> None:
    """Resolving a conflict twice is a usage error (exit 2)."""
    conflict = ambiguous(e2e)
    chosen = conflict["details"]["candidates"][0]
    assert cli(e2e, "conflicts", "resolve", str(conflict["id"]), "--take", chosen).exit_code == 0
    again = cli(e2e, "conflicts", "resolve", str(conflict["id"]), "--take", chosen)
    assert again.exit_code == 2
    assert "already resolved" in again.output


def test_manual_value_is_written_to_both_systems_once(e2e: E2E) -> None:
    """`--take VALUE` on a manual field writes it to HubSpot and B2Connect; no echo write."""
    [first] = e2e.sync("customers-to-hubspot")
    assert first.counts["written"] > 0
    key = next(r["b2connect_key"] for r in table(e2e, "links") if r["crm_id"])
    runner = e2e.runner()
    try:
        with runner.db.begin() as conn:
            conn.execute(
                sa.insert(metadata.tables["conflicts"]).values(
                    pipeline="customers-to-hubspot",
                    record_key=key,
                    field="city",
                    kind="manual_rule",
                    details={"rule": "manual", "b2connect_field": "billingAddress.city"},
                    status="open",
                    created_at=runner.clock(),
                )
            )
    finally:
        runner.close()
    [conflict] = [c for c in table(e2e, "conflicts") if c["kind"] == "manual_rule"]
    result = cli(e2e, "conflicts", "resolve", str(conflict["id"]), "--take", "Hamburg")
    assert result.exit_code == 0, result.output
    [contact] = [
        c for c in e2e.records("hubspot", "contacts") if c["properties"].get("b2connect_id") == key
    ]
    assert contact["properties"]["city"] == "Hamburg"
    shopper = e2e.stack.b2connect.admin_get("customers", key)
    assert shopper["billingAddress"]["city"] == "Hamburg"
    upserts = e2e.calls("hubspot").get(HS_UPSERT, 0)
    [again] = e2e.sync("customers-to-hubspot")
    assert again.counts["written"] == 0
    assert e2e.calls("hubspot").get(HS_UPSERT, 0) == upserts
