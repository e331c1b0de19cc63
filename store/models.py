"""The b2sync tables (SQLModel). Table modules are split by concern; import from here."""

from __future__ import annotations

from store._enums import ConflictStatus, DeadLetterStatus, ErasureStatus, RunStatus, Side
from store._privacy_tables import AuditEvent, ErasureRequest, SubjectKey, Tombstone
from store._sync_tables import (
    Conflict,
    Cursor,
    DeadLetter,
    Link,
    Lock,
    PendingLink,
    Run,
    Setting,
)
from store._types import NAMING_CONVENTION, StrEnumType, UTCDateTime, metadata, utc_now

__all__ = [
    "NAMING_CONVENTION",
    "AuditEvent",
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
    "Run",
    "RunStatus",
    "Setting",
    "Side",
    "StrEnumType",
    "SubjectKey",
    "Tombstone",
    "UTCDateTime",
    "metadata",
    "utc_now",
]
