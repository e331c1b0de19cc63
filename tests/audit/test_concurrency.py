"""Concurrent writers never fork a tenant chain."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from audit import KeyRing, events_table, verify
from tests.audit.conftest import Append, write_event

WRITERS = 4
BATCHES = 5
PER_BATCH = 10


def test_parallel_writers_keep_one_chain(
    append: Append, store_engine: sa.Engine, keys: KeyRing
) -> None:
    """Four threads appending to one tenant produce one gap-free, verifiable chain."""
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for b in range(BATCHES):
                append([write_event(f"w{n}-{b}-{i}@example.com") for i in range(PER_BATCH)])
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with store_engine.connect() as conn:
        seqs = conn.execute(sa.select(events_table.c.seq).order_by(events_table.c.seq)).scalars()
        assert list(seqs) == list(range(1, WRITERS * BATCHES * PER_BATCH + 1))
        assert verify(conn, keys=keys).ok
