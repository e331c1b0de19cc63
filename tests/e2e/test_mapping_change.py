"""Mapping changes reach existing records, through the CLI.

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

#: pipeline, the YAML line the new field goes after, the new line, where it lands in the CRM
CASES = {
    "salesforce": (
        "customers-to-salesforce",
        "      - {b2connect: billingAddress.postalCode, crm: MailingPostalCode, transform: [strip]}\n",
        "      - {b2connect: customerNumber, crm: Description}\n",
        ("Contact", "B2Connect_Id__c", "Description"),
    ),
    "hubspot": (  # a two-way pipeline: pull first, then the guarded push
        "customers-to-hubspot",
        "      - {b2connect: billingAddress.city, crm: city, transform: [strip]}\n",
        "      - {b2connect: customerNumber, crm: company, direction: push}\n",
        ("contacts", "b2connect_id", "company"),
    ),
}


def _sync(e2e: E2E, pipeline: str) -> dict[str, Any]:
    result = cli(e2e, "sync", pipeline, "--json", "--config", str(e2e.config_path))
    assert result.returncode == 0, result.stderr[-3000:]
    [summary] = json.loads(result.stdout)
    assert summary["status"] == "succeeded", summary
    return dict(summary)


def _crm(e2e: E2E, system: str, obj: str, id_field: str) -> dict[str, dict[str, Any]]:
    found = by_key(e2e.records(system, obj), id_field)
    return {key: records[0].get("properties", records[0]) for key, records in found.items()}


@pytest.mark.slow
@pytest.mark.parametrize("system", sorted(CASES))
def test_added_field_reaches_existing_records_then_nothing_is_written(
    e2e: E2E, system: str
) -> None:
    """sync; add a mapped field; sync → the field reaches every linked record; sync → no writes."""
    pipeline, anchor, added, (obj, id_field, crm_field) = CASES[system]
    first = _sync(e2e, pipeline)
    assert first["counts"]["written"] > 0 and not first.get("notes")
    synced = _crm(e2e, system, obj, id_field)
    assert synced and not any(fields.get(crm_field) for fields in synced.values())

    text = e2e.config_path.read_text(encoding="utf-8")
    assert text.count(anchor) == 1
    e2e.config_path.write_text(text.replace(anchor, anchor + added), encoding="utf-8")

    second = _sync(e2e, pipeline)
    shop = {r["id"]: r for r in e2e.records("b2connect", "customers")}
    now = _crm(e2e, system, obj, id_field)
    for key in synced:
        assert now[key][crm_field] == shop[key]["customerNumber"], key
    assert second["counts"]["updated"] >= len(synced)
    assert second["counts"].get("created", 0) == 0
    assert any("mapping changed" in note for note in second["notes"]), second

    third = _sync(e2e, pipeline)
    assert not third["notes"]
    assert third["counts"].get("written", 0) == 0 and third["counts"].get("read", 0) == 0
