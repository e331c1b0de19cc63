"""The state store: SQLModel tables, Alembic migrations and sessions (the ground floor).

SQLite (WAL) by default, PostgreSQL by URL. Imports none of our other packages::

    engine = make_engine("sqlite:///var/b2sync/state.db")
    upgrade(engine)
    with session_scope(engine) as session:
        session.add(Run(id=str(uuid4()), pipeline="customers-to-hubspot", trigger="manual"))
"""

from __future__ import annotations

from store._engine import (
    SQLITE_PRAGMAS,
    begin_write,
    check_connection,
    insert_on_conflict,
    make_engine,
    session_scope,
    write_lock,
)
from store._in_lists import pad_in_lists, padded_size
from store._journal import JOURNAL_SUFFIX, intake_journal, journal_path
from store._migrate import alembic_config, current_revision, downgrade, head_revision, upgrade
from store._tenancy import (
    DEFAULT_TENANT,
    TENANT_COLUMN,
    TENANT_ENV,
    TENANT_RECORD,
    TENANT_SETTING,
    check_rls_role,
    connection_tenant,
)
from store._urls import unavailable
from store._write_lock import ReentrantHold, urgent_writes
from store.errors import StoreConfigError, StoreError, StoreTenantError, StoreUnavailable
from store.models import (
    AuditEvent,
    AuditSubjectAlias,
    Conflict,
    ConflictStatus,
    Cursor,
    DeadLetter,
    DeadLetterStatus,
    ErasureRequest,
    ErasureStatus,
    Link,
    Lock,
    PendingLink,
    Run,
    RunStatus,
    Setting,
    Side,
    SubjectKey,
    Tombstone,
    metadata,
    utc_now,
)

__all__ = [
    "DEFAULT_TENANT",
    "JOURNAL_SUFFIX",
    "SQLITE_PRAGMAS",
    "TENANT_COLUMN",
    "TENANT_ENV",
    "TENANT_RECORD",
    "TENANT_SETTING",
    "AuditEvent",
    "AuditSubjectAlias",
    "Conflict",
    "ConflictStatus",
    "Cursor",
    "DeadLetter",
    "DeadLetterStatus",
    "ErasureRequest",
    "ErasureStatus",
    "Link",
    "Lock",
    "PendingLink",
    "ReentrantHold",
    "Run",
    "RunStatus",
    "Setting",
    "Side",
    "StoreConfigError",
    "StoreError",
    "StoreTenantError",
    "StoreUnavailable",
    "SubjectKey",
    "Tombstone",
    "alembic_config",
    "begin_write",
    "check_connection",
    "check_rls_role",
    "connection_tenant",
    "current_revision",
    "downgrade",
    "head_revision",
    "insert_on_conflict",
    "intake_journal",
    "journal_path",
    "make_engine",
    "metadata",
    "pad_in_lists",
    "padded_size",
    "session_scope",
    "unavailable",
    "upgrade",
    "urgent_writes",
    "utc_now",
    "write_lock",
]
