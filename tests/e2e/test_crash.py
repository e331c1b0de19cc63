"""Crash test: SIGKILL `b2sync sync` at random points of a backfill, restart, repeat; at the
end every B2Connect record exists exactly once in each CRM with the right values."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from emulators.stack import EmulatorStack
from tests.e2e.conftest import E2E, MASTER_KEY, by_key, config_for
from tests.e2e.test_concurrent_backfill import with_concurrency

B2SYNC = shutil.which("b2sync", path=str(Path(sys.executable).parent)) or "b2sync"
KILLS = 6


def start_sync(e2e: E2E, bound: int | None = None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("B2SYNC_")}
    env.update(e2e.stack.env())
    env["B2SYNC_MASTER_KEY"] = MASTER_KEY
    if bound is not None:
        env["B2SYNC_RECORDS_IN_MEMORY"] = str(bound)
    return subprocess.Popen(
        [B2SYNC, "sync", "--config", str(e2e.config_path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def big(tmp_path: Path) -> object:
    """A shop large enough that a backfill takes a few seconds."""
    with EmulatorStack(customers=400, seed=11) as stack:
        os.environ.update(stack.env())
        os.environ["B2SYNC_MASTER_KEY"] = MASTER_KEY
        try:
            config, path = config_for(tmp_path)
            yield E2E(stack, config, path, [])
        finally:
            for key in stack.env():
                os.environ.pop(key, None)


@pytest.mark.slow
@pytest.mark.parametrize(("concurrency", "bound"), [(1, None), (4, None), (None, None), (4, 300)])
def test_sigkill_during_backfill_loses_and_duplicates_nothing(
    big: E2E, concurrency: int | None, bound: int | None
) -> None:
    """Killed six times mid-backfill, the sync still ends with each record once, correct,
    with one write batch in flight at a time, with four, with the shipped defaults (the
    CRMs' adaptive limits growing up to 32 and 25 calls in flight), and at four under a bound
    on the records in memory that every run keeps crossing (early flushes, runs waiting for
    their own commits: ``B2SYNC_RECORDS_IN_MEMORY``)."""
    e2e = big
    if concurrency is not None:
        with_concurrency(e2e, concurrency)
    rng = random.Random(20261125)
    killed = 0
    for _ in range(KILLS):
        proc = start_sync(e2e, bound)
        try:
            proc.wait(timeout=rng.uniform(0.7, 2.2))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            killed += 1
    assert killed >= 3, "the kills should land while the sync is still running"
    final = start_sync(e2e, bound)
    assert final.wait(timeout=180) == 0

    customers = e2e.records("b2connect", "customers")
    orders = e2e.records("b2connect", "orders")
    hs_contacts = by_key(e2e.records("hubspot", "contacts"), "b2connect_id")
    sf_contacts = by_key(e2e.records("salesforce", "Contact"), "B2Connect_Id__c")
    hs_orders = by_key(e2e.records("hubspot", "orders"), "b2connect_id")
    sf_orders = by_key(e2e.records("salesforce", "B2C_Order__c"), "B2Connect_Id__c")
    hs_lines = by_key(e2e.records("hubspot", "line_items"), "b2connect_id")

    assert all(len(v) == 1 for v in hs_contacts.values()), "duplicate HubSpot contact"
    assert all(len(v) == 1 for v in sf_contacts.values()), "duplicate Salesforce contact"
    assert all(len(v) == 1 for v in hs_orders.values()), "duplicate HubSpot order"
    assert all(len(v) == 1 for v in sf_orders.values()), "duplicate Salesforce order"
    assert all(len(v) == 1 for v in hs_lines.values()), "duplicate HubSpot line item"

    parked = _parked(e2e, "customers-to-hubspot")
    assert len(parked) <= 10, parked
    valid = [c for c in customers if c["id"] not in parked]
    for customer in valid:
        contact = hs_contacts[customer["id"]][0]["properties"]
        assert contact["email"] == customer["email"].strip().lower()
        assert contact["firstname"] == (customer.get("firstName") or "").strip()
    assert {o["id"] for o in orders} == set(hs_orders)
    for order in orders:
        assert (
            hs_orders[order["id"]][0]["properties"]["hs_currency_code"] == order["currency"].upper()
        )
    assert {o["id"] for o in orders} <= set(sf_orders) | _parked(e2e, "orders-to-salesforce")


def _parked(e2e: E2E, pipeline: str) -> set[str]:
    """Keys dead-lettered (with a reason) or parked as conflicts for ``pipeline``."""
    import sqlalchemy as sa

    from store.models import metadata

    runner = e2e.runner()
    try:
        with runner.db.connect() as conn:
            table = metadata.tables["dead_letters"]
            rows = conn.execute(
                sa.select(table.c.record_key).where(
                    table.c.pipeline == pipeline, table.c.status == "pending"
                )
            )
            keys = {r[0] for r in rows}
            conflicts = metadata.tables["conflicts"]
            rows = conn.execute(
                sa.select(conflicts.c.record_key).where(conflicts.c.pipeline == pipeline)
            )
            return keys | {r[0] for r in rows}
    finally:
        runner.close()
