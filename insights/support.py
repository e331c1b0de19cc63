"""Support tickets and NPS answers read back from the CRMs, kept as counts and scores.

The refresh pass reads, for the linked contacts of each customers pipeline whose CRM supports
it (:class:`connectors.base.SupportsTouchpoints`), their tickets (HubSpot tickets, Salesforce
Cases) and NPS answers (HubSpot feedback submissions), and replaces the customer's rows of
that CRM in ``insights_support``: item id, date, open/closed, score. No subjects, no comments.
Customers whose rows changed are marked dirty so the pass rescores them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from connectors.base import Touchpoint
from insights.ledger import mark_dirty
from insights.nps import SupportSignals, net_promoter_score
from store.models import metadata

__all__ = [
    "SUPPORT",
    "MonthSupport",
    "has_support",
    "month_support",
    "record_touchpoints",
    "support_signals",
]

SUPPORT = metadata.tables["insights_support"]
_CHUNK = 500


def _chunks(keys: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(keys), _CHUNK):
        yield keys[start : start + _CHUNK]


def _row(point: Touchpoint) -> tuple[str, str, datetime, bool, int | None]:
    return point.kind, point.item_id, point.created_at, point.closed, point.score


def record_touchpoints(
    conn: sa.Connection,
    tenant_id: str,
    source: str,
    read: Mapping[str, list[Touchpoint]],
) -> set[str]:
    """Replace the rows from ``source`` of every customer in ``read`` (key → what the CRM has
    now, empty: none); returns (and marks dirty) the customers whose rows changed."""
    keys = sorted(read)
    before: dict[str, set[tuple[str, str, datetime, bool, int | None]]] = defaultdict(set)
    for chunk in _chunks(keys):
        rows = conn.execute(
            sa.select(
                SUPPORT.c.customer_key,
                SUPPORT.c.kind,
                SUPPORT.c.item_id,
                SUPPORT.c.created_at,
                SUPPORT.c.closed,
                SUPPORT.c.score,
            ).where(
                SUPPORT.c.tenant_id == tenant_id,
                SUPPORT.c.source == source,
                SUPPORT.c.customer_key.in_(chunk),
            )
        )
        for key, kind, item, created, closed, score in rows:
            before[key].add((kind, item, created, bool(closed), score))
    changed = {k for k in keys if {_row(p) for p in read[k]} != before.get(k, set())}
    for chunk in _chunks(sorted(changed)):
        conn.execute(
            sa.delete(SUPPORT).where(
                SUPPORT.c.tenant_id == tenant_id,
                SUPPORT.c.source == source,
                SUPPORT.c.customer_key.in_(chunk),
            )
        )
    rows_out = [
        {
            "tenant_id": tenant_id,
            "customer_key": key,
            "source": source,
            "kind": p.kind,
            "item_id": p.item_id,
            "created_at": p.created_at,
            "closed": p.closed,
            "score": p.score,
        }
        for key in sorted(changed)
        for p in {(q.kind, q.item_id): q for q in read[key]}.values()
    ]
    if rows_out:
        conn.execute(sa.insert(SUPPORT), rows_out)
    mark_dirty(conn, tenant_id, changed)
    return changed


@dataclass
class _Tally:
    open: int = 0
    recent: int = 0
    score: int | None = None
    at: datetime | None = None


def support_signals(
    conn: sa.Connection,
    tenant_id: str,
    keys: Sequence[str] | None,
    *,
    now: datetime,
    days: int,
) -> dict[str, SupportSignals]:
    """Open tickets, tickets of the last ``days`` days and the last NPS answer per customer
    (``keys``, or everyone with rows when None)."""
    since = now - timedelta(days=days)
    columns = (SUPPORT.c.customer_key, SUPPORT.c.kind, SUPPORT.c.created_at, SUPPORT.c.closed)
    batches: Iterable[Sequence[str] | None] = [None] if keys is None else _chunks(list(keys))
    tally: dict[str, _Tally] = {}
    for batch in batches:
        query = sa.select(*columns, SUPPORT.c.score).where(SUPPORT.c.tenant_id == tenant_id)
        if batch is not None:
            query = query.where(SUPPORT.c.customer_key.in_(batch))
        for key, kind, created, closed, score in conn.execute(query):
            t = tally.setdefault(key, _Tally())
            if kind == "ticket":
                t.open += not closed
                t.recent += created >= since
            elif kind == "nps" and (t.at is None or created > t.at):
                t.score, t.at = score, created
    return {k: SupportSignals(t.open, t.recent, t.score, t.at) for k, t in tally.items()}


@dataclass(frozen=True)
class MonthSupport:
    """A month's NPS answers and tickets, and the tickets open now."""

    answers: int
    nps: float | None
    opened: int
    open_now: int
    customers_with_open: int


def month_support(
    conn: sa.Connection, tenant_id: str, start: datetime, end: datetime
) -> MonthSupport:
    """NPS of the answers given in ``[start, end)`` and the tickets opened then."""
    in_month = (
        SUPPORT.c.tenant_id == tenant_id,
        SUPPORT.c.created_at >= start,
        SUPPORT.c.created_at < end,
    )
    scores = [
        int(s)
        for (s,) in conn.execute(
            sa.select(SUPPORT.c.score).where(*in_month, SUPPORT.c.kind == "nps")
        )
        if s is not None
    ]
    opened = conn.execute(
        sa.select(sa.func.count()).where(*in_month, SUPPORT.c.kind == "ticket")
    ).scalar_one()
    open_rows = conn.execute(
        sa.select(SUPPORT.c.customer_key).where(
            SUPPORT.c.tenant_id == tenant_id,
            SUPPORT.c.kind == "ticket",
            SUPPORT.c.closed.is_(False),
        )
    ).all()
    return MonthSupport(
        answers=len(scores),
        nps=net_promoter_score(scores),
        opened=int(opened),
        open_now=len(open_rows),
        customers_with_open=len({r[0] for r in open_rows}),
    )


def has_support(conn: sa.Connection, tenant_id: str) -> bool:
    """Has any CRM shared a ticket or an NPS answer of this tenant's customers?"""
    found = conn.execute(
        sa.select(SUPPORT.c.id).where(SUPPORT.c.tenant_id == tenant_id).limit(1)
    ).first()
    return found is not None
