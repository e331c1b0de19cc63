"""Compliance queries: search the trail, decrypt what may still be read, export, purge.

A subject search hashes the identifier with the keyed hash and uses the
``subject_hash`` index: nothing outside the answer is decrypted.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
import structlog
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from audit._chain import aliases_table, events_table
from audit.anchors import PURGED_PREFIX, put_signed
from audit.events import decrypt_payload
from audit.keys import KeyRing
from store import Setting, SubjectKey, utc_now

ERASED: Final = "[erased]"
#: prefix of a pipeline's actor name in the trail (``pipeline:customers-to-hubspot``)
PIPELINE_ACTOR: Final = "pipeline:"
CSV_COLUMNS: Final = (
    "tenant_id",
    "seq",
    "occurred_at",
    "actor",
    "action",
    "outcome",
    "source_system",
    "target_system",
    "stream",
    "record_key",
    "subject",
    "changed_fields",
    "values",
    "details",
    "run_id",
    "batch_id",
    "hash",
)
_keys: sa.Table = SubjectKey.__table__  # type: ignore[attr-defined]
_settings: sa.Table = Setting.__table__  # type: ignore[attr-defined]
_log = structlog.get_logger("b2sync.audit")


@dataclass(frozen=True)
class Filters:
    """What to search for; every filter is optional and they combine with AND."""

    subject: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    action: str | None = None
    pipeline: str | None = None
    system: str | None = None
    tenant_id: str | None = None
    limit: int | None = None
    #: events to skip (a page of the compliance page)
    offset: int = 0
    #: newest event first (the compliance page); oldest first otherwise
    newest_first: bool = False


@dataclass(frozen=True)
class EventView:
    """One event as compliance reads it; personal values are ``[erased]`` after shredding."""

    tenant_id: str
    seq: int
    occurred_at: datetime
    actor: str
    action: str
    outcome: str
    source_system: str
    target_system: str
    stream: str
    record_key: str
    subject: str | None
    changed_fields: list[str]
    values: dict[str, Any] | str | None
    details: dict[str, Any] | None
    run_id: str | None
    batch_id: str | None
    hash: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (ISO time)."""
        data = asdict(self)
        data["occurred_at"] = self.occurred_at.isoformat()
        return data

    @property
    def changed_by(self) -> str:
        """Who made a CRM-side change (``hubspot user 4711``), from ``details.changed_by``;
        empty when the event is not one or the CRM did not say."""
        source = (self.details or {}).get("changed_by")
        if not isinstance(source, dict):
            return ""
        system = str(source.get("system") or "crm")
        if source.get("user_id"):
            return f"{system} user {source['user_id']}"
        how = " ".join(str(source[k]) for k in ("source_type", "source_id") if source.get(k))
        return f"{system} {how}".strip()


def search(conn: sa.Connection, keys: KeyRing, filters: Filters) -> list[EventView]:
    """Events matching ``filters``, oldest first (``newest_first``: the other way), from
    ``offset``, at most ``limit``, decrypted where the key still exists."""
    table = events_table
    query = sa.select(table).where(*_where(keys, filters))
    order = (table.c.occurred_at, table.c.tenant_id, table.c.seq)
    query = query.order_by(*(c.desc() for c in order) if filters.newest_first else order)
    if filters.offset:
        query = query.offset(filters.offset)
    if filters.limit:
        query = query.limit(filters.limit)
    rows = conn.execute(query).all()
    key_ids = {row.key_id for row in rows if row.key_id is not None}
    ciphers = keys.ciphers(conn, key_ids, create=False, now=utc_now())
    return [_view(keys, row, ciphers) for row in rows]


def count(conn: sa.Connection, keys: KeyRing, filters: Filters) -> int:
    """How many events match ``filters`` (``limit`` and ``offset`` ignored)."""
    query = sa.select(sa.func.count()).select_from(events_table).where(*_where(keys, filters))
    return int(conn.execute(query).scalar_one())


def _where(keys: KeyRing, filters: Filters) -> list[sa.ColumnElement[bool]]:
    table = events_table
    where: list[sa.ColumnElement[bool]] = []
    if filters.subject:
        where.append(subject_clause(keys, filters.subject))
    if filters.since is not None:
        where.append(table.c.occurred_at >= filters.since)
    if filters.until is not None:
        where.append(table.c.occurred_at < filters.until)
    if filters.action:
        where.append(table.c.action == filters.action)
    if filters.pipeline:
        name = filters.pipeline.removeprefix(PIPELINE_ACTOR)
        where.append(table.c.actor.in_((name, PIPELINE_ACTOR + name)))
    if filters.system:
        where.append(
            sa.or_(table.c.source_system == filters.system, table.c.target_system == filters.system)
        )
    if filters.tenant_id:
        where.append(table.c.tenant_id == filters.tenant_id)
    return where


def subject_clause(keys: KeyRing, identifier: str) -> sa.ColumnElement[bool]:
    """Events of the subject ``identifier`` names: its own hash (a customer id, or an email
    used as subject) or that of a subject whose events recorded it as their email (alias)."""
    wanted = keys.subject_hash(identifier)
    aliased = sa.select(aliases_table.c.subject_hash).where(aliases_table.c.alias_hash == wanted)
    column = events_table.c.subject_hash
    return sa.or_(column == wanted, column.in_(aliased))


def _view(keys: KeyRing, row: sa.Row[Any], ciphers: Mapping[str, AESGCM | None]) -> EventView:
    payload = decrypt_payload(keys, row.key_id, row.payload_ciphertext, ciphers)
    readable = payload is not None
    values: dict[str, Any] | str | None = (
        (payload or {}).get("values") if readable else (ERASED if row.key_id else None)
    )
    return EventView(
        tenant_id=row.tenant_id,
        seq=int(row.seq),
        occurred_at=row.occurred_at,
        actor=row.actor,
        action=row.action,
        outcome=row.outcome,
        source_system=row.source_system,
        target_system=row.target_system,
        stream=row.stream,
        record_key=str(payload.get("record_key", "")) if payload else ERASED,
        subject=(payload.get("subject") if payload else ERASED if row.subject_hash else None),
        changed_fields=list(row.changed_fields or []),
        values=values,
        details=row.details,
        run_id=row.run_id,
        batch_id=row.batch_id,
        hash=row.hash,
    )


def to_json(views: Iterable[EventView]) -> str:
    """A JSON array of the events."""
    return json.dumps([v.as_dict() for v in views], indent=2, ensure_ascii=False, default=str)


def to_csv(views: Iterable[EventView]) -> str:
    """CSV with a header; lists and dicts are JSON text in their cell."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for view in views:
        data = view.as_dict()
        writer.writerow({name: _cell(data[name]) for name in CSV_COLUMNS})
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return str(value)


def purge_older_than(
    conn: sa.Connection, days: int, *, keys: KeyRing, now: datetime | None = None
) -> int:
    """Delete events older than ``days``, except those of subjects under legal hold.

    Per tenant only a prefix of the chain is purged (up to the first event young enough to
    keep), and the first kept sequence number is recorded so ``verify`` still checks the
    rest. Returns the number of events deleted. The default configuration never calls it.
    """
    cutoff = (now or utc_now()) - timedelta(days=days)
    table = events_table
    held = sa.select(_keys.c.subject_hash).where(_keys.c.legal_hold.is_(True))
    deleted = 0
    tenants = conn.execute(sa.select(table.c.tenant_id).distinct()).scalars().all()
    for tenant in sorted(tenants):
        keep_from = conn.execute(
            sa.select(sa.func.min(table.c.seq)).where(
                table.c.tenant_id == tenant, table.c.occurred_at >= cutoff
            )
        ).scalar()
        if keep_from is None:  # keep the head so the chain goes on from it
            keep_from = conn.execute(
                sa.select(sa.func.max(table.c.seq)).where(table.c.tenant_id == tenant)
            ).scalar_one()
        keep_from = max(int(keep_from), _purged_marker(conn, tenant))
        deleted += conn.execute(
            table.delete().where(
                table.c.tenant_id == tenant,
                table.c.seq < keep_from,
                sa.or_(table.c.subject_hash.is_(None), table.c.subject_hash.not_in(held)),
            )
        ).rowcount
        put_signed(conn, keys, PURGED_PREFIX + tenant, {"seq": int(keep_from)})
        _log.info("audit.purge", tenant_id=tenant, first_kept_seq=int(keep_from), days=days)
    return deleted


def _purged_marker(conn: sa.Connection, tenant: str) -> int:
    value = conn.execute(
        sa.select(_settings.c.value).where(_settings.c.name == PURGED_PREFIX + tenant)
    ).scalar()
    return 1 if value is None else int(json.loads(value)["seq"])
