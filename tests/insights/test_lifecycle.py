"""Lifecycle stages, VIP flag and playbook segments."""

from __future__ import annotations

from decimal import Decimal

import pytest

from insights import (
    CustomerSegment,
    InsightsError,
    InsightsSettings,
    LifecycleStage,
    RfmScore,
    customer_metrics,
    customer_segments,
    is_b2b,
    is_vip,
    lifecycle_stage,
    population_thresholds,
)
from insights.lifecycle import PopulationThresholds
from tests.insights.factories import NOW, order

D = Decimal
SECOND = 1 / 86400
POPULATION = population_thresholds([D(v) for v in range(10, 110, 10)])  # 10..100


def stage_of(*orders: dict[str, object]) -> LifecycleStage:
    return lifecycle_stage(customer_metrics(list(orders), now=NOW), now=NOW)


def test_prospect_has_no_orders() -> None:
    """Registered without an order is a Prospect."""
    assert stage_of() is LifecycleStage.PROSPECT


def test_only_cancelled_orders_is_still_a_prospect() -> None:
    """Cancelled orders are not purchases."""
    assert stage_of(order("a", status="cancelled")) is LifecycleStage.PROSPECT


def test_first_purchase_makes_a_customer() -> None:
    """One recent order is Customer."""
    assert stage_of(order("a", days_ago=5)) is LifecycleStage.CUSTOMER


def test_repeat_purchase_makes_active() -> None:
    """Two recent orders is Active."""
    assert stage_of(order("a", days_ago=5), order("b", days_ago=50)) is LifecycleStage.ACTIVE


@pytest.mark.parametrize(
    ("days_ago", "stage"),
    [
        (90, LifecycleStage.ACTIVE),
        (90 + SECOND, LifecycleStage.AT_RISK),
        (180, LifecycleStage.AT_RISK),
        (180 + SECOND, LifecycleStage.CHURNED),
    ],
)
def test_inactivity_boundaries(days_ago: float, stage: LifecycleStage) -> None:
    """Exactly 90 days is still Active; beyond 90 At-Risk; exactly 180 At-Risk; beyond Churned."""
    assert stage_of(order("a", days_ago=days_ago), order("b", days_ago=400)) is stage


def test_single_order_customer_goes_at_risk_too() -> None:
    """Customer (one order) also moves to At-Risk after 90 days."""
    assert stage_of(order("a", days_ago=100)) is LifecycleStage.AT_RISK


def test_configured_lifecycle_days() -> None:
    """at_risk_days and churned_days come from the settings."""
    settings = InsightsSettings(at_risk_days=10, churned_days=20)
    metrics = customer_metrics([order("a", days_ago=15)], now=NOW)
    assert lifecycle_stage(metrics, now=NOW, settings=settings) is LifecycleStage.AT_RISK


@pytest.mark.parametrize(("total", "vip"), [("999.99", False), ("1000.00", True)])
def test_vip_threshold(total: str, vip: bool) -> None:
    """VIP when trailing-12-month spend reaches 1,000."""
    assert is_vip(customer_metrics([order("a", total=total)], now=NOW)) is vip


def test_vip_ignores_spend_older_than_twelve_months() -> None:
    """Old spend counts for LTV but not for VIP."""
    metrics = customer_metrics([order("a", total="5000", days_ago=400)], now=NOW)
    assert (metrics.lifetime_value, is_vip(metrics)) == (D("5000.00"), False)


def test_vip_crossing_with_a_new_order() -> None:
    """A new order pushing trailing spend over 1,000 flips the flag."""
    before = [order("a", total="600", days_ago=100)]
    after = [*before, order("b", total="400", days_ago=0)]
    assert (
        is_vip(customer_metrics(before, now=NOW)),
        is_vip(customer_metrics(after, now=NOW)),
    ) == (
        False,
        True,
    )


def test_vip_uses_reporting_currency() -> None:
    """1,000 USD at 0.9 is 900 EUR: not VIP."""
    settings = InsightsSettings(rates={"USD": D("0.9")})
    metrics = customer_metrics(
        [order("a", total="1000", currency="USD")], now=NOW, settings=settings
    )
    assert is_vip(metrics, settings) is False


def test_population_high_value_cut_is_top_twenty_percent() -> None:
    """Of ten customers 10..100, only 90 and 100 are above the High-Value cut."""
    assert POPULATION.high_value_above == D(80)


def test_population_needs_buyers() -> None:
    """An empty population has no thresholds."""
    with pytest.raises(InsightsError):
        population_thresholds([])


def segments(days: list[float], total: str, rfm: RfmScore | None, b2b: bool = False) -> set[str]:
    orders = [order(str(i), days_ago=d, total=total) for i, d in enumerate(days)]
    metrics = customer_metrics(orders, now=NOW)
    return set(customer_segments(metrics, now=NOW, rfm=rfm, population=POPULATION, b2b=b2b))


def test_high_value_segment() -> None:
    """LTV above the top-20% cut is High-Value and not Growth Potential."""
    assert segments([200], "95", RfmScore(4, 1, 5)) == {CustomerSegment.HIGH_VALUE}


def test_growth_potential_segment() -> None:
    """A Promising customer below the High-Value cut is Growth Potential."""
    assert segments([10, 200], "20", RfmScore(4, 2, 2)) == {CustomerSegment.GROWTH_POTENTIAL}


def test_churn_risk_from_rfm_segment() -> None:
    """An About to Sleep customer (RFM 321) shows declining activity."""
    assert segments([45, 200], "30", RfmScore(3, 2, 1)) == {CustomerSegment.CHURN_RISK}


def test_churn_risk_from_at_risk_stage() -> None:
    """The At-Risk stage (more than 90 days) is Churn-Risk."""
    assert CustomerSegment.CHURN_RISK in segments([120], "10", RfmScore(1, 1, 1))


def test_churned_customer_is_not_churn_risk() -> None:
    """Past 180 days the customer has churned; no longer a risk."""
    assert segments([365], "10", RfmScore(1, 4, 4)) == set()


@pytest.mark.parametrize(("first", "new"), [(90, True), (90 + SECOND, False)])
def test_new_segment_boundary(first: float, new: bool) -> None:
    """New while the first order is at most 90 days old."""
    assert (CustomerSegment.NEW in segments([first], "10", RfmScore(2, 1, 1))) is new


def test_b2b_segment_applies_to_prospects_too() -> None:
    """A business account without orders is still B2B."""
    assert segments([], "10", None, b2b=True) == {CustomerSegment.B2B}


@pytest.mark.parametrize(
    ("record", "b2b"),
    [
        ({"customerType": "Individual", "companyId": None}, False),
        ({"customerType": "Individual", "companyId": "co-1"}, True),
        ({"customerType": "Reseller"}, True),
        ({}, False),
    ],
)
def test_is_b2b(record: dict[str, object], b2b: bool) -> None:
    """A company link or a business customer type makes a B2B account."""
    assert is_b2b(record) is b2b


def test_population_thresholds_are_frozen() -> None:
    """Population cut-offs cannot be changed after the run computed them."""
    with pytest.raises(AttributeError):
        POPULATION.high_value_above = D(0)  # type: ignore[misc]
    assert isinstance(POPULATION, PopulationThresholds)
