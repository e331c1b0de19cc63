"""Dead-letter replay: rebuild the source records parked in ``dead_letters`` and run them
through the pipeline again (today's mapping, today's CRM state).

Both sides replay: B2Connect records and order lines through the push (a line on its own,
under its parent's CRM id, since its parent was written already), CRM records the pull parked
through the pull's merge again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar

import sqlalchemy as sa

from connectors.records import Capability, Page, Record
from mapping.config import Direction, Pipeline
from store.models import DeadLetterStatus, metadata
from sync.plan import dead_letter
from sync.state import DeadLetterRow

__all__ = [
    "ReplaySource",
    "crm_dead_letter",
    "due_dead_letters",
    "due_pull_dead_letters",
    "pending_dead_letters",
]

_dead = metadata.tables["dead_letters"]
#: a dead letter's ``payload.side`` when the pull parked it (its record is the CRM's)
CRM_SIDE = "crm"


def due_dead_letters(
    conn: sa.Connection,
    pipe: Pipeline,
    now: datetime,
    *,
    everything: bool = False,
    ids: Sequence[int] | None = None,
) -> list[Record]:
    """Pending push-side dead letters of ``pipe`` due for a retry (or all of them), as
    records: B2Connect records and order lines (which replay on their own, under their
    parent's CRM id). The pull side's are :func:`due_pull_dead_letters`."""
    streams = {pipe.b2connect.stream} | ({pipe.lines.object} if pipe.lines else set())
    return [
        r
        for side, r in _due(conn, pipe, now, everything, ids)
        if side is None and r.stream in streams
    ]


def due_pull_dead_letters(
    conn: sa.Connection,
    pipe: Pipeline,
    now: datetime,
    *,
    everything: bool = False,
    ids: Sequence[int] | None = None,
) -> list[Record]:
    """Pending dead letters of ``pipe``'s pull (CRM records B2Connect or the CRM refused), as
    the CRM records they were read as: replayed through the pull's merge again."""
    if pipe.direction is Direction.push:
        return []
    return [r for side, r in _due(conn, pipe, now, everything, ids) if side == CRM_SIDE]


def crm_dead_letter(
    record: Record,
    code: str,
    message: str,
    field_name: str | None = None,
    *,
    retry_at: datetime | None = None,
) -> DeadLetterRow:
    """A pull's dead letter: the CRM record as read (with its modification time, which the
    merge's newest-wins rules need), marked as the pull's so a replay runs it through the
    pull again."""
    row = dead_letter(record, code, message, field_name, retry_at)
    stamp = record.updated_at.isoformat() if record.updated_at else None
    payload = {
        **row.payload,
        "side": CRM_SIDE,
        "updated_at": stamp,
        "modified_by": record.modified_by,
    }
    return replace(row, payload=payload)


def _due(
    conn: sa.Connection,
    pipe: Pipeline,
    now: datetime,
    everything: bool,
    ids: Sequence[int] | None,
) -> list[tuple[str | None, Record]]:
    """(side, record) of each pending dead letter: side ``crm`` for the pull's."""
    query = sa.select(_dead.c.stream, _dead.c.record_key, _dead.c.payload).where(
        _dead.c.pipeline == pipe.name, _dead.c.status == DeadLetterStatus.PENDING
    )
    if ids:
        query = query.where(_dead.c.id.in_(list(ids)))
    elif not everything:
        query = query.where(_dead.c.next_attempt_at.is_not(None), _dead.c.next_attempt_at <= now)
    records = []
    crm_object = pipe.crm.object if pipe.direction is not Direction.push else None
    for stream, key, payload in conn.execute(query.order_by(_dead.c.id)):
        source = (payload or {}).get("source")
        if not isinstance(source, Mapping):
            continue
        side = payload.get("side") or (
            CRM_SIDE if stream == crm_object != pipe.b2connect.stream else None
        )
        stamp = payload.get("updated_at")
        records.append(
            (
                side,
                Record(
                    stream=stream,
                    key=key,
                    fields=dict(source),
                    tenant_id=payload.get("tenant_id"),
                    updated_at=datetime.fromisoformat(stamp) if isinstance(stamp, str) else None,
                    modified_by=payload.get("modified_by") if side == CRM_SIDE else None,
                ),
            )
        )
    return records


class ReplaySource:
    """A one-page source serving parked records; it has no cursor of its own."""

    name: ClassVar[str] = "replay"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.READ})
    calls: ClassVar[dict[str, int]] = {}

    def __init__(self, records: Sequence[Record]) -> None:
        self.records = list(records)

    def read_changes(self, stream: str, cursor: Mapping[str, Any] | None) -> Iterator[Page]:
        """One page with every parked record of ``stream``."""
        del cursor
        yield Page([r for r in self.records if r.stream == stream], None, has_more=False)


def pending_dead_letters(
    conn: sa.Connection, pipelines: Sequence[str], overdue_before: datetime
) -> dict[str, tuple[int, int]]:
    """Per pipeline: (pending dead letters, those first parked before ``overdue_before``)."""
    overdue = sa.case((_dead.c.created_at < overdue_before, 1), else_=0)
    query = (
        sa.select(_dead.c.pipeline, sa.func.count(), sa.func.coalesce(sa.func.sum(overdue), 0))
        .where(_dead.c.pipeline.in_(list(pipelines)), _dead.c.status == DeadLetterStatus.PENDING)
        .group_by(_dead.c.pipeline)
    )
    return {name: (int(total), int(late)) for name, total, late in conn.execute(query)}
