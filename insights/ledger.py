"""The compact order ledger and the customers' insights state, in the store.

The orders hook writes each order read from B2Connect here (customer key, order id, date,
status, currency, amounts in minor units: no names, no addresses) and marks its customer
dirty; the refresh pass recomputes dirty customers only (see :mod:`insights.refresh`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
import structlog

from insights.orders import OrderFact
from store.models import metadata

__all__ = [
    "CUSTOMERS",
    "ORDERS",
    "CustomerRow",
    "clear_dirty",
    "customer_page",
    "dirty_count",
    "dirty_keys",
    "dirty_marks",
    "forget_customer",
    "from_minor",
    "get_value",
    "mark_dirty",
    "orders_of",
    "remove_orders",
    "set_value",
    "to_minor",
    "touch_customers",
    "upsert_orders",
]

log = structlog.get_logger(__name__)
ORDERS = metadata.tables["insights_orders"]
CUSTOMERS = metadata.tables["insights_customers"]
SETTINGS = metadata.tables["settings"]
_CHUNK = 500
_HUNDRED = Decimal(100)
_MAX_MINOR = 2**63 - 1


def to_minor(amount: Decimal) -> int:
    """Minor units (cents), rounded half-even like the metrics' quantize.

    Raises :class:`ValueError` for an amount a 64-bit ledger column cannot hold (the store
    would raise ``OverflowError`` for the whole batch instead).
    """
    if not amount.is_finite():
        raise ValueError("amount is not a finite number")
    minor = int((amount * _HUNDRED).to_integral_value())
    if not -_MAX_MINOR <= minor <= _MAX_MINOR:
        raise ValueError("amount is too large for the ledger")
    return minor


def from_minor(value: int) -> Decimal:
    """Back from minor units to a two-place Decimal."""
    return (Decimal(value) / _HUNDRED).quantize(Decimal("0.01"))


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


#: the columns of a ledger row that carry the order's facts (``updated_at`` does not)
_FACTS = ("customer_key", "created_at", "status", "currency", "total_minor", "refunded_minor",
          "source")  # fmt: skip


def upsert_orders(
    conn: sa.Connection, tenant_id: str, facts: Sequence[OrderFact], now: datetime
) -> set[str]:
    """Insert or replace orders whose facts changed; returns the customers whose orders
    changed (old and new owners), marked dirty. An order read again unchanged (a second
    pipeline of the same stream, the insights read-ahead read again by the orders run) is
    neither rewritten nor marks its customer: the refresh pass has nothing to redo for it."""
    if not facts:
        return set()
    latest = {f.order_id: f for f in facts}
    rows: dict[str, dict[str, Any] | None] = {}
    for order_id, fact in latest.items():
        try:
            rows[order_id] = _ledger_row(tenant_id, fact, now)
        except ValueError as exc:  # one absurd amount must not sink the batch
            log.warning("insights.order_not_in_ledger", order_id=fact.order_id, reason=str(exc))
            rows[order_id] = None
    changed: list[str] = []
    touched: set[str] = set()
    columns = [ORDERS.c.order_id, *(ORDERS.c[name] for name in _FACTS)]
    for chunk in _chunks(list(latest)):
        stored = {
            row.order_id: row
            for row in conn.execute(
                sa.select(*columns).where(
                    ORDERS.c.tenant_id == tenant_id, ORDERS.c.order_id.in_(chunk)
                )
            )
        }
        for order_id in chunk:
            old, row = stored.get(order_id), rows[order_id]
            if old is not None and row is not None and _same(old, row):
                continue
            changed.append(order_id)
            touched.add(latest[order_id].customer_id)
            if old is not None:
                touched.add(old.customer_key)
    for chunk in _chunks(changed):
        conn.execute(
            sa.delete(ORDERS).where(ORDERS.c.tenant_id == tenant_id, ORDERS.c.order_id.in_(chunk))
        )
    inserts = [row for order_id in changed if (row := rows[order_id]) is not None]
    if inserts:
        conn.execute(sa.insert(ORDERS), inserts)
    mark_dirty(conn, tenant_id, touched)
    return touched


def _same(stored: sa.Row[Any], row: dict[str, Any]) -> bool:
    """Whether a stored ledger row holds the facts of ``row`` (SQLite hands back naive
    datetimes: compared as UTC)."""
    for name in _FACTS:
        old, new = getattr(stored, name), row[name]
        if isinstance(old, datetime) and isinstance(new, datetime):
            old, new = _utc(old), _utc(new)
        if old != new:
            return False
    return True


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _ledger_row(tenant_id: str, fact: OrderFact, now: datetime) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "order_id": fact.order_id,
        "customer_key": fact.customer_id,
        "created_at": fact.created_at,
        "status": fact.status,
        "currency": fact.currency,
        "total_minor": to_minor(fact.total),
        "refunded_minor": to_minor(fact.refunded),
        "source": fact.source,
        "updated_at": now,
    }


def remove_orders(conn: sa.Connection, tenant_id: str, order_ids: Sequence[str]) -> set[str]:
    """Forget deleted orders; returns their customers (marked dirty)."""
    touched: set[str] = set()
    for chunk in _chunks(list(order_ids)):
        where = (ORDERS.c.tenant_id == tenant_id, ORDERS.c.order_id.in_(chunk))
        touched.update(r[0] for r in conn.execute(sa.select(ORDERS.c.customer_key).where(*where)))
        conn.execute(sa.delete(ORDERS).where(*where))
    mark_dirty(conn, tenant_id, touched)
    return touched


def _existing(conn: sa.Connection, tenant_id: str, keys: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(keys):
        rows = conn.execute(
            sa.select(CUSTOMERS.c.customer_key).where(
                CUSTOMERS.c.tenant_id == tenant_id, CUSTOMERS.c.customer_key.in_(chunk)
            )
        )
        found.update(r[0] for r in rows)
    return found


def mark_dirty(conn: sa.Connection, tenant_id: str, keys: Iterable[str]) -> None:
    """Flag customers for recomputation (creating their state row when new)."""
    wanted = sorted(set(keys))
    if not wanted:
        return
    known = _existing(conn, tenant_id, wanted)
    for chunk in _chunks([k for k in wanted if k in known]):
        conn.execute(
            sa.update(CUSTOMERS)
            .where(CUSTOMERS.c.tenant_id == tenant_id, CUSTOMERS.c.customer_key.in_(chunk))
            .values(dirty=True, dirty_mark=CUSTOMERS.c.dirty_mark + 1)
        )
    new = [
        {"tenant_id": tenant_id, "customer_key": k, "dirty": True, "b2b": False}
        for k in wanted
        if k not in known
    ]
    if new:
        conn.execute(sa.insert(CUSTOMERS), new)


@dataclass(frozen=True)
class CustomerRow:
    """What a customer record tells the insights: B2B or not, and when they registered."""

    key: str
    b2b: bool
    registered_at: datetime | None


def touch_customers(conn: sa.Connection, tenant_id: str, rows: Sequence[CustomerRow]) -> None:
    """Record customers seen on a customers pipeline (new ones start dirty, as prospects).

    Set-based: one lookup per chunk of keys, one executemany update of the known customers
    and one multi-row insert of the new ones, whatever the number of customers.
    """
    if not rows:
        return
    latest = {row.key: row for row in rows}  # a key twice in one flush: the last one counts
    known = _existing(conn, tenant_id, list(latest))
    updates = [
        {"t": tenant_id, "k": key, "v_b2b": row.b2b, "v_at": row.registered_at}
        for key, row in latest.items()
        if key in known
    ]
    if updates:
        conn.execute(
            sa.update(CUSTOMERS)
            .where(
                CUSTOMERS.c.tenant_id == sa.bindparam("t"),
                CUSTOMERS.c.customer_key == sa.bindparam("k"),
            )
            .values(b2b=sa.bindparam("v_b2b"), registered_at=sa.bindparam("v_at")),
            updates,
        )
    new = [
        {"tenant_id": tenant_id, "customer_key": key, "dirty": True, "b2b": row.b2b,
         "registered_at": row.registered_at}
        for key, row in latest.items()
        if key not in known
    ]  # fmt: skip
    if new:
        conn.execute(sa.insert(CUSTOMERS), new)


def dirty_keys(conn: sa.Connection, tenant_id: str) -> list[str]:
    """Customers whose orders changed since their snapshot."""
    rows = conn.execute(
        sa.select(CUSTOMERS.c.customer_key).where(
            CUSTOMERS.c.tenant_id == tenant_id, CUSTOMERS.c.dirty.is_(True)
        )
    )
    return sorted(r[0] for r in rows)


def customer_page(
    conn: sa.Connection, tenant_id: str, *, after: str | None, limit: int, dirty_only: bool
) -> list[str]:
    """The next ``limit`` customer keys after ``after`` (keyset order; dirty ones only when
    ``dirty_only``): the refresh pass walks the customers a page at a time."""
    query = sa.select(CUSTOMERS.c.customer_key).where(CUSTOMERS.c.tenant_id == tenant_id)
    if dirty_only:
        query = query.where(CUSTOMERS.c.dirty.is_(True))
    if after is not None:
        query = query.where(CUSTOMERS.c.customer_key > after)
    rows = conn.execute(query.order_by(CUSTOMERS.c.customer_key).limit(limit))
    return [r[0] for r in rows]


def dirty_count(conn: sa.Connection, tenant_id: str) -> int:
    """How many customers are dirty."""
    query = sa.select(sa.func.count()).where(
        CUSTOMERS.c.tenant_id == tenant_id, CUSTOMERS.c.dirty.is_(True)
    )
    return int(conn.execute(query).scalar_one())


def dirty_marks(conn: sa.Connection, tenant_id: str, keys: Sequence[str]) -> dict[str, int]:
    """The customers' dirty marks (a counter :func:`mark_dirty` raises), read before their
    orders are: :func:`clear_dirty` given them clears only the customers marked no further
    since (an orders run beside the refresh pass marked them again: they stay dirty)."""
    marks: dict[str, int] = {}
    for chunk in _chunks(list(keys)):
        rows = conn.execute(
            sa.select(CUSTOMERS.c.customer_key, CUSTOMERS.c.dirty_mark).where(
                CUSTOMERS.c.tenant_id == tenant_id, CUSTOMERS.c.customer_key.in_(chunk)
            )
        )
        marks.update((key, mark) for key, mark in rows)
    return marks


def clear_dirty(
    conn: sa.Connection,
    tenant_id: str,
    keys: Sequence[str],
    marks: Mapping[str, int] | None = None,
) -> None:
    """The customers' snapshots are current again; with ``marks`` (:func:`dirty_marks`) only
    for the customers whose mark is still the one read."""
    if marks is None:
        for chunk in _chunks(list(keys)):
            conn.execute(
                sa.update(CUSTOMERS)
                .where(CUSTOMERS.c.tenant_id == tenant_id, CUSTOMERS.c.customer_key.in_(chunk))
                .values(dirty=False)
            )
        return
    rows = [{"t": tenant_id, "k": key, "m": marks[key]} for key in keys if key in marks]
    if rows:
        conn.execute(
            sa.update(CUSTOMERS)
            .where(
                CUSTOMERS.c.tenant_id == sa.bindparam("t"),
                CUSTOMERS.c.customer_key == sa.bindparam("k"),
                CUSTOMERS.c.dirty_mark == sa.bindparam("m"),
            )
            .values(dirty=False),
            rows,
        )


def orders_of(conn: sa.Connection, tenant_id: str, customer_key: str) -> list[OrderFact]:
    """One customer's orders from the ledger, oldest first (for explanations)."""
    rows = conn.execute(
        sa.select(ORDERS)
        .where(ORDERS.c.tenant_id == tenant_id, ORDERS.c.customer_key == customer_key)
        .order_by(ORDERS.c.created_at, ORDERS.c.order_id)
    ).mappings()
    return [
        OrderFact(
            order_id=r["order_id"],
            customer_id=r["customer_key"],
            created_at=r["created_at"],
            status=r["status"],
            currency=r["currency"],
            total=from_minor(r["total_minor"]),
            refunded=from_minor(r["refunded_minor"]),
            source=r["source"],
        )
        for r in rows
    ]


def get_value(conn: sa.Connection, name: str) -> str | None:
    """A value kept in the ``settings`` table."""
    found = conn.execute(sa.select(SETTINGS.c.value).where(SETTINGS.c.name == name))
    value = found.scalar_one_or_none()
    return None if value is None else str(value)


def set_value(conn: sa.Connection, name: str, value: str) -> None:
    """Store a value in the ``settings`` table."""
    conn.execute(sa.delete(SETTINGS).where(SETTINGS.c.name == name))
    conn.execute(sa.insert(SETTINGS).values(name=name, value=value))


def forget_customer(conn: sa.Connection, tenant_id: str, customer_key: str) -> int:
    """Erasure: drop the customer's orders, insights state, engagement, support tickets and
    NPS answers, and rule firings."""
    firings = metadata.tables["rule_firings"]
    engagement = (
        metadata.tables["insights_engagement"],
        metadata.tables["insights_engagement_totals"],
        metadata.tables["insights_support"],
    )
    removed = 0
    for table in (ORDERS, CUSTOMERS, firings, *engagement):
        result = conn.execute(
            sa.delete(table).where(
                table.c.tenant_id == tenant_id, table.c.customer_key == customer_key
            )
        )
        removed += result.rowcount or 0
    return removed
