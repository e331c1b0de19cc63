"""The order ledger: upserts, dirty marks and the SQL aggregate against the pure metrics."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from insights.compute import aggregate_metrics
from insights.ledger import (
    dirty_keys,
    forget_customer,
    from_minor,
    orders_of,
    remove_orders,
    to_minor,
)
from insights.metrics import customer_metrics
from tests.insights.factories import NOW, order, refund
from tests.insights.kit import SETTINGS, TENANT, add

DATASET = [
    order("o1", days_ago=400, total="100.00"),
    order("o2", days_ago=200, total="50.00", returns=[refund("20.00")]),
    order("o3", days_ago=10, total="80.00", currency="USD"),
    order("o4", days_ago=5, total="999.00", status="cancelled"),
    order("o5", days_ago=3, total="30.00", payment="refunded"),
    order("o6", days_ago=2, total="12.34", customer="c-2"),
]


def test_new_orders_mark_their_customers_dirty(sqlite_store_engine: sa.Engine) -> None:
    """Every customer of an upserted order is flagged for recomputation."""
    add(sqlite_store_engine, *DATASET)

    with sqlite_store_engine.connect() as conn:
        assert dirty_keys(conn, TENANT) == ["c-1", "c-2"]


def test_an_order_moved_to_another_customer_dirties_both(sqlite_store_engine: sa.Engine) -> None:
    """Re-assigning an order marks the old and the new owner."""
    add(sqlite_store_engine, order("o1", customer="c-1"))

    touched = add(sqlite_store_engine, order("o1", customer="c-9"))

    assert touched == {"c-1", "c-9"}
    with sqlite_store_engine.connect() as conn:
        assert [o.customer_id for o in orders_of(conn, TENANT, "c-9")] == ["c-9"]
        assert orders_of(conn, TENANT, "c-1") == []


def test_removed_orders_leave_the_ledger(sqlite_store_engine: sa.Engine) -> None:
    """A deleted order is forgotten and its customer recomputed."""
    add(sqlite_store_engine, *DATASET)
    with sqlite_store_engine.begin() as conn:
        assert remove_orders(conn, TENANT, ["o6"]) == {"c-2"}
        assert orders_of(conn, TENANT, "c-2") == []


def test_ledger_keeps_no_names_or_addresses(sqlite_store_engine: sa.Engine) -> None:
    """The ledger's columns are ids, dates, status, currency, amounts and the order's
    marketing channel (``source``) only."""
    columns = {c["name"] for c in sa.inspect(sqlite_store_engine).get_columns("insights_orders")}
    assert columns == {
        "id", "tenant_id", "order_id", "customer_key", "created_at", "status", "currency",
        "total_minor", "refunded_minor", "source", "updated_at",
    }  # fmt: skip


def test_minor_units_round_trip() -> None:
    """Amounts go to cents and back exactly."""
    assert from_minor(to_minor(Decimal("1234.56"))) == Decimal("1234.56")


def test_sql_aggregate_equals_the_pure_metrics(sqlite_store_engine: sa.Engine) -> None:
    """LTV, counts, dates and trailing spend from SQL match customer_metrics on the same orders."""
    add(sqlite_store_engine, *DATASET)
    with sqlite_store_engine.connect() as conn:
        got, errors = aggregate_metrics(conn, TENANT, now=NOW, settings=SETTINGS)

    expected = customer_metrics(
        [o for o in DATASET if o["customerId"] == "c-1"], now=NOW, settings=SETTINGS
    )
    assert errors == {}
    m = got["c-1"]
    assert (m.lifetime_value, m.order_count, m.average_order_value) == (
        expected.lifetime_value, expected.order_count, expected.average_order_value,
    )  # fmt: skip
    assert (m.first_order_at, m.last_order_at) == (expected.first_order_at, expected.last_order_at)
    assert m.trailing_spend == expected.trailing_spend
    # hand-computed: 100 + (50-20) + 80*0.5 + (30-30) = 170 over 4 orders; 12 months: 30+40+0
    assert m.lifetime_value == Decimal("170.00")
    assert m.trailing_spend == Decimal("70.00")


def test_unknown_currency_is_reported_per_customer(sqlite_store_engine: sa.Engine) -> None:
    """A customer with an unconvertible order is left out with a message; others go on."""
    add(
        sqlite_store_engine,
        order("x1", currency="JPY", customer="c-3"),
        order("x2", customer="c-4"),
    )

    with sqlite_store_engine.connect() as conn:
        got, errors = aggregate_metrics(conn, TENANT, now=NOW, settings=SETTINGS)

    assert set(got) == {"c-4"}
    assert "JPY" in errors["c-3"]


def test_erasure_forgets_everything_about_a_customer(sqlite_store_engine: sa.Engine) -> None:
    """forget_customer removes the customer's orders and insights state, nobody else's."""
    add(sqlite_store_engine, *DATASET)

    with sqlite_store_engine.begin() as conn:
        removed = forget_customer(conn, TENANT, "c-1")
        assert orders_of(conn, TENANT, "c-1") == []
        assert [o.order_id for o in orders_of(conn, TENANT, "c-2")] == ["o6"]
    assert removed == 6  # five orders and the state row
