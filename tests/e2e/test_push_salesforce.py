"""Push sync into Salesforce through real simple-salesforce, over TLS, against the emulator."""

from __future__ import annotations

import math

import pytest
import sqlalchemy as sa

from store.models import RunStatus, metadata
from tests.e2e.conftest import E2E, by_key, config_for

COLLECTION_UPSERT = "PATCH /services/data/{version}/composite/sobjects/{sobject}/{field}"


def table(e2e: E2E, name: str) -> list[dict[str, object]]:
    runner = e2e.runner()
    try:
        with runner.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(metadata.tables[name]))]
    finally:
        runner.close()


def test_backfill_contacts_once_with_ambiguity_parked(e2e: E2E) -> None:
    """Each valid customer is one Contact; an email on two Contacts becomes a conflict."""
    [summary] = e2e.sync("customers-to-salesforce")
    assert summary.status is RunStatus.SUCCEEDED
    contacts = by_key(e2e.records("salesforce", "Contact"), "B2Connect_Id__c")
    parked = {d["record_key"] for d in table(e2e, "dead_letters") if d["status"] == "pending"}
    conflicts = {c["record_key"] for c in table(e2e, "conflicts")}
    assert conflicts, "the seed puts one email on two Contacts"
    for customer in e2e.records("b2connect", "customers"):
        key = customer["id"]
        assert len(contacts.get(key, [])) == (0 if key in parked | conflicts else 1), key
    upserts = e2e.calls("salesforce").get(COLLECTION_UPSERT, 0)
    assert upserts == math.ceil(summary.counts["created"] / 200)


def test_orders_reference_contacts_and_lines_reference_orders(e2e: E2E) -> None:
    """B2C_Order__c.Contact__c and B2C_Order_Line__c.Order__c point at the synced records."""
    summaries = e2e.sync("customers-to-salesforce", "orders-to-salesforce")
    assert all(s.status is RunStatus.SUCCEEDED for s in summaries)
    contacts = by_key(e2e.records("salesforce", "Contact"), "B2Connect_Id__c")
    orders = by_key(e2e.records("salesforce", "B2C_Order__c"), "B2Connect_Id__c")
    lines = by_key(e2e.records("salesforce", "B2C_Order_Line__c"), "B2Connect_Id__c")
    checked = 0
    for shop_order in e2e.records("b2connect", "orders"):
        if shop_order["id"] not in orders:
            continue
        order = orders[shop_order["id"]][0]
        if shop_order["customerId"] in contacts:
            assert order["Contact__c"] == contacts[shop_order["customerId"]][0]["Id"]
            checked += 1
        for item in shop_order.get("items", []):
            assert lines[item["id"]][0]["Order__c"] == order["Id"]
    assert checked > 0


def test_expired_session_with_rotated_secret_continues(
    e2e: E2E, monkeypatch: pytest.MonkeyPatch
) -> None:
    """INVALID_SESSION_ID: the connector re-reads the session secret and carries on."""
    new_session = e2e.stack.salesforce.expire_session()
    monkeypatch.setenv("B2SYNC_SALESFORCE_SESSION_ID", new_session)
    runner = e2e.runner()
    try:
        connector = runner.connector("salesforce")
        e2e.stack.salesforce.expire_session()  # expires again after the connector was built
        monkeypatch.setenv("B2SYNC_SALESFORCE_SESSION_ID", e2e.stack.salesforce.session_id)
        summary = runner.run_pipeline(runner.config.pipeline("customers-to-salesforce"))
    finally:
        runner.close()
    assert connector is not None
    assert summary.status is RunStatus.SUCCEEDED and summary.counts["written"] > 0


def test_expired_session_without_new_secret_fails_the_run_clearly(e2e: E2E) -> None:
    """If nobody rotated the secret, the run fails with what to do, and nothing is lost."""
    runner = e2e.runner()
    try:
        runner.connector("salesforce")
        e2e.stack.salesforce.expire_session()
        summary = runner.run_pipeline(runner.config.pipeline("customers-to-salesforce"))
    finally:
        runner.close()
    assert summary.status is RunStatus.FAILED
    assert "session" in (summary.error or "").lower()
    assert table(e2e, "cursors") == []


def test_bulk_path_above_threshold_parses_failures_per_record(e2e: E2E, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """At or above bulk_threshold the Bulk API 2.0 is used; failed rows are dead-lettered."""
    text = (tmp_path.parent / tmp_path.name / "config.yaml").read_text()
    text = text.replace("      method: session", "      method: session").replace(
        "    ca_file: ${B2SYNC_SALESFORCE_CA_FILE}",
        "    ca_file: ${B2SYNC_SALESFORCE_CA_FILE}\n    bulk_threshold: 5",
    )
    e2e.config, _ = config_for(tmp_path, text)
    [summary] = e2e.sync("customers-to-salesforce")
    assert summary.status is RunStatus.SUCCEEDED
    calls = e2e.calls("salesforce")
    assert calls.get("POST /services/data/{version}/jobs/ingest", 0) >= 1
    assert calls.get(COLLECTION_UPSERT, 0) == 0
    contacts = by_key(e2e.records("salesforce", "Contact"), "B2Connect_Id__c")
    dead = [d for d in table(e2e, "dead_letters") if d["error_code"] != "MAPPING_ERROR"]
    assert dead and all(d["record_key"] not in contacts for d in dead)
    assert any(d["error_code"] == "STRING_TOO_LONG" for d in dead)
