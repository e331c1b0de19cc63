"""Mapping changes reach existing records (issue 14, finding 3), through the CLI.

A field added to a pipeline's YAML changes the pipeline's mapping fingerprint; the next run
re-plans every record of the stream, writes only the new field to the records synced before,
and says so; the run after that writes nothing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.conftest import E2E, by_key
from tests.e2e.test_cli_sync import cli

PIPELINE = "customers-to-salesforce"
ANCHOR = (
    "      - {b2connect: billingAddress.postalCode, crm: MailingPostalCode, transform: [strip]}\n"
)
ADDED = "      - {b2connect: customerNumber, crm: Description}\n"


def _sync(e2e: E2E) -> dict[str, Any]:
    result = cli(e2e, "sync", PIPELINE, "--json", "--config", str(e2e.config_path))
    assert result.returncode == 0, result.stderr[-3000:]
    [summary] = json.loads(result.stdout)
    assert summary["status"] == "succeeded", summary
    return dict(summary)


@pytest.mark.slow
def test_added_field_reaches_existing_records_then_nothing_is_written(e2e: E2E) -> None:
    """sync; add a mapped field; sync → the field reaches every linked Contact; sync → no writes."""
    first = _sync(e2e)
    assert first["counts"]["written"] > 0 and not first.get("notes")
    synced = by_key(e2e.records("salesforce", "Contact"), "B2Connect_Id__c")
    assert synced and not any(c[0].get("Description") for c in synced.values())

    text = e2e.config_path.read_text(encoding="utf-8")
    assert text.count(ANCHOR) == 1
    e2e.config_path.write_text(text.replace(ANCHOR, ANCHOR + ADDED), encoding="utf-8")

    second = _sync(e2e)
    shop = {r["id"]: r for r in e2e.records("b2connect", "customers")}
    contacts = by_key(e2e.records("salesforce", "Contact"), "B2Connect_Id__c")
    for key in synced:
        [contact] = contacts[key]
        assert contact["Description"] == shop[key]["customerNumber"], key
    assert second["counts"]["updated"] >= len(synced)
    assert second["counts"].get("created", 0) == 0
    assert any("mapping changed" in note for note in second["notes"]), second

    third = _sync(e2e)
    assert not third["notes"]
    assert third["counts"].get("written", 0) == 0 and third["counts"].get("read", 0) == 0
