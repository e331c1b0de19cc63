"""The audit trail the engine writes: one event per CRM write, chained, searchable by person."""

from __future__ import annotations

from audit import KeyRing, shred, verify
from audit.query import Filters, search
from tests.e2e.conftest import E2E, MASTER_KEY

KEYS = {"B2SYNC_MASTER_KEY": MASTER_KEY}


def test_sync_writes_a_verifiable_searchable_trail(e2e: E2E) -> None:
    """Each customer written to HubSpot has one crm.write event with its new values; verify passes."""
    [summary] = e2e.sync("customers-to-hubspot")
    keys = KeyRing.from_env(KEYS)
    customers = {c["id"]: c for c in e2e.records("b2connect", "customers")}
    runner = e2e.runner()
    try:
        with runner.db.connect() as conn:
            report = verify(conn)
            events = search(conn, keys, Filters(action="crm.write"))
            subject = str(events[0].subject)
            mine = search(conn, keys, Filters(subject=subject))
    finally:
        runner.close()
    customer = customers[subject]
    assert report.ok, report.problems
    # mapping errors are parked before any CRM call: only CRM writes are events here
    # plus the one config.loaded event recorded when the runner first loaded this config
    assert sum(report.checked.values()) == summary.counts["written"] + 1
    assert len(events) == summary.counts["written"]
    assert {e.outcome for e in events} <= {"created", "updated"}
    assert len(mine) == 1 and isinstance(mine[0].values, dict)
    assert mine[0].values["email"]["new"] == customer["email"].strip().lower()


def test_shredded_subject_reads_erased_and_chain_still_verifies(e2e: E2E) -> None:
    """Crypto-shredding a person keeps their events (facts) but their values read [erased]."""
    e2e.sync("customers-to-hubspot")
    keys = KeyRing.from_env(KEYS)
    runner = e2e.runner()
    try:
        with runner.db.connect() as conn:
            [first, *_] = search(conn, keys, Filters(action="crm.write"))
        subject = first.subject
        assert subject is not None
        with runner.db.begin() as conn:
            assert shred(conn, keys, subject)
        with runner.db.connect() as conn:
            assert verify(conn).ok
            events = search(conn, KeyRing.from_env(KEYS), Filters(subject=subject))
    finally:
        runner.close()
    assert events
    assert all(e.values in (None, "[erased]") for e in events)
    assert all(e.record_key == "[erased]" for e in events)


def test_config_change_is_recorded_once(e2e: E2E) -> None:
    """Loading a config records config.loaded with the changed pipelines; loading it again does not."""
    e2e.runner().close()
    e2e.runner().close()
    keys = KeyRing.from_env(KEYS)
    runner = e2e.runner()
    try:
        with runner.db.connect() as conn:
            loaded = search(conn, keys, Filters(action="config.loaded"))
    finally:
        runner.close()
    assert len(loaded) == 1
    assert loaded[0].details is not None
    assert "customers-to-hubspot" in loaded[0].details["pipelines"]
