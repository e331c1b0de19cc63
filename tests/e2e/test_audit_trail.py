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
            report = verify(conn, keys=keys)
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
            assert verify(conn, keys=keys).ok
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


def test_rejection_and_dead_letter_replay_are_events(e2e: E2E) -> None:
    """A CRM rejection is an event with the vendor's code as outcome; its replay is a
    deadletter.replay event of the same record; the chain still verifies."""
    from tests.e2e.test_push_hubspot import HS_UPSERT

    e2e.faults("hubspot", [{"match": HS_UPSERT, "kind": "partial", "every": 4, "times": 1}])
    e2e.sync("customers-to-hubspot")
    keys = KeyRing.from_env(KEYS)
    runner = e2e.runner()
    try:
        runner.replay(runner.config.pipeline("customers-to-hubspot"), everything=True)
        with runner.db.connect() as conn:
            rejected = [
                e
                for e in search(conn, keys, Filters(action="crm.write"))
                if e.outcome.startswith("rejected:")
            ]
            replays = search(conn, keys, Filters(action="deadletter.replay"))
            report = verify(conn, keys=keys)
    finally:
        runner.close()
    assert rejected and {e.outcome for e in rejected} == {"rejected:VALIDATION_ERROR"}
    assert {e.record_key for e in replays} == {e.record_key for e in rejected}
    assert all(e.outcome in ("created", "updated") for e in replays)
    assert report.ok, report.problems
