"""Customer metrics on small hand-computed datasets."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from insights import (
    InsightsError,
    InsightsSettings,
    InvalidOrder,
    UnknownCurrency,
    customer_metrics,
    order_fact,
)
from tests.insights.factories import NOW, order, refund

EUR_USD = InsightsSettings(rates={"USD": Decimal("0.9"), "CHF": Decimal("1.05")})


def test_lifetime_value_sums_net_of_orders() -> None:
    """LTV is the sum of order totals in the reporting currency."""
    m = customer_metrics([order("a", total="100.00"), order("b", total="50.50")], now=NOW)
    assert m.lifetime_value == Decimal("150.50")


def test_cancelled_orders_are_ignored() -> None:
    """A cancelled order adds no revenue, no order and no date."""
    orders = [order("a", days_ago=10), order("b", days_ago=1, total="999", status="cancelled")]
    m = customer_metrics(orders, now=NOW)
    assert (m.lifetime_value, m.order_count, m.last_order_at) == (
        Decimal("100.00"),
        1,
        NOW - timedelta(days=10),
    )


def test_refunded_returns_are_subtracted() -> None:
    """Returns in status refunded reduce LTV by their refundAmount."""
    m = customer_metrics([order("a", total="100", returns=[refund("30.00")])], now=NOW)
    assert m.lifetime_value == Decimal("70.00")


def test_pending_returns_are_not_subtracted() -> None:
    """Requested, approved, received and rejected returns have not refunded money yet."""
    returns = [refund("10", s) for s in ("requested", "approved", "received", "rejected")]
    m = customer_metrics([order("a", total="100", returns=returns)], now=NOW)
    assert m.lifetime_value == Decimal("100.00")


def test_refunded_payment_refunds_whole_order_once() -> None:
    """paymentStatus refunded zeroes the order even with a refunded return (no double count)."""
    orders = [order("a", total="80", payment="refunded", returns=[refund("80")]), order("b")]
    m = customer_metrics(orders, now=NOW)
    assert (m.lifetime_value, m.order_count) == (Decimal("100.00"), 2)


def test_refunds_never_make_an_order_negative() -> None:
    """A refund larger than the total caps the order at zero."""
    m = customer_metrics([order("a", total="20", returns=[refund("25")])], now=NOW)
    assert m.lifetime_value == Decimal("0.00")


def test_average_order_value() -> None:
    """AOV is LTV divided by non-cancelled orders, in cents."""
    orders = [order("a", total="10"), order("b", total="10"), order("c", total="10.01")]
    assert customer_metrics(orders, now=NOW).average_order_value == Decimal("10.00")


def test_first_and_last_order_dates() -> None:
    """First and last order are the oldest and newest non-cancelled createdAt."""
    orders = [order("a", days_ago=3), order("b", days_ago=300), order("c", days_ago=40)]
    m = customer_metrics(orders, now=NOW)
    assert (m.first_order_at, m.last_order_at) == (
        NOW - timedelta(days=300),
        NOW - timedelta(days=3),
    )


def test_trailing_spend_covers_twelve_calendar_months() -> None:
    """An order exactly 12 months old counts; one a second older does not."""
    inside = order("a", total="40")
    inside["createdAt"] = "2025-06-30T12:00:00Z"
    outside = order("b", total="60")
    outside["createdAt"] = "2025-06-30T11:59:59Z"
    m = customer_metrics([inside, outside, order("c", total="5")], now=NOW)
    assert (m.trailing_spend, m.lifetime_value) == (Decimal("45.00"), Decimal("105.00"))


def test_repeat_purchase_flag() -> None:
    """Two non-cancelled orders make a repeat purchaser; one does not."""
    one = customer_metrics([order("a"), order("b", status="cancelled")], now=NOW)
    two = customer_metrics([order("a"), order("b")], now=NOW)
    assert (one.repeat_purchaser, two.repeat_purchaser) == (False, True)


def test_no_orders_gives_empty_metrics() -> None:
    """A prospect has zero value and no dates."""
    m = customer_metrics([], now=NOW)
    assert (m.lifetime_value, m.order_count, m.average_order_value, m.first_order_at) == (
        Decimal("0.00"),
        0,
        Decimal("0.00"),
        None,
    )


def test_multi_currency_converts_with_rate_table() -> None:
    """USD and CHF orders convert to EUR with the configured rates."""
    orders = [order("a", total="100", currency="USD"), order("b", total="200", currency="CHF")]
    m = customer_metrics(orders, now=NOW, settings=EUR_USD)
    assert (m.lifetime_value, m.currency) == (Decimal("300.00"), "EUR")


def test_refunds_convert_in_the_order_currency() -> None:
    """A USD order's refund is subtracted before conversion."""
    orders = [order("a", total="100", currency="USD", returns=[refund("50")])]
    assert customer_metrics(orders, now=NOW, settings=EUR_USD).lifetime_value == Decimal("45.00")


def test_unknown_currency_names_the_currency() -> None:
    """An order in a currency without a rate raises UnknownCurrency naming it."""
    with pytest.raises(UnknownCurrency, match="'SEK'") as info:
        customer_metrics([order("a", currency="SEK")], now=NOW, settings=EUR_USD)
    assert info.value.currency == "SEK"


def test_unknown_currency_of_a_cancelled_order_is_ignored() -> None:
    """A cancelled order never needs a rate."""
    orders = [order("a"), order("b", currency="SEK", status="cancelled")]
    assert customer_metrics(orders, now=NOW).order_count == 1


def test_reporting_currency_other_than_eur() -> None:
    """With CHF as reporting currency, EUR orders convert and CHF ones stay."""
    chf = InsightsSettings(reporting_currency="CHF", rates={"EUR": Decimal("0.95")})
    orders = [order("a", total="100"), order("b", total="10", currency="CHF")]
    assert customer_metrics(orders, now=NOW, settings=chf).lifetime_value == Decimal("105.00")


def test_missing_currency_defaults_to_eur() -> None:
    """An order without currency is EUR, B2Connect's default."""
    raw = order("a")
    del raw["currency"]
    assert order_fact(raw).currency == "EUR"


def test_float_amounts_are_read_exactly() -> None:
    """A JSON float such as 19.99 becomes Decimal('19.99'), not its binary expansion."""
    assert order_fact(order("a", total=19.99)).total == Decimal("19.99")


def test_duplicate_order_ids_are_rejected() -> None:
    """Passing the same order twice is an error rather than double revenue."""
    with pytest.raises(InsightsError, match="twice"):
        customer_metrics([order("a"), order("a")], now=NOW)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("totalAmount", "abc"),
        ("totalAmount", "-5"),
        ("createdAt", "yesterday"),
        ("createdAt", "2026-01-01T00:00:00"),
        ("status", "lost"),
        ("customerId", None),
    ],
)
def test_malformed_order_names_the_field(field: str, value: object) -> None:
    """A malformed order raises InvalidOrder naming the field, never the value."""
    raw = order("a")
    raw[field] = value
    with pytest.raises(InvalidOrder, match=f"'{field}'"):
        order_fact(raw)


def test_naive_now_is_rejected() -> None:
    """The injected clock must be timezone-aware."""
    with pytest.raises(ValueError, match="timezone"):
        customer_metrics([], now=NOW.replace(tzinfo=None))
