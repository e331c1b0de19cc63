"""session_scope: commit on success, rollback on error, SQLite write-lock modes."""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session, select

from store import Run, begin_write, session_scope


class Boom(Exception):
    """Raised inside a session block by the tests."""


def _run_ids(engine: sa.Engine) -> list[str]:
    with session_scope(engine) as session:
        return list(session.exec(select(Run.id)))


def test_session_commits_on_success(store_engine: sa.Engine) -> None:
    """Rows added in a block that ends normally are visible to later sessions."""
    with session_scope(store_engine) as session:
        session.add(Run(id="run-1", pipeline="customers", trigger="schedule"))

    assert _run_ids(store_engine) == ["run-1"]


def test_session_rolls_back_on_error(store_engine: sa.Engine) -> None:
    """A block that raises leaves no trace and the exception propagates."""
    with pytest.raises(Boom), session_scope(store_engine) as session:
        session.add(Run(id="run-1", pipeline="customers", trigger="schedule"))
        session.flush()
        raise Boom

    assert _run_ids(store_engine) == []


def test_objects_stay_readable_after_the_block(store_engine: sa.Engine) -> None:
    """Attributes of objects loaded in a finished session can still be read."""
    with session_scope(store_engine) as session:
        run = Run(id="run-1", pipeline="customers", trigger="webhook")
        session.add(run)

    assert (run.pipeline, run.records_read) == ("customers", 0)


def _other_writer_blocked(engine: sa.Engine) -> bool:
    """Whether a second SQLite connection (no busy wait) is refused the write lock."""
    path = engine.url.database
    assert path is not None
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return True
    finally:
        other.close()
    return False


def test_immediate_session_takes_the_sqlite_write_lock(sqlite_store_engine: sa.Engine) -> None:
    """``immediate=True`` holds SQLite's write lock from the first statement to commit."""
    with session_scope(sqlite_store_engine, immediate=True) as session:
        session.exec(select(Run.id)).all()
        assert _other_writer_blocked(sqlite_store_engine)
    assert not _other_writer_blocked(sqlite_store_engine)


def test_default_session_reads_without_blocking_writers(sqlite_store_engine: sa.Engine) -> None:
    """A plain session that only reads leaves SQLite's write lock free for others (WAL)."""
    with session_scope(sqlite_store_engine) as session:
        session.exec(select(Run.id)).all()
        assert not _other_writer_blocked(sqlite_store_engine)


def test_threads_queue_for_sqlite_writes_instead_of_failing_locked(
    sqlite_store_engine: sa.Engine,
) -> None:
    """Threads of one process writing to one SQLite store while one holds a long write
    transaction queue for the store's write lock in Python: none gets "database is locked",
    even with a busy timeout far shorter than the long transaction (SQLite's busy handler
    alone gives up after it), and every row is written."""
    engine = sqlite_store_engine

    def short_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=20")

    event.listen(engine, "connect", short_busy_timeout)
    engine.dispose()  # new connections get the 20 ms busy timeout
    writers, rounds = 6, 4
    started = threading.Barrier(writers + 1, timeout=30)
    errors: list[BaseException] = []

    def long_transaction() -> None:
        try:
            with session_scope(engine, immediate=True) as session:
                session.add(Run(id="long", pipeline="p", trigger="t"))
                session.flush()
                started.wait()
                time.sleep(0.3)  # the fault: a long write transaction; others must not fail
        except BaseException as exc:  # collected: the assertion names it
            errors.append(exc)
            started.abort()

    def writer(n: int) -> None:
        try:
            started.wait()
            for i in range(rounds):
                if i % 2:
                    with begin_write(engine) as conn, Session(bind=conn) as session:
                        session.add(Run(id=f"w{n}-{i}", pipeline="p", trigger="t"))
                        session.flush()
                else:
                    with session_scope(engine, immediate=True) as session:
                        session.add(Run(id=f"w{n}-{i}", pipeline="p", trigger="t"))
        except BaseException as exc:  # collected: the assertion names it
            errors.append(exc)

    threads = [threading.Thread(target=long_transaction)]
    threads += [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(_run_ids(engine)) == 1 + writers * rounds
