"""Lifecycle stage, VIP flag and the playbook's customer segments.

Stages: Prospect (registered, no order) → Customer (first purchase) → Active (repeat
purchases) → At-Risk (no purchase for more than 90 days) → Churned (more than 180 days).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from insights.errors import InsightsError
from insights.metrics import CustomerMetrics
from insights.nps import SupportSignals
from insights.rfm import (
    MonetaryThresholds,
    RfmScore,
    ascending,
    monetary_quintiles,
    percentile_threshold,
)
from mapping.config import DEFAULT_SETTINGS, InsightsSettings

__all__ = [
    "B2B_CUSTOMER_TYPES",
    "CustomerSegment",
    "LifecycleStage",
    "PopulationThresholds",
    "customer_segments",
    "is_b2b",
    "is_vip",
    "lifecycle_stage",
    "population_thresholds",
]

B2B_CUSTOMER_TYPES = frozenset({"Business", "Government", "NonProfit", "Reseller", "Distributor"})


class LifecycleStage(StrEnum):
    """Where a customer stands; the value is what the YAML maps to the CRM."""

    PROSPECT = "prospect"
    CUSTOMER = "customer"
    ACTIVE = "active"
    AT_RISK = "at_risk"
    CHURNED = "churned"


class CustomerSegment(StrEnum):
    """Playbook segments; a customer may be in several at once."""

    HIGH_VALUE = "high_value"
    GROWTH_POTENTIAL = "growth_potential"
    CHURN_RISK = "churn_risk"
    NEW = "new"
    B2B = "b2b"


@dataclass(frozen=True, slots=True)
class PopulationThresholds:
    """Cut-offs that depend on every customer: computed once per run, passed to each one."""

    monetary: MonetaryThresholds
    high_value_above: Decimal
    """Lifetime value strictly above this is High-Value (top 20 % by default)."""


def population_thresholds(
    lifetime_values: Iterable[Decimal], settings: InsightsSettings = DEFAULT_SETTINGS
) -> PopulationThresholds:
    """Monetary quintiles and the High-Value cut-off from all buyers' lifetime values."""
    ordered = ascending(lifetime_values)
    if not ordered:
        raise InsightsError("population thresholds need at least one customer with orders")
    return PopulationThresholds(
        monetary=monetary_quintiles(ordered, settings),
        high_value_above=percentile_threshold(ordered, 100 - settings.high_value_percent),
    )


def lifecycle_stage(
    metrics: CustomerMetrics, *, now: datetime, settings: InsightsSettings = DEFAULT_SETTINGS
) -> LifecycleStage:
    """The customer's stage; inactivity wins over repeat purchases (Active → At-Risk)."""
    age = metrics.days_since_last_order(now)
    if age is None:
        return LifecycleStage.PROSPECT
    if age > timedelta(days=settings.churned_days):
        return LifecycleStage.CHURNED
    if age > timedelta(days=settings.at_risk_days):
        return LifecycleStage.AT_RISK
    return LifecycleStage.ACTIVE if metrics.repeat_purchaser else LifecycleStage.CUSTOMER


def is_vip(metrics: CustomerMetrics, settings: InsightsSettings = DEFAULT_SETTINGS) -> bool:
    """Trailing-12-month spend reaches the VIP threshold (1,000 in the reporting currency)."""
    return metrics.trailing_spend >= settings.vip_threshold


def is_b2b(customer: Mapping[str, Any]) -> bool:
    """A canonical customer (or company) record that belongs to a business account."""
    if customer.get("companyId"):
        return True
    return customer.get("customerType") in B2B_CUSTOMER_TYPES


def unhappy(support: SupportSignals | None, settings: InsightsSettings) -> bool:
    """Does the support picture alone make the customer a churn risk?"""
    if support is None:
        return False
    rule = settings.churn_risk_signals
    low_nps = (
        rule.nps_below is not None
        and support.nps_score is not None
        and support.nps_score < rule.nps_below
    )
    tickets = rule.open_tickets_at_least
    return low_nps or (tickets is not None and support.open_tickets >= tickets)


def customer_segments(
    metrics: CustomerMetrics,
    *,
    now: datetime,
    rfm: RfmScore | None,
    population: PopulationThresholds,
    b2b: bool = False,
    settings: InsightsSettings = DEFAULT_SETTINGS,
    support: SupportSignals | None = None,
) -> frozenset[CustomerSegment]:
    """The playbook segments the customer belongs to.

    - High-Value: lifetime value in the top ``high_value_percent`` % of the population.
    - Growth Potential: not High-Value, RFM segment in ``settings.growth_segments``.
    - Churn-Risk (declining activity): stage At-Risk, or RFM segment in
      ``settings.churn_risk_segments``, or an unhappy customer (``churn_risk_signals``: last
      NPS answer below ``nps_below``, ``open_tickets_at_least`` open tickets); never once
      churned.
    - New: first order at most ``new_days`` days ago.
    - B2B: the caller says the record is a business account (see :func:`is_b2b`).
    """
    found: set[CustomerSegment] = {CustomerSegment.B2B} if b2b else set()
    if metrics.first_order_at is None:
        return frozenset(found)
    high_value = metrics.lifetime_value > population.high_value_above
    if high_value:
        found.add(CustomerSegment.HIGH_VALUE)
    segment = rfm.segment if rfm is not None else None
    if not high_value and segment in settings.growth_segments:
        found.add(CustomerSegment.GROWTH_POTENTIAL)
    stage = lifecycle_stage(metrics, now=now, settings=settings)
    if stage is not LifecycleStage.CHURNED and (
        stage is LifecycleStage.AT_RISK
        or segment in settings.churn_risk_segments
        or unhappy(support, settings)
    ):
        found.add(CustomerSegment.CHURN_RISK)
    if now - metrics.first_order_at <= timedelta(days=settings.new_days):
        found.add(CustomerSegment.NEW)
    return frozenset(found)
