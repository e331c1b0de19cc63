"""Audit events and :func:`record_events`, the bulk, chained, encrypted append.

Call it on the caller's open connection, inside the transaction that commits the sync state
the events describe, so a rollback takes the events with it::

    with begin_write(engine) as conn:
        flushed.apply(conn, now=now)
        record_events(conn, events, keys=keys)
"""

from __future__ import annotations

import json
import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from audit._chain import (
    HASHED_COLUMNS,
    aliases_table,
    bulk_insert,
    canonical_body,
    chain_head,
    chained_hash,
    event_hash,
    events_table,
    lock_chain,
)
from audit.anchors import mark_keyed
from audit.keys import NONCE_BYTES, KeyRing
from store import insert_on_conflict, utc_now

CRM_WRITE: Final = "crm.write"
CRM_DELETE: Final = "crm.delete"
B2CONNECT_WRITE: Final = "b2connect.write"
CONSENT_CHANGE: Final = "consent.change"
ERASURE_STEP: Final = "erasure.step"
CONFLICT_RESOLVED: Final = "conflict.resolved"
DEADLETTER_REPLAY: Final = "deadletter.replay"
BLOCKED_TOMBSTONE: Final = "blocked.tombstone"
CONFIG_LOADED: Final = "config.loaded"
OPERATOR_COMMAND: Final = "operator.command"
BREAKER_TRIPPED: Final = "pipeline.breaker_tripped"
ACTIONS: Final = (
    CRM_WRITE,
    CRM_DELETE,
    B2CONNECT_WRITE,
    CONSENT_CHANGE,
    ERASURE_STEP,
    CONFLICT_RESOLVED,
    DEADLETTER_REPLAY,
    BLOCKED_TOMBSTONE,
    CONFIG_LOADED,
    OPERATOR_COMMAND,
    BREAKER_TRIPPED,
)

#: ``{field: {"old": value, "new": value}}`` of the changed fields of a write
Values = dict[str, dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class AuditEvent:
    """One fact for the trail, before it is hashed and encrypted.

    ``subject`` is the person's email or customer id (None when no person is involved);
    ``values`` and ``subject`` and ``record_key`` end up encrypted with the subject's data
    key; ``details`` holds non-personal facts (config hash, pipelines, erasure request id).
    ``email`` (the person's email when the subject is a customer id) is never stored: only
    its keyed hash, as an alias of the subject, so a search by email finds the events.
    """

    actor: str
    tenant_id: str
    action: str
    outcome: str = "ok"
    source_system: str = "b2sync"
    target_system: str = "b2sync"
    stream: str = ""
    record_key: str = ""
    subject: str | None = None
    changed_fields: tuple[str, ...] | list[str] = ()
    run_id: str | None = None
    batch_id: str | None = None
    values: Values | None = None
    details: Mapping[str, Any] | None = None
    occurred_at: datetime | None = None
    email: str | None = None


def config_loaded_event(
    *,
    tenant_id: str,
    config_hash: str,
    changed: Mapping[str, Iterable[str]],
    actor: str = "daemon",
    occurred_at: datetime | None = None,
) -> AuditEvent:
    """The ``config.loaded`` event: the new config's hash and the changed pipelines/fields."""
    fields = sorted(f"{pipe}.{name}" for pipe, names in changed.items() for name in names)
    return AuditEvent(
        actor=actor,
        tenant_id=tenant_id,
        action=CONFIG_LOADED,
        stream="config",
        record_key=config_hash,
        changed_fields=fields,
        details={"config_hash": config_hash, "pipelines": sorted(changed)},
        occurred_at=occurred_at,
    )


def record_events(
    conn: sa.Connection,
    events: Iterable[AuditEvent],
    *,
    keys: KeyRing,
    now: datetime | None = None,
) -> int:
    """Append ``events`` to their tenants' chains inside the caller's transaction.

    Returns the number of events written. Each tenant chain is locked first (see
    :func:`audit._chain.lock_chain`); on SQLite begin the transaction IMMEDIATE.
    """
    return record_prepared(conn, prepare_events(conn, events, keys=keys, now=now))


@dataclass
class PreparedEvents:
    """Events encrypted and keyed ahead of the write transaction (:func:`prepare_events`);
    :func:`record_prepared` chains and inserts them."""

    keys: KeyRing
    when: datetime
    events: list[AuditEvent]
    key_ids: list[str]
    rows: list[dict[str, Any]]
    #: each row's canonical form but for ``seq`` and ``prev_hash`` (see audit._chain)
    bodies: list[tuple[str, str]]
    #: data keys made for subjects that had none (stored with the events)
    new_keys: list[dict[str, Any]]
    new_ciphers: dict[str, AESGCM]


def prepare_events(
    conn: sa.Connection,
    events: Iterable[AuditEvent],
    *,
    keys: KeyRing,
    now: datetime | None = None,
) -> PreparedEvents:
    """The costly part of an append, on any connection and before the write transaction:
    key ids, data keys (new ones made, not stored yet) and the encrypted payloads. Holding
    SQLite's write lock only for :func:`record_prepared` keeps other writers waiting less."""
    batch = list(events)
    when = now or utc_now()
    key_ids = [_key_id(keys, event) for event in batch]
    ciphers = keys.ciphers(conn, set(key_ids), create=False, now=when)
    new_rows, new_ciphers = keys.new_keys(set(key_ids) - ciphers.keys())
    ciphers.update(new_ciphers)
    rows = [
        _row(event, keys, key_id, ciphers[key_id], when)
        for event, key_id in zip(batch, key_ids, strict=True)
    ]
    bodies = [canonical_body(row) for row in rows]
    return PreparedEvents(keys, when, batch, key_ids, rows, bodies, new_rows, new_ciphers)


def record_prepared(conn: sa.Connection, prepared: PreparedEvents) -> int:
    """Chain and insert prepared events inside the caller's (write) transaction.

    Keys are checked again under the lock: a subject key another writer created meanwhile is
    used instead of the one made ahead (those payloads are encrypted again), and a subject
    shredded meanwhile gets no payload, exactly as if everything had been done here.
    """
    if not prepared.rows:
        return 0
    keys, rows, bodies = prepared.keys, prepared.rows, list(prepared.bodies)
    now_stored = keys.stored(conn, set(prepared.key_ids))
    fresh = [r for r in prepared.new_keys if r["subject_hash"] not in now_stored]
    raced = {k for k in prepared.new_ciphers if k in now_stored}
    late = keys.ciphers(conn, raced, create=False, now=prepared.when) if raced else {}
    for index, key_id in enumerate(prepared.key_ids):
        if now_stored.get(key_id) is False and rows[index]["payload_ciphertext"] is not None:
            rows[index] = {**rows[index], "payload_ciphertext": None}  # shredded meanwhile
            bodies[index] = canonical_body(rows[index])
        elif key_id in raced:
            event = prepared.events[index]
            rows[index] = _row(event, keys, key_id, late.get(key_id), prepared.when)
            bodies[index] = canonical_body(rows[index])
    if fresh:
        keys.store_new_keys(conn, fresh, now=prepared.when)
    by_tenant: dict[str, list[int]] = defaultdict(list)
    for index, event in enumerate(prepared.events):
        by_tenant[event.tenant_id].append(index)
    out: list[dict[str, Any]] = []
    for tenant in sorted(by_tenant):
        lock_chain(conn, tenant)
        seq, prev = chain_head(conn, tenant)
        if seq and tenant not in keys.keyed_tenants:
            if is_legacy_head(conn, tenant, seq, keys):
                mark_keyed(conn, keys, tenant, seq)  # re-checked next time if rolled back
            else:
                keys.keyed_tenants.add(tenant)
        for index in by_tenant[tenant]:
            seq += 1
            row = dict(rows[index])
            row["seq"] = seq
            row["prev_hash"] = prev
            row["hash"] = prev = chained_hash(bodies[index], seq, prev, keys.chain_key)
            out.append(row)
    bulk_insert(conn, events_table, out)
    _record_aliases(conn, keys, prepared.events, prepared.key_ids, prepared.when)
    return len(out)


def _record_aliases(
    conn: sa.Connection,
    keys: KeyRing,
    batch: list[AuditEvent],
    key_ids: list[str],
    when: datetime,
) -> None:
    """Keyed hashes of the events' emails as aliases of their subjects (new pairs only)."""
    pairs = {
        (keys.subject_hash(event.email), key_id)
        for event, key_id in zip(batch, key_ids, strict=True)
        if event.subject is not None and event.email and "@" in event.email
    }
    pairs = {(alias, subject) for alias, subject in pairs if alias != subject}
    if not pairs:
        return
    rows = [{"alias_hash": a, "subject_hash": s, "created_at": when} for a, s in sorted(pairs)]
    conn.execute(insert_on_conflict(conn, aliases_table).on_conflict_do_nothing(), rows)


def is_legacy_head(conn: sa.Connection, tenant: str, seq: int, keys: KeyRing) -> bool:
    """Whether event ``seq`` of the tenant carries a plain SHA-256 (written before keying)."""
    columns = [events_table.c[name] for name in (*HASHED_COLUMNS, "hash")]
    row = (
        conn.execute(
            sa.select(*columns).where(events_table.c.tenant_id == tenant, events_table.c.seq == seq)
        )
        .one()
        ._asdict()
    )
    return bool(event_hash(row, None) == row["hash"] != event_hash(row, keys.chain_key))


def _key_id(keys: KeyRing, event: AuditEvent) -> str:
    if event.subject is not None:
        return keys.subject_hash(event.subject)
    return keys.record_key_hash(event.stream, event.record_key)


def _row(
    event: AuditEvent, keys: KeyRing, key_id: str, cipher: AESGCM | None, when: datetime
) -> dict[str, Any]:
    return {
        "tenant_id": event.tenant_id,
        "occurred_at": event.occurred_at or when,
        "actor": event.actor,
        "source_system": event.source_system,
        "target_system": event.target_system,
        "stream": event.stream,
        "record_key_hash": keys.record_key_hash(event.stream, event.record_key),
        "subject_hash": None if event.subject is None else key_id,
        "action": event.action,
        "changed_fields": list(event.changed_fields),
        "outcome": event.outcome,
        "run_id": event.run_id,
        "batch_id": event.batch_id,
        "details": None if event.details is None else dict(event.details),
        "payload_ciphertext": None if cipher is None else _encrypt(cipher, key_id, event),
        "key_id": key_id,
    }


def _encrypt(cipher: AESGCM, key_id: str, event: AuditEvent) -> bytes:
    payload = {"subject": event.subject, "record_key": event.record_key, "values": event.values}
    data = json.dumps(payload, separators=(",", ":"), default=str).encode("utf-8")
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + cipher.encrypt(nonce, data, key_id.encode())


def decrypt_payload(
    keys: KeyRing,
    key_id: str | None,
    ciphertext: bytes | None,
    ciphers: Mapping[str, AESGCM | None] | None = None,
) -> dict[str, Any] | None:
    """The decrypted payload, or None when the key is gone (shredded) or absent. ``ciphers``:
    what :meth:`KeyRing.ciphers` returned for the rows (its cache keeps only the most
    recently used keys), else the ring's cache."""
    if key_id is None or ciphertext is None:
        return None
    cipher = keys.cipher(key_id) if ciphers is None else ciphers.get(key_id)
    if cipher is None:
        return None
    data = cipher.decrypt(ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:], key_id.encode())
    result: dict[str, Any] = json.loads(data)
    return result
