"""In-memory records per tenant and the change log behind the delta feeds.

Every mutation appends a :class:`Change` with the next value of one global, monotonically
increasing sequence number; a feed is the changes of one (tenant, entity) in sequence order.
The sequence survives :meth:`Store.clear`, so a watermark taken before a reset never hides
changes made after it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from emulators.b2connect._common import ENTITIES, clone


@dataclass
class Row:
    """One record: its tenant, its current camelCase data and the soft-delete flag."""

    entity: str
    tenant: str
    data: dict[str, Any]
    deleted: bool = False

    @property
    def id(self) -> str:
        return str(self.data["id"])


@dataclass
class Change:
    """One entry of a delta feed; ``data`` is the record as it was after the change."""

    seq: int
    tenant: str
    entity: str
    record_id: str
    change_type: str
    changed_at: str
    changed_fields: list[str]
    data: dict[str, Any] = field(default_factory=dict)


def stub(row: Row) -> dict[str, Any]:
    """What a Deleted change (or an erased record's history) reveals: the keys only."""
    return {"id": row.id, "tenantId": row.tenant}


def changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Names of fields that differ; nested objects (addresses) report ``parent.child``."""
    out: list[str] = []
    for key in sorted(set(old) | set(new)):
        if key == "updatedAt":
            continue
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if isinstance(before, dict) and isinstance(after, dict):
            out.extend(
                f"{key}.{sub}"
                for sub in sorted(set(before) | set(after))
                if before.get(sub) != after.get(sub)
            )
        else:
            out.append(key)
    return out


class Store:
    """Rows by entity and id, plus the per-feed change logs."""

    def __init__(self) -> None:
        self.seq = 0
        self.rows: dict[str, dict[str, Row]] = {e: {} for e in ENTITIES}
        self._feeds: dict[tuple[str, str], list[Change]] = {}
        self._seqs: dict[tuple[str, str], list[int]] = {}

    def clear(self) -> None:
        """Forget rows and changes; the sequence keeps counting."""
        self.rows = {e: {} for e in ENTITIES}
        self._feeds.clear()
        self._seqs.clear()

    # ---- rows

    def get(self, entity: str, rid: str, tenant: str | None = None) -> Row | None:
        row = self.rows[entity].get(rid)
        if row is None or (tenant is not None and row.tenant != tenant):
            return None
        return row

    def live(self, entity: str, tenant: str | None = None) -> list[Row]:
        """Rows not deleted, of one tenant or of all."""
        return [
            r
            for r in self.rows[entity].values()
            if not r.deleted and (tenant is None or r.tenant == tenant)
        ]

    def add(self, row: Row) -> None:
        self.rows[row.entity][row.id] = row

    # ---- changes

    def record(self, row: Row, change_type: str, changed_at: str, fields: list[str]) -> Change:
        """Append a change for ``row`` to its feed with the next sequence number."""
        self.seq += 1
        data = stub(row) if change_type == "Deleted" else clone(row.data)
        change = Change(
            self.seq, row.tenant, row.entity, row.id, change_type, changed_at, fields, data
        )
        key = (row.tenant, row.entity)
        self._feeds.setdefault(key, []).append(change)
        self._seqs.setdefault(key, []).append(self.seq)
        return change

    def feed(
        self, tenant: str, entity: str, after: int, high: int, limit: int
    ) -> tuple[list[Change], bool]:
        """Up to ``limit`` changes with ``after < seq <= high``, and whether more remain."""
        key = (tenant, entity)
        seqs = self._seqs.get(key, [])
        start = bisect.bisect_right(seqs, after)
        stop = bisect.bisect_right(seqs, high)
        page = self._feeds.get(key, [])[start : min(stop, start + limit)]
        return page, start + limit < stop

    def count(self, tenant: str, entity: str, after: int, high: int) -> int:
        """How many changes have ``after < seq <= high``."""
        seqs = self._seqs.get((tenant, entity), [])
        return bisect.bisect_right(seqs, high) - bisect.bisect_right(seqs, after)

    def scrub(self, row: Row) -> None:
        """Replace the record's data in its whole history by the keys only (erasure)."""
        for change in self._feeds.get((row.tenant, row.entity), []):
            if change.record_id == row.id:
                change.data = stub(row)
