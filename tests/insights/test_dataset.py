"""A small fixed dataset scored end to end, against hand-computed expectations.

Population LTVs (EUR): eva 40, dario 80, ben 150, carla 360 (400 USD at 0.9), anna 1200;
quintile cuts 40 | 80 | 150 | 360, High-Value above 360. Dario's cancelled order does
not count, so he has one order (F1) and is Lost, yet At-Risk by stage.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from insights import (
    CustomerSegment,
    InsightsSettings,
    LifecycleStage,
    Segment,
    customer_insights,
    customer_metrics,
    customer_segments,
    is_vip,
    lifecycle_stage,
    population_thresholds,
    rfm_score,
)
from insights.profile import FIELD_NAMES
from tests.insights.factories import NOW, order, refund

SETTINGS = InsightsSettings(rates={"USD": Decimal("0.9")})
CS = CustomerSegment

DATASET: dict[str, list[dict[str, Any]]] = {
    "anna": [order(f"a{i}", days_ago=2 + 25 * i, total="100") for i in range(12)],
    "ben": [order(f"b{i}", days_ago=d, total="50") for i, d in enumerate((20, 100, 150))],
    "carla": [order("c0", days_ago=200, total="400", currency="USD")],
    "dario": [
        order("d0", days_ago=100, total="80"),
        order("d1", days_ago=5, total="500", status="cancelled"),
    ],
    "eva": [order("e0", days_ago=3, total="60", returns=[refund("20")])],
    "fritz": [],
}

EXPECTED = {
    # name: (ltv, code, segment, stage, vip, segments)
    "anna": ("1200.00", "555", Segment.CHAMPIONS, LifecycleStage.ACTIVE, True, {CS.HIGH_VALUE}),
    "ben": (
        "150.00",
        "433",
        Segment.POTENTIAL_LOYALISTS,
        LifecycleStage.ACTIVE,
        False,
        {CS.GROWTH_POTENTIAL},
    ),
    "carla": ("360.00", "114", Segment.HIBERNATING, LifecycleStage.CHURNED, False, set()),
    "dario": ("80.00", "112", Segment.LOST, LifecycleStage.AT_RISK, False, {CS.CHURN_RISK}),
    "eva": ("40.00", "511", Segment.NEW_CUSTOMERS, LifecycleStage.CUSTOMER, False, {CS.NEW}),
    "fritz": ("0.00", None, None, LifecycleStage.PROSPECT, False, set()),
}

METRICS = {name: customer_metrics(o, now=NOW, settings=SETTINGS) for name, o in DATASET.items()}
POPULATION = population_thresholds(
    [m.lifetime_value for m in METRICS.values() if m.order_count], SETTINGS
)


def test_population_cuts() -> None:
    """Quintile cuts and the High-Value cut of the fixed dataset."""
    assert POPULATION.monetary == (Decimal(40), Decimal(80), Decimal(150), Decimal(360))
    assert POPULATION.high_value_above == Decimal(360)


@pytest.mark.parametrize("name", sorted(DATASET))
def test_customer_scores(name: str) -> None:
    """Each customer's LTV, RFM code, segment, stage, VIP flag and segments."""
    ltv, code, segment, stage, vip, segments = EXPECTED[name]
    metrics = METRICS[name]
    rfm = rfm_score(metrics, now=NOW, thresholds=POPULATION.monetary, settings=SETTINGS)
    got_segments = customer_segments(
        metrics, now=NOW, rfm=rfm, population=POPULATION, settings=SETTINGS
    )
    assert metrics.lifetime_value == Decimal(ltv)
    assert (rfm.code if rfm else None, rfm.segment if rfm else None) == (code, segment)
    assert lifecycle_stage(metrics, now=NOW, settings=SETTINGS) is stage
    assert is_vip(metrics, SETTINGS) is vip
    assert got_segments == segments


def test_profile_fields_of_a_champion() -> None:
    """customer_insights flattens anna's scores into CRM-ready fields."""
    profile = customer_insights(DATASET["anna"], now=NOW, population=POPULATION, settings=SETTINGS)
    fields = profile.fields()
    assert list(fields) == list(FIELD_NAMES)
    assert (fields["ltv"], fields["rfm_code"], fields["rfm_segment"]) == (
        Decimal("1200.00"),
        "555",
        "Champions",
    )
    assert (fields["lifecycle_stage"], fields["vip"], fields["segments"]) == (
        "active",
        True,
        "high_value",
    )


def test_profile_fields_of_a_b2b_prospect() -> None:
    """A prospect has empty RFM fields and only the B2B segment."""
    profile = customer_insights([], now=NOW, population=POPULATION, b2b=True, settings=SETTINGS)
    fields = profile.fields()
    assert (fields["rfm_code"], fields["lifecycle_stage"], fields["segments"]) == (
        None,
        "prospect",
        "b2b",
    )
