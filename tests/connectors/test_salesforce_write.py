"""SalesforceConnector.write end to end through the emulator: Collections and Bulk API 2.0."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest

from connectors.errors import Fatal
from connectors.records import WriteItem
from connectors.salesforce import SalesforceConnector
from emulators.salesforce import SalesforceEmulator
from tests.connectors.salesforce_support import (
    UPSERT,
    connect,
    contacts,
    emulator_calls,
    inject,
)

INGEST = "POST /services/data/{version}/jobs/ingest"


@pytest.fixture
def connector(salesforce_emulator: SalesforceEmulator) -> Iterator[SalesforceConnector]:
    conn = connect(salesforce_emulator)
    yield conn
    conn.close()


def test_upsert_creates_then_updates_without_duplicates(
    connector: SalesforceConnector, salesforce_emulator: SalesforceEmulator
) -> None:
    """A second upsert of the same keys updates the same records instead of adding more."""
    first = connector.write("Contact", contacts(3))
    second = connector.write("Contact", contacts(3, Title="Buyer"))
    assert [r.created for r in first] == [True, True, True]
    assert [r.created for r in second] == [False, False, False]
    assert [r.crm_id for r in second] == [r.crm_id for r in first]
    rows = salesforce_emulator.admin_list("Contact")
    assert len(rows) == 3
    assert {r["Title"] for r in rows} == {"Buyer"}
    assert {r["B2Connect_Id__c"] for r in rows} == {"c0", "c1", "c2"}


def test_upserts_go_200_records_per_call(
    connector: SalesforceConnector, salesforce_emulator: SalesforceEmulator
) -> None:
    """450 records take three Collections calls, counted alike by emulator and connector."""
    results = connector.write("Contact", contacts(450))
    assert all(r.ok for r in results)
    assert emulator_calls(salesforce_emulator)[UPSERT] == 3
    assert connector.calls[UPSERT] == 3


def test_string_too_long_fails_only_that_record(connector: SalesforceConnector) -> None:
    """An over-long value is a per-record STRING_TOO_LONG failure naming the field."""
    items = contacts(3)
    items[1] = WriteItem(key="c1", payload={"LastName": "x" * 81})
    results = connector.write("Contact", items)
    assert [r.ok for r in results] == [True, False, True]
    error = results[1].error
    assert error is not None
    assert (error.code, error.field, error.retriable) == ("STRING_TOO_LONG", "LastName", False)


def test_required_field_missing_is_a_record_failure(connector: SalesforceConnector) -> None:
    """A Contact without LastName fails with REQUIRED_FIELD_MISSING on LastName."""
    results = connector.write("Contact", [WriteItem(key="k", payload={"Email": "a@b.co"})])
    error = results[0].error
    assert error is not None
    assert (error.code, error.field) == ("REQUIRED_FIELD_MISSING", "LastName")


def test_row_lock_is_a_retriable_failure(
    connector: SalesforceConnector, salesforce_emulator: SalesforceEmulator
) -> None:
    """UNABLE_TO_LOCK_ROW on some records fails just those, marked retriable."""
    inject(salesforce_emulator, match=UPSERT, kind="partial", every=2)
    results = connector.write("Contact", contacts(4))
    assert [r.ok for r in results] == [True, False, True, False]
    codes = {(r.error.code, r.error.retriable) for r in results if r.error}
    assert codes == {("UNABLE_TO_LOCK_ROW", True)}


def test_values_are_sent_as_salesforce_accepts_them(
    connector: SalesforceConnector, salesforce_emulator: SalesforceEmulator
) -> None:
    """Decimals become numbers, aware datetimes UTC ISO strings, None clears a field."""
    when = dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    payload = {"Name": "O-1", "Total__c": Decimal("19.99"), "Order_Date__c": when}
    connector.write("B2C_Order__c", [WriteItem(key="o1", payload={**payload, "Notes__c": "x"})])
    result = connector.write("B2C_Order__c", [WriteItem(key="o1", payload={"Notes__c": None})])
    row = salesforce_emulator.admin_get("B2C_Order__c", str(result[0].crm_id))
    assert row["Total__c"] == 19.99
    assert row["Order_Date__c"].startswith("2026-03-01T10:30:00.000")
    assert row["Notes__c"] is None


def test_unsendable_value_fails_locally_and_the_rest_is_written(
    connector: SalesforceConnector,
) -> None:
    """A NaN is refused before sending; the other records of the batch are still written."""
    items = contacts(2)
    items[0] = WriteItem(key="c0", payload={"LastName": "N", "Birthdate": float("nan")})
    results = connector.write("Contact", items)
    assert results[0].error is not None
    assert (results[0].error.code, results[0].error.field) == ("INVALID_VALUE", "Birthdate")
    assert results[1].ok


def test_id_field_can_be_overridden_per_call(
    connector: SalesforceConnector, salesforce_emulator: SalesforceEmulator
) -> None:
    """write(..., id_field="Id") upserts on the Salesforce Id instead of the B2Connect id."""
    existing = salesforce_emulator.admin_create("Contact", {"LastName": "Old"})
    item = WriteItem(key=existing["Id"], payload={"LastName": "New"})
    results = connector.write("Contact", [item], id_field="Id")
    assert (results[0].ok, results[0].created) == (True, False)
    assert salesforce_emulator.admin_get("Contact", existing["Id"])["LastName"] == "New"


def test_id_field_that_is_not_external_is_fatal(connector: SalesforceConnector) -> None:
    """Upserting on a field that is no External ID stops the pipeline with the vendor code."""
    with pytest.raises(Fatal) as caught:
        connector.write("Contact", contacts(1), id_field="Title")
    assert caught.value.code == "INVALID_FIELD"


def test_bulk_path_parses_failed_rows_per_record(salesforce_emulator: SalesforceEmulator) -> None:
    """At the bulk threshold the batch goes through Bulk 2.0 and each row gets its result."""
    conn = connect(salesforce_emulator, bulk_threshold=5)
    items = contacts(6)
    items[3] = WriteItem(key="c3", payload={"LastName": "y" * 90})
    results = conn.write("Contact", items)
    assert [r.key for r in results] == [i.key for i in items]
    assert [r.ok for r in results] == [True, True, True, False, True, True]
    error = results[3].error
    assert error is not None
    assert (error.code, error.field) == ("STRING_TOO_LONG", "LastName")
    assert all(r.created and r.crm_id for r in results if r.ok)
    assert conn.calls[INGEST] == 1
    assert conn.calls[UPSERT] == 0
    conn.close()


def test_bulk_updates_report_not_created(salesforce_emulator: SalesforceEmulator) -> None:
    """A Bulk upsert of existing keys reports created=False with the existing ids."""
    conn = connect(salesforce_emulator, bulk_threshold=2)
    first = conn.write("Contact", contacts(2))
    second = conn.write("Contact", contacts(2, Title="Again"))
    assert [r.crm_id for r in second] == [r.crm_id for r in first]
    assert [r.created for r in second] == [False, False]
    conn.close()


def test_bulk_row_lock_is_retriable(salesforce_emulator: SalesforceEmulator) -> None:
    """A Bulk row that could not be locked comes back as a retriable failure."""
    inject(
        salesforce_emulator,
        match="PATCH /services/data/{version}/jobs/ingest/{job_id}",
        kind="partial",
        every=3,
    )
    conn = connect(salesforce_emulator, bulk_threshold=2)
    results = conn.write("Contact", contacts(3))
    assert [r.ok for r in results] == [True, True, False]
    assert results[2].error is not None
    assert (results[2].error.code, results[2].error.retriable) == ("UNABLE_TO_LOCK_ROW", True)
    conn.close()


def test_empty_batch_makes_no_call(connector: SalesforceConnector) -> None:
    """Writing nothing costs nothing."""
    assert connector.write("Contact", []) == []
    assert sum(connector.calls.values()) == 0
