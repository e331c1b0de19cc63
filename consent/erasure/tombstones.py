"""Tombstones: keyed hashes of an erased person's identifiers that block their resurrection.

A tombstone is ``hasher.value("tombstone.<kind>", value)`` of a normalised identifier
(email, B2Connect customer id, CRM ids) with the erasure time; never the clear value. The
record hook built here (:func:`tombstone_factory`, the first hook of every run: see
:mod:`consent.feature`) drops, before planning, every record of an erased person: one carrying an old id, or one with
the same email whose data last changed at or before the erasure. A new registration (new id,
changed after the erasure) passes. Each blocked attempt is written to ``tombstone_hits`` and,
with audit on, as a ``blocked.tombstone`` event in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog

from audit import AuditEvent, KeyRing, record_events
from audit.events import BLOCKED_TOMBSTONE
from audit.keystore import load_keyring
from connectors.records import Record
from consent.erasure.model import SubjectIds, is_email, normalise_email
from mapping.config import Config, Pipeline
from mapping.transforms import get_path, is_blank
from store import begin_write
from store.models import Tombstone, TombstoneHit
from sync.hashing import FieldHasher
from sync.hooks import HookContext, RecordHook

__all__ = [
    "Blocked",
    "TombstoneMatch",
    "blocked_records",
    "hits",
    "identifiers_of",
    "record_blocked",
    "tombstone_factory",
    "tombstone_hash",
    "write_tombstones",
]

log = structlog.get_logger(__name__)

_tombs: sa.Table = Tombstone.__table__  # type: ignore[attr-defined]
_hits: sa.Table = TombstoneHit.__table__  # type: ignore[attr-defined]
#: B2Connect streams about a person: (field of the person's id, field of their email)
_PERSON_FIELDS = {
    "customers": (None, "email"),
    "orders": ("customerId", "customerEmail"),
    "consents": ("subjectId", "email"),
}


def tombstone_hash(hasher: FieldHasher, kind: str, value: str) -> str:
    """The keyed hash of one normalised identifier."""
    text = normalise_email(value) if kind == "email" else value.strip()
    return hasher.value(f"tombstone.{kind}", text)


def write_tombstones(
    conn: sa.Connection,
    hasher: FieldHasher,
    ids: SubjectIds,
    *,
    request_id: int | None,
    erased_at: datetime,
) -> int:
    """Tombstone every identifier of ``ids`` (a later erasure moves the time forward)."""
    written = 0
    for kind, value in ids.kinds():
        digest = tombstone_hash(hasher, kind, value)
        row = conn.execute(sa.select(_tombs.c.id).where(_tombs.c.subject_hash == digest)).first()
        values = {"kind": kind, "erasure_request_id": request_id, "created_at": erased_at}
        if row is None:
            conn.execute(_tombs.insert().values(subject_hash=digest, **values))
        else:
            conn.execute(_tombs.update().where(_tombs.c.id == row.id).values(**values))
        written += 1
    return written


@dataclass(frozen=True)
class TombstoneMatch:
    """A tombstone row."""

    id: int
    kind: str
    erased_at: datetime
    request_id: int | None


@dataclass(frozen=True)
class Blocked:
    """A record the tombstones stopped, and why."""

    record: Record
    reason: str
    tombstone: TombstoneMatch
    customer_id: str | None


def identifiers_of(pipeline: Pipeline, record: Record) -> tuple[list[tuple[str, str]], str | None]:
    """(kind, value) id pairs and the email of the person a record is about, if any.

    Records are B2Connect-shaped whatever their origin (the pull engine hands the hooks CRM
    changes keyed by the B2Connect id, fields at their B2Connect paths).
    """
    stream = pipeline.b2connect.stream
    if stream not in _PERSON_FIELDS:
        return [], None
    id_field, email_field = _PERSON_FIELDS[stream]
    fields = record.fields
    person = record.key if id_field is None else _text(get_path(fields, id_field))
    ids = [("customer_id", person)] if person else []
    return ids, _text(get_path(fields, email_field))


def _text(value: Any) -> str | None:
    return None if is_blank(value) else str(value).strip()


def _changed_at(record: Record) -> datetime | None:
    if record.updated_at is not None:
        return record.updated_at
    raw = record.fields.get("updatedAt")
    if isinstance(raw, datetime):
        return raw
    if isinstance(raw, str):
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def blocked_records(
    conn: sa.Connection,
    hasher: FieldHasher,
    pipeline: Pipeline,
    records: Sequence[Record],
) -> tuple[list[Record], list[Blocked]]:
    """Split ``records`` into those that may go on and those an erasure blocks."""
    wanted: set[str] = set()
    per_record: list[tuple[Record, list[str], str | None]] = []
    for record in records:
        ids, email = identifiers_of(pipeline, record)
        digests = [tombstone_hash(hasher, kind, value) for kind, value in ids]
        email_digest = tombstone_hash(hasher, "email", email) if email and is_email(email) else None
        wanted.update(digests)
        if email_digest:
            wanted.add(email_digest)
        per_record.append((record, digests, email_digest))
    found = _lookup(conn, sorted(wanted))
    keep: list[Record] = []
    blocked: list[Blocked] = []
    for record, digests, email_digest in per_record:
        hit = _verdict(record, digests, email_digest, found)
        if hit is None:
            keep.append(record)
        else:
            reason, tomb = hit
            person = _person(pipeline, record)
            blocked.append(Blocked(record, reason, tomb, person))
    return keep, blocked


def _person(pipeline: Pipeline, record: Record) -> str | None:
    ids, _ = identifiers_of(pipeline, record)
    return ids[0][1] if ids else None


def _lookup(conn: sa.Connection, digests: Iterable[str]) -> dict[str, TombstoneMatch]:
    wanted = list(digests)
    out: dict[str, TombstoneMatch] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = conn.execute(
            sa.select(
                _tombs.c.id,
                _tombs.c.subject_hash,
                _tombs.c.kind,
                _tombs.c.created_at,
                _tombs.c.erasure_request_id,
            ).where(_tombs.c.subject_hash.in_(chunk))
        )
        for row in rows:
            out[row.subject_hash] = TombstoneMatch(
                row.id, row.kind, row.created_at, row.erasure_request_id
            )
    return out


def _verdict(
    record: Record,
    digests: list[str],
    email_digest: str | None,
    found: dict[str, TombstoneMatch],
) -> tuple[str, TombstoneMatch] | None:
    for digest in digests:
        if digest in found:
            return "erased_id", found[digest]
    if email_digest and email_digest in found:
        tomb = found[email_digest]
        changed = _changed_at(record)
        if changed is None or changed <= tomb.erased_at:
            return "stale_email", tomb
    return None


def record_blocked(
    db: sa.Engine,
    blocked: Sequence[Blocked],
    *,
    pipeline: str,
    tenant_id: str,
    origin: str,
    hasher: FieldHasher,
    run_id: str | None,
    now: datetime,
    keys: KeyRing | None,
    target_system: str = "crm",
) -> None:
    """One ``tombstone_hits`` row (and audit event) per blocked attempt, in one transaction."""
    if not blocked:
        return
    rows = [
        {
            "tombstone_id": b.tombstone.id,
            "erasure_request_id": b.tombstone.request_id,
            "tenant_id": tenant_id,
            "pipeline": pipeline,
            "origin": origin,
            "stream": b.record.stream,
            "record_key_hash": hasher.value(
                "tombstone.record", f"{b.record.stream}:{b.record.key}"
            ),
            "reason": b.reason,
            "run_id": run_id,
            "blocked_at": now,
        }
        for b in blocked
    ]
    with begin_write(db) as conn:
        conn.execute(_hits.insert(), rows)
        if keys is not None:
            events = [
                _event(b, pipeline, tenant_id, origin, run_id, target_system) for b in blocked
            ]
            record_events(conn, events, keys=keys, now=now)
    log.info("tombstone.blocked", pipeline=pipeline, origin=origin, records=len(blocked))


def _event(
    b: Blocked, pipeline: str, tenant_id: str, origin: str, run_id: str | None, target: str
) -> AuditEvent:
    return AuditEvent(
        actor=f"pipeline:{pipeline}",
        tenant_id=tenant_id,
        action=BLOCKED_TOMBSTONE,
        outcome="blocked",
        source_system="b2connect" if origin == "b2connect" else "crm",
        target_system=target if origin == "b2connect" else "b2connect",
        stream=b.record.stream,
        record_key=b.record.key,
        subject=b.customer_id if b.reason == "erased_id" else None,
        run_id=run_id,
        details={"reason": b.reason, "erasure_request": b.tombstone.request_id, "origin": origin},
    )


def hits(conn: sa.Connection, *, since: datetime | None = None) -> list[dict[str, Any]]:
    """Blocked attempts, newest first."""
    query = sa.select(_hits).order_by(_hits.c.blocked_at.desc(), _hits.c.id.desc())
    if since is not None:
        query = query.where(_hits.c.blocked_at >= since)
    result = conn.execute(query)
    return [dict(zip(result.keys(), row, strict=True)) for row in result]


def tombstone_factory(config: Config, pipeline: Pipeline) -> RecordHook | None:
    """The tombstone hook of a pipeline about people (customers, orders, consents)."""
    if pipeline.b2connect.stream not in _PERSON_FIELDS:
        return None
    ring: list[KeyRing] = []  # the store's key ring, loaded (and checked) on first block
    conn_cfg = config.connections.get(pipeline.crm.connection)
    crm_type = conn_cfg.type if conn_cfg is not None else None

    def hook(context: HookContext, records: list[Record]) -> list[Record]:
        origin = context.origin
        live = [r for r in records if not r.deleted]  # deletions bring nobody back
        with context.db.connect() as conn:
            if conn.execute(sa.select(_tombs.c.id).limit(1)).first() is None:
                return records  # nobody was ever erased: nothing to hash or look up
            _, blocked = blocked_records(conn, context.hasher, context.pipeline, live)
        if not blocked:
            return records
        if not context.dry_run:
            keys = _keyring(context.db, ring) if config.audit.enabled else None
            record_blocked(
                context.db,
                blocked,
                pipeline=context.pipeline.name,
                tenant_id=context.tenant_id,
                origin=origin,
                hasher=context.hasher,
                run_id=context.run_id,
                now=context.now,
                keys=keys,
                target_system=crm_type or "crm",
            )
        stopped = {id(b.record) for b in blocked}
        return [r for r in records if id(r) not in stopped]

    return hook


def _keyring(db: sa.Engine, ring: list[KeyRing]) -> KeyRing:
    if not ring:
        with begin_write(db) as conn:  # the first load creates the key root
            ring.append(load_keyring(conn))
    return ring[0]
