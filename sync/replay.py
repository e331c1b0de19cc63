"""Dead-letter replay: rebuild the source records parked in ``dead_letters`` and run them
through the pipeline again (today's mapping, today's CRM state)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

import sqlalchemy as sa

from connectors.records import Capability, Page, Record
from mapping.config import Pipeline
from store.models import DeadLetterStatus, metadata

__all__ = ["ReplaySource", "due_dead_letters"]

_dead = metadata.tables["dead_letters"]


def due_dead_letters(
    conn: sa.Connection,
    pipe: Pipeline,
    now: datetime,
    *,
    everything: bool = False,
    ids: Sequence[int] | None = None,
) -> list[Record]:
    """Pending dead letters of ``pipe`` due for a retry (or all of them), as records."""
    query = sa.select(_dead.c.stream, _dead.c.record_key, _dead.c.payload).where(
        _dead.c.pipeline == pipe.name, _dead.c.status == DeadLetterStatus.PENDING
    )
    if ids:
        query = query.where(_dead.c.id.in_(list(ids)))
    elif not everything:
        query = query.where(_dead.c.next_attempt_at.is_not(None), _dead.c.next_attempt_at <= now)
    records = []
    for stream, key, payload in conn.execute(query.order_by(_dead.c.id)):
        source = (payload or {}).get("source")
        if not isinstance(source, Mapping):
            continue
        if stream != pipe.b2connect.stream:
            continue  # a line's dead letter is replayed with its parent order
        records.append(
            Record(stream=stream, key=key, fields=dict(source), tenant_id=payload.get("tenant_id"))
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
