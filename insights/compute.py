"""Insights from the ledger, aggregated in SQL: one GROUP BY per batch of customers.

Per-order arithmetic happens in the database on minor units (exact); Python only converts
each customer's per-currency sums to the reporting currency and scores them with the pure
core (:mod:`insights.rfm`, :mod:`insights.lifecycle`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta

from insights.acquisition import Acquisition
from insights.engagement import RecentEngagement
from insights.errors import InsightsError, UnknownCurrency
from insights.lead import LeadSignals, lead_score
from insights.ledger import CUSTOMERS, ORDERS, from_minor, get_value, set_value
from insights.lifecycle import PopulationThresholds, population_thresholds
from insights.metrics import CENT, CustomerMetrics
from insights.nps import SupportSignals
from insights.profile import CustomerInsights, FieldValue, score
from insights.rfm import LifetimeValues
from mapping.config import InsightsConfig, InsightsSettings

__all__ = [
    "Scored",
    "aggregate_metrics",
    "all_customer_keys",
    "count_changes",
    "empty_metrics",
    "insight_fields",
    "lifetime_values",
    "load_population",
    "loyalty_tier",
    "refresh_population",
    "score_customers",
]

_CHUNK = 900
#: rows fetched at a time when a query walks every buyer
_STREAM_ROWS = 2000
_POPULATION = "insights:population:{tenant}"


def empty_metrics(settings: InsightsSettings) -> CustomerMetrics:
    """A registered customer without (non-cancelled) orders: a prospect."""
    zero = Decimal("0.00")
    return CustomerMetrics(settings.reporting_currency, zero, 0, zero, None, None, zero, ())


def _rate(settings: InsightsSettings, currency: str) -> Decimal:
    rate = settings.rate(currency)
    if rate is None:
        raise UnknownCurrency(currency, settings.reporting_currency)
    return rate


def _aggregate_query(tenant_id: str, window_start: datetime) -> sa.Select[Any]:
    net = ORDERS.c.total_minor - ORDERS.c.refunded_minor
    recent = sa.case((ORDERS.c.created_at >= window_start, net), else_=0)
    return (
        sa.select(
            ORDERS.c.customer_key,
            ORDERS.c.currency,
            sa.func.sum(net),
            sa.func.count(),
            sa.func.min(ORDERS.c.created_at),
            sa.func.max(ORDERS.c.created_at),
            sa.func.sum(recent),
        )
        .where(ORDERS.c.tenant_id == tenant_id, ORDERS.c.status != "cancelled")
        .group_by(ORDERS.c.customer_key, ORDERS.c.currency)
    )


def aggregate_metrics(
    conn: sa.Connection,
    tenant_id: str,
    *,
    now: datetime,
    settings: InsightsSettings,
    keys: Sequence[str] | None = None,
) -> tuple[dict[str, CustomerMetrics], dict[str, str]]:
    """Metrics of ``keys`` (all customers with orders when None) and per-customer errors.

    A customer with an order in a currency without a rate is left out and reported in the
    second mapping (key → message), so one bad order never stops the others.
    """
    window_start = now - relativedelta(months=settings.trailing_months)
    query = _aggregate_query(tenant_id, window_start)
    sums: dict[str, list[Any]] = {}
    errors: dict[str, str] = {}
    batches: Iterable[Sequence[str] | None] = (
        [None] if keys is None else (keys[i : i + _CHUNK] for i in range(0, len(keys), _CHUNK))
    )
    for batch in batches:
        q = query if batch is None else query.where(ORDERS.c.customer_key.in_(batch))
        for key, currency, net, count, first, last, recent in conn.execute(q):
            if key in errors:
                continue
            try:
                rate = _rate(settings, currency)
            except InsightsError as exc:
                errors[key] = str(exc)
                sums.pop(key, None)
                continue
            acc = sums.setdefault(key, [Decimal(0), 0, first, last, Decimal(0)])
            acc[0] += from_minor(int(net)) * rate
            acc[1] += int(count)
            acc[2] = min(acc[2], first)
            acc[3] = max(acc[3], last)
            acc[4] += from_minor(int(recent)) * rate
    out = {
        key: CustomerMetrics(
            currency=settings.reporting_currency,
            lifetime_value=ltv.quantize(CENT),
            order_count=count,
            average_order_value=(ltv / count).quantize(CENT),
            first_order_at=first,
            last_order_at=last,
            trailing_spend=recent.quantize(CENT),
            counted_orders=(),
        )
        for key, (ltv, count, first, last, recent) in sums.items()
    }
    return out, errors


def all_customer_keys(conn: sa.Connection, tenant_id: str) -> list[str]:
    """Every customer the insights know (registered or with orders)."""
    rows = conn.execute(
        sa.select(CUSTOMERS.c.customer_key).where(CUSTOMERS.c.tenant_id == tenant_id)
    )
    return sorted(r[0] for r in rows)


def _population_to_json(p: PopulationThresholds, size: int, now: datetime) -> str:
    return json.dumps(
        {
            "monetary": [str(v) for v in p.monetary],
            "high_value_above": str(p.high_value_above),
            "size": size,
            "changed": 0,
            "computed_at": now.isoformat(),
        }
    )


def load_population(
    conn: sa.Connection, tenant_id: str
) -> tuple[PopulationThresholds, dict[str, Any]] | None:
    """The stored population thresholds and their bookkeeping, or None."""
    raw = get_value(conn, _POPULATION.format(tenant=tenant_id))
    if raw is None:
        return None
    data = json.loads(raw)
    m = tuple(Decimal(v) for v in data["monetary"])
    thresholds = PopulationThresholds(
        monetary=(m[0], m[1], m[2], m[3]), high_value_above=Decimal(data["high_value_above"])
    )
    return thresholds, data


def lifetime_values(
    conn: sa.Connection, tenant_id: str, *, settings: InsightsSettings
) -> LifetimeValues:
    """Every buyer's lifetime value in the reporting currency: all the population's cut
    points need. Read in customer order, so one customer's sums are held at a time (not a
    :class:`CustomerMetrics` per buyer: about 1 KB each, 100 MB at 100,000 buyers), and
    kept as cents (:class:`~insights.rfm.LifetimeValues`: 8 bytes a buyer); a
    customer with an order in a currency without a rate is left out, as in
    :func:`aggregate_metrics`."""
    net = ORDERS.c.total_minor - ORDERS.c.refunded_minor
    query = (
        sa.select(ORDERS.c.customer_key, ORDERS.c.currency, sa.func.sum(net))
        .where(ORDERS.c.tenant_id == tenant_id, ORDERS.c.status != "cancelled")
        .group_by(ORDERS.c.customer_key, ORDERS.c.currency)
        .order_by(ORDERS.c.customer_key)
        .execution_options(yield_per=_STREAM_ROWS)
    )
    values = LifetimeValues()
    key: str | None = None
    total: Decimal | None = Decimal(0)  # None: this customer has a currency without a rate
    for row_key, currency, amount in conn.execute(query):
        if row_key != key:
            if key is not None and total is not None:
                values.append(total)
            key, total = row_key, Decimal(0)
        rate = settings.rate(currency)
        if total is not None:
            total = None if rate is None else total + from_minor(int(amount)) * rate
    if key is not None and total is not None:
        values.append(total)
    return values


def refresh_population(
    conn: sa.Connection,
    tenant_id: str,
    values: Sequence[Decimal] | None = None,
    *,
    now: datetime,
    settings: InsightsSettings,
) -> PopulationThresholds:
    """Recompute the quintile cut points from every buyer's lifetime value (``values``, read
    with :func:`lifetime_values` when None) and store them."""
    if values is None:
        values = lifetime_values(conn, tenant_id, settings=settings)
    thresholds = (
        population_thresholds(values, settings)
        if values
        else PopulationThresholds((Decimal(0),) * 4, Decimal(0))
    )
    set_value(
        conn,
        _POPULATION.format(tenant=tenant_id),
        _population_to_json(thresholds, len(values), now),
    )
    return thresholds


def count_changes(conn: sa.Connection, tenant_id: str, data: dict[str, Any], changed: int) -> None:
    """Add ``changed`` recomputed customers to the drift counter."""
    data = {**data, "changed": int(data.get("changed", 0)) + changed}
    set_value(conn, _POPULATION.format(tenant=tenant_id), json.dumps(data))


def loyalty_tier(metrics: CustomerMetrics, config: InsightsConfig) -> str:
    """Bronze → Silver → Gold → Platinum by lifetime value (``insights.loyalty``)."""
    ltv, tiers = metrics.lifetime_value, config.loyalty
    if ltv >= tiers.platinum:
        return "platinum"
    if ltv >= tiers.gold:
        return "gold"
    if ltv >= tiers.silver:
        return "silver"
    return "bronze"


def _plain(value: FieldValue) -> FieldValue:
    """JSON-safe: money as a decimal string, moments as ISO 8601 UTC text."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


@dataclass(frozen=True)
class Scored:
    """One customer's insights and the flat fields the CRM receives."""

    key: str
    insights: CustomerInsights
    fields: dict[str, FieldValue]


def insight_fields(
    ci: CustomerInsights,
    *,
    now: datetime,
    config: InsightsConfig,
    engagement: RecentEngagement | None = None,
) -> dict[str, FieldValue]:
    """:meth:`CustomerInsights.fields` (JSON-safe) plus lead score, lead tier, loyalty tier.

    The lead score uses the signals b2sync has: order activity, and the email opens and clicks
    read back from the CRM (:mod:`insights.engagement`) within the activity window.
    """
    e = engagement or RecentEngagement()
    moments = [m for m in (ci.metrics.last_order_at, e.last_engaged_at) if m is not None]
    support = ci.support
    signals = LeadSignals(
        last_activity_at=max(moments, default=None),
        recent_opens=e.opens,
        recent_clicks=e.clicks,
        nps_score=support.nps_score if support else None,
        open_tickets=support.open_tickets if support else 0,
    )
    lead = lead_score(signals, now=now, settings=config)
    return {
        **{k: _plain(v) for k, v in ci.fields().items()},
        "lead_score": lead.points,
        "lead_tier": lead.tier.value,
        "loyalty_tier": loyalty_tier(ci.metrics, config),
    }


def score_customers(
    keys: Iterable[str],
    metrics: dict[str, CustomerMetrics],
    b2b: dict[str, bool],
    *,
    population: PopulationThresholds,
    now: datetime,
    config: InsightsConfig,
    engagement: Mapping[str, RecentEngagement] | None = None,
    acquisitions: Mapping[str, Acquisition] | None = None,
    support: Mapping[str, SupportSignals] | None = None,
) -> list[Scored]:
    """Score each customer (prospects without orders included)."""
    empty = empty_metrics(config)
    recent = engagement or {}
    acquired = acquisitions or {}
    tickets = support or {}
    out: list[Scored] = []
    for key in keys:
        ci = score(
            metrics.get(key, empty),
            now,
            population,
            config,
            b2b.get(key, False),
            acquired.get(key),
            tickets.get(key),
        )
        fields = insight_fields(ci, now=now, config=config, engagement=recent.get(key))
        out.append(Scored(key, ci, fields))
    return out
