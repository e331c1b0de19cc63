"""Customer acquisition cost (CAC), net lifetime value and the LTV:CAC ratio.

- **Spend**: marketing spend per month and channel, in the reporting currency, from
  ``insights.marketing_spend`` (a CSV file, rows in the YAML, or both: added up).
- **Attribution** (first order): a customer's *cohort* is the month of their first counted
  (non-cancelled) order and their *channel* that order's ``source`` (B2Connect's order field,
  trimmed and lower-cased); without one, ``unattributed``.
- **CAC** of a cohort and channel = spend of that month and channel / its new customers
  (0 for a channel with new customers and no spend: organic).
- **Net LTV** = lifetime value − the CAC of the customer's cohort and channel.
- **LTV:CAC** = lifetime value / CAC (none when the CAC is 0); the playbook's target is 3:1.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from insights.errors import SpendError
from insights.ledger import ORDERS, get_value, set_value
from insights.metrics import CENT
from mapping.config import InsightsConfig, MarketingSpend, SpendFileError, normalise_channel

__all__ = [
    "UNATTRIBUTED",
    "Acquisition",
    "CacTable",
    "SpendError",
    "acquisitions",
    "cac_table",
    "channel_of",
    "each_first_order",
    "first_orders",
    "load_spend",
    "month_of",
    "new_customers",
]

UNATTRIBUTED = "unattributed"
_COUNTS = "insights:acquisition:{tenant}"
_CHUNK = 900
#: rows fetched at a time when a query walks every buyer
_STREAM_ROWS = 2000
Cell = tuple[str, str]
"""(``YYYY-MM``, channel)"""


def month_of(moment: datetime) -> str:
    """``YYYY-MM`` of a moment."""
    return f"{moment.year:04d}-{moment.month:02d}"


def channel_of(source: str | None) -> str:
    """The acquisition channel an order source stands for."""
    return normalise_channel(source) or UNATTRIBUTED


def load_spend(spend: MarketingSpend) -> dict[Cell, Decimal]:
    """Spend per (month, channel) (:meth:`MarketingSpend.load`).

    Raises:
        SpendError: the CSV cannot be read or a row is malformed (file:line and a hint).
    """
    try:
        return spend.load()
    except SpendFileError as exc:
        raise SpendError(str(exc)) from None


@dataclass(frozen=True)
class CacTable:
    """Spend and new customers per cohort (first-order month) and channel."""

    spend: Mapping[Cell, Decimal]
    new: Mapping[Cell, int]

    def cac(self, month: str, channel: str) -> Decimal | None:
        """Spend / new customers of the cell; None when it acquired nobody."""
        n = self.new.get((month, channel), 0)
        if not n:
            return None
        return (self.spend.get((month, channel), Decimal(0)) / n).quantize(CENT)

    def cells(self) -> list[Cell]:
        """Every cell with spend or new customers, oldest month first."""
        return sorted(set(self.spend) | set(self.new))

    def month_spend(self, month: str) -> Decimal:
        return sum((v for (m, _c), v in self.spend.items() if m == month), Decimal(0))

    def month_new(self, month: str) -> int:
        return sum(n for (m, _c), n in self.new.items() if m == month)


@dataclass(frozen=True)
class Acquisition:
    """Where and when one customer was acquired, and what it cost."""

    month: str
    channel: str
    cac: Decimal | None = field(default=None)

    def net_ltv(self, ltv: Decimal) -> Decimal | None:
        """Lifetime value minus acquisition cost (None: CAC unknown)."""
        return None if self.cac is None else (ltv - self.cac).quantize(CENT)

    def ratio(self, ltv: Decimal) -> Decimal | None:
        """LTV:CAC (None when the CAC is unknown or 0)."""
        if not self.cac:
            return None
        return (ltv / self.cac).quantize(CENT)


def _first_orders_query(tenant_id: str, keys: Sequence[str] | None) -> sa.Select[Any]:
    """(customer key, date, source) of each customer's first counted order (of ``keys``)."""
    rank = sa.func.row_number().over(
        partition_by=ORDERS.c.customer_key, order_by=(ORDERS.c.created_at, ORDERS.c.order_id)
    )
    where = [ORDERS.c.tenant_id == tenant_id, ORDERS.c.status != "cancelled"]
    if keys is not None:
        where.append(ORDERS.c.customer_key.in_(keys))
    ranked = (
        sa.select(ORDERS.c.customer_key, ORDERS.c.created_at, ORDERS.c.source, rank.label("n"))
        .where(*where)
        .subquery()
    )
    return sa.select(ranked.c.customer_key, ranked.c.created_at, ranked.c.source).where(
        ranked.c.n == 1
    )


def first_orders(
    conn: sa.Connection, tenant_id: str, keys: Sequence[str] | None = None
) -> dict[str, tuple[datetime, str | None]]:
    """Each customer's first counted order: its date and source (all customers when None)."""
    out: dict[str, tuple[datetime, str | None]] = {}
    batches: Iterable[Sequence[str] | None] = (
        [None] if keys is None else (keys[i : i + _CHUNK] for i in range(0, len(keys), _CHUNK))
    )
    for batch in batches:
        rows = conn.execute(_first_orders_query(tenant_id, batch))
        out.update({key: (created, source) for key, created, source in rows})
    return out


def each_first_order(conn: sa.Connection, tenant_id: str) -> Iterator[tuple[datetime, str | None]]:
    """Every buyer's first counted order (date, source), streamed: what the new-customer
    counts need, without a row per buyer held at once."""
    query = _first_orders_query(tenant_id, None).execution_options(yield_per=_STREAM_ROWS)
    for _key, created, source in conn.execute(query):
        yield created, source


def new_customers(firsts: Iterable[tuple[datetime, str | None]]) -> Counter[Cell]:
    """New customers per (first-order month, channel)."""
    return Counter((month_of(created), channel_of(source)) for created, source in firsts)


def cac_table(
    conn: sa.Connection,
    tenant_id: str,
    config: InsightsConfig,
    *,
    recount: bool,
    save: bool = True,
) -> CacTable | None:
    """The tenant's CAC table, None without ``insights.marketing_spend``.

    New-customer counts come from the whole ledger when ``recount`` (a full pass: stored for
    the incremental passes that follow, unless not ``save``: a dry run) or when none are
    stored yet (or only ones counted from an empty ledger, as :mod:`insights.hooks` does
    for the population's cut points).

    Raises:
        SpendError: the spend CSV is unreadable or malformed.
    """
    if config.marketing_spend is None:
        return None
    spend = load_spend(config.marketing_spend)
    name = _COUNTS.format(tenant=tenant_id)
    raw = None if recount else get_value(conn, name)
    if raw is None or raw == "{}":  # none yet, or counted from an empty ledger
        counts = new_customers(each_first_order(conn, tenant_id))
        if save:
            set_value(conn, name, json.dumps({f"{m}|{c}": n for (m, c), n in counts.items()}))
    else:
        stored: dict[str, int] = json.loads(raw)
        counts = Counter({_cell(k): int(v) for k, v in stored.items()})
    return CacTable(spend, counts)


def _cell(text: str) -> Cell:
    month, _sep, channel = text.partition("|")
    return month, channel


def acquisitions(
    conn: sa.Connection, tenant_id: str, table: CacTable | None, keys: Sequence[str] | None
) -> dict[str, Acquisition]:
    """Cohort, channel and CAC of ``keys`` (every buyer when None); empty without a table."""
    if table is None:
        return {}
    out: dict[str, Acquisition] = {}
    for key, (created, source) in first_orders(conn, tenant_id, keys).items():
        month, channel = month_of(created), channel_of(source)
        out[key] = Acquisition(month, channel, table.cac(month, channel))
    return out
