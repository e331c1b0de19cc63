"""Retention through the emulators: who is inactive, dry run, erase, legal hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from audit import set_legal_hold
from b2sync.runtime import build_runner
from consent.erasure.report import erasure_status
from consent.erasure.retention import run_retention
from mapping.config import RetentionSettings
from sync.runner import Runner
from tests.e2e.conftest import E2E, FAST_RETRY, by_key


def _stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _oldest_two(e2e: E2E, now: datetime) -> tuple[int, list[str]]:
    """inactive_days that makes exactly the two least active customers inactive, and them."""
    last: dict[str, datetime] = {
        c["id"]: _stamp(c["updatedAt"]) for c in e2e.records("b2connect", "customers")
    }
    for order in e2e.records("b2connect", "orders"):
        owner = order["customerId"]
        if owner in last:
            last[owner] = max(last[owner], _stamp(order["createdAt"]))
    ranked = sorted(last, key=lambda k: last[k])
    days = (now - last[ranked[2]]).days + 1
    assert last[ranked[1]] < now - timedelta(days=days), "the test needs distinct activity days"
    return days, sorted(ranked[:2])


def _runner(e2e: E2E, now: datetime) -> Runner:
    options: dict[str, Any] = {"salesforce": {"bulk_wait_s": 0.01}}
    return build_runner(e2e.config, retry=FAST_RETRY, connector_options=options, clock=lambda: now)


def test_dry_run_lists_the_inactive_and_changes_nothing(e2e: E2E) -> None:
    """--dry-run names exactly the people with no order or profile change for N days."""
    now = datetime.now(UTC)
    days, expected = _oldest_two(e2e, now)
    runner = _runner(e2e, now)
    try:
        report = run_retention(runner, dry_run=True, settings=RetentionSettings(inactive_days=days))
        with runner.db.connect() as conn:
            requests = erasure_status(conn, now)
    finally:
        runner.close()
    assert report.customer_ids == expected and report.inactive == 2
    assert report.scanned == len(e2e.records("b2connect", "customers"))
    assert requests == []
    assert "@" not in str(report.as_dict())


def test_erase_action_files_an_erasure_per_inactive_person(e2e: E2E) -> None:
    """action erase: each inactive person goes through a full erasure, others stay."""
    e2e.sync("customers-to-hubspot")
    now = datetime.now(UTC)
    days, expected = _oldest_two(e2e, now)
    runner = _runner(e2e, now)
    try:
        report = run_retention(
            runner, dry_run=False, settings=RetentionSettings(inactive_days=days)
        )
        with runner.db.connect() as conn:
            requests = erasure_status(conn, now)
    finally:
        runner.close()
    assert report.acted == 2 and report.outcomes["filed"] == 2
    assert [r["status"] for r in requests] == ["completed", "completed"]
    contacts = by_key(e2e.records("hubspot", "contacts"), "b2connect_id")
    assert not set(expected) & set(contacts)
    assert len(contacts) >= len(e2e.records("b2connect", "customers")) - 10


def test_people_under_legal_hold_are_left_alone(e2e: E2E) -> None:
    """A legal hold on a person keeps them out of the purge."""
    now = datetime.now(UTC)
    days, expected = _oldest_two(e2e, now)
    runner = _runner(e2e, now)
    try:
        assert runner.audit_keys is not None
        with runner.db.begin() as conn:
            set_legal_hold(conn, runner.audit_keys, expected[0])
        report = run_retention(
            runner, dry_run=True, settings=RetentionSettings(inactive_days=days + 0)
        )
    finally:
        runner.close()
    assert report.customer_ids == expected[1:] and report.held == 1


def test_activity_counts_orders(e2e: E2E) -> None:
    """A new order makes an otherwise inactive person active."""
    now = datetime.now(UTC)
    days, expected = _oldest_two(e2e, now)
    e2e.stack.b2connect.admin_create(
        "orders", {"customerId": expected[0], "createdAt": now.isoformat().replace("+00:00", "Z")}
    )
    runner = _runner(e2e, now + timedelta(minutes=1))
    try:
        report = run_retention(runner, dry_run=True, settings=RetentionSettings(inactive_days=days))
    finally:
        runner.close()
    assert report.customer_ids == expected[1:]
