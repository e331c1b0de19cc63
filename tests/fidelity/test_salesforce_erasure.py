"""Salesforce erasure where production is stricter than a kind emulator.

Vendor behaviours (see docs/fidelity.md, "Salesforce: hard delete and purged rows"):
a new org grants no one "Bulk API Hard Delete", so a ``hardDelete`` job is refused; the REST
API cannot empty the Recycle Bin, the SOAP ``emptyRecycleBin`` call can; purged rows stay
visible to ``queryAll`` with ``IsDeleted = true`` for about a day; deleting a record that is
already deleted answers ``ENTITY_IS_DELETED``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import structlog
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound
from typer.testing import CliRunner

from b2sync.cli import app
from connectors.records import Subject
from connectors.salesforce import SalesforceConnector
from emulators.salesforce import SalesforceEmulator
from tests.e2e.conftest import E2E

WAIT = 0.01


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """The CLI configures structlog onto the runner's captured stderr: put it back."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def _cli(e2e: E2E, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--config", str(e2e.config_path)])
    return result.exit_code, result.output


def _erase(e2e: E2E, email: str) -> dict[str, str]:
    """``b2sync erase --email``; the Salesforce step of ``erasure status --json``."""
    code, out = _cli(e2e, "erase", "--email", email)
    assert code == 0, out
    _, listed = _cli(e2e, "erasure", "status", "--json")
    newest = json.loads(listed)[0]  # newest first
    [step] = [s for s in newest["steps"] if s["system"] == "salesforce"]
    return dict(step)


def _synced_contact(e2e: E2E) -> dict[str, str]:
    """A synced Contact whose email no other Contact shares (one Contact to erase)."""
    e2e.sync("customers-to-salesforce")
    contacts = [c for c in e2e.records("salesforce", "Contact") if c.get("Email")]
    emails = [c["Email"].lower() for c in contacts]
    return next(c for c in contacts if emails.count(c["Email"].lower()) == 1)


def _query_all(e2e: E2E, rid: str) -> list[dict[str, object]]:
    emu: SalesforceEmulator = e2e.stack.salesforce
    return [r for r in emu.store.query_all_rows("Contact") if r["Id"] == rid]


def test_hard_delete_job_is_refused_in_a_new_org(sf: Salesforce) -> None:
    """Without "Bulk API Hard Delete" (a new org's default) a hardDelete job is refused."""
    rid = sf.Contact.create({"LastName": "A"})["id"]
    with pytest.raises(SalesforceMalformedRequest, match="FEATURENOTENABLED"):
        sf.bulk2.Contact.hard_delete(records=[{"Id": rid}], wait=WAIT)
    assert sf.Contact.get(rid)["Id"] == rid


def test_hard_delete_of_a_recycled_record_answers_entity_is_deleted(
    sf: Salesforce, salesforce_emulator: SalesforceEmulator
) -> None:
    """With the permission, hard-deleting a record already in the Recycle Bin fails that row
    with ENTITY_IS_DELETED; the record stays in the Recycle Bin."""
    salesforce_emulator.hard_delete_permission = True
    rid = sf.Contact.create({"LastName": "A"})["id"]
    sf.Contact.delete(rid)
    [job] = sf.bulk2.Contact.hard_delete(records=[{"Id": rid}], wait=WAIT)
    assert job["numberRecordsFailed"] == 1
    assert "ENTITY_IS_DELETED" in sf.bulk2.Contact.get_failed_records(job["job_id"])
    assert salesforce_emulator.admin_get("Contact", rid)["IsDeleted"] is True


def test_delete_of_a_deleted_record_answers_entity_is_deleted(sf: Salesforce) -> None:
    """A second DELETE of a record answers 404 ENTITY_IS_DELETED."""
    rid = sf.Contact.create({"LastName": "A"})["id"]
    sf.Contact.delete(rid)
    with pytest.raises(SalesforceResourceNotFound, match="ENTITY_IS_DELETED"):
        sf.Contact.delete(rid)


def test_query_all_shows_hard_deleted_rows_for_a_while(
    sf: Salesforce, salesforce_emulator: SalesforceEmulator
) -> None:
    """queryAll keeps returning a hard-deleted row (IsDeleted = true) until the window ends."""
    salesforce_emulator.hard_delete_permission = True
    rid = sf.Contact.create({"LastName": "A"})["id"]
    sf.bulk2.Contact.hard_delete(records=[{"Id": rid}], wait=WAIT)
    soql = f"SELECT Id, IsDeleted FROM Contact WHERE Id = '{rid}'"
    [row] = sf.query_all(soql, include_deleted=True)["records"]
    assert row["IsDeleted"] is True
    assert sf.query_all(soql)["records"] == []
    salesforce_emulator.store.purged_visible_seconds = 0
    assert sf.query_all(soql, include_deleted=True)["records"] == []


def test_erase_without_hard_delete_permission_completes_and_verifies(e2e: E2E) -> None:
    """`b2sync erase` in an org without the permission deletes and empties the Recycle Bin,
    records that method, and verifies although queryAll still shows the row as deleted."""
    contact = _synced_contact(e2e)
    step = _erase(e2e, contact["Email"])
    assert step["status"] == "done", step
    assert "1 contact(s) removed (delete+emptyRecycleBin)" in step["detail"]
    assert "hardDelete refused (FEATURENOTENABLED)" in step["detail"]
    assert all(c["Id"] != contact["Id"] for c in e2e.records("salesforce", "Contact"))
    [row] = _query_all(e2e, contact["Id"])
    assert row["IsDeleted"] is True


def test_erase_with_hard_delete_permission_records_hard_delete(e2e: E2E) -> None:
    """With the permission granted, the Contact goes by hardDelete and the detail says so."""
    e2e.stack.salesforce.hard_delete_permission = True
    contact = _synced_contact(e2e)
    step = _erase(e2e, contact["Email"])
    assert step["status"] == "done", step
    assert "1 contact(s) removed (hardDelete)" in step["detail"]
    assert "refused" not in step["detail"]


def test_erase_of_a_contact_already_in_the_recycle_bin(e2e: E2E) -> None:
    """A Contact a user already deleted: hardDelete answers ENTITY_IS_DELETED, the erasure
    empties it from the Recycle Bin instead and is done."""
    e2e.stack.salesforce.hard_delete_permission = True
    contact = _synced_contact(e2e)
    e2e.stack.salesforce.admin_delete("Contact", contact["Id"])
    step = _erase(e2e, contact["Email"])
    assert step["status"] == "done", step
    assert "1 contact(s) removed (delete+emptyRecycleBin)" in step["detail"]
    assert all(c["Id"] != contact["Id"] for c in e2e.records("salesforce", "Contact"))


def test_second_erase_treats_purged_rows_as_gone(e2e: E2E) -> None:
    """Erasing the same person again while queryAll still shows the purged row (and
    emptyRecycleBin answers ENTITY_IS_DELETED): done, nothing removed, nothing left."""
    contact = _synced_contact(e2e)
    runner = e2e.runner()
    try:
        connector = runner.connector("salesforce")
        assert isinstance(connector, SalesforceConnector)
        first = connector.erase(Subject(email=contact["Email"]))
        [ghost] = _query_all(e2e, contact["Id"])
        again = connector.erase(Subject(email=contact["Email"]))
    finally:
        runner.close()
    assert first.done and first.removed == 1
    assert ghost["IsDeleted"] is True
    assert again.done and again.removed == 0, again
    assert "still in Salesforce" not in again.detail
