"""Explain one customer's scores: which orders count, which thresholds decided each score."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from insights.acquisition import Acquisition
from insights.compute import insight_fields, loyalty_tier
from insights.engagement import RecentEngagement
from insights.lead import LeadSignals, lead_score
from insights.lifecycle import PopulationThresholds, unhappy
from insights.metrics import customer_metrics, to_reporting
from insights.nps import SupportSignals
from insights.orders import OrderFact
from insights.profile import CustomerInsights, score
from mapping.config import InsightsConfig

__all__ = ["explain"]


def _age(now: datetime, moment: datetime | None) -> str:
    if moment is None:
        return "never"
    days = (now - moment) / timedelta(days=1)
    return f"{days:.1f} days ago"


def _acquisition_lines(ci: CustomerInsights, config: InsightsConfig) -> list[str]:
    acq, ltv = ci.acquisition, ci.metrics.lifetime_value
    if config.marketing_spend is None:
        return ["Acquisition: no marketing spend configured (insights.marketing_spend)"]
    if acq is None:
        return ["Acquisition: none (no counted orders)"]
    cac = "unknown until the next full pass" if acq.cac is None else str(acq.cac)
    ratio = acq.ratio(ltv)
    shown = "—" if ratio is None else f"{ratio:.1f} : 1"
    return [
        f"Acquisition: cohort {acq.month}, channel {acq.channel} (source of the first order); "
        f"CAC {cac} (spend / new customers of that cohort and channel)",
        f"  net LTV {acq.net_ltv(ltv) if acq.cac is not None else '—'} (LTV {ltv} − CAC) · "
        f"LTV:CAC {shown} (target {config.targets.ltv_cac_ratio} : 1)",
    ]


def _support_lines(ci: CustomerInsights, config: InsightsConfig) -> list[str]:
    s = ci.support
    if s is None:
        return ["Support: no tickets or NPS answers in the CRMs"]
    nps = "no answer" if s.nps_score is None else f"{s.nps_score} ({s.nps_category})"
    rule = config.churn_risk_signals
    return [
        f"Support: {s.open_tickets} open tickets, {s.recent_tickets} in the last "
        f"{config.support_days} days · last NPS {nps}",
        f"  churn risk when NPS < {rule.nps_below} or open tickets ≥ "
        f"{rule.open_tickets_at_least}: {'yes' if unhappy(s, config) else 'no'}",
    ]


def explain(
    key: str,
    orders: Sequence[OrderFact],
    *,
    population: PopulationThresholds,
    b2b: bool,
    now: datetime,
    config: InsightsConfig,
    engagement: RecentEngagement | None = None,
    acquisition: Acquisition | None = None,
    support: SupportSignals | None = None,
) -> list[str]:
    """Lines of text (plain, no personal data beyond the customer key)."""
    cur = config.reporting_currency
    metrics = customer_metrics(orders, now=now, settings=config)
    ci = score(metrics, now, population, config, b2b, acquisition, support)
    fields = insight_fields(ci, now=now, config=config, engagement=engagement)
    out = [f"Customer {key} — insights as of {now:%Y-%m-%d %H:%M} UTC (money in {cur})", ""]
    out.append("Orders (cancelled ones never count; net = total − refunds):")
    for o in orders:
        mark = "  " if o.cancelled else "✓ "
        net = "—" if o.cancelled else f"{to_reporting(o.net, o.currency, config):.2f}"
        out.append(
            f"  {mark}{o.order_id}  {o.created_at:%Y-%m-%d}  {o.status:<10} "
            f"{o.total:>10} {o.currency}  refunded {o.refunded}  net {net} {cur}"
        )
    if not orders:
        out.append("  (none)")
    m = metrics
    out += [
        "",
        f"Lifetime value {m.lifetime_value} · orders {m.order_count} · AOV {m.average_order_value}",
        f"First order {_age(now, m.first_order_at)} · last order {_age(now, m.last_order_at)}",
        f"Spend in the last {config.trailing_months} months: {m.trailing_spend}",
        "",
    ]
    r_days, f_orders = config.recency_days, config.frequency_orders
    q = ", ".join(str(v) for v in population.monetary)
    if ci.rfm is None:
        out.append("RFM: none (no counted orders)")
    else:
        out += [
            f"RFM {ci.rfm.code} → {ci.rfm.segment.value}",
            f"  R{ci.rfm.recency}: last order {_age(now, m.last_order_at)}; bands < {r_days[0]}, "
            f"≤ {r_days[1]}, ≤ {r_days[2]}, ≤ {r_days[3]} days, else R1",
            f"  F{ci.rfm.frequency}: {m.order_count} orders; F2..F5 from {list(f_orders)} orders",
            f"  M{ci.rfm.monetary}: LTV {m.lifetime_value} vs population cut points [{q}]",
        ]
    out += [
        f"Lifecycle stage: {ci.stage.value} (at risk after {config.at_risk_days} days without "
        f"an order, churned after {config.churned_days})",
        f"VIP: {'yes' if ci.vip else 'no'} (12-month spend {m.trailing_spend} vs threshold "
        f"{config.vip_threshold})",
        f"Segments: {fields['segments'] or 'none'} (High-Value above LTV "
        f"{population.high_value_above})",
        f"Loyalty tier: {loyalty_tier(m, config)} (silver ≥ {config.loyalty.silver}, gold ≥ "
        f"{config.loyalty.gold}, platinum ≥ {config.loyalty.platinum})",
    ]
    out += _acquisition_lines(ci, config)
    out += _support_lines(ci, config)
    e = engagement or RecentEngagement()
    moments = [t for t in (m.last_order_at, e.last_engaged_at) if t is not None]
    signals = LeadSignals(
        last_activity_at=max(moments, default=None),
        recent_opens=e.opens,
        recent_clicks=e.clicks,
        nps_score=support.nps_score if support else None,
        open_tickets=support.open_tickets if support else 0,
    )
    lead = lead_score(signals, now=now, settings=config)
    parts = ", ".join(f"{name} {points:+d}" for name, points in lead.breakdown) or "no signals"
    out.append(f"Lead score: {lead.points} ({lead.tier.value}): {parts}")
    return out
