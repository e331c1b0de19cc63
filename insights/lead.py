"""The lead score of the retention playbook: fit, engagement and intent points, then a tier.

Points (``settings.lead_points``): job title / company size / industry fit +20/+15/+15;
each email open +5 and each click +10 within the last 30 days; content download +15; demo
request +50; pricing page visit +30; unsubscribe −50; no activity for 30 days −20.
Tiers: Hot 80+, Warm 50–79, Cold 20–49, Inactive below 20. Scores are not clamped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from insights.nps import nps_category
from mapping.config import DEFAULT_SETTINGS, InsightsSettings, LeadTiers

__all__ = ["LeadScore", "LeadSignals", "LeadTier", "lead_score", "lead_tier"]


class LeadTier(StrEnum):
    """Lead temperature."""

    HOT = "hot"
    WARM = "warm"
    COLD = "cold"
    INACTIVE = "inactive"


@dataclass(frozen=True, slots=True)
class LeadSignals:
    """What the CRM and B2Connect know about a lead (read back by the engine).

    Opens and clicks are event times; only those within ``lead_activity_days`` of ``now``
    count (or counts already windowed: ``recent_opens``, ``recent_clicks``). ``last_activity_at`` is any other activity the CRM reports; the latest of it and
    the events decides "no activity".
    """

    job_title_fit: bool = False
    company_size_fit: bool = False
    industry_fit: bool = False
    email_opens: tuple[datetime, ...] = ()
    email_clicks: tuple[datetime, ...] = ()
    content_download: bool = False
    demo_request: bool = False
    pricing_page_visit: bool = False
    unsubscribed: bool = False
    last_activity_at: datetime | None = None
    #: opens and clicks already counted within the window (the engagement table's sums)
    recent_opens: int = 0
    recent_clicks: int = 0
    #: the last NPS answer and the open support tickets (points off unless configured)
    nps_score: int | None = None
    open_tickets: int = 0


@dataclass(frozen=True, slots=True)
class LeadScore:
    """The score, its tier and the rules that contributed (for ``insights show``)."""

    points: int
    tier: LeadTier
    breakdown: tuple[tuple[str, int], ...]


def lead_tier(points: int, tiers: LeadTiers | None = None) -> LeadTier:
    """Hot at 80+, Warm 50–79, Cold 20–49, else Inactive (default thresholds)."""
    tiers = tiers or DEFAULT_SETTINGS.lead_tiers
    if points >= tiers.hot:
        return LeadTier.HOT
    if points >= tiers.warm:
        return LeadTier.WARM
    if points >= tiers.cold:
        return LeadTier.COLD
    return LeadTier.INACTIVE


def lead_score(
    signals: LeadSignals, *, now: datetime, settings: InsightsSettings = DEFAULT_SETTINGS
) -> LeadScore:
    """Add up the points table for one lead."""
    table = settings.lead_points
    window = timedelta(days=settings.lead_activity_days)

    def recent(events: tuple[datetime, ...]) -> int:
        return sum(1 for at in events if timedelta(0) <= now - at <= window)

    parts: list[tuple[str, int]] = []
    flags = (
        ("job_title_fit", signals.job_title_fit, table.job_title_fit),
        ("company_size_fit", signals.company_size_fit, table.company_size_fit),
        ("industry_fit", signals.industry_fit, table.industry_fit),
        ("content_download", signals.content_download, table.content_download),
        ("demo_request", signals.demo_request, table.demo_request),
        ("pricing_page_visit", signals.pricing_page_visit, table.pricing_page_visit),
        ("unsubscribe", signals.unsubscribed, table.unsubscribe),
    )
    parts.extend((name, points) for name, on, points in flags if on)
    opens = recent(signals.email_opens) + signals.recent_opens
    clicks = recent(signals.email_clicks) + signals.recent_clicks
    if opens:
        parts.append(("email_opens", opens * table.email_open))
    if clicks:
        parts.append(("email_clicks", clicks * table.email_click))
    category = nps_category(signals.nps_score)
    if category == "promoter" and table.nps_promoter:
        parts.append(("nps_promoter", table.nps_promoter))
    if category == "detractor" and table.nps_detractor:
        parts.append(("nps_detractor", table.nps_detractor))
    if signals.open_tickets and table.open_ticket:
        parts.append(("open_tickets", signals.open_tickets * table.open_ticket))
    moments = [*signals.email_opens, *signals.email_clicks]
    if signals.last_activity_at is not None:
        moments.append(signals.last_activity_at)
    latest = max((m for m in moments if m <= now), default=None)
    if latest is None or now - latest > window:
        parts.append(("no_activity", table.no_activity))
    points = sum(p for _, p in parts)
    return LeadScore(
        points=points, tier=lead_tier(points, settings.lead_tiers), breakdown=tuple(parts)
    )
