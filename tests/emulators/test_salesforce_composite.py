"""Salesforce emulator: sObject Collections through ``sf.restful``."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from emulators import FaultPlan, FaultRule
from emulators.salesforce import SalesforceEmulator

UPSERT_ROUTE = "PATCH /services/data/{version}/composite/sobjects/{sobject}/{field}"


def _contact(**fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Contact"}, **fields}


def _post(sf: Salesforce, records: list[dict[str, Any]], all_or_none: bool = False) -> Any:
    return sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": all_or_none, "records": records}
    )


def test_create_returns_results_in_request_order(sf: Salesforce) -> None:
    """POST composite/sobjects answers one result per record, in order."""
    results = _post(sf, [_contact(LastName="A"), _contact(LastName="B")])
    assert [r["success"] for r in results] == [True, True]
    names = {sf.Contact.get(r["id"])["LastName"] for r in results}
    assert names == {"A", "B"}


def test_create_partial_failure_uses_status_code(sf: Salesforce) -> None:
    """Without allOrNone good rows commit; the bad row reports statusCode errors."""
    results = _post(sf, [_contact(LastName="A"), _contact(FirstName="no last name")])
    assert results[0]["success"] is True
    assert results[1] == {
        "success": False,
        "errors": [
            {
                "statusCode": "REQUIRED_FIELD_MISSING",
                "message": "Required fields are missing: [LastName]",
                "fields": ["LastName"],
            }
        ],
    }
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 1


def test_all_or_none_rolls_back_everything(sf: Salesforce) -> None:
    """With allOrNone one failure rolls back the others with ALL_OR_NONE_OPERATION_ROLLED_BACK."""
    results = _post(sf, [_contact(LastName="A"), _contact(LastName="x" * 81)], all_or_none=True)
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "STRING_TOO_LONG"
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0


def test_more_than_200_records_is_400(sf: Salesforce) -> None:
    """A collection of 201 records is refused as a whole."""
    with pytest.raises(SalesforceMalformedRequest) as exc:
        _post(sf, [_contact(LastName=str(i)) for i in range(201)])
    assert exc.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_create_with_id_is_rejected_per_record(sf: Salesforce) -> None:
    """A create record carrying an Id fails on its own."""
    results = _post(sf, [_contact(LastName="A", Id="003Dn0000000001")])
    assert results[0]["errors"][0]["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_update_by_id(sf: Salesforce) -> None:
    """PATCH composite/sobjects updates records by their id."""
    rid = sf.Contact.create({"LastName": "A"})["id"]
    results = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={"records": [_contact(id=rid, LastName="B")]},
    )
    assert results == [{"id": rid, "success": True, "errors": []}]
    assert sf.Contact.get(rid)["LastName"] == "B"


def test_update_with_malformed_id_fails_per_record(sf: Salesforce) -> None:
    """An update row with a malformed id reports MALFORMED_ID."""
    results = sf.restful(
        "composite/sobjects", method="PATCH", json={"records": [_contact(id="nope", LastName="B")]}
    )
    assert results[0]["errors"][0]["statusCode"] == "MALFORMED_ID"


def test_upsert_reports_created_per_record(sf: Salesforce) -> None:
    """PATCH composite/sobjects/Contact/B2Connect_Id__c answers created true/false."""
    sf.Contact.upsert("B2Connect_Id__c/old", {"LastName": "Old"})
    results = sf.restful(
        "composite/sobjects/Contact/B2Connect_Id__c",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                _contact(B2Connect_Id__c="old", LastName="Older"),
                _contact(B2Connect_Id__c="new", LastName="New"),
            ],
        },
    )
    assert [(r["success"], r["created"]) for r in results] == [(True, False), (True, True)]
    assert sf.Contact.get_by_custom_id("B2Connect_Id__c", "old")["LastName"] == "Older"


def test_upsert_duplicate_in_one_batch_updates_the_first(sf: Salesforce) -> None:
    """The same external id twice in one batch: created, then updated."""
    results = sf.restful(
        "composite/sobjects/Contact/B2Connect_Id__c",
        method="PATCH",
        json={
            "records": [
                _contact(B2Connect_Id__c="x", LastName="1"),
                _contact(B2Connect_Id__c="x", LastName="2"),
            ]
        },
    )
    assert [r["created"] for r in results] == [True, False]
    assert results[0]["id"] == results[1]["id"]


def test_upsert_on_field_that_is_not_external_id_is_400(sf: Salesforce) -> None:
    """Upserting on a plain field is refused as a whole."""
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful(
            "composite/sobjects/Contact/Email",
            method="PATCH",
            json={"records": [_contact(Email="a@example.com", LastName="A")]},
        )


def test_delete_by_ids(sf: Salesforce, salesforce_emulator: SalesforceEmulator) -> None:
    """DELETE composite/sobjects?ids= soft-deletes and reports per id."""
    a = sf.Contact.create({"LastName": "A"})["id"]
    results = sf.restful(
        "composite/sobjects", method="DELETE", params={"ids": f"{a},003Dn0000000zzz"}
    )
    assert results[0] == {"id": a, "success": True, "errors": []}
    assert results[1]["errors"][0]["statusCode"] == "INVALID_CROSS_REFERENCE_KEY"
    assert salesforce_emulator.admin_get("Contact", a)["IsDeleted"] is True


def test_delete_twice_is_entity_is_deleted(sf: Salesforce) -> None:
    """Deleting a Recycle Bin record again reports ENTITY_IS_DELETED."""
    a = sf.Contact.create({"LastName": "A"})["id"]
    sf.Contact.delete(a)
    results = sf.restful("composite/sobjects", method="DELETE", params={"ids": a})
    assert results[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"


def test_retrieve_returns_null_for_missing(sf: Salesforce) -> None:
    """GET composite/sobjects/Contact?ids=&fields= returns records or null."""
    a = sf.Contact.create({"LastName": "A"})["id"]
    results = sf.restful(
        "composite/sobjects/Contact", params={"ids": f"{a},003Dn0000000zzz", "fields": "LastName"}
    )
    assert results[0]["LastName"] == "A" and results[1] is None


def test_partial_fault_fails_rows_with_unable_to_lock_row(
    sf: Salesforce, salesforce_emulator: SalesforceEmulator
) -> None:
    """A 'partial' fault makes every second row fail with UNABLE_TO_LOCK_ROW."""
    salesforce_emulator.faults = FaultPlan([FaultRule(match=UPSERT_ROUTE, kind="partial", every=2)])
    results = sf.restful(
        "composite/sobjects/Contact/B2Connect_Id__c",
        method="PATCH",
        json={"records": [_contact(B2Connect_Id__c=str(i), LastName="L") for i in range(4)]},
    )
    assert [r["success"] for r in results] == [True, False, True, False]
    assert results[1]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 2


def test_mixed_types_in_one_create(sf: Salesforce) -> None:
    """One create call may carry several sObject types."""
    results = _post(
        sf, [_contact(LastName="A"), {"attributes": {"type": "Account"}, "Name": "Acme"}]
    )
    assert results[0]["id"].startswith("003") and results[1]["id"].startswith("001")


def test_missing_type_fails_per_record(sf: Salesforce) -> None:
    """A record without attributes.type fails with INVALID_TYPE."""
    results = _post(sf, [{"LastName": "A"}])
    assert results[0]["errors"][0]["statusCode"] == "INVALID_TYPE"
