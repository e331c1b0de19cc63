"""Who changed it: the audit entry of a CRM-side change names the CRM user behind it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from b2sync.cli import app
from tests.e2e.conftest import E2E
from tests.e2e.two_way_support import HS, SF, TwoWay, open_two_way, two_way_config

HUBSPOT_USER = 4711


@pytest.fixture
def tw(e2e: E2E, tmp_path: Path) -> Iterator[TwoWay]:
    config, _ = two_way_config(tmp_path)
    yield from open_two_way(e2e, config)


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def _search(tw: TwoWay, *args: str) -> str:
    result = CliRunner().invoke(
        app, ["audit", "search", "--state-url", tw.runner.config.state_url, *args]
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_a_hubspot_users_edit_names_the_user_in_audit_search(tw: TwoWay) -> None:
    """HubSpot user 4711 edits a contact; the pull's b2connect.write event says "changed by
    hubspot user 4711" (from the property history, read only for the applied edit)."""
    tw.settle()
    key, contact = sorted(tw.linked(HS).items())[0]
    tw.stack.hubspot.admin_patch(
        "contacts", contact, {"properties": {"lastname": "Whodunit"}, "_userId": HUBSPOT_USER}
    )
    tw.cycle()
    table = _search(tw, "--customer-id", key, "--action", "b2connect.write")
    assert "Changed by" in table and f"hubspot user {HUBSPOT_USER}" in table
    [event] = json.loads(
        _search(tw, "--customer-id", key, "--action", "b2connect.write", "--format", "json")
    )
    assert event["details"]["changed_by"] == {
        "system": "hubspot", "user_id": str(HUBSPOT_USER), "source_type": "CRM_UI",
        "source_id": f"userId:{HUBSPOT_USER}",
    }  # fmt: skip


def test_a_salesforce_users_edit_names_last_modified_by(tw: TwoWay) -> None:
    """A Salesforce user's edit: the event names the Contact's LastModifiedById."""
    tw.settle()
    key, contact = sorted(tw.linked(SF).items())[0]
    tw.salesforce_user(contact, {"LastName": "Whodunit"})
    tw.cycle()
    out = _search(tw, "--customer-id", key, "--action", "b2connect.write", "--format", "json")
    by = {e["details"]["changed_by"]["user_id"] for e in json.loads(out) if e["details"]}
    assert by == {tw.stack.salesforce.admin_user_id}
