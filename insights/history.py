"""The ledger replayed as of any past moment: what the scores were at the end of a month.

The monthly report needs segment sizes, stages and cohorts at several month ends; the ledger
keeps every order's date, so each of those is a pure recomputation with the orders placed
before that moment (no snapshots to keep).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta

from insights.ledger import ORDERS, from_minor
from insights.lifecycle import (
    population_thresholds,
)
from insights.metrics import CENT, CustomerMetrics
from insights.profile import CustomerInsights, score
from mapping.config import InsightsSettings

__all__ = ["History", "month_start", "months_back", "score"]


def month_start(year: int, month: int) -> datetime:
    """00:00 UTC on the first of the month."""
    return datetime(year, month, 1, tzinfo=UTC)


def months_back(moment: datetime, n: int) -> datetime:
    """``moment`` moved ``n`` calendar months earlier (negative: later)."""
    return moment - relativedelta(months=n)


@dataclass
class History:
    """Every counted order per customer, oldest first, in the reporting currency."""

    dates: dict[str, list[datetime]]
    amounts: dict[str, list[Decimal]]
    settings: InsightsSettings
    skipped: int = 0
    #: the source (marketing channel) of each customer's first counted order
    sources: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def load(cls, conn: sa.Connection, tenant_id: str, settings: InsightsSettings) -> History:
        """Read the tenant's non-cancelled orders from the ledger."""
        rows = conn.execute(
            sa.select(
                ORDERS.c.customer_key,
                ORDERS.c.created_at,
                ORDERS.c.currency,
                ORDERS.c.total_minor - ORDERS.c.refunded_minor,
                ORDERS.c.source,
            )
            .where(ORDERS.c.tenant_id == tenant_id, ORDERS.c.status != "cancelled")
            .order_by(ORDERS.c.customer_key, ORDERS.c.created_at, ORDERS.c.order_id)
        )
        dates: dict[str, list[datetime]] = {}
        amounts: dict[str, list[Decimal]] = {}
        sources: dict[str, str | None] = {}
        skipped = 0
        for key, created, currency, net, source in rows:
            rate = settings.rate(currency)
            if rate is None:
                skipped += 1
                continue
            dates.setdefault(key, []).append(created)
            amounts.setdefault(key, []).append(from_minor(int(net)) * rate)
            sources.setdefault(key, source)
        return cls(dates, amounts, settings, skipped, sources)

    def metrics_at(self, moment: datetime) -> dict[str, CustomerMetrics]:
        """Each customer's metrics counting the orders placed before ``moment``."""
        window = moment - relativedelta(months=self.settings.trailing_months)
        out: dict[str, CustomerMetrics] = {}
        currency = self.settings.reporting_currency
        for key, dates in self.dates.items():
            n = bisect.bisect_left(dates, moment)
            if not n:
                continue
            nets = self.amounts[key][:n]
            start = bisect.bisect_left(dates, window, 0, n)
            ltv = sum(nets, Decimal(0))
            out[key] = CustomerMetrics(
                currency=currency,
                lifetime_value=ltv.quantize(CENT),
                order_count=n,
                average_order_value=(ltv / n).quantize(CENT),
                first_order_at=dates[0],
                last_order_at=dates[n - 1],
                trailing_spend=sum(nets[start:], Decimal(0)).quantize(CENT),
                counted_orders=(),
            )
        return out

    def insights_at(self, moment: datetime) -> dict[str, CustomerInsights]:
        """Every buyer's insights as they were at ``moment``."""
        metrics = self.metrics_at(moment)
        if not metrics:
            return {}
        population = population_thresholds(
            (m.lifetime_value for m in metrics.values()), self.settings
        )
        return {key: score(m, moment, population, self.settings) for key, m in metrics.items()}

    def ordered_between(self, key: str, start: datetime, end: datetime) -> bool:
        """Did the customer order in ``[start, end)``?"""
        dates = self.dates.get(key, [])
        i = bisect.bisect_left(dates, start)
        return i < len(dates) and dates[i] < end

    def first_orders(self) -> Mapping[str, datetime]:
        """Each customer's first order date."""
        return {key: dates[0] for key, dates in self.dates.items() if dates}
