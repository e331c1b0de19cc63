"""Hypothesis properties of the insights core."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from insights import (
    SEGMENT_TABLE,
    InsightsSettings,
    RfmScore,
    Segment,
    customer_metrics,
    frequency_score,
    monetary_quintiles,
    monetary_score,
    order_fact,
    recency_score,
)
from insights.rfm import LifetimeValues
from tests.insights.factories import NOW, order, refund

SETTINGS = InsightsSettings(rates={"USD": Decimal("0.9123"), "CHF": Decimal("1.0456")})
STATUSES = ["pending", "confirmed", "processing", "shipped", "delivered", "cancelled"]

# no per-example deadline: other jobs share the CI cores
relaxed = settings(deadline=None)

money = st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False).map(str)
scores = st.integers(min_value=1, max_value=5)


@st.composite
def orders(draw: st.DrawFn, *, status: str | None = None) -> list[dict[str, Any]]:
    count = draw(st.integers(min_value=0, max_value=8))
    out = []
    for i in range(count):
        returns = draw(
            st.lists(
                st.builds(refund, money, st.sampled_from(["requested", "refunded", "rejected"])),
                max_size=2,
            )
        )
        out.append(
            order(
                f"o-{i}",
                days_ago=draw(st.floats(min_value=0, max_value=2000)),
                total=draw(money),
                currency=draw(st.sampled_from(["EUR", "USD", "CHF"])),
                status=status or draw(st.sampled_from(STATUSES)),
                payment=draw(st.sampled_from(["pending", "paid", "failed", "refunded"])),
                returns=returns,
            )
        )
    return out


@relaxed
@given(scores, scores, scores)
def test_every_code_has_exactly_one_segment(r: int, f: int, m: int) -> None:
    """Any RFM code is in the table and in the code list of exactly one segment."""
    code = RfmScore(r, f, m).code
    owners = [s for s in Segment if code in {c for c, seg in SEGMENT_TABLE.items() if seg is s}]
    assert owners == [SEGMENT_TABLE[code]]


@relaxed
@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=100_000)))
def test_recency_score_in_range(age: timedelta) -> None:
    """R is always 1..5."""
    assert 1 <= recency_score(age) <= 5


@relaxed
@given(st.integers(min_value=1, max_value=10**9))
def test_frequency_score_in_range(count: int) -> None:
    """F is always 1..5."""
    assert 1 <= frequency_score(count) <= 5


@relaxed
@given(st.lists(st.decimals(min_value=0, max_value=10**9, places=2), min_size=1), st.data())
def test_monetary_score_in_range(population: list[Decimal], data: st.DataObject) -> None:
    """M is always 1..5, for members of the population and any other value."""
    thresholds = monetary_quintiles(population)
    value = data.draw(st.one_of(st.sampled_from(population), st.decimals(0, 10**10, places=2)))
    assert 1 <= monetary_score(value, thresholds) <= 5


@relaxed
@given(st.lists(st.decimals(min_value=0, max_value=10**6, places=2), min_size=5, unique=True))
def test_top_score_is_at_most_a_fifth(population: list[Decimal]) -> None:
    """With distinct values, exactly n // 5 score M5 and at least one scores M1."""
    thresholds = monetary_quintiles(population)
    got = [monetary_score(v, thresholds) for v in population]
    assert got.count(5) == len(population) // 5
    assert 1 in got


@relaxed
@given(orders(), orders(status="cancelled"))
def test_ltv_never_counts_cancelled_orders(
    kept: list[dict[str, Any]], cancelled: list[dict[str, Any]]
) -> None:
    """Adding cancelled orders (any amount, any currency) changes no metric."""
    for raw in cancelled:
        raw["id"] = "x-" + raw["id"]
        raw["currency"] = "SEK"
    assert customer_metrics(kept + cancelled, now=NOW, settings=SETTINGS) == customer_metrics(
        kept, now=NOW, settings=SETTINGS
    )


@relaxed
@given(orders(), st.randoms(use_true_random=False))
def test_metrics_invariant_to_order_permutation(raw: list[dict[str, Any]], rnd: Any) -> None:
    """Shuffling the orders gives identical metrics."""
    shuffled = list(raw)
    rnd.shuffle(shuffled)
    assert customer_metrics(shuffled, now=NOW, settings=SETTINGS) == customer_metrics(
        raw, now=NOW, settings=SETTINGS
    )


@relaxed
@given(orders())
def test_ltv_bounds(raw: list[dict[str, Any]]) -> None:
    """0 ≤ trailing spend ≤ LTV ≤ converted sum of non-cancelled totals (to the cent)."""
    m = customer_metrics(raw, now=NOW, settings=SETTINGS)
    facts = [order_fact(o) for o in raw if o["status"] != "cancelled"]
    gross = sum((f.total * (SETTINGS.rate(f.currency) or 0) for f in facts), Decimal(0))
    assert Decimal(0) <= m.trailing_spend <= m.lifetime_value <= gross.quantize(Decimal("0.01"))
    assert m.order_count == len(facts)


@relaxed
@given(
    st.lists(
        st.decimals(min_value=-(10**9), max_value=10**9, places=4, allow_nan=False), max_size=60
    )
)
def test_lifetime_values_in_cents_are_the_values_to_the_cent(values: list[Decimal]) -> None:
    """Held as cents, the values read back as they were, rounded to the cent (as the metrics
    round them; a negative zero reads back as 0.00), sorted and sliced alike, and give the
    same quintiles as the ``Decimal`` list did."""
    cent = Decimal("0.01")
    held = LifetimeValues(values)
    expected = [v.quantize(cent) for v in values]
    assert list(held) == expected and len(held) == len(values)
    assert all(v.as_tuple().exponent == -2 for v in held)  # two places, as the metrics
    assert list(held.ascending()) == sorted(expected)
    assert list(held[1::2]) == expected[1::2]
    if values:
        assert monetary_quintiles(held) == monetary_quintiles(expected)
