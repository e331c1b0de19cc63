"""The lead score points table and tiers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from insights import InsightsSettings, LeadPoints, LeadSignals, LeadTier, lead_score, lead_tier
from tests.insights.factories import NOW

ACTIVE = NOW - timedelta(days=1)


def score(**signals: object) -> int:
    signals.setdefault("last_activity_at", ACTIVE)
    return lead_score(LeadSignals(**signals), now=NOW).points  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("signal", "points"),
    [
        ("job_title_fit", 20),
        ("company_size_fit", 15),
        ("industry_fit", 15),
        ("content_download", 15),
        ("demo_request", 50),
        ("pricing_page_visit", 30),
        ("unsubscribed", -50),
    ],
)
def test_single_signal_points(signal: str, points: int) -> None:
    """Each flag adds its playbook points."""
    assert score(**{signal: True}) == points


def test_opens_and_clicks_count_each() -> None:
    """Three opens (+5 each) and two clicks (+10 each) in the window add 35."""
    moments = (NOW - timedelta(days=2),)
    assert score(email_opens=moments * 3, email_clicks=moments * 2) == 35


def test_engagement_older_than_thirty_days_is_ignored() -> None:
    """An open 30 days ago counts; one a second older does not."""
    edge, old = NOW - timedelta(days=30), NOW - timedelta(days=30, seconds=1)
    assert score(email_opens=(edge, old)) == 5


def test_no_activity_for_thirty_days_costs_twenty() -> None:
    """No activity within 30 days subtracts 20."""
    assert score(job_title_fit=True, last_activity_at=NOW - timedelta(days=31)) == 0


def test_unknown_activity_counts_as_none() -> None:
    """A lead with no recorded activity gets the no-activity penalty."""
    assert score(last_activity_at=None) == -20


def test_recent_open_is_activity() -> None:
    """An email open within 30 days avoids the no-activity penalty."""
    assert score(last_activity_at=None, email_opens=(NOW - timedelta(days=3),)) == 5


def test_full_score_breakdown() -> None:
    """Fit, demo request and pricing visit sum to 130 (Hot), listed per rule."""
    result = lead_score(
        LeadSignals(
            job_title_fit=True,
            company_size_fit=True,
            industry_fit=True,
            demo_request=True,
            pricing_page_visit=True,
            last_activity_at=ACTIVE,
        ),
        now=NOW,
    )
    assert (result.points, result.tier) == (130, LeadTier.HOT)
    assert dict(result.breakdown)["demo_request"] == 50


@pytest.mark.parametrize(
    ("points", "tier"),
    [
        (80, LeadTier.HOT),
        (79, LeadTier.WARM),
        (50, LeadTier.WARM),
        (49, LeadTier.COLD),
        (20, LeadTier.COLD),
        (19, LeadTier.INACTIVE),
        (-70, LeadTier.INACTIVE),
    ],
)
def test_tier_boundaries(points: int, tier: LeadTier) -> None:
    """Hot 80+, Warm 50-79, Cold 20-49, Inactive below 20."""
    assert lead_tier(points) is tier


def test_points_table_is_configurable() -> None:
    """A custom points table replaces the defaults."""
    settings = InsightsSettings(lead_points=LeadPoints(demo_request=100))
    signals = LeadSignals(demo_request=True, last_activity_at=ACTIVE)
    assert lead_score(signals, now=NOW, settings=settings).points == 100
