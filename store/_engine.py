"""Engines and sessions: SQLite (WAL, by default) or PostgreSQL through psycopg 3."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool
from sqlmodel import Session

from store._in_lists import pad_in_lists
from store._tenancy import engine_tenant, on_connect
from store._urls import is_sqlite, parse_url, sqlite_path, unavailable
from store._write_lock import WriteLock

#: Applied to every new SQLite connection, before any transaction (busy_timeout first, so that
#: switching to WAL waits for a lock held by another process instead of failing). A writer
#: waits up to 30 s for another process's write transaction (a batch commit with its audit
#: events) instead of failing with "database is locked".
SQLITE_PRAGMAS: tuple[str, ...] = (
    "PRAGMA busy_timeout=30000",
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
)
BEGIN_IMMEDIATE = "b2sync_begin_immediate"  # execution option read by the SQLite BEGIN hook
DEFAULT_CONNECT_TIMEOUT = 10

#: One in-process write lock per SQLite database (file path, or pool of an in-memory one):
#: threads of this process queue for it in Python, in order (urgent writers first), instead of
#: spinning in SQLite's busy handler (:mod:`store._write_lock`).
_WRITE_LOCKS: dict[str, WriteLock] = {}
_MEMORY_WRITE_LOCKS: weakref.WeakKeyDictionary[Any, WriteLock] = weakref.WeakKeyDictionary()
_WRITE_LOCKS_GUARD = threading.Lock()


def make_engine(
    url: str | sa.URL,
    *,
    tenant: str | None = None,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
) -> sa.Engine:
    """An engine for one tenant's rows of the state store; connects lazily.

    ``tenant`` (default: ``$B2SYNC_TENANT``, else ``default``) fills every row's
    ``b2sync_tenant``; on PostgreSQL the row-level security policies show and accept only its
    rows, on SQLite a file of another tenant is refused (see :mod:`store._tenancy`).

    SQLite: the parent directory is created and every connection gets :data:`SQLITE_PRAGMAS`;
    transactions start with an explicit ``BEGIN`` (real isolation, transactional DDL).
    PostgreSQL: ``postgresql://``, ``postgres://`` and ``postgresql+psycopg2://`` all use
    psycopg 3; connections are pinged before use.

    Raises:
        StoreConfigError: the URL is malformed or names an unsupported database.
        StoreUnavailable: the SQLite file's directory cannot be created.
    """
    parsed = parse_url(url)
    if is_sqlite(parsed):
        engine = _sqlite_engine(parsed)
    else:
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = connect_timeout
        engine = sa.create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
    postgres = engine.dialect.name == "postgresql"
    event.listen(engine, "connect", on_connect(engine_tenant(tenant), postgres=postgres))
    return engine


def insert_on_conflict(conn: sa.Connection, table: sa.Table) -> Any:
    """The dialect's ``INSERT`` that supports ``ON CONFLICT`` (SQLite or PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def begin_write(engine: sa.Engine) -> AbstractContextManager[sa.Connection]:
    """``engine.begin()`` for a transaction that writes, above all one where a read decides
    the write (take a lease, append to a hash chain, read-modify-write a row).

    On SQLite it starts with ``BEGIN IMMEDIATE``: the write lock is taken (waiting up to the
    busy timeout) before the first read, so the transaction can never fail to upgrade its read
    lock with "database is locked" because another process wrote meanwhile. On PostgreSQL it
    is a plain ``BEGIN``: rows are locked by the statements themselves (``ON CONFLICT``, row
    locks of ``UPDATE``/``DELETE``).

    On SQLite the process's write lock of the database (:func:`write_lock`) is held for the
    whole transaction: keep it short (no network call, no crypto inside).
    """
    return _begin_write(engine)


@contextmanager
def _begin_write(engine: sa.Engine) -> Iterator[sa.Connection]:
    with write_lock(engine), engine.execution_options(**{BEGIN_IMMEDIATE: True}).begin() as conn:
        yield conn


def write_lock(engine: sa.Engine) -> AbstractContextManager[Any]:
    """The in-process lock that write transactions on ``engine``'s SQLite database take
    (re-entrant, granted in order of arrival with :func:`store.urgent_writes` writers first;
    shared by every engine of this process on the same file). A no-op context on PostgreSQL,
    whose writers lock rows, not the database."""
    if engine.dialect.name != "sqlite":
        return nullcontext()
    path = sqlite_path(engine.url)
    with _WRITE_LOCKS_GUARD:
        if path is None:
            return _MEMORY_WRITE_LOCKS.setdefault(engine.pool, WriteLock())
        return _WRITE_LOCKS.setdefault(str(Path(path).resolve()), WriteLock())


@contextmanager
def session_scope(engine: sa.Engine, *, immediate: bool = False) -> Iterator[Session]:
    """A session that commits when the block ends and rolls back if it raises.

    Objects stay readable after the block (``expire_on_commit=False``). ``immediate=True``
    takes SQLite's write lock at ``BEGIN``: use it for read-then-write transactions that
    other processes race on (appending to a hash chain, taking a lock row). It changes
    nothing on PostgreSQL. Keep sessions short; never hold one across a network call (an
    immediate one holds the process's SQLite write lock, :func:`write_lock`, until it ends).
    """
    bind = engine.execution_options(**{BEGIN_IMMEDIATE: True}) if immediate else engine
    with write_lock(engine) if immediate else nullcontext():
        session = Session(bind=bind, expire_on_commit=False)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


def check_connection(
    url: str | sa.URL, *, tenant: str | None = None, connect_timeout: int = 5
) -> None:
    """Connect once and run ``SELECT 1``.

    Raises:
        StoreConfigError: the URL is malformed or unsupported.
        StoreUnavailable: one line naming the host (or file) and the cause, never the password.
    """
    engine = make_engine(url, tenant=tenant, connect_timeout=connect_timeout)
    try:
        with connect(engine) as conn:
            conn.execute(sa.text("SELECT 1"))
    finally:
        engine.dispose()


@contextmanager
def connect(engine: sa.Engine) -> Iterator[sa.Connection]:
    """``engine.connect()`` whose failure to connect raises :class:`StoreUnavailable`."""
    try:
        conn = engine.connect()
    except (DBAPIError, OSError) as exc:
        raise unavailable(engine.url, exc) from None
    with conn:
        yield conn


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    path = sqlite_path(url)
    if path is None:
        engine = sa.create_engine(
            url, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            _private_file(Path(path))
        except OSError as exc:
            raise unavailable(url, exc) from None
        engine = sa.create_engine(url)
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    event.listen(engine, "before_cursor_execute", pad_in_lists, retval=True)
    return engine


def _private_file(path: Path) -> None:
    """Create the database file ``0600`` before SQLite does (it would honour the umask).

    SQLite gives its ``-wal`` and ``-shm`` files the database file's mode. An existing
    file is left as the operator made it.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def _on_sqlite_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    del record
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see _on_sqlite_begin)
    cursor = dbapi_connection.cursor()
    try:
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _on_sqlite_begin(conn: sa.Connection) -> None:
    immediate = conn.get_execution_options().get(BEGIN_IMMEDIATE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
