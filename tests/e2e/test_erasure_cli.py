"""``b2sync erase``, ``erasure status`` and ``retention run`` as an operator types them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import structlog
from typer.testing import CliRunner

from b2sync.cli import app
from tests.e2e.conftest import E2E, by_key


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """The commands configure structlog onto the runner's captured stderr: put it back."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def _cli(e2e: E2E, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--config", str(e2e.config_path)])
    return result.exit_code, result.output


def test_erase_by_email_runs_every_step_and_status_shows_them(e2e: E2E) -> None:
    """erase --email files and completes the request; erasure status --json lists each system."""
    e2e.sync("customers-to-hubspot")
    person = next(iter(by_key(e2e.records("hubspot", "contacts"), "b2connect_id").values()))[0]
    email = person["properties"]["email"]
    code, out = _cli(e2e, "erase", "--email", email)
    assert code == 0, out
    assert "filed" in out and "completed" in out
    code, out = _cli(e2e, "erasure", "status", "--json")
    [row] = json.loads(out)
    assert row["status"] == "completed" and not row["overdue"]
    assert {s["system"]: s["status"] for s in row["steps"]} == {
        "local": "done", "hubspot": "done", "salesforce": "done", "shop": "done", "audit": "done"
    }  # fmt: skip
    assert email not in out


def test_malformed_email_exits_2(e2e: E2E) -> None:
    """A malformed email is bad usage: exit 2 with the reason, nothing filed."""
    code, out = _cli(e2e, "erase", "--email", "nobody-at-example")
    assert code == 2 and "not a valid address" in out
    code, out = _cli(e2e, "erasure", "status", "--json")
    assert json.loads(out) == []


def test_unknown_tenant_exits_2_and_is_listed_as_failed(e2e: E2E) -> None:
    """--tenant naming no configured tenant: exit 2; status shows it failed, with why."""
    code, out = _cli(e2e, "erase", "--email", "ada@example.com", "--tenant", "no-such-shop")
    assert code == 2 and "unknown tenant" in out
    _, listed = _cli(e2e, "erasure", "status", "--json")
    [row] = json.loads(listed)
    assert row["status"] == "failed" and "not configured" in row["last_error"]


def test_unknown_customer_id_exits_1(e2e: E2E) -> None:
    """A customer id B2Connect does not know is an unknown subject (exit 1)."""
    code, out = _cli(e2e, "erase", "--customer-id", "00000000-0000-4000-8000-000000000000")
    assert code == 1 and "unknown subject" in out


def test_overdue_is_empty_for_fresh_requests(e2e: E2E) -> None:
    """erasure status --overdue lists nothing while requests are within 30 days."""
    _cli(e2e, "erase", "--email", "someone@example.com", "--no-process")
    code, out = _cli(e2e, "erasure", "status", "--overdue", "--json")
    assert code == 0 and json.loads(out) == []


def test_erasure_process_runs_due_steps(e2e: E2E) -> None:
    """erase --no-process leaves steps pending; erasure process runs them."""
    _cli(e2e, "erase", "--email", "someone@example.com", "--no-process")
    code, out = _cli(e2e, "erasure", "process")
    assert code == 0 and "hubspot: done" in out
    _, listed = _cli(e2e, "erasure", "status", "--json")
    assert json.loads(listed)[0]["status"] == "completed"


def test_retention_dry_run_needs_a_retention_section(e2e: E2E) -> None:
    """retention run without a retention: section is bad usage (exit 2)."""
    code, out = _cli(e2e, "retention", "run", "--dry-run")
    assert code == 2 and "retention" in out


def test_retention_dry_run_lists_ids_not_emails(e2e: E2E) -> None:
    """retention run --dry-run prints customer ids and counts, never an email."""
    text = e2e.config_path.read_text(encoding="utf-8") + "\nretention: {inactive_days: 30}\n"
    e2e.config_path.write_text(text, encoding="utf-8")
    code, out = _cli(e2e, "retention", "run", "--dry-run")
    assert code == 0, out
    assert "inactive since" in out and "@" not in out


def test_erase_of_an_unknown_email_reports_not_found_and_exits_1(e2e: E2E) -> None:
    """erase --email of someone no system knows: each system says `not found` (no "contact
    permanently deleted"), exit 1 saying so; the request stays on file, HubSpot blocklisted
    the address, and the trail records `known_nowhere`."""
    e2e.sync("customers-to-hubspot")
    email = "nobody-known@example.org"
    code, out = _cli(e2e, "erase", "--email", email)
    assert code == 1, out
    assert "permanently deleted" not in out
    assert "known nowhere" in out and "stays on file" in out
    for system in ("local", "hubspot", "salesforce", "shop"):
        assert f"{system}: not found" in out, (system, out)
    _, listed = _cli(e2e, "erasure", "status", "--json")
    [row] = json.loads(listed)
    findings = {s["system"]: s["finding"] for s in row["steps"]}
    assert findings == {
        "local": "not found", "hubspot": "not found", "salesforce": "not found",
        "shop": "not found", "audit": "done",
    }  # fmt: skip
    assert email in e2e.stack.hubspot.store.blocklist
    code, trail = _cli(e2e, "audit", "search", "--subject", email, "--format", "json")
    assert code == 0, trail
    outcomes = [e["outcome"] for e in json.loads(trail) if e["action"] == "erasure.step"]
    assert "known_nowhere" in outcomes


def test_erase_of_a_known_email_reports_what_each_system_held(e2e: E2E) -> None:
    """A person synced to HubSpot only: HubSpot and b2sync found and erased them, Salesforce
    did not know them; exit 0."""
    e2e.sync("customers-to-hubspot")
    person = next(iter(by_key(e2e.records("hubspot", "contacts"), "b2connect_id").values()))[0]
    code, out = _cli(e2e, "erase", "--email", person["properties"]["email"])
    assert code == 0, out
    _, listed = _cli(e2e, "erasure", "status", "--json")
    [row] = json.loads(listed)
    findings = {s["system"]: s["finding"] for s in row["steps"]}
    assert findings["hubspot"] == findings["local"] == "found and erased"
    assert findings["salesforce"] == "not found"
    assert findings["shop"] in ("found and erased", "registered")
