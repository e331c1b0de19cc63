"""The daemon's webhook ledger in a real store: receipts survive a new ledger (a restart),
are pruned past their window, a refused replay stores none of its erasure requests, and a
delivery is recorded while the store's write transaction is held (its intake journal)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from audit import KeyRing
from b2sync.service import Receipt, StoreLedger
from consent.erasure.model import Origin, SubjectIds
from consent.erasure.sources import IntakeItem
from store import begin_write, intake_journal, make_engine, metadata, upgrade
from sync.hashing import FieldHasher

T0 = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)


@dataclass
class _Store:
    db: sa.Engine
    hasher: FieldHasher = field(default_factory=lambda: FieldHasher(b"ledger-test-key-0123456789"))
    audit_keys: KeyRing | None = None
    now: list[datetime] = field(default_factory=lambda: [T0])

    def clock(self) -> datetime:
        return self.now[0]


def _store(tmp_path: Path) -> _Store:
    db = make_engine(f"sqlite:///{tmp_path}/state.db")
    upgrade(db)
    return _Store(db)


def _count(store: _Store, table: str, *, journal: bool = False) -> int:
    engine = intake_journal(store.db, [metadata.tables[table]]) if journal else store.db
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_receipts_outlive_the_ledger_and_are_pruned_after_their_window(tmp_path: Path) -> None:
    """A new ledger on the same store (the daemon restarted) still refuses the receipt; once
    its window is over the row is pruned and the key is new again."""
    store = _store(tmp_path)
    assert StoreLedger(lambda: store).admit("b2connect", [Receipt("sig:a", 600)], [])
    restarted = StoreLedger(lambda: store)
    assert restarted.known(["sig:a", "sig:b"]) == {"sig:a"}
    assert not restarted.admit("b2connect", [Receipt("sig:a", 600)], [])
    store.now[0] = T0 + timedelta(seconds=601)
    assert restarted.known(["sig:a"]) == set()
    assert restarted.admit("b2connect", [Receipt("sig:c", 600)], [])
    assert _count(store, "webhook_receipts", journal=True) == 1  # sig:a pruned


def test_a_refused_replay_stores_none_of_its_erasures(tmp_path: Path) -> None:
    """Receipts and erasure requests are written together: a replay adds no inbox row."""
    store = _store(tmp_path)
    item = IntakeItem(SubjectIds(email="ada@example.com"), Origin.HUBSPOT)
    ledger = StoreLedger(lambda: store)
    assert ledger.admit("hubspot", [Receipt("sig:x", 600)], [item])
    assert not ledger.admit("hubspot", [Receipt("sig:y", 600), Receipt("sig:x", 600)], [item])
    assert (_count(store, "erasure_inbox"), _count(store, "webhook_receipts")) == (1, 1)


def test_a_delivery_is_recorded_while_the_store_write_lock_is_held(tmp_path: Path) -> None:
    """A backfill's commit holds the store's write transaction: a delivery without erasures
    is recorded (in the intake journal) before that transaction ends; one carrying erasures
    waits for it (its requests and receipts go into the store in one transaction)."""
    store = _store(tmp_path)
    ledger = StoreLedger(lambda: store)
    item = IntakeItem(SubjectIds(email="ada@example.com"), Origin.B2CONNECT)
    held, release, admitted = threading.Event(), threading.Event(), []

    def backfill_commit() -> None:
        with begin_write(store.db):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=backfill_commit)
    holder.start()
    held.wait(10)
    erasing = threading.Thread(
        target=lambda: admitted.append(ledger.admit("b2connect", [Receipt("sig:e", 600)], [item]))
    )
    try:
        erasing.start()
        assert ledger.admit("b2connect", [Receipt("sig:p", 600)], [])
        assert admitted == [], "the erasure-bearing delivery is in the store's transaction"
        assert ledger.known(["sig:p"]) == {"sig:p"}
        assert holder.is_alive(), "recorded only once the write transaction ended"
    finally:
        release.set()
        holder.join(30)
        erasing.join(30)
    assert admitted == [True]
    assert ledger.known(["sig:e", "sig:p"]) == {"sig:e", "sig:p"}
    assert _count(store, "erasure_inbox") == 1
