"""One customer's complete insights, and the flat fields the engine maps to the CRM.

The engine nests :meth:`CustomerInsights.fields` under ``"insights"`` in the customer
record, so the YAML reads them as ``insights.ltv``, ``insights.rfm_segment`` and so on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from insights.acquisition import Acquisition
from insights.lifecycle import (
    CustomerSegment,
    LifecycleStage,
    PopulationThresholds,
    customer_segments,
    is_vip,
    lifecycle_stage,
)
from insights.metrics import CustomerMetrics, OrderInput, customer_metrics
from insights.nps import SupportSignals
from insights.rfm import RfmScore, rfm_score
from mapping.config import DEFAULT_SETTINGS, INSIGHT_FIELDS, InsightsSettings

__all__ = ["FIELD_NAMES", "CustomerInsights", "FieldValue", "customer_insights", "score"]

FieldValue = Decimal | datetime | int | bool | str | None

#: the insights a customer's profile holds: every ``insights.*`` source field but the lead
#: score's three, which :func:`score` adds
FIELD_NAMES: tuple[str, ...] = tuple(
    n for n in INSIGHT_FIELDS if n not in ("lead_score", "lead_tier", "loyalty_tier")
)
"""Every key of :meth:`CustomerInsights.fields`, in a stable order."""


@dataclass(frozen=True, slots=True)
class CustomerInsights:
    """Metrics, RFM, stage, VIP flag and segments of one customer."""

    metrics: CustomerMetrics
    rfm: RfmScore | None
    stage: LifecycleStage
    vip: bool
    segments: frozenset[CustomerSegment]
    #: cohort, channel and CAC (None: no marketing spend configured, or no order)
    acquisition: Acquisition | None = None
    #: tickets and the last NPS answer read back from the CRMs (None: nothing known)
    support: SupportSignals | None = None

    def fields(self) -> dict[str, FieldValue]:
        """Flat, CRM-ready values; ``segments`` is ``;``-joined and sorted (multi-select)."""
        m, rfm, acq = self.metrics, self.rfm, self.acquisition
        sup = self.support or SupportSignals()
        return {
            "currency": m.currency,
            "ltv": m.lifetime_value,
            "order_count": m.order_count,
            "aov": m.average_order_value,
            "first_order_at": m.first_order_at,
            "last_order_at": m.last_order_at,
            "trailing_12m_spend": m.trailing_spend,
            "repeat_purchaser": m.repeat_purchaser,
            "rfm_recency": rfm.recency if rfm else None,
            "rfm_frequency": rfm.frequency if rfm else None,
            "rfm_monetary": rfm.monetary if rfm else None,
            "rfm_code": rfm.code if rfm else None,
            "rfm_segment": rfm.segment.value if rfm else None,
            "lifecycle_stage": self.stage.value,
            "vip": self.vip,
            "segments": ";".join(sorted(s.value for s in self.segments)),
            "acquisition_channel": acq.channel if acq else None,
            "cac": acq.cac if acq else None,
            "net_ltv": acq.net_ltv(m.lifetime_value) if acq else None,
            "ltv_cac_ratio": acq.ratio(m.lifetime_value) if acq else None,
            "open_tickets": sup.open_tickets,
            "recent_tickets": sup.recent_tickets,
            "nps_score": sup.nps_score,
            "nps_category": sup.nps_category,
        }


def customer_insights(
    orders: Iterable[OrderInput],
    *,
    now: datetime,
    population: PopulationThresholds,
    b2b: bool = False,
    settings: InsightsSettings = DEFAULT_SETTINGS,
) -> CustomerInsights:
    """Score one customer from their orders against this run's population thresholds.

    Raises:
        UnknownCurrency: a counted order's currency has no rate (dead-letter the customer).
        InvalidOrder: an order is malformed.
    """
    metrics = customer_metrics(orders, now=now, settings=settings)
    return score(metrics, now, population, settings, b2b)


def score(
    metrics: CustomerMetrics,
    now: datetime,
    population: PopulationThresholds,
    settings: InsightsSettings,
    b2b: bool = False,
    acquisition: Acquisition | None = None,
    support: SupportSignals | None = None,
) -> CustomerInsights:
    """Score one customer's metrics (orders already summed: the report, ``insights show``)."""
    rfm = rfm_score(metrics, now=now, thresholds=population.monetary, settings=settings)
    return CustomerInsights(
        metrics=metrics,
        rfm=rfm,
        stage=lifecycle_stage(metrics, now=now, settings=settings),
        vip=is_vip(metrics, settings),
        segments=customer_segments(
            metrics,
            now=now,
            rfm=rfm,
            population=population,
            b2b=b2b,
            settings=settings,
            support=support,
        ),
        acquisition=acquisition,
        support=support,
    )
