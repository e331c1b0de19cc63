"""Email engagement read back from the CRM: deltas by day, the 30-day window, lead points."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from connectors.base import EmailEngagement
from insights.compute import empty_metrics, insight_fields
from insights.engagement import (
    DayCounts,
    RecentEngagement,
    engagement_days,
    recent_engagement,
    record_engagement,
)
from insights.ledger import clear_dirty, dirty_keys
from insights.lifecycle import LifecycleStage
from insights.profile import CustomerInsights
from insights.report.data import build_report, parse_month
from insights.report.markdown import render_markdown
from mapping.config import InsightsConfig
from tests.insights.factories import NOW
from tests.insights.kit import SETTINGS, TENANT

DAY = NOW.date()


def _e(opens: int = 0, clicks: int = 0, delivered: int = 0, *, opened: int | None = None,
       clicked: int | None = None) -> EmailEngagement:  # fmt: skip
    """Counters with the last open / click ``opened`` / ``clicked`` days before NOW."""
    return EmailEngagement(
        opens, clicks, delivered,
        None if opened is None else NOW - timedelta(days=opened),
        None if clicked is None else NOW - timedelta(days=clicked),
    )  # fmt: skip


def test_first_read_keeps_only_what_the_dates_prove() -> None:
    """Lifetime counters cover an unknown past: one open and one click on their last days."""
    days = engagement_days(None, _e(40, 9, 120, opened=3, clicked=50), NOW)
    assert days == {
        DAY - timedelta(days=3): DayCounts(opens=1),
        DAY - timedelta(days=50): DayCounts(clicks=1),
    }


def test_growth_goes_to_the_last_open_day_and_the_read_day() -> None:
    """New opens on the newer last-open day; clicks without a newer date and deliveries today."""
    before, after = _e(3, 1, 10, opened=9, clicked=9), _e(7, 2, 14, opened=2, clicked=9)
    assert engagement_days(before, after, NOW) == {
        DAY - timedelta(days=2): DayCounts(opens=4),
        DAY: DayCounts(clicks=1, delivered=4),
    }


def test_unchanged_counters_are_no_engagement() -> None:
    """Two equal reads add nothing."""
    assert engagement_days(_e(3, 1, opened=2), _e(3, 1, opened=2), NOW) == {}


def test_a_counter_that_went_down_is_a_new_baseline() -> None:
    """A merged or re-created contact: treated like a first read."""
    assert engagement_days(_e(9, opened=5), _e(2, opened=1), NOW) == {
        DAY - timedelta(days=1): DayCounts(opens=1)
    }


def test_recording_marks_engaged_customers_dirty(sqlite_store_engine: sa.Engine) -> None:
    """New engagement is stored per day and its customer is recomputed; a re-read is a no-op."""
    with sqlite_store_engine.begin() as conn:
        record_engagement(conn, TENANT, "hs", {"c-1": _e(), "c-2": _e()}, NOW - timedelta(1))
    with sqlite_store_engine.begin() as conn:
        clear_dirty(conn, TENANT, ["c-1", "c-2"])
        first = record_engagement(conn, TENANT, "hs", {"c-1": _e(2, 1, opened=0), "c-2": _e()}, NOW)
        again = record_engagement(conn, TENANT, "hs", {"c-1": _e(2, 1, opened=0), "c-2": _e()}, NOW)
        assert (first, again) == ({"c-1"}, set())
        assert dirty_keys(conn, TENANT) == ["c-1"]
        recent = recent_engagement(conn, TENANT, ["c-1"], now=NOW, days=30)
    assert (recent["c-1"].opens, recent["c-1"].clicks) == (2, 1)


@pytest.mark.parametrize(("age", "counted"), [(30, 2), (31, 0)])
def test_the_window_is_the_last_30_days(
    sqlite_store_engine: sa.Engine, age: int, counted: int
) -> None:
    """Opens 30 days back count; 31 days back they no longer do."""
    then = NOW - timedelta(days=age)
    with sqlite_store_engine.begin() as conn:
        record_engagement(conn, TENANT, "hs", {"c-1": _e()}, then - timedelta(days=1))
        record_engagement(conn, TENANT, "hs", {"c-1": _e(2, opened=age)}, then)
        recent = recent_engagement(conn, TENANT, None, now=NOW, days=30)
    assert recent["c-1"].opens == counted


def _lead(engagement: RecentEngagement | None, config: InsightsConfig = SETTINGS) -> int:
    ci = CustomerInsights(
        metrics=empty_metrics(config), rfm=None, stage=LifecycleStage.PROSPECT, vip=False,
        segments=(),
    )  # fmt: skip
    points = insight_fields(ci, now=NOW, config=config, engagement=engagement)["lead_score"]
    assert isinstance(points, int)
    return points


def test_opens_and_clicks_add_their_points_to_the_lead_score() -> None:
    """3 opens (+5 each) and 2 clicks (+10 each) recently: +35, and no inactivity penalty."""
    recent = RecentEngagement(opens=3, clicks=2, last_engaged_at=NOW - timedelta(days=1))
    assert _lead(None) == -20  # a prospect with no activity at all
    assert _lead(recent) == 35


def test_an_old_last_open_still_counts_as_no_activity() -> None:
    """Without opens or clicks in the window, the no-activity points apply."""
    assert _lead(RecentEngagement(last_engaged_at=NOW - timedelta(days=45))) == -20


def test_report_shows_open_and_click_rates_with_deltas(sqlite_store_engine: sa.Engine) -> None:
    """Per month: delivered, opens, clicks, open and click rate, change vs the month before."""
    may, june = NOW.replace(month=5, day=20), NOW.replace(day=20)
    with sqlite_store_engine.begin() as conn:
        record_engagement(conn, TENANT, "hs", {"c-1": _e()}, may - timedelta(days=1))
        record_engagement(conn, TENANT, "hs", {"c-1": _e(2, 0, 10)}, may)
        record_engagement(conn, TENANT, "hs", {"c-1": _e(8, 2, 30)}, june)
    with sqlite_store_engine.connect() as conn:
        report = build_report(conn, TENANT, parse_month("2026-06"), SETTINGS, NOW)

    kpis = {k.name: k for k in report.email_kpis}
    assert kpis["Open rate"].value == pytest.approx(6 / 20)
    assert kpis["Open rate"].previous == pytest.approx(2 / 10)
    assert kpis["Click rate"].value == pytest.approx(2 / 20)
    assert "| Open rate | 30.0 % | 20.0 % | +10.0 pt |" in render_markdown(report)


def test_report_says_no_data_only_without_any_engagement(sqlite_store_engine: sa.Engine) -> None:
    """No CRM ever shared engagement: the section says so and shows no figures."""
    with sqlite_store_engine.connect() as conn:
        report = build_report(conn, TENANT, parse_month("2026-06"), SETTINGS, NOW)
    assert report.email_kpis == []
    assert report.email.startswith("No data")
