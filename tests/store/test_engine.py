"""make_engine and check_connection: SQLite pragmas, PostgreSQL URLs, one-line failures."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from store import (
    StoreConfigError,
    StoreUnavailable,
    check_connection,
    current_revision,
    make_engine,
    unavailable,
    upgrade,
)

CLOSED_PORT_URL = "postgresql://b2sync:s3cr3t-pw@127.0.0.1:1/b2sync"


def _pragmas(conn: sa.Connection) -> dict[str, object]:
    names = ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
    return {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in names}


def test_sqlite_connections_get_the_pragmas(sqlite_store_engine: sa.Engine) -> None:
    """Every SQLite connection runs in WAL with busy_timeout, foreign keys and NORMAL sync."""
    expected = {"journal_mode": "wal", "busy_timeout": 30000, "foreign_keys": 1, "synchronous": 1}
    with sqlite_store_engine.connect() as first, sqlite_store_engine.connect() as second:
        assert _pragmas(first) == expected
        assert _pragmas(second) == expected


def test_sqlite_parent_directory_is_created(tmp_path: Path) -> None:
    """A SQLite URL whose directory does not exist yet gets it created."""
    path = tmp_path / "a" / "b" / "state.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
    finally:
        engine.dispose()

    assert path.is_file()


def test_in_memory_sqlite_is_one_database() -> None:
    """``sqlite://`` gives one in-memory database shared by every session of the engine."""
    engine = make_engine("sqlite://")
    try:
        upgrade(engine)
        assert current_revision(engine) is not None
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:p@db.example:5432/b2sync",
        "postgres://u:p@db.example/b2sync",
        "postgresql+psycopg2://u:p@db.example/b2sync",
        "postgresql+psycopg://u:p@db.example/b2sync",
    ],
)
def test_postgres_urls_use_psycopg_3(url: str) -> None:
    """Every PostgreSQL URL form is normalised to the psycopg 3 driver."""
    engine = make_engine(url)

    assert engine.url.drivername == "postgresql+psycopg"
    assert engine.url.host == "db.example"


@pytest.mark.parametrize("url", ["mysql://u:p@db/b2sync", "postgresql+asyncpg://u@db/x"])
def test_unsupported_database_is_refused(url: str) -> None:
    """A URL for a database or driver we do not support raises StoreConfigError."""
    with pytest.raises(StoreConfigError, match="unsupported state store URL scheme"):
        make_engine(url)


def test_malformed_url_is_refused_without_echoing_it() -> None:
    """A malformed URL raises StoreConfigError that does not repeat the (secret) URL."""
    with pytest.raises(StoreConfigError) as info:
        make_engine("not a url with hunter2")

    assert "hunter2" not in str(info.value)


def test_check_connection_passes_on_a_reachable_store(store_url: str) -> None:
    """check_connection returns quietly when the database answers."""
    check_connection(store_url)


def test_unreachable_postgres_message_is_one_line() -> None:
    """A closed port gives one line naming host, port and cause, without the password."""
    with pytest.raises(StoreUnavailable) as info:
        check_connection(CLOSED_PORT_URL)

    message = str(info.value)
    assert message == "cannot reach PostgreSQL at 127.0.0.1:1: connection refused"
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_upgrade_of_unreachable_postgres_raises_store_unavailable() -> None:
    """``upgrade`` reports an unreachable server as StoreUnavailable, not a driver error."""
    with pytest.raises(StoreUnavailable, match=r"^cannot reach PostgreSQL at 127\.0\.0\.1:1: "):
        upgrade(CLOSED_PORT_URL)


@pytest.mark.parametrize(
    ("driver_message", "cause"),
    [
        (
            'connection failed: connection to server at "10.0.0.5", port 5432 failed: '
            "timeout expired",
            "connection timed out",
        ),
        (
            "failed to resolve host 'db.example': [Errno -2] Name or service not known",
            "unknown host",
        ),
        (
            'connection failed: connection to server at "10.0.0.5", port 5432 failed: '
            'FATAL:  database "b2sync" does not exist',
            'database "b2sync" does not exist',
        ),
        ("server closed the connection unexpectedly s3cr3t-pw\n\tThis probably means", None),
    ],
)
def test_driver_messages_become_one_line_causes(driver_message: str, cause: str | None) -> None:
    """Driver error texts are reduced to a short cause, first line only, password masked."""
    url = sa.make_url("postgresql+psycopg://u:s3cr3t-pw@db.example/b2sync")

    message = str(unavailable(url, psycopg.OperationalError(driver_message)))

    assert message.startswith("cannot reach PostgreSQL at db.example:5432: ")
    assert "\n" not in message
    assert "s3cr3t-pw" not in message
    if cause is not None:
        assert message.endswith(f": {cause}")


@pytest.mark.postgres
def test_wrong_password_message_hides_the_password(postgres_store_url: str) -> None:
    """A rejected password is reported in one line that does not contain it."""
    url = sa.make_url(postgres_store_url).set(password="wrong-pw-12345")

    with pytest.raises(StoreUnavailable) as info:
        check_connection(url)

    message = str(info.value)
    assert "password authentication failed" in message
    assert "wrong-pw-12345" not in message
    assert "\n" not in message


def test_unopenable_sqlite_file_raises_store_unavailable(tmp_path: Path) -> None:
    """A SQLite path under a regular file gives a one-line StoreUnavailable naming the path."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory", encoding="utf-8")
    path = blocker / "state.db"

    with pytest.raises(StoreUnavailable) as info:
        check_connection(f"sqlite:///{path}")

    assert str(info.value).startswith(f"cannot open SQLite database at {path}: ")
    assert "\n" not in str(info.value)
