"""State-store reads and writes only the pull needs: links by CRM id, manual conflicts.

Manual-rule conflicts are rows of ``conflicts`` with ``kind = "manual_rule"``, ``field`` = the
CRM field name and ``details``::

    {"rule": "manual", "b2connect_field": "billingAddress.city", "crm_id": "...",
     "b2connect_hash": "...", "crm_hash": "...", "last_hash": "..." | None,
     "b2connect_changed_at": ISO | None, "crm_changed_at": ISO | None}

Hashes only, never values (like the other conflict kinds). One open row per record and
field; a newer clash of the same field updates its details. While a row is open neither
engine writes that field of that record; whoever resolves it writes the chosen value to both
systems, stores its hash in ``links.field_hashes`` and marks the row resolved.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from store.models import ConflictStatus, metadata
from sync.state import LinkRow

__all__ = [
    "MANUAL_RULE",
    "add_manual_conflicts",
    "links_by_crm_id",
    "open_manual_fields",
]

MANUAL_RULE = "manual_rule"
_links = metadata.tables["links"]
_conflicts = metadata.tables["conflicts"]
_CHUNK = 500


def links_by_crm_id(
    conn: sa.Connection, pipeline: str, crm_ids: Sequence[str]
) -> dict[str, LinkRow]:
    """Links of ``pipeline`` whose CRM id is one of ``crm_ids``, by CRM id."""
    out: dict[str, LinkRow] = {}
    ids = sorted(set(crm_ids))
    for i in range(0, len(ids), _CHUNK):
        rows = conn.execute(
            sa.select(_links.c.b2connect_key, _links.c.crm_id, _links.c.field_hashes).where(
                _links.c.pipeline == pipeline, _links.c.crm_id.in_(ids[i : i + _CHUNK])
            )
        )
        for key, crm_id, hashes in rows:
            out[str(crm_id)] = LinkRow(key, crm_id, dict(hashes or {}))
    return out


def open_manual_fields(
    conn: sa.Connection, pipeline: str, keys: Sequence[str]
) -> dict[str, set[str]]:
    """Fields with an open manual-rule conflict, per record key."""
    out: dict[str, set[str]] = {}
    wanted = sorted(set(keys))
    for i in range(0, len(wanted), _CHUNK):
        rows = conn.execute(
            sa.select(_conflicts.c.record_key, _conflicts.c.field).where(
                _conflicts.c.pipeline == pipeline,
                _conflicts.c.kind == MANUAL_RULE,
                _conflicts.c.status == ConflictStatus.OPEN,
                _conflicts.c.record_key.in_(wanted[i : i + _CHUNK]),
            )
        )
        for key, field in rows:
            out.setdefault(str(key), set()).add(str(field))
    return out


def add_manual_conflicts(
    conn: sa.Connection,
    pipeline: str,
    rows: Sequence[tuple[str, str, dict[str, Any]]],
    now: datetime,
) -> None:
    """Open (key, field, details) manual conflicts; an open one of the same field is updated."""
    for key, field, details in rows:
        where = (
            _conflicts.c.pipeline == pipeline,
            _conflicts.c.record_key == key,
            _conflicts.c.field == field,
            _conflicts.c.kind == MANUAL_RULE,
            _conflicts.c.status == ConflictStatus.OPEN,
        )
        found = conn.execute(sa.select(_conflicts.c.id).where(*where)).first()
        if found is not None:
            conn.execute(sa.update(_conflicts).where(*where).values(details=details))
            continue
        conn.execute(
            sa.insert(_conflicts).values(
                pipeline=pipeline,
                record_key=key,
                field=field,
                kind=MANUAL_RULE,
                details=details,
                status=ConflictStatus.OPEN,
                created_at=now,
            )
        )
