"""The monthly CRM report's figures, computed from the ledger and the store (no I/O beyond it).

Definitions (``docs/insights.md``):

- *base*: customers with an order before the month who were not churned at its start (last
  order at most ``churned_days`` before it).
- *churn rate*: share of the base churned at the month's end; *retention rate* = 1 − churn.
- *LTV*: average lifetime value of all buyers at the month's end.
- *repeat-purchase rate*: share of buyers with two or more orders at the month's end.
- *cohorts*: customers by first-order month; ``Mk`` = share of the cohort ordering in the k-th
  month after it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from insights.engagement import has_engagement, month_email
from insights.history import History, month_start, months_back
from insights.lifecycle import LifecycleStage
from insights.profile import CustomerInsights
from insights.report.acquisition import AcquisitionSection, acquisition_section
from insights.segments import Segment
from insights.support import has_support, month_support
from mapping.config import InsightsConfig
from store.models import metadata

__all__ = [
    "ACTIONS",
    "COHORT_OFFSETS",
    "Kpi",
    "MonthlyReport",
    "SegmentRow",
    "build_report",
    "parse_month",
]

COHORT_OFFSETS = (1, 2, 3, 6, 12)
TREND_MONTHS = 6

#: what the playbook suggests for each RFM segment
ACTIONS: Mapping[str, str] = {
    Segment.CHAMPIONS: "Reward; ask for reviews and referrals",
    Segment.LOYAL: "Upsell; invite to the loyalty programme",
    Segment.POTENTIAL_LOYALISTS: "Offer membership or a second-purchase incentive",
    Segment.NEW_CUSTOMERS: "Onboarding series; first-month support",
    Segment.PROMISING: "Build awareness; free shipping on the next order",
    Segment.NEED_ATTENTION: "Limited-time, personalised offers",
    Segment.ABOUT_TO_SLEEP: "Reactivation email with popular products",
    Segment.AT_RISK: "Win-back campaign and a personal call",
    Segment.HIBERNATING: "Low-cost reactivation; otherwise let go",
    Segment.LOST: "Archive per policy; exclude from paid campaigns",
}


def parse_month(text: str) -> datetime:
    """``YYYY-MM`` → the first instant of that month (UTC); ``ValueError`` otherwise."""
    try:
        year, month = (int(part) for part in text.split("-"))
        return month_start(year, month)
    except ValueError:
        raise ValueError(f"'{text}' is not a month; use YYYY-MM, e.g. 2026-11") from None


@dataclass(frozen=True)
class Kpi:
    """One summary figure: this month, last month, the target (None: no data)."""

    name: str
    value: float | None
    previous: float | None
    target: float | None
    unit: str  # "%", "money", "score", "count", "ratio"

    @property
    def delta(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous


@dataclass(frozen=True)
class SegmentRow:
    """An RFM segment's size now, last month, and over the trend window."""

    segment: str
    size: int
    previous: int
    history: tuple[int, ...]
    action: str

    @property
    def trend(self) -> str:
        change = self.size - self.previous
        if abs(change) <= max(1, self.previous // 20):
            return "→"
        return "↑" if change > 0 else "↓"


@dataclass
class MonthlyReport:
    """Everything the Markdown and HTML renderings show."""

    month: str
    currency: str
    generated_at: datetime
    kpis: list[Kpi]
    cohorts: list[tuple[str, int, list[float | None]]]
    segments: list[SegmentRow]
    trend_months: list[str]
    churn: dict[str, Any]
    email: str
    sync: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    #: delivered, open rate, click rate (empty: the CRMs share no engagement)
    email_kpis: list[Kpi] = field(default_factory=list)
    #: CAC, net LTV and LTV:CAC per cohort and channel (None: no marketing spend configured)
    acquisition: AcquisitionSection | None = None
    #: the support section's note and figures (empty: no CRM shares tickets or NPS answers)
    support: str = ""
    support_kpis: list[Kpi] = field(default_factory=list)


def _month_label(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


def _rates(
    history: History, start: datetime, end: datetime, churned_days: int
) -> tuple[float | None, float | None]:
    """(retention, churn) over ``[start, end)``; None without a base."""
    limit = timedelta(days=churned_days)
    base = churned = 0
    for dates in history.dates.values():
        before = [d for d in dates if d < start]
        if not before or start - before[-1] > limit:
            continue
        base += 1
        last = max(d for d in dates if d < end)
        churned += end - last > limit
    if not base:
        return None, None
    return 1 - churned / base, churned / base


def _buyer_kpis(insights: Mapping[str, CustomerInsights]) -> tuple[float | None, float | None]:
    if not insights:
        return None, None
    ltv = sum((i.metrics.lifetime_value for i in insights.values()), Decimal(0)) / len(insights)
    repeat = sum(1 for i in insights.values() if i.metrics.repeat_purchaser) / len(insights)
    return float(ltv), repeat


def _cohorts(history: History, month: datetime) -> list[tuple[str, int, list[float | None]]]:
    end = months_back(month, -1)
    groups: dict[datetime, list[str]] = {}
    for key, first in history.first_orders().items():
        cohort = month_start(first.year, first.month)
        if months_back(month, 11) <= cohort < end:
            groups.setdefault(cohort, []).append(key)
    rows: list[tuple[str, int, list[float | None]]] = []
    for cohort in sorted(groups):
        keys = groups[cohort]
        cells: list[float | None] = []
        for k in COHORT_OFFSETS:
            start = months_back(cohort, -k)
            if start >= end:
                cells.append(None)
                continue
            stop = months_back(start, -1)
            kept = sum(1 for key in keys if history.ordered_between(key, start, stop))
            cells.append(kept / len(keys))
        rows.append((_month_label(cohort), len(keys), cells))
    return rows


def _sync_health(conn: sa.Connection, start: datetime, end: datetime) -> dict[str, Any]:
    runs = metadata.tables["runs"]
    dead = metadata.tables["dead_letters"]
    erasures = metadata.tables["erasure_requests"]
    in_month = (runs.c.started_at >= start, runs.c.started_at < end)
    by_status = Counter(
        {
            str(status): int(n)
            for status, n in conn.execute(
                sa.select(runs.c.status, sa.func.count()).where(*in_month).group_by(runs.c.status)
            )
        }
    )
    totals = conn.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(runs.c.records_written), 0),
            sa.func.coalesce(sa.func.sum(runs.c.records_failed), 0),
            sa.func.coalesce(sa.func.sum(runs.c.api_calls), 0),
        ).where(*in_month)
    ).one()
    open_dead = conn.execute(
        sa.select(sa.func.count()).select_from(dead).where(dead.c.status == "pending")
    ).scalar_one()
    erased = Counter(
        {
            str(status): int(n)
            for status, n in conn.execute(
                sa.select(erasures.c.status, sa.func.count())
                .where(erasures.c.requested_at >= start, erasures.c.requested_at < end)
                .group_by(erasures.c.status)
            )
        }
    )
    return {
        "runs": sum(by_status.values()),
        "runs_by_status": dict(sorted(by_status.items())),
        "records_written": int(totals[0]),
        "records_failed": int(totals[1]),
        "api_calls": int(totals[2]),
        "dead_letters_open": int(open_dead),
        "erasures": sum(erased.values()),
        "erasures_by_status": dict(sorted(erased.items())),
    }


def build_report(
    conn: sa.Connection, tenant_id: str, month: datetime, config: InsightsConfig, now: datetime
) -> MonthlyReport:
    """The report of ``month`` (its first instant) for one tenant."""
    history = History.load(conn, tenant_id, config)
    end, prev_start = months_back(month, -1), months_back(month, 1)
    as_of = min(end, now)
    months = [months_back(month, n) for n in range(TREND_MONTHS - 1, -1, -1)]
    snapshots = {m: history.insights_at(min(months_back(m, -1), now)) for m in months}
    current, previous = snapshots[month], snapshots.get(prev_start) or history.insights_at(month)
    retention, churn_rate = _rates(history, month, as_of, config.churned_days)
    prev_retention, prev_churn = _rates(history, prev_start, month, config.churned_days)
    ltv, repeat = _buyer_kpis(current)
    prev_ltv, prev_repeat = _buyer_kpis(previous)
    targets = config.targets
    kpis = [
        Kpi("Retention rate", retention, prev_retention, targets.retention_rate, "%"),
        Kpi("Churn rate", churn_rate, prev_churn, targets.churn_rate, "%"),
        Kpi("Average LTV", ltv, prev_ltv, float(targets.average_ltv), "money"),
        Kpi("Repeat-purchase rate", repeat, prev_repeat, targets.repeat_purchase_rate, "%"),
    ]
    support_note, support_kpis, nps = _support(conn, tenant_id, month, end, prev_start)
    kpis.append(Kpi("NPS", nps[0], nps[1], float(targets.nps), "score"))
    acquisition = acquisition_section(history, month, current, previous, config)
    kpis += [
        Kpi(
            "CAC (new customers)",
            acquisition.cac if acquisition else None,
            acquisition.previous_cac if acquisition else None,
            None,
            "money",
        ),
        Kpi(
            "LTV:CAC",
            acquisition.ratio if acquisition else None,
            acquisition.previous_ratio if acquisition else None,
            float(targets.ltv_cac_ratio),
            "ratio",
        ),
    ]
    sizes = {
        m: Counter(i.rfm.segment.value for i in s.values() if i.rfm) for m, s in snapshots.items()
    }
    segments = [
        SegmentRow(
            seg.value,
            sizes[month][seg.value],
            sizes[prev_start][seg.value],
            tuple(sizes[m][seg.value] for m in months),
            ACTIONS[seg],
        )
        for seg in Segment
    ]
    churned_now = [
        k
        for k, i in current.items()
        if i.stage is LifecycleStage.CHURNED
        and (k not in previous or previous[k].stage is not LifecycleStage.CHURNED)
    ]
    from_segment: Counter[str] = Counter()
    for key in churned_now:
        before = previous.get(key)
        if before is not None and before.rfm is not None:
            from_segment[before.rfm.segment.value] += 1
    lost_value = sum((current[k].metrics.lifetime_value for k in churned_now), Decimal(0))
    at_risk = sum(1 for i in current.values() if i.stage is LifecycleStage.AT_RISK)
    churn = {
        "churned": len(churned_now),
        "lost_ltv": float(lost_value),
        "from_segment": dict(from_segment.most_common()),
        "at_risk_now": at_risk,
    }
    email, email_kpis = _email(conn, tenant_id, month, end, prev_start)
    notes = (
        [f"{history.skipped} orders in currencies without a rate were left out."]
        if history.skipped
        else []
    )
    return MonthlyReport(
        month=_month_label(month),
        currency=config.reporting_currency,
        generated_at=now,
        kpis=kpis,
        cohorts=_cohorts(history, month),
        segments=segments,
        trend_months=[_month_label(m) for m in months],
        churn=churn,
        email=email,
        sync=_sync_health(conn, month, end),
        notes=notes,
        email_kpis=email_kpis,
        acquisition=acquisition,
        support=support_note,
        support_kpis=support_kpis,
    )


def _email(
    conn: sa.Connection, tenant_id: str, month: datetime, end: datetime, prev_start: datetime
) -> tuple[str, list[Kpi]]:
    """The email section: a note and the month's figures (none without engagement data)."""
    if not has_engagement(conn, tenant_id):
        note = (
            "No data: no connected CRM has shared email engagement (opens, clicks) with "
            "b2sync yet, so email performance cannot be reported here."
        )
        return note, []
    now, before = (
        month_email(conn, tenant_id, month, end),
        month_email(conn, tenant_id, prev_start, month),
    )
    kpis = [
        Kpi("Emails delivered", float(now.delivered), float(before.delivered), None, "count"),
        Kpi("Emails opened", float(now.opens), float(before.opens), None, "count"),
        Kpi("Emails clicked", float(now.clicks), float(before.clicks), None, "count"),
        Kpi("Open rate", now.open_rate, before.open_rate, None, "%"),
        Kpi("Click rate", now.click_rate, before.click_rate, None, "%"),
    ]
    note = (
        "Marketing emails of the customers linked in the CRM, read back from its engagement "
        "counters; rates are per delivered email."
    )
    return note, kpis


def _support(
    conn: sa.Connection, tenant_id: str, month: datetime, end: datetime, prev_start: datetime
) -> tuple[str, list[Kpi], tuple[float | None, float | None]]:
    """The support section's note and figures, and (NPS this month, last month)."""
    if not has_support(conn, tenant_id):
        note = (
            "No data: no connected CRM has shared support tickets or NPS answers with b2sync "
            "yet, so NPS and ticket load cannot be reported here."
        )
        return note, [], (None, None)
    now, before = (
        month_support(conn, tenant_id, month, end),
        month_support(conn, tenant_id, prev_start, month),
    )
    kpis = [
        Kpi("NPS answers", float(now.answers), float(before.answers), None, "count"),
        Kpi("NPS", now.nps, before.nps, None, "score"),
        Kpi("Tickets opened", float(now.opened), float(before.opened), None, "count"),
    ]
    note = (
        f"Tickets (HubSpot tickets, Salesforce Cases) and NPS answers (HubSpot feedback "
        f"submissions) of the customers linked in the CRMs. Open now: {now.open_now} tickets "
        f"of {now.customers_with_open} customers. NPS = % promoters (9-10) - % detractors "
        "(0-6) of the month's answers."
    )
    return note, kpis, (now.nps, before.nps)
