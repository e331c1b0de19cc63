"""Salesforce sObject Collections refuse the WHOLE request on one malformed record.

Vendor: "If the request isn't well formed, the API returns a 400 Bad Request HTTP Status"
(REST API Developer Guide, "Create / Update / Upsert Records Using sObject Collections",
https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-create.html).
The body is read into typed sObjects before any record is saved, so a value of the wrong type
(JSON_PARSER_ERROR) or an unknown field (INVALID_FIELD) in one record fails all of them with
one error array ``[{"message", "errorCode", "fields"?}]``; values that bind but break a rule
(STRING_TOO_LONG, ...) stay per-record results. The connector splits the batch until the bad
record is alone and dead-letters only that one (docs/fidelity.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from connectors.records import WriteItem
from connectors.salesforce import SalesforceConnector
from emulators.salesforce import SalesforceEmulator
from store.models import metadata
from tests.connectors.salesforce_support import UPSERT, connect, contacts, emulator_calls
from tests.e2e.conftest import E2E, by_key
from tests.e2e.test_cli_sync import cli

LEAD_SCORE_LINE = (
    "      - {b2connect: insights.lead_score, crm: Lead_Score__c, transform: [number]}\n"
)


def _upsert(sf: Salesforce, records: list[dict[str, Any]]) -> Any:
    return sf.restful(
        "composite/sobjects/Contact/B2Connect_Id__c",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [{"attributes": {"type": "Contact"}, **r} for r in records],
        },
    )


def _count(sf: Salesforce) -> int:
    return int(sf.query("SELECT COUNT() FROM Contact")["totalSize"])


# ---- the emulator, through simple-salesforce


def test_wrongly_typed_value_fails_the_whole_collection(sf: Salesforce) -> None:
    """ "abc" for a number field: one 400 JSON_PARSER_ERROR for the call, nothing saved."""
    good = {"B2Connect_Id__c": "k1", "LastName": "A"}
    bad = {"B2Connect_Id__c": "k2", "LastName": "B", "Lead_Score__c": "abc"}
    with pytest.raises(SalesforceMalformedRequest) as caught:
        _upsert(sf, [good, bad])
    content: Any = caught.value.content
    [error] = content
    assert error["errorCode"] == "JSON_PARSER_ERROR"
    assert error["message"].startswith("Cannot deserialize instance of double from VALUE_STRING")
    assert _count(sf) == 0


def test_unknown_field_fails_the_whole_collection(sf: Salesforce) -> None:
    """An unknown column in one record: one 400 INVALID_FIELD naming it, nothing saved."""
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful(
            "composite/sobjects",
            method="POST",
            json={
                "records": [
                    {"attributes": {"type": "Contact"}, "LastName": "A"},
                    {"attributes": {"type": "Contact"}, "LastName": "B", "Nope__c": 1},
                ]
            },
        )
    content: Any = caught.value.content
    [error] = content
    assert error == {
        "message": "No such column 'Nope__c' on sobject of type Contact",
        "errorCode": "INVALID_FIELD",
        "fields": ["Nope__c"],
    }
    assert _count(sf) == 0


def test_readable_values_still_fail_per_record(sf: Salesforce) -> None:
    """A numeric string binds to a number; a too-long value is still that record's error."""
    results = _upsert(
        sf,
        [
            {"B2Connect_Id__c": "k1", "LastName": "A", "Lead_Score__c": "42"},
            {"B2Connect_Id__c": "k2", "LastName": "B" * 81},
        ],
    )
    assert [r["success"] for r in results] == [True, False]
    assert results[1]["errors"][0]["statusCode"] == "STRING_TOO_LONG"


# ---- the connector


@pytest.fixture
def connector(salesforce_emulator: SalesforceEmulator) -> Iterator[SalesforceConnector]:
    conn = connect(salesforce_emulator)
    yield conn
    conn.close()


def test_connector_isolates_the_malformed_record(
    connector: SalesforceConnector, salesforce_emulator: SalesforceEmulator
) -> None:
    """One bad value among 16: only that record fails, with the vendor's code and message;
    the split costs O(log n) calls, not one per record."""
    items = contacts(16)
    items[5] = WriteItem(key="c5", payload={"LastName": "Bad", "Lead_Score__c": "abc"})
    results = connector.write("Contact", items)
    failed = [r for r in results if not r.ok]
    assert [r.key for r in failed] == ["c5"]
    assert failed[0].error is not None
    assert failed[0].error.code == "JSON_PARSER_ERROR"
    assert "Cannot deserialize instance of double" in failed[0].error.message
    assert not failed[0].error.retriable
    assert all(r.ok for r in results if r.key != "c5")
    assert emulator_calls(salesforce_emulator).get(UPSERT, 0) <= 2 * 4 + 1


def test_connector_fails_records_with_an_unknown_column_without_splitting(
    connector: SalesforceConnector, salesforce_emulator: SalesforceEmulator
) -> None:
    """An unknown column fails every record carrying it, whatever its value, in one step;
    the others are re-sent once and written."""
    items = contacts(16)
    for index in (3, 11):
        items[index] = WriteItem(key=f"c{index}", payload={"LastName": "X", "Nope__c": index})
    results = connector.write("Contact", items)
    failed = {r.key: r.error for r in results if not r.ok}
    assert sorted(failed) == ["c11", "c3"]
    assert all(e is not None and e.code == "INVALID_FIELD" for e in failed.values())
    assert all(e is not None and e.field == "Nope__c" for e in failed.values())
    assert emulator_calls(salesforce_emulator).get(UPSERT, 0) == 2


# ---- end to end through `b2sync sync`


def test_sync_dead_letters_only_the_malformed_record(e2e: E2E) -> None:
    """A mapping sends a text value into a number field: `b2sync sync` succeeds, the other
    customers are synced and one dead letter carries JSON_PARSER_ERROR and the message."""
    text = e2e.config_path.read_text(encoding="utf-8")
    assert LEAD_SCORE_LINE in text
    text = text.replace(LEAD_SCORE_LINE, "      - {b2connect: salutation, crm: Lead_Score__c}\n")
    e2e.config_path.write_text(text, encoding="utf-8")
    customers = e2e.records("b2connect", "customers")
    bad, numeric = customers[1]["id"], customers[2]["id"]
    e2e.stack.b2connect.admin_patch("customers", bad, {"salutation": "Dr."})
    e2e.stack.b2connect.admin_patch("customers", numeric, {"salutation": "42"})

    result = cli(e2e, "sync", "customers-to-salesforce", "--json", "--config", str(e2e.config_path))
    assert result.returncode == 0, result.stderr[-3000:]
    [summary] = json.loads(result.stdout)
    assert summary["status"] == "succeeded", summary

    runner = e2e.runner()
    try:
        with runner.db.connect() as conn:
            table = metadata.tables["dead_letters"]
            dead = [dict(r._mapping) for r in conn.execute(sa.select(table))]
            conflicts = {
                r.record_key for r in conn.execute(sa.select(metadata.tables["conflicts"]))
            }
    finally:
        runner.close()
    malformed = [d for d in dead if d["error_code"] == "JSON_PARSER_ERROR"]
    assert [d["record_key"] for d in malformed] == [bad]
    assert "Cannot deserialize instance of double" in str(malformed[0]["error_message"])
    synced = by_key(e2e.records("salesforce", "Contact"), "B2Connect_Id__c")
    assert bad not in synced
    assert synced[numeric][0]["Lead_Score__c"] == 42
    parked = {d["record_key"] for d in dead if d["status"] == "pending"}
    for customer in customers:
        key = customer["id"]
        assert (key in synced) == (key not in parked | conflicts), key
