"""Conflicts parked for a person: list, show, resolve, and the decisions engines apply.

A resolution is stored on the row as JSON ``{"take": "b2connect"|"crm"|"value", "value":
..., "actor": ..., "applied": bool}``. Engines read open decisions with :func:`decisions`
and mark them applied with :func:`mark_applied` in the transaction that acts on them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from store.models import ConflictStatus, DeadLetterStatus, metadata

if TYPE_CHECKING:
    from sync.plan import Planned
    from sync.push.writer import Flushed, Writer

#: a deleted record came back in B2Connect while its CRM record is archived
RESTORE_NEEDED = "restore_needed"

__all__ = [
    "AMBIGUOUS_MATCH",
    "RESTORE_NEEDED",
    "ConflictRow",
    "Decision",
    "apply_match_decisions",
    "close_open",
    "decisions",
    "get_conflict",
    "list_conflicts",
    "mark_applied",
    "resolve_conflict",
    "shop_duplicates",
]

_conflicts = metadata.tables["conflicts"]
_dead = metadata.tables["dead_letters"]
_links = metadata.tables["links"]
SIDES = ("b2connect", "crm")
AMBIGUOUS_MATCH = "ambiguous_match"
#: why a new record is parked when another new B2Connect record has the same match value
SHOP_DUPLICATE = "several B2Connect records share this match value"


@dataclass(frozen=True)
class Decision:
    """What a person decided: take one side, or a given value (a CRM id for a match)."""

    take: str
    value: str | None
    actor: str
    applied: bool = False

    def to_json(self) -> str:
        """The ``resolution`` column's value."""
        data = {"take": self.take, "value": self.value, "actor": self.actor}
        return json.dumps({**data, "applied": self.applied}, sort_keys=True)

    @classmethod
    def parse(cls, text: str | None) -> Decision | None:
        """A stored resolution (None when it is not a decision b2sync wrote)."""
        try:
            data = json.loads(text or "")
        except ValueError:
            return None
        if not isinstance(data, dict) or "take" not in data:
            return None
        value = data.get("value")
        return cls(
            take=str(data["take"]),
            value=None if value is None else str(value),
            actor=str(data.get("actor", "")),
            applied=bool(data.get("applied")),
        )


@dataclass(frozen=True)
class ConflictRow:
    """One row of the ``conflicts`` table."""

    id: int
    pipeline: str
    record_key: str
    field: str | None
    kind: str
    details: dict[str, Any]
    status: str
    created_at: datetime
    resolved_at: datetime | None
    resolution: str | None

    @property
    def decision(self) -> Decision | None:
        """The parsed resolution, when there is one."""
        return Decision.parse(self.resolution)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready view (no personal values beyond what ``details`` holds)."""
        decision = self.decision
        return {
            "id": self.id,
            "pipeline": self.pipeline,
            "record_key": self.record_key,
            "field": self.field,
            "kind": self.kind,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "resolution": decision.__dict__ if decision else self.resolution,
            "details": self.details,
        }


def _row(row: sa.Row[Any]) -> ConflictRow:
    return ConflictRow(
        id=int(row.id),
        pipeline=row.pipeline,
        record_key=row.record_key,
        field=row.field,
        kind=row.kind,
        details=dict(row.details or {}),
        status=str(row.status),
        created_at=row.created_at,
        resolved_at=row.resolved_at,
        resolution=row.resolution,
    )


def list_conflicts(
    conn: sa.Connection,
    *,
    pipeline: str | None = None,
    status: str | None = ConflictStatus.OPEN.value,
    kind: str | None = None,
    limit: int = 200,
) -> list[ConflictRow]:
    """Conflicts, oldest first, filtered by pipeline/status/kind."""
    query = sa.select(_conflicts).order_by(_conflicts.c.id).limit(limit)
    if pipeline:
        query = query.where(_conflicts.c.pipeline == pipeline)
    if status:
        query = query.where(_conflicts.c.status == status)
    if kind:
        query = query.where(_conflicts.c.kind == kind)
    return [_row(r) for r in conn.execute(query)]


def get_conflict(conn: sa.Connection, conflict_id: int) -> ConflictRow | None:
    """One conflict by id."""
    row = conn.execute(sa.select(_conflicts).where(_conflicts.c.id == conflict_id)).first()
    return None if row is None else _row(row)


def resolve_conflict(
    conn: sa.Connection, conflict: ConflictRow, decision: Decision, now: datetime
) -> None:
    """Record ``decision`` and prepare the next run to act on it.

    Unless the CRM side is taken, a parked link of the record (ambiguous match) is dropped so
    its next read plans it again; pending dead letters of the record are made due now so the
    next run's replay writes it (``restore_needed`` taken by the CRM: they are abandoned).
    """
    conn.execute(
        sa.update(_conflicts)
        .where(_conflicts.c.id == conflict.id)
        .values(status=ConflictStatus.RESOLVED, resolved_at=now, resolution=decision.to_json())
    )
    if decision.take != "crm":
        conn.execute(
            sa.delete(_links).where(
                _links.c.pipeline == conflict.pipeline,
                _links.c.b2connect_key == conflict.record_key,
                _links.c.crm_id.is_(None),
            )
        )
    where = (
        _dead.c.pipeline == conflict.pipeline,
        _dead.c.record_key == conflict.record_key,
        _dead.c.status == DeadLetterStatus.PENDING,
    )
    if decision.take == "crm" and conflict.kind == "restore_needed":
        values: dict[str, Any] = {"status": DeadLetterStatus.ABANDONED, "updated_at": now}
    else:
        values = {"next_attempt_at": now, "updated_at": now}
    conn.execute(sa.update(_dead).where(*where).values(**values))


def decisions(
    conn: sa.Connection, pipeline: str, kind: str, keys: Sequence[str]
) -> dict[str, tuple[int, Decision]]:
    """Unapplied decisions of ``kind`` for ``keys``: key -> (conflict id, decision)."""
    out: dict[str, tuple[int, Decision]] = {}
    items = sorted(set(keys))
    for i in range(0, len(items), 500):
        rows = conn.execute(
            sa.select(_conflicts.c.id, _conflicts.c.record_key, _conflicts.c.resolution)
            .where(
                _conflicts.c.pipeline == pipeline,
                _conflicts.c.kind == kind,
                _conflicts.c.status == ConflictStatus.RESOLVED,
                _conflicts.c.record_key.in_(items[i : i + 500]),
            )
            .order_by(_conflicts.c.id)
        )
        for cid, key, resolution in rows:
            decision = Decision.parse(resolution)
            if decision is not None and not decision.applied:
                out[key] = (int(cid), decision)
    return out


def mark_applied(conn: sa.Connection, conflict_ids: Sequence[int]) -> None:
    """Remember that the engine acted on these decisions."""
    for cid in conflict_ids:
        text = conn.execute(
            sa.select(_conflicts.c.resolution).where(_conflicts.c.id == cid)
        ).scalar_one_or_none()
        decision = Decision.parse(text)
        if decision is None or decision.applied:
            continue
        applied = Decision(decision.take, decision.value, decision.actor, applied=True)
        conn.execute(
            sa.update(_conflicts).where(_conflicts.c.id == cid).values(resolution=applied.to_json())
        )


def close_open(
    conn: sa.Connection, pipeline: str, keys: Sequence[str], kind: str, why: str, now: datetime
) -> None:
    """Resolve open conflicts of ``kind`` for ``keys`` that settled by themselves."""
    items = sorted(set(keys))
    for i in range(0, len(items), 500):
        conn.execute(
            sa.update(_conflicts)
            .where(
                _conflicts.c.pipeline == pipeline,
                _conflicts.c.kind == kind,
                _conflicts.c.status == ConflictStatus.OPEN,
                _conflicts.c.record_key.in_(items[i : i + 500]),
            )
            .values(status=ConflictStatus.RESOLVED, resolved_at=now, resolution=why)
        )


def apply_match_decisions(writer: Writer, candidates: list[Planned], out: Flushed) -> list[Planned]:
    """Apply operators' ``ambiguous_match`` decisions to new records about to be matched.

    A chosen CRM id links the record to it; ``b2connect`` creates a new CRM record; ``crm``
    parks it again. Returns the candidates still to match by lookup.
    """
    if not candidates:
        return candidates
    name = writer.pipeline.name
    with writer.db.connect() as conn:
        decided = decisions(conn, name, AMBIGUOUS_MATCH, [p.key for p in candidates])
    if not decided:
        return candidates
    left: list[Planned] = []
    applied: list[int] = []
    for planned in candidates:
        if planned.key not in decided:
            left.append(planned)
            continue
        conflict_id, decision = decided[planned.key]
        applied.append(conflict_id)
        if decision.take == "value" and decision.value:
            planned.crm_id = decision.value
            planned.send = dict(planned.payload)
            out.counts["matched"] += 1
        elif decision.take == "b2connect":
            planned.match_value = None  # a new CRM record
        else:
            left.append(planned)  # crm: stays parked as before
    out.after.append(lambda conn, _now: mark_applied(conn, applied))
    return left


def shop_duplicates(candidates: Sequence[Planned]) -> dict[str, list[str]]:
    """New records sharing a match value (trimmed, case-folded) with an earlier one.

    Returns each later record's key -> the keys of the others with its value. The first
    record of a value goes on to match or create; the later ones are parked as an
    ``ambiguous_match`` conflict in every CRM alike, rather than one CRM refusing the second
    create (HubSpot: unique email) while another makes a duplicate (Salesforce).
    """
    groups: dict[str, list[str]] = {}
    for planned in candidates:
        value = str(planned.match_value or "").strip().casefold()
        if value:
            groups.setdefault(value, []).append(planned.key)
    return {
        key: [other for other in keys if other != key]
        for keys in groups.values()
        if len(keys) > 1
        for key in keys[1:]
    }
