"""Alembic, configured from Python: no alembic.ini; the scripts ship inside the package."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from store._engine import BEGIN_IMMEDIATE, connect, make_engine
from store.errors import StoreError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: Key of ``pg_advisory_xact_lock`` serialising concurrent upgrades (replicas starting at once).
_UPGRADE_LOCK_KEY = 0x62327379_6E63  # "b2sync"


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic config for our migrations; ``connection`` is used by ``env.py`` if given.

    For a new migration: ``alembic.command.revision(alembic_config(conn), message=...,
    autogenerate=True)`` against a database at head, then review the file by hand.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    """The newest migration this code ships (read once per process: the scripts ship with
    the code)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "store/migrations/versions holds no migration"
    return head


def upgrade(engine_or_url: sa.Engine | str, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` in one transaction; a no-op when already there.

    Concurrent upgrades are serialised (PostgreSQL advisory lock; SQLite write lock). A store
    already at the head is left without running Alembic (which reads every migration script
    each time): a worker checks each tenant's store once per tenant it serves.

    Raises:
        StoreUnavailable: the database cannot be reached.
    """
    engine, owned = _engine(engine_or_url)
    try:
        with (
            connect(engine.execution_options(**{BEGIN_IMMEDIATE: True})) as conn,
            _sqlite_foreign_keys_off(conn),
            conn.begin(),
        ):
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_UPGRADE_LOCK_KEY)))
            if revision == "head" and _at(conn) == head_revision():
                return
            command.upgrade(alembic_config(conn), revision)
            _check_foreign_keys(conn)
    finally:
        if owned:
            engine.dispose()


def downgrade(engine_or_url: sa.Engine | str, revision: str) -> None:
    """Revert migrations down to ``revision`` (``"base"`` drops every table)."""
    engine, owned = _engine(engine_or_url)
    try:
        with connect(engine) as conn, _sqlite_foreign_keys_off(conn), conn.begin():
            command.downgrade(alembic_config(conn), revision)
            _check_foreign_keys(conn)
    finally:
        if owned:
            engine.dispose()


def current_revision(engine: sa.Engine) -> str | None:
    """The revision the database is at, or None before the first upgrade.

    Raises:
        StoreUnavailable: the database cannot be reached.
    """
    with connect(engine) as conn:
        return _at(conn)


def _at(conn: sa.Connection) -> str | None:
    """The revision the store is at (None before the first upgrade)."""
    return MigrationContext.configure(conn).get_current_revision()


def _engine(engine_or_url: sa.Engine | str) -> tuple[sa.Engine, bool]:
    if isinstance(engine_or_url, sa.Engine):
        return engine_or_url, False
    return make_engine(engine_or_url), True


@contextmanager
def _sqlite_foreign_keys_off(conn: sa.Connection) -> Iterator[None]:
    """SQLite batch migrations recreate tables: with foreign keys on, dropping a referenced
    table would cascade. The pragma only changes outside a transaction, hence the raw driver."""
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def _check_foreign_keys(conn: sa.Connection) -> None:
    """Refuse to commit a SQLite migration that left dangling references."""
    if conn.dialect.name != "sqlite":
        return
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        tables = sorted({str(row[0]) for row in broken})
        msg = f"migration left rows with broken foreign keys in {', '.join(tables)}; rolled back"
        raise StoreError(msg)
