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


def test_orders_read_again_unchanged_mark_nobody(sqlite_store_engine: sa.Engine) -> None:
    """The same orders upserted again (the orders run re-reading what the insights read-ahead
    fed, a second CRM's orders pipeline) change nothing: no customer is marked dirty, so the
    refresh pass has nobody to recompute; one changed order marks its customer only."""
    from insights.ledger import clear_dirty

    add(sqlite_store_engine, *DATASET)
    with sqlite_store_engine.begin() as conn:
        clear_dirty(conn, TENANT, ["c-1", "c-2"])

    assert add(sqlite_store_engine, *DATASET) == set()
    with sqlite_store_engine.connect() as conn:
        assert dirty_keys(conn, TENANT) == []

    assert add(sqlite_store_engine, order("o6", days_ago=2, total="13.00", customer="c-2")) == {
        "c-2"
    }
    with sqlite_store_engine.connect() as conn:
        assert dirty_keys(conn, TENANT) == ["c-2"]
        assert [str(o.total) for o in orders_of(conn, TENANT, "c-2")] == ["13.00"]


def test_removed_orders_leave_the_ledger(sqlite_store_engine: sa.Engine) -> None:
    """A deleted order is forgotten and its customer recomputed."""
    add(sqlite_store_engine, *DATASET)
    with sqlite_store_engine.begin() as conn:
        assert remove_orders(conn, TENANT, ["o6"]) == {"c-2"}
        assert orders_of(conn, TENANT, "c-2") == []


def test_ledger_keeps_no_names_or_addresses(sqlite_store_engine: sa.Engine) -> None:
    """The ledger's columns are ids (and the store's tenant), dates, status, currency, amounts
    and the order's marketing channel (``source``) only."""
    columns = {c["name"] for c in sa.inspect(sqlite_store_engine).get_columns("insights_orders")}
    assert columns == {
        "id", "b2sync_tenant", "tenant_id", "order_id", "customer_key", "created_at", "status", "currency",
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


def test_touching_customers_costs_a_few_statements_not_one_each(
    sqlite_store_engine: sa.Engine,
) -> None:
    """300 customers (half known) are recorded in a handful of statements, values right."""
    from datetime import UTC, datetime

    from insights.ledger import CustomerRow, touch_customers
    from store import begin_write

    when = datetime(2026, 1, 2, tzinfo=UTC)
    with begin_write(sqlite_store_engine) as conn:
        touch_customers(conn, TENANT, [CustomerRow(f"k{i}", False, None) for i in range(150)])
        conn.execute(sa.text("UPDATE insights_customers SET dirty = 0"))
    statements: list[str] = []

    def seen(*args: object) -> None:
        statements.append(str(args[2]))

    sa.event.listen(sqlite_store_engine, "before_cursor_execute", seen)
    try:
        with begin_write(sqlite_store_engine) as conn:
            rows = [CustomerRow(f"k{i}", i % 2 == 0, when) for i in range(300)]
            touch_customers(conn, TENANT, rows)
    finally:
        sa.event.remove(sqlite_store_engine, "before_cursor_execute", seen)
    assert len([s for s in statements if "insights_customers" in s]) <= 4, statements
    with sqlite_store_engine.connect() as conn:
        got = conn.execute(
            sa.text("SELECT customer_key, b2b, dirty, registered_at FROM insights_customers")
        ).all()
    assert len(got) == 300
    by_key = {r[0]: r for r in got}
    assert by_key["k2"][1] and not by_key["k3"][1] and by_key["k200"][1]
    assert {r[0] for r in got if r[2]} == {f"k{i}" for i in range(150, 300)}
    assert all(r[3] is not None for r in got)
