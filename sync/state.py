"""The engine's reads and writes of the state store, in bulk (SQLAlchemy Core).

Every function takes an open :class:`sqlalchemy.Connection` inside the caller's transaction:
the engine commits links, cursors, dead letters, conflicts and run counters together.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from store import insert_on_conflict
from store.models import (
    ConflictStatus,
    DeadLetterStatus,
    RunStatus,
    Side,
    metadata,
)
from sync.safe_errors import safe_dead_letter_message, safe_error

__all__ = [
    "DeadLetterRow",
    "LinkRow",
    "add_conflicts",
    "add_dead_letters",
    "add_pending",
    "add_run_counts",
    "crm_ids_taken",
    "delete_links",
    "finish_run",
    "get_cursor",
    "get_setting",
    "link_ids",
    "load_links",
    "pending_for",
    "remove_pending",
    "resolve_dead_letters",
    "set_cursor",
    "set_setting",
    "start_run",
    "upsert_links",
]

_links = metadata.tables["links"]
_cursors = metadata.tables["cursors"]
_dead = metadata.tables["dead_letters"]
_conflicts = metadata.tables["conflicts"]
_runs = metadata.tables["runs"]
_pending = metadata.tables["pending_links"]
_settings = metadata.tables["settings"]

BACKOFF_BASE = timedelta(minutes=15)
BACKOFF_MAX = timedelta(days=1)
#: attempts of a retriable dead letter that are due at once (the next run replays them)
IMMEDIATE_RETRIES = 3
_CHUNK = 500  # keys per IN (...) query: well under SQLite's variable limit


@dataclass(frozen=True)
class LinkRow:
    """What the engine knows of one linked record."""

    key: str
    crm_id: str | None
    field_hashes: dict[str, str]


@dataclass(frozen=True)
class DeadLetterRow:
    """One rejected record to park."""

    stream: str
    key: str
    payload: dict[str, Any]
    code: str
    message: str
    field: str | None
    next_attempt_at: datetime | None


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


_upsert = insert_on_conflict


# --------------------------------------------------------------------------- links


def load_links(conn: sa.Connection, pipeline: str, keys: Sequence[str]) -> dict[str, LinkRow]:
    """Links of ``keys`` in ``pipeline``."""
    out: dict[str, LinkRow] = {}
    for chunk in _chunks(sorted(set(keys))):
        rows = conn.execute(
            sa.select(_links.c.b2connect_key, _links.c.crm_id, _links.c.field_hashes).where(
                _links.c.pipeline == pipeline, _links.c.b2connect_key.in_(chunk)
            )
        )
        for key, crm_id, hashes in rows:
            out[key] = LinkRow(key, crm_id, dict(hashes or {}))
    return out


def link_ids(conn: sa.Connection, pipeline: str, keys: Sequence[str]) -> dict[str, str]:
    """CRM ids of linked ``keys`` (those with an id); the field hashes stay unread."""
    out: dict[str, str] = {}
    for chunk in _chunks(sorted(set(keys))):
        rows = conn.execute(
            sa.select(_links.c.b2connect_key, _links.c.crm_id).where(
                _links.c.pipeline == pipeline,
                _links.c.b2connect_key.in_(chunk),
                _links.c.crm_id.is_not(None),
            )
        )
        out.update({key: crm_id for key, crm_id in rows if crm_id})
    return out


def crm_ids_taken(conn: sa.Connection, pipeline: str, crm_ids: Sequence[str]) -> dict[str, str]:
    """Which of ``crm_ids`` are already linked, to which B2Connect key."""
    out: dict[str, str] = {}
    for chunk in _chunks(sorted(set(crm_ids))):
        rows = conn.execute(
            sa.select(_links.c.crm_id, _links.c.b2connect_key).where(
                _links.c.pipeline == pipeline, _links.c.crm_id.in_(chunk)
            )
        )
        out.update({row[0]: row[1] for row in rows})
    return out


def upsert_links(
    conn: sa.Connection,
    *,
    pipeline: str,
    tenant_id: str,
    crm_object: str,
    rows: Sequence[tuple[str, str | None, dict[str, str], str]],
    now: datetime,
) -> None:
    """Insert or update links: (key, crm_id, field_hashes, record_hash) per row."""
    if not rows:
        return
    values = [
        {
            "pipeline": pipeline,
            "tenant_id": tenant_id,
            "b2connect_key": key,
            "crm_object": crm_object,
            "crm_id": crm_id,
            "field_hashes": hashes,
            "record_hash": record_hash,
            "last_synced_at": now,
            "created_at": now,
        }
        for key, crm_id, hashes, record_hash in rows
    ]
    stmt = _upsert(conn, _links)
    stmt = stmt.on_conflict_do_update(
        index_elements=[_links.c.b2sync_tenant, _links.c.pipeline, _links.c.b2connect_key],
        set_={
            "crm_id": sa.func.coalesce(stmt.excluded.crm_id, _links.c.crm_id),
            "field_hashes": stmt.excluded.field_hashes,
            "record_hash": stmt.excluded.record_hash,
            "last_synced_at": stmt.excluded.last_synced_at,
        },
    )
    conn.execute(stmt, values)


def delete_links(conn: sa.Connection, pipeline: str, keys: Sequence[str]) -> None:
    """Forget links of ``keys``."""
    for chunk in _chunks(list(keys)):
        conn.execute(
            sa.delete(_links).where(
                _links.c.pipeline == pipeline, _links.c.b2connect_key.in_(chunk)
            )
        )


# --------------------------------------------------------------------------- cursors


def get_cursor(
    conn: sa.Connection, pipeline: str, stream: str, side: Side
) -> dict[str, Any] | None:
    """The stored cursor, or None before the first run."""
    value = conn.execute(
        sa.select(_cursors.c.value).where(
            _cursors.c.pipeline == pipeline, _cursors.c.stream == stream, _cursors.c.side == side
        )
    ).scalar_one_or_none()
    return dict(value) if isinstance(value, Mapping) else None


def set_cursor(
    conn: sa.Connection,
    pipeline: str,
    stream: str,
    side: Side,
    value: Mapping[str, Any] | None,
    now: datetime,
) -> None:
    """Store (or clear) the cursor."""
    if value is None:
        conn.execute(
            sa.delete(_cursors).where(
                _cursors.c.pipeline == pipeline,
                _cursors.c.stream == stream,
                _cursors.c.side == side,
            )
        )
        return
    stmt = _upsert(conn, _cursors)
    stmt = stmt.on_conflict_do_update(
        index_elements=[
            _cursors.c.b2sync_tenant,
            _cursors.c.pipeline,
            _cursors.c.stream,
            _cursors.c.side,
        ],
        set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
    )
    conn.execute(
        stmt,
        [
            {
                "pipeline": pipeline,
                "stream": stream,
                "side": side,
                "value": dict(value),
                "updated_at": now,
            }
        ],
    )


# --------------------------------------------------------------------------- failures


def add_dead_letters(
    conn: sa.Connection, pipeline: str, run_id: str, rows: Sequence[DeadLetterRow], now: datetime
) -> None:
    """Park rejected records: one pending dead letter per record, a newer one replaces it and
    counts the attempt; retriable ones are due at once for their first
    ``IMMEDIATE_RETRIES`` attempts (the next run replays them), then back off exponentially
    (15 min × 2^n, at most a day)."""
    if not rows:
        return
    previous: dict[str, int] = {}
    first: dict[str, datetime] = {}  # a record parked again keeps its first parking time
    for chunk in _chunks([row.key for row in rows]):
        where = (
            _dead.c.pipeline == pipeline,
            _dead.c.record_key.in_(chunk),
            _dead.c.status == DeadLetterStatus.PENDING,
        )
        for key, attempts, created in conn.execute(
            sa.select(_dead.c.record_key, _dead.c.attempts, _dead.c.created_at).where(*where)
        ):
            previous[key] = max(previous.get(key, 0), int(attempts))
            first[key] = min(first.get(key, created), created)
        conn.execute(
            sa.update(_dead).where(*where).values(status=DeadLetterStatus.ABANDONED, updated_at=now)
        )
    values = []
    for row in rows:
        attempts = previous.get(row.key, 0) + 1
        next_at = row.next_attempt_at
        if next_at is not None:
            late = attempts - IMMEDIATE_RETRIES
            next_at = now if late <= 0 else now + min(BACKOFF_BASE * 2 ** (late - 1), BACKOFF_MAX)
        values.append(
            {
                "pipeline": pipeline,
                "run_id": run_id,
                "stream": row.stream,
                "record_key": row.key,
                "payload": row.payload,
                "error_code": row.code,
                "error_message": safe_dead_letter_message(row.message, row.payload.get("source")),
                "error_field": row.field,
                "attempts": attempts,
                "next_attempt_at": next_at,
                "status": DeadLetterStatus.PENDING,
                "created_at": first.get(row.key, now),
                "updated_at": now,
            }
        )
    conn.execute(sa.insert(_dead), values)


def resolve_dead_letters(
    conn: sa.Connection,
    pipeline: str,
    keys: Sequence[str],
    now: datetime,
    *,
    stream: str | None = None,
) -> None:
    """Mark pending dead letters of ``keys`` (of ``stream`` only, when given) resolved."""
    for chunk in _chunks(list(keys)):
        where = [
            _dead.c.pipeline == pipeline,
            _dead.c.record_key.in_(chunk),
            _dead.c.status == DeadLetterStatus.PENDING,
        ]
        if stream is not None:
            where.append(_dead.c.stream == stream)
        conn.execute(
            sa.update(_dead).where(*where).values(status=DeadLetterStatus.RESOLVED, updated_at=now)
        )


def add_conflicts(
    conn: sa.Connection,
    pipeline: str,
    rows: Sequence[tuple[str, str, dict[str, Any]]],
    now: datetime,
) -> None:
    """Open conflicts (key, kind, details) unless the same one is already open."""
    for key, kind, details in rows:
        exists = conn.execute(
            sa.select(_conflicts.c.id).where(
                _conflicts.c.pipeline == pipeline,
                _conflicts.c.record_key == key,
                _conflicts.c.kind == kind,
                _conflicts.c.status == ConflictStatus.OPEN,
            )
        ).first()
        if exists is None:
            conn.execute(
                sa.insert(_conflicts).values(
                    pipeline=pipeline,
                    record_key=key,
                    kind=kind,
                    details=details,
                    status=ConflictStatus.OPEN,
                    created_at=now,
                )
            )


# --------------------------------------------------------------------------- deferred links


def add_pending(
    conn: sa.Connection, pipeline: str, rows: Sequence[tuple[str, str, str, str]], now: datetime
) -> None:
    """Remember deferred links: (record key, target pipeline, target key, what) per row (one
    statement for all of them; a link already deferred is kept as it is)."""
    if not rows:
        return
    stmt = _upsert(conn, _pending).on_conflict_do_nothing(
        index_elements=[
            _pending.c.b2sync_tenant,
            _pending.c.pipeline,
            _pending.c.record_key,
            _pending.c.what,
        ]
    )
    conn.execute(
        stmt,
        [
            {
                "pipeline": pipeline,
                "record_key": key,
                "target_pipeline": target_pipeline,
                "target_key": target_key,
                "what": what,
                "created_at": now,
            }
            for key, target_pipeline, target_key, what in rows
        ],
    )


def pending_for(
    conn: sa.Connection, pipeline: str, limit: int = 2_000, *, after_id: int = 0
) -> list[tuple[int, str, str, str, str]]:
    """Deferred links of ``pipeline`` after row ``after_id``, in the order they were deferred:
    (row id, record key, target pipeline, target key, what); the last id is where the next
    page starts."""
    rows = conn.execute(
        sa.select(
            _pending.c.id,
            _pending.c.record_key,
            _pending.c.target_pipeline,
            _pending.c.target_key,
            _pending.c.what,
        )
        .where(_pending.c.pipeline == pipeline, _pending.c.id > after_id)
        .order_by(_pending.c.id)
        .limit(limit)
    )
    return [(int(i), a, b, c, d) for i, a, b, c, d in rows]


def remove_pending(conn: sa.Connection, pipeline: str, done: Sequence[tuple[str, str]]) -> None:
    """Drop deferred links that were completed: (record key, what) pairs (one statement,
    executed for every pair)."""
    if not done:
        return
    conn.execute(
        sa.delete(_pending).where(
            _pending.c.pipeline == pipeline,
            _pending.c.record_key == sa.bindparam("done_key"),
            _pending.c.what == sa.bindparam("done_what"),
        ),
        [{"done_key": key, "done_what": what} for key, what in done],
    )


# --------------------------------------------------------------------------- runs and settings


def start_run(conn: sa.Connection, run_id: str, pipeline: str, trigger: str, now: datetime) -> None:
    """Record a run as running."""
    conn.execute(
        sa.insert(_runs).values(
            id=run_id,
            pipeline=pipeline,
            started_at=now,
            status=RunStatus.RUNNING,
            trigger=trigger,
            records_read=0,
            records_written=0,
            records_skipped=0,
            records_failed=0,
            api_calls=0,
        )
    )


def finish_run(
    conn: sa.Connection,
    run_id: str,
    status: RunStatus,
    counts: Mapping[str, int],
    error: str | None,
    now: datetime,
) -> None:
    """Record how a run ended and what it did (the error redacted, see :func:`safe_error`)."""
    conn.execute(
        sa.update(_runs)
        .where(_runs.c.id == run_id)
        .values(status=status, finished_at=now, error=safe_error(error), **counts)
    )


def add_run_counts(conn: sa.Connection, run_id: str, counts: Mapping[str, int]) -> None:
    """Add to a running run's counters (committed with the batch they describe)."""
    conn.execute(
        sa.update(_runs)
        .where(_runs.c.id == run_id)
        .values(
            {
                getattr(_runs.c, name): getattr(_runs.c, name) + value
                for name, value in counts.items()
            }
        )
    )


def get_setting(conn: sa.Connection, name: str) -> str | None:
    """A stored setting."""
    value = conn.execute(
        sa.select(_settings.c.value).where(_settings.c.name == name)
    ).scalar_one_or_none()
    return str(value) if value is not None else None


def set_setting(conn: sa.Connection, name: str, value: str | None) -> None:
    """Store (or clear) a setting."""
    conn.execute(sa.delete(_settings).where(_settings.c.name == name))
    if value is not None:
        conn.execute(sa.insert(_settings).values(name=name, value=value))
