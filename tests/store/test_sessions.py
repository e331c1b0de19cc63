"""session_scope: commit on success, rollback on error, SQLite write-lock modes."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa
from sqlmodel import select

from store import Run, session_scope


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
