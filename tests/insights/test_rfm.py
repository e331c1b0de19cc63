"""RFM scores: recency day bands, frequency bands, monetary quintiles."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from insights import (
    InsightsError,
    InsightsSettings,
    RfmScore,
    Segment,
    customer_metrics,
    frequency_score,
    monetary_quintiles,
    monetary_score,
    recency_score,
    rfm_score,
)
from tests.insights.factories import NOW, order

D = Decimal
SECOND = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("age", "score"),
    [
        (timedelta(0), 5),
        (timedelta(days=7) - SECOND, 5),
        (timedelta(days=7), 4),
        (timedelta(days=30), 4),
        (timedelta(days=30) + SECOND, 3),
        (timedelta(days=60), 3),
        (timedelta(days=60) + SECOND, 2),
        (timedelta(days=90), 2),
        (timedelta(days=90) + SECOND, 1),
        (timedelta(days=4000), 1),
    ],
)
def test_recency_band_boundaries(age: timedelta, score: int) -> None:
    """R5 below 7 days, exactly 7 is R4, exactly 90 is R2, beyond 90 is R1."""
    assert recency_score(age) == score


@pytest.mark.parametrize(
    ("orders", "score"), [(1, 1), (2, 2), (3, 3), (4, 3), (5, 4), (9, 4), (10, 5), (250, 5)]
)
def test_frequency_band_boundaries(orders: int, score: int) -> None:
    """F1 one order, F2 two, F3 3-4, F4 5-9, F5 10+."""
    assert frequency_score(orders) == score


def test_frequency_needs_an_order() -> None:
    """Zero orders has no frequency score."""
    with pytest.raises(InsightsError):
        frequency_score(0)


def test_configured_bands_apply() -> None:
    """Custom recency and frequency bands replace the playbook's."""
    settings = InsightsSettings(recency_days=(1, 2, 3, 4), frequency_orders=(3, 6, 9, 12))
    assert (recency_score(timedelta(days=3), settings), frequency_score(12, settings)) == (3, 5)


def test_quintiles_of_ten_values() -> None:
    """Ten distinct values split into five pairs."""
    values = [D(v) for v in range(1, 11)]
    thresholds = monetary_quintiles(values)
    assert thresholds == (D(2), D(4), D(6), D(8))
    assert [monetary_score(v, thresholds) for v in values] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_quintiles_ignore_input_order() -> None:
    """Thresholds come from the sorted population."""
    assert monetary_quintiles([D(5), D(1), D(4), D(2), D(3)]) == (D(1), D(2), D(3), D(4))


def test_equal_values_share_a_monetary_score() -> None:
    """A tie straddling a quintile boundary shares the lower score (must exceed the cut)."""
    thresholds = monetary_quintiles([D(10)] * 6 + [D(20)] * 4)
    assert (monetary_score(D(10), thresholds), monetary_score(D(20), thresholds)) == (1, 4)


def test_single_customer_population() -> None:
    """A population of one scores M1 (nothing to be above)."""
    assert monetary_score(D(500), monetary_quintiles([D(500)])) == 1


def test_empty_population_is_an_error() -> None:
    """No buyers, no quintiles."""
    with pytest.raises(InsightsError):
        monetary_quintiles([])


def test_rfm_score_of_a_customer() -> None:
    """Three recent orders worth 300 in a population where 300 is top: code 535, Loyal."""
    metrics = customer_metrics([order(str(i), days_ago=i + 1) for i in range(3)], now=NOW)
    thresholds = monetary_quintiles([D(10), D(20), D(30), D(40), D(300)])
    score = rfm_score(metrics, now=NOW, thresholds=thresholds)
    assert score == RfmScore(5, 3, 5)
    assert (score.code, score.segment) == ("535", Segment.LOYAL)


def test_rfm_score_of_a_prospect_is_none() -> None:
    """No orders, no RFM."""
    metrics = customer_metrics([], now=NOW)
    assert rfm_score(metrics, now=NOW, thresholds=(D(1), D(2), D(3), D(4))) is None


def test_future_order_counts_as_today() -> None:
    """An order stamped after now (clock skew) is R5, not an error."""
    metrics = customer_metrics([order("a", days_ago=-1)], now=NOW)
    assert rfm_score(metrics, now=NOW, thresholds=(D(1), D(2), D(3), D(4))) == RfmScore(5, 1, 5)


def test_score_outside_range_is_rejected() -> None:
    """RfmScore guards its 1..5 range."""
    with pytest.raises(ValueError, match="recency"):
        RfmScore(6, 1, 1)
