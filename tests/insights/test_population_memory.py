"""The population's cut points are computed without a metrics object per buyer (issue 18:
peak RSS flat from 10k to 100k customers). The customers pipeline's first flush and every
full refresh pass set them from the whole ledger; they used to build every buyer's
``CustomerMetrics`` (about 1 KB each) to read one number from it."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from decimal import Decimal

import pytest
import sqlalchemy as sa

from insights.acquisition import cac_table, first_orders, new_customers
from insights.compute import aggregate_metrics, lifetime_values, load_population
from insights.lifecycle import population_thresholds
from mapping.config import MarketingSpend, SpendRow
from tests.insights.factories import NOW, order
from tests.insights.kit import SETTINGS, TENANT, add, refresher

SMALL, LARGE = 400, 1600
#: rows the streamed queries fetch at a time here (2,000 in production: a full page at these
#: sizes would hide whether the rest is streamed)
FETCH = 50


@pytest.fixture(autouse=True)
def _small_fetches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("insights.compute._STREAM_ROWS", FETCH)
    monkeypatch.setattr("insights.acquisition._STREAM_ROWS", FETCH)


def _buyers(db: sa.Engine, start: int, stop: int) -> None:
    """Buyers p-start..p-(stop-1), two orders each (one in USD, converted at 0.5)."""
    add(
        db,
        *[
            o
            for i in range(start, stop)
            for o in (
                order(f"a{i}", customer=f"p-{i}", total=str(10 + i), days_ago=20),
                order(f"b{i}", customer=f"p-{i}", total="4.00", currency="USD", days_ago=3),
            )
        ],
    )


def _peak(fn: Callable[[], object]) -> int:
    """Bytes allocated at the peak of ``fn()`` beyond what was allocated before it."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before


def _per_buyer(db: sa.Engine, fn: Callable[[sa.Connection], object]) -> float:
    """Extra peak bytes per extra buyer of ``fn`` between SMALL and LARGE buyers."""

    def measured() -> int:
        with db.connect() as conn:
            fn(conn)  # warm: compiled statements and imports are not the population's
            return _peak(lambda: fn(conn))

    _buyers(db, 0, SMALL)
    small = measured()
    _buyers(db, SMALL, LARGE)
    large = measured()
    return (large - small) / (LARGE - SMALL)


def test_cut_points_hold_a_number_per_buyer_not_its_metrics(
    sqlite_store_engine: sa.Engine,
) -> None:
    """4x the buyers: the lifetime values' peak grows by a Decimal per buyer, well under
    the metrics' (measured: 111 against 924 bytes; side by side, so it holds anywhere)."""

    def before(conn: sa.Connection) -> object:  # what the hook and the refresh pass did
        everyone, _ = aggregate_metrics(conn, TENANT, now=NOW, settings=SETTINGS)
        return [m.lifetime_value for m in everyone.values()]

    def after(conn: sa.Connection) -> object:
        return lifetime_values(conn, TENANT, settings=SETTINGS)

    old = _per_buyer(sqlite_store_engine, before)
    with sqlite_store_engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM insights_orders"))
    new = _per_buyer(sqlite_store_engine, after)
    assert new < 200, f"{new:.0f} bytes per buyer"  # a Decimal each (measured: 111)
    assert new * 3 < old, f"{new:.0f} bytes per buyer against {old:.0f}"


def test_cut_points_hold_cents_per_buyer_not_decimals(sqlite_store_engine: sa.Engine) -> None:
    """The whole of a full pass's cut points (every buyer's lifetime value, then sorted):
    the values are held as whole cents in an array, 8 bytes a buyer, and sorting them
    makes a transient ``int`` a buyer; a ``Decimal`` a buyer in a list, and the sorted list,
    took about 120 bytes a buyer (at 100,000 buyers: 12 MB, for five numbers)."""

    def cut_points(conn: sa.Connection) -> object:
        return population_thresholds(lifetime_values(conn, TENANT, settings=SETTINGS))

    per_buyer = _per_buyer(sqlite_store_engine, cut_points)
    assert per_buyer < 70, f"{per_buyer:.0f} bytes per buyer"


def test_lifetime_values_match_the_metrics(sqlite_store_engine: sa.Engine) -> None:
    """Same values as every buyer's metrics: currencies converted and summed per customer,
    cancelled orders out, a customer with a currency without a rate left out."""
    _buyers(sqlite_store_engine, 0, 50)
    add(
        sqlite_store_engine,
        order("x1", customer="p-odd", total="7.00", currency="JPY"),
        order("x2", customer="p-odd", total="9.00"),
        order("x3", customer="p-3", total="500.00", status="cancelled"),
    )
    with sqlite_store_engine.connect() as conn:
        everyone, errors = aggregate_metrics(conn, TENANT, now=NOW, settings=SETTINGS)
        values = lifetime_values(conn, TENANT, settings=SETTINGS)
    assert "p-odd" in errors
    assert sorted(values) == sorted(m.lifetime_value for m in everyone.values())
    assert Decimal("12.00") in values  # p-0: 10.00 + 4.00 USD at 0.5


def test_a_full_pass_stores_the_cut_points_of_the_lifetime_values(
    sqlite_store_engine: sa.Engine,
) -> None:
    """The refresh pass's full pass stores the quintiles of every buyer's lifetime value."""
    _buyers(sqlite_store_engine, 0, 50)
    [summary] = refresher(sqlite_store_engine).run(tenants=[TENANT])
    assert summary.full
    with sqlite_store_engine.connect() as conn:
        stored = load_population(conn, TENANT)
        expected = population_thresholds(lifetime_values(conn, TENANT, settings=SETTINGS))
    assert stored is not None and stored[0] == expected and stored[1]["size"] == 50


def test_new_customer_counts_stream_the_first_orders(sqlite_store_engine: sa.Engine) -> None:
    """With marketing spend set, a full pass counts new customers per month and channel
    from every buyer's first order: 4x the buyers, nothing held per buyer (measured: 0
    against 166 bytes for the dict of first orders it built before), the same counts."""
    spend = MarketingSpend(rows=[SpendRow(month="2026-01", channel="email", amount=Decimal(1))])
    config = SETTINGS.model_copy(update={"marketing_spend": spend})

    def before(conn: sa.Connection) -> object:
        return new_customers(first_orders(conn, TENANT).values())

    def after(conn: sa.Connection) -> object:
        return cac_table(conn, TENANT, config, recount=True, save=False)

    old = _per_buyer(sqlite_store_engine, before)
    with sqlite_store_engine.connect() as conn:
        table = cac_table(conn, TENANT, config, recount=True, save=False)
        assert table is not None and table.new == before(conn)
    with sqlite_store_engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM insights_orders"))
    new = _per_buyer(sqlite_store_engine, after)
    assert new < 40, f"{new:.0f} bytes per buyer"
    assert new * 3 < old, f"{new:.0f} bytes per buyer against {old:.0f}"
