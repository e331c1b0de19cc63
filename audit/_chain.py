"""The canonical form of a stored event and its keyed chain hash (shared by write and verify).

Events are chained by HMAC-SHA256 under the audit chain key (derived from the master key,
never stored in the database), so rewriting the chain needs the key. Events written before
the chain was keyed carry a plain SHA-256 (``key=None``); see :mod:`audit._marks`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from store import TENANT_COLUMN, AuditSubjectAlias, connection_tenant
from store import AuditEvent as EventRow

GENESIS = "0" * 64
#: every stored column the hash covers (all but the surrogate id and the hash itself)
HASHED_COLUMNS: tuple[str, ...] = (
    "tenant_id",
    "seq",
    "occurred_at",
    "actor",
    "source_system",
    "target_system",
    "stream",
    "record_key_hash",
    "subject_hash",
    "action",
    "changed_fields",
    "outcome",
    "run_id",
    "batch_id",
    "details",
    "payload_ciphertext",
    "key_id",
    "prev_hash",
)
events_table: sa.Table = EventRow.__table__  # type: ignore[attr-defined]
#: alias hash (keyed hash of a normalised email) -> subject hash (of the customer id)
aliases_table: sa.Table = AuditSubjectAlias.__table__  # type: ignore[attr-defined]


_AT = HASHED_COLUMNS.index("occurred_at")
_CIPHERTEXT = HASHED_COLUMNS.index("payload_ciphertext")


def _canonical_time(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return value


def event_hash(row: Mapping[str, Any], key: bytes | None) -> str:
    """HMAC-SHA256 under ``key`` (legacy: plain SHA-256 when None), hex, of ``row``'s canonical form.

    The canonical form is a JSON array of the :data:`HASHED_COLUMNS` values in that order
    (time as UTC ISO-8601 with microseconds, ciphertext as base64, objects with sorted keys).
    """
    values = [row[name] for name in HASHED_COLUMNS]
    values[_AT] = _canonical_time(values[_AT])
    ciphertext = values[_CIPHERTEXT]
    if ciphertext is not None:
        values[_CIPHERTEXT] = base64.b64encode(bytes(ciphertext)).decode("ascii")
    text = json.dumps(
        values, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    if key is None:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
    return hmac.digest(key, text.encode("utf-8"), "sha256").hex()


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


_SEQ = HASHED_COLUMNS.index("seq")
_PREV = HASHED_COLUMNS.index("prev_hash")
assert (1, len(HASHED_COLUMNS) - 1) == (_SEQ, _PREV)


def canonical_body(row: Mapping[str, Any]) -> tuple[str, str]:
    """The canonical form of ``row`` without its ``seq`` and ``prev_hash``, as two texts, so
    the costly encoding happens before the chain is locked (see :func:`chained_hash`)."""
    values = [row.get(name) for name in HASHED_COLUMNS]
    values[_AT] = _canonical_time(values[_AT])
    ciphertext = values[_CIPHERTEXT]
    if ciphertext is not None:
        values[_CIPHERTEXT] = base64.b64encode(bytes(ciphertext)).decode("ascii")
    middle = ",".join(_canonical_json(v) for v in values[_SEQ + 1 : _PREV])
    return _canonical_json(values[0]), middle


def chained_hash(body: tuple[str, str], seq: int, prev: str, key: bytes) -> str:
    """:func:`event_hash` (keyed) of a row whose :func:`canonical_body` is ``body``."""
    text = f"[{body[0]},{_canonical_json(seq)},{body[1]},{_canonical_json(prev)}]"
    return hmac.digest(key, text.encode("utf-8"), "sha256").hex()


def chain_head(conn: sa.Connection, tenant_id: str) -> tuple[int, str]:
    """``(seq, hash)`` of the tenant's newest event, or ``(0, GENESIS)``."""
    row = conn.execute(
        sa.select(events_table.c.seq, events_table.c.hash)
        .where(events_table.c.tenant_id == tenant_id)
        .order_by(events_table.c.seq.desc())
        .limit(1)
    ).first()
    return (0, GENESIS) if row is None else (int(row.seq), str(row.hash))


def lock_chain(conn: sa.Connection, tenant_id: str) -> None:
    """Serialise appends to one tenant chain until the transaction ends.

    PostgreSQL: a transaction-scoped advisory lock per chain (the store's tenant, whose rows
    alone the connection sees, and the chain's ``tenant_id``: tenants sharing a database
    never wait on each other's chains). SQLite: the caller's
    transaction must be ``BEGIN IMMEDIATE`` (the whole database is then locked); the
    ``(tenant_id, seq)`` unique constraint is the last guard against a fork either way.
    """
    if conn.dialect.name == "postgresql":
        chain = f"b2sync-audit:{connection_tenant(conn)}:{tenant_id}"
        digest = hashlib.sha256(chain.encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


def bulk_insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """``executemany`` of ``rows`` (all with the same keys) on the caller's transaction.

    Applies each column type's own bind processor (so values are stored exactly as an ORM
    insert would store them) but skips SQLAlchemy's per-row parameter compilation, which
    dominated the cost of appending wide audit rows.
    """
    if not rows:
        return
    dialect = conn.dialect
    # the store's column default (the connection's tenant), which a raw executemany skips
    defaults = {TENANT_COLUMN: connection_tenant(conn)}
    full = [row if TENANT_COLUMN in row else {**defaults, **row} for row in rows]
    names = list(full[0])
    compiled = table.insert().compile(dialect=dialect, column_keys=names)
    order = list(compiled.positiontup) if compiled.positional and compiled.positiontup else names
    processors = [
        (name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in order
    ]
    params: list[Any]
    if compiled.positional:
        params = [tuple(row[n] if p is None else p(row[n]) for n, p in processors) for row in full]
    else:
        params = [{n: row[n] if p is None else p(row[n]) for n, p in processors} for row in full]
    conn.exec_driver_sql(str(compiled), params)
