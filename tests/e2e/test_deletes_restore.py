"""Restored records re-link to their CRM record instead of duplicating it (push side)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from typer.testing import CliRunner

from b2sync.cli import app
from store.models import metadata
from sync.deleted_links import mark_deleted
from tests.e2e.conftest import E2E
from tests.e2e.test_deletes import HS_PIPE, SF_PIPE, configure, delete_in_shop, synced_customers


def table(e2e: E2E, name: str) -> list[dict[str, Any]]:
    runner = e2e.runner()
    try:
        with runner.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(metadata.tables[name]))]
    finally:
        runner.close()


def contacts_of(e2e: E2E, key: str) -> list[dict[str, Any]]:
    return [
        c for c in e2e.records("hubspot", "contacts") if c["properties"].get("b2connect_id") == key
    ]


def restore_in_shop(e2e: E2E, key: str, **changes: Any) -> None:
    e2e.stack.b2connect.admin_patch("customers", key, {"deleted": False, **changes})


def archived_one(e2e: E2E, tmp_path: Path) -> tuple[str, str]:
    """A customer synced to HubSpot, then deleted in the shop and archived by b2sync."""
    configure(e2e, tmp_path, HS_PIPE, "on_delete: archive")
    key = synced_customers(e2e, HS_PIPE, "b2connect_id", "hubspot", "contacts")[0]
    [contact] = contacts_of(e2e, key)
    delete_in_shop(e2e, [key])
    e2e.sync(HS_PIPE)
    assert contacts_of(e2e, key)[0]["archived"] is True
    return key, str(contact["id"])


def test_restore_of_archived_contact_writes_no_duplicate(e2e: E2E, tmp_path: Path) -> None:
    """Restored in the shop while the contact is archived: no new contact, a conflict says why."""
    key, contact_id = archived_one(e2e, tmp_path)
    restore_in_shop(e2e, key)
    [summary] = e2e.sync(HS_PIPE)
    assert summary.counts["restore_needed"] == 1
    assert [c["id"] for c in contacts_of(e2e, key)] == [contact_id]
    [conflict] = [c for c in table(e2e, "conflicts") if c["kind"] == "restore_needed"]
    assert conflict["record_key"] == key
    assert conflict["details"]["crm_id"] == contact_id
    dead = [d for d in table(e2e, "dead_letters") if d["record_key"] == key]
    assert [d["error_code"] for d in dead] == ["RESTORE_NEEDED"]


def test_contact_restored_in_hubspot_relinks_on_retry(e2e: E2E, tmp_path: Path) -> None:
    """Once a HubSpot user restores the contact, the retry re-links and updates it."""
    key, contact_id = archived_one(e2e, tmp_path)
    restore_in_shop(e2e, key, firstName="Restora")
    e2e.sync(HS_PIPE)
    e2e.stack.hubspot.admin_patch("contacts", contact_id, {"archived": False})
    runner = e2e.runner()
    try:
        summary = runner.replay(e2e.config.pipeline(HS_PIPE), everything=True)
    finally:
        runner.close()
    assert summary is not None and summary.counts["relinked"] == 1
    [contact] = contacts_of(e2e, key)
    assert (contact["id"], contact["archived"]) == (contact_id, False)
    assert contact["properties"]["firstname"] == "Restora"
    conflicts = [c for c in table(e2e, "conflicts") if c["kind"] == "restore_needed"]
    assert [c["status"] for c in conflicts] == ["resolved"]
    [link] = [row for row in table(e2e, "links") if row["b2connect_key"] == key]
    assert (link["crm_id"], link["deleted_at"]) == (contact_id, None)


def test_ignore_policy_restore_relinks_to_the_same_contact(e2e: E2E, tmp_path: Path) -> None:
    """on_delete ignore: a restored customer re-links to its never-deleted contact."""
    configure(e2e, tmp_path, HS_PIPE, "on_delete: ignore")
    key = synced_customers(e2e, HS_PIPE, "b2connect_id", "hubspot", "contacts")[0]
    [before] = contacts_of(e2e, key)
    delete_in_shop(e2e, [key])
    e2e.sync(HS_PIPE)
    restore_in_shop(e2e, key, firstName="Back")
    [summary] = e2e.sync(HS_PIPE)
    assert summary.counts["relinked"] == 1
    [contact] = contacts_of(e2e, key)
    assert (contact["id"], contact["properties"]["firstname"]) == (before["id"], "Back")


def test_salesforce_undelete_keeps_the_id(e2e: E2E, tmp_path: Path) -> None:
    """A Contact undeleted from the Recycle Bin is re-linked by Id when the customer returns."""
    configure(e2e, tmp_path, SF_PIPE, "on_delete: delete")
    key = synced_customers(e2e, SF_PIPE, "B2Connect_Id__c", "salesforce", "Contact")[0]
    [before] = [c for c in e2e.records("salesforce", "Contact") if c["B2Connect_Id__c"] == key]
    delete_in_shop(e2e, [key])
    e2e.sync(SF_PIPE)
    e2e.stack.salesforce.undelete("Contact", before["Id"])
    restore_in_shop(e2e, key, firstName="Undeleted")
    [summary] = e2e.sync(SF_PIPE)
    assert summary.counts["relinked"] == 1
    rows = [c for c in e2e.records("salesforce", "Contact") if c.get("B2Connect_Id__c") == key]
    assert [(r["Id"], r["IsDeleted"], r["FirstName"]) for r in rows] == [
        (before["Id"], False, "Undeleted")
    ]


def test_resolving_restore_needed_with_b2connect_creates_a_fresh_contact(
    e2e: E2E, tmp_path: Path
) -> None:
    """`conflicts resolve ID --take b2connect`: the record is written again as a new contact."""
    key, contact_id = archived_one(e2e, tmp_path)
    restore_in_shop(e2e, key)
    e2e.sync(HS_PIPE)
    [conflict] = [c for c in table(e2e, "conflicts") if c["kind"] == "restore_needed"]
    result = CliRunner().invoke(
        app,
        ["conflicts", "resolve", str(conflict["id"]), "--take", "b2connect", "--actor", "ann"],
        env={"B2SYNC_CONFIG": str(e2e.config_path)},
    )
    assert result.exit_code == 0, result.output
    live = [c for c in contacts_of(e2e, key) if not c["archived"]]
    assert len(live) == 1 and live[0]["id"] != contact_id
    [link] = [row for row in table(e2e, "links") if row["b2connect_key"] == key]
    assert (link["crm_id"], link["deleted_at"]) == (live[0]["id"], None)


def test_record_deleted_in_the_crm_is_not_revived_by_a_shop_edit(e2e: E2E, tmp_path: Path) -> None:
    """A contact a HubSpot user deleted is not recreated when the shopper edits their profile."""
    configure(e2e, tmp_path, HS_PIPE, "on_delete: {to_crm: archive, to_b2connect: ignore}")
    key = synced_customers(e2e, HS_PIPE, "b2connect_id", "hubspot", "contacts")[0]
    [contact] = contacts_of(e2e, key)
    e2e.stack.hubspot.admin_patch("contacts", str(contact["id"]), {"archived": True})
    runner = e2e.runner()
    try:  # what the pull records when it reads the CRM deletion
        with runner.db.begin() as conn:
            mark_deleted(conn, HS_PIPE, [key], "crm", runner.clock())
    finally:
        runner.close()
    e2e.stack.b2connect.admin_patch("customers", key, {"firstName": "Edited"})
    [summary] = e2e.sync(HS_PIPE)
    assert summary.counts["written"] == 0
    assert [c["archived"] for c in contacts_of(e2e, key)] == [True]
