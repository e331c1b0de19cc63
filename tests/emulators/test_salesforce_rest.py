"""Salesforce emulator: sObject REST resources driven through simple-salesforce."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)

from emulators.salesforce import SalesforceEmulator

STAMP_RE = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$"


def _error(exc: pytest.ExceptionInfo[Exception]) -> dict[str, object]:
    content = exc.value.content  # type: ignore[attr-defined]
    assert isinstance(content, list)
    return dict(content[0])


def test_create_returns_18_char_id_with_contact_prefix(sf: Salesforce) -> None:
    """POST sobjects/Contact/ answers 201 with an 18-character 003 id."""
    result = sf.Contact.create({"LastName": "Doe"})
    assert result["success"] is True and result["errors"] == []
    assert len(result["id"]) == 18 and result["id"].startswith("003")


def test_get_returns_attributes_and_system_fields(sf: Salesforce) -> None:
    """GET by Id returns attributes, the compound Name and the system fields."""
    rid = sf.Contact.create({"FirstName": "Jane", "LastName": "Doe"})["id"]
    rec = sf.Contact.get(rid)
    assert rec["attributes"] == {
        "type": "Contact",
        "url": f"/services/data/v59.0/sobjects/Contact/{rid}",
    }
    assert rec["Name"] == "Jane Doe" and rec["IsDeleted"] is False
    assert rec["CreatedById"] == "005000000000001AAA"
    assert rec["SystemModstamp"] == rec["LastModifiedDate"]
    assert re.match(STAMP_RE, rec["CreatedDate"])


def test_get_with_fields_parameter_returns_only_those(sf: Salesforce) -> None:
    """?fields= limits the returned fields (attributes always come along)."""
    rid = sf.Contact.create({"LastName": "Doe", "Email": "d@example.com"})["id"]
    rec = sf.Contact.get(rid, params={"fields": "Email,LastName"})
    assert list(rec) == ["attributes", "Email", "LastName"]


def test_get_accepts_15_character_id(sf: Salesforce) -> None:
    """A 15-character id finds the same record as its 18-character form."""
    rid = sf.Contact.create({"LastName": "Doe"})["id"]
    assert sf.Contact.get(rid[:15])["Id"] == rid


def test_get_unknown_id_is_404(sf: Salesforce) -> None:
    """A well-formed id with no record answers 404 NOT_FOUND."""
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sf.Contact.get("003Dn0000000zzzAAA"[:15])
    assert _error(exc)["errorCode"] == "NOT_FOUND"


def test_update_returns_204_and_bumps_timestamps(
    sf: Salesforce, salesforce_emulator: SalesforceEmulator
) -> None:
    """PATCH by Id answers 204 and the write is stamped by the integration user."""
    rid = sf.Contact.create({"LastName": "Doe"})["id"]
    salesforce_emulator.admin_patch("Contact", rid, {"Title": "by admin"})
    assert sf.Contact.update(rid, {"LastName": "Roe"}) == 204
    rec = sf.Contact.get(rid)
    assert rec["LastName"] == "Roe" and rec["Name"] == "Roe" and rec["Title"] == "by admin"
    assert rec["LastModifiedById"] == "005000000000001AAA"


def test_delete_moves_record_to_recycle_bin(
    sf: Salesforce, salesforce_emulator: SalesforceEmulator
) -> None:
    """DELETE answers 204; the row stays in the admin view with IsDeleted."""
    rid = sf.Contact.create({"LastName": "Doe"})["id"]
    assert sf.Contact.delete(rid) == 204
    rows = salesforce_emulator.admin_list("Contact")
    assert [(r["Id"], r["IsDeleted"]) for r in rows] == [(rid, True)]
    with pytest.raises(SalesforceResourceNotFound):
        sf.Contact.get(rid)


def test_update_of_deleted_record_is_entity_is_deleted(sf: Salesforce) -> None:
    """Writing to a Recycle Bin record fails with ENTITY_IS_DELETED."""
    rid = sf.Contact.create({"LastName": "Doe"})["id"]
    sf.Contact.delete(rid)
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sf.Contact.update(rid, {"LastName": "Roe"})
    assert _error(exc)["errorCode"] == "ENTITY_IS_DELETED"


def test_upsert_creates_then_updates(sf: Salesforce) -> None:
    """Upsert by external id answers 201 created:true, then 200 created:false."""
    first = sf.Contact.upsert("B2Connect_Id__c/c-1", {"LastName": "Doe"}, raw_response=True)
    second = sf.Contact.upsert("B2Connect_Id__c/c-1", {"LastName": "Roe"}, raw_response=True)
    assert (first.status_code, first.json()["created"]) == (201, True)
    assert (second.status_code, second.json()["created"]) == (200, False)
    assert first.json()["id"] == second.json()["id"]
    assert sf.Contact.get(first.json()["id"])["LastName"] == "Roe"


def test_upsert_value_is_decoded_without_plus_to_space(sf: Salesforce) -> None:
    """Percent-encoded path values are decoded with unquote: '+' stays '+'."""
    value = "a+b c/d"
    sf.Contact.upsert(f"B2Connect_Id__c/{quote(value, safe='')}", {"LastName": "Doe"})
    rec = sf.query("SELECT B2Connect_Id__c FROM Contact")["records"][0]
    assert rec["B2Connect_Id__c"] == value


def test_get_by_custom_id_finds_record(sf: Salesforce) -> None:
    """GET sobjects/Contact/{ExtField}/{value} returns the matching record."""
    sf.Contact.upsert("B2Connect_Id__c/c-9", {"LastName": "Doe"})
    assert sf.Contact.get_by_custom_id("B2Connect_Id__c", "c-9")["LastName"] == "Doe"


def test_external_id_match_is_case_insensitive(sf: Salesforce) -> None:
    """Text external ids match case-insensitively, as in Salesforce."""
    sf.Contact.upsert("B2Connect_Id__c/ABC", {"LastName": "Doe"})
    result = sf.Contact.upsert("B2Connect_Id__c/abc", {"LastName": "Roe"}, raw_response=True)
    assert result.status_code == 200


def test_upsert_with_several_matches_is_300(sf: Salesforce) -> None:
    """Upsert on a non-unique external id matching two records answers 300 with their URLs."""
    a = sf.Account.create({"Name": "A", "VAT_Id__c": "DE1"})["id"]
    b = sf.Account.create({"Name": "B", "VAT_Id__c": "DE1"})["id"]
    with pytest.raises(SalesforceMoreThanOneRecord) as exc:
        sf.Account.upsert("VAT_Id__c/DE1", {"Phone": "1"})
    assert sorted(exc.value.content) == sorted(
        f"/services/data/v59.0/sobjects/Account/{rid}" for rid in (a, b)
    )
    assert sf.Account.get(a)["Phone"] is None


def test_string_too_long(sf: Salesforce) -> None:
    """A value longer than the field length fails with STRING_TOO_LONG."""
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.create({"LastName": "x" * 81})
    error = _error(exc)
    assert error["errorCode"] == "STRING_TOO_LONG" and error["fields"] == ["LastName"]
    assert "max length=80" in str(error["message"])


def test_required_field_missing(sf: Salesforce) -> None:
    """Creating a Contact without LastName fails with REQUIRED_FIELD_MISSING."""
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.create({"FirstName": "Jane"})
    assert _error(exc) == {
        "message": "Required fields are missing: [LastName]",
        "errorCode": "REQUIRED_FIELD_MISSING",
        "fields": ["LastName"],
    }


def test_unknown_field_is_invalid_field(sf: Salesforce) -> None:
    """An unknown field fails with INVALID_FIELD naming the column."""
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.create({"LastName": "Doe", "Nope__c": 1})
    error = _error(exc)
    assert error["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Nope__c' on sobject of type Contact" in str(error["message"])


def test_duplicate_external_id_is_duplicate_value(sf: Salesforce) -> None:
    """A second record with the same unique external id fails with DUPLICATE_VALUE."""
    first = sf.Contact.create({"LastName": "Doe", "B2Connect_Id__c": "dup"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.create({"LastName": "Roe", "B2Connect_Id__c": "DUP"})
    error = _error(exc)
    assert error["errorCode"] == "DUPLICATE_VALUE" and first in str(error["message"])


def test_text_into_boolean_is_rejected(sf: Salesforce) -> None:
    """A non-boolean value for a checkbox fails with INVALID_FIELD_FOR_INSERT_UPDATE."""
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.create({"LastName": "Doe", "HasOptedOutOfEmail": "maybe"})
    assert _error(exc)["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_read_only_field_is_rejected(sf: Salesforce) -> None:
    """Writing a system field fails with INVALID_FIELD_FOR_INSERT_UPDATE."""
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.create({"LastName": "Doe", "CreatedDate": "2020-01-01T00:00:00Z"})
    assert _error(exc)["fields"] == ["CreatedDate"]


def test_invalid_email_is_rejected(sf: Salesforce) -> None:
    """A malformed email fails with INVALID_EMAIL_ADDRESS."""
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.create({"LastName": "Doe", "Email": "not-an-email"})
    assert _error(exc)["errorCode"] == "INVALID_EMAIL_ADDRESS"


def test_lookup_to_missing_record_is_invalid_cross_reference(sf: Salesforce) -> None:
    """A lookup id with no record fails with INVALID_CROSS_REFERENCE_KEY."""
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.create({"LastName": "Doe", "AccountId": "001Dn0000009999"})
    assert _error(exc)["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"


def test_relationship_by_external_id_sets_lookup(sf: Salesforce) -> None:
    """{"Contact__r": {"B2Connect_Id__c": x}} resolves to the Contact's Id."""
    cid = sf.Contact.create({"LastName": "Doe", "B2Connect_Id__c": "c-1"})["id"]
    oid = sf.B2C_Order__c.create(
        {"B2Connect_Id__c": "o-1", "Contact__r": {"B2Connect_Id__c": "c-1"}, "Total__c": 12.5}
    )["id"]
    order = sf.B2C_Order__c.get(oid)
    assert order["Contact__c"] == cid and order["Total__c"] == 12.5
    assert order["Name"] == oid


def test_unknown_sobject_is_404(sf: Salesforce) -> None:
    """An unknown sObject in the URL answers 404 NOT_FOUND."""
    with pytest.raises(SalesforceResourceNotFound):
        sf.Nope__c.create({"Name": "x"})


def test_describe_lists_contact_fields_with_metadata(sf: Salesforce) -> None:
    """describe() reports lengths, external ids, nillability and picklists."""
    fields = {f["name"]: f for f in sf.Contact.describe()["fields"]}
    ext = fields["B2Connect_Id__c"]
    assert (ext["type"], ext["length"], ext["externalId"], ext["unique"]) == (
        "string",
        64,
        True,
        True,
    )
    assert fields["LastName"]["nillable"] is False
    assert fields["HasOptedOutOfEmail"]["type"] == "boolean"
    assert fields["Name"]["createable"] is False
    assert fields["IndividualId"]["referenceTo"] == ["Individual"]


def test_describe_picklist_values(sf: Salesforce) -> None:
    """Picklist fields carry their values."""
    fields = {f["name"]: f for f in sf.ContactPointTypeConsent.describe()["fields"]}
    values = [v["value"] for v in fields["PrivacyConsentStatus"]["picklistValues"]]
    assert values == ["OptIn", "OptOut", "Seen", "NotSeen"]


def test_describe_global_lists_objects(sf: Salesforce) -> None:
    """GET sobjects lists every object with its key prefix."""
    prefixes = {o["name"]: o["keyPrefix"] for o in sf.describe()["sobjects"]}
    assert prefixes["Account"] == "001" and prefixes["Individual"] == "0PK"
    assert "B2C_Order_Line__c" in prefixes


def test_restricted_picklist_rejects_unknown_value(sf: Salesforce) -> None:
    """A value outside a restricted picklist is rejected."""
    party = sf.Individual.create({"LastName": "Doe"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.ContactPointTypeConsent.create(
            {"Name": "email", "PartyId": party, "PrivacyConsentStatus": "Maybe"}
        )
    assert _error(exc)["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


def test_order_line_gets_auto_number_name(sf: Salesforce) -> None:
    """Auto-number Name fields are filled on create."""
    order = sf.B2C_Order__c.create({"Name": "ORD-1"})["id"]
    line = sf.B2C_Order_Line__c.create({"Order__c": order, "Quantity__c": 2})["id"]
    assert sf.B2C_Order_Line__c.get(line)["Name"].endswith("-000001")


def test_deleting_an_order_cascades_to_its_lines(
    sf: Salesforce, salesforce_emulator: SalesforceEmulator
) -> None:
    """Master-detail children follow their parent into the Recycle Bin."""
    order = sf.B2C_Order__c.create({"Name": "ORD-1"})["id"]
    line = sf.B2C_Order_Line__c.create({"Order__c": order})["id"]
    sf.B2C_Order__c.delete(order)
    assert salesforce_emulator.admin_get("B2C_Order_Line__c", line)["IsDeleted"] is True


def test_upsert_update_only_does_not_create(sf: Salesforce) -> None:
    """?updateOnly=true turns a would-be create into 404."""
    with pytest.raises(SalesforceResourceNotFound):
        sf.Contact.upsert("B2Connect_Id__c/none?updateOnly=true", {"LastName": "Doe"})


def test_individual_consent_flags_default_false(sf: Salesforce) -> None:
    """Individual privacy checkboxes default to false and can be set."""
    rid = sf.Individual.create({"LastName": "Doe", "ShouldForget": True})["id"]
    rec = sf.Individual.get(rid)
    assert rec["ShouldForget"] is True and rec["HasOptedOutSolicit"] is False
    assert rid.startswith("0PK")
