"""Salesforce emulator: sessions, limits, faults, TLS and the admin API."""

from __future__ import annotations

import pytest
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)
from simple_salesforce.util import Usage

from emulators import FaultPlan, FaultRule
from emulators.salesforce import SalesforceEmulator
from tests.fixtures.salesforce import salesforce_client, salesforce_session


def test_limit_info_header_is_parsed_into_api_usage(sf: Salesforce) -> None:
    """Every REST response carries Sforce-Limit-Info; simple-salesforce parses it."""
    sf.Contact.create({"LastName": "A"})
    sf.query("SELECT Id FROM Contact")
    assert sf.api_usage == {"api-usage": Usage(used=2, total=15000)}


def test_limits_resource_reports_remaining_budget(sf: Salesforce) -> None:
    """limits/ reports DailyApiRequests and the Bulk allocations."""
    sf.Contact.create({"LastName": "A"})
    limits = sf.limits()
    assert limits["DailyApiRequests"] == {"Max": 15000, "Remaining": 14998}
    assert limits["DailyBulkV2QueryJobs"]["Max"] == 10000
    assert "DailyBulkApiBatches" in limits


def test_exhausted_budget_is_403_request_limit_exceeded(
    sf: Salesforce, salesforce_emulator: SalesforceEmulator
) -> None:
    """Once the daily budget is spent calls fail with 403 REQUEST_LIMIT_EXCEEDED."""
    salesforce_emulator.consume_api_requests(14_999)
    sf.Contact.create({"LastName": "A"})
    with pytest.raises(SalesforceRefusedRequest) as exc:
        sf.Contact.create({"LastName": "B"})
    assert exc.value.content == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]


def test_daily_limit_is_configurable(salesforce_emulator: SalesforceEmulator) -> None:
    """daily_limit sets DailyApiRequests.Max; reset() restores it."""
    salesforce_emulator.daily_limit = 5
    sf = salesforce_client(salesforce_emulator)
    assert sf.limits()["DailyApiRequests"] == {"Max": 5, "Remaining": 4}
    sf.session.close()
    salesforce_emulator.reset()
    assert salesforce_emulator.daily_limit == 15_000


def test_expired_session_is_401_invalid_session_id(
    sf: Salesforce, salesforce_emulator: SalesforceEmulator
) -> None:
    """After expire_session() the old token gets 401 INVALID_SESSION_ID as a JSON list."""
    old = salesforce_emulator.session_id
    new = salesforce_emulator.expire_session()
    assert new != old and salesforce_emulator.session_id == new
    with pytest.raises(SalesforceExpiredSession) as exc:
        sf.query("SELECT Id FROM Contact")
    assert exc.value.content == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    fresh = salesforce_client(salesforce_emulator)
    assert fresh.query("SELECT Id FROM Contact")["totalSize"] == 0
    fresh.session.close()


def test_bulk2_rejects_expired_session(
    sf: Salesforce, salesforce_emulator: SalesforceEmulator
) -> None:
    """Bulk 2.0 calls check the session too."""
    salesforce_emulator.expire_session()
    with pytest.raises(SalesforceExpiredSession):
        sf.bulk2.Contact.insert(records=[{"LastName": "A"}], wait=0.01)


def test_expired_session_fault(sf: Salesforce, salesforce_emulator: SalesforceEmulator) -> None:
    """An expired_session fault answers one call with 401 INVALID_SESSION_ID."""
    salesforce_emulator.faults = FaultPlan([FaultRule(kind="expired_session", times=1)])
    with pytest.raises(SalesforceExpiredSession) as exc:
        sf.query("SELECT Id FROM Contact")
    assert exc.value.content[0]["errorCode"] == "INVALID_SESSION_ID"
    assert sf.query("SELECT Id FROM Contact")["done"] is True


def test_status_fault_403_renders_request_limit_exceeded(
    sf: Salesforce, salesforce_emulator: SalesforceEmulator
) -> None:
    """A 403 status fault uses Salesforce's REQUEST_LIMIT_EXCEEDED body."""
    salesforce_emulator.faults = FaultPlan([FaultRule(status=403, times=1)])
    with pytest.raises(SalesforceRefusedRequest) as exc:
        sf.Contact.create({"LastName": "A"})
    assert exc.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_status_fault_500_renders_unknown_exception(
    sf: Salesforce, salesforce_emulator: SalesforceEmulator
) -> None:
    """A 500 status fault answers an UNKNOWN_EXCEPTION array."""
    salesforce_emulator.faults = FaultPlan([FaultRule(status=500, times=1)])
    with pytest.raises(SalesforceGeneralError) as exc:
        sf.query("SELECT Id FROM Contact")
    assert exc.value.status == 500
    assert exc.value.content[0]["errorCode"] == "UNKNOWN_EXCEPTION"


def test_unknown_version_and_path_are_404(sf: Salesforce) -> None:
    """Paths outside the emulated API answer 404 NOT_FOUND in the array dialect."""
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sf.restful("no/such/resource")
    assert exc.value.content[0]["errorCode"] == "NOT_FOUND"


def test_other_api_versions_are_served(salesforce_emulator: SalesforceEmulator) -> None:
    """Any vNN.N prefix is accepted; upsert answers 204 on updates before v46."""
    emu = salesforce_emulator
    sf = Salesforce(
        instance_url=emu.url,
        session_id=emu.session_id,
        version="45.0",
        session=salesforce_session(emu),
    )
    assert sf.Contact.upsert("B2Connect_Id__c/x", {"LastName": "A"}) == 201
    assert sf.Contact.upsert("B2Connect_Id__c/x", {"LastName": "B"}) == 204
    sf.session.close()


def test_tls_certificate_is_not_trusted_without_the_ca(
    salesforce_emulator: SalesforceEmulator,
) -> None:
    """The server speaks TLS with a certificate only the emulator CA vouches for."""
    with requests.Session() as http:
        http.trust_env = False
        with pytest.raises(requests.exceptions.SSLError):
            http.get(f"{salesforce_emulator.url}/services/data/v59.0/limits/")


def test_admin_http_api_lists_recycle_bin_rows(
    sf: Salesforce, salesforce_emulator: SalesforceEmulator
) -> None:
    """GET /_emulator/records/Contact lists rows with Id and IsDeleted, no auth needed."""
    rid = sf.Contact.create({"LastName": "A"})["id"]
    sf.Contact.delete(rid)
    with salesforce_session(salesforce_emulator) as http:
        rows = http.get(f"{salesforce_emulator.url}/_emulator/records/Contact").json()
    assert [(r["Id"], r["IsDeleted"]) for r in rows] == [(rid, True)]


def test_admin_create_is_seen_by_the_api(
    sf: Salesforce, salesforce_emulator: SalesforceEmulator
) -> None:
    """admin_create makes a record as the CRM user, visible through the API."""
    rec = salesforce_emulator.admin_create("Contact", {"LastName": "Admin", "Email": "a@x.io"})
    assert rec["CreatedById"] == "005000000000002AAA" and rec["OwnerId"] == "005000000000002AAA"
    assert sf.Contact.get(rec["Id"])["Email"] == "a@x.io"


def test_undelete_restores_a_record(
    sf: Salesforce, salesforce_emulator: SalesforceEmulator
) -> None:
    """undelete() brings a Recycle Bin row back to query."""
    rid = sf.Contact.create({"LastName": "A"})["id"]
    sf.Contact.delete(rid)
    salesforce_emulator.undelete("Contact", rid)
    assert sf.query("SELECT Id FROM Contact")["totalSize"] == 1


def test_reset_forgets_records_and_calls(
    sf: Salesforce, salesforce_emulator: SalesforceEmulator
) -> None:
    """reset() empties the org and the call counter."""
    sf.Contact.create({"LastName": "A"})
    assert salesforce_emulator.calls["POST /services/data/{version}/sobjects/{sobject}"] == 1
    salesforce_emulator.reset()
    assert salesforce_emulator.admin_list("Contact") == []
    assert not salesforce_emulator.calls


def test_users_exist_for_owner_lookups(sf: Salesforce) -> None:
    """The integration and admin users are queryable User rows."""
    rows = sf.query("SELECT Id, Name FROM User ORDER BY Name")["records"]
    assert [(r["Id"], r["Name"]) for r in rows] == [
        ("005000000000002AAA", "CRM Admin"),
        ("005000000000001AAA", "Integration User"),
    ]
