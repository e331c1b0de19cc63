"""Customer metrics: lifetime value, order count, AOV, first/last order, trailing spend.

Pure: the caller passes one customer's (or one company's) orders and the clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from dateutil.relativedelta import relativedelta

from insights.errors import InsightsError, UnknownCurrency
from insights.orders import OrderFact, order_fact
from mapping.config import DEFAULT_SETTINGS, InsightsSettings

__all__ = ["CENT", "CustomerMetrics", "OrderInput", "customer_metrics", "to_reporting"]

CENT = Decimal("0.01")

OrderInput = OrderFact | Mapping[str, Any]
"""A canonical B2Connect order mapping, or the ledger's compact :class:`OrderFact`."""


@dataclass(frozen=True, slots=True)
class CustomerMetrics:
    """One customer's figures; money in the reporting currency, rounded to cents."""

    currency: str
    lifetime_value: Decimal
    order_count: int
    average_order_value: Decimal
    first_order_at: datetime | None
    last_order_at: datetime | None
    trailing_spend: Decimal
    """Net spend of orders placed in the trailing window (12 months by default)."""
    counted_orders: tuple[str, ...]
    """Ids of the non-cancelled orders behind the figures, oldest first (for explanations)."""

    @property
    def repeat_purchaser(self) -> bool:
        """Two or more non-cancelled orders."""
        return self.order_count >= 2

    def days_since_last_order(self, now: datetime) -> timedelta | None:
        """Age of the last order (never negative), or None without orders."""
        if self.last_order_at is None:
            return None
        return max(now - self.last_order_at, timedelta(0))


def to_reporting(amount: Decimal, currency: str, settings: InsightsSettings) -> Decimal:
    """Convert ``amount`` to the reporting currency (unrounded); unknown currency raises."""
    rate = settings.rate(currency)
    if rate is None:
        raise UnknownCurrency(currency, settings.reporting_currency)
    return amount * rate


def _facts(orders: Iterable[OrderInput]) -> list[OrderFact]:
    facts = [o if isinstance(o, OrderFact) else order_fact(o) for o in orders]
    seen: set[str] = set()
    for fact in facts:
        if fact.order_id in seen:
            raise InsightsError(f"order '{fact.order_id}' appears twice; pass each order once")
        seen.add(fact.order_id)
    return facts


def customer_metrics(
    orders: Iterable[OrderInput],
    *,
    now: datetime,
    settings: InsightsSettings = DEFAULT_SETTINGS,
) -> CustomerMetrics:
    """Compute one customer's metrics from all of their orders (any order, any currency).

    Cancelled orders are ignored entirely. Lifetime value is the sum of each order's
    total minus its refunds; the trailing window is ``settings.trailing_months`` calendar
    months back from ``now`` (inclusive).

    Raises:
        UnknownCurrency: a counted order's currency is not in the rate table.
        InvalidOrder: an order mapping is malformed.
    """
    if now.tzinfo is None:
        raise InsightsError("'now' must be timezone-aware")
    counted = sorted(
        (f for f in _facts(orders) if not f.cancelled), key=lambda f: (f.created_at, f.order_id)
    )
    window_start = now - relativedelta(months=settings.trailing_months)
    lifetime = Decimal(0)
    trailing = Decimal(0)
    for fact in counted:
        net = to_reporting(fact.net, fact.currency, settings)
        lifetime += net
        if fact.created_at >= window_start:
            trailing += net
    count = len(counted)
    aov = lifetime / count if count else Decimal(0)
    return CustomerMetrics(
        currency=settings.reporting_currency,
        lifetime_value=lifetime.quantize(CENT),
        order_count=count,
        average_order_value=aov.quantize(CENT),
        first_order_at=counted[0].created_at if counted else None,
        last_order_at=counted[-1].created_at if counted else None,
        trailing_spend=trailing.quantize(CENT),
        counted_orders=tuple(f.order_id for f in counted),
    )
