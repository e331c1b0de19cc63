"""Push-side deletes through the emulators: per-direction policies and the delete breaker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from typer.testing import CliRunner

from b2sync.cli import app
from b2sync.service import pipeline_status
from store.models import RunStatus, metadata
from sync.breaker import tripped
from tests.e2e.conftest import E2E, ROOT, by_key, config_for

HS_ARCHIVE = "POST /crm/v3/objects/{object_type}/batch/archive"
HS_PIPE = "customers-to-hubspot"
SF_PIPE = "customers-to-salesforce"
_CRM_LINES = {
    HS_PIPE: "crm: {connection: hubspot, object: contacts, id_property: b2connect_id}\n",
    SF_PIPE: "crm: {connection: salesforce, object: Contact, id_property: B2Connect_Id__c}\n",
}


def configure(e2e: E2E, tmp_path: Path, pipeline: str, settings: str) -> None:
    """Add ``settings`` (YAML lines) to one pipeline of the shipped config."""
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    line = _CRM_LINES[pipeline]
    assert line in text
    extra = "".join(f"    {part.strip()}\n" for part in settings.strip().splitlines())
    e2e.config, e2e.config_path = config_for(tmp_path, text.replace(line, line + extra))


def synced_customers(e2e: E2E, pipeline: str, id_field: str, system: str, obj: str) -> list[str]:
    """Run the pipeline; the B2Connect ids that have exactly one live CRM record."""
    [summary] = e2e.sync(pipeline)
    assert summary.status is RunStatus.SUCCEEDED
    live = by_key(e2e.records(system, obj), id_field)
    return sorted(k for k, v in live.items() if len(v) == 1)


def delete_in_shop(e2e: E2E, keys: list[str]) -> None:
    for key in keys:
        e2e.stack.b2connect.admin_patch("customers", key, {"deleted": True})


def hs_contact(e2e: E2E, key: str) -> list[dict[str, Any]]:
    return [
        c for c in e2e.records("hubspot", "contacts") if c["properties"].get("b2connect_id") == key
    ]


def test_archive_policy_archives_hubspot_contacts(e2e: E2E, tmp_path: Path) -> None:
    """on_delete: archive archives the contacts of deleted customers, in one batch call."""
    configure(e2e, tmp_path, HS_PIPE, "on_delete: archive")
    keys = synced_customers(e2e, HS_PIPE, "b2connect_id", "hubspot", "contacts")[:2]
    delete_in_shop(e2e, keys)
    [summary] = e2e.sync(HS_PIPE)
    assert summary.counts["deleted"] == 2
    assert e2e.calls("hubspot").get(HS_ARCHIVE) == 1
    for key in keys:
        [contact] = hs_contact(e2e, key)
        assert contact["archived"] is True


def test_ignore_policy_leaves_crm_records(e2e: E2E, tmp_path: Path) -> None:
    """on_delete: ignore makes no delete call; contacts stay live."""
    configure(e2e, tmp_path, HS_PIPE, "on_delete: {to_crm: ignore}")
    keys = synced_customers(e2e, HS_PIPE, "b2connect_id", "hubspot", "contacts")[:2]
    delete_in_shop(e2e, keys)
    [summary] = e2e.sync(HS_PIPE)
    assert summary.status is RunStatus.SUCCEEDED
    assert summary.counts["deleted"] == 0
    assert HS_ARCHIVE not in e2e.calls("hubspot")
    assert all(not hs_contact(e2e, k)[0]["archived"] for k in keys)


def test_delete_policy_moves_salesforce_contacts_to_recycle_bin(e2e: E2E, tmp_path: Path) -> None:
    """on_delete: {to_crm: delete} deletes Salesforce Contacts into the Recycle Bin."""
    configure(e2e, tmp_path, SF_PIPE, "on_delete: {to_crm: delete, to_b2connect: ignore}")
    keys = synced_customers(e2e, SF_PIPE, "B2Connect_Id__c", "salesforce", "Contact")[:3]
    delete_in_shop(e2e, keys)
    [summary] = e2e.sync(SF_PIPE)
    assert summary.counts["deleted"] == 3
    contacts = e2e.records("salesforce", "Contact")
    for key in keys:
        rows = [c for c in contacts if c.get("B2Connect_Id__c") == key]
        assert [r["IsDeleted"] for r in rows] == [True]


def test_breaker_trips_before_any_crm_delete(e2e: E2E, tmp_path: Path) -> None:
    """More deletions than allowed: no archive call at all, the run pauses, status shows it."""
    configure(e2e, tmp_path, HS_PIPE, "on_delete: archive\ndelete_breaker: {max_count: 3}")
    keys = synced_customers(e2e, HS_PIPE, "b2connect_id", "hubspot", "contacts")[:5]
    delete_in_shop(e2e, keys)
    [summary] = e2e.sync(HS_PIPE)
    assert summary.status is RunStatus.PAUSED
    assert "delete breaker tripped: 5 deletions" in (summary.error or "")
    assert HS_ARCHIVE not in e2e.calls("hubspot")
    assert all(not hs_contact(e2e, k)[0]["archived"] for k in keys)
    runner = e2e.runner()
    try:
        with runner.db.connect() as conn:
            [row] = pipeline_status(conn, [e2e.config.pipeline(HS_PIPE)], runner.clock())
    finally:
        runner.close()
    assert row["delete_breaker"]["deletes"] == 5
    assert row["delete_breaker"]["limit"] == 3


def test_tripped_pipeline_stays_paused_without_reading(e2e: E2E, tmp_path: Path) -> None:
    """A tripped pipeline does not run again (no B2Connect read) until it is resumed."""
    configure(e2e, tmp_path, HS_PIPE, "on_delete: archive\ndelete_breaker: {max_count: 1}")
    keys = synced_customers(e2e, HS_PIPE, "b2connect_id", "hubspot", "contacts")[:2]
    delete_in_shop(e2e, keys)
    e2e.sync(HS_PIPE)
    reads = dict(e2e.calls("b2connect"))
    [again] = e2e.sync(HS_PIPE)
    assert again.status is RunStatus.PAUSED
    assert again.run_id == "-"
    assert e2e.calls("b2connect") == reads


def test_resume_with_allow_deletes_lets_the_next_run_delete(e2e: E2E, tmp_path: Path) -> None:
    """`b2sync pipelines resume NAME --allow-deletes` resets the breaker; the deletes go through."""
    configure(e2e, tmp_path, HS_PIPE, "on_delete: archive\ndelete_breaker: {max_count: 1}")
    keys = synced_customers(e2e, HS_PIPE, "b2connect_id", "hubspot", "contacts")[:3]
    delete_in_shop(e2e, keys)
    e2e.sync(HS_PIPE)
    result = CliRunner().invoke(
        app, ["pipelines", "resume", HS_PIPE, "--allow-deletes", "--config", str(e2e.config_path)]
    )
    assert result.exit_code == 0, result.output
    [summary] = e2e.sync(HS_PIPE)
    assert summary.status is RunStatus.SUCCEEDED
    assert summary.counts["deleted"] == 3
    runner = e2e.runner()
    try:
        with runner.db.connect() as conn:
            assert tripped(conn, HS_PIPE) is None
            links = metadata.tables["links"]
            marked = conn.execute(
                sa.select(sa.func.count())
                .select_from(links)
                .where(links.c.pipeline == HS_PIPE, links.c.deleted_in == "b2connect")
            ).scalar_one()
    finally:
        runner.close()
    assert marked == 3


def test_resume_without_allowance_trips_again(e2e: E2E, tmp_path: Path) -> None:
    """Resuming without --allow-deletes while the mass deletion is pending trips again."""
    configure(e2e, tmp_path, HS_PIPE, "on_delete: archive\ndelete_breaker: {max_count: 1}")
    keys = synced_customers(e2e, HS_PIPE, "b2connect_id", "hubspot", "contacts")[:3]
    delete_in_shop(e2e, keys)
    e2e.sync(HS_PIPE)
    result = CliRunner().invoke(app, ["pipelines", "resume", HS_PIPE, "-c", str(e2e.config_path)])
    assert result.exit_code == 0, result.output
    [summary] = e2e.sync(HS_PIPE)
    assert summary.status is RunStatus.PAUSED
    assert HS_ARCHIVE not in e2e.calls("hubspot")
