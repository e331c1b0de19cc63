"""Nothing a fault parks stays parked: lines replay on their own, retriable dead letters are
retried by the next run, the pull's dead letters replay too, and ``sync`` says what is left."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from store.models import RunStatus
from tests.e2e.conftest import E2E, config_for
from tests.e2e.fault_support import (
    HS_ASSOC,
    HS_SEARCH,
    SF_COLLECTIONS,
    duplicates,
    hubspot_lines,
    pending,
    shop_lines,
)
from tests.e2e.test_cli_sync import cli

ORDERS = "orders-to-hubspot"
CUSTOMERS = "customers-to-hubspot"
B2C_PATCH = "PATCH /api/crm/customers/{rid}"


def test_a_line_parked_after_its_order_was_written_is_replayed_on_its_own(e2e: E2E) -> None:
    """HubSpot refuses some line→order associations after the orders and lines were written:
    those lines are parked (not dropped), and ``deadletters retry`` associates them, alone."""
    e2e.faults("hubspot", [{"match": HS_ASSOC, "kind": "partial", "every": 5}])
    config = str(e2e.config_path)
    first = cli(e2e, "sync", ORDERS, "--json", "--config", config)
    assert first.returncode == 0, first.stderr
    lines = {k for keys in shop_lines(e2e).values() for k in keys}
    parked = {d["record_key"] for d in pending(e2e, ORDERS) if d["stream"] == "line_items"}
    assert parked and parked <= lines, "lines whose association failed must be parked"
    assert hubspot_lines(e2e) != shop_lines(e2e)
    e2e.faults("hubspot", [])
    retried = cli(e2e, "deadletters", "retry", "--config", config)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert hubspot_lines(e2e) == shop_lines(e2e)
    assert not [d for d in pending(e2e, ORDERS) if d["stream"] == "line_items"]
    assert not duplicates(e2e, "hubspot", "line_items", "b2connect_id")


@pytest.mark.slow
def test_retriable_line_failures_are_retried_by_the_next_run(e2e: E2E) -> None:
    """Transient per-pair association failures that outlast the in-run retries park the
    lines as retriable; the same ``sync`` replays them at once, so nothing waits 15 minutes."""
    lines = sum(len(keys) for keys in shop_lines(e2e).values())
    chunks = -(-lines // 100)
    e2e.faults(
        "hubspot",
        [{"match": HS_ASSOC, "kind": "partial", "every": 1, "status": 500,
          "code": "INTERNAL_ERROR", "times": 6 * chunks}],
    )  # fmt: skip
    result = cli(e2e, "sync", ORDERS, "--json", "--config", str(e2e.config_path))
    assert result.returncode == 0, result.stderr
    [summary] = json.loads(result.stdout)
    assert hubspot_lines(e2e) == shop_lines(e2e)
    assert summary["counts"]["replay_lines_written"] == lines
    assert summary["counts"]["dead_letters_pending"] == 0


def test_sync_exits_non_zero_while_dead_letters_are_pending_too_long(
    e2e: E2E, tmp_path: Path
) -> None:
    """Pending dead letters are work left: counted in the summary, and with
    ``dead_letters.max_pending_age`` passed the exit code says the sync is not done."""
    fresh = cli(e2e, "sync", CUSTOMERS, "--json", "--config", str(e2e.config_path))
    assert fresh.returncode == 0, fresh.stderr  # parked just now: within the default hour
    [summary] = json.loads(fresh.stdout)
    waiting = summary["counts"]["dead_letters_pending"]
    assert waiting == len(pending(e2e, CUSTOMERS)) > 0
    text = e2e.config_path.read_text() + "dead_letters: {max_pending_age: 0s}\n"
    _config, strict = config_for(tmp_path, text)
    overdue = cli(e2e, "sync", CUSTOMERS, "--json", "--config", str(strict))
    assert overdue.returncode == 1
    [again] = json.loads(overdue.stdout)
    assert again["status"] == "succeeded"
    assert again["counts"]["dead_letters_overdue"] == waiting
    assert "deadletters list" in overdue.stderr


def test_one_association_chunk_failing_does_not_fail_the_others(e2e: E2E) -> None:
    """In an association storm (half the calls answer 503) each chunk is retried on its own:
    the run commits, and every order and line ends up associated."""
    [customers] = e2e.sync(CUSTOMERS)
    assert customers.status is RunStatus.SUCCEEDED
    e2e.faults(
        "hubspot",
        [{"match": HS_ASSOC, "kind": "status", "status": 503, "probability": 0.5}],
    )
    [orders] = e2e.sync(ORDERS)
    assert orders.status is RunStatus.SUCCEEDED, orders.error
    e2e.faults("hubspot", [])
    assert hubspot_lines(e2e) == shop_lines(e2e)


def test_a_crm_read_fault_during_the_pull_is_retried(e2e: E2E) -> None:
    """The pull's change read rides out a 503 and a connection reset like any write."""
    e2e.faults(
        "hubspot",
        [{"match": HS_SEARCH, "kind": "status", "status": 503, "times": 1},
         {"match": HS_SEARCH, "kind": "reset", "times": 1}],
    )  # fmt: skip
    result = cli(e2e, "sync", CUSTOMERS, "--json", "--config", str(e2e.config_path))
    assert result.returncode == 0, result.stderr
    [summary] = json.loads(result.stdout)
    assert summary["status"] == "succeeded"
    assert summary["counts"]["pull_read"] > 0


def test_deadletters_retry_replays_the_pulls_dead_letters(e2e: E2E) -> None:
    """A HubSpot edit B2Connect refused is parked by the pull; ``deadletters retry`` runs it
    through the pull again once B2Connect takes it (the cursor moved on: nothing else would)."""
    config = str(e2e.config_path)
    assert cli(e2e, "sync", CUSTOMERS, "--config", config).returncode == 0
    contact = next(
        c for c in e2e.records("hubspot", "contacts") if c["properties"].get("b2connect_id")
    )
    key = str(contact["properties"]["b2connect_id"])
    e2e.stack.hubspot.admin_patch(
        "contacts", str(contact["id"]), {"properties": {"firstname": "Zelda"}}
    )
    e2e.faults("b2connect", [{"match": B2C_PATCH, "kind": "status", "status": 422}])
    cli(e2e, "sync", CUSTOMERS, "--config", config)
    parked = [d for d in pending(e2e, CUSTOMERS) if d["stream"] == "contacts"]
    assert [d["record_key"] for d in parked] == [str(contact["id"])]
    assert e2e.stack.b2connect.admin_get("customers", key)["firstName"] != "Zelda"
    e2e.faults("b2connect", [])
    retried = cli(e2e, "deadletters", "retry", "--config", config)
    assert retried.returncode == 1  # the seed's invalid emails still fail; the exit says so
    assert e2e.stack.b2connect.admin_get("customers", key)["firstName"] == "Zelda"
    assert not [d for d in pending(e2e, CUSTOMERS) if d["stream"] == "contacts"]


def test_a_salesforce_chunk_fault_resends_only_that_chunk(e2e: E2E) -> None:
    """A 503 on the second collection call of a line batch re-sends that chunk only, not the
    chunk Salesforce already took (every line still lands once)."""
    lines = sum(len(keys) for keys in shop_lines(e2e).values())
    chunks = -(-lines // 200)
    assert chunks >= 2
    e2e.faults("salesforce", [{"match": SF_COLLECTIONS, "kind": "status", "status": 503,
                               "after": 2, "times": 1}])  # fmt: skip
    before = e2e.calls("salesforce").get(SF_COLLECTIONS, 0)
    [summary] = e2e.sync("orders-to-salesforce")
    assert summary.status is RunStatus.SUCCEEDED, summary.error
    calls = e2e.calls("salesforce")[SF_COLLECTIONS] - before
    assert calls == 1 + chunks + 1  # the orders, the line chunks, the failed chunk once more
    assert not duplicates(e2e, "salesforce", "B2C_Order_Line__c", "B2Connect_Id__c")
