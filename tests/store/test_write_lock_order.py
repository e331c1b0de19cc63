"""Issue 18: SQLite's write lock is handed over in order of arrival, urgent writers (a
webhook's run, ``store.urgent_writes``) before the non-urgent ones already waiting (a
backfill's commits): a webhook's write waits for the transaction in progress, never for the
queue behind it. Ordering, never timing."""

from __future__ import annotations

import threading
from collections.abc import Callable

import sqlalchemy as sa

from store import begin_write, urgent_writes, write_lock


def _queued(engine: sa.Engine, count: int) -> Callable[[], None]:
    def wait() -> None:
        lock = write_lock(engine)
        for _ in range(2000):
            if getattr(lock, "waiting", 0) >= count:
                return
            threading.Event().wait(0.005)
        raise AssertionError(f"{count} writers never queued")

    return wait


def test_urgent_writers_go_before_waiting_backfill_commits(
    sqlite_store_engine: sa.Engine,
) -> None:
    engine, order = sqlite_store_engine, []
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with begin_write(engine):
            held.set()
            release.wait(30)
            order.append("held")

    def writer(name: str, urgent: bool) -> threading.Thread:
        def write() -> None:
            if urgent:
                with urgent_writes(), begin_write(engine) as conn:
                    conn.execute(sa.text("SELECT 1"))
                    order.append(name)
            else:
                with begin_write(engine) as conn:
                    conn.execute(sa.text("SELECT 1"))
                    order.append(name)

        thread = threading.Thread(target=write)
        thread.start()
        return thread

    first = threading.Thread(target=holder)
    first.start()
    held.wait(10)
    threads = [writer("backfill-1", urgent=False)]
    _queued(engine, 1)()
    threads.append(writer("backfill-2", urgent=False))
    _queued(engine, 2)()
    threads.append(writer("webhook", urgent=True))
    _queued(engine, 3)()
    release.set()
    for thread in [first, *threads]:
        thread.join(30)
    assert order == ["held", "webhook", "backfill-1", "backfill-2"]
