"""The intake journal: durable writes that never queue behind the store's write transactions.

SQLite lets one write transaction at a time into a database file. The webhook endpoints must
record a delivery (its replay receipts) durably before they answer 2xx, and a backfill's batch
commits, a consent run's or another process's transactions hold that one write lock over and
over: every delivery would wait its turn, and B2Connect delivers its webhooks one at a time.
A SQLite store therefore keeps the intake's tables in a journal file of its own beside the
store (``state.db`` → ``state.intake.db``: its own write lock, its own WAL, the same table
definitions, the same tenant). PostgreSQL locks rows, not the database, and an in-memory
SQLite store has no file: both keep the tables in the store itself.

The journal holds short-lived rows only (replay receipts expire within a day); its tables are
created from the store's own definitions when missing. A migration that changes one of them
must also drop the journal file's copy (it is recreated, losing at most a day of receipts).
"""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa

from store._engine import begin_write, make_engine
from store._tenancy import connection_tenant
from store._urls import sqlite_path

__all__ = ["JOURNAL_SUFFIX", "intake_journal", "journal_path"]

#: inserted before the store file's extension: ``state.db`` → ``state.intake.db``
JOURNAL_SUFFIX = ".intake"
_JOURNALS: dict[tuple[str, str], sa.Engine] = {}
_GUARD = threading.Lock()


def journal_path(store: Path) -> Path:
    """The journal file beside a SQLite store file."""
    return store.with_name(store.stem + JOURNAL_SUFFIX + store.suffix)


def intake_journal(engine: sa.Engine, tables: list[sa.Table]) -> sa.Engine:
    """The engine the intake writes ``tables`` through: for a SQLite store file, its journal
    file (tables created when missing; one engine per file and tenant in this process); else
    ``engine`` itself."""
    path = sqlite_path(engine.url) if engine.dialect.name == "sqlite" else None
    if path is None:
        return engine
    with engine.connect() as conn:
        tenant = connection_tenant(conn)
    journal = journal_path(Path(path).resolve())
    with _GUARD:
        known = _JOURNALS.get((str(journal), tenant))
        if known is not None:
            return known
        created = make_engine(f"sqlite:///{journal}", tenant=tenant)
        with begin_write(created) as conn:  # another process may be creating them too
            for table in tables:
                table.create(conn, checkfirst=True)
        _JOURNALS[(str(journal), tenant)] = created
        return created
