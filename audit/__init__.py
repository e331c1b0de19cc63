"""The audit trail: append-only, hash-chained, crypto-shredded, queryable.

The engine calls :func:`record_events` on its open connection inside the transaction that
commits the sync state (or :func:`prepare_events` before it and :func:`record_prepared` in it,
so the encryption is not done under the write lock); compliance reads it through :func:`search`, ``b2sync audit`` and the
read-only web page (:mod:`audit.web`).
"""

from __future__ import annotations

from audit._auth import TOKEN_ENV, TOKEN_FILE_ENV, TokenError, load_token
from audit._chain import GENESIS, HASHED_COLUMNS, chain_head, event_hash, events_table
from audit._settings import anchor_path, state_url
from audit.errors import (
    AuditConfigError,
    AuditError,
    KeyChangedError,
    LegalHoldError,
    MasterKeyError,
)
from audit.events import (
    ACTIONS,
    AuditEvent,
    PreparedEvents,
    config_loaded_event,
    prepare_events,
    record_events,
    record_prepared,
)
from audit.keys import KeyRing, load_master_key, normalise_subject, set_legal_hold, shred
from audit.query import (
    ERASED,
    EventView,
    Filters,
    count,
    purge_older_than,
    search,
    to_csv,
    to_json,
)
from audit.verify import Problem, VerifyReport, anchor, verify

__all__ = [
    "ACTIONS",
    "ERASED",
    "GENESIS",
    "HASHED_COLUMNS",
    "TOKEN_ENV",
    "TOKEN_FILE_ENV",
    "AuditConfigError",
    "AuditError",
    "AuditEvent",
    "EventView",
    "Filters",
    "KeyChangedError",
    "KeyRing",
    "LegalHoldError",
    "MasterKeyError",
    "PreparedEvents",
    "Problem",
    "TokenError",
    "VerifyReport",
    "anchor",
    "anchor_path",
    "chain_head",
    "config_loaded_event",
    "count",
    "event_hash",
    "events_table",
    "load_master_key",
    "load_token",
    "normalise_subject",
    "prepare_events",
    "purge_older_than",
    "record_events",
    "record_prepared",
    "search",
    "set_legal_hold",
    "shred",
    "state_url",
    "to_csv",
    "to_json",
    "verify",
]
