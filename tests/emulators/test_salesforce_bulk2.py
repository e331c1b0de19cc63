"""Salesforce emulator: Bulk API 2.0 ingest and query jobs through ``sf.bulk2``."""

from __future__ import annotations

import csv
import io

import pytest
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceOperationError

from emulators import FaultPlan, FaultRule
from emulators.salesforce import SalesforceEmulator

WAIT = 0.01


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _jobs_url(emu: SalesforceEmulator) -> str:
    return f"{emu.url}/services/data/v59.0/jobs"


def _headers(emu: SalesforceEmulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {emu.session_id}", "Content-Type": "application/json"}


def test_insert_creates_records(sf: Salesforce) -> None:
    """bulk2 insert reports processed/failed counts and creates the rows."""
    result = sf.bulk2.Contact.insert(records=[{"LastName": "A"}, {"LastName": "B"}], wait=WAIT)
    assert result[0]["numberRecordsProcessed"] == 2 and result[0]["numberRecordsFailed"] == 0
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 2


def test_upsert_creates_and_updates_by_external_id(sf: Salesforce) -> None:
    """bulk2 upsert on B2Connect_Id__c updates matches and creates the rest."""
    existing = sf.Contact.create({"LastName": "Old", "B2Connect_Id__c": "c-1"})["id"]
    result = sf.bulk2.Contact.upsert(
        records=[
            {"B2Connect_Id__c": "c-1", "LastName": "Updated"},
            {"B2Connect_Id__c": "c-2", "LastName": "Created"},
        ],
        external_id_field="B2Connect_Id__c",
        wait=WAIT,
    )
    rows = _rows(sf.bulk2.Contact.get_successful_records(result[0]["job_id"]))
    assert [(r["sf__Created"], r["B2Connect_Id__c"]) for r in rows] == [
        ("false", "c-1"),
        ("true", "c-2"),
    ]
    assert rows[0]["sf__Id"] == existing
    assert sf.Contact.get(existing)["LastName"] == "Updated"


def test_failed_records_carry_error_and_original_columns(sf: Salesforce) -> None:
    """Rows that fail come back in failedResults with sf__Error."""
    result = sf.bulk2.Contact.insert(
        records=[
            {"LastName": "ok", "Email": "a@example.com"},
            {"LastName": "", "Email": "b@example.com"},
        ],
        wait=WAIT,
    )
    assert result[0]["numberRecordsFailed"] == 1
    failed = _rows(sf.bulk2.Contact.get_failed_records(result[0]["job_id"]))
    assert len(failed) == 1 and failed[0]["Email"] == "b@example.com"
    assert failed[0]["sf__Error"].startswith("REQUIRED_FIELD_MISSING:")


def test_results_are_fully_quoted_csv(sf: Salesforce) -> None:
    """Result files quote every value, as Salesforce does."""
    result = sf.bulk2.Contact.insert(records=[{"LastName": "A"}], wait=WAIT)
    text = sf.bulk2.Contact.get_successful_records(result[0]["job_id"])
    assert text.splitlines()[0] == '"sf__Id","sf__Created","LastName"'


def test_update_by_id(sf: Salesforce) -> None:
    """bulk2 update changes records by Id."""
    rid = sf.Contact.create({"LastName": "A"})["id"]
    sf.bulk2.Contact.update(records=[{"Id": rid, "LastName": "B"}], wait=WAIT)
    assert sf.Contact.get(rid)["LastName"] == "B"


def test_delete_moves_to_recycle_bin(
    sf: Salesforce, salesforce_emulator: SalesforceEmulator
) -> None:
    """bulk2 delete soft-deletes: the row stays visible to queryAll."""
    rid = sf.Contact.create({"LastName": "A"})["id"]
    sf.bulk2.Contact.delete(records=[{"Id": rid}], wait=WAIT)
    assert salesforce_emulator.admin_get("Contact", rid)["IsDeleted"] is True


def test_hard_delete_skips_recycle_bin(
    sf: Salesforce, salesforce_emulator: SalesforceEmulator
) -> None:
    """With the permission, bulk2 hard_delete removes a live row for good; a recycled row
    answers ENTITY_IS_DELETED; queryAll still shows the purged row as deleted."""
    salesforce_emulator.hard_delete_permission = True
    live = sf.Contact.create({"LastName": "A"})["id"]
    binned = sf.Contact.create({"LastName": "B"})["id"]
    sf.Contact.delete(binned)
    result = sf.bulk2.Contact.hard_delete(records=[{"Id": live}, {"Id": binned}], wait=WAIT)
    assert result[0]["numberRecordsFailed"] == 1
    failed = sf.bulk2.Contact.get_failed_records(result[0]["job_id"])
    assert "ENTITY_IS_DELETED" in failed
    assert binned in failed
    assert [r["Id"] for r in salesforce_emulator.admin_list("Contact")] == [binned]
    rows = sf.query_all("SELECT Id, IsDeleted FROM Contact", include_deleted=True)["records"]
    assert {(r["Id"], r["IsDeleted"]) for r in rows} == {(live, True), (binned, True)}


def test_unknown_column_fails_the_job(sf: Salesforce) -> None:
    """A header naming an unknown field fails the whole job."""
    with pytest.raises(SalesforceOperationError, match="Field name not found : Nope__c"):
        sf.bulk2.Contact.insert(records=[{"LastName": "A", "Nope__c": "x"}], wait=WAIT)


def test_relationship_column_resolves_external_id(sf: Salesforce) -> None:
    """A Contact__r.B2Connect_Id__c column sets the lookup by external id."""
    cid = sf.Contact.create({"LastName": "A", "B2Connect_Id__c": "c-1"})["id"]
    sf.bulk2.B2C_Order__c.upsert(
        records=[{"B2Connect_Id__c": "o-1", "Contact__r.B2Connect_Id__c": "c-1"}],
        external_id_field="B2Connect_Id__c",
        wait=WAIT,
    )
    order = sf.B2C_Order__c.get_by_custom_id("B2Connect_Id__c", "o-1")
    assert order["Contact__c"] == cid


def test_partial_fault_fails_rows_with_unable_to_lock_row(
    sf: Salesforce, salesforce_emulator: SalesforceEmulator
) -> None:
    """A 'partial' fault on closing the job fails every second row."""
    salesforce_emulator.faults = FaultPlan(
        [FaultRule(match="PATCH /services/data/{version}/jobs/ingest/{job_id}", kind="partial")]
    )
    result = sf.bulk2.Contact.insert(records=[{"LastName": str(i)} for i in range(4)], wait=WAIT)
    assert result[0]["numberRecordsFailed"] == 2
    failed = _rows(sf.bulk2.Contact.get_failed_records(result[0]["job_id"]))
    assert all(r["sf__Error"].startswith("UNABLE_TO_LOCK_ROW") for r in failed)


def test_job_is_in_progress_before_complete(salesforce_emulator: SalesforceEmulator) -> None:
    """After UploadComplete the first poll sees InProgress, the next JobComplete."""
    emu = salesforce_emulator
    with requests.Session() as http:
        http.verify, http.trust_env = emu.ca_file, False
        job = http.post(
            f"{_jobs_url(emu)}/ingest",
            json={"object": "Contact", "operation": "insert"},
            headers=_headers(emu),
        ).json()
        assert job["state"] == "Open"
        upload = http.put(
            f"{_jobs_url(emu)}/ingest/{job['id']}/batches",
            data=b"LastName\nA\n",
            headers={**_headers(emu), "Content-Type": "text/csv"},
        )
        assert upload.status_code == 201
        http.patch(
            f"{_jobs_url(emu)}/ingest/{job['id']}",
            json={"state": "UploadComplete"},
            headers=_headers(emu),
        )
        states = [
            http.get(f"{_jobs_url(emu)}/ingest/{job['id']}", headers=_headers(emu)).json()["state"]
            for _ in range(2)
        ]
        unprocessed = http.get(
            f"{_jobs_url(emu)}/ingest/{job['id']}/unprocessedRecords", headers=_headers(emu)
        )
        deleted = http.delete(f"{_jobs_url(emu)}/ingest/{job['id']}", headers=_headers(emu))
    assert states == ["InProgress", "JobComplete"]
    assert unprocessed.text == '"LastName"\n'
    assert deleted.status_code == 204


def test_query_job_pages_with_locator(sf: Salesforce) -> None:
    """bulk2 query pages by maxRecords; each page is a CSV with its header."""
    sf.bulk2.Contact.insert(records=[{"LastName": f"N{i}"} for i in range(5)], wait=WAIT)
    pages = list(sf.bulk2.Contact.query("SELECT LastName FROM Contact", max_records=2, wait=WAIT))
    assert [len(_rows(p)) for p in pages] == [2, 2, 1]
    assert [r["LastName"] for p in pages for r in _rows(p)] == [f"N{i}" for i in range(5)]


def test_query_all_job_includes_deleted(sf: Salesforce) -> None:
    """bulk2 query_all returns Recycle Bin rows too."""
    rid = sf.Contact.create({"LastName": "A"})["id"]
    sf.Contact.delete(rid)
    pages = list(sf.bulk2.Contact.query_all("SELECT Id, IsDeleted FROM Contact", wait=WAIT))
    assert _rows(pages[0]) == [{"Id": rid, "IsDeleted": "true"}]


def test_query_results_headers(salesforce_emulator: SalesforceEmulator, sf: Salesforce) -> None:
    """Query results carry Sforce-NumberOfRecords and Sforce-Locator ('null' at the end)."""
    emu = salesforce_emulator
    sf.Contact.create({"LastName": "A"})
    with requests.Session() as http:
        http.verify, http.trust_env = emu.ca_file, False
        job = http.post(
            f"{_jobs_url(emu)}/query",
            json={"operation": "query", "query": "SELECT Id FROM Contact"},
            headers=_headers(emu),
        ).json()
        for _ in range(2):
            http.get(f"{_jobs_url(emu)}/query/{job['id']}", headers=_headers(emu))
        page = http.get(f"{_jobs_url(emu)}/query/{job['id']}/results", headers=_headers(emu))
    assert page.headers["Sforce-NumberOfRecords"] == "1"
    assert page.headers["Sforce-Locator"] == "null"


def test_bulk_ingest_consumes_batches_limit(sf: Salesforce) -> None:
    """Each ingest job uses one DailyBulkApiBatches unit per 10,000 rows."""
    before = sf.limits()["DailyBulkApiBatches"]["Remaining"]
    sf.bulk2.Contact.insert(records=[{"LastName": "A"}], wait=WAIT)
    assert sf.limits()["DailyBulkApiBatches"]["Remaining"] == before - 1
