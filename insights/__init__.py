"""Retention insights: pure computations over orders, no I/O.

Metrics → RFM scores and segments → lifecycle stage, VIP flag, playbook segments; plus
the lead score. Every threshold lives in :class:`InsightsSettings`.
"""

from __future__ import annotations

from insights.errors import InsightsError, InvalidOrder, SpendError, UnknownCurrency
from insights.lead import LeadScore, LeadSignals, LeadTier, lead_score, lead_tier
from insights.lifecycle import (
    CustomerSegment,
    LifecycleStage,
    PopulationThresholds,
    customer_segments,
    is_b2b,
    is_vip,
    lifecycle_stage,
    population_thresholds,
)
from insights.metrics import CustomerMetrics, customer_metrics, to_reporting
from insights.orders import OrderFact, order_fact
from insights.profile import CustomerInsights, customer_insights
from insights.rfm import (
    MonetaryThresholds,
    RfmScore,
    frequency_score,
    monetary_quintiles,
    monetary_score,
    recency_score,
    rfm_score,
)
from insights.segments import SEGMENT_TABLE, Segment, render_segment_table, segment_for
from mapping.config import DEFAULT_SETTINGS, InsightsSettings, LeadPoints, LeadTiers

__all__ = [
    "DEFAULT_SETTINGS",
    "SEGMENT_TABLE",
    "CustomerInsights",
    "CustomerMetrics",
    "CustomerSegment",
    "InsightsError",
    "InsightsSettings",
    "InvalidOrder",
    "LeadPoints",
    "LeadScore",
    "LeadSignals",
    "LeadTier",
    "LeadTiers",
    "LifecycleStage",
    "MonetaryThresholds",
    "OrderFact",
    "PopulationThresholds",
    "RfmScore",
    "Segment",
    "SpendError",
    "UnknownCurrency",
    "customer_insights",
    "customer_metrics",
    "customer_segments",
    "frequency_score",
    "is_b2b",
    "is_vip",
    "lead_score",
    "lead_tier",
    "lifecycle_stage",
    "monetary_quintiles",
    "monetary_score",
    "order_fact",
    "population_thresholds",
    "recency_score",
    "render_segment_table",
    "rfm_score",
    "segment_for",
    "to_reporting",
]
